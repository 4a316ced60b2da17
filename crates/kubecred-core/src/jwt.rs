//! Reading the `exp` claim of a JWT, without verifying it (the API server does that).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// The expiry of `token` if it is a JWT with a numeric `exp` claim (seconds since the Unix
/// epoch), else `None`. Never fails: an opaque token simply has no known expiry.
pub(crate) fn expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            enc.encode(r#"{"alg":"RS256"}"#),
            enc.encode(claims)
        )
    }

    #[test]
    fn reads_exp_of_a_jwt() {
        let at = expiry(&jwt(
            r#"{"exp":1800000000,"sub":"system:serviceaccount:a:b"}"#,
        ));
        assert_eq!(at, Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)));
    }

    #[test]
    fn opaque_or_malformed_tokens_have_no_expiry() {
        assert_eq!(expiry("opaque-token"), None);
        assert_eq!(expiry("a.b.c.d"), None);
        assert_eq!(expiry("a.!!!.c"), None);
        assert_eq!(expiry(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(expiry(&jwt(r#"{"exp":"soon"}"#)), None);
    }
}
