//! Streamed answers (`Client::send_streaming`, `get_streaming`, `Body`) against the stand-in's
//! pod watches over TLS: the head before the body, each event as the server sends it, the
//! `401` re-read before the stream starts, and which limit bounds what (the request limit the
//! head, the idle limit the body).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kubecred_client::{Body, Client, Error, TimeLimit};
use kubecred_core::{Credentials, Endpoint, StaticSource, Trust};
use kubecred_testing::Authentication;

use crate::support::*;

/// The watch of the pods of the pod's namespace.
const WATCH: &str = "/api/v1/namespaces/team-a/pods?watch=true";

/// How long a test waits for the next event before it fails: a bound on a failing test, never
/// a measure (events arrive in milliseconds).
const EVENT_WAIT: Duration = Duration::from_secs(20);

/// A streamed body split into lines (the API server's watch framing: one JSON object per line).
struct Lines {
    body: Body,
    pending: Vec<u8>,
}

impl Lines {
    fn new(body: Body) -> Self {
        Self {
            body,
            pending: Vec::new(),
        }
    }

    /// The next line, without its newline; `None` at the end of the body. Fails the test on
    /// an error or after [`EVENT_WAIT`] without one.
    async fn next(&mut self) -> Option<String> {
        tokio::time::timeout(EVENT_WAIT, self.next_or_error())
            .await
            .expect("no event within the wait")
            .unwrap()
    }

    /// The next line, or the body's error.
    async fn next_or_error(&mut self) -> Result<Option<String>, Error> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(Some(String::from_utf8(line[..end].to_vec()).unwrap()));
            }
            match self.body.next_chunk().await? {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => {
                    assert!(self.pending.is_empty(), "a partial last line");
                    return Ok(None);
                }
            }
        }
    }

    /// The next event, as `TYPE name`.
    async fn event(&mut self) -> String {
        let line = self.next().await.expect("an event, not the end");
        summary(&line)
    }
}

/// `ADDED web` for a watch event line.
fn summary(line: &str) -> String {
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    format!(
        "{} {}",
        event["type"].as_str().unwrap(),
        event["object"]["metadata"]["name"].as_str().unwrap()
    )
}

/// Whether the body has data ready now, without waiting: polls it once.
async fn ready_now(body: &mut Body) -> bool {
    tokio::select! {
        biased;
        _ = body.next_chunk() => true,
        () = std::future::ready(()) => false,
    }
}

fn get(path: &str) -> http::Request<Bytes> {
    http::Request::get(path).body(Bytes::new()).unwrap()
}

#[tokio::test]
async fn send_streaming_returns_the_head_before_the_body_and_each_chunk_as_pushed() {
    let pod = Pod::new();
    // An empty namespace: the watch has nothing to send until the test pushes a change.
    assert!(pod.server.delete_pod("team-a", "stand-in").is_some());
    let client = pod.client().await;

    let response = client.send_streaming(get(WATCH)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{:?}",
        response.headers()
    );
    let mut body = response.into_body();
    assert!(
        !ready_now(&mut body).await,
        "the head came alone: no event was pushed yet"
    );

    let mut lines = Lines::new(body);
    pod.server.add_pod("team-a", "web", &[("app", "web")]);
    assert_eq!(lines.event().await, "ADDED web");
    pod.server.label_pod("team-a", "web", "tier", "front");
    assert_eq!(lines.event().await, "MODIFIED web");
    pod.server.delete_pod("team-a", "web");
    assert_eq!(lines.event().await, "DELETED web");
    pod.server.end_watches();
    assert_eq!(lines.next().await, None, "the server ended the stream");
}

#[tokio::test]
async fn a_body_is_an_http_body_and_a_stream() {
    use futures_core::Stream as _;
    use http_body_util::BodyExt as _;

    let pod = Pod::new();
    let client = pod.client().await;
    let mut body = client.get_streaming(WATCH).await.unwrap().into_body();
    // As an `http_body::Body`: a data frame, the current pod as ADDED.
    let frame = tokio::time::timeout(EVENT_WAIT, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let data = frame.into_data().unwrap();
    assert_eq!(
        summary(std::str::from_utf8(&data).unwrap().trim()),
        "ADDED stand-in"
    );
    // As a `Stream`: the next change, then the end.
    pod.server.set_pod_phase("team-a", "stand-in", "Succeeded");
    let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx));
    let chunk = tokio::time::timeout(EVENT_WAIT, next)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        summary(std::str::from_utf8(&chunk).unwrap().trim()),
        "MODIFIED stand-in"
    );
    pod.server.end_watches();
    let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx));
    assert!(tokio::time::timeout(EVENT_WAIT, next)
        .await
        .unwrap()
        .is_none());
    assert!(http_body::Body::is_end_stream(&body));
}

