//! Credentials that live: token and CA rotation as the kubelet and a cluster do them, on a
//! test clock.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use kubecred_client::Client;
use kubecred_core::{ManualClock, Source, SourceBuilder};
use kubecred_incluster::InCluster;
use kubecred_testing::{Authentication, CertificateAuthority, LogCapture, ServiceAccountFiles};

use crate::support::*;

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

/// The pod's in-cluster source on `clock`, kept by the test to count its file reads.
fn in_cluster(pod: &Pod, clock: &ManualClock) -> Arc<InCluster> {
    Arc::new(
        InCluster::builder()
            .serviceaccount_dir(pod.dir.path())
            .environment(Arc::new(pod.env.clone()))
            .clock(Arc::new(clock.clone()))
            .build(),
    )
}

async fn client(source: &Arc<InCluster>) -> Client {
    Client::builder()
        .chain([Arc::clone(source) as Arc<dyn Source>])
        .build()
        .await
        .unwrap()
}

/// A pod of the stand-in, its in-cluster source on a test clock, and a client of that source.
async fn pod_on_a_test_clock() -> (Pod, ManualClock, Arc<InCluster>, Client) {
    let pod = Pod::new();
    let clock = clock();
    let source = in_cluster(&pod, &clock);
    let client = client(&source).await;
    (pod, clock, source, client)
}

fn labels(pod: &Pod) -> Vec<Authentication> {
    pod.server
        .requests()
        .into_iter()
        .map(|r| r.authentication)
        .collect()
}

/// A new TLS connection to the API server with the client's exported configuration: its
/// handshake consults the current roots (a pooled connection of the client might not;
/// neither does a resumed session, so tests rotate the server's configuration first).
async fn handshake(client: &Client, pod: &Pod) -> std::io::Result<()> {
    let tcp = tokio::net::TcpStream::connect(pod.server.addr()).await?;
    let name = rustls::pki_types::ServerName::try_from(pod.server.host()).unwrap();
    tokio_rustls::TlsConnector::from(client.tls_config())
        .connect(name, tcp)
        .await
        .map(drop)
}

