//! The stand-in API server: HTTP/1.1 over TLS (tokio-rustls, hyper) on its own thread and
//! tokio runtime, with kube-apiserver's bearer-token and client-certificate authentication
//! and a handful of real-shaped read-only routes.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsAcceptor;

use crate::ca::ClientRegistry;
use crate::watch::{PodStore, WatchBody};
use crate::{responses, CertificateAuthority, Error};

/// What the server answers with: a whole body, or a watch's stream.
type ServerBody = Either<Full<Bytes>, WatchBody>;

/// The subject alternative names of the serving certificate: the in-cluster service names
/// and the loopback addresses the server binds to.
pub const SERVING_CERTIFICATE_SANS: &[&str] = &[
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
    "127.0.0.1",
    "::1",
];

/// How a request authenticated, as the stand-in server saw it. Never holds a token's value.
/// [`Authentication::token`] builds the `Token` variant for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authentication {
    /// No bearer token and no client certificate (answered `401`: anonymous requests are
    /// disabled, as on most clusters).
    Anonymous,
    /// A registered bearer token, by the label it was registered with.
    Token {
        /// The label given to [`ApiServer::add_token`] or [`ApiServerBuilder::token`].
        label: String,
    },
    /// A bearer token the server does not know (answered `401`, even if a client certificate
    /// came along: the token is tried first, as kube-apiserver does).
    UnknownToken,
    /// A registered user name and password (`Authorization: Basic`), by the label they were
    /// registered with ([`ApiServerBuilder::basic_auth`], [`ApiServer::add_basic_auth`]).
    Basic {
        /// The label the user name and password were registered with.
        label: String,
    },
    /// An `Authorization: Basic` header with a user name and password the server does not know,
    /// or one that does not decode (answered `401`, whatever else came along).
    UnknownBasic,
    /// A client certificate verified against the server's CA, by its subject's common name
    /// (`"unknown"` for a certificate of that CA not issued through
    /// [`CertificateAuthority::issue_client_certificate`]).
    ClientCertificate {
        /// The certificate's common name: the user name kube-apiserver would see.
        common_name: String,
    },
}

impl Authentication {
    /// A registered bearer token's outcome, by its label: `Authentication::Token { label }`.
    pub fn token(label: &str) -> Self {
        Authentication::Token {
            label: label.to_owned(),
        }
    }
}

/// One request the stand-in server received, recorded before it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path with its query, e.g. `/api/v1/namespaces/a/pods?limit=1`.
    pub path: String,
    /// The `Host` header, if one was sent.
    pub host: Option<String>,
    /// The `User-Agent` header, if one was sent.
    pub user_agent: Option<String>,
    /// The server name the client sent in its TLS handshake (SNI), if any: a client sends
    /// none for an IP address, so a request to `https://127.0.0.1:…` carries one only when the
    /// client was told another name to send (a TLS server-name override).
    pub sni: Option<String>,
    /// How the request authenticated.
    pub authentication: Authentication,
    /// The impersonation headers (`Impersonate-User`, `Impersonate-Uid`, `Impersonate-Group`,
    /// `Impersonate-Extra-<key>`), in the order received, each as (lowercase name, value):
    /// what a kubeconfig user's `as`, `as-uid`, `as-groups` and `as-user-extra` become. The
    /// stand-in records them and does not act on them.
    pub impersonation: Vec<(String, String)>,
}

