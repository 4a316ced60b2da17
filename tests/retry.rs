//! A kept-alive connection that the server closes under a request (it rotated its certificate,
//! restarted, or timed the connection out): a safe request (`GET`, `OPTIONS`, …) is sent once
//! more on a new connection, as Go's HTTP client does; a write is not (the server may have
//! carried it out: a replayed `DELETE` would answer `404`, a `PUT` `409`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kubecred_client::{Client, Error};
use kubecred_core::{Credentials, Endpoint, StaticSource, Trust};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server read it: the connection it came on (from 1), its head, its body.
#[derive(Debug, Clone)]
struct Seen {
    connection: usize,
    head: String,
    body: Vec<u8>,
}

/// `200` with an empty JSON object, keeping the connection alive.
const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

/// A plain-HTTP/1.1 server on loopback: its URL, the requests it read, and how many
/// connections it accepted.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

/// A [`Server`] that answers every request `answer` (a whole HTTP/1.1 response) with
/// keep-alive, except request number `close_under` (from 1), under which it closes the
/// connection without answering.
async fn server(answer: String, close_under: Option<usize>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (log, accepted) = (Arc::clone(&seen), Arc::clone(&connections));
    let answer: Arc<str> = answer.into();
    tokio::spawn(async move {
        for connection in 1.. {
            let (stream, _) = listener.accept().await.unwrap();
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(
                stream,
                connection,
                Arc::clone(&log),
                Arc::clone(&answer),
                close_under,
            ));
        }
    });
    Server {
        url,
        seen,
        connections,
    }
}

/// A server that answers every request `200` with keep-alive, except the second one, under
/// which it closes the connection without answering.
async fn closes_under_the_second_request() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let server = server(OK.to_owned(), Some(2)).await;
    (server.url, server.seen)
}

async fn serve(
    mut stream: TcpStream,
    connection: usize,
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<str>,
    close_under: Option<usize>,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(head_end) = read_until_head_end(&mut stream, &mut buffer).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let length = head
            .lines()
            .find_map(|line| {
                let line = line.to_ascii_lowercase();
                line.strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            if !read_more(&mut stream, &mut buffer).await {
                return;
            }
        }
        let body = buffer[head_end..head_end + length].to_vec();
        buffer.drain(..head_end + length);
        let number = {
            let mut seen = seen.lock().unwrap();
            seen.push(Seen {
                connection,
                head,
                body,
            });
            seen.len()
        };
        if Some(number) == close_under {
            return; // closes the connection under the request
        }
        stream.write_all(answer.as_bytes()).await.unwrap();
    }
}

/// Reads until `buffer` holds a whole request head; its length, or `None` at end of stream.
async fn read_until_head_end(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        if !read_more(stream, buffer).await {
            return None;
        }
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// A client of the server at `url` (plain http on loopback, where a token may go) with the
/// bearer token `retry-token`.
async fn client(url: &str) -> Client {
    let source = StaticSource::new(
        Endpoint::new(url.parse().unwrap(), Trust::PlainHttp),
        Credentials::bearer("retry-token".to_owned().into()),
    );
    Client::builder()
        .chain([Arc::new(source) as Arc<dyn kubecred_core::Source>])
        .build()
        .await
        .unwrap()
}

fn request(method: &str, body: &'static [u8]) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri("/api/v1/namespaces/default/configmaps/c?fieldManager=t")
        .body(Bytes::from_static(body))
        .unwrap()
}

#[tokio::test]
async fn a_safe_request_is_sent_once_more_on_a_new_connection() {
    for method in ["GET", "OPTIONS"] {
        let (url, seen) = closes_under_the_second_request().await;
        let client = client(&url).await;
        client.get("/api").await.unwrap();
        let response = client.request(request(method, b"{\"data\":{}}")).await;
        assert_eq!(response.unwrap().status(), 200, "{method}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen.len(),
            3,
            "{method}: the first, the closed one, its retry"
        );
        let (closed, retry) = (&seen[1], &seen[2]);
        assert_eq!(closed.connection, 1, "{method}");
        assert_eq!(retry.connection, 2, "{method}: on a new connection");
        assert_eq!(retry.body, closed.body, "{method}: the same body");
        for head in [&closed.head, &retry.head] {
            assert!(
                head.starts_with(&format!(
                    "{method} /api/v1/namespaces/default/configmaps/c?fieldManager=t "
                )),
                "{head}"
            );
            assert!(head.contains("authorization: Bearer retry-token"), "{head}");
            assert!(head.contains("user-agent: kubecred/"), "{head}");
        }
    }
}

#[tokio::test]
async fn a_write_is_not_sent_again_and_the_error_names_the_url() {
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let (url, seen) = closes_under_the_second_request().await;
        let client = client(&url).await;
        client.get("/api").await.unwrap();
        let error = client.request(request(method, b"{}")).await.unwrap_err();
        assert!(
            matches!(error, Error::Transport { .. }),
            "{method}: {error:?}"
        );
        assert!(
            error.to_string().contains(&format!(
                "{url}/api/v1/namespaces/default/configmaps/c?fieldManager=t"
            )),
            "{error}"
        );
        assert_eq!(seen.lock().unwrap().len(), 2, "{method}: sent once");
    }
}

/// A redirect is the answer, not followed: the server it points to (another port, so another
/// origin) gets no connection, so neither the request's `Host` header nor, over TLS, the
/// client certificate reaches it; a redirect to the same server is not followed either.
#[tokio::test]
async fn a_redirect_is_the_answer_and_the_server_it_points_to_gets_nothing() {
    let elsewhere = server(OK.to_owned(), None).await;
    let location = format!("{}/api", elsewhere.url);
    let redirect =
        format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
    let redirecting = server(redirect, None).await;
    let client = client(&redirecting.url).await;

    let response = client.request(request("GET", b"")).await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], location.as_str());
    let streamed = client.get_streaming("/api").await.unwrap_err();
    assert!(
        matches!(streamed, Error::Status { status, .. } if status == 302),
        "{streamed:?}"
    );
    let same_origin =
        "HTTP/1.1 301 Moved Permanently\r\nlocation: /api\r\ncontent-length: 0\r\n\r\n".to_owned();
    let moving = server(same_origin, None).await;
    let response = client_request_to(&moving.url).await;
    assert_eq!(response.status(), 301);

    assert_eq!(redirecting.seen.lock().unwrap().len(), 2, "both sent once");
    assert_eq!(moving.seen.lock().unwrap().len(), 1, "sent once, not again");
    assert_eq!(
        elsewhere.connections.load(Ordering::SeqCst),
        0,
        "the redirect's target was never connected to"
    );
    assert!(elsewhere.seen.lock().unwrap().is_empty());
}

/// The answer to a `GET /api` of a client of the server at `url`.
async fn client_request_to(url: &str) -> http::Response<Bytes> {
    let request = http::Request::get("/api").body(Bytes::new()).unwrap();
    client(url).await.request(request).await.unwrap()
}
