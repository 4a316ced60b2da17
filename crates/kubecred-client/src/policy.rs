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

/// What credentials would send, for the checks: known from the credentials themselves, or
/// assumed for credentials not read yet (an exec plugin `explain` does not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Carries {
    /// A secret of any kind (an `Authorization` header or a private key).
    pub(crate) secret: bool,
    /// A client certificate.
    pub(crate) identity: bool,
}

impl Carries {
    /// What `credentials` carry.
    pub(crate) fn of(credentials: &Credentials) -> Self {
        Self {
            secret: credentials.is_secret(),
            identity: credentials.identity().is_some(),
        }
    }

    /// Credentials not read yet (an exec plugin that `explain` does not run): they will carry
    /// a secret; whether a client certificate comes with it is known only once the plugin
    /// runs, so `explain` applies the secret's rules and `build()` the certificate's too.
    pub(crate) const DEFERRED: Carries = Carries {
        secret: true,
        identity: false,
    };
}

/// Refuses a composition of `endpoint` and credentials that carry `carries` that would leak a
/// secret, or whose URL scheme is neither `http` nor `https`.
///
/// # Errors
///
/// [`SourceError::Refused`], saying which rule of this module's documentation the
/// composition breaks.
pub(crate) fn refuse_unsafe_composition(
    endpoint: &Endpoint,
    carries: Carries,
) -> Result<(), SourceError> {
    match endpoint.url().scheme() {
        "https" => {}
        "http" if carries.identity => {
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
    if carries.secret {
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

    #[test]
    fn basic_authentication_is_held_to_the_tokens_rule() {
        let basic = Credentials::basic("user".to_owned().into(), "pw".to_owned().into());
        let why = reason(refuse_unsafe_composition(
            &endpoint("http://api.example.test:8080"),
            Carries::of(&basic),
        ));
        assert!(why.contains("never sent over plain http"), "{why}");
        refuse_unsafe_composition(&endpoint("http://127.0.0.1:8080"), Carries::of(&basic)).unwrap();
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
            refuse_unsafe_composition(&endpoint(url), Carries::of(&token()))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        let why = reason(refuse_unsafe_composition(
            &endpoint("http://api.example.test:8080"),
            Carries::of(&token()),
        ));
        assert!(why.contains("never sent over plain http"), "{why}");
        assert!(!why.contains("policy-test-token"));
    }

    #[test]
    fn anonymous_credentials_go_anywhere_but_an_unknown_scheme() {
        let anonymous = Credentials::anonymous();
        let anonymous = Carries::of(&anonymous);
        refuse_unsafe_composition(&endpoint("http://api.example.test"), anonymous).unwrap();
        let refusing = endpoint("http://127.0.0.1:8001").refusing_credentials();
        refuse_unsafe_composition(&refusing, anonymous).unwrap();
        let why = reason(refuse_unsafe_composition(
            &endpoint("ftp://api.example.test"),
            anonymous,
        ));
        assert!(why.contains("\"ftp\""), "{why}");
    }

    #[test]
    fn an_endpoint_that_refuses_credentials_gets_no_token_and_no_callers_header() {
        let proxy = endpoint("http://127.0.0.1:8001").refusing_credentials();
        let why = reason(refuse_unsafe_composition(&proxy, Carries::of(&token())));
        let why_deferred = reason(refuse_unsafe_composition(&proxy, Carries::DEFERRED));
        assert_eq!(
            why, why_deferred,
            "credentials not read yet are held to the same rule"
        );
        assert!(why.contains("must not receive credentials"), "{why}");
        let why = reason(authorization_allowed(&proxy));
        assert!(why.contains("must not receive credentials"), "{why}");
        authorization_allowed(&endpoint("https://api.example.test")).unwrap();
    }
}