/// A stand-in Kubernetes API server for tests, listening on a loopback address over TLS.
///
/// It runs on its own thread with its own tokio runtime, so it serves sync tests, tests on a
/// `current_thread` tokio runtime that block, and child processes alike. It accepts
/// connections as soon as [`ApiServer::start`] returns, and dropping it shuts it down (the
/// listener is closed and the thread joined).
///
/// Requests authenticate with a registered bearer token (`Authorization: Bearer ...`), a
/// registered user name and password (`Authorization: Basic ...`, which kube-apiserver dropped
/// in 1.19 but kubeconfigs may still hold) or a client certificate issued by
/// [`ApiServer::ca`]; anything else gets `401` with a Kubernetes `Status` body. Authenticated `GET`s are served:
///
/// | path | answer |
/// |---|---|
/// | `/api` | `APIVersions` (`v1`, with this server's address) |
/// | `/apis` | `APIGroupList` (`apps/v1`, `batch/v1`) |
/// | `/version` | version info of a `v1.32.0` server |
/// | `/api/v1/namespaces/{ns}/pods` | a `PodList` of `{ns}`'s pods: one, `stand-in`, until the test [changes them](#pods-and-watches) (`403` once [forbidden](ApiServer::forbid_namespace)) |
/// | `/api/v1/namespaces/{ns}/pods?watch=true` | a watch stream of `{ns}`'s pods, below |
/// | `/api/v1/namespaces/{ns}/pods/{name}` | the `Pod` `{name}` of `{ns}`, or `404` `Status` (`NotFound`, `pods "{name}" not found`) |
/// | anything else | `404` `Status` (`NotFound`) |
///
/// Other methods get `405` (`MethodNotAllowed`). Queries are ignored for routing and kept in
/// the [request log](ApiServer::requests); on the pods path only `watch`, `resourceVersion`,
/// `timeoutSeconds` and `sendInitialEvents` are read (`limit`, `labelSelector`,
/// `fieldSelector`, `allowWatchBookmarks`, `resourceVersionMatch` and the rest are ignored:
/// every pod of the namespace is answered, in one page without `continue`, which is what a
/// server may do with `limit`, and the only `BOOKMARK` is a streaming list's, below). That is
/// enough for kube-rs's `watcher` in both its list strategies (list then watch, or a
/// streaming list).
///
/// # Pods and watches
///
/// Every namespace holds one pod, `stand-in` (label `app: stand-in`, phase `Running`,
/// `resourceVersion` `"1"`), until the test changes it with [`ApiServer::add_pod`],
/// [`ApiServer::label_pod`], [`ApiServer::set_pod_phase`] or [`ApiServer::delete_pod`].
/// Each change takes the next value of one server-wide counter, the `resourceVersion`
/// (a decimal string in JSON; [`ApiServer::resource_version`]), which the changed pod carries
/// and a list carries as of when it was read: what kube-rs's `watcher` needs to list, then
/// watch from the list's version.
///
/// `GET …/pods?watch=true` (or `watch=1`, any true of Go's `strconv.ParseBool`) answers `200`
/// with `Content-Type: application/json` and a chunked body of one event per line,
/// `{"type":"ADDED","object":{…Pod…}}`, each sent (and flushed) as it happens:
///
/// - without `resourceVersion` (or with `0` or empty): the namespace's current pods as
///   `ADDED`, then every change (`ADDED`, `MODIFIED`, `DELETED`; a deleted pod's last state
///   with the deletion's `resourceVersion`);
/// - with `resourceVersion=N`: the namespace's changes after `N`, replayed from a history of
///   the last [`WATCH_HISTORY_EVENTS`](crate::WATCH_HISTORY_EVENTS) changes (server-wide),
///   then every change. A version older than that history reaches gets what kube-apiserver's
///   watch cache sends then: a `200` stream of one event, `{"type":"ERROR","object":…}` with
///   a `410` `Status` of reason `Expired`, then its end (kube-rs's `watcher` lists again on
///   it); from a version not yet reached, only the changes after it are sent;
/// - with `sendInitialEvents=true` (a streaming list, whatever `resourceVersion` says): the
///   namespace's current pods as `ADDED`, then a `BOOKMARK` at the current `resourceVersion`
///   annotated `k8s.io/initial-events-end: "true"`, then every change;
/// - `timeoutSeconds=S` ends the stream cleanly (its last chunk) `S` seconds after the
///   request; without it (or with `0`) the stream lasts until [`ApiServer::end_watches`], a
///   [serving-certificate rotation](ApiServer::rotate_serving_certificate), or the server's
///   end (the connection is then dropped). A `watch`, `resourceVersion` or `timeoutSeconds`
///   that does not parse answers `400` (`BadRequest`).
///
/// A watch authenticates, is forbidden and is recorded in the request log exactly as a list
/// is.
pub struct ApiServer {
    addr: SocketAddr,
    ca: CertificateAuthority,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// A server on `127.0.0.1` (ephemeral port) with a fresh CA and no tokens registered.
    pub fn start() -> Result<ApiServer, Error> {
        Self::builder().start()
    }

