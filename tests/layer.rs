//! The tower auth layer (`AuthLayer`) on a plain hyper-util client with kubecred's TLS
//! configuration, against the stand-in over TLS: the token on every request, the one re-read
//! after `401`s and the retry of a replayable request, a caller's own header, the refusals,
//! and CA rotation under a running hyper client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kubecred_client::{AuthLayer, AuthService, BoxError, Client, Error};
use kubecred_core::{
    ApiEndpoint, CredentialSource, Credentials, Deferred, Endpoint, ManualClock, SourceBuilder,
    SourceError, StaticSource,
};
use kubecred_incluster::InCluster;
use kubecred_testing::{Authentication, CertificateAuthority, ServiceAccountFiles};
use tower_layer::Layer;
use tower_service::Service;

use crate::support::*;

type Hyper =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;
type Layered = AuthService<Hyper>;

/// A credential source that counts the re-reads asked of it after `401`s
/// ([`CredentialSource::refresh`]) and forwards everything to the pod's in-cluster source
/// (but `current` when `at_hand` is false: then every request awaits `credentials()`).
#[derive(Debug)]
struct CountingRefreshes {
    source: Arc<InCluster>,
    refreshes: AtomicU64,
    at_hand: bool,
}

#[async_trait]
impl CredentialSource for CountingRefreshes {
    fn name(&self) -> &str {
        CredentialSource::name(&*self.source)
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        self.source.credentials().await
    }

    fn current(&self) -> Option<Arc<Credentials>> {
        self.source.current().filter(|_| self.at_hand)
    }

    fn deferred(&self) -> Option<Deferred> {
        self.source.deferred()
    }

    async fn refresh(&self, rejected: &Arc<Credentials>) -> Result<Arc<Credentials>, SourceError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        self.source.refresh(rejected).await
    }
}

/// A pod of the stand-in, its in-cluster source on a test clock (no periodic re-read comes
/// unless the test advances it), a client of that source with the refreshes counted, and a
/// hyper-util client behind the client's layer with its TLS configuration.
struct Fixture {
    pod: Pod,
    clock: ManualClock,
    source: Arc<InCluster>,
    counting: Arc<CountingRefreshes>,
    client: Client,
    service: Layered,
}

impl Fixture {
    async fn new() -> Self {
        Self::with_pool(true).await
    }

    /// With `pool` false, every request of the hyper client takes a new connection.
    async fn with_pool(pool: bool) -> Self {
        Self::with(pool, true).await
    }

    /// With `at_hand` false, the source never has credentials at hand
    /// ([`CredentialSource::current`] is `None`), so the layer awaits them for each request.
    async fn with(pool: bool, at_hand: bool) -> Self {
        let pod = Pod::new();
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let source = Arc::new(
            InCluster::builder()
                .serviceaccount_dir(pod.dir.path())
                .environment(Arc::new(pod.env.clone()))
                .clock(Arc::new(clock.clone()))
                .build(),
        );
        let counting = Arc::new(CountingRefreshes {
            source: Arc::clone(&source),
            refreshes: AtomicU64::new(0),
            at_hand,
        });
        let client = Client::composed(Arc::clone(&source) as Arc<dyn ApiEndpoint>)
            .credentials(Arc::clone(&counting) as Arc<dyn CredentialSource>)
            .build()
            .await
            .unwrap();
        let service = AuthLayer::new(&client).layer(hyper(&client, pool));
        Self {
            pod,
            clock,
            source,
            counting,
            client,
            service,
        }
    }

    fn uri(&self, path: &str) -> String {
        format!("{}{path}", self.pod.server.url())
    }

    fn get(&self, path: &str) -> Request<Full<Bytes>> {
        Request::get(self.uri(path)).body(Full::default()).unwrap()
    }

    /// Sends `request` through the layer and reads the whole answer.
    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Bytes>, BoxError> {
        send(self.service.clone(), request).await
    }

