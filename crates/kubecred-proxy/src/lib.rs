//! kubecred's proxy source: a running `kubectl proxy`.
//!
//! `kubectl proxy` listens on `127.0.0.1:8001` by default (or on a unix socket with
//! `--unix-socket`), authenticates upstream with the kubeconfig's credentials, and serves plain
//! HTTP. [`ProxySource`] implements [`ApiEndpoint`] and [`CredentialSource`] for it:
//!
//! - the address is `http://127.0.0.1:8001` ([`DEFAULT_URL`]), any `http://` loopback URL, or
//!   `unix:///path/to.sock`; anything else is *failed* (a `kubectl proxy` on a network address
//!   would hand cluster access to the network);
//! - it applies when something accepts a connection there within a short probe timeout
//!   ([`DEFAULT_PROBE_TIMEOUT`]); nothing listening is *not applicable*, naming the address;
//! - its credentials are anonymous, and its endpoint refuses credentials: `kubectl proxy`
//!   forwards a caller's `Authorization` header upstream in place of its own, so a client must
//!   never send one;
//! - it works around `kubectl proxy`'s Host filter, which accepts `localhost`, `127.0.0.1` and
//!   `[::1]` but (a long-standing bug) not `[::1]:PORT`, and explains its `403`s, which come
//!   from that filter (`--accept-hosts`, `--reject-paths`), not from the cluster's RBAC.
//!
//! ```
//! use kubecred_core::{ApiEndpoint, CredentialSource};
//! use kubecred_proxy::ProxySource;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A stand-in for `kubectl proxy`: anything listening on loopback.
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("http://{}", listener.local_addr()?);
//! let source = ProxySource::builder().url(&url).build();
//! let endpoint = source.endpoint().await?;
//! assert_eq!(endpoint.display_url(), url);
//! assert!(!endpoint.accepts_credentials());
//! assert_eq!(source.credentials().await?.kind().as_str(), "none");
//!
//! drop(listener);
//! assert!(source.endpoint().await.unwrap_err().is_not_applicable());
//! # Ok(())
//! # }
//! ```
//!
//! The key design decision: the probe is a TCP (or unix) connect, not an HTTP request, so that
//! `explain` sends no request and a busy proxy costs one accepted connection. The cost: any
//! program listening on the address counts as a proxy until the first request says otherwise.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kubecred_core::{
    is_loopback, ApiEndpoint, CredentialSource, Credentials, Endpoint, Provenance, RedactedUrl,
    Shown, SourceError, Trust,
};
use url::{Host, Url};

/// The source's name in every message and in `explain`.
pub const SOURCE_NAME: &str = "proxy";
/// Where `kubectl proxy` listens by default.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8001";
/// How long the probe waits for a connection unless [`ProxySourceBuilder::probe_timeout`]
/// says otherwise: 200 ms (loopback answers in microseconds; a filtered port would hang).
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// What a `403` from `kubectl proxy` means: its own request filter, with the flags that govern
/// it (kubectl's defaults: `--accept-hosts='^localhost$,^127\.0\.0\.1$,^\[::1\]$'`,
/// `--reject-paths='^/api/.*/pods/.*/exec,^/api/.*/pods/.*/attach'`).
pub const FORBIDDEN_HINT: &str = "refused by kubectl proxy's request filter, not by the cluster's RBAC: \
it rejects exec and attach paths (--reject-paths) and Host headers it does not accept (--accept-hosts)";

/// What a `403` from `kubectl proxy` to a request for `path` (its path and query) means: its
/// own request filter, and which part of it most likely refused. A path its default
/// `--reject-paths` matches (`^/api/.*/pods/.*/exec`, `^/api/.*/pods/.*/attach`, matched
/// against the URL path, as kubectl does) was most likely refused by that path filter; any
/// other by the Host filter (`--accept-hosts`), the other filter a default `kubectl proxy` runs
/// (its `403` says `Forbidden` either way: checked against kubectl 1.32). The client adds the
/// proxy's address and the request to the error.
pub fn forbidden_hint(path: &str) -> String {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let rejected_by_default = path.strip_prefix("/api").is_some_and(|rest| {
        rest.starts_with('/')
            && rest.find("/pods/").is_some_and(|at| {
                let after = &rest[at + "/pods/".len()..];
                after.contains("/exec") || after.contains("/attach")
            })
    });
    if rejected_by_default {
        "refused by kubectl proxy's request filter, not by the cluster's RBAC: most likely by its path filter (--reject-paths, which by default refuses the exec and attach paths of pods, as this one is)".to_owned()
    } else {
        "refused by kubectl proxy's request filter, not by the cluster's RBAC: most likely by its Host filter (--accept-hosts, by default localhost, 127.0.0.1 and [::1] only), as its default --reject-paths does not refuse this path".to_owned()
    }
}

