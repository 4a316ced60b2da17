//! kubectl's TLS edge cases, through every trust path that takes a CA bundle: the server's
//! own certificate given as the CA (pinned, as Go's `x509` verification accepts it), a
//! server-name override sent as SNI, and refusals that say in words what the certificate
//! holds and where to give its CA.
//!
//! What kubectl 1.32 does, checked against an `openssl s_server` on this project's machine
//! (recorded in ARCHITECTURE.md): it accepts a `certificate-authority` holding the server's
//! own (CA-issued, `CA:FALSE`) certificate, still checking the name (`x509: certificate is
//! valid for api.example, other.example, not wrong.example`); it sends `tls-server-name` as
//! SNI and the URL's authority as `Host`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use kubecred_client::{Client, ClientBuilder, Error, SourceName};
use kubecred_core::{ManualClock, MapEnvironment, Source, SourceBuilder};
use kubecred_incluster::InCluster;
use kubecred_testing::{
    ApiServer, Authentication, Cluster, Context, Kubeconfig, KubeconfigDir, ServiceAccountFiles,
    User,
};

use crate::support::*;

/// A name no certificate of the stand-in holds unless it is asked for by SNI.
const SNI_NAME: &str = "api.sni.example";

fn env_client(vars: &[(&str, String)]) -> ClientBuilder {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    Client::builder()
        .environment(Arc::new(MapEnvironment::new(vars)))
        .sources([SourceName::Env])
}

fn kubeconfig_client(dir: &KubeconfigDir, config: &Kubeconfig) -> ClientBuilder {
    let path = dir.write("config", config).unwrap();
    Client::builder()
        .environment(Arc::new(
            MapEnvironment::new(Vec::<(String, String)>::new()),
        ))
        .sources([SourceName::Kubeconfig])
        .kubeconfig(path)
}

fn server() -> ApiServer {
    ApiServer::builder().token("pod", TOKEN).start().unwrap()
}

fn token_label() -> Authentication {
    Authentication::Token {
        label: "pod".to_owned(),
    }
}

async fn get_ok(builder: ClientBuilder, server: &ApiServer, what: &str) {
    let client = builder
        .build()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    client
        .get("/api")
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let last = server.requests().pop().unwrap();
    assert_eq!(last.authentication, token_label(), "{what}");
}

async fn get_err(builder: ClientBuilder, what: &str) -> String {
    let client = builder
        .build()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let error = client.get("/api").await.unwrap_err();
    assert!(
        matches!(error, Error::TlsVerification { .. }),
        "{what}: {error:?}"
    );
    kubecred_core::error_chain(&error)
}

