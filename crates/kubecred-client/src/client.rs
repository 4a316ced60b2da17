//! `Client`: sends requests to the resolved endpoint with the current credentials.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, HOST, USER_AGENT};
use http::{Request, Response, StatusCode};
use kubecred_core::{Clock, CredentialSource, Credentials, Endpoint, ExposeSecret, SourceError};
use serde::de::DeserializeOwned;

use crate::{transport, ClientBuilder, Error};

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
    /// What recent requests were built from, by [`url_slot`] of their paths.
    recent: [ArcSwapOption<Recent>; URL_SLOTS],
    /// The `Authorization` value of the latest credentials, which the slots share (its
    /// clones share one buffer: one copy of the token outside `secrecy`, not one per slot).
    authorization: ArcSwapOption<(Arc<Credentials>, Option<HeaderValue>)>,
    /// The builder's clock: it decides whether a refused token has expired.
    clock: Arc<dyn Clock>,
    /// The client certificate presented by new connections, when there is one.
    identity: Option<Arc<transport::IdentityResolver>>,
}

/// What a recent request was built from, reused by the next request whose path falls in the
/// same slot where it still applies: programs ask for the same few paths again and again (a
/// poll, a re-list) with the same credentials for minutes, and building and checking a `Url`
/// or a header value anew costs more than the rest of the client's own work on a request.
#[derive(Debug)]
struct Recent {
    /// The request's path with its query, and its URL on the endpoint.
    path: Box<str>,
    url: reqwest::Url,
    /// The credentials of that request (compared by identity, never by value) and their
    /// `Authorization` value (marked sensitive; `None` without a token), a clone of the
    /// client's shared one: the token's bytes outside `secrecy` exist once, until the
    /// credentials change.
    credentials: Option<(Arc<Credentials>, Option<HeaderValue>)>,
}

/// How many recent requests a client keeps (direct-mapped by a hash of the path): enough for
/// the few paths a program polls or re-lists in turn, small enough to cost nothing.
const URL_SLOTS: usize = 16;

/// The slot of `path` among [`URL_SLOTS`] (FNV-1a).
fn url_slot(path: &str) -> usize {
    let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % URL_SLOTS as u64) as usize
}

impl Client {
    /// A builder for the default chain (see [`ClientBuilder`]).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// # Errors
    ///
    /// [`SourceError::Refused`] when the endpoint's `Host` header is not a valid header value.
    pub(crate) fn new(
        source_name: String,
        endpoint: Endpoint,
        credentials: Arc<dyn CredentialSource>,
        tls: Arc<rustls::ClientConfig>,
        identity: Option<Arc<transport::IdentityResolver>>,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SourceError> {
        let host = endpoint
            .host_header()
            .map(HeaderValue::from_str)
            .transpose()
            .map_err(|_| SourceError::Refused {
                reason: "the endpoint's Host header is not a valid header value".to_owned(),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                source_name,
                endpoint,
                credentials,
                tls,
                identity,
                http,
                host,
                recent: std::array::from_fn(|_| ArcSwapOption::empty()),
                authorization: ArcSwapOption::empty(),
                clock,
            }),
        })
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

    /// Sends `request` to the API server and returns its answer, whatever the status.
    ///
    /// The request's URI is a path with an optional query (`/api/v1/pods?limit=1`),
    /// appended to the endpoint's URL. The client adds `Authorization: Bearer …` (unless the
    /// request has its own) and `User-Agent: kubecred/<version>` (unless it has its own).
    /// A `401` answer to a request the client authenticated makes the source re-read its
    /// credentials once (unless its last read failed less than 10 s ago); when they changed,
    /// the request is sent once more. A safe request (`GET`, `HEAD`, …) whose kept-alive
    /// connection the server closed under it is sent once more on a new connection.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for an absolute URI, or an `Authorization` header bound for
    /// an endpoint that must not receive one (refused before connecting);
    /// [`Error::Credentials`]; [`Error::TlsVerification`] when the server's certificate does
    /// not verify; [`Error::Transport`] for connection failures and timeouts.
    pub async fn request(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Error> {
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
            crate::builder::check_token_allowed(&self.inner.endpoint)
                .map_err(|e| self.invalid(&format!("the Authorization header is refused: {e}")))?;
            None
        } else {
            Some(self.current_credentials().await?)
        };
        let response = self
            .send_with_retry(&request, path, credentials.as_ref())
            .await?;
        match credentials {
            Some(rejected)
                if response.status() == StatusCode::UNAUTHORIZED && rejected.token().is_some() =>
            {
                Box::pin(self.after_unauthorized(&request, path, &rejected, response)).await
            }
            _ => Ok(response),
        }
    }

