//! libFuzzer's entry for the `in_cluster` target; its body (and oracle) is
//! `kubecred_fuzz_targets::in_cluster`, which the stable corpus replay runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kubecred_fuzz_targets::in_cluster(data));