/// kubectl accepts a CA bundle that holds the server's own certificate (Go's `x509` accepts a
/// certificate byte-identical to a root): so does every trust path that takes a bundle.
#[tokio::test]
async fn the_servers_own_certificate_as_the_ca_is_pinned_through_every_trust_path() {
    let server = server();
    let leaf = server.serving_certificate_pem();
    assert!(!leaf.contains(&server.ca_pem()), "the leaf alone, no CA");

    // In-cluster `ca.crt`.
    let pod = Pod::with_server(server);
    pod.dir
        .update(&ServiceAccountFiles::new().token(TOKEN).ca_crt(leaf.clone()))
        .unwrap();
    get_ok(pod.builder(), &pod.server, "in-cluster ca.crt").await;
    let server = &pod.server;

    // `KUBE_CLUSTER_CA_CERT_DATA` (PEM) and `KUBE_CLUSTER_CA_CERT_FILE`.
    let host = ("KUBE_HOST", server.url());
    let token = ("KUBE_TOKEN", TOKEN.to_owned());
    let data = ("KUBE_CLUSTER_CA_CERT_DATA", leaf.clone());
    get_ok(
        env_client(&[host.clone(), token.clone(), data]),
        server,
        "KUBE_CLUSTER_CA_CERT_DATA",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let leaf_path = dir.path().join("leaf.crt");
    std::fs::write(&leaf_path, &leaf).unwrap();
    let file = (
        "KUBE_CLUSTER_CA_CERT_FILE",
        leaf_path.to_str().unwrap().to_owned(),
    );
    get_ok(
        env_client(&[host.clone(), token.clone(), file]),
        server,
        "KUBE_CLUSTER_CA_CERT_FILE",
    )
    .await;

    // A kubeconfig's `certificate-authority-data` and `certificate-authority`.
    let kubeconfigs = KubeconfigDir::new().unwrap();
    for (what, cluster) in [
        (
            "certificate-authority-data",
            Cluster::new("c", server).ca_pem(leaf.clone()).ca_data(),
        ),
        (
            "certificate-authority",
            Cluster::new("c", server).ca_pem(leaf.clone()).ca_file(),
        ),
    ] {
        let config = Kubeconfig::new()
            .cluster(cluster)
            .user(User::new("u").token(TOKEN))
            .context(Context::new("c", "c", "u"))
            .current_context("c");
        get_ok(kubeconfig_client(&kubeconfigs, &config), server, what).await;
    }
}

/// Pinning is not a pass: the pinned certificate is still checked for the name, and another
/// server certificate (not the bundle's) is refused, saying who issued it.
#[tokio::test]
async fn a_pinned_certificate_is_still_checked_for_its_name_and_only_it_is_trusted() {
    let server = server();
    let leaf = server.serving_certificate_pem();
    let host = ("KUBE_HOST", server.url());
    let token = ("KUBE_TOKEN", TOKEN.to_owned());
    let data = ("KUBE_CLUSTER_CA_CERT_DATA", leaf.clone());
    let wrong_name = ("KUBE_TLS_SERVER_NAME", "elsewhere.example".to_owned());
    let message = get_err(
        env_client(&[host.clone(), token.clone(), data, wrong_name]),
        "pinned, wrong name",
    )
    .await;
    assert!(
        message.contains("the certificate is not valid for elsewhere.example: it holds the DNS names \"kubernetes\", \"kubernetes.default\""),
        "{message}"
    );

    // Another certificate of the same CA, pinned: the server's is not it.
    let other = server
        .ca()
        .issue_server_certificate(&["127.0.0.1"])
        .unwrap();
    let data = ("KUBE_CLUSTER_CA_CERT_DATA", other.cert_pem().to_owned());
    let message = get_err(
        env_client(&[host, token, data]),
        "another certificate pinned",
    )
    .await;
    assert!(
        message.contains(
            "was not issued by a CA of the bundle, nor is it a certificate the bundle holds"
        ),
        "{message}"
    );
    assert!(
        server.requests().is_empty(),
        "no request passes a refused server"
    );
}

/// The in-cluster `ca.crt` follows rotation with a pinned certificate too: a server whose
/// certificate changes is refused until the file holds its new certificate.
#[tokio::test]
async fn a_pinned_ca_crt_follows_the_servers_certificate_through_rotation() {
    let pod = Pod::new();
    let files = |ca: String| ServiceAccountFiles::new().token(TOKEN).ca_crt(ca);
    pod.dir
        .update(&files(pod.server.serving_certificate_pem()))
        .unwrap();
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let source = Arc::new(
        InCluster::builder()
            .serviceaccount_dir(pod.dir.path())
            .environment(Arc::new(pod.env.clone()))
            .clock(Arc::new(clock.clone()))
            .build(),
    );
    let client = Client::builder()
        .chain([source as Arc<dyn Source>])
        .build()
        .await
        .unwrap();
    client.get("/api").await.unwrap();

    // The server gets a new certificate of the same CA: the pinned one no longer matches.
    let ca = pod.server.ca().clone();
    pod.server.rotate_serving_certificate(&ca).unwrap();
    let error = client.get("/api").await.unwrap_err();
    assert!(matches!(error, Error::TlsVerification { .. }), "{error:?}");
    // The kubelet projects the new certificate; after the re-read period, it is pinned.
    pod.dir
        .update(&files(pod.server.serving_certificate_pem()))
        .unwrap();
    clock.advance(Duration::from_secs(300));
    client.get("/api").await.unwrap();
    assert_eq!(pod.server.requests().len(), 2);
}

/// kubectl sends `tls-server-name` as SNI (and the URL's authority as `Host`): a server that
/// picks its certificate by SNI answers with the one for that name.
#[tokio::test]
async fn a_server_name_override_is_sent_as_sni_and_the_host_header_is_the_urls() {
    let server = ApiServer::builder()
        .token("pod", TOKEN)
        .sni_certificate(SNI_NAME)
        .start()
        .unwrap();
    let authority = format!("127.0.0.1:{}", server.port());
    let host = ("KUBE_HOST", server.url());
    let token = ("KUBE_TOKEN", TOKEN.to_owned());
    let ca = ("KUBE_CLUSTER_CA_CERT_DATA", server.ca_pem());
    let name = ("KUBE_TLS_SERVER_NAME", SNI_NAME.to_owned());

    // `KUBE_TLS_SERVER_NAME`: the certificate for it holds only that name, so the request
    // succeeds only if the name was sent as SNI.
    get_ok(
        env_client(&[host.clone(), token.clone(), ca.clone(), name]),
        &server,
        "KUBE_TLS_SERVER_NAME",
    )
    .await;
    let request = server.requests().pop().unwrap();
    assert_eq!(request.sni.as_deref(), Some(SNI_NAME));
    assert_eq!(request.host.as_deref(), Some(authority.as_str()));

    // A kubeconfig's `tls-server-name`.
    let kubeconfigs = KubeconfigDir::new().unwrap();
    let config = Kubeconfig::new()
        .cluster(Cluster::new("c", &server).tls_server_name(SNI_NAME))
        .user(User::new("u").token(TOKEN))
        .context(Context::new("c", "c", "u"))
        .current_context("c");
    get_ok(
        kubeconfig_client(&kubeconfigs, &config),
        &server,
        "tls-server-name",
    )
    .await;
    let request = server.requests().pop().unwrap();
    assert_eq!(request.sni.as_deref(), Some(SNI_NAME));
    assert_eq!(request.host.as_deref(), Some(authority.as_str()));

    // Without an override, no SNI for an IP address (TLS sends none), as before.
    get_ok(env_client(&[host, token, ca]), &server, "no override").await;
    let request = server.requests().pop().unwrap();
    assert_eq!(request.sni, None);
    assert_eq!(request.host.as_deref(), Some(authority.as_str()));
}

/// A name mismatch says which names the certificate holds; an IP address the certificate does
/// not list as an IP address is said to have no IP SAN.
#[tokio::test]
async fn a_name_mismatch_says_which_names_the_certificate_holds() {
    let server = ApiServer::builder()
        .token("pod", TOKEN)
        .serving_sans(&["localhost", "api.example"])
        .start()
        .unwrap();
    let host = ("KUBE_HOST", server.url());
    let token = ("KUBE_TOKEN", TOKEN.to_owned());
    let ca = ("KUBE_CLUSTER_CA_CERT_DATA", server.ca_pem());
    let message = get_err(
        env_client(&[host.clone(), token.clone(), ca.clone()]),
        "an IP without an IP SAN",
    )
    .await;
    assert!(
        message.contains(
            "failed TLS verification against the CA bundle from environment variable KUBE_CLUSTER_CA_CERT_DATA: the certificate has no IP SAN, so it is not valid for the IP address 127.0.0.1; it holds the DNS names \"localhost\", \"api.example\", no IP address and the common name \"localhost\""
        ),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("env: the API server at {}/api ", server.url())),
        "{message}"
    );

    let name = ("KUBE_TLS_SERVER_NAME", "elsewhere.example".to_owned());
    let message = get_err(env_client(&[host, token, ca, name]), "another name").await;
    assert!(
        message.contains("the certificate is not valid for elsewhere.example: it holds the DNS names \"localhost\", \"api.example\", no IP address and the common name \"localhost\" (the name checked is the endpoint's TLS server name)"),
        "{message}"
    );
}

