//! libFuzzer's entry for the `explain_env` target; its body (and oracle) is
//! `kubecred_fuzz_targets::explain_env`, which the stable corpus replay runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kubecred_fuzz_targets::explain_env(data));
