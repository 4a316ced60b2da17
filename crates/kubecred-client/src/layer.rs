//! `AuthLayer`: a tower layer that authenticates any HTTP stack's requests to a client's
//! endpoint as the client itself does.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode, Uri};
use kubecred_core::Credentials;

use crate::{policy, Client, Error};

/// The error of an [`AuthService`]: the inner service's own error, unchanged, or a
/// [`kubecred_client::Error`](crate::Error) for kubecred's refusals and credential failures.
/// Tell them apart with `error.downcast_ref::<kubecred_client::Error>()` (or `is`).
///
/// The boxed error of tower's middleware (`tower::BoxError`), so that the service fits
/// stacks whose layers box their errors (kube-rs's among them).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A [`tower_layer::Layer`] that puts a [`Client`]'s credentials on the requests of any
/// HTTP stack bound for the client's endpoint: a hyper-util client, kube-rs's stack, any
/// `Service<http::Request<B>>`. Built from a client ([`AuthLayer::new`],
/// [`Client::auth_layer`]), it uses the client's chosen source, its endpoint's rules and the
/// `Authorization` value the client keeps, so both behave alike. Its services are
/// [`AuthService`]s.
///
/// For each request, [`AuthService`]:
///
/// 1. refuses an absolute URI for another server than the endpoint's (scheme, host and port
///    of [`Endpoint::url`](crate::Endpoint::url)), so that a token never leaves for another
///    host; a URI that is only a path is passed on as it is (a base-URI layer of the stack,
///    kube-rs's for one, sets it first when it runs before this one);
/// 2. leaves a caller's own `Authorization` header alone, but refuses it where the client
///    refuses it: bound for an endpoint that must not receive credentials (`kubectl proxy`
///    forwards it upstream), or over plain `http://` to a non-loopback host;
/// 3. otherwise sets `Authorization` (marked sensitive) from the source's current credentials,
///    taken at hand without an `await` on almost every request
///    ([`CredentialSource::current`](crate::CredentialSource::current)) and read only when the
///    source must read them; new connections present the client certificate of the same
///    credentials. The endpoint's `Host` and impersonation headers are added where the
///    request has none of its own;
/// 4. on a `401` to a request it authenticated, makes the source re-read once
///    ([`CredentialSource::refresh`](crate::CredentialSource::refresh): concurrent `401`s for
///    the same credentials cause one read). When the token or certificate changed and the
///    request is replayable, the request is sent once more with them, and that answer is
///    returned; otherwise the `401` is, and the next request goes out on the fresh
///    credentials. A second `401` is returned like a first.
///
/// **Replayable** means a body known to be empty (`size_hint().exact() == Some(0)`: a `GET`,
/// a watch, most `DELETE`s), rebuilt for the retry as `B::from(Bytes::new())`; a body with
/// content is never kept, since it may be a stream. Hence the bound `B: From<Bytes>`, which
/// kube-rs's `kube::client::Body`, `http_body_util::Full<Bytes>` and `reqwest::Body` meet
/// (`http_body_util::Empty` does not: use `Full::default()`). The retry is sent on a clone of
/// the service the layer wrapped (`S: Clone`, as a hyper-util client is; one is kept per
/// layered service, none per request), once it is ready.
///
/// The layer does not decide where requests go or how they are encrypted: a stack's own
/// connector does. Give it [`Client::tls_config`] (its roots follow a rotated CA bundle at
/// each new handshake, its client certificate the credentials this layer last took), e.g.
/// with hyper-rustls:
///
/// ```no_run
/// # async fn f(client: kubecred_client::Client) -> Result<(), kubecred_client::BoxError> {
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client as HyperClient;
/// use hyper_util::rt::TokioExecutor;
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// let connector = hyper_rustls::HttpsConnectorBuilder::new()
///     .with_tls_config((*client.tls_config()).clone())
///     .https_or_http() // https_only() unless the endpoint is plain http on loopback
///     .enable_http1()
///     .build();
/// let hyper = HyperClient::builder(TokioExecutor::new()).build(connector);
/// let mut service = client.auth_layer().layer(hyper);
/// let uri = client.endpoint().url_for("/api")?.as_str().parse::<http::Uri>()?;
/// let response = service
///     .call(http::Request::get(uri).body(Full::<bytes::Bytes>::default())?)
///     .await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
///
/// Errors: [`BoxError`], the inner service's error unchanged or a
/// [`kubecred_client::Error`](crate::Error): [`Error::InvalidRequest`] for the refusals of
/// steps 1 and 2 (before the inner service sees the request), [`Error::Credentials`] when the
/// source cannot hand out credentials.
///
/// Its `Debug` names the source and the endpoint; it never shows a credential.
#[derive(Clone)]
pub struct AuthLayer {
    client: Client,
}

