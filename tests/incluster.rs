//! The client with the in-cluster source, through the library API.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use kubecred_client::{Client, Error};
use kubecred_core::{ManualClock, MapEnvironment};
use kubecred_testing::{ApiServer, Authentication};

use crate::support::*;

#[tokio::test]
async fn get_json_reads_api_versions_and_the_client_exposes_what_frameworks_need() {
    let pod = Pod::new();
    let client = pod.client().await;
    assert_eq!(client.source_name(), "in-cluster");
    assert_eq!(client.namespace(), "team-a");
    assert_eq!(client.endpoint().display_url(), pod.server.url());

    let versions: serde_json::Value = client.get_json("/api").await.unwrap();
    assert_eq!(versions["versions"], serde_json::json!(["v1"]));

    let header = client.authorization_header().await.unwrap().unwrap();
    assert!(header.is_sensitive());
    assert_eq!(header.to_str().unwrap(), format!("Bearer {TOKEN}"));
    assert!(!format!("{header:?}").contains(TOKEN));

    // The TLS configuration is ready for a framework's own stack: it completes a handshake
    // with the API server, verifying it with ca.crt.
    let tcp = tokio::net::TcpStream::connect(pod.server.addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from(pod.server.host()).unwrap();
    tokio_rustls::TlsConnector::from(client.tls_config())
        .connect(name, tcp)
        .await
        .expect("the exported ClientConfig verifies the API server");
}

#[tokio::test]
async fn request_returns_every_status_and_get_turns_non_2xx_into_a_named_error() {
    let pod = Pod::new();
    let client = pod.client().await;
    let request = http::Request::get("/no/such/thing")
        .body(Bytes::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 404);

    let err = client.get("/no/such/thing").await.unwrap_err();
    // It says where: the method, the path and the server's address.
    assert_eq!(
        err.to_string(),
        format!(
            "in-cluster: 404 Not Found for GET {}/no/such/thing: the server could not find the requested resource",
            pod.server.url()
        )
    );
    assert_eq!(err.status(), Some(http::StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn each_request_goes_to_its_own_path_and_query_whatever_came_before() {
    // The client keeps the URLs of recent paths, a few slots chosen by a hash of the path; a
    // different path or query must never reuse one. `/api` and the pods of `ns-9` share a slot.
    let pod = Pod::new();
    let client = pod.client().await;
    pod.server.clear_requests();
    let paths = [
        "/api",
        "/api",
        "/api?timeout=5s",
        "/version",
        "/api",
        "/api/v1/namespaces/ns-9/pods",
        "/api",
        "/api/v1/namespaces/ns-9/pods",
        "/api/v1/namespaces/team-a/pods?limit=1",
        "/api/v1/namespaces/team-a/pods?limit=2",
    ];
    for path in paths {
        let request = http::Request::get(path).body(Bytes::new()).unwrap();
        client.request(request).await.unwrap();
    }
    let seen: Vec<String> = pod.server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(seen, paths);
}

/// A bound service-account token (a JWT; the stand-in does not check signatures) whose `exp`
/// is 1,800,000,000 s: 2027-01-15T08:00:00Z.
const EXPIRING_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE4MDAwMDAwMDAsInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDp0ZWFtLWE6ZGVmYXVsdCJ9.c2lnbmF0dXJl";

/// The answer to `GET /api` with [`EXPIRING_JWT`] refused by the API server, the client's
/// clock at `now` (seconds since the epoch), the requests the server saw, and its URL.
async fn refused_jwt_at(now: u64) -> (Error, usize, String) {
    let server = ApiServer::builder()
        .token("someone-else", "not-the-pods-token")
        .start()
        .unwrap();
    let pod = Pod::with_server_and_token(server, EXPIRING_JWT);
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(now));
    let client = pod.builder().clock(Arc::new(clock)).build().await.unwrap();
    let error = client.get("/api").await.unwrap_err();
    (error, pod.server.requests().len(), pod.server.url())
}

#[tokio::test]
async fn a_401_for_a_token_past_its_exp_says_the_token_expired() {
    let (error, requests, url) = refused_jwt_at(1_800_000_000 + 3600).await;
    assert_eq!(error.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert_eq!(
        error.to_string(),
        format!("in-cluster: 401 Unauthorized for GET {url}/api: Unauthorized (the token expired at 2027-01-15T08:00:00Z)")
    );
    // The re-read found the same token: no retry.
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn a_401_for_a_token_before_its_exp_does_not_mention_expiry() {
    let (error, requests, url) = refused_jwt_at(1_800_000_000 - 3600).await;
    assert_eq!(
        error.to_string(),
        format!("in-cluster: 401 Unauthorized for GET {url}/api: Unauthorized")
    );
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn a_caller_authorization_header_is_never_overwritten() {
    let pod = Pod::new();
    pod.server.add_token("caller", "caller-own-token");
    let client = pod.client().await;
    let request = http::Request::get("/api")
        .header("authorization", "Bearer caller-own-token")
        .header("user-agent", "my-framework/1.0")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(client.request(request).await.unwrap().status(), 200);
    let seen = &pod.server.requests()[0];
    assert_eq!(
        seen.authentication,
        Authentication::Token {
            label: "caller".into()
        }
    );
    assert_eq!(seen.user_agent.as_deref(), Some("my-framework/1.0"));
}

#[tokio::test]
async fn a_401_after_a_rotation_re_reads_the_token_and_retries_once() {
    let pod = Pod::new();
    let client = pod.client().await;
    client.get("/api").await.unwrap();

    // The kubelet rotates the token and the old one is revoked at once.
    pod.server.add_token("rotated", ROTATED_TOKEN);
    pod.server.revoke_token("pod");
    pod.rotate_token(ROTATED_TOKEN);

    client.get("/version").await.unwrap();
    let seen: Vec<_> = pod
        .server
        .requests()
        .into_iter()
        .map(|r| r.authentication)
        .collect();
    assert_eq!(
        seen,
        [
            Authentication::Token {
                label: "pod".into()
            },
            Authentication::UnknownToken,
            Authentication::Token {
                label: "rotated".into()
            },
        ]
    );
    let header = client.authorization_header().await.unwrap().unwrap();
    assert_eq!(header.to_str().unwrap(), format!("Bearer {ROTATED_TOKEN}"));
}

#[tokio::test]
async fn a_401_with_an_unchanged_token_is_returned_without_a_retry() {
    let pod = Pod::with_server(ApiServer::builder().token("other", "x").start().unwrap());
    let client = pod.client().await;
    let err = client.get("/api").await.unwrap_err();
    let Error::Status {
        name,
        method,
        url,
        status,
        message,
        reason,
    } = &err
    else {
        panic!("expected a Status error, got {err:?}");
    };
    assert_eq!((name.as_str(), status.as_u16()), ("in-cluster", 401));
    // Where: the method, the server's address and the path.
    assert_eq!(
        (method.as_str(), url.as_str()),
        ("GET", format!("{}/api", pod.server.url()).as_str())
    );
    assert_eq!(message, "Unauthorized");
    assert_eq!(reason.as_deref(), Some("Unauthorized"));
    assert_eq!(pod.server.requests().len(), 1);
}

#[tokio::test]
async fn the_flag_beats_kubecred_serviceaccount_dir_which_beats_the_default() {
    let pod = Pod::new();
    let mut env = pod.env.clone();
    env.set(
        kubecred_client::SERVICEACCOUNT_DIR_VAR,
        pod.dir.path().display().to_string(),
    );
    let from_var = Client::builder()
        .environment(Arc::new(env.clone()))
        .build()
        .await
        .unwrap();
    assert_eq!(from_var.namespace(), "team-a");

    let err = Client::builder()
        .environment(Arc::new(env))
        .serviceaccount_dir("/nonexistent/kubecred-dir")
        .build()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("in-cluster")
            && kubecred_client::error_chain(&err).contains("/nonexistent/kubecred-dir/ca.crt"),
        "{err}"
    );
}

#[tokio::test]
async fn outside_a_pod_in_cluster_does_not_apply() {
    let err = Client::builder()
        .environment(Arc::new(MapEnvironment::default()))
        .proxy_url(closed_proxy_url())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoSource { .. }), "{err:?}");
    let report = err.report().unwrap();
    assert_eq!(
        report.sources.len(),
        4,
        "env, kubeconfig, in-cluster, proxy"
    );
    assert_eq!(report.sources[0].reason, "KUBE_HOST is not set");
    assert!(report.sources[1].outcome == kubecred_client::Outcome::NotApplicable);
    assert_eq!(
        report.sources[2].reason,
        "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
    );
}
