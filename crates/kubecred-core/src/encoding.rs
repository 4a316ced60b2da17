//! [`decode_base64`]: the one reading of base64 values (a `_DATA` variable, a kubeconfig's
//! `-data` field), which may be line-wrapped and may hold a private key.

use base64::Engine as _;
use secrecy::zeroize::Zeroize;

/// The bytes that `text` encodes in standard, padded base64 (RFC 4648), after its ASCII
/// whitespace is removed (values are often wrapped at 64 or 76 columns, as `base64` prints
/// them). The whitespace-free copy is zeroized before returning, since the text may be a
/// private key's. `None` when it is not valid base64.
///
/// ```
/// assert_eq!(kubecred_core::decode_base64("aGVs\n bG8=\n").as_deref(), Some(&b"hello"[..]));
/// assert_eq!(kubecred_core::decode_base64("not base64!"), None);
/// ```
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut compact: String = text.split_ascii_whitespace().collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok();
    compact.zeroize();
    decoded
}