impl AuthLayer {
    /// The layer of `client`: its source, its endpoint and the `Authorization` value it keeps.
    pub fn new(client: &Client) -> Self {
        Self {
            client: client.clone(),
        }
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("source", &self.client.source_name())
            .field("endpoint", &self.client.endpoint().display_url())
            .finish()
    }
}

impl<S: Clone> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService::new(inner, &self.client)
    }
}

/// `inner` behind a [`Client`]'s credentials: the service of an [`AuthLayer`], which
/// documents what it does to each request and its errors.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared<S>>,
}

/// What every clone of an [`AuthService`] and every request's future share: the client, and
/// a clone of the inner service made with the layer, which a retry clones (once ready) so
/// that a request keeps no service of its own for the rare `401`.
struct Shared<S> {
    client: Client,
    /// The endpoint URL's scheme and authority as a URI spells them, for the common case of
    /// [`check_target`]: a request for exactly them passes without parsing.
    origin: Option<(http::uri::Scheme, Box<str>)>,
    /// Behind a lock so that a service that is `Send` but not `Sync` (tower's `BoxService`)
    /// still gives `Send` futures; locked only to clone it for a retry.
    spare: Mutex<S>,
}

impl<S: Clone> AuthService<S> {
    /// `inner` behind `client`'s credentials (what [`AuthLayer`] makes).
    pub fn new(inner: S, client: &Client) -> Self {
        Self {
            shared: Arc::new(Shared {
                client: client.clone(),
                origin: origin(client),
                spare: Mutex::new(inner.clone()),
            }),
            inner,
        }
    }
}

impl<S> AuthService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, taken out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let client = &self.shared.client;
        f.debug_struct("AuthService")
            .field("source", &client.source_name())
            .field("endpoint", &client.endpoint().display_url())
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, B, R> tower_service::Service<Request<B>> for AuthService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + From<Bytes> + Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = BoxError;
    type Future = AuthFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let client = &self.shared.client;
        if let Err(error) = check_target(client, self.shared.origin.as_ref(), request.uri()) {
            return AuthFuture::failed(error);
        }
        client.layer_headers(request.headers_mut());
        if request.headers().contains_key(AUTHORIZATION) {
            // The caller's own: sent as it is where it may go, never re-read after a 401.
            if let Err(error) = policy::authorization_allowed(client.endpoint()) {
                return AuthFuture::failed(invalid(
                    client,
                    format!("the Authorization header is refused: {error}"),
                ));
            }
            return AuthFuture::state(State::Passthrough {
                sent: self.inner.call(request),
            });
        }
        // The fast path: credentials at hand, the request handed on before the future exists,
        // and nothing allocated for the rare case of a 401.
        let Some(credentials) = client.layer_current() else {
            return self.reading_credentials(request);
        };
        let replay = match authorize(client, &mut request, &credentials) {
            Ok(replay) => replay,
            Err(error) => return AuthFuture::failed(error),
        };
        // Only credentials the server could refuse are re-read after a 401.
        let after = credentials.is_secret().then(|| After {
            shared: Arc::clone(&self.shared),
            credentials,
            replay,
        });
        AuthFuture::state(State::Sent {
            sent: self.inner.call(request),
            after,
        })
    }
}

impl<S> AuthService<S> {
    /// The rare path of [`AuthService`]'s `Service::call`: the source must read its
    /// credentials, so the request waits for them in a boxed future that holds the service polled ready (its
    /// clone stays for the next request).
    fn reading_credentials<B, R>(&mut self, mut request: Request<B>) -> AuthFuture<S, B>
    where
        S: tower_service::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + From<Bytes> + Send + 'static,
        R: Send + 'static,
    {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        AuthFuture::state(State::Rare {
            future: Box::pin(async move {
                let client = &shared.client;
                let credentials = client.layer_credentials().await?;
                let replay = authorize(client, &mut request, &credentials)?;
                let response = inner.call(request).await.map_err(Into::into)?;
                if response.status() != StatusCode::UNAUTHORIZED || !credentials.is_secret() {
                    return Ok(response);
                }
                let after = After {
                    shared,
                    credentials,
                    replay,
                };
                after_unauthorized(after, response).await
            }),
        })
    }
}