    /// A builder for a server with tokens, an IPv6 address, a given CA or required client
    /// certificates.
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder::default()
    }

    /// The base URL: `https://127.0.0.1:PORT`, or `https://[::1]:PORT` for IPv6.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The IP address as `KUBERNETES_SERVICE_HOST` would hold it: `127.0.0.1` or `::1`
    /// (no brackets).
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The port, as `KUBERNETES_SERVICE_PORT` would hold it.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The CA that signed the serving certificate and verifies client certificates.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The CA certificate, PEM: what a service account's `ca.crt` would hold.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The serving certificate new connections get (unless their SNI names one of
    /// [`ApiServerBuilder::sni_certificate`]), PEM: issued by the CA for
    /// [`SERVING_CERTIFICATE_SANS`], and replaced by each
    /// [serving-certificate rotation](ApiServer::rotate_serving_certificate). A client given
    /// it as its CA bundle pins the server's own certificate.
    pub fn serving_certificate_pem(&self) -> String {
        lock(&self.state.serving_pem).clone()
    }

    /// Accepts `token` from now on, recorded as [`Authentication::Token`] with `label`.
    /// A token already registered under `label` is replaced.
    pub fn add_token(&self, label: &str, token: &str) {
        self.state
            .add_token(label.to_owned(), SecretString::from(token));
    }

    /// Accepts HTTP basic authentication with `user` and `password` from now on, recorded as
    /// [`Authentication::Basic`] with `label`. A pair already registered under `label` is
    /// replaced.
    pub fn add_basic_auth(&self, label: &str, user: &str, password: &str) {
        self.state.add_basic(
            label.to_owned(),
            user.to_owned(),
            SecretString::from(password),
        );
    }

    /// Stops accepting the token registered under `label`; `false` if there was none.
    pub fn revoke_token(&self, label: &str) -> bool {
        let mut tokens = lock(&self.state.tokens);
        let before = tokens.len();
        tokens.retain(|(known, _)| known != label);
        tokens.len() != before
    }

    /// Every request received so far, in arrival order (including those answered `401`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// How each request received so far authenticated, in arrival order (a revoked token is
    /// [`Authentication::UnknownToken`], answered `401`); then forgets them, so that the next
    /// call says what came since.
    pub fn take_authentications(&self) -> Vec<Authentication> {
        std::mem::take(&mut *lock(&self.state.requests))
            .into_iter()
            .map(|r| r.authentication)
            .collect()
    }

    /// Switches the serving certificate to one issued by `ca` (with the same SANs) for new
    /// connections, and closes every open connection once its request in flight is answered,
    /// so that clients reconnect and verify the new certificate, as after a cluster's CA
    /// rotation. Client certificates are verified against `ca` from now on too.
    /// [`ApiServer::ca`] keeps returning the CA the server started with.
    ///
    /// Returns when every connection opened before has closed (waiting at most 5 s for
    /// requests in flight), so the next request of a client makes a new handshake.
    ///
    /// # Errors
    ///
    /// [`Error::Certificate`] or [`Error::Tls`] when the new configuration cannot be built;
    /// the server keeps its old certificate.
    pub fn rotate_serving_certificate(&self, ca: &CertificateAuthority) -> Result<(), Error> {
        let (config, serving_pem) = serving_config(
            ca,
            self.state.require_client_certificate,
            &self.state.serving_sans,
            &self.state.sni_names,
        )?;
        *lock(&self.state.acceptor) = TlsAcceptor::from(Arc::new(config));
        *lock(&self.state.serving_pem) = serving_pem;
        // A watch is a request that never finishes by itself: end it, so its connection closes.
        self.state.pods.end_watches();
        let mut previous = 0;
        self.state.generation.send_modify(|generation| {
            previous = *generation;
            *generation += 1;
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut open = lock(&self.state.connections);
        while open.iter().any(|(g, n)| *g <= previous && *n > 0) {
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                break;
            };
            open = match self.state.closed.wait_timeout(open, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        Ok(())
    }

    /// From now on, listing pods in `namespace` is forbidden to everyone: `403` with the
    /// `Status` an RBAC denial carries (`pods is forbidden: User "…" cannot list resource
    /// "pods" …`, reason `Forbidden`). The user is the token's label or the certificate's CN.
    pub fn forbid_namespace(&self, namespace: &str) {
        lock(&self.state.forbidden_namespaces).push(namespace.to_owned());
    }

    /// Adds a pod `name` to `namespace` (labels `labels`, phase `Running`, a fresh `uid`),
    /// sent to the namespace's watches as `ADDED`. Returns its `resourceVersion`, or `None`
    /// (and changes nothing) when the namespace already holds a pod of that name.
    ///
    /// See [pods and watches](ApiServer#pods-and-watches).
    ///
    /// ```
    /// # fn main() -> Result<(), kubecred_testing::Error> {
    /// let server = kubecred_testing::ApiServer::start()?;
    /// assert_eq!(server.resource_version(), 1); // every namespace's `stand-in` pod
    /// assert_eq!(server.add_pod("team-a", "web", &[("app", "web")]), Some(2));
    /// assert_eq!(server.add_pod("team-a", "web", &[]), None); // already there
    /// assert_eq!(server.label_pod("team-a", "web", "tier", "front"), Some(3));
    /// assert_eq!(server.set_pod_phase("team-a", "web", "Succeeded"), Some(4));
    /// assert_eq!(server.delete_pod("team-a", "stand-in"), Some(5));
    /// assert_eq!(server.delete_pod("team-b", "web"), None); // never added there
    /// server.end_watches(); // every open `?watch=true` stream ends
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_pod(&self, namespace: &str, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let labels = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.state.pods.add(namespace, name, labels)
    }

    /// Sets the label `key` of pod `name` in `namespace` to `value` (adding or replacing it),
    /// sent as `MODIFIED`. Returns the pod's new `resourceVersion`, or `None` when there is no
    /// such pod.
    pub fn label_pod(&self, namespace: &str, name: &str, key: &str, value: &str) -> Option<u64> {
        self.state.pods.modify(namespace, name, |pod| {
            pod.labels.insert(key.to_owned(), value.to_owned());
        })
    }

    /// Sets `status.phase` of pod `name` in `namespace` (e.g. `"Succeeded"`, `"Failed"`),
    /// sent as `MODIFIED`. Returns the pod's new `resourceVersion`, or `None` when there is no
    /// such pod.
    pub fn set_pod_phase(&self, namespace: &str, name: &str, phase: &str) -> Option<u64> {
        self.state.pods.modify(namespace, name, |pod| {
            phase.clone_into(&mut pod.phase);
        })
    }

    /// Deletes pod `name` from `namespace` (the default one is `"stand-in"`), sent as
    /// `DELETED` with the pod's last state. Returns the deletion's `resourceVersion`, or
    /// `None` when there is no such pod.
    pub fn delete_pod(&self, namespace: &str, name: &str) -> Option<u64> {
        self.state.pods.delete(namespace, name)
    }

    /// The server-wide `resourceVersion` now: `1` until the first pod change, then the last
    /// change's.
    pub fn resource_version(&self) -> u64 {
        self.state.pods.resource_version()
    }

    /// Ends every open watch cleanly: each stream sends the events already queued, then its
    /// last chunk (the connection stays open for the client's next request). Watches opened
    /// afterwards are not affected.
    pub fn end_watches(&self) {
        self.state.pods.end_watches();
    }
}

impl fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // An error means the server loop is already gone; joining is all that is left.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panicked server thread has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

/// Configures and starts an [`ApiServer`].
///
/// ```
/// # fn main() -> Result<(), kubecred_testing::Error> {
/// use kubecred_testing::{ApiServer, CertificateAuthority};
///
/// let ca = CertificateAuthority::new("my CA")?;
/// let server = ApiServer::builder()
///     .certificate_authority(ca.clone())
///     .token("alice", "alice-token")
///     .require_client_certificate(false)
///     .start()?;
/// assert_eq!(server.ca_pem(), ca.pem());
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct ApiServerBuilder {
    ipv6: bool,
    tokens: Vec<(String, SecretString)>,
    basic: Vec<(String, String, SecretString)>,
    ca: Option<CertificateAuthority>,
    require_client_certificate: bool,
    sni_names: Vec<String>,
    serving_sans: Option<Vec<String>>,
}

impl ApiServerBuilder {
    /// Issues the serving certificate for `sans` (DNS names and IP literals, as
    /// [`CertificateAuthority::issue_server_certificate`] takes them) instead of
    /// [`SERVING_CERTIFICATE_SANS`]: e.g. `["localhost"]` for a certificate that holds no IP
    /// address, which a client connecting to `127.0.0.1` refuses.
    pub fn serving_sans(mut self, sans: &[&str]) -> Self {
        self.serving_sans = Some(sans.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    /// A handshake whose SNI is `name` (case-insensitive) gets a certificate of its own,
    /// issued by the server's CA for `name` alone (a DNS name), as a server that picks its
    /// certificate by SNI answers; any other handshake gets the usual serving certificate
    /// ([`SERVING_CERTIFICATE_SANS`]). A client that verifies `name` against the answer
    /// succeeds only if it sent `name` as SNI, or if `name` is one of those SANs.
    pub fn sni_certificate(mut self, name: impl Into<String>) -> Self {
        self.sni_names.push(name.into());
        self
    }

    /// Binds `[::1]` instead of `127.0.0.1` (default `false`).
    pub fn ipv6(mut self, ipv6: bool) -> Self {
        self.ipv6 = ipv6;
        self
    }

    /// Accepts `token`, recorded as [`Authentication::Token`] with `label`. Tokens can also be
    /// added and revoked while the server runs ([`ApiServer::add_token`]).
    pub fn token(mut self, label: impl Into<String>, token: impl Into<String>) -> Self {
        let label = label.into();
        self.tokens.retain(|(known, _)| *known != label);
        self.tokens.push((label, SecretString::from(token.into())));
        self
    }

    /// Accepts HTTP basic authentication with `user` and `password`, recorded as
    /// [`Authentication::Basic`] with `label` (also while the server runs:
    /// [`ApiServer::add_basic_auth`]).
    pub fn basic_auth(
        mut self,
        label: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        let label = label.into();
        self.basic.retain(|(known, _, _)| *known != label);
        self.basic
            .push((label, user.into(), SecretString::from(password.into())));
        self
    }

    /// Signs the serving certificate with `ca` (and verifies client certificates with it)
    /// instead of a fresh CA.
    pub fn certificate_authority(mut self, ca: CertificateAuthority) -> Self {
        self.ca = Some(ca);
        self
    }

    /// When `true`, a TLS handshake without a client certificate from the server's CA fails.
    /// When `false` (the default), a client certificate is requested but optional, so bearer
    /// token requests work too; one that is sent must still verify.
    pub fn require_client_certificate(mut self, require: bool) -> Self {
        self.require_client_certificate = require;
        self
    }

    /// Binds the listener and starts serving on a background thread; the server accepts
    /// connections when this returns.
    pub fn start(self) -> Result<ApiServer, Error> {
        let ca = match self.ca {
            Some(ca) => ca,
            None => CertificateAuthority::new("kubecred-testing CA")?,
        };
        let serving_sans = self.serving_sans.unwrap_or_else(|| {
            SERVING_CERTIFICATE_SANS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
        let (config, serving_pem) = serving_config(
            &ca,
            self.require_client_certificate,
            &serving_sans,
            &self.sni_names,
        )?;
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let ip = if self.ipv6 {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        };
        let requested = SocketAddr::new(ip, 0);
        let bind_error = |source| Error::Bind {
            addr: requested,
            source,
        };
        let listener = std::net::TcpListener::bind(requested).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;

        let state = Arc::new(State {
            acceptor: Mutex::new(acceptor),
            require_client_certificate: self.require_client_certificate,
            sni_names: self.sni_names,
            serving_sans,
            serving_pem: Mutex::new(serving_pem),
            generation: watch::Sender::new(0),
            connections: Mutex::default(),
            closed: std::sync::Condvar::new(),
            tokens: Mutex::new(self.tokens),
            basic: Mutex::new(self.basic),
            requests: Mutex::default(),
            clients: ca.clients(),
            forbidden_namespaces: Mutex::default(),
            pods: PodStore::default(),
            addr,
        });

        let (shutdown, shutdown_rx) = oneshot::channel();
        let (ready, ready_rx) = mpsc::sync_channel(1);
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("kubecred-testing-apiserver-{}", addr.port()))
            .spawn(move || run(listener, thread_state, shutdown_rx, ready))
            .map_err(|source| Error::Start {
                what: "thread",
                source,
            })?;

        let started = match ready_rx.recv() {
            Ok(started) => started,
            Err(_) => Err(io::Error::other("the server thread exited before starting")),
        };
        if let Err(source) = started {
            // The thread has already returned (or is about to).
            let _ = thread.join();
            return Err(Error::Start {
                what: "tokio runtime",
                source,
            });
        }

        Ok(ApiServer {
            addr,
            ca,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl fmt::Debug for ApiServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<&str> = self
            .tokens
            .iter()
            .map(|(label, _)| label.as_str())
            .collect();
        f.debug_struct("ApiServerBuilder")
            .field("ipv6", &self.ipv6)
            .field("token_labels", &labels)
            .field(
                "basic_auth_labels",
                &self
                    .basic
                    .iter()
                    .map(|(label, _, _)| label.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("ca", &self.ca)
            .field(
                "require_client_certificate",
                &self.require_client_certificate,
            )
            .field("sni_names", &self.sni_names)
            .field("serving_sans", &self.serving_sans)
            .finish()
    }
}

/// The serving configuration without SNI certificates ([`serving_config`]).
#[cfg(test)]
fn tls_config(
    ca: &CertificateAuthority,
    require_client_certificate: bool,
) -> Result<ServerConfig, Error> {
    let sans: Vec<String> = SERVING_CERTIFICATE_SANS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    serving_config(ca, require_client_certificate, &sans, &[]).map(|(config, _)| config)
}

/// The serving configuration: ring only, HTTP/1.1, the CA's serving certificate for
/// `serving_sans` (and one per name of `sni_names`, answered to that SNI: [`BySni`]), client
/// certificates verified against the same CA. Returns the default serving certificate's PEM
/// too.
fn serving_config(
    ca: &CertificateAuthority,
    require_client_certificate: bool,
    serving_sans: &[String],
    sni_names: &[String],
) -> Result<(ServerConfig, String), Error> {
    let sans: Vec<&str> = serving_sans.iter().map(String::as_str).collect();
    let serving = ca.issue_server_certificate(&sans)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = |issued: &crate::ca::IssuedCertificate| {
        let key = provider
            .key_provider
            .load_private_key(issued.key_der())
            .map_err(|e| Error::Tls {
                what: "serving key",
                source: Box::new(e),
            })?;
        Ok::<_, Error>(Arc::new(CertifiedKey::new(vec![issued.der()], key)))
    };
    let by_sni = BySni {
        default: certified(&serving)?,
        named: sni_names
            .iter()
            .map(|name| {
                let issued = ca.issue_server_certificate(&[name.as_str()])?;
                Ok((name.clone(), certified(&issued)?))
            })
            .collect::<Result<_, Error>>()?,
    };

    let mut roots = RootCertStore::empty();
    roots.add(ca.der()).map_err(|e| Error::Tls {
        what: "CA certificate",
        source: Box::new(e),
    })?;
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
    let verifier = if require_client_certificate {
        verifier
    } else {
        verifier.allow_unauthenticated()
    }
    .build()
    .map_err(|e| Error::Tls {
        what: "client-certificate verifier",
        source: Box::new(e),
    })?;

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls {
            what: "protocol versions",
            source: Box::new(e),
        })?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(by_sni));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, serving.cert_pem().to_owned()))
}

/// The serving certificate by the handshake's SNI: one of
/// [`ApiServerBuilder::sni_certificate`]'s names gets its own, anything else (no SNI included)
/// the default.
#[derive(Debug)]
struct BySni {
    default: Arc<CertifiedKey>,
    named: Vec<(String, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let named = hello.server_name().and_then(|sni| {
            self.named
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(sni))
        });
        Some(Arc::clone(named.map_or(&self.default, |(_, key)| key)))
    }
}

/// The server thread: builds the runtime, reports back, serves until shut down. The
/// runtime (and every connection task) is dropped here, on this thread.
fn run(
    listener: std::net::TcpListener,
    state: Arc<State>,
    shutdown: oneshot::Receiver<()>,
    ready: mpsc::SyncSender<io::Result<()>>,
) {
    // Timers (a watch's `timeoutSeconds`) come with hyper-util's `tokio` feature.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let listener = {
        let _entered = runtime.enter();
        match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        }
    };
    if ready.send(Ok(())).is_err() {
        return;
    }
    runtime.block_on(serve(listener, state, shutdown));
}

async fn serve(listener: TcpListener, state: Arc<State>, mut shutdown: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            // A message or a dropped sender: either way, stop.
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // As kube-apiserver (Go) does: no Nagle delay on small responses.
                    let _ = stream.set_nodelay(true);
                    let acceptor = lock(&state.acceptor).clone();
                    tokio::spawn(connection(stream, acceptor, Arc::clone(&state)));
                }
                // Per-connection failures (a client that reset before accept, out of file
                // descriptors for a moment): keep serving the others.
                Err(_) => tokio::task::yield_now().await,
            },
        }
    }
}