/// The `kubectl proxy` source. See the crate documentation.
///
/// `Debug` shows the URL without a password ([`RedactedUrl`]).
#[derive(Clone)]
pub struct ProxySource {
    url: String,
    setting: Setting,
    probe_timeout: Duration,
    /// The credentials of every request: none. One `Arc`, so that the client sees the same
    /// credentials each time and keeps what it built from them.
    anonymous: Arc<Credentials>,
}

/// Where the URL came from, to name it in errors.
#[derive(Debug, Clone)]
enum Setting {
    Default,
    Named(String),
    Variable(String),
}

/// A parsed proxy address.
#[derive(Debug)]
enum Address {
    Tcp { url: Url, socket: SocketAddr },
    Unix { path: PathBuf },
}

impl fmt::Debug for ProxySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySource")
            .field("url", &RedactedUrl::unparsed(&self.url))
            .field("setting", &self.setting)
            .field("probe_timeout", &self.probe_timeout)
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl Default for ProxySource {
    fn default() -> Self {
        Self::new()
    }
}

impl ProxySource {
    /// The source at [`DEFAULT_URL`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to move the address or change the probe timeout.
    pub fn builder() -> ProxySourceBuilder {
        ProxySourceBuilder::default()
    }

    fn invalid(&self, problem: &str) -> SourceError {
        match &self.setting {
            Setting::Variable(name) => SourceError::InvalidVariable {
                variable: name.clone(),
                problem: problem.to_owned(),
            },
            Setting::Named(name) => SourceError::InvalidSetting {
                setting: name.clone(),
                problem: problem.to_owned(),
            },
            Setting::Default => SourceError::InvalidSetting {
                setting: "the proxy URL".to_owned(),
                problem: problem.to_owned(),
            },
        }
    }