    /// The answer to a request whose token the server refused with `response` (a `401`):
    /// the source re-reads its credentials once; when the token changed, the request is sent
    /// once more with it, and its answer is the request's; otherwise `response` is.
    async fn after_unauthorized(
        &self,
        request: &Request<Bytes>,
        path: &str,
        rejected: &Arc<Credentials>,
        response: Response<Bytes>,
    ) -> Result<Response<Bytes>, Error> {
        let inner = &self.inner;
        match inner.credentials.refresh(rejected).await {
            Ok(fresh) => {
                self.follow_identity(&fresh);
                let changed = fresh.token().map(|t| t.expose_secret())
                    != rejected.token().map(|t| t.expose_secret());
                if changed {
                    return self.send_with_retry(request, path, Some(&fresh)).await;
                }
            }
            Err(error) => tracing::warn!(
                source = %inner.source_name,
                error = %kubecred_core::error_chain(&error),
                "re-reading credentials after a 401 failed; keeping the last good ones"
            ),
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
            Err(self.status_error(&response).await)
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
    async fn send_with_retry(
        &self,
        request: &Request<Bytes>,
        path: &str,
        credentials: Option<&Arc<Credentials>>,
    ) -> Result<Response<Bytes>, Error> {
        let first = self.prepare(request, path, credentials)?;
        let outcome = self.send(first, path).await;
        match outcome {
            Err(Error::Transport { source, url, .. })
                if request.method().is_safe() && transport::closed_under_request(&source) =>
            {
                tracing::debug!(source = %self.inner.source_name, %url, "connection closed under the request; retrying once");
                let again = self.prepare(request, path, credentials)?;
                Box::pin(self.send(again, path)).await
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
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, value);
        }
        if !request.body().is_empty() {
            *prepared.body_mut() = Some(request.body().clone().into());
        }
        Ok(prepared)
    }

    /// The URL of `path` on the endpoint, and the `Authorization` value of `credentials`
    /// (`None` without credentials or a token): kept from the last request for a path of the
    /// same slot where they are the same, built anew (and kept) where not.
    fn url_and_authorization(
        &self,
        path: &str,
        credentials: Option<&Arc<Credentials>>,
    ) -> Result<(reqwest::Url, Option<HeaderValue>), Error> {
        let slot = &self.inner.recent[url_slot(path)];
        let last = slot.load();
        let last = last.as_deref();
        let last_url = last.filter(|l| *l.path == *path).map(|l| &l.url);
        let last_credentials = last.and_then(|l| l.credentials.as_ref());
        let same_credentials = match (credentials, last_credentials) {
            (Some(now), Some((then, _))) => Arc::ptr_eq(now, then),
            // A caller's own `Authorization` header: the kept value stays for the next one.
            (None, _) => true,
            (Some(_), None) => false,
        };
        if let (Some(url), true) = (last_url, same_credentials) {
            let authorization = credentials
                .and(last_credentials)
                .and_then(|(_, a)| a.clone());
            return Ok((url.clone(), authorization));
        }
        let url = match last_url {
            Some(url) => url.clone(),
            None => self
                .inner
                .endpoint
                .url_for(path)
                .map_err(|reason| self.invalid(&reason))?,
        };
        let kept = match credentials {
            Some(credentials) if !same_credentials => Some((
                Arc::clone(credentials),
                self.shared_authorization(credentials)?,
            )),
            _ => last_credentials.cloned(),
        };
        let authorization = credentials.and(kept.as_ref()).and_then(|(_, a)| a.clone());
        slot.store(Some(Arc::new(Recent {
            path: path.into(),
            url: url.clone(),
            credentials: kept,
        })));
        Ok((url, authorization))
    }

    /// The `Authorization` value of `credentials`, built once for all the slots.
    fn shared_authorization(
        &self,
        credentials: &Arc<Credentials>,
    ) -> Result<Option<HeaderValue>, Error> {
        if let Some(kept) = self.inner.authorization.load().as_deref() {
            if Arc::ptr_eq(&kept.0, credentials) {
                return Ok(kept.1.clone());
            }
        }
        let value = self.bearer_header(credentials)?;
        self.inner
            .authorization
            .store(Some(Arc::new((Arc::clone(credentials), value.clone()))));
        Ok(value)
    }

    /// Sends `request` (for `path`, which errors name) and reads its answer in full.
    ///
    /// Not an `async fn`: the request is handed to reqwest before the future is made, so
    /// that the future holds reqwest's small handle rather than the request.
    fn send<'a>(
        &'a self,
        request: reqwest::Request,
        path: &'a str,
    ) -> impl Future<Output = Result<Response<Bytes>, Error>> + Send + 'a {
        let pending = self.inner.http.execute(request);
        async move {
            let transport_error = |source| self.transport_error(source, path);
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

    /// The error for a request for `path` that failed in reqwest with `source`.
    fn transport_error(&self, source: reqwest::Error, path: &str) -> Error {
        let inner = &self.inner;
        // The URL is in our message already.
        let source = source.without_url();
        let url = inner
            .endpoint
            .url_for(path)
            .map_or_else(|_| path.to_owned(), String::from);
        let name = inner.source_name.clone();
        match transport::tls_failure(&source, inner.identity.is_some()) {
            Some(transport::TlsFailure::ServerCertificate) => Error::TlsVerification {
                name,
                url,
                trust: inner.endpoint.trust().to_string(),
                source,
            },
            Some(transport::TlsFailure::ClientCertificateRejected) => {
                Error::ClientCertificateRejected { name, url, source }
            }
            Some(transport::TlsFailure::ClientCertificateRequired) => {
                Error::ClientCertificateRequired { name, url, source }
            }
            None => Error::Transport { name, url, source },
        }
    }

    fn invalid(&self, reason: &str) -> Error {
        Error::InvalidRequest {
            name: self.inner.source_name.clone(),
            reason: reason.to_owned(),
        }
    }

    async fn status_error(&self, response: &Response<Bytes>) -> Error {
        #[derive(serde::Deserialize)]
        struct Status {
            kind: Option<String>,
            message: Option<String>,
            reason: Option<String>,
        }
        let status = serde_json::from_slice::<Status>(response.body())
            .ok()
            .filter(|s| s.kind.as_deref() == Some("Status"));
        let status_body = status.is_some();
        let (mut message, reason) = match status {
            Some(Status {
                message: Some(m),
                reason,
                ..
            }) if !m.is_empty() => (m, reason),
            other => {
                let body = String::from_utf8_lossy(response.body());
                let body = body.trim();
                let text = if body.is_empty() {
                    response
                        .status()
                        .canonical_reason()
                        .unwrap_or("no message")
                        .to_owned()
                } else {
                    body.chars().take(200).collect()
                };
                (text, other.and_then(|s| s.reason))
            }
        };
        if response.status() == StatusCode::FORBIDDEN && !status_body {
            if let Some(hint) = self.inner.endpoint.forbidden_hint() {
                message = format!("{message} ({hint})");
            }
        }
        if response.status() == StatusCode::UNAUTHORIZED {
            if let Some(expired_at) = self.expired_token().await {
                message.push_str(&format!(
                    " (the token expired at {})",
                    humantime::format_rfc3339_seconds(expired_at)
                ));
            }
        }
        Error::Status {
            name: self.inner.source_name.clone(),
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

    /// `Bearer <token>`, marked sensitive so that HTTP stacks never log it; `None` without a
    /// token.
    fn bearer_header(&self, credentials: &Arc<Credentials>) -> Result<Option<HeaderValue>, Error> {
        let Some(token) = credentials.token() else {
            return Ok(None);
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| Error::Credentials {
                name: self.inner.source_name.clone(),
                error: SourceError::Refused {
                    reason: "the bearer token holds characters an HTTP header cannot carry"
                        .to_owned(),
                },
            })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}