/// Counts a connection of its generation open while it lives.
struct OpenConnection {
    state: Arc<State>,
    generation: u64,
}

impl OpenConnection {
    fn new(state: &Arc<State>) -> Self {
        let generation = *state.generation.borrow();
        *lock(&state.connections).entry(generation).or_default() += 1;
        Self {
            state: Arc::clone(state),
            generation,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.state.connections).get_mut(&self.generation) {
            *count -= 1;
        }
        self.state.closed.notify_all();
    }
}

async fn connection(stream: TcpStream, acceptor: TlsAcceptor, state: Arc<State>) {
    let _open = OpenConnection::new(&state);
    let Ok(tls) = acceptor.accept(stream).await else {
        // A failed handshake (no client certificate when one is required, an untrusted
        // CA on the client's side, ...) ends the connection; nothing to record.
        return;
    };
    let client_common_name = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| state.client_common_name(leaf.as_ref()));
    let sni: Option<Arc<str>> = tls.get_ref().1.server_name().map(Arc::from);
    let mut rotations = state.generation.subscribe();
    let service = service_fn(move |request: Request<Incoming>| {
        let response =
            state.handle_with_sni(&request, client_common_name.as_deref(), sni.as_deref());
        async move { Ok::<_, Infallible>(response) }
    });
    // Errors here are the client's (a reset, a malformed request): the connection ends.
    let served = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(tls), service);
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => return,
        // A serving-certificate rotation: finish the request in flight, then close, so the
        // client's next request makes a new connection (and handshake).
        _ = rotations.changed() => served.as_mut().graceful_shutdown(),
    }
    let _ = served.await;
}