#[tokio::test]
async fn a_token_rotated_by_a_data_swap_is_used_after_the_period() {
    let (pod, clock, _source, client) = pod_on_a_test_clock().await;
    pod.server.add_token("rotated", ROTATED_TOKEN);
    pod.rotate_token(ROTATED_TOKEN);

    client.get("/api").await.unwrap();
    clock.advance(Duration::from_secs(60));
    client.get("/api").await.unwrap();
    assert_eq!(
        labels(&pod),
        [
            Authentication::token("pod"),
            Authentication::token("rotated")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_at_the_due_moment_read_the_token_file_once() {
    let (_pod, clock, source, client) = pod_on_a_test_clock().await;
    client.get("/api").await.unwrap();
    assert_eq!(source.token_reads(), 1);

    clock.advance(Duration::from_secs(60));
    let requests: Vec<_> = (0..200)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/version").await.map(|r| r.status()) })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap(), 200);
    }
    assert_eq!(source.token_reads(), 2, "one re-read for 200 requests");
}

#[tokio::test]
async fn the_ca_rotates_in_the_clusters_order_and_requests_keep_succeeding() {
    let (pod, clock, _source, client) = pod_on_a_test_clock().await;
    client.get("/api").await.unwrap();

    let old_ca = pod.server.ca_pem();
    let new_ca = CertificateAuthority::new("rotated cluster CA").unwrap();
    let files = |ca: String| {
        ServiceAccountFiles::new()
            .token(TOKEN)
            .ca_crt(ca)
            .namespace("team-a")
    };
    // 1. The kubelet projects the old and the new CA.
    pod.dir
        .update(&files(format!("{old_ca}{}", new_ca.pem())))
        .unwrap();
    clock.advance(Duration::from_secs(300));
    client.get("/api").await.unwrap();
    // 2. The API server switches to a certificate from the new CA and drops its connections.
    pod.server.rotate_serving_certificate(&new_ca).unwrap();
    client.get("/api").await.unwrap();
    // 3. The old CA leaves the bundle.
    pod.dir.update(&files(new_ca.pem())).unwrap();
    clock.advance(Duration::from_secs(300));
    pod.server.rotate_serving_certificate(&new_ca).unwrap();
    client.get("/api").await.unwrap();
    assert_eq!(pod.server.requests().len(), 4);
}

#[tokio::test]
async fn a_ca_crt_swapped_to_garbage_keeps_the_old_roots_and_warns() {
    let (pod, clock, _source, client) = pod_on_a_test_clock().await;
    client.get("/api").await.unwrap();

    pod.dir
        .update(
            &ServiceAccountFiles::new()
                .token(TOKEN)
                .ca_crt("not a certificate"),
        )
        .unwrap();
    clock.advance(Duration::from_secs(300));
    // A new server configuration, so the handshake cannot resume an earlier TLS session
    // (a resumed session skips certificate verification).
    pod.server
        .rotate_serving_certificate(&pod.server.ca().clone())
        .unwrap();
    let logs = LogCapture::start();
    handshake(&client, &pod)
        .await
        .expect("the old roots still verify the server");
    client.get("/api").await.unwrap();
    let warned = logs.take();
    assert!(warned.contains("WARN"), "{warned}");
    assert!(
        warned.contains(&format!("CA bundle file {}", pod.dir.ca_path().display())),
        "{warned}"
    );
    assert!(warned.contains("keeping the last good value"), "{warned}");
}

#[tokio::test]
async fn a_token_deleted_after_start_keeps_working_and_warns_once() {
    let (pod, clock, source, client) = pod_on_a_test_clock().await;
    std::fs::remove_file(pod.dir.token_path()).unwrap();
    clock.advance(Duration::from_secs(60));
    let logs = LogCapture::start();
    for _ in 0..5 {
        client.get("/api").await.unwrap();
    }
    let warned = logs.take();
    assert_eq!(
        warned.matches("keeping the last good value").count(),
        1,
        "{warned}"
    );
    assert_eq!(source.token_reads(), 2);
}

#[tokio::test]
async fn a_revoked_token_whose_file_is_gone_is_re_read_once_per_back_off_not_per_401() {
    let (pod, clock, source, client) = pod_on_a_test_clock().await;
    std::fs::remove_file(pod.dir.token_path()).unwrap();
    assert!(pod.server.revoke_token("pod"));
    let logs = LogCapture::start();
    for _ in 0..5 {
        let error = client.get("/api").await.unwrap_err();
        assert!(error.to_string().contains("401 Unauthorized"), "{error}");
    }
    let warned = logs.take();
    assert_eq!(
        source.token_reads(),
        2,
        "the first read and one after the first 401"
    );
    assert_eq!(
        warned.matches("keeping the last good value").count(),
        1,
        "{warned}"
    );
    // Once the back-off has passed, the next 401 re-reads again, once.
    clock.advance(Duration::from_secs(10));
    for _ in 0..3 {
        client.get("/api").await.unwrap_err();
    }
    assert_eq!(source.token_reads(), 3);
}

#[tokio::test]
async fn client_certificate_files_re_read_as_a_pair_are_presented_by_new_connections() {
    let server = kubecred_testing::ApiServer::start().unwrap();
    let alice = server.ca().issue_client_certificate("alice").unwrap();
    let bob = server.ca().issue_client_certificate("bob").unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("tls.crt"), files.path().join("tls.key"));
    let write = |identity: &kubecred_testing::IssuedCertificate| {
        std::fs::write(&key, identity.key_pem()).unwrap();
        std::fs::write(&cert, identity.cert_pem()).unwrap();
    };
    write(&alice);
    let clock = clock();
    let env = kubecred_core::MapEnvironment::new([
        ("KUBE_HOST", server.url()),
        ("KUBE_CLUSTER_CA_CERT_DATA", server.ca_pem()),
        ("KUBE_CLIENT_CERT_FILE", cert.display().to_string()),
        ("KUBE_CLIENT_KEY_FILE", key.display().to_string()),
    ]);
    let source: Arc<dyn Source> = Arc::new(
        kubecred_env::EnvSource::builder()
            .environment(Arc::new(env))
            .clock(Arc::new(clock.clone()))
            .build(),
    );
    let client = Client::builder().chain([source]).build().await.unwrap();
    client.get("/api").await.unwrap();

    write(&bob);
    clock.advance(Duration::from_secs(60));
    // A new server configuration: the next request makes a full handshake.
    server
        .rotate_serving_certificate(&server.ca().clone())
        .unwrap();
    client.get("/api").await.unwrap();
    let seen: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| r.authentication)
        .collect();
    let cn = |name: &str| Authentication::ClientCertificate {
        common_name: name.to_owned(),
    };
    assert_eq!(seen, [cn("alice"), cn("bob")]);
}

#[tokio::test]
async fn a_ca_crt_whose_certificate_cannot_be_a_root_warns_once_and_keeps_the_old_roots() {
    let (pod, clock, _source, client) = pod_on_a_test_clock().await;
    client.get("/api").await.unwrap();
    // Well-formed PEM around bytes that are no certificate.
    let broken = "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n";
    pod.dir
        .update(&ServiceAccountFiles::new().token(TOKEN).ca_crt(broken))
        .unwrap();
    clock.advance(Duration::from_secs(300));
    let logs = LogCapture::start();
    for _ in 0..3 {
        pod.server
            .rotate_serving_certificate(&pod.server.ca().clone())
            .unwrap();
        handshake(&client, &pod)
            .await
            .expect("the old roots still verify the server");
    }
    let warned = logs.take();
    assert_eq!(
        warned.matches("the rotated CA bundle is unusable").count(),
        1,
        "{warned}"
    );
}