#[tokio::test]
async fn a_revoked_token_is_re_read_and_the_watch_retried_before_the_stream_starts() {
    let pod = Pod::new();
    let client = pod.client().await;
    // The kubelet rotates the token and the old one is revoked, within the client's re-read
    // period: the client still holds the old one.
    pod.server.add_token("rotated", ROTATED_TOKEN);
    pod.rotate_token(ROTATED_TOKEN);
    assert!(pod.server.revoke_token("pod"));

    let response = client.send_streaming(get(WATCH)).await.unwrap();
    assert_eq!(response.status(), 200, "the retry's answer, not the 401");
    let mut lines = Lines::new(response.into_body());
    assert_eq!(lines.event().await, "ADDED stand-in");
    pod.server.add_pod("team-a", "web", &[]);
    assert_eq!(lines.event().await, "ADDED web");

    let seen: Vec<_> = pod
        .server
        .requests()
        .into_iter()
        .map(|r| (r.path, r.authentication))
        .collect();
    assert_eq!(
        seen,
        [
            (WATCH.to_owned(), Authentication::UnknownToken),
            (
                WATCH.to_owned(),
                Authentication::Token {
                    label: "rotated".into()
                }
            ),
        ],
        "one 401, one re-read, one retry with the new token"
    );
    pod.server.end_watches();
    assert_eq!(lines.next().await, None);
}

#[tokio::test]
async fn the_request_limit_bounds_the_head_not_the_stream() {
    let pod = Pod::new();
    let client = pod
        .builder()
        .timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let mut lines = Lines::new(client.get_streaming(WATCH).await.unwrap().into_body());
    assert_eq!(lines.event().await, "ADDED stand-in");
    // Events paced over 3 s, three times the request limit.
    for n in 1..=3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        pod.server
            .label_pod("team-a", "stand-in", "n", &n.to_string())
            .unwrap();
        assert_eq!(lines.event().await, "MODIFIED stand-in", "event {n}");
    }
    pod.server.end_watches();
    assert_eq!(lines.next().await, None, "the stream ended cleanly");
}

#[tokio::test]
async fn the_idle_limit_ends_a_silent_stream_naming_it() {
    let pod = Pod::new();
    let client = pod
        .builder()
        .idle_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let mut lines = Lines::new(client.get_streaming(WATCH).await.unwrap().into_body());
    assert_eq!(lines.event().await, "ADDED stand-in");
    // Then nothing: the idle limit ends the stream.
    let error = tokio::time::timeout(EVENT_WAIT, lines.next_or_error())
        .await
        .expect("the idle limit fired")
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                limit: TimeLimit::Idle(limit),
                ..
            } if limit == Duration::from_millis(300)
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(
            "nothing received for the idle limit of 0.3 s (ClientBuilder::idle_timeout changes it)"
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!("{}{WATCH}", pod.server.url())),
        "{message}"
    );
    assert!(!message.contains(TOKEN), "{message}");
    // The body ends after its error.
    assert_eq!(lines.next_or_error().await.unwrap(), None);
}

#[tokio::test]
async fn a_head_that_never_comes_is_cut_by_the_request_limit() {
    // A loopback server that accepts the connection and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            held.push(stream);
        }
    });
    let source = StaticSource::new(
        Endpoint::new(url.parse().unwrap(), Trust::PlainHttp),
        Credentials::anonymous(),
    );
    let client = Client::builder()
        .chain([Arc::new(source) as Arc<dyn kubecred_core::Source>])
        .timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let error = client.get_streaming(WATCH).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                limit: TimeLimit::Head(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(
            "no response head within the request limit of 0.3 s (ClientBuilder::timeout changes it"
        ),
        "{error}"
    );
    silent.abort();
}

#[tokio::test]
async fn get_streaming_fails_on_a_non_2xx_as_get_does() {
    let pod = Pod::new();
    pod.server.forbid_namespace("team-a");
    let client = pod.client().await;
    let buffered = client.get(WATCH).await.unwrap_err();
    let streamed = client.get_streaming(WATCH).await.unwrap_err();
    assert_eq!(streamed.status(), Some(http::StatusCode::FORBIDDEN));
    assert_eq!(streamed.to_string(), buffered.to_string());
    assert!(
        streamed.to_string().contains("forbidden"),
        "the server's Status message: {streamed}"
    );
}