pin_project_lite::pin_project! {
    /// The future of [`AuthService`]'s `Service::call` (`S` the inner service, `B` the
    /// request body): the inner service's own future, and the answer it gives — a state machine rather than
    /// a box, so that a request pays for nothing it does not use. Only the rare paths (the
    /// source must read its credentials first; a `401` to re-read and perhaps retry after)
    /// continue in a boxed future. Its output is [`AuthService`]'s: the answer, or a
    /// [`BoxError`] (see [`AuthLayer`]).
    pub struct AuthFuture<S, B>
    where
        S: tower_service::Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future, S, S::Response>,
        body: PhantomData<fn(B)>,
    }
}

pin_project_lite::pin_project! {
    /// Where a [`AuthFuture`] is: `F` the inner service's future, `S` the service, `T`
    /// its response.
    #[project = StateProj]
    enum State<F, S, T> {
        /// Refused or failed before the inner service saw the request (taken when polled).
        Failed { error: Option<BoxError> },
        /// Sent with the caller's own `Authorization` header: the inner answer, unchanged.
        Passthrough {
            #[pin]
            sent: F,
        },
        /// Sent with the layer's credentials; on a `401`, what the re-read needs (none for
        /// credentials the server cannot refuse).
        Sent {
            #[pin]
            sent: F,
            after: Option<After<S>>,
        },
        /// The rare paths, boxed.
        Rare { future: Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>> },
    }
}

impl<S, B> AuthFuture<S, B>
where
    S: tower_service::Service<Request<B>>,
{
    fn state(state: State<S::Future, S, S::Response>) -> Self {
        Self {
            state,
            body: PhantomData,
        }
    }

    fn failed(error: impl Into<BoxError>) -> Self {
        Self::state(State::Failed {
            error: Some(error.into()),
        })
    }
}

impl<S, B> fmt::Debug for AuthFuture<S, B>
where
    S: tower_service::Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFuture").finish_non_exhaustive()
    }
}

impl<S, B, R> Future for AuthFuture<S, B>
where
    S: tower_service::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: From<Bytes> + Send + 'static,
    R: Send + 'static,
{
    type Output = Result<Response<R>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        match state.as_mut().project() {
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .expect("AuthFuture polled after it completed"))),
            StateProj::Passthrough { sent } => sent.poll(cx).map_err(Into::into),
            StateProj::Sent { sent, after } => {
                let response = std::task::ready!(sent.poll(cx)).map_err(Into::into)?;
                if response.status() != StatusCode::UNAUTHORIZED {
                    return Poll::Ready(Ok(response));
                }
                let Some(after) = after.take() else {
                    return Poll::Ready(Ok(response));
                };
                let mut future = Box::pin(after_unauthorized::<S, B, R>(after, response));
                let poll = future.as_mut().poll(cx);
                state.set(State::Rare { future });
                poll
            }
            StateProj::Rare { future } => future.as_mut().poll(cx),
        }
    }
}

/// What the re-read after a `401` needs: the client (and the spare service a retry clones),
/// the credentials the server refused, and a replayable request's head.
struct After<S> {
    shared: Arc<Shared<S>>,
    credentials: Arc<Credentials>,
    replay: Option<Replay>,
}

/// What a replayable request is sent again from: its head (the body is empty). Its headers
/// are boxed, and only when there are some: the future that carries a `Replay` is moved on
/// every request, and a request without headers (the layer's `Host` and impersonation headers
/// included) is common.
struct Replay {
    method: http::Method,
    uri: Uri,
    version: http::Version,
    headers: Option<Box<http::HeaderMap>>,
    extensions: http::Extensions,
}

