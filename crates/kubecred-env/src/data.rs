//! `_DATA` variables: PEM, or base64 of PEM, never guessed.

use kubecred_core::{decode_base64, SourceError, MAX_FILE_BYTES};
use secrecy::zeroize::Zeroize;

const PEM_MARKER: &str = "-----BEGIN ";

/// The longest `_DATA` value read, in bytes: [`MAX_FILE_BYTES`] (1 MiB), the limit of the
/// `_FILE` twins, so that a bundle given as a value and the same bundle in a file are held to
/// one rule, and a huge value is refused before it is copied or decoded.
const MAX_DATA_BYTES: usize = MAX_FILE_BYTES as usize;

/// The PEM bytes of a `_DATA` variable: the value itself when it is PEM, or its base64
/// decoding when that is PEM.
///
/// # Errors
///
/// [`SourceError::InvalidVariable`] naming `variable`: longer than [`MAX_DATA_BYTES`] (and
/// the limit), or saying which of the two the value looked like, never quoting it.
pub(crate) fn pem_bytes(variable: &str, mut value: String) -> Result<Vec<u8>, SourceError> {
    let invalid = |problem: &str| SourceError::InvalidVariable {
        variable: variable.to_owned(),
        problem: problem.to_owned(),
    };
    if value.len() > MAX_DATA_BYTES {
        value.zeroize();
        return Err(invalid("is longer than 1 MiB"));
    }
    if value.contains(PEM_MARKER) {
        return Ok(value.into_bytes());
    }
    let decoded = decode_base64(&value);
    value.zeroize();
    match decoded {
        Some(bytes) if contains(&bytes, PEM_MARKER.as_bytes()) => Ok(bytes),
        Some(mut bytes) => {
            bytes.zeroize();
            Err(invalid(
                "is neither PEM nor base64 of PEM (it looks like base64, but what it decodes to is not PEM)",
            ))
        }
        None => Err(invalid(
            "is neither PEM nor base64 of PEM (it does not start a PEM block and is not valid base64)",
        )),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn accepts_pem_and_base64_of_pem() {
        assert_eq!(pem_bytes("V", PEM.to_owned()).unwrap(), PEM.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(PEM);
        let wrapped = format!("{}\n{}", &b64[..20], &b64[20..]);
        assert_eq!(pem_bytes("V", wrapped).unwrap(), PEM.as_bytes());
    }

    #[test]
    fn a_value_over_the_file_limit_is_refused_naming_the_variable_and_the_limit() {
        let at_limit = format!("{PEM}{}", "\n".repeat(MAX_DATA_BYTES - PEM.len()));
        assert_eq!(pem_bytes("V", at_limit).unwrap().len(), MAX_DATA_BYTES);
        let b64 = base64::engine::general_purpose::STANDARD.encode(PEM);
        let over = format!("{b64}{}", " ".repeat(MAX_DATA_BYTES + 1 - b64.len()));
        let err = pem_bytes("KUBE_CLUSTER_CA_CERT_DATA", over).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable KUBE_CLUSTER_CA_CERT_DATA is longer than 1 MiB"
        );
        assert_eq!(err.variables(), ["KUBE_CLUSTER_CA_CERT_DATA"]);
    }

    #[test]
    fn says_which_of_the_two_garbage_looked_like() {
        let b64_of_junk = base64::engine::general_purpose::STANDARD.encode("hello world");
        let err = pem_bytes("KUBE_CLUSTER_CA_CERT_DATA", b64_of_junk.clone()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable KUBE_CLUSTER_CA_CERT_DATA is neither PEM nor base64 of PEM (it looks like base64, but what it decodes to is not PEM)"
        );
        assert!(!err.to_string().contains(&b64_of_junk));
        let err = pem_bytes("KUBE_CLUSTER_CA_CERT_DATA", "not *base64* at all".into()).unwrap_err();
        assert!(err.to_string().contains("is not valid base64"), "{err}");
    }
}
