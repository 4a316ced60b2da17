//! `AuthLayer`: a tower layer that authenticates any HTTP stack's requests to a client's
//! endpoint as the client itself does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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
/// (`http_body_util::Empty` does not: use `Full::default()`). The retry clones the service
/// (`S: Clone`, as a hyper-util client is) and waits for it to be ready.
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

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            client: self.client.clone(),
        }
    }
}

/// `inner` behind a [`Client`]'s credentials: the service of an [`AuthLayer`], which
/// documents what it does to each request and its errors.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    client: Client,
}

impl<S> AuthService<S> {
    /// `inner` behind `client`'s credentials (what [`AuthLayer`] makes).
    pub fn new(inner: S, client: &Client) -> Self {
        Self {
            inner,
            client: client.clone(),
        }
    }

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
        f.debug_struct("AuthService")
            .field("source", &self.client.source_name())
            .field("endpoint", &self.client.endpoint().display_url())
            .field("inner", &self.inner)
            .finish()
    }
}

/// The future of [`AuthService::call`]: boxed, as a retry after a `401` needs to hold the
/// service and the request's parts across awaits.
type ResponseFuture<R> = Pin<Box<dyn Future<Output = Result<Response<R>, BoxError>> + Send>>;

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
    type Future = ResponseFuture<R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready serves this request; its clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let client = self.client.clone();
        if let Err(error) = check_target(&client, request.uri()) {
            return Box::pin(std::future::ready(Err(error.into())));
        }
        self.client.layer_headers(request.headers_mut());
        if request.headers().contains_key(AUTHORIZATION) {
            // The caller's own: sent as it is where it may go, never re-read after a 401.
            if let Err(error) = policy::authorization_allowed(client.endpoint()) {
                let error = invalid(
                    &client,
                    format!("the Authorization header is refused: {error}"),
                );
                return Box::pin(std::future::ready(Err(error.into())));
            }
            let sent = inner.call(request);
            return Box::pin(async move { sent.await.map_err(Into::into) });
        }
        // The fast path: credentials at hand, the request handed on before the future exists.
        match client.layer_current() {
            Some(credentials) => match authorize(&client, request, &credentials) {
                Ok((request, replay)) => {
                    let sent = inner.call(request);
                    Box::pin(after_response(client, inner, credentials, replay, sent))
                }
                Err(error) => Box::pin(std::future::ready(Err(error.into()))),
            },
            None => Box::pin(async move {
                let credentials = client.layer_credentials().await?;
                let (request, replay) = authorize(&client, request, &credentials)?;
                let sent = inner.call(request);
                after_response(client, inner, credentials, replay, sent).await
            }),
        }
    }
}

/// What a replayable request is sent again from: its head (the body is empty).
struct Replay {
    method: http::Method,
    uri: Uri,
    version: http::Version,
    headers: http::HeaderMap,
    extensions: http::Extensions,
}

impl Replay {
    /// The request again, with `authorization` (or none) and an empty body.
    fn request<B: From<Bytes>>(self, authorization: Option<http::HeaderValue>) -> Request<B> {
        let mut request = Request::new(B::from(Bytes::new()));
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        if let Some(value) = authorization {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        request
    }
}

/// `request` with the `Authorization` value of `credentials`, and its head when it is
/// replayable (its body known to be empty) and the credentials could be refused.
fn authorize<B: http_body::Body>(
    client: &Client,
    mut request: Request<B>,
    credentials: &Arc<Credentials>,
) -> Result<(Request<B>, Option<Replay>), Error> {
    let replay =
        (credentials.is_secret() && request.body().size_hint().exact() == Some(0)).then(|| {
            Replay {
                method: request.method().clone(),
                uri: request.uri().clone(),
                version: request.version(),
                headers: request.headers().clone(),
                extensions: request.extensions().clone(),
            }
        });
    if let Some(value) = client.layer_authorization(credentials)? {
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    Ok((request, replay))
}

/// The answer to a request sent with `credentials` (`sent`): on a `401`, the source re-reads
/// once and, when the credentials changed and the request is replayable (`replay`), the
/// request is sent once more on `inner` with them.
async fn after_response<S, B, R>(
    client: Client,
    mut inner: S,
    credentials: Arc<Credentials>,
    replay: Option<Replay>,
    sent: S::Future,
) -> Result<Response<R>, BoxError>
where
    S: tower_service::Service<Request<B>, Response = Response<R>>,
    S::Error: Into<BoxError>,
    B: From<Bytes>,
{
    let response = sent.await.map_err(Into::into)?;
    if response.status() != StatusCode::UNAUTHORIZED || !credentials.is_secret() {
        return Ok(response);
    }
    let Some(fresh) = client.reread_after_unauthorized(&credentials).await else {
        return Ok(response);
    };
    let Some(replay) = replay else {
        // Not replayable: the 401 is the answer; the next request carries `fresh`.
        return Ok(response);
    };
    let request = replay.request(client.layer_authorization(&fresh)?);
    drop(response);
    std::future::poll_fn(|cx| inner.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    inner.call(request).await.map_err(Into::into)
}

/// Refuses an absolute `uri` for another server than `client`'s endpoint (scheme, host and
/// port, the scheme's default port when none is written); a path alone passes.
fn check_target(client: &Client, uri: &Uri) -> Result<(), Error> {
    let Some(authority) = uri.authority() else {
        return Ok(());
    };
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
