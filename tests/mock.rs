//! Unit tests with the `mock` feature's mocks, and with a user's own source, as users write
//! them.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
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

/// A stand-in API server that accepts the bearer token `new-token` (labelled `new`).
fn accepting_new_token() -> ApiServer {
    ApiServer::builder()
        .token("new", "new-token")
        .start()
        .unwrap()
}

fn bearer(token: &str) -> Arc<Credentials> {
    Arc::new(Credentials::bearer(token.to_owned().into()))
}

#[tokio::test]
async fn a_mocked_source_is_refreshed_exactly_once_after_a_401() {
    let server = accepting_new_token();
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

/// A user's own source whose credentials are always at hand, counting how often each of its
/// methods is asked.
#[derive(Debug, Default)]
struct AtHand {
    awaited: AtomicUsize,
    at_hand: AtomicUsize,
}

#[async_trait::async_trait]
impl CredentialSource for AtHand {
    fn name(&self) -> &str {
        "at-hand"
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        self.awaited.fetch_add(1, SeqCst);
        Ok(bearer("new-token"))
    }

    fn current(&self) -> Option<Arc<Credentials>> {
        self.at_hand.fetch_add(1, SeqCst);
        Some(bearer("new-token"))
    }
}

#[tokio::test]
async fn requests_take_credentials_at_hand_without_awaiting_the_source() {
    let server = accepting_new_token();
    let source = Arc::new(AtHand::default());
    let client = client_for(&server, Arc::clone(&source) as _).await.unwrap();
    let awaited_by_build = source.awaited.load(SeqCst);
    for _ in 0..3 {
        assert_eq!(client.get("/api").await.unwrap().status(), 200);
    }
    assert_eq!(source.at_hand.load(SeqCst), 3, "asked once per request");
    assert_eq!(
        source.awaited.load(SeqCst),
        awaited_by_build,
        "never awaited by a request"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_mocked_source_is_asked_for_its_credentials_on_every_request() {
    // The mock's `current` is the trait's default (`None`): its expectations see every
    // request, as they did before the fast path existed.
    let server = accepting_new_token();
    let mut source = MockCredentialSource::new();
    source.expect_name().return_const("mocked".to_owned());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    source.expect_credentials().returning(move || {
        counted.fetch_add(1, SeqCst);
        Ok(bearer("new-token"))
    });
    let client = client_for(&server, Arc::new(source)).await.unwrap();
    let by_build = calls.load(SeqCst);
    for _ in 0..3 {
        assert_eq!(client.get("/api").await.unwrap().status(), 200);
    }
    assert_eq!(calls.load(SeqCst), by_build + 3);
}
