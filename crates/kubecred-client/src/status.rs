//! What a non-2xx answer says: the API server's `Status` object (`kind: Status`, with
//! `message` and `reason`), or the start of whatever body came instead.

use http::StatusCode;
use kubecred_core::Shown;

/// The longest part of a body that is not a `Status` object quoted in an error, in
/// characters (a `Status` message is held to [`kubecred_core::MAX_SHOWN_CHARS`]).
const BODY_PREFIX_CHARS: usize = 200;

/// The message and reason of a non-2xx answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Described {
    /// The `Status` object's `message`, else the body's first [`BODY_PREFIX_CHARS`]
    /// characters, else the status's canonical reason.
    pub(crate) message: String,
    /// The `Status` object's `reason` (e.g. `Unauthorized`), if any.
    pub(crate) reason: Option<String>,
    /// Whether the body was a `Status` object at all (a `403` without one comes from
    /// `kubectl proxy`'s own filter, not from the cluster's RBAC).
    pub(crate) is_status: bool,
}

/// Reads the answer `body` of `status`.
pub(crate) fn describe(status: StatusCode, body: &[u8]) -> Described {
    #[derive(serde::Deserialize)]
    struct Status {
        kind: Option<String>,
        message: Option<String>,
        reason: Option<String>,
    }
    let parsed = serde_json::from_slice::<Status>(body)
        .ok()
        .filter(|s| s.kind.as_deref() == Some("Status"));
    let is_status = parsed.is_some();
    let (message, reason) = match parsed {
        Some(Status {
            message: Some(m),
            reason,
            ..
        }) if !m.is_empty() => (m, reason),
        other => {
            let body = String::from_utf8_lossy(body);
            let body = body.trim();
            let text = if body.is_empty() {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                body.chars().take(BODY_PREFIX_CHARS).collect()
            };
            (text, other.and_then(|s| s.reason))
        }
    };
    // The server's words are input too: bounded and with control characters escaped.
    Described {
        message: Shown::text(&message).to_string(),
        reason: reason.map(|r| Shown::text(&r).to_string()),
        is_status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_object_gives_its_message_and_reason() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
        let d = describe(StatusCode::UNAUTHORIZED, body);
        assert_eq!(d.message, "Unauthorized");
        assert_eq!(d.reason.as_deref(), Some("Unauthorized"));
        assert!(d.is_status);
    }

    #[test]
    fn a_status_without_a_message_falls_back_to_the_body_and_keeps_its_reason() {
        let body = br#"{"kind":"Status","reason":"NotFound"}"#;
        let d = describe(StatusCode::NOT_FOUND, body);
        assert_eq!(d.reason.as_deref(), Some("NotFound"));
        assert!(d.message.starts_with("{\"kind\""), "{}", d.message);
    }

    #[test]
    fn another_body_is_quoted_up_to_a_bounded_prefix() {
        let body = "x".repeat(10_000);
        let d = describe(StatusCode::FORBIDDEN, body.as_bytes());
        assert_eq!(d.message.len(), BODY_PREFIX_CHARS);
        assert!(!d.is_status);
        let d = describe(
            StatusCode::FORBIDDEN,
            b"{\"kind\":\"Pod\",\"message\":\"m\"}",
        );
        assert!(!d.is_status, "only kind: Status is a Status");
    }

    #[test]
    fn a_status_message_is_bounded_and_its_control_characters_escaped() {
        let message = format!("\u{1b}]0;pwned\u{7}{}", "m".repeat(500_000));
        let body = serde_json::json!({"kind": "Status", "message": message}).to_string();
        let d = describe(StatusCode::FORBIDDEN, body.as_bytes());
        assert!(d.message.len() < 400, "{} bytes", d.message.len());
        assert!(
            !d.message.chars().any(char::is_control),
            "{:?}",
            &d.message[..40]
        );
        assert!(
            d.message.starts_with("\\u{1b}]0;pwned\\u{7}mmm"),
            "{}",
            &d.message[..40]
        );
        let d = describe(StatusCode::FORBIDDEN, b"\x1b[31mred body");
        assert_eq!(d.message, "\\u{1b}[31mred body");
    }

    #[test]
    fn an_empty_body_gives_the_canonical_reason() {
        let d = describe(StatusCode::SERVICE_UNAVAILABLE, b"  ");
        assert_eq!(d.message, "Service Unavailable");
        assert_eq!(d.reason, None);
    }
}
