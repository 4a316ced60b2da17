//! `Client`: sends requests to the resolved endpoint with the current credentials.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST, USER_AGENT};
use http::{Request, Response, StatusCode};
use kubecred_core::{
    ApiEndpoint, Clock, CredentialSource, Credentials, Endpoint, ExposeSecret, SecretString, Shown,
    SourceError,
};
use serde::de::DeserializeOwned;

use crate::recent::RecentRequests;
use crate::resolve::{Chosen, Timeouts};
use crate::{
    policy, status, transport, Body, ClientBuilder, ComposedBuilder, Error, TimeLimit,
    TransportCause,
};

/// `User-Agent` of every request unless the caller sets one: `kubecred/<version>`.
pub const USER_AGENT_VALUE: &str = concat!("kubecred/", env!("CARGO_PKG_VERSION"));

/// A client for one API server, with credentials that keep refreshing.
///
/// Cheap to clone (an `Arc`); share it. Built by [`ClientBuilder`].
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source_name: String,
    endpoint: Endpoint,
    credentials: Arc<dyn CredentialSource>,
    tls: Arc<rustls::ClientConfig>,
    http: reqwest::Client,
    /// The endpoint's `Host` header, when it needs one.
    host: Option<HeaderValue>,
    /// Headers every request carries unless the caller sets its own (impersonation).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The URL and `Authorization` value of recent requests.
    recent: RecentRequests,
    /// The builder's clock: it decides whether a refused token has expired.
    clock: Arc<dyn Clock>,
    /// The client certificate presented by new connections, when there is one.
    identity: Option<Arc<transport::IdentityResolver>>,
    /// The server certificate the verifier last refused (for the error's words).
    rejected: Arc<transport::Rejected>,
    /// How a server-name override is sent as SNI, when it is: the URLs given to reqwest
    /// carry it as their host (made once per path, in the recent requests).
    sni: Option<transport::SniRoute>,
    /// The limits of each request, named in the error when one fires.
    timeouts: Timeouts,
}

/// The most of a non-2xx streamed answer's body read for its `Status` message
/// ([`Client::get_streaming`]): 64 KiB, far more than any `Status` object.
const STATUS_BODY_BYTES: usize = 64 * 1024;

/// How a send takes its answer: the body read in full ([`Buffered`]) or streamed
/// ([`Streamed`]). Everything before the answer (credentials, headers, the `401` re-read, the
/// retry) is the same code for both.
trait Receive: Copy + Send + Sync {
    /// The answer's body.
    type Body: Send;

    /// Sends `prepared` (for `path`, which errors name) on `client` and takes its answer.
    fn receive<'a>(
        self,
        client: &'a Client,
        prepared: reqwest::Request,
        path: &'a str,
    ) -> impl Future<Output = Result<Response<Self::Body>, Error>> + Send + 'a;
}

/// The body read in full, the whole exchange within reqwest's whole-request limit (set on
/// its client: nothing per request).
#[derive(Clone, Copy)]
struct Buffered;

impl Receive for Buffered {
    type Body = Bytes;

    /// Not an `async fn`: the request is handed to reqwest before the future is made, so
    /// that the future holds reqwest's small handle rather than the request.
    fn receive<'a>(
        self,
        client: &'a Client,
        prepared: reqwest::Request,
        path: &'a str,
    ) -> impl Future<Output = Result<Response<Bytes>, Error>> + Send + 'a {
        let pending = client.inner.http.execute(prepared);
        async move {
            let transport_error = |source| client.transport_error(source, path);
            let mut response = pending.await.map_err(transport_error)?;
            let (status, version) = (response.status(), response.version());
            let headers = std::mem::take(response.headers_mut());
            let body = response.bytes().await.map_err(transport_error)?;
            let mut response = Response::new(body);
            *response.status_mut() = status;
            *response.version_mut() = version;
            *response.headers_mut() = headers;
            Ok(response)
        }
    }
}

/// The head awaited within the client's request limit, the body streamed under its idle
/// limit ([`Body`]).
#[derive(Clone, Copy)]
struct Streamed;