/// A certificate whose issuer the system roots do not know: the error says who issued it and
/// which variable or kubeconfig field gives its CA.
#[tokio::test]
async fn an_unknown_issuer_against_the_system_roots_names_where_to_give_the_ca() {
    let server = server();
    let host = ("KUBE_HOST", server.url());
    let token = ("KUBE_TOKEN", TOKEN.to_owned());
    let message = get_err(env_client(&[host, token]), "env, system roots").await;
    assert!(
        message.contains("failed TLS verification against the system root certificates: the certificate (issued by \"CN=kubecred-testing CA\") was not issued by a CA among the system root certificates: set KUBE_CLUSTER_CA_CERT_FILE or KUBE_CLUSTER_CA_CERT_DATA to the CA that issued it"),
        "{message}"
    );

    let kubeconfigs = KubeconfigDir::new().unwrap();
    let config = Kubeconfig::new()
        .cluster(Cluster::new("c", &server).no_ca())
        .user(User::new("u").token(TOKEN))
        .context(Context::new("c", "c", "u"))
        .current_context("c");
    let message = get_err(kubeconfig_client(&kubeconfigs, &config), "kubeconfig").await;
    assert!(
        message.contains("was not issued by a CA among the system root certificates: set certificate-authority or certificate-authority-data of cluster \"c\" in "),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

/// A certificate of 600 DNS names that does not hold the one asked for: the message names a
/// few and counts the rest (kubecred's words), and holds no list of rustls's own, so it
/// stays short; rustls's error stays in the cause, for a program to inspect.
#[tokio::test]
async fn a_name_mismatch_with_a_certificate_of_600_names_stays_short() {
    let names: Vec<String> = (0..600).map(|i| format!("host{i}.example")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let server = ApiServer::builder()
        .token("pod", TOKEN)
        .serving_sans(&names)
        .start()
        .unwrap();
    let vars = [
        ("KUBE_HOST", server.url()),
        ("KUBE_TOKEN", TOKEN.to_owned()),
        ("KUBE_CLUSTER_CA_CERT_DATA", server.ca_pem()),
    ];
    let message = get_err(env_client(&vars), "600 names").await;
    assert!(message.len() < 1024, "{} bytes: {message}", message.len());
    assert!(
        message.contains("\"host7.example\" and 592 more"),
        "{message}"
    );
    assert!(!message.contains("DnsName"), "{message}");
    assert!(server.requests().is_empty());

    let client = env_client(&vars).build().await.unwrap();
    let Err(Error::TlsVerification { source, .. }) = client.get("/api").await else {
        panic!("a TLS verification error");
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.reqwest());
    let mut rustls_error = None;
    for _ in 0..16 {
        let Some(error) = cause else { break };
        // The TLS layers nest the rustls error in `io::Error` payloads, which `source()` skips.
        let mut inner: &(dyn std::error::Error + 'static) = error;
        while let Some(payload) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            inner = payload;
        }
        rustls_error = rustls_error.or(inner.downcast_ref::<rustls::Error>());
        cause = error.source();
    }
    assert!(
        matches!(
            rustls_error,
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{rustls_error:?}"
    );
}

/// A TLS server on loopback presenting `cert` (signed by `key`) to every handshake; its URL.
/// No request gets past the handshake in these tests, so it answers none.
async fn presenting(cert: rcgen::Certificate, key: rcgen::KeyPair) -> String {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move { drop(acceptor.accept(tcp).await) });
        }
    });
    url
}

