//! The proxy source through the library API: the builder never lets a secret reach it.

use std::sync::Arc;

use kubecred_client::{Client, Error};
use kubecred_core::{Credentials, Endpoint, SourceError, StaticSource, Trust};
use kubecred_proxy::ProxySource;

/// Something listening on loopback, standing in for `kubectl proxy` (the real one is driven
/// by the CLI's end-to-end tests).
fn listener() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

#[tokio::test]
async fn the_builder_refuses_the_proxy_endpoint_with_a_token_source() {
    let (_listener, url) = listener();
    let token = StaticSource::new(
        Endpoint::new("https://x.test".parse().unwrap(), Trust::SystemRoots),
        Credentials::bearer("secret-bearer-for-proxy".to_owned().into()),
    )
    .named("my-tokens");
    let err = Client::builder()
        .endpoint(Arc::new(ProxySource::builder().url(&url).build()))
        .credentials(Arc::new(token))
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
    assert_eq!(name, "proxy");
    assert!(matches!(source, SourceError::Refused { .. }), "{source:?}");
    assert_eq!(
        source.to_string(),
        format!("refused: {url} must not receive credentials (it would forward them upstream); compose it with anonymous credentials")
    );
    assert_eq!(report.sources[0].outcome, kubecred_client::Outcome::Failed);
    assert!(!format!("{err:?}").contains("secret-bearer-for-proxy"));
}

#[tokio::test]
async fn the_proxy_alone_builds_with_anonymous_credentials() {
    let (_listener, url) = listener();
    let client = Client::builder()
        .endpoint(Arc::new(ProxySource::builder().url(&url).build()))
        .build()
        .await
        .unwrap();
    assert_eq!(client.source_name(), "proxy");
    assert_eq!(client.authorization_header().await.unwrap(), None);
    assert!(!client.endpoint().accepts_credentials());
}

#[tokio::test]
async fn the_chain_moves_past_a_proxy_that_is_not_running() {
    let url = crate::support::closed_proxy_url();
    let report = Client::builder()
        .environment(Arc::new(kubecred_core::MapEnvironment::default()))
        .proxy_url(&url)
        .explain()
        .await;
    let names: Vec<_> = report
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s.outcome))
        .collect();
    use kubecred_client::Outcome::NotApplicable;
    assert_eq!(
        names,
        [
            ("env", NotApplicable),
            ("kubeconfig", NotApplicable),
            ("in-cluster", NotApplicable),
            ("proxy", NotApplicable)
        ]
    );
    assert!(report.sources[3]
        .reason
        .starts_with("nothing listening on 127.0.0.1:"));
}
