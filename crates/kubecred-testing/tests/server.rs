//! The stand-in API server over real TLS, with a hand-written HTTP/1.1 client on
//! tokio-rustls (ring provider, trusting only the server's CA).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use kubecred_testing::{
    ApiServer, Authentication, CertificateAuthority, IssuedCertificate, RecordedRequest,
};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A response: status code, raw header block, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn client_config(ca_pem: &str, identity: Option<&IssuedCertificate>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("CA PEM parses"))
            .expect("CA is usable");
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots);
    let config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(vec![identity.der()], identity.key_der())
            .expect("client identity is usable"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Sends `raw` (one or more requests) over TLS and reads until the server closes.
async fn exchange(addr: SocketAddr, config: Arc<ClientConfig>, raw: &str) -> io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    let mut tls = TlsConnector::from(config)
        .connect(ServerName::from(addr.ip()), stream)
        .await?;
    tls.write_all(raw.as_bytes()).await?;
    tls.flush().await?;
    let mut received = Vec::new();
    match tls.read_to_end(&mut received).await {
        Ok(_) => {}
        // A peer that closes without close_notify: what we read is all there is.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !received.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&received).into_owned())
}

fn request(method: &str, path: &str, token: Option<&str>, close: bool) -> String {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: kubernetes.default.svc\r\nUser-Agent: kubecred-testing-tests\r\n");
    if let Some(token) = token {
        raw.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if close {
        raw.push_str("Connection: close\r\n");
    }
    raw.push_str("\r\n");
    raw
}

fn parse(raw: &str) -> Answer {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {raw:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn get_with(
    server: &ApiServer,
    path: &str,
    token: Option<&str>,
    identity: Option<&IssuedCertificate>,
) -> io::Result<Answer> {
    let raw = exchange(
        server.addr(),
        client_config(&server.ca_pem(), identity),
        &request("GET", path, token, true),
    )
    .await?;
    Ok(parse(&raw))
}

async fn get(server: &ApiServer, path: &str, token: Option<&str>) -> Answer {
    get_with(server, path, token, None)
        .await
        .expect("request succeeds")
}

fn only_request(server: &ApiServer) -> RecordedRequest {
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.into_iter().next().unwrap()
}

const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;

#[tokio::test(flavor = "current_thread")]
async fn a_registered_token_gets_api_versions_and_is_logged_by_label() {
    let server = ApiServer::builder()
        .token("reader", "reader-token")
        .start()
        .unwrap();
    assert!(server.url().starts_with("https://127.0.0.1:"));
    assert_eq!(server.url(), format!("https://127.0.0.1:{}", server.port()));

    let answer = get(&server, "/api", Some("reader-token")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    let body = answer.json();
    assert_eq!(body["kind"], "APIVersions");
    assert_eq!(body["versions"][0], "v1");
    assert_eq!(
        body["serverAddressByClientCIDRs"][0]["serverAddress"],
        server.addr().to_string()
    );

    let logged = only_request(&server);
    assert_eq!(logged.method, "GET");
    assert_eq!(logged.path, "/api");
    assert_eq!(logged.host.as_deref(), Some("kubernetes.default.svc"));
    assert_eq!(logged.user_agent.as_deref(), Some("kubecred-testing-tests"));
    assert_eq!(
        logged.authentication,
        Authentication::Token {
            label: "reader".to_owned()
        }
    );
    assert!(!format!("{logged:?}").contains("reader-token"));
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_token_gets_401_with_a_status_and_is_logged_as_unknown() {
    let server = ApiServer::builder()
        .token("reader", "reader-token")
        .start()
        .unwrap();

    let answer = get(&server, "/api", Some("wrong-token")).await;
    assert_eq!(answer.status, 401);
    assert!(answer
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    assert_eq!(answer.body, UNAUTHORIZED);

    let logged = only_request(&server);
    assert_eq!(logged.authentication, Authentication::UnknownToken);
    assert!(!format!("{logged:?}").contains("wrong-token"));
}

#[tokio::test(flavor = "current_thread")]
async fn no_credentials_get_401_and_are_logged_as_anonymous() {
    let server = ApiServer::start().unwrap();
    let answer = get(&server, "/version", None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, UNAUTHORIZED);
    assert_eq!(
        only_request(&server).authentication,
        Authentication::Anonymous
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_certificate_authenticates_as_its_common_name() {
    let server = ApiServer::start().unwrap();
    let alice = server.ca().issue_client_certificate("alice").unwrap();

    let answer = get_with(&server, "/api", None, Some(&alice)).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        only_request(&server).authentication,
        Authentication::ClientCertificate {
            common_name: "alice".to_owned()
        }
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_certificate_issued_before_the_server_started_is_known() {
    // Clones of a CA share the record of issued client certificates.
    let ca = CertificateAuthority::new("shared CA").unwrap();
    let early = ca.issue_client_certificate("early-bird").unwrap();
    let server = ApiServer::builder()
        .certificate_authority(ca.clone())
        .start()
        .unwrap();
    let answer = get_with(&server, "/api", None, Some(&early)).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        only_request(&server).authentication,
        Authentication::ClientCertificate {
            common_name: "early-bird".to_owned()
        }
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_token_wins_over_a_valid_certificate() {
    let server = ApiServer::builder()
        .token("reader", "reader-token")
        .start()
        .unwrap();
    let alice = server.ca().issue_client_certificate("alice").unwrap();

    let answer = get_with(&server, "/api", Some("wrong"), Some(&alice))
        .await
        .unwrap();
    assert_eq!(answer.status, 401);
    assert_eq!(
        only_request(&server).authentication,
        Authentication::UnknownToken
    );

    server.clear_requests();
    let answer = get_with(&server, "/api", Some("reader-token"), Some(&alice))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        only_request(&server).authentication,
        Authentication::Token {
            label: "reader".to_owned()
        }
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_certificate_from_another_ca_fails_the_handshake() {
    let server = ApiServer::start().unwrap();
    let stranger = CertificateAuthority::new("other CA")
        .unwrap()
        .issue_client_certificate("mallory")
        .unwrap();
    let refused = exchange(
        server.addr(),
        client_config(&server.ca_pem(), Some(&stranger)),
        &request("GET", "/api", None, true),
    )
    .await;
    assert!(
        refused
            .as_ref()
            .map_or(true, |raw| !raw.starts_with("HTTP/")),
        "{refused:?}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_required_client_certificate_is_required() {
    let server = ApiServer::builder()
        .token("reader", "reader-token")
        .require_client_certificate(true)
        .start()
        .unwrap();

    // TLS 1.3: the client finishes its side first, the refusal arrives on read.
    let refused = exchange(
        server.addr(),
        client_config(&server.ca_pem(), None),
        &request("GET", "/api", Some("reader-token"), true),
    )
    .await;
    assert!(
        refused
            .as_ref()
            .map_or(true, |raw| !raw.starts_with("HTTP/")),
        "{refused:?}"
    );
    assert!(server.requests().is_empty());

    let bob = server.ca().issue_client_certificate("bob").unwrap();
    let answer = get_with(&server, "/api", None, Some(&bob)).await.unwrap();
    assert_eq!(answer.status, 200);
}

#[tokio::test(flavor = "current_thread")]
async fn ipv6_server_is_bracketed_and_reachable() {
    let server = ApiServer::builder()
        .ipv6(true)
        .token("v6", "v6-token")
        .start()
        .unwrap();
    assert_eq!(server.url(), format!("https://[::1]:{}", server.port()));
    assert_eq!(server.host(), "::1");

    let answer = get(&server, "/api", Some("v6-token")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.json()["serverAddressByClientCIDRs"][0]["serverAddress"],
        format!("[::1]:{}", server.port())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_change_while_running() {
    let server = ApiServer::start().unwrap();
    assert_eq!(get(&server, "/api", Some("late")).await.status, 401);

    server.add_token("late", "late");
    assert_eq!(get(&server, "/api", Some("late")).await.status, 200);

    server.add_token("late", "later");
    assert_eq!(get(&server, "/api", Some("late")).await.status, 401);
    assert_eq!(get(&server, "/api", Some("later")).await.status, 200);

    assert!(server.revoke_token("late"));
    assert!(!server.revoke_token("late"));
    assert_eq!(get(&server, "/api", Some("later")).await.status, 401);

    let log: Vec<Authentication> = server
        .requests()
        .into_iter()
        .map(|r| r.authentication)
        .collect();
    let late = Authentication::Token {
        label: "late".to_owned(),
    };
    assert_eq!(
        log,
        vec![
            Authentication::UnknownToken,
            late.clone(),
            Authentication::UnknownToken,
            late,
            Authentication::UnknownToken,
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn routes_answer_with_real_shapes() {
    let server = ApiServer::builder().token("t", "t").start().unwrap();

    let apis = get(&server, "/apis", Some("t")).await;
    assert_eq!(apis.status, 200);
    let apis = apis.json();
    assert_eq!(apis["kind"], "APIGroupList");
    let names: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(
        names.contains(&"apps") && names.contains(&"batch"),
        "{names:?}"
    );

    let version = get(&server, "/version", Some("t")).await.json();
    assert_eq!(version["gitVersion"], "v1.32.0");
    assert_eq!(version["minor"], "32");

    let pods = get(&server, "/api/v1/namespaces/team-a/pods?limit=5", Some("t")).await;
    assert_eq!(pods.status, 200);
    let pods = pods.json();
    assert_eq!(pods["kind"], "PodList");
    assert_eq!(pods["apiVersion"], "v1");
    assert!(pods["metadata"]["resourceVersion"].is_string());
    assert_eq!(pods["items"][0]["metadata"]["name"], "stand-in");
    assert_eq!(pods["items"][0]["metadata"]["namespace"], "team-a");

    let missing = get(&server, "/api/v1/secrets", Some("t")).await;
    assert_eq!(missing.status, 404);
    let missing = missing.json();
    assert_eq!(missing["reason"], "NotFound");
    assert_eq!(
        missing["message"],
        "the server could not find the requested resource"
    );

    let raw = exchange(
        server.addr(),
        client_config(&server.ca_pem(), None),
        &request("DELETE", "/api", Some("t"), true),
    )
    .await
    .unwrap();
    let deleted = parse(&raw);
    assert_eq!(deleted.status, 405);
    assert_eq!(deleted.json()["reason"], "MethodNotAllowed");

    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/apis",
            "/version",
            "/api/v1/namespaces/team-a/pods?limit=5",
            "/api/v1/secrets",
            "/api"
        ]
    );
    assert_eq!(server.requests()[4].method, "DELETE");
}

#[tokio::test(flavor = "current_thread")]
async fn connections_are_kept_alive() {
    let server = ApiServer::builder().token("t", "t").start().unwrap();
    // Two requests on one connection; the second asks to close it.
    let raw = format!(
        "{}{}",
        request("GET", "/api", Some("t"), false),
        request("GET", "/version", Some("t"), true)
    );
    let received = exchange(server.addr(), client_config(&server.ca_pem(), None), &raw)
        .await
        .unwrap();
    assert_eq!(received.matches("HTTP/1.1 200 OK").count(), 2, "{received}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn works_from_a_sync_test_and_stops_when_dropped() {
    let server = ApiServer::builder().token("t", "t").start().unwrap();
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let answer = runtime.block_on(get(&server, "/api", Some("t")));
    assert_eq!(answer.status, 200);

    drop(server);
    // The listener is closed: nothing accepts on that port any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn works_when_the_test_runtime_blocks() {
    let server = ApiServer::builder().token("t", "t").start().unwrap();
    let ca_pem = server.ca_pem();
    let addr = server.addr();
    // Block this runtime's only thread on a synchronous client in another thread: the server
    // keeps serving because it does not live on this runtime.
    let raw = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .unwrap()
                    .block_on(exchange(
                        addr,
                        client_config(&ca_pem, None),
                        &request("GET", "/api", Some("t"), true),
                    ))
            })
            .join()
            .unwrap()
    })
    .unwrap();
    assert_eq!(parse(&raw).status, 200);
    // Dropping the server inside an async context must not panic.
    drop(server);
}

#[test]
fn servers_with_one_ca_serve_the_same_ca_pem() {
    let ca = CertificateAuthority::new("shared").unwrap();
    let one = ApiServer::builder()
        .certificate_authority(ca.clone())
        .start()
        .unwrap();
    let two = ApiServer::builder()
        .certificate_authority(ca.clone())
        .start()
        .unwrap();
    assert_eq!(one.ca_pem(), ca.pem());
    assert_eq!(two.ca_pem(), ca.pem());
    assert_ne!(one.addr(), two.addr());
    assert!(!format!("{one:?}").is_empty());
}

/// How long a watch test waits for the next event before it fails (never to wait for
/// readiness: each read returns as soon as the server has sent).
const EVENT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A watch over TLS: the response head, then the chunked body decoded and split into lines
/// as it arrives.
struct Watch {
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    status: u16,
    head: String,
    /// Bytes received and not yet decoded from their chunks.
    raw: Vec<u8>,
    /// Body bytes not yet split into lines.
    body: Vec<u8>,
}

impl Watch {
    async fn open(server: &ApiServer, path: &str, token: &str) -> Watch {
        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let mut tls = TlsConnector::from(client_config(&server.ca_pem(), None))
            .connect(ServerName::from(server.addr().ip()), stream)
            .await
            .unwrap();
        tls.write_all(request("GET", path, Some(token), false).as_bytes())
            .await
            .unwrap();
        tls.flush().await.unwrap();
        let mut watch = Watch {
            tls,
            status: 0,
            head: String::new(),
            raw: Vec::new(),
            body: Vec::new(),
        };
        let end = loop {
            if let Some(end) = watch.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            assert!(watch.read_more().await, "no response head");
        };
        watch.head = String::from_utf8(watch.raw[..end].to_vec()).unwrap();
        watch.raw.drain(..end + 4);
        watch.status = parse(&format!("{}\r\n\r\n", watch.head)).status;
        watch
    }

    /// Reads what the server sent next; `false` at the end of the connection.
    async fn read_more(&mut self) -> bool {
        let mut buffer = [0; 16 * 1024];
        let read = tokio::time::timeout(EVENT_WAIT, self.tls.read(&mut buffer))
            .await
            .expect("the server sent nothing in time")
            .unwrap();
        self.raw.extend_from_slice(&buffer[..read]);
        read > 0
    }

    /// The next line of the body; `None` after the last chunk.
    async fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.body.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.body.drain(..=end).collect();
                return Some(String::from_utf8(line).unwrap());
            }
            // One chunk: its size in hex, CRLF, the data, CRLF.
            if let Some(size_end) = self.raw.windows(2).position(|w| w == b"\r\n") {
                let size = std::str::from_utf8(&self.raw[..size_end]).unwrap();
                let size = usize::from_str_radix(size, 16).unwrap();
                if size == 0 {
                    assert!(self.body.is_empty(), "a partial last line");
                    return None;
                }
                let data = size_end + 2;
                if self.raw.len() >= data + size + 2 {
                    self.body.extend_from_slice(&self.raw[data..data + size]);
                    assert_eq!(&self.raw[data + size..data + size + 2], b"\r\n");
                    self.raw.drain(..data + size + 2);
                    continue;
                }
            }
            assert!(
                self.read_more().await,
                "the connection ended inside the body"
            );
        }
    }

    /// The next event, parsed; panics at the end of the stream.
    async fn next_event(&mut self) -> serde_json::Value {
        let line = self.next_line().await.expect("an event, not the end");
        assert!(line.ends_with('\n'), "{line:?}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

/// An event's (type, pod name, resourceVersion as a number).
fn summary(event: &serde_json::Value) -> (String, String, u64) {
    assert_eq!(event["object"]["kind"], "Pod", "{event}");
    assert_eq!(event["object"]["apiVersion"], "v1", "{event}");
    let metadata = &event["object"]["metadata"];
    (
        event["type"].as_str().unwrap().to_owned(),
        metadata["name"].as_str().unwrap().to_owned(),
        metadata["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn a_watch_streams_the_current_pods_then_each_change_as_it_happens() {
    let server = ApiServer::builder().token("w", "w-token").start().unwrap();
    assert_eq!(server.resource_version(), 1);
    assert_eq!(server.add_pod("team-a", "web", &[("app", "web")]), Some(2));
    assert_eq!(server.add_pod("team-a", "web", &[]), None);

    let mut watch = Watch::open(
        &server,
        "/api/v1/namespaces/team-a/pods?watch=true",
        "w-token",
    )
    .await;
    assert_eq!(watch.status, 200, "{}", watch.head);
    let head = watch.head.to_ascii_lowercase();
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");

    let first = watch.next_event().await;
    assert_eq!(summary(&first), ("ADDED".into(), "stand-in".into(), 1));
    assert_eq!(first["object"]["metadata"]["namespace"], "team-a");
    assert_eq!(first["object"]["metadata"]["labels"]["app"], "stand-in");
    let uid = first["object"]["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = watch.next_event().await;
    assert_eq!(summary(&second), ("ADDED".into(), "web".into(), 2));
    assert_ne!(second["object"]["metadata"]["uid"], uid.as_str());

    // Each change is read before the next is made: the stream is not buffered.
    let added = server.add_pod("team-a", "db", &[]).unwrap();
    let event = watch.next_event().await;
    assert_eq!(summary(&event), ("ADDED".into(), "db".into(), added));
    assert!(
        event["object"]["metadata"].get("labels").is_none(),
        "{event}"
    );

    let labelled = server.label_pod("team-a", "web", "tier", "front").unwrap();
    let event = watch.next_event().await;
    assert_eq!(summary(&event), ("MODIFIED".into(), "web".into(), labelled));
    assert_eq!(event["object"]["metadata"]["labels"]["tier"], "front");
    assert_eq!(event["object"]["metadata"]["labels"]["app"], "web");

    let phased = server.set_pod_phase("team-a", "web", "Succeeded").unwrap();
    let event = watch.next_event().await;
    assert_eq!(summary(&event), ("MODIFIED".into(), "web".into(), phased));
    assert_eq!(event["object"]["status"]["phase"], "Succeeded");

    // A change elsewhere is not this watch's.
    let elsewhere = server.add_pod("team-b", "other", &[]).unwrap();
    let deleted = server.delete_pod("team-a", "db").unwrap();
    let event = watch.next_event().await;
    assert_eq!(summary(&event), ("DELETED".into(), "db".into(), deleted));
    assert!(added < labelled && labelled < phased && phased < elsewhere && elsewhere < deleted);
    assert_eq!(server.delete_pod("team-a", "db"), None);

    server.end_watches();
    let end = tokio::time::timeout(EVENT_WAIT, watch.next_line())
        .await
        .unwrap();
    assert_eq!(end, None);

    // The list agrees, at the counter's version.
    let list = get(&server, "/api/v1/namespaces/team-a/pods", Some("w-token"))
        .await
        .json();
    assert_eq!(list["metadata"]["resourceVersion"], deleted.to_string());
    let items: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pod| {
            (
                pod["metadata"]["name"].as_str().unwrap(),
                pod["metadata"]["resourceVersion"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(items, [("stand-in", "1"), ("web", &*phased.to_string())]);

    let requests = server.requests();
    assert_eq!(
        requests[0].path,
        "/api/v1/namespaces/team-a/pods?watch=true"
    );
    assert_eq!(
        requests[0].authentication,
        Authentication::Token { label: "w".into() }
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_watch_from_a_resource_version_replays_only_later_changes() {
    let server = ApiServer::builder().token("w", "w-token").start().unwrap();
    let two = server.add_pod("team-a", "one", &[]).unwrap();
    let list = get(&server, "/api/v1/namespaces/team-a/pods", Some("w-token"))
        .await
        .json();
    assert_eq!(list["metadata"]["resourceVersion"], two.to_string());
    let three = server.label_pod("team-a", "one", "x", "y").unwrap();
    server.add_pod("team-b", "elsewhere", &[]).unwrap();
    let five = server.delete_pod("team-a", "stand-in").unwrap();

    let path = format!("/api/v1/namespaces/team-a/pods?watch=1&resourceVersion={two}");
    let mut watch = Watch::open(&server, &path, "w-token").await;
    assert_eq!(watch.status, 200, "{}", watch.head);
    assert_eq!(
        summary(&watch.next_event().await),
        ("MODIFIED".into(), "one".into(), three)
    );
    assert_eq!(
        summary(&watch.next_event().await),
        ("DELETED".into(), "stand-in".into(), five)
    );
    let six = server.add_pod("team-a", "two", &[]).unwrap();
    assert_eq!(
        summary(&watch.next_event().await),
        ("ADDED".into(), "two".into(), six)
    );

    // From the latest version: nothing replayed, the next change first.
    let path = format!("/api/v1/namespaces/team-a/pods?watch=true&resourceVersion={six}");
    let mut latest = Watch::open(&server, &path, "w-token").await;
    let seven = server.set_pod_phase("team-a", "two", "Failed").unwrap();
    assert_eq!(
        summary(&latest.next_event().await),
        ("MODIFIED".into(), "two".into(), seven)
    );
    assert_eq!(
        summary(&watch.next_event().await),
        ("MODIFIED".into(), "two".into(), seven)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_watch_from_beyond_the_history_gets_one_410_expired_error_event() {
    let server = ApiServer::builder().token("w", "w-token").start().unwrap();
    for i in 0..=kubecred_testing::WATCH_HISTORY_EVENTS {
        server.add_pod("team-a", &format!("pod-{i}"), &[]).unwrap();
    }
    let mut gone = Watch::open(
        &server,
        "/api/v1/namespaces/team-a/pods?watch=true&resourceVersion=1",
        "w-token",
    )
    .await;
    assert_eq!(gone.status, 200, "{}", gone.head);
    let event = gone.next_event().await;
    assert_eq!(event["type"], "ERROR", "{event}");
    let status = &event["object"];
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Expired");
    assert_eq!(status["code"], 410);
    assert_eq!(gone.next_line().await, None);

    let bad = get(
        &server,
        "/api/v1/namespaces/team-a/pods?watch=true&resourceVersion=abc",
        Some("w-token"),
    )
    .await;
    assert_eq!(bad.status, 400, "{bad:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn timeout_seconds_ends_the_stream_cleanly() {
    let server = ApiServer::builder().token("w", "w-token").start().unwrap();
    let started = std::time::Instant::now();
    let mut watch = Watch::open(
        &server,
        "/api/v1/namespaces/team-a/pods?watch=true&timeoutSeconds=1",
        "w-token",
    )
    .await;
    assert_eq!(watch.status, 200, "{}", watch.head);
    assert_eq!(
        summary(&watch.next_event().await),
        ("ADDED".into(), "stand-in".into(), 1)
    );
    // next_line waits at most EVENT_WAIT per read.
    assert_eq!(watch.next_line().await, None);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(900) && elapsed < EVENT_WAIT,
        "{elapsed:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_serving_certificate_rotation_ends_open_watches() {
    let server = ApiServer::builder().token("w", "w-token").start().unwrap();
    let mut watch = Watch::open(&server, "/api/v1/namespaces/a/pods?watch=true", "w-token").await;
    watch.next_event().await;
    let rotated = std::time::Instant::now();
    let new_ca = CertificateAuthority::new("rotated CA").unwrap();
    // The rotation waits for open connections, so it runs beside this test's reads.
    let rotation = std::thread::spawn(move || {
        server.rotate_serving_certificate(&new_ca).unwrap();
        server
    });
    assert_eq!(watch.next_line().await, None);
    let server = tokio::task::spawn_blocking(move || rotation.join().unwrap())
        .await
        .unwrap();
    assert!(rotated.elapsed() < std::time::Duration::from_secs(4));
    drop(server);
}

#[tokio::test(flavor = "current_thread")]
async fn watches_authenticate_and_are_forbidden_as_lists_are() {
    let server = ApiServer::builder().token("w", "w-token").start().unwrap();
    let path = "/api/v1/namespaces/team-a/pods?watch=true";
    let anonymous = get(&server, path, None).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert_eq!(anonymous.body, UNAUTHORIZED);
    let unknown = get(&server, path, Some("nope")).await;
    assert_eq!(unknown.status, 401, "{unknown:?}");

    server.forbid_namespace("team-a");
    let forbidden = get(&server, path, Some("w-token")).await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    assert_eq!(
        forbidden.json()["message"],
        r#"pods is forbidden: User "w" cannot watch resource "pods" in API group "" in the namespace "team-a""#
    );
    let authentications: Vec<Authentication> = server
        .requests()
        .into_iter()
        .map(|r| r.authentication)
        .collect();
    assert_eq!(
        authentications,
        [
            Authentication::Anonymous,
            Authentication::UnknownToken,
            Authentication::Token { label: "w".into() }
        ]
    );
}