/// An expired serving certificate: the refusal gives its end and the time here as dates.
#[tokio::test]
async fn an_expired_certificate_says_when_it_expired_in_dates() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 2, 1);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let url = presenting(cert, key).await;
    let message = get_err(
        env_client(&[
            ("KUBE_HOST", url),
            ("KUBE_CLUSTER_CA_CERT_DATA", ca_pem),
            ("KUBE_TOKEN", TOKEN.to_owned()),
        ]),
        "expired",
    )
    .await;
    assert!(
        message.contains("the certificate expired at 2020-02-01T00:00:00Z (the time here is 20"),
        "{message}"
    );
    assert!(!message.contains(TOKEN), "{message}");
}

/// A server presenting a CA certificate as its own (what `openssl req -x509` makes): rustls
/// refuses it as a serving certificate; the refusal says so and where to give a CA.
#[tokio::test]
async fn a_ca_certificate_presented_as_the_servers_own_is_said_in_words() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let url = presenting(cert, key).await;
    let message = get_err(
        env_client(&[("KUBE_HOST", url), ("KUBE_TOKEN", TOKEN.to_owned())]),
        "a CA as the server's certificate",
    )
    .await;
    assert!(
        message.contains("the server presents a CA certificate (basicConstraints CA:true) as its own serving certificate, which rustls refuses: give the server a certificate that a CA issued, then set KUBE_CLUSTER_CA_CERT_FILE or KUBE_CLUSTER_CA_CERT_DATA to the CA that issued it"),
        "{message}"
    );
}