/// reqwest's whole-request limit for a streamed request: out of reach. reqwest's client
/// carries the buffered sends' limit, which would cut the body, and a request can replace
/// it but not remove it; the head is timed by the client instead (one timer per stream,
/// nothing per buffered request).
const UNBOUNDED: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Receive for Streamed {
    type Body = Body;

    fn receive<'a>(
        self,
        client: &'a Client,
        mut prepared: reqwest::Request,
        path: &'a str,
    ) -> impl Future<Output = Result<Response<Body>, Error>> + Send + 'a {
        *prepared.timeout_mut() = Some(UNBOUNDED);
        let pending = client.inner.http.execute(prepared);
        async move {
            let limits = client.inner.timeouts;
            let response = match tokio::time::timeout(limits.request, pending).await {
                Ok(response) => response.map_err(|source| client.transport_error(source, path))?,
                Err(_elapsed) => {
                    return Err(client.timeout_error(path, TimeLimit::Head(limits.request)))
                }
            };
            let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
            let body = Body::new(body, client.clone(), path, limits.idle);
            Ok(Response::from_parts(parts, body))
        }
    }
}

impl Client {
    /// A builder for the default chain (see [`ClientBuilder`]).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The client of a resolved source (its Host header checked at resolution).
    pub(crate) fn new(chosen: Chosen, clock: Arc<dyn Clock>, timeouts: Timeouts) -> Self {
        Self {
            inner: Arc::new(Inner {
                source_name: chosen.name,
                endpoint: chosen.endpoint,
                credentials: chosen.credentials,
                tls: chosen.tls,
                identity: chosen.identity,
                rejected: chosen.rejected,
                sni: chosen.sni,
                http: chosen.http,
                host: chosen.host,
                headers: chosen.headers,
                recent: RecentRequests::new(),
                clock,
                timeouts,
            }),
        }
    }

    /// A builder for an endpoint composed by hand with credentials of any source (anonymous
    /// unless [`ComposedBuilder::credentials`] gives some): see [`ComposedBuilder`].
    pub fn composed(endpoint: Arc<dyn ApiEndpoint>) -> ComposedBuilder {
        ComposedBuilder::new(endpoint)
    }

    /// The name of the source the client uses (`in-cluster`, ...).
    pub fn source_name(&self) -> &str {
        &self.inner.source_name
    }

    /// The resolved endpoint: URL, trust, namespace.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The default namespace (shorthand for `endpoint().namespace()`).
    pub fn namespace(&self) -> &str {
        self.inner.endpoint.namespace()
    }

