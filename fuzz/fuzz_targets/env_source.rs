//! libFuzzer's entry for the `env_source` target; its body (and oracle) is
//! `kubecred_fuzz_targets::env_source`, which the stable corpus replay runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kubecred_fuzz_targets::env_source(data));