    fn address(&self) -> Result<Address, SourceError> {
        if let Some(path) = self.url.strip_prefix("unix://") {
            if path.len() > kubecred_core::MAX_PATH_BYTES {
                return Err(self.invalid("names a socket path longer than 4096 bytes (PATH_MAX)"));
            }
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(self.invalid(
                    "is not unix:///absolute/path/to.sock (the socket's path must be absolute)",
                ));
            }
            return Ok(Address::Unix { path });
        }
        let url = Url::parse(&self.url).map_err(|_| {
            self.invalid("is not a URL (http://127.0.0.1:8001 or unix:///path/to.sock)")
        })?;
        if url.scheme() != "http" {
            return Err(
                self.invalid("is not an http:// or unix:// URL (kubectl proxy serves plain http)")
            );
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            return Err(self.invalid("must not carry a user name, password or query"));
        }
        if !is_loopback(&url) {
            return Err(SourceError::Refused {
                reason: format!(
                    "the proxy URL {} is not a loopback address: a kubectl proxy there would hand cluster access to the network",
                    Shown::text(url.host_str().unwrap_or_default())
                ),
            });
        }
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            // `localhost`, decided without DNS: kubectl proxy's default address.
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        Ok(Address::Tcp {
            socket: SocketAddr::new(ip, port),
            url,
        })
    }

    async fn probe(&self, address: &Address) -> Result<(), SourceError> {
        let (what, result) = match address {
            Address::Tcp { socket, .. } => (
                socket.to_string(),
                tokio::time::timeout(self.probe_timeout, tokio::net::TcpStream::connect(socket))
                    .await
                    .map(|r| r.map(drop)),
            ),
            #[cfg(unix)]
            Address::Unix { path } => (
                {
                    self.check_socket(path)?;
                    Shown::path(path).to_string()
                },
                tokio::time::timeout(self.probe_timeout, tokio::net::UnixStream::connect(path))
                    .await
                    .map(|r| r.map(drop)),
            ),
            #[cfg(not(unix))]
            Address::Unix { .. } => {
                return Err(self.invalid("is a unix socket, which this platform does not have"))
            }
        };
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SourceError::not_applicable(format!(
                "nothing listening on {what} ({})",
                io_reason(&e)
            ))),
            Err(_) => Err(SourceError::not_applicable(format!(
                "nothing answered on {what} within {} ms",
                self.probe_timeout.as_millis()
            ))),
        }
    }

    /// A path that exists but is not a unix socket is a configuration error, not "nothing
    /// listening" (connecting to a regular file says "connection refused"). A missing path is
    /// left to the probe: nothing listening, *not applicable*.
    #[cfg(unix)]
    fn check_socket(&self, path: &std::path::Path) -> Result<(), SourceError> {
        use std::os::unix::fs::FileTypeExt as _;
        match std::fs::metadata(path) {
            Ok(metadata) if !metadata.file_type().is_socket() => Err(self.invalid(&format!(
                "names {}, which is not a unix socket ({}; kubectl proxy --unix-socket creates a socket there)",
                Shown::path(path),
                if metadata.is_dir() {
                    "a directory"
                } else if metadata.is_file() {
                    "a regular file"
                } else {
                    "another kind of file"
                }
            ))),
            _ => Ok(()),
        }
    }

    fn provenance(&self, reason: String, files: Vec<PathBuf>) -> Provenance {
        let variables = match &self.setting {
            Setting::Variable(name) => vec![name.clone()],
            _ => Vec::new(),
        };
        Provenance::new(reason)
            .with_variables(variables)
            .with_files(files)
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        std::io::ErrorKind::NotFound => "no such socket".to_owned(),
        _ => e.to_string(),
    }
}

#[async_trait]
impl ApiEndpoint for ProxySource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Parses the address and probes it with a connect.
    ///
    /// # Errors
    ///
    /// *Not applicable* when nothing accepts a connection within the probe timeout (the
    /// reason names the address); [`SourceError::Refused`] for a non-loopback URL;
    /// [`SourceError::InvalidVariable`] or [`SourceError::InvalidSetting`] for a malformed one.
    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        let address = self.address()?;
        self.probe(&address).await?;
        let endpoint = match address {
            Address::Tcp { url, socket } => {
                let reason = format!("something accepts connections on {socket}");
                let mut endpoint = Endpoint::new(url, Trust::PlainHttp)
                    .with_provenance(self.provenance(reason, Vec::new()));
                if socket.ip() != IpAddr::V4(Ipv4Addr::LOCALHOST) {
                    // kubectl proxy's Host filter accepts `localhost` and `127.0.0.1` but
                    // rejects `[::1]:PORT` (a long-standing bug) and other loopback
                    // addresses: `localhost:PORT` is the same machine and passes.
                    endpoint = endpoint.with_host_header(format!("localhost:{}", socket.port()));
                }
                endpoint
            }
            Address::Unix { path } => {
                let reason = format!("something accepts connections on {}", Shown::path(&path));
                let url = Url::parse("http://localhost").expect("a valid URL");
                Endpoint::new(url, Trust::PlainHttp)
                    .with_unix_socket(&path)
                    // kubectl proxy's Host filter needs a port to split off.
                    .with_host_header("localhost:80")
                    .with_provenance(self.provenance(reason, vec![path]))
            }
        };
        Ok(endpoint
            .refusing_credentials()
            .with_forbidden_hint(FORBIDDEN_HINT)
            .with_forbidden_hint_by_path(forbidden_hint))
    }
}

#[async_trait]
impl CredentialSource for ProxySource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Always anonymous: `kubectl proxy` adds its own credentials upstream.
    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        Ok(Arc::clone(&self.anonymous))
    }

    /// Always anonymous, always at hand.
    fn current(&self) -> Option<Arc<Credentials>> {
        Some(Arc::clone(&self.anonymous))
    }
}

