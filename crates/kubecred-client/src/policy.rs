//! What may be sent where: the refusals that keep a secret from reaching an endpoint that must
//! not have it. Both are decided at resolution (so `explain` shows them), never discovered at
//! send time; the request path asks [`authorization_allowed`] only for a caller's own
//! `Authorization` header.
//!
//! The rules, from Kubernetes' and kubectl's behaviour:
//!
//! - `kubectl proxy` adds its own credentials and forwards a caller's `Authorization` header
//!   upstream, replacing its own: an endpoint that says so
//!   ([`Endpoint::accepts_credentials`] is `false`) receives no token, no client certificate
//!   and no caller's `Authorization` header;
//! - a bearer token travels over plain `http://` only to a loopback address (127.0.0.0/8,
//!   `::1`, `localhost`, decided from the URL without DNS): anywhere else anyone on the path
//!   reads it;
//! - a client certificate never travels over plain `http://` (there is no TLS to present it in).

use kubecred_core::{Credentials, Endpoint, SourceError};

/// Refuses a composition of `endpoint` and `credentials` that would leak a secret, or whose
/// URL scheme is neither `http` nor `https`.
///
/// # Errors
///
/// [`SourceError::Refused`], saying which rule of this module's documentation the
/// composition breaks.
pub(crate) fn refuse_unsafe_composition(
    endpoint: &Endpoint,
    credentials: &Credentials,
) -> Result<(), SourceError> {
    match endpoint.url().scheme() {
        "https" => {}
        "http" if credentials.identity().is_some() => {
            return Err(refused(format!(
                "a client certificate cannot be used over plain http ({})",
                endpoint.display_url()
            )))
        }
        "http" => {}
        other => {
            return Err(refused(format!(
                "the API server URL's scheme {other:?} is not http or https"
            )))
        }
    }
    if credentials.is_secret() {
        authorization_allowed(endpoint)?;
    }
    Ok(())
}

/// Whether an `Authorization` header (the client's or a caller's own) may go to `endpoint`:
/// never to one that refuses credentials (`kubectl proxy` forwards it upstream), never over
/// plain `http://` to a non-loopback host.
///
/// # Errors
///
/// [`SourceError::Refused`], naming the endpoint's URL and the rule.
pub(crate) fn authorization_allowed(endpoint: &Endpoint) -> Result<(), SourceError> {
    if !endpoint.accepts_credentials() {
        return Err(refused(format!(
            "{} must not receive credentials (it would forward them upstream); compose it with anonymous credentials",
            endpoint.display_url()
        )));
    }
    if endpoint.url().scheme() == "http" && !endpoint.is_loopback() {
        return Err(refused(format!(
            "a bearer token is never sent over plain http to a non-loopback host ({})",
            endpoint.display_url()
        )));
    }
    Ok(())
}

fn refused(reason: String) -> SourceError {
    SourceError::Refused { reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubecred_core::Trust;

    fn endpoint(url: &str) -> Endpoint {
        let trust = if url.starts_with("http:") {
            Trust::PlainHttp
        } else {
            Trust::SystemRoots
        };
        Endpoint::new(url.parse().unwrap(), trust)
    }

    fn token() -> Credentials {
        Credentials::bearer("policy-test-token".to_owned().into())
    }

    fn reason(result: Result<(), SourceError>) -> String {
        match result {
            Err(SourceError::Refused { reason }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_token_goes_over_https_anywhere_and_over_http_to_loopback_only() {
        for url in [
            "https://api.example.test",
            "http://127.0.0.1:8080",
            "http://127.1.2.3:8080",
            "http://[::1]:8080",
            "http://localhost:8080",
        ] {
            refuse_unsafe_composition(&endpoint(url), &token())
                .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        let why = reason(refuse_unsafe_composition(
            &endpoint("http://api.example.test:8080"),
            &token(),
        ));
        assert!(why.contains("never sent over plain http"), "{why}");
        assert!(!why.contains("policy-test-token"));
    }

    #[test]
    fn anonymous_credentials_go_anywhere_but_an_unknown_scheme() {
        let anonymous = Credentials::anonymous();
        refuse_unsafe_composition(&endpoint("http://api.example.test"), &anonymous).unwrap();
        let refusing = endpoint("http://127.0.0.1:8001").refusing_credentials();
        refuse_unsafe_composition(&refusing, &anonymous).unwrap();
        let why = reason(refuse_unsafe_composition(
            &endpoint("ftp://api.example.test"),
            &anonymous,
        ));
        assert!(why.contains("\"ftp\""), "{why}");
    }

    #[test]
    fn an_endpoint_that_refuses_credentials_gets_no_token_and_no_callers_header() {
        let proxy = endpoint("http://127.0.0.1:8001").refusing_credentials();
        let why = reason(refuse_unsafe_composition(&proxy, &token()));
        assert!(why.contains("must not receive credentials"), "{why}");
        let why = reason(authorization_allowed(&proxy));
        assert!(why.contains("must not receive credentials"), "{why}");
        authorization_allowed(&endpoint("https://api.example.test")).unwrap();
    }
}