/// What the server thread shares with the [`ApiServer`] handle.
struct State {
    /// The TLS acceptor new connections use (replaced by a serving-certificate rotation).
    acceptor: Mutex<TlsAcceptor>,
    require_client_certificate: bool,
    /// The names answered with a certificate of their own ([`BySni`]).
    sni_names: Vec<String>,
    /// The default serving certificate's SANs ([`ApiServerBuilder::serving_sans`]).
    serving_sans: Vec<String>,
    /// The default serving certificate, PEM ([`ApiServer::serving_certificate_pem`]).
    serving_pem: Mutex<String>,
    /// Bumped to make every open connection finish its request and close.
    generation: watch::Sender<u64>,
    /// Open connections per generation, and a signal when one closes.
    connections: Mutex<std::collections::HashMap<u64, usize>>,
    closed: std::sync::Condvar,
    tokens: Mutex<Vec<(String, SecretString)>>,
    /// (label, user name, password).
    basic: Mutex<Vec<(String, String, SecretString)>>,
    forbidden_namespaces: Mutex<Vec<String>>,
    /// The pods, their `resourceVersion`s and the open watches.
    pods: PodStore,
    requests: Mutex<Vec<RecordedRequest>>,
    clients: ClientRegistry,
    addr: SocketAddr,
}

impl State {
    fn add_token(&self, label: String, token: SecretString) {
        let mut tokens = lock(&self.tokens);
        match tokens.iter_mut().find(|(known, _)| *known == label) {
            Some(entry) => entry.1 = token,
            None => tokens.push((label, token)),
        }
    }