/// Builds a [`ProxySource`]. `Debug` shows the URL without a password ([`RedactedUrl`]).
#[derive(Clone)]
pub struct ProxySourceBuilder {
    url: String,
    setting: Setting,
    probe_timeout: Duration,
}

impl fmt::Debug for ProxySourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySourceBuilder")
            .field("url", &RedactedUrl::unparsed(&self.url))
            .field("setting", &self.setting)
            .field("probe_timeout", &self.probe_timeout)
            .finish()
    }
}

impl Default for ProxySourceBuilder {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.to_owned(),
            setting: Setting::Default,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
        }
    }
}

impl ProxySourceBuilder {
    /// The proxy's address: `http://` + a loopback host and port, or `unix:///path/to.sock`.
    /// Checked when the source is evaluated, so that a bad value is reported as *failed*.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self.setting = Setting::Default;
        self
    }

    /// Like [`ProxySourceBuilder::url`], naming the setting in errors as `setting` (e.g.
    /// "the proxy URL (--proxy-url)").
    pub fn url_from_setting(mut self, setting: impl Into<String>, url: impl Into<String>) -> Self {
        self.url = url.into();
        self.setting = Setting::Named(setting.into());
        self
    }

    /// Like [`ProxySourceBuilder::url`], for a value read from the environment variable
    /// `variable` (named in errors and in `explain`).
    pub fn url_from_variable(
        mut self,
        variable: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        self.url = url.into();
        self.setting = Setting::Variable(variable.into());
        self
    }

    /// How long the probe waits for a connection (default [`DEFAULT_PROBE_TIMEOUT`]).
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// The source. Nothing is probed until it is asked.
    pub fn build(self) -> ProxySource {
        ProxySource {
            url: self.url,
            setting: self.setting,
            probe_timeout: self.probe_timeout,
            anonymous: Arc::new(Credentials::anonymous()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn source(url: &str) -> ProxySource {
        ProxySource::builder().url(url).build()
    }

    #[tokio::test]
    async fn the_credentials_are_anonymous_and_the_same_every_time() {
        let source = source(DEFAULT_URL);
        let at_hand = source.current().unwrap();
        assert!(at_hand.token().is_none() && at_hand.identity().is_none());
        // The same `Arc`: the client keeps what it built from the last one.
        assert!(Arc::ptr_eq(&at_hand, &source.current().unwrap()));
        assert!(Arc::ptr_eq(&at_hand, &source.credentials().await.unwrap()));
    }

    #[tokio::test]
    async fn nothing_listening_is_not_applicable_naming_the_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = source(&format!("http://127.0.0.1:{port}"))
            .endpoint()
            .await
            .unwrap_err();
        assert!(err.is_not_applicable());
        assert_eq!(
            err.to_string(),
            format!("nothing listening on 127.0.0.1:{port} (connection refused)")
        );
    }

    #[tokio::test]
    async fn non_loopback_and_malformed_urls_fail() {
        for (url, want) in [
            (
                "http://10.0.0.1:8001",
                "refused: the proxy URL 10.0.0.1 is not a loopback address: a kubectl proxy there would hand cluster access to the network",
            ),
            (
                "http://proxy.kubecred.test:8001",
                "refused: the proxy URL proxy.kubecred.test is not a loopback address: a kubectl proxy there would hand cluster access to the network",
            ),
            (
                "https://127.0.0.1:8001",
                "the proxy URL is not an http:// or unix:// URL (kubectl proxy serves plain http)",
            ),
            ("127.0.0.1:8001", "the proxy URL is not a URL (http://127.0.0.1:8001 or unix:///path/to.sock)"),
            ("not a url", "the proxy URL is not a URL (http://127.0.0.1:8001 or unix:///path/to.sock)"),
            (
                "unix://relative.sock",
                "the proxy URL is not unix:///absolute/path/to.sock (the socket's path must be absolute)",
            ),
        ] {
            let err = source(url).endpoint().await.unwrap_err();
            assert!(!err.is_not_applicable(), "{url}");
            assert_eq!(err.to_string(), want, "{url}");
        }
        let err = ProxySource::builder()
            .url_from_variable("KUBECRED_PROXY_URL", "ftp://127.0.0.1")
            .build()
            .endpoint()
            .await
            .unwrap_err();
        assert_eq!(err.variables(), ["KUBECRED_PROXY_URL"]);
    }

    #[tokio::test]
    async fn ipv6_and_unix_sockets_get_a_host_header_the_filter_accepts() {
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        let port = v6.local_addr().unwrap().port();
        let e = source(&format!("http://[::1]:{port}"))
            .endpoint()
            .await
            .unwrap();
        assert_eq!(e.host_header(), Some(format!("localhost:{port}").as_str()));
        assert!(!e.accepts_credentials());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let e = source(&format!("unix://{}", path.display()))
            .endpoint()
            .await
            .unwrap();
        assert_eq!(e.unix_socket(), Some(path.as_path()));
        assert_eq!(e.display_url(), format!("unix://{}", path.display()));
        assert_eq!(e.provenance().files, std::slice::from_ref(&path));
        drop(_listener);
        std::fs::remove_file(&path).unwrap();
        let err = source(&format!("unix://{}", path.display()))
            .endpoint()
            .await
            .unwrap_err();
        assert!(err.is_not_applicable(), "{err}");
    }

    #[tokio::test]
    async fn a_unix_path_that_is_not_a_socket_fails_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("proxy.sock");
        std::fs::write(&file, "").unwrap();
        for (path, kind) in [
            (&file, "a regular file"),
            (&dir.path().to_owned(), "a directory"),
        ] {
            let err = ProxySource::builder()
                .url_from_setting(
                    "the proxy URL (--proxy-url)",
                    format!("unix://{}", path.display()),
                )
                .build()
                .endpoint()
                .await
                .unwrap_err();
            assert!(!err.is_not_applicable(), "{err}");
            assert_eq!(
                err.to_string(),
                format!(
                    "the proxy URL (--proxy-url) names {}, which is not a unix socket ({kind}; kubectl proxy --unix-socket creates a socket there)",
                    path.display()
                )
            );
        }
        // A missing path is still nothing listening.
        let err = source(&format!(
            "unix://{}",
            dir.path().join("missing.sock").display()
        ))
        .endpoint()
        .await
        .unwrap_err();
        assert!(err.is_not_applicable(), "{err}");
        assert!(err.to_string().ends_with("(no such socket)"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_url_s_password() {
        let url = "http://user:s3cr3t-canary@127.0.0.1:3128";
        let builder = ProxySource::builder().url(url);
        let source = builder.clone().build();
        for shown in [
            format!("{builder:?}"),
            format!("{builder:#?}"),
            format!("{source:?}"),
            format!("{source:#?}"),
        ] {
            assert!(!shown.contains("s3cr3t-canary"), "{shown}");
            assert!(shown.contains("user:[redacted]@127.0.0.1:3128"), "{shown}");
        }
    }

    #[test]
    fn ipv6_literal_parses() {
        assert!(matches!(
            source("http://[::1]:8001").address().unwrap(),
            Address::Tcp { socket, .. } if socket.ip() == IpAddr::V6(Ipv6Addr::LOCALHOST)
        ));
    }

    /// kubectl proxy's default `--reject-paths` (`^/api/.*/pods/.*/exec`,
    /// `^/api/.*/pods/.*/attach`, on the URL path) decides which filter the hint names.
    #[test]
    fn the_forbidden_hint_names_the_filter_that_most_likely_refused() {
        let path_filter = "most likely by its path filter (--reject-paths";
        let host_filter = "most likely by its Host filter (--accept-hosts";
        for path in [
            "/api/v1/namespaces/a/pods/web/exec?command=ls",
            "/api/v1/namespaces/a/pods/web/attach",
            "/api/v1/namespaces/a/pods/web/execute",
        ] {
            assert!(forbidden_hint(path).contains(path_filter), "{path}");
        }
        for path in [
            "/api",
            "/api/v1/namespaces/a/pods",
            "/apis/apps/v1/namespaces/a/pods/web/exec",
            "/api/v1/namespaces/a/pods/web/log?q=/exec",
            "/version",
        ] {
            assert!(forbidden_hint(path).contains(host_filter), "{path}");
        }
        assert!(forbidden_hint("/api")
            .starts_with("refused by kubectl proxy's request filter, not by the cluster's RBAC"));
    }
}