impl Replay {
    /// The request again, with `authorization` (or none) and an empty body.
    fn request<B: From<Bytes>>(self, authorization: Option<http::HeaderValue>) -> Request<B> {
        let mut request = Request::new(B::from(Bytes::new()));
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        if let Some(headers) = self.headers {
            *request.headers_mut() = *headers;
        }
        *request.extensions_mut() = self.extensions;
        if let Some(value) = authorization {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        request
    }
}

/// Puts the `Authorization` value of `credentials` on `request`; its head when it is
/// replayable (its body known to be empty) and the credentials could be refused.
fn authorize<B: http_body::Body>(
    client: &Client,
    request: &mut Request<B>,
    credentials: &Arc<Credentials>,
) -> Result<Option<Replay>, Error> {
    let replay =
        (credentials.is_secret() && request.body().size_hint().exact() == Some(0)).then(|| {
            Replay {
                method: request.method().clone(),
                uri: request.uri().clone(),
                version: request.version(),
                headers: (!request.headers().is_empty())
                    .then(|| Box::new(request.headers().clone())),
                extensions: request.extensions().clone(),
            }
        });
    if let Some(value) = client.layer_authorization(credentials)? {
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    Ok(replay)
}

/// After the server answered `response`, a `401`, to a request sent with `after.credentials`:
/// the source re-reads once and, when the credentials changed and the request is replayable,
/// the request is sent once more with them (on a clone of the spare service, once ready), and
/// that answer is returned; otherwise `response` is.
async fn after_unauthorized<S, B, R>(
    after: After<S>,
    response: Response<R>,
) -> Result<Response<R>, BoxError>
where
    S: tower_service::Service<Request<B>, Response = Response<R>> + Clone,
    S::Error: Into<BoxError>,
    B: From<Bytes>,
{
    let After {
        shared,
        credentials,
        replay,
    } = after;
    let client = &shared.client;
    let Some(fresh) = client.reread_after_unauthorized(&credentials).await else {
        return Ok(response);
    };
    let Some(replay) = replay else {
        // Not replayable: the 401 is the answer; the next request carries `fresh`.
        return Ok(response);
    };
    let request = replay.request(client.layer_authorization(&fresh)?);
    drop(response);
    let mut inner = shared
        .spare
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    std::future::poll_fn(|cx| inner.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    inner.call(request).await.map_err(Into::into)
}

/// Refuses an absolute `uri` for another server than `client`'s endpoint (scheme, host and
/// port, the scheme's default port when none is written); a path alone passes.
/// `origin` is the endpoint's scheme and authority ([`origin`]), which a request for exactly
/// them matches without parsing; any other spelling (another case, a default port written
/// out) is decided from the URL.
fn check_target(
    client: &Client,
    origin: Option<&(http::uri::Scheme, Box<str>)>,
    uri: &Uri,
) -> Result<(), Error> {
    let Some(authority) = uri.authority() else {
        return Ok(());
    };
    if let Some((scheme, expected)) = origin {
        if uri.scheme() == Some(scheme) && authority.as_str() == &**expected {
            return Ok(());
        }
    }
    let url = client.endpoint().url();
    let scheme = uri.scheme_str().unwrap_or_default();
    let default_port = match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let same = scheme.eq_ignore_ascii_case(url.scheme())
        && url
            .host_str()
            .is_some_and(|host| host.eq_ignore_ascii_case(authority.host()))
        && authority.port_u16().or(default_port) == url.port_or_known_default();
    if same {
        Ok(())
    } else {
        Err(invalid(
            client,
            format!(
                "the request is for {}, not for the client's endpoint {}: the layer sends its credentials to no other server",
                kubecred_core::Shown::text(&format!("{scheme}://{}", target(authority))),
                client.endpoint().display_url()
            ),
        ))
    }
}

/// The scheme and authority of `client`'s endpoint URL, as a URI of a request for it spells
/// them (`https`, `10.0.0.1:6443`; no port when it is the scheme's default), or `None` when
/// the URL has none a URI can carry, or carries a user name or password (never copied out of
/// the URL).
fn origin(client: &Client) -> Option<(http::uri::Scheme, Box<str>)> {
    let url = client.endpoint().url();
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let scheme = http::uri::Scheme::try_from(url.scheme()).ok()?;
    let authority = url.authority();
    (!authority.is_empty()).then(|| (scheme, authority.into()))
}

/// `host:port` of `authority`, without any user name or password it carries.
fn target(authority: &http::uri::Authority) -> String {
    match authority.port() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    }
}

fn invalid(client: &Client, reason: String) -> Error {
    Error::InvalidRequest {
        name: client.source_name().to_owned(),
        reason,
    }
}
