//! Unit tests with the `mock` feature's mocks, as users write them.

use std::sync::Arc;

use kubecred_client::Client;
use kubecred_core::{
    CredentialSource, Credentials, Endpoint, MockCredentialSource, SourceError, StaticSource, Trust,
};
use kubecred_testing::{ApiServer, Authentication};

/// A small function of the kind users write: it takes any credential source and builds a
/// client for a fixed endpoint with it.
async fn client_for(
    server: &ApiServer,
    credentials: Arc<dyn CredentialSource>,
) -> Result<Client, kubecred_client::Error> {
    let ca =
        kubecred_core::CaBundle::from_pem(server.ca_pem().as_bytes(), kubecred_core::Origin::Code)
            .unwrap();
    let endpoint = StaticSource::new(
        Endpoint::new(server.url().parse().unwrap(), Trust::CaBundle(ca)),
        Credentials::anonymous(),
    )
    .named("stand-in");
    Client::builder()
        .endpoint(Arc::new(endpoint))
        .credentials(credentials)
        .build()
        .await
}

fn bearer(token: &str) -> Arc<Credentials> {
    Arc::new(Credentials::bearer(token.to_owned().into()))
}

#[tokio::test]
async fn a_mocked_source_is_refreshed_exactly_once_after_a_401() {
    let server = ApiServer::builder()
        .token("new", "new-token")
        .start()
        .unwrap();
    let mut source = MockCredentialSource::new();
    source.expect_name().return_const("mocked".to_owned());
    source
        .expect_credentials()
        .returning(|| Ok(bearer("stale-token")));
    source
        .expect_refresh()
        .times(1)
        .returning(|_rejected| Ok(bearer("new-token")));

    let client = client_for(&server, Arc::new(source)).await.unwrap();
    let versions: serde_json::Value = client.get_json("/api").await.unwrap();
    assert_eq!(versions["kind"], "APIVersions");
    let seen: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| r.authentication)
        .collect();
    assert_eq!(
        seen,
        [
            Authentication::UnknownToken,
            Authentication::Token {
                label: "new".into()
            }
        ]
    );
}

#[tokio::test]
async fn a_failing_mocked_source_fails_the_build_with_its_error() {
    let server = ApiServer::start().unwrap();
    let mut source = MockCredentialSource::new();
    source.expect_name().return_const("mocked".to_owned());
    source.expect_credentials().times(1).returning(|| {
        Err(SourceError::EmptyFile {
            what: "token",
            path: "/mock/token".into(),
        })
    });
    let err = client_for(&server, Arc::new(source)).await.unwrap_err();
    assert_eq!(
        kubecred_client::error_chain(&err),
        "mocked: token file /mock/token is empty"
    );
    assert!(server.requests().is_empty());
}