    fn labels(&self) -> Vec<Authentication> {
        self.pod
            .server
            .requests()
            .into_iter()
            .map(|r| r.authentication)
            .collect()
    }

    fn refreshes(&self) -> u64 {
        self.counting.refreshes.load(Ordering::SeqCst)
    }

    /// The kubelet rotates the token file, then the cluster revokes the pod's first token.
    fn rotate_and_revoke(&self) {
        self.pod.server.add_token("rotated", ROTATED_TOKEN);
        self.pod.rotate_token(ROTATED_TOKEN);
        assert!(self.pod.server.revoke_token("pod"));
    }
}

/// A hyper-util client on `client`'s rustls configuration (pooled connections when `pool`).
fn hyper(client: &Client, pool: bool) -> Hyper {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*client.tls_config()).clone())
        .https_or_http()
        .enable_http1()
        .build();
    let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
    if !pool {
        builder.pool_max_idle_per_host(0);
    }
    builder.build(connector)
}

/// Sends `request` through `service` (once ready) and reads the whole answer.
async fn send<S, B>(
    mut service: S,
    request: Request<Full<Bytes>>,
) -> Result<Response<Bytes>, BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    let response = service.call(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(Into::into)?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// The kubecred error of a failed call through the layer.
fn kubecred_error(error: &BoxError) -> &Error {
    error
        .downcast_ref::<Error>()
        .unwrap_or_else(|| panic!("expected kubecred's error, got {error:?}"))
}

#[tokio::test]
async fn requests_through_the_layer_carry_the_pods_token_over_kubecreds_tls() {
    let fixture = Fixture::new().await;
    for path in ["/api", "/version", "/api"] {
        let response = fixture.send(fixture.get(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let versions: serde_json::Value =
        serde_json::from_slice(fixture.send(fixture.get("/api")).await.unwrap().body()).unwrap();
    assert_eq!(versions["versions"][0], "v1");
    assert_eq!(fixture.labels(), vec![Authentication::token("pod"); 4]);
    assert_eq!(
        fixture.source.token_reads(),
        1,
        "the token read at build serves all"
    );
    assert_eq!(fixture.refreshes(), 0);
}

#[tokio::test]
async fn a_revoked_token_is_re_read_once_and_a_replayable_request_retried_with_the_new_one() {
    let fixture = Fixture::new().await;
    fixture.send(fixture.get("/api")).await.unwrap();
    fixture.rotate_and_revoke();

    let response = fixture.send(fixture.get("/api")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        fixture.labels(),
        [
            Authentication::token("pod"),
            Authentication::UnknownToken,
            Authentication::token("rotated")
        ],
        "one refused request, one retry with the rotated token"
    );
    assert_eq!((fixture.refreshes(), fixture.source.token_reads()), (1, 2));

    fixture.send(fixture.get("/version")).await.unwrap();
    assert_eq!(
        fixture.labels().last(),
        Some(&Authentication::token("rotated"))
    );
    assert_eq!(fixture.source.token_reads(), 2, "no re-read once fresh");
}

/// The path that awaits the credentials (a source with none at hand) authenticates, re-reads
/// and retries as the fast path does.
#[tokio::test]
async fn without_credentials_at_hand_a_revoked_token_is_re_read_once_and_the_request_retried() {
    let fixture = Fixture::with(true, false).await;
    fixture.send(fixture.get("/api")).await.unwrap();
    fixture.rotate_and_revoke();

    let response = fixture.send(fixture.get("/api")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        fixture.labels(),
        [
            Authentication::token("pod"),
            Authentication::UnknownToken,
            Authentication::token("rotated")
        ],
        "one refused request, one retry with the rotated token"
    );
    assert_eq!((fixture.refreshes(), fixture.source.token_reads()), (1, 2));

    let with_body = Request::get(fixture.uri("/api"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    assert_eq!(
        fixture.send(with_body).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        fixture.labels().last(),
        Some(&Authentication::token("rotated"))
    );
    assert_eq!(fixture.source.token_reads(), 2, "no re-read once fresh");
}

#[tokio::test]
async fn a_request_with_a_body_gets_the_401_and_the_next_request_goes_out_on_fresh_credentials() {
    let fixture = Fixture::new().await;
    fixture.rotate_and_revoke();

    let with_body = Request::get(fixture.uri("/api"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let response = fixture.send(with_body).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "not replayed");
    assert_eq!((fixture.refreshes(), fixture.source.token_reads()), (1, 2));

    let response = fixture.send(fixture.get("/api")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        fixture.labels(),
        [
            Authentication::UnknownToken,
            Authentication::token("rotated")
        ]
    );
    assert_eq!(fixture.source.token_reads(), 2);
}

#[tokio::test]
async fn a_second_401_is_returned_like_the_first_after_one_re_read() {
    let fixture = Fixture::new().await;
    // Revoked, and the file still holds the revoked token: the re-read finds nothing new.
    assert!(fixture.pod.server.revoke_token("pod"));
    let response = fixture.send(fixture.get("/api")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fixture.labels(), [Authentication::UnknownToken]);
    assert_eq!((fixture.refreshes(), fixture.source.token_reads()), (1, 2));
}

#[tokio::test]
async fn a_callers_own_authorization_header_is_left_alone_and_never_re_read_for() {
    let fixture = Fixture::new().await;
    fixture
        .pod
        .server
        .add_token("caller", "caller-own-token-51c2");
    let mut own = fixture.get("/api");
    own.headers_mut().insert(
        AUTHORIZATION,
        HeaderValue::from_static("Bearer caller-own-token-51c2"),
    );
    assert_eq!(fixture.send(own).await.unwrap().status(), StatusCode::OK);

    let mut unknown = fixture.get("/api");
    unknown
        .headers_mut()
        .insert(AUTHORIZATION, HeaderValue::from_static("Bearer not-known"));
    let response = fixture.send(unknown).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        fixture.labels(),
        [
            Authentication::token("caller"),
            Authentication::UnknownToken
        ]
    );
    assert_eq!(fixture.refreshes(), 0, "the caller's 401 is the caller's");
    assert_eq!(fixture.source.token_reads(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_401s_cause_one_re_read_and_twenty_retries() {
    let fixture = Fixture::new().await;
    fixture.send(fixture.get("/api")).await.unwrap();
    fixture.rotate_and_revoke();
    fixture.pod.server.clear_requests();

    // All twenty take the revoked token before any answer comes back.
    let mut service = fixture.service.clone();
    let mut calls = Vec::new();
    for _ in 0..20 {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap();
        calls.push(service.call(fixture.get("/version")));
    }
    let tasks: Vec<_> = calls.into_iter().map(tokio::spawn).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), StatusCode::OK);
    }

    let labels = fixture.labels();
    let count = |wanted: &Authentication| labels.iter().filter(|l| *l == wanted).count();
    assert_eq!(
        (
            count(&Authentication::UnknownToken),
            count(&Authentication::token("rotated"))
        ),
        (20, 20),
        "{labels:?}"
    );
    assert_eq!(fixture.refreshes(), 20, "each 401 asks for a re-read");
    assert_eq!(fixture.source.token_reads(), 2, "and the file is read once");
}

#[tokio::test]
async fn a_rotated_ca_bundle_is_followed_by_the_hyper_clients_new_connections() {
    let fixture = Fixture::with_pool(false).await;
    fixture.send(fixture.get("/api")).await.unwrap();

    let old_ca = fixture.pod.server.ca_pem();
    let new_ca = CertificateAuthority::new("rotated cluster CA").unwrap();
    let files = |ca: String| {
        ServiceAccountFiles::new()
            .token(TOKEN)
            .ca_crt(ca)
            .namespace("team-a")
    };
    // The kubelet projects both CAs, the server moves to the new one, the old one leaves.
    fixture
        .pod
        .dir
        .update(&files(format!("{old_ca}{}", new_ca.pem())))
        .unwrap();
    fixture.clock.advance(Duration::from_secs(300));
    fixture
        .pod
        .server
        .rotate_serving_certificate(&new_ca)
        .unwrap();
    let response = fixture.send(fixture.get("/api")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    fixture.pod.dir.update(&files(new_ca.pem())).unwrap();
    fixture.clock.advance(Duration::from_secs(300));
    fixture
        .pod
        .server
        .rotate_serving_certificate(&new_ca)
        .unwrap();
    let response = fixture.send(fixture.get("/api")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fixture.labels(), vec![Authentication::token("pod"); 3]);
}

/// An inner service that records what reaches it and answers `200`: to prove what the layer
/// refuses never leaves, and what it adds.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Option<HeaderValue>>>>,
}

impl Service<Request<Full<Bytes>>> for Recorder {
    type Response = Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let authorization = request.headers().get(AUTHORIZATION).cloned();
        self.seen.lock().unwrap().push(authorization);
        std::future::ready(Ok(Response::new(Full::default())))
    }
}

#[tokio::test]
async fn a_proxy_endpoint_gets_no_credentials_and_a_callers_authorization_is_refused_before_sending(
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = Client::builder()
        .endpoint(Arc::new(
            kubecred_proxy::ProxySource::builder().url(&url).build(),
        ))
        .build()
        .await
        .unwrap();
    let recorder = Recorder::default();
    let service = client.auth_layer().layer(recorder.clone());

    let plain = Request::get(format!("{url}/api"))
        .body(Full::default())
        .unwrap();
    send(service.clone(), plain).await.unwrap();
    assert_eq!(*recorder.seen.lock().unwrap(), [None], "nothing added");

    let mut own = Request::get(format!("{url}/api"))
        .body(Full::default())
        .unwrap();
    own.headers_mut().insert(
        AUTHORIZATION,
        HeaderValue::from_static("Bearer caller-token-for-proxy"),
    );
    let error = send(service, own).await.unwrap_err();
    let kubecred = kubecred_error(&error);
    assert!(
        matches!(kubecred, Error::InvalidRequest { .. }),
        "{kubecred:?}"
    );
    assert_eq!(
        kubecred.to_string(),
        format!("proxy: invalid request: the Authorization header is refused: refused: {url} must not receive credentials (it would forward them upstream); compose it with anonymous credentials")
    );
    assert_eq!(
        recorder.seen.lock().unwrap().len(),
        1,
        "the refused one never left"
    );
    assert!(!format!("{error:?}{error}").contains("caller-token-for-proxy"));
}

#[tokio::test]
async fn a_request_for_another_server_is_refused_and_never_carries_the_token() {
    let endpoint = Endpoint::new(
        "https://127.0.0.1:6443".parse().unwrap(),
        kubecred_core::Trust::InsecureSkipVerify,
    );
    let source = Arc::new(StaticSource::new(
        endpoint,
        Credentials::bearer(TOKEN.to_owned().into()),
    ));
    let client = Client::composed(Arc::clone(&source) as Arc<dyn ApiEndpoint>)
        .credentials(source)
        .build()
        .await
        .unwrap();
    let recorder = Recorder::default();
    let service = client.auth_layer().layer(recorder.clone());

    for uri in [
        "https://127.0.0.2:6443/api",
        "http://127.0.0.1:6443/api",
        "https://127.0.0.1/api",
        "https://user:pass-51e@127.0.0.1:7443/api",
    ] {
        let request = Request::get(uri).body(Full::default()).unwrap();
        let error = send(service.clone(), request).await.unwrap_err();
        let message = kubecred_error(&error).to_string();
        assert!(
            message.contains("the layer sends its credentials to no other server"),
            "{uri}: {message}"
        );
        assert!(!message.contains("pass-51e"), "{message}");
    }
    assert!(recorder.seen.lock().unwrap().is_empty());

    // The endpoint itself, with its port written or not, and a path alone pass.
    for uri in [
        "https://127.0.0.1:6443/api",
        "HTTPS://127.0.0.1:6443/api",
        "/api",
    ] {
        let request = Request::get(uri).body(Full::default()).unwrap();
        send(service.clone(), request).await.unwrap();
    }
    let bearer = format!("Bearer {TOKEN}");
    let seen = recorder.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|value| value.as_ref().is_some_and(|v| v == bearer.as_str())));
}

#[tokio::test]
async fn no_debug_of_the_layer_or_its_service_shows_the_token() {
    let fixture = Fixture::new().await;
    fixture.send(fixture.get("/api")).await.unwrap();
    let layer = fixture.client.auth_layer();
    let shown = format!("{layer:?} {:?}", fixture.service);
    assert!(shown.contains("in-cluster"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

/// A client of `server` composed by hand: `credentials`, the server's CA as a fixed bundle,
/// and `tls_server_name` as the name its certificate is verified against, if any.
async fn composed(
    server: &kubecred_testing::ApiServer,
    credentials: Credentials,
    tls_server_name: Option<&str>,
) -> Client {
    let ca =
        kubecred_core::CaBundle::from_pem(server.ca_pem().as_bytes(), kubecred_core::Origin::Code)
            .unwrap();
    let mut endpoint = Endpoint::new(
        server.url().parse().unwrap(),
        kubecred_core::Trust::CaBundle(ca),
    );
    if let Some(name) = tls_server_name {
        endpoint = endpoint.with_tls_server_name(name);
    }
    let source = Arc::new(StaticSource::new(endpoint, credentials));
    Client::composed(Arc::clone(&source) as Arc<dyn ApiEndpoint>)
        .credentials(source)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_tls_server_name_override_is_what_the_hyper_stacks_handshake_verifies() {
    let server = kubecred_testing::ApiServer::builder()
        .token("pod", TOKEN)
        .start()
        .unwrap();
    let bearer = || Credentials::bearer(TOKEN.to_owned().into());
    let get = || {
        Request::get(format!("{}/api", server.url()))
            .body(Full::default())
            .unwrap()
    };

    // hyper-rustls asks for the URI's host (an IP address); the verifier checks the
    // override, a name the stand-in's certificate holds.
    let client = composed(&server, bearer(), Some("kubernetes.default.svc")).await;
    let service = client.auth_layer().layer(hyper(&client, true));
    assert_eq!(send(service, get()).await.unwrap().status(), StatusCode::OK);

    // An override the certificate does not hold fails the handshake: the URI's host, which
    // the certificate does hold, is not what is checked.
    let client = composed(&server, bearer(), Some("elsewhere.example")).await;
    let service = client.auth_layer().layer(hyper(&client, true));
    let error = send(service, get()).await.unwrap_err();
    assert!(
        error.downcast_ref::<Error>().is_none(),
        "hyper's error: {error:?}"
    );
    assert!(
        format!("{:?}", error).contains("NotValidForName"),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_hyper_stack_presents_the_client_certificate_of_the_credentials() {
    let server = kubecred_testing::ApiServer::builder()
        .require_client_certificate(true)
        .start()
        .unwrap();
    let issued = server.ca().issue_client_certificate("layer-user").unwrap();
    let identity = kubecred_core::ClientIdentity::from_pem(
        issued.cert_pem().as_bytes(),
        kubecred_core::Origin::Code,
        issued.key_pem().as_bytes(),
        kubecred_core::Origin::Code,
    )
    .unwrap();
    let client = composed(&server, Credentials::client_certificate(identity), None).await;
    let service = client.auth_layer().layer(hyper(&client, true));
    let request = Request::get(format!("{}/api", server.url()))
        .body(Full::default())
        .unwrap();
    let response = send(service, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        server
            .requests()
            .into_iter()
            .map(|r| r.authentication)
            .collect::<Vec<_>>(),
        [Authentication::ClientCertificate {
            common_name: "layer-user".to_owned()
        }]
    );
}
