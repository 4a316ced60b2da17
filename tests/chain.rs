//! The chain's contract: not applicable moves on, failed stops, every source is reported.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use kubecred_client::{Client, Error, Outcome};
use kubecred_core::{
    ApiEndpoint, CredentialSource, Credentials, Endpoint, Source, SourceError, StaticSource, Trust,
};

/// A source whose answer is fixed, counting its evaluations.
#[derive(Debug)]
struct Scripted {
    name: &'static str,
    answer: Answer,
    evaluations: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    Applies,
    NotApplicable,
    Fails,
}

impl Scripted {
    fn new(name: &'static str, answer: Answer) -> Arc<Self> {
        Arc::new(Self {
            name,
            answer,
            evaluations: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl ApiEndpoint for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        self.evaluations.fetch_add(1, Ordering::SeqCst);
        match self.answer {
            Answer::Applies => Ok(Endpoint::new(
                format!("https://{}.test:6443", self.name).parse().unwrap(),
                Trust::SystemRoots,
            )),
            Answer::NotApplicable => Err(SourceError::not_applicable(format!(
                "{}_HOST is not set",
                self.name.to_uppercase()
            ))),
            Answer::Fails => Err(SourceError::InvalidVariable {
                variable: format!("{}_PORT", self.name.to_uppercase()),
                problem: "is not a port number (1-65535)".into(),
            }),
        }
    }
}

#[async_trait]
impl CredentialSource for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        Ok(Arc::new(Credentials::anonymous()))
    }
}

fn chain(sources: &[&Arc<Scripted>]) -> Vec<Arc<dyn Source>> {
    sources
        .iter()
        .map(|s| Arc::clone(s) as Arc<dyn Source>)
        .collect()
}

fn outcomes(report: &kubecred_client::Explanation) -> Vec<(String, Outcome)> {
    report
        .sources
        .iter()
        .map(|s| (s.name.clone(), s.outcome))
        .collect()
}

#[tokio::test]
async fn first_applicable_wins_and_later_sources_are_still_evaluated() {
    let (a, b, c) = (
        Scripted::new("a", Answer::NotApplicable),
        Scripted::new("b", Answer::Applies),
        Scripted::new("c", Answer::Fails),
    );
    let builder = Client::builder().chain(chain(&[&a, &b, &c]));
    let report = builder.explain().await;
    assert_eq!(
        outcomes(&report),
        [
            ("a".into(), Outcome::NotApplicable),
            ("b".into(), Outcome::Chosen),
            ("c".into(), Outcome::Skipped),
        ]
    );
    // A skipped source's reason is what its own evaluation found.
    assert_eq!(
        report.sources[2].reason,
        "environment variable C_PORT is not a port number (1-65535)"
    );
    assert_eq!(report.endpoint.as_deref(), Some("https://b.test:6443"));
    assert_eq!(report.credential.as_ref().unwrap().kind, "none");

    let client = builder.build().await.unwrap();
    assert_eq!(client.source_name(), "b");
    // explain() evaluates every source; a successful build() stops at the chosen one.
    assert_eq!(
        c.evaluations.load(Ordering::SeqCst),
        1,
        "explain evaluates once, build not at all"
    );
}

#[tokio::test]
async fn a_failed_source_stops_the_chain_and_never_falls_through() {
    let (a, b) = (
        Scripted::new("a", Answer::Fails),
        Scripted::new("b", Answer::Applies),
    );
    let err = Client::builder()
        .chain(chain(&[&a, &b]))
        .build()
        .await
        .unwrap_err();
    let Error::SourceFailed {
        name,
        error: source,
        report,
    } = &err
    else {
        panic!("expected SourceFailed, got {err:?}");
    };
    assert_eq!(name, "a");
    assert!(matches!(source, SourceError::InvalidVariable { .. }));
    assert_eq!(
        outcomes(report),
        [
            ("a".into(), Outcome::Failed),
            ("b".into(), Outcome::Skipped)
        ]
    );
    assert_eq!(report.sources[0].variables, ["A_PORT"]);
    assert_eq!(
        report.endpoint, None,
        "fields of a choice not made are null"
    );
    assert_eq!(
        kubecred_client::error_chain(&err),
        "a: environment variable A_PORT is not a port number (1-65535)"
    );
}