    fn add_basic(&self, label: String, user: String, password: SecretString) {
        let mut basic = lock(&self.basic);
        basic.retain(|(known, _, _)| *known != label);
        basic.push((label, user, password));
    }

    /// The common name of a verified client certificate: from the CA's record of the client
    /// certificates it issued, `"unknown"` for one it did not issue through
    /// [`CertificateAuthority::issue_client_certificate`].
    fn client_common_name(&self, leaf_der: &[u8]) -> String {
        lock(&self.clients)
            .get(leaf_der)
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// [`State::handle_with_sni`] for a handshake without SNI.
    #[cfg(test)]
    fn handle<B>(
        &self,
        request: &Request<B>,
        client_common_name: Option<&str>,
    ) -> Response<ServerBody> {
        self.handle_with_sni(request, client_common_name, None)
    }

    /// Authenticates, records (with the handshake's SNI, `sni`), then answers.
    fn handle_with_sni<B>(
        &self,
        request: &Request<B>,
        client_common_name: Option<&str>,
        sni: Option<&str>,
    ) -> Response<ServerBody> {
        let authentication = self.authenticate(request.headers(), client_common_name);
        let header = |name| {
            request
                .headers()
                .get(name)
                .map(|value: &HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        lock(&self.requests).push(RecordedRequest {
            method: request.method().to_string(),
            path: request.uri().path_and_query().map_or_else(
                || request.uri().path().to_owned(),
                |pq| pq.as_str().to_owned(),
            ),
            host: header(HOST),
            user_agent: header(USER_AGENT),
            sni: sni.map(str::to_owned),
            authentication: authentication.clone(),
            impersonation: request
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str().starts_with("impersonate-"))
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        });

        let user = match &authentication {
            Authentication::Anonymous
            | Authentication::UnknownToken
            | Authentication::UnknownBasic => {
                return whole(json(StatusCode::UNAUTHORIZED, responses::unauthorized()));
            }
            Authentication::Token { label } | Authentication::Basic { label } => label.clone(),
            Authentication::ClientCertificate { common_name } => common_name.clone(),
        };
        if request.method() != Method::GET {
            return whole(json(
                StatusCode::METHOD_NOT_ALLOWED,
                responses::method_not_allowed(),
            ));
        }
        let path = request.uri().path();
        if let Some(namespace) = pods_namespace(path) {
            return self.pods(namespace, request.uri().query(), &user);
        }
        if let Some((namespace, name)) = pod_path(path) {
            return whole(self.pod(namespace, name, &user));
        }
        whole(match path {
            "/api" => json(StatusCode::OK, responses::api_versions(self.addr)),
            "/apis" => json(StatusCode::OK, responses::api_group_list()),
            "/version" => json(StatusCode::OK, responses::version()),
            _ => json(StatusCode::NOT_FOUND, responses::not_found()),
        })
    }

    /// `GET /api/v1/namespaces/{namespace}/pods`, a list or a watch, for an authenticated
    /// `user`.
    fn pods(&self, namespace: &str, query: Option<&str>, user: &str) -> Response<ServerBody> {
        let watch = match WatchQuery::parse(query) {
            Ok(watch) => watch,
            Err(message) => {
                return whole(json(
                    StatusCode::BAD_REQUEST,
                    responses::bad_request(&message),
                ))
            }
        };
        if lock(&self.forbidden_namespaces)
            .iter()
            .any(|n| n == namespace)
        {
            let verb = if watch.is_some() { "watch" } else { "list" };
            return whole(json(
                StatusCode::FORBIDDEN,
                responses::forbidden_pods(user, verb, namespace),
            ));
        }
        let Some(watch) = watch else {
            let (version, pods) = self.pods.list(namespace);
            return whole(json(StatusCode::OK, responses::pod_list(version, &pods)));
        };
        let since = watch.since.filter(|_| !watch.send_initial_events);
        let body = self
            .pods
            .watch(namespace, since, watch.timeout, watch.send_initial_events);
        let mut response = Response::new(Either::Right(body));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
        response
    }

    /// `GET /api/v1/namespaces/{namespace}/pods/{name}`, for an authenticated `user`: the pod
    /// (with `kind` and `apiVersion`), `404` `NotFound` as kube-apiserver words it, or `403`.
    fn pod(&self, namespace: &str, name: &str, user: &str) -> Response<Full<Bytes>> {
        if lock(&self.forbidden_namespaces)
            .iter()
            .any(|n| n == namespace)
        {
            return json(
                StatusCode::FORBIDDEN,
                responses::forbidden_pods(user, "get", namespace),
            );
        }
        match self.pods.get(namespace, name) {
            Some(pod) => json(StatusCode::OK, responses::pod(&pod, true)),
            None => json(StatusCode::NOT_FOUND, responses::pod_not_found(name)),
        }
    }

    /// kube-apiserver's order: a bearer token first (an unknown one fails, whatever else
    /// came along), then basic authentication (likewise), then the client certificate;
    /// anonymous otherwise.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        client_common_name: Option<&str>,
    ) -> Authentication {
        if let Some(token) = bearer_token(headers) {
            return lock(&self.tokens)
                .iter()
                .find(|(_, known)| known.expose_secret() == token)
                .map_or(Authentication::UnknownToken, |(label, _)| {
                    Authentication::Token {
                        label: label.clone(),
                    }
                });
        }
        if let Some(basic) = basic_credentials(headers) {
            let Some((user, password)) = basic else {
                return Authentication::UnknownBasic;
            };
            return lock(&self.basic)
                .iter()
                .find(|(_, known_user, known_password)| {
                    *known_user == user
                        && known_password.expose_secret() == password.expose_secret()
                })
                .map_or(Authentication::UnknownBasic, |(label, _, _)| {
                    Authentication::Basic {
                        label: label.clone(),
                    }
                });
        }
        match client_common_name {
            Some(common_name) => Authentication::ClientCertificate {
                common_name: common_name.to_owned(),
            },
            None => Authentication::Anonymous,
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header, parsed as kube-apiserver does
/// (scheme case-insensitive, value trimmed, an empty token is no token).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The user name and password of an `Authorization: Basic <base64 of user:password>` header
/// (scheme case-insensitive): `None` without such a header, `Some(None)` for one that does
/// not decode to `user:password` in UTF-8.
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, SecretString)>> {
    use base64::Engine as _;
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    Some(decoded.and_then(|text| {
        let (user, password) = text.split_once(':')?;
        Some((user.to_owned(), SecretString::from(password)))
    }))
}

/// What a pods request's query asks of a watch.
#[derive(Debug, PartialEq, Eq)]
struct WatchQuery {
    /// `resourceVersion`: replay the changes after it (`None`: start from the current pods).
    since: Option<u64>,
    /// `timeoutSeconds`.
    timeout: Option<std::time::Duration>,
    /// `sendInitialEvents=true` (a streaming list): the current pods as `ADDED`, then a
    /// `BOOKMARK` annotated `k8s.io/initial-events-end`, whatever `resourceVersion` says.
    send_initial_events: bool,
}

impl WatchQuery {
    /// `None` for a list (no `watch`, or a false one); an error message for a parameter that
    /// does not parse. Values are taken as written (no percent-decoding: they are numbers and
    /// booleans).
    fn parse(query: Option<&str>) -> Result<Option<WatchQuery>, String> {
        let mut watch = false;
        let mut since = None;
        let mut timeout = None;
        let mut send_initial_events = false;
        for pair in query.unwrap_or("").split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = |value: &str| {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("invalid {name}: {value:?} is not a whole number"))
            };
            match name {
                // Go's strconv.ParseBool, which kube-apiserver decodes `watch` with.
                "watch" => watch = parse_bool(name, value)?,
                "resourceVersion" if !value.is_empty() => {
                    since = Some(number(value)?).filter(|&version| version != 0);
                }
                "sendInitialEvents" => send_initial_events = parse_bool(name, value)?,
                "timeoutSeconds" if !value.is_empty() => {
                    timeout = Some(number(value)?)
                        .filter(|&seconds| seconds != 0)
                        .map(std::time::Duration::from_secs);
                }
                _ => {}
            }
        }
        Ok(watch.then_some(WatchQuery {
            since,
            timeout,
            send_initial_events,
        }))
    }
}

/// Go's `strconv.ParseBool`, which kube-apiserver decodes its boolean parameters with.
fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid {name}: {value:?} is not a boolean")),
    }
}