    /// The rustls configuration the client connects with (trust, server name, client
    /// certificate), ready for a framework's own HTTP stack. Built on the `ring` provider.
    ///
    /// It follows rotation outside the client too: for a `Trust::CaFile` endpoint its verifier
    /// asks the file for its current bundle at each new handshake (a resumed session skips
    /// verification, as everywhere), and its client-certificate resolver presents the identity
    /// of the credentials the client (or its [`AuthLayer`](crate::AuthLayer)) last took. A
    /// `tls-server-name` / `KUBE_TLS_SERVER_NAME` override is what the verifier checks,
    /// whatever name the connector asks for (hyper-rustls asks for the URI's host). The
    /// override is also what the client itself sends as SNI, as kubectl does (a DNS-name
    /// override on a direct `https` connection; TLS sends no SNI for an IP address): the
    /// configuration cannot make a connector send it, so a stack of your own that should
    /// send it too sets it on its connector, as hyper-rustls's `FixedServerNameResolver`
    /// does. A hyper connector on it, for the layer's stack:
    ///
    /// ```no_run
    /// # fn f(client: &kubecred_client::Client) {
    /// use hyper_rustls::FixedServerNameResolver;
    /// use rustls::pki_types::ServerName;
    ///
    /// let builder = hyper_rustls::HttpsConnectorBuilder::new()
    ///     .with_tls_config((*client.tls_config()).clone())
    ///     .https_or_http(); // https_only() unless the endpoint is plain http on loopback
    /// // Send the override as SNI, as kubecred's own client does.
    /// let builder = match client.endpoint().tls_server_name() {
    ///     Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(
    ///         ServerName::try_from(name.to_owned()).expect("checked at resolution"),
    ///     )),
    ///     None => builder,
    /// };
    /// let connector = builder.enable_http1().build();
    /// # let _ = connector;
    /// # }
    /// ```
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.inner.tls)
    }

    /// The current `Authorization` header value (`Bearer …`, marked sensitive), or `None`
    /// when the credentials carry no token.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the source cannot hand out credentials.
    pub async fn authorization_header(&self) -> Result<Option<HeaderValue>, Error> {
        let credentials = self.current_credentials().await?;
        self.bearer_header(&credentials)
    }

    /// Sends `request` to the API server and returns its answer, whatever the status, the body
    /// read in full within the whole-request limit ([`ClientBuilder::timeout`]).
    ///
    /// The request's URI is a path with an optional query (`/api/v1/pods?limit=1`),
    /// appended to the endpoint's URL. The client adds `Authorization: Bearer …` (unless the
    /// request has its own) and `User-Agent: kubecred/<version>` (unless it has its own).
    /// A `401` answer to a request the client authenticated makes the source re-read its
    /// credentials once (unless its last read failed less than 10 s ago); when they changed,
    /// the request is sent once more. A safe request (`GET`, `HEAD`, …) whose kept-alive
    /// connection the server closed under it is sent once more on a new connection. A
    /// redirect (`3xx`) is not followed, to the same server or another: it is the answer.
    ///
    /// For a body that streams (a watch, a followed log), see [`Client::send_streaming`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for an absolute URI, or an `Authorization` header bound for
    /// an endpoint that must not receive one (refused before connecting);
    /// [`Error::Credentials`]; [`Error::TlsVerification`] when the server's certificate does
    /// not verify; [`Error::Timeout`] ([`TimeLimit::Connect`], [`TimeLimit::Request`]);
    /// [`Error::Transport`] for connection failures.
    pub fn request(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, Error>> + Send + '_ {
        // Not an `async fn` around `send_as`: the future is `send_as`'s own, not one more
        // layer that holds it.
        self.send_as(Buffered, request)
    }

    /// Sends `request` as [`Client::request`] does and returns the answer as soon as its head
    /// has arrived, whatever the status, with a [`Body`] that streams: for watches
    /// (`?watch=true`) and followed logs (`?follow=true`).
    ///
    /// Everything before the body is as in [`Client::request`]: the headers the client adds,
    /// the `401` re-read and one retry with fresh credentials, the retry of a safe request
    /// whose kept-alive connection closed under it (all of it before the body starts). The
    /// whole-request limit ([`ClientBuilder::timeout`], 30 s by default) bounds the wait for
    /// the head only; the body is bounded by the idle limit
    /// ([`ClientBuilder::idle_timeout`], none by default) and by nothing else: a stream lives
    /// until the server ends it, the connection fails, or the caller drops the body.
    ///
    /// # Errors
    ///
    /// Those of [`Client::request`], a timeout being [`Error::Timeout`] with
    /// [`TimeLimit::Connect`] or [`TimeLimit::Head`]. The body's own errors are its items'
    /// (see [`Body`]).
    pub async fn send_streaming(&self, request: Request<Bytes>) -> Result<Response<Body>, Error> {
        self.send_as(Streamed, request).await
    }

    /// GETs `path` (with an optional query) as a stream ([`Client::send_streaming`]) and
    /// returns the answer when its status is 2xx: `kubecred get PATH` is this, writing each
    /// chunk as it arrives.
    ///
    /// # Errors
    ///
    /// Those of [`Client::send_streaming`], and for any other status [`Error::Status`], as
    /// [`Client::get`] gives it (the body of a non-2xx answer is read for its `Status`
    /// message: its first 64 KiB at most, within the whole-request limit).
    pub async fn get_streaming(&self, path: &str) -> Result<Response<Body>, Error> {
        let request = Request::get(path)
            .body(Bytes::new())
            .map_err(|_| self.invalid("the path is not a valid request URI"))?;
        let response = self.send_streaming(request).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let (parts, mut body) = response.into_parts();
        let mut read = Vec::new();
        let _ = tokio::time::timeout(self.inner.timeouts.request, async {
            while read.len() < STATUS_BODY_BYTES {
                match body.next_chunk().await {
                    Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
        })
        .await;
        read.truncate(STATUS_BODY_BYTES);
        Err(self
            .status_error(&Response::from_parts(parts, Bytes::from(read)), path)
            .await)
    }

    /// Sends `request`, taking the answer as `mode` says: the one path of every send, so that
    /// a buffered and a streamed send differ only in how the answer is received.
    async fn send_as<R: Receive>(
        &self,
        mode: R,
        request: Request<Bytes>,
    ) -> Result<Response<R::Body>, Error> {
        // The future of this function is moved and polled on every request: what it holds
        // across an await is kept small (the request, a few references, the send), and the
        // rare paths (a retry, a re-read after a 401) are boxed, so that their state costs
        // nothing to the requests that never take them.
        let uri = request.uri();
        if uri.scheme().is_some() || uri.authority().is_some() {
            return Err(self.invalid("the request URI must be a path, not an absolute URL"));
        }
        let path = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
        let credentials = if request.headers().contains_key(AUTHORIZATION) {
            policy::authorization_allowed(&self.inner.endpoint)
                .map_err(|e| self.invalid(&format!("the Authorization header is refused: {e}")))?;
            None
        } else {
            Some(self.current_credentials().await?)
        };
        let response = self
            .send_with_retry(mode, &request, path, credentials.as_ref())
            .await?;
        match credentials {
            Some(rejected)
                if response.status() == StatusCode::UNAUTHORIZED && rejected.is_secret() =>
            {
                Box::pin(self.after_unauthorized(mode, &request, path, &rejected, response)).await
            }
            _ => Ok(response),
        }
    }

    /// The answer to a request whose token the server refused with `response` (a `401`):
    /// the source re-reads its credentials once; when the token changed, the request is sent
    /// once more with it, and its answer is the request's; otherwise `response` is.
    async fn after_unauthorized<R: Receive>(
        &self,
        mode: R,
        request: &Request<Bytes>,
        path: &str,
        rejected: &Arc<Credentials>,
        response: Response<R::Body>,
    ) -> Result<Response<R::Body>, Error> {
        if let Some(fresh) = self.reread_after_unauthorized(rejected).await {
            return self
                .send_with_retry(mode, request, path, Some(&fresh))
                .await;
        }
        Ok(response)
    }

    /// GETs `path` (with an optional query) and returns the answer when its status is 2xx.
    ///
    /// # Errors
    ///
    /// Those of [`Client::request`], and [`Error::Status`] for any other status, carrying the
    /// status, the server's `Status` message and the source's name.
    pub async fn get(&self, path: &str) -> Result<Response<Bytes>, Error> {
        let request = Request::get(path)
            .body(Bytes::new())
            .map_err(|_| self.invalid("the path is not a valid request URI"))?;
        let response = self.request(request).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.status_error(&response, path).await)
        }
    }

    /// GETs `path` and decodes the JSON body as `T`.
    ///
    /// # Errors
    ///
    /// Those of [`Client::get`], and [`Error::Decode`] when the body is not a `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let response = self.get(path).await?;
        serde_json::from_slice(response.body()).map_err(|source| Error::Decode {
            name: self.inner.source_name.clone(),
            path: path.to_owned(),
            source,
        })
    }

    /// The source's current credentials: at hand ([`CredentialSource::current`]) on almost
    /// every request, awaited when the source must read them.
    async fn current_credentials(&self) -> Result<Arc<Credentials>, Error> {
        let source = &self.inner.credentials;
        let credentials = match source.current() {
            Some(credentials) => credentials,
            None => source
                .credentials()
                .await
                .map_err(|error| Error::Credentials {
                    name: self.inner.source_name.clone(),
                    error,
                })?,
        };
        self.follow_identity(&credentials);
        Ok(credentials)
    }

    /// New connections present the client certificate of `credentials`, the latest read.
    fn follow_identity(&self, credentials: &Arc<Credentials>) {
        if let Some(identity) = &self.inner.identity {
            identity.follow(credentials);
        }
    }

    /// Sends `request` (whose URI's path and query are `path`) with `credentials`; when the
    /// server closed a kept-alive connection under it (it rotated its certificate, restarted,
    /// or timed the connection out) and the method is safe (`GET`, `HEAD`, `OPTIONS`,
    /// `TRACE`), sends it once more, on a new connection, as Go's HTTP client does
    /// (`Request.isReplayable`). Never a write: a `DELETE` the server carried out before the
    /// connection dropped would come back `404`, a `PUT` `409`, a success reported as a failure.
    async fn send_with_retry<R: Receive>(
        &self,
        mode: R,
        request: &Request<Bytes>,
        path: &str,
        credentials: Option<&Arc<Credentials>>,
    ) -> Result<Response<R::Body>, Error> {
        let first = self.prepare(request, path, credentials)?;
        let outcome = mode.receive(self, first, path).await;
        match outcome {
            Err(Error::Transport { source, url, .. })
                if request.method().is_safe()
                    && transport::closed_under_request(source.reqwest()) =>
            {
                tracing::debug!(source = %self.inner.source_name, %url, "connection closed under the request; retrying once");
                let again = self.prepare(request, path, credentials)?;
                Box::pin(mode.receive(self, again, path)).await
            }
            other => other,
        }
    }

    /// The request to send: the caller's method, headers and body, with the client's
    /// `User-Agent`, `Host` and `Authorization` (of `credentials`) added where the caller set
    /// none.
    fn prepare(
        &self,
        request: &Request<Bytes>,
        path: &str,
        credentials: Option<&Arc<Credentials>>,
    ) -> Result<reqwest::Request, Error> {
        let (url, authorization) = self.url_and_authorization(path, credentials)?;
        let mut prepared = reqwest::Request::new(request.method().clone(), url);
        let headers = prepared.headers_mut();
        // Cloning the caller's map costs nothing when it is empty, as it usually is.
        *headers = request.headers().clone();
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        }
        if let Some(host) = &self.inner.host {
            if !headers.contains_key(HOST) {
                headers.insert(HOST, host.clone());
            }
        }
        for (name, value) in &self.inner.headers {
            if !request.headers().contains_key(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, value);
        }
        if !request.body().is_empty() {
            *prepared.body_mut() = Some(request.body().clone().into());
        }
        Ok(prepared)
    }

    /// The URL of `path` on the endpoint, and the `Authorization` value of `credentials`
    /// (`None` without credentials or a token), from the recent requests where they are the
    /// same.
    fn url_and_authorization(
        &self,
        path: &str,
        credentials: Option<&Arc<Credentials>>,
    ) -> Result<(reqwest::Url, Option<HeaderValue>), Error> {
        self.inner.recent.get(
            path,
            credentials,
            |path| {
                let url = self
                    .inner
                    .endpoint
                    .url_for(path)
                    .map_err(|reason| self.invalid(&reason))?;
                Ok(match &self.inner.sni {
                    Some(route) => route.rewrite(url),
                    None => url,
                })
            },
            |credentials| self.bearer_header(credentials),
        )
    }

    /// The URL of `path` as errors name it (bounded, control characters escaped).
    fn error_url(&self, path: &str) -> String {
        let endpoint = &self.inner.endpoint;
        if endpoint.unix_socket().is_some() {
            // The socket is what was reached, not the `http://localhost` reqwest speaks to.
            format!("{}{}", endpoint.display_url(), Shown::text(path))
        } else {
            endpoint.url_for(path).map_or_else(
                |_| Shown::text(path).to_string(),
                |url| Shown::text(url.as_str()).to_string(),
            )
        }
    }

    /// The error for a request for `path` that ran into `limit`, a limit the client times
    /// itself (a stream's head or idle limit).
    pub(crate) fn timeout_error(&self, path: &str, limit: TimeLimit) -> Error {
        Error::Timeout {
            name: self.inner.source_name.clone(),
            url: self.error_url(path),
            limit,
            source: None,
        }
    }

    /// The error for a request for `path` that failed in reqwest with `source`.
    pub(crate) fn transport_error(&self, source: reqwest::Error, path: &str) -> Error {
        let inner = &self.inner;
        // The URL is in our message already.
        let source = source.without_url();
        let url = self.error_url(path);
        let name = inner.source_name.clone();
        match transport::tls_failure(&source, inner.identity.is_some()) {
            Some(transport::TlsFailure::ServerCertificate) => {
                let problem =
                    transport::certificate_problem(&source, &inner.endpoint, inner.rejected.take());
                // For a name mismatch, kubecred's words replace rustls's, which list every
                // name; other refusals keep rustls's short text (bounded).
                let words = problem
                    .clone()
                    .filter(|_| transport::is_name_mismatch(&source));
                Error::TlsVerification {
                    name,
                    url,
                    trust: inner.endpoint.trust().to_string(),
                    source: TransportCause::new(source, words),
                    problem,
                }
            }
            Some(transport::TlsFailure::ClientCertificateRejected) => {
                Error::ClientCertificateRejected { name, url, source }
            }
            Some(transport::TlsFailure::ClientCertificateRequired) => {
                Error::ClientCertificateRequired { name, url, source }
            }
            None if source.is_timeout() => {
                let limits = inner.timeouts;
                let limit = if source.is_connect() {
                    TimeLimit::Connect(limits.connect)
                } else {
                    TimeLimit::Request(limits.request)
                };
                Error::Timeout {
                    name,
                    url,
                    limit,
                    source: Some(source),
                }
            }
            None => {
                let words = ((source.is_body() || source.is_decode())
                    && transport::closed_under_request(&source))
                .then(|| "the server closed the connection before the end of the body".to_owned());
                Error::Transport {
                    name,
                    url,
                    source: TransportCause::new(source, words),
                }
            }
        }
    }

    fn invalid(&self, reason: &str) -> Error {
        Error::InvalidRequest {
            name: self.inner.source_name.clone(),
            reason: reason.to_owned(),
        }
    }

    /// The [`Error::Status`] of `response`, the answer to a `GET` of `path`.
    async fn status_error(&self, response: &Response<Bytes>, path: &str) -> Error {
        let status::Described {
            mut message,
            reason,
            is_status,
        } = status::describe(response.status(), response.body());
        if response.status() == StatusCode::FORBIDDEN && !is_status {
            if let Some(hint) = self.inner.endpoint.forbidden_hint_for(path) {
                message = format!("{message} ({hint})");
            }
        }
        if response.status() == StatusCode::UNAUTHORIZED {
            if let Some(expired_at) = self.expired_token().await {
                message.push_str(&format!(
                    " (the token expired at {})",
                    crate::explain::rfc3339(expired_at)
                        .unwrap_or_else(|| "a time after the year 9999".to_owned())
                ));
            }
        }
        Error::Status {
            name: self.inner.source_name.clone(),
            method: http::Method::GET,
            url: self.error_url(path),
            status: response.status(),
            message,
            reason,
        }
    }

    /// The expiry of the current token when it has passed.
    async fn expired_token(&self) -> Option<SystemTime> {
        let credentials = self.inner.credentials.credentials().await.ok()?;
        let at = credentials.expires_at()?;
        (at <= self.inner.clock.now()).then_some(at)
    }

    /// The `Authorization` value of `credentials`: `Bearer <token>`, or `Basic
    /// base64(user:password)` (RFC 7617), marked sensitive so that HTTP stacks never log it;
    /// `None` when they carry neither.
    fn bearer_header(&self, credentials: &Arc<Credentials>) -> Result<Option<HeaderValue>, Error> {
        let (text, what) = if let Some(token) = credentials.token() {
            (
                SecretString::from(format!("Bearer {}", token.expose_secret())),
                "the bearer token",
            )
        } else if let Some(basic) = credentials.basic_auth() {
            use base64::Engine as _;
            let pair = SecretString::from(format!(
                "{}:{}",
                basic.username().expose_secret(),
                basic.password().expose_secret()
            ));
            let encoded = SecretString::from(
                base64::engine::general_purpose::STANDARD.encode(pair.expose_secret()),
            );
            (
                SecretString::from(format!("Basic {}", encoded.expose_secret())),
                "the basic-auth user name or password",
            )
        } else {
            return Ok(None);
        };
        let mut value =
            HeaderValue::from_str(text.expose_secret()).map_err(|_| Error::Credentials {
                name: self.inner.source_name.clone(),
                error: SourceError::Refused {
                    reason: format!("{what} holds characters an HTTP header cannot carry"),
                },
            })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

// The tower layer's hooks.
//
// What `AuthLayer` (layer.rs) shares with the request path above, so that the two never
// differ: the credentials' fast path and the identity the connections follow, the
// `Authorization` value the recent requests keep, the headers the client adds, and the
// re-read after a `401`.
impl Client {
    /// A tower layer that authenticates any HTTP stack's requests as this client does:
    /// [`AuthLayer::new`](crate::AuthLayer::new) of this client.
    pub fn auth_layer(&self) -> crate::AuthLayer {
        crate::AuthLayer::new(self)
    }

    /// The source's current credentials when it has them at hand (no await, no I/O), new
    /// connections following their client certificate; `None` when they must be read.
    pub(crate) fn layer_current(&self) -> Option<Arc<Credentials>> {
        let credentials = self.inner.credentials.current()?;
        self.follow_identity(&credentials);
        Some(credentials)
    }

    /// The source's current credentials, read when they are not at hand.
    pub(crate) async fn layer_credentials(&self) -> Result<Arc<Credentials>, Error> {
        self.current_credentials().await
    }

    /// The `Authorization` value of `credentials` (marked sensitive; `None` without a token
    /// or basic auth), built once per credentials and shared with the recent requests.
    pub(crate) fn layer_authorization(
        &self,
        credentials: &Arc<Credentials>,
    ) -> Result<Option<HeaderValue>, Error> {
        self.inner
            .recent
            .shared(credentials, |credentials| self.bearer_header(credentials))
    }

    /// Adds the headers the client adds to every request where `headers` has none of its
    /// own: the endpoint's `Host` header and its impersonation headers.
    pub(crate) fn layer_headers(&self, headers: &mut http::HeaderMap) {
        if let Some(host) = &self.inner.host {
            if !headers.contains_key(HOST) {
                headers.insert(HOST, host.clone());
            }
        }
        if self.inner.headers.is_empty() {
            return;
        }
        let callers: Vec<HeaderName> = self
            .inner
            .headers
            .iter()
            .filter(|(name, _)| headers.contains_key(name))
            .map(|(name, _)| name.clone())
            .collect();
        for (name, value) in &self.inner.headers {
            if !callers.contains(name) {
                headers.append(name.clone(), value.clone());
            }
        }
    }

    /// After the server refused `rejected` with a `401`: the source re-reads once
    /// ([`CredentialSource::refresh`], which coalesces concurrent callers that saw the same
    /// `rejected`); the fresh credentials when their token or certificate changed, `None`
    /// when they did not or the re-read failed (which warns).
    pub(crate) async fn reread_after_unauthorized(
        &self,
        rejected: &Arc<Credentials>,
    ) -> Option<Arc<Credentials>> {
        let inner = &self.inner;
        match inner.credentials.refresh(rejected).await {
            Ok(fresh) => {
                self.follow_identity(&fresh);
                let changed = fresh.token().map(|t| t.expose_secret())
                    != rejected.token().map(|t| t.expose_secret())
                    || fresh.identity().map(|id| id.certificates())
                        != rejected.identity().map(|id| id.certificates());
                changed.then_some(fresh)
            }
            Err(error) => {
                tracing::warn!(
                    source = %inner.source_name,
                    error = %kubecred_core::error_chain(&error),
                    "re-reading credentials after a 401 failed; keeping the last good ones"
                );
                None
            }
        }
    }
}