#[tokio::test]
async fn when_nothing_applies_the_error_lists_every_source_and_carries_the_report() {
    let (a, b) = (
        Scripted::new("a", Answer::NotApplicable),
        Scripted::new("b", Answer::NotApplicable),
    );
    let builder = Client::builder().chain(chain(&[&a, &b]));
    let explained = builder.explain().await;
    let err = builder.build().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no credential source applies: a: A_HOST is not set; b: B_HOST is not set"
    );
    assert_eq!(
        err.report(),
        Some(&explained),
        "a failed build carries explain's report"
    );
}

#[tokio::test]
async fn an_empty_chain_applies_nowhere() {
    let err = Client::builder()
        .chain(Vec::new())
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no credential source applies: the chain is empty"
    );
}

fn static_source(url: &str, credentials: Credentials) -> Arc<StaticSource> {
    Arc::new(
        StaticSource::new(
            Endpoint::new(url.parse().unwrap(), Trust::SystemRoots),
            credentials,
        )
        .named("manual"),
    )
}

#[tokio::test]
async fn composition_refuses_credentials_for_an_endpoint_that_must_not_receive_them() {
    let endpoint = Arc::new(
        StaticSource::new(
            Endpoint::new("http://127.0.0.1:8001".parse().unwrap(), Trust::PlainHttp)
                .refusing_credentials(),
            Credentials::anonymous(),
        )
        .named("proxy-like"),
    );
    let token = static_source(
        "https://x.test",
        Credentials::bearer("t0ken-value".to_owned().into()),
    );
    let err = Client::builder()
        .endpoint(endpoint.clone())
        .credentials(token)
        .build()
        .await
        .unwrap_err();
    let text = kubecred_client::error_chain(&err);
    assert!(text.contains("must not receive credentials"), "{text}");
    assert!(!text.contains("t0ken-value"));

    // Anonymous is fine; a caller's own Authorization header is refused before connecting.
    let client = Client::builder().endpoint(endpoint).build().await.unwrap();
    let request = http::Request::get("/api")
        .header("authorization", "Bearer caller-token")
        .body(bytes::Bytes::new())
        .unwrap();
    let err = client.request(request).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err:?}");
    assert!(!err.to_string().contains("caller-token"));
}

#[tokio::test]
async fn an_endpoint_whose_host_header_cannot_be_sent_fails_at_resolution() {
    let source = Arc::new(
        StaticSource::new(
            Endpoint::new("https://x.test".parse().unwrap(), Trust::SystemRoots)
                .with_host_header("x.test\r\nX-Injected: 1"),
            Credentials::anonymous(),
        )
        .named("manual"),
    );
    let sources = [source as Arc<dyn Source>];
    let report = Client::builder().chain(sources.clone()).explain().await;
    assert_eq!(outcomes(&report), [("manual".into(), Outcome::Failed)]);
    let err = Client::builder().chain(sources).build().await.unwrap_err();
    assert!(matches!(err, Error::SourceFailed { .. }), "{err:?}");
    let text = kubecred_client::error_chain(&err);
    assert!(text.contains("Host header"), "{text}");
}

#[tokio::test]
async fn a_bearer_token_over_plain_http_is_refused_unless_loopback() {
    let token = || Credentials::bearer("plain-http-token".to_owned().into());
    let err = Client::builder()
        .endpoint(static_source("http://api.example.test:8080", token()))
        .credentials(static_source("http://api.example.test:8080", token()))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        kubecred_client::error_chain(&err),
        "manual: refused: a bearer token is never sent over plain http to a non-loopback host (http://api.example.test:8080)"
    );
    for loopback in [
        "http://127.0.0.1:8080",
        "http://[::1]:8080",
        "http://localhost:8080",
    ] {
        let source = static_source(loopback, token());
        Client::builder()
            .endpoint(source.clone())
            .credentials(source)
            .build()
            .await
            .unwrap_or_else(|e| panic!("{loopback}: {e}"));
    }
}

#[tokio::test]
async fn credentials_without_an_endpoint_is_a_configuration_error() {
    let err = Client::builder()
        .credentials(static_source("https://x.test", Credentials::anonymous()))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}