/// `{ns}` of `/api/v1/namespaces/{ns}/pods`.
fn pods_namespace(path: &str) -> Option<&str> {
    let namespace = path
        .strip_prefix("/api/v1/namespaces/")?
        .strip_suffix("/pods")?;
    (!namespace.is_empty() && !namespace.contains('/')).then_some(namespace)
}

/// `{ns}` and `{name}` of `/api/v1/namespaces/{ns}/pods/{name}`.
fn pod_path(path: &str) -> Option<(&str, &str)> {
    let (namespace, name) = path
        .strip_prefix("/api/v1/namespaces/")?
        .split_once("/pods/")?;
    let part = |s: &str| !s.is_empty() && !s.contains('/');
    (part(namespace) && part(name)).then_some((namespace, name))
}

/// A whole body as the server's body type.
fn whole(response: Response<Full<Bytes>>) -> Response<ServerBody> {
    response.map(Either::Left)
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    response
}

/// Locks, recovering from poisoning (a panicking test must not take the server down).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_parse_like_kube_apiserver() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("  Bearer abc  ")), Some("abc"));
        assert_eq!(bearer_token(&headers("Bearer abc extra")), Some("abc"));
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&headers("Bearer  abc")), None);
        assert_eq!(
            bearer_token(&headers("Basic YWxhZGRpbjpvcGVuc2VzYW1l")),
            None
        );
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn watch_queries() {
        let parse = WatchQuery::parse;
        let secs = std::time::Duration::from_secs;
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some("limit=5&watch=false")), Ok(None));
        for watch in ["watch=true", "watch=1", "watch=True"] {
            assert_eq!(
                parse(Some(watch)),
                Ok(Some(WatchQuery {
                    since: None,
                    timeout: None,
                    send_initial_events: false
                }))
            );
        }
        assert_eq!(
            parse(Some(
                "allowWatchBookmarks=true&resourceVersion=12&timeoutSeconds=3&watch=1"
            )),
            Ok(Some(WatchQuery {
                since: Some(12),
                timeout: Some(secs(3)),
                send_initial_events: false
            }))
        );
        assert_eq!(
            parse(Some("watch=true&resourceVersion=0&timeoutSeconds=0")),
            Ok(Some(WatchQuery {
                since: None,
                timeout: None,
                send_initial_events: false
            }))
        );
        assert_eq!(
            parse(Some("watch=true&resourceVersion=")),
            Ok(Some(WatchQuery {
                since: None,
                timeout: None,
                send_initial_events: false
            }))
        );
        assert_eq!(
            parse(Some(
                "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=4"
            )),
            Ok(Some(WatchQuery {
                since: Some(4),
                timeout: None,
                send_initial_events: true
            }))
        );
        assert!(parse(Some("watch=yes")).is_err());
        assert!(parse(Some("watch=1&sendInitialEvents=yes")).is_err());
        assert!(parse(Some("watch=1&resourceVersion=abc")).is_err());
        assert!(parse(Some("watch=1&timeoutSeconds=-1")).is_err());
    }

    #[test]
    fn pods_route() {
        assert_eq!(
            pods_namespace("/api/v1/namespaces/team-a/pods"),
            Some("team-a")
        );
        assert_eq!(pods_namespace("/api/v1/namespaces//pods"), None);
        assert_eq!(pods_namespace("/api/v1/namespaces/a/b/pods"), None);
        assert_eq!(pods_namespace("/api/v1/namespaces/a/pods/x"), None);
        assert_eq!(
            pod_path("/api/v1/namespaces/a/pods/web"),
            Some(("a", "web"))
        );
        assert_eq!(pod_path("/api/v1/namespaces/a/pods/"), None);
        assert_eq!(pod_path("/api/v1/namespaces/a/pods/web/log"), None);
        assert_eq!(pod_path("/api/v1/namespaces//pods/web"), None);
    }

    fn state() -> State {
        let ca = CertificateAuthority::new("unit-test CA").unwrap();
        State {
            acceptor: Mutex::new(TlsAcceptor::from(Arc::new(tls_config(&ca, false).unwrap()))),
            require_client_certificate: false,
            sni_names: Vec::new(),
            serving_sans: Vec::new(),
            serving_pem: Mutex::default(),
            generation: watch::Sender::new(0),
            connections: Mutex::default(),
            closed: std::sync::Condvar::new(),
            tokens: Mutex::new(vec![(
                "alice".to_owned(),
                SecretString::from("alice-token"),
            )]),
            basic: Mutex::new(vec![(
                "carol".to_owned(),
                "carol".to_owned(),
                SecretString::from("carol-password"),
            )]),
            requests: Mutex::default(),
            clients: ClientRegistry::default(),
            forbidden_namespaces: Mutex::default(),
            pods: PodStore::default(),
            addr: "127.0.0.1:6443".parse().unwrap(),
        }
    }

    fn get(path: &str, authorization: Option<&str>) -> Request<()> {
        let mut request = Request::get(path).header(HOST, "kubernetes.default.svc");
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn a_token_wins_over_a_certificate() {
        let state = state();
        let unknown = state.handle(&get("/api", Some("Bearer nope")), Some("bob"));
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
        let known = state.handle(&get("/api", Some("Bearer alice-token")), Some("bob"));
        assert_eq!(known.status(), StatusCode::OK);
        let cert = state.handle(&get("/api", None), Some("bob"));
        assert_eq!(cert.status(), StatusCode::OK);
        let anonymous = state.handle(&get("/api", None), None);
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

        let log: Vec<Authentication> = lock(&state.requests)
            .iter()
            .map(|r| r.authentication.clone())
            .collect();
        assert_eq!(
            log,
            vec![
                Authentication::UnknownToken,
                Authentication::Token {
                    label: "alice".to_owned()
                },
                Authentication::ClientCertificate {
                    common_name: "bob".to_owned()
                },
                Authentication::Anonymous,
            ]
        );
    }

    #[test]
    fn basic_auth_and_impersonation_are_recorded() {
        use base64::Engine as _;
        let state = state();
        let basic = |pair: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        let known = Request::get("/api")
            .header(AUTHORIZATION, basic("carol:carol-password"))
            .header("Impersonate-User", "dave")
            .header("Impersonate-Group", "a")
            .header("Impersonate-Group", "b")
            .body(())
            .unwrap();
        assert_eq!(state.handle(&known, None).status(), StatusCode::OK);
        for wrong in [
            basic("carol:wrong"),
            basic("nobody:carol-password"),
            basic("no-colon"),
            "Basic !!!".to_owned(),
        ] {
            let request = Request::get("/api")
                .header(AUTHORIZATION, wrong)
                .body(())
                .unwrap();
            assert_eq!(
                state.handle(&request, Some("bob")).status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let requests = lock(&state.requests);
        assert_eq!(
            requests[0].authentication,
            Authentication::Basic {
                label: "carol".to_owned()
            }
        );
        assert_eq!(
            requests[0].impersonation,
            [
                ("impersonate-user".to_owned(), "dave".to_owned()),
                ("impersonate-group".to_owned(), "a".to_owned()),
                ("impersonate-group".to_owned(), "b".to_owned()),
            ]
        );
        assert!(requests[1..].iter().all(
            |r| r.authentication == Authentication::UnknownBasic && r.impersonation.is_empty()
        ));
    }

    #[test]
    fn client_common_names_come_from_the_ca_record() {
        let ca = CertificateAuthority::new("test CA").unwrap();
        let state = State {
            clients: ca.clients(),
            ..state()
        };
        let alice = ca.issue_client_certificate("alice").unwrap();
        assert_eq!(state.client_common_name(alice.der().as_ref()), "alice");
        let server = ca.issue_server_certificate(&["localhost"]).unwrap();
        assert_eq!(state.client_common_name(server.der().as_ref()), "unknown");
    }

    #[test]
    fn routes_and_methods() {
        let state = state();
        let auth = Some("Bearer alice-token");
        for (path, status) in [
            ("/api", StatusCode::OK),
            ("/apis", StatusCode::OK),
            ("/version", StatusCode::OK),
            ("/api/v1/namespaces/a/pods?limit=1", StatusCode::OK),
            ("/api/v1/namespaces/a/pods/stand-in", StatusCode::OK),
            ("/api/v1/namespaces/a/pods/nope", StatusCode::NOT_FOUND),
            ("/api/v1/secrets", StatusCode::NOT_FOUND),
            ("/", StatusCode::NOT_FOUND),
        ] {
            assert_eq!(
                state.handle(&get(path, auth), None).status(),
                status,
                "{path}"
            );
        }
        let post = Request::post("/api")
            .header(AUTHORIZATION, "Bearer alice-token")
            .body(())
            .unwrap();
        assert_eq!(
            state.handle(&post, None).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );

        let requests = lock(&state.requests);
        assert_eq!(requests[3].path, "/api/v1/namespaces/a/pods?limit=1");
        assert_eq!(requests[3].host.as_deref(), Some("kubernetes.default.svc"));
        assert_eq!(requests[8].method, "POST");
    }
}
