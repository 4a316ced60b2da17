//! libFuzzer's entry for the `proxy_url` target; its body (and oracle) is
//! `kubecred_fuzz_targets::proxy_url`, which the stable corpus replay runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kubecred_fuzz_targets::proxy_url(data));