#[tokio::test]
async fn a_body_debug_names_the_source_and_path_only() {
    let pod = Pod::new();
    let client = pod
        .builder()
        .idle_timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let body = client.get_streaming(WATCH).await.unwrap().into_body();
    let debug = format!("{body:?}");
    assert!(
        debug.contains("in-cluster") && debug.contains(WATCH),
        "{debug}"
    );
    assert!(debug.contains("idle_timeout: Some(5s)"), "{debug}");
    assert!(!debug.contains(TOKEN), "{debug}");
}

#[tokio::test]
async fn limits_too_long_for_the_clock_are_no_limits_in_practice() {
    let pod = Pod::new();
    let client = pod
        .builder()
        .timeout(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .idle_timeout(Duration::MAX)
        .build()
        .await
        .unwrap();
    let mut lines = Lines::new(client.get_streaming(WATCH).await.unwrap().into_body());
    // Each chunk restarts the idle timer: the first and the one after a change.
    assert_eq!(lines.event().await, "ADDED stand-in");
    pod.server
        .label_pod("team-a", "stand-in", "n", "1")
        .unwrap();
    assert_eq!(lines.event().await, "MODIFIED stand-in");
    pod.server.end_watches();
    assert_eq!(lines.next().await, None, "the stream ended cleanly");
    let body: serde_json::Value = client.get_json("/api").await.unwrap();
    assert_eq!(body["versions"][0], "v1", "a buffered send too");
}

/// A TLS server on loopback (its certificate for `127.0.0.1` from `ca`) that answers every
/// request with the head of a chunked `200` and half of its body, then drops the TCP
/// connection without TLS's `close_notify`; its URL.
async fn cuts_every_body_short(ca: &kubecred_testing::CertificateAuthority) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let issued = ca.issue_server_certificate(&["127.0.0.1"]).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![issued.der()], issued.key_der())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buffer = [0; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let half = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n6\r\n{\"a\":1\r\n";
                tls.write_all(half.as_bytes()).await.unwrap();
                tls.flush().await.unwrap();
                // The TCP connection dropped under the TLS one: no close_notify.
                drop(tls.into_inner().0);
            });
        }
    });
    url
}

/// A server that closes the connection in the middle of a body: the error says so in
/// kubecred's words for the URL (no rustls message, no link to its manual), buffered and
/// streamed alike, and stays a transport error whose reqwest cause says it was the body.
#[tokio::test]
async fn a_body_cut_short_by_the_server_says_so_in_words() {
    let ca = kubecred_testing::CertificateAuthority::new("cut-short-ca").unwrap();
    let url = cuts_every_body_short(&ca).await;
    let bundle =
        kubecred_core::CaBundle::from_pem(ca.pem().as_bytes(), kubecred_core::Origin::Code)
            .unwrap();
    let source = StaticSource::new(
        Endpoint::new(url.parse().unwrap(), Trust::CaBundle(bundle)),
        Credentials::bearer("cut-short-token".to_owned().into()),
    );
    let client = Client::builder()
        .chain([Arc::new(source) as Arc<dyn kubecred_core::Source>])
        .build()
        .await
        .unwrap();
    let words = "the server closed the connection before the end of the body";

    let buffered = client.get("/api").await.unwrap_err();
    let mut streamed = Lines::new(client.get_streaming("/api").await.unwrap().into_body());
    let streamed = streamed.next_or_error().await.unwrap_err();
    for (what, error) in [("buffered", buffered), ("streamed", streamed)] {
        let message = kubecred_core::error_chain(&error);
        assert_eq!(
            message,
            format!("static: request to {url}/api failed: {words}"),
            "{what}"
        );
        let Error::Transport { source, .. } = &error else {
            panic!("{what}: {error:?}");
        };
        // Reading a buffered body is reqwest's decode step, a streamed one its body.
        let reqwest = source.reqwest();
        assert!(
            reqwest.is_body() || reqwest.is_decode(),
            "{what}: {error:?}"
        );
        assert!(
            std::error::Error::source(reqwest).is_some(),
            "{what}: the chain below reqwest's error is kept"
        );
    }
}
