//! Where the API server is and how to trust it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::CertificateDer;
use url::{Host, Url};

use crate::{Cached, Clock, Origin, RefreshPolicy, SourceError};

/// A PEM bundle of CA certificates that verifies the API server's serving certificate.
///
/// A bundle may hold several certificates (during a CA rotation the kubelet's `ca.crt` holds
/// the old and the new CA); the server's issuer may be any of them.
#[derive(Clone)]
pub struct CaBundle {
    certificates: Arc<[CertificateDer<'static>]>,
    origin: Origin,
}

impl CaBundle {
    /// Parses every `CERTIFICATE` block of `pem`; other blocks are skipped.
    ///
    /// # Errors
    ///
    /// [`SourceError::InvalidCaBundle`] naming `origin` when `pem` is malformed or holds no
    /// certificate. There is never a fall back to the system roots.
    pub fn from_pem(pem: &[u8], origin: Origin) -> Result<Self, SourceError> {
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SourceError::InvalidCaBundle {
                origin: origin.clone(),
                problem: pem_problem(&e).to_owned(),
            })?;
        if certificates.is_empty() {
            return Err(SourceError::InvalidCaBundle {
                origin,
                problem: "holds no PEM certificate".to_owned(),
            });
        }
        Ok(Self {
            certificates: certificates.into(),
            origin,
        })
    }

    /// The certificates, in file order.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// Where the bundle came from (named in TLS verification errors).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("origin", &self.origin)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// What is wrong with malformed PEM, in kubecred's own words. The parser's own message
/// quotes its input (a whole line, as a list of byte values), which may hold a private key
/// or a 3 KB bundle: it is never shown.
pub(crate) fn pem_problem(error: &pem::Error) -> &'static str {
    match error {
        pem::Error::IllegalSectionStart { .. } => {
            "is not valid PEM: a line that starts a block holds more than its -----BEGIN ...----- marker (is the PEM on one line, with spaces or literal \\n instead of newlines?)"
        }
        pem::Error::MissingSectionEnd { .. } => {
            "is not valid PEM: a block has no -----END ...----- line"
        }
        pem::Error::Base64Decode(_) => {
            "is not valid PEM: the body of a block is not valid base64"
        }
        pem::Error::SectionTooLarge => "is not valid PEM: a block is too large",
        _ => "is not valid PEM",
    }
}

/// A CA bundle read from a file and re-read as the file rotates (the kubelet's projected
/// `ca.crt`, `KUBE_CLUSTER_CA_CERT_FILE`): new connections verify against the current roots;
/// a re-read that fails keeps the old roots and logs a warning.
pub struct CaFile {
    path: PathBuf,
    cache: Cached<CaBundle>,
}

impl CaFile {
    /// Reads `path` now and re-reads it when `policy` says so, on `clock`'s time.
    ///
    /// # Errors
    ///
    /// Those of [`crate::read_ca_bundle_file`] for the first read.
    pub fn open(
        path: impl Into<PathBuf>,
        policy: RefreshPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SourceError> {
        let path = path.into();
        let cache = Cached::new(
            format!("CA bundle file {}", crate::Shown::path(&path)),
            policy,
            clock,
        );
        cache.get(|| crate::read_ca_bundle_file(&path))?;
        Ok(Self { path, cache })
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The current bundle, reading the file first when it is due (after
    /// [`RefreshPolicy::period`]): unlike [`Cached::current`], which never reads, this may
    /// read the file, so it is called where a read is affordable (a TLS handshake), not on
    /// every request. At most one caller reads at a time; a failed read keeps the last good
    /// bundle (and warns).
    pub fn read_current(&self) -> Arc<CaBundle> {
        match self.cache.get(|| crate::read_ca_bundle_file(&self.path)) {
            Ok(bundle) => bundle,
            // The first read succeeded in `open`, so a value is always cached.
            Err(_) => self.cache.peek().expect("CaFile::open cached a bundle"),
        }
    }

    /// How many times the file was read (for tests and benchmarks).
    pub fn reads(&self) -> u64 {
        self.cache.loads()
    }
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("cache", &self.cache)
            .finish()
    }
}

/// How the client verifies the API server's serving certificate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Trust {
    /// Only these CA certificates, fixed; never the system roots.
    CaBundle(CaBundle),
    /// Only the certificates of this file, re-read as it rotates (in-cluster: the pod's
    /// `ca.crt`); never the system roots.
    CaFile(Arc<CaFile>),
    /// The operating system's root certificates.
    SystemRoots,
    /// No verification at all. Dangerous: the client warns on every use.
    InsecureSkipVerify,
    /// Plain `http://`: there is no certificate (a `kubectl proxy` on loopback).
    PlainHttp,
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::CaBundle(bundle) => write!(f, "the CA bundle from {}", bundle.origin()),
            Trust::CaFile(file) => {
                write!(
                    f,
                    "the CA bundle from file {}",
                    crate::Shown::path(file.path())
                )
            }
            Trust::SystemRoots => f.write_str("the system root certificates"),
            Trust::InsecureSkipVerify => f.write_str("nothing (insecure: verification is off)"),
            Trust::PlainHttp => f.write_str("nothing (plain http)"),
        }
    }
}

/// Why a source applied and what it read: reported by `explain`, never holding a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provenance {
    /// Why the source applies (e.g. "KUBERNETES_SERVICE_HOST and _PORT are set").
    pub reason: String,
    /// Names of the environment variables it read.
    pub variables: Vec<String>,
    /// Paths of the files it read.
    pub files: Vec<PathBuf>,
}

impl Provenance {
    /// A provenance with a reason and nothing read.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            ..Self::default()
        }
    }

    /// Adds variable names.
    pub fn with_variables<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.variables.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds file paths.
    pub fn with_files<P: Into<PathBuf>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.files.extend(paths.into_iter().map(Into::into));
        self
    }
}

/// A URL as it may be shown: without its password (`http://user:[redacted]@proxy.test:3128/`),
/// the user name, host, port, path and query kept. Both `Display` and `Debug` redact (`Debug`
/// shows the redacted text in quotes), so it is what every `Debug` implementation and message
/// of kubecred uses for a URL that may carry credentials (a proxy URL from `HTTPS_PROXY`, a
/// builder's URL setting).
///
/// ```
/// use kubecred_core::RedactedUrl;
/// let url = url::Url::parse("http://user:s3cret@proxy.test:3128").unwrap();
/// assert_eq!(RedactedUrl::new(&url).to_string(), "http://user:[redacted]@proxy.test:3128/");
/// assert_eq!(format!("{:?}", RedactedUrl::new(&url)), r#""http://user:[redacted]@proxy.test:3128/""#);
/// // A URL not parsed yet (a setting, checked later) is redacted by its text.
/// assert_eq!(RedactedUrl::unparsed("user:s3cret@proxy.test:3128").to_string(), "user:[redacted]@proxy.test:3128");
/// ```
#[derive(Clone, Copy)]
pub struct RedactedUrl<'a>(Shown<'a>);

#[derive(Clone, Copy)]
enum Shown<'a> {
    Parsed(&'a Url),
    Text(&'a str),
}

impl<'a> RedactedUrl<'a> {
    /// Shows `url` without its password.
    pub fn new(url: &'a Url) -> Self {
        Self(Shown::Parsed(url))
    }

    /// Shows `text`, a URL that may not parse (a setting not checked yet), without its
    /// password. When it parses as a URL with `://`, exactly as [`RedactedUrl::new`] does;
    /// otherwise, cautiously: when an `@` follows a `:` after the scheme (or from the start,
    /// without one), everything between the first such `:` and the last `@` is redacted.
    pub fn unparsed(text: &'a str) -> Self {
        Self(Shown::Text(text))
    }
}

fn write_redacted(url: &Url, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if url.password().is_none() {
        return f.write_str(url.as_str());
    }
    write!(
        f,
        "{}:[redacted]{}",
        &url[..url::Position::AfterUsername],
        &url[url::Position::AfterPassword..]
    )
}

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0 {
            Shown::Parsed(url) => return write_redacted(url, f),
            Shown::Text(text) => text,
        };
        let start = match text.find("://") {
            Some(scheme_end) => {
                if let Ok(url) = Url::parse(text) {
                    return write_redacted(&url, f);
                }
                scheme_end + 3
            }
            None => 0,
        };
        let rest = &text[start..];
        match rest
            .rfind('@')
            .and_then(|at| rest[..at].find(':').map(|colon| (colon, at)))
        {
            Some((colon, at)) => write!(
                f,
                "{}[redacted]{}",
                &text[..start + colon + 1],
                &text[start + at..]
            ),
            None => f.write_str(text),
        }
    }
}

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

/// A resolved API server: its base URL, how to trust it, the default namespace, and whether it
/// may receive credentials.
///
/// The base URL may carry a path prefix (`https://rancher.example/k8s/clusters/c-1`): request
/// paths are appended to it. `Debug` shows the URLs without a password ([`RedactedUrl`]).
#[derive(Clone)]
pub struct Endpoint {
    url: Url,
    unix_socket: Option<PathBuf>,
    host_header: Option<String>,
    forbidden_hint: Option<String>,
    forbidden_hint_by_path: Option<fn(&str) -> String>,
    ca_hint: Option<String>,
    headers: Vec<(String, String)>,
    trust: Trust,
    tls_server_name: Option<String>,
    namespace: String,
    accepts_credentials: bool,
    proxy: Option<Url>,
    provenance: Provenance,
}

impl Endpoint {
    /// An endpoint at `url` verified with `trust`; namespace `default`; it accepts credentials;
    /// no HTTP proxy; provenance "configured in code".
    pub fn new(url: Url, trust: Trust) -> Self {
        Self {
            url,
            unix_socket: None,
            host_header: None,
            forbidden_hint: None,
            forbidden_hint_by_path: None,
            ca_hint: None,
            headers: Vec::new(),
            trust,
            tls_server_name: None,
            namespace: "default".to_owned(),
            accepts_credentials: true,
            proxy: None,
            provenance: Provenance::new("configured in code"),
        }
    }

    /// Connects to this unix socket instead of the URL's host and port (the URL still gives
    /// the scheme, the `Host` header and the path prefix).
    pub fn with_unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.unix_socket = Some(path.into());
        self
    }

    /// Sends this `Host` header (unless the caller sets one) instead of the URL's authority:
    /// `kubectl proxy` rejects `[::1]:PORT` while it listens on `[::1]`.
    pub fn with_host_header(mut self, host: impl Into<String>) -> Self {
        self.host_header = Some(host.into());
        self
    }

    /// Explains a `403` whose body is not a Kubernetes `Status` (it did not come from the API
    /// server's authorizer): e.g. `kubectl proxy`'s request filter, naming its flags.
    pub fn with_forbidden_hint(mut self, hint: impl Into<String>) -> Self {
        self.forbidden_hint = Some(hint.into());
        self
    }

    /// Explains a `403` whose body is not a Kubernetes `Status` by the request's path (and
    /// query): `hint(path)` is the explanation, e.g. which of `kubectl proxy`'s filters most
    /// likely refused that path. Takes precedence over [`Endpoint::with_forbidden_hint`].
    pub fn with_forbidden_hint_by_path(mut self, hint: fn(&str) -> String) -> Self {
        self.forbidden_hint_by_path = Some(hint);
        self
    }

    /// Says where to give the CA that issued the server's certificate, for a server whose
    /// certificate's issuer the endpoint's trust does not know (with [`Trust::SystemRoots`]:
    /// `set KUBE_CLUSTER_CA_CERT_FILE or KUBE_CLUSTER_CA_CERT_DATA`): the client adds it to
    /// the TLS error. It names variables or fields, never a value.
    pub fn with_ca_hint(mut self, hint: impl Into<String>) -> Self {
        self.ca_hint = Some(hint.into());
        self
    }

    /// Adds a header every request carries unless the caller sets its own of that name: a
    /// kubeconfig user's impersonation (`Impersonate-User`, `Impersonate-Uid`, one
    /// `Impersonate-Group` per group, `Impersonate-Extra-<key>`). A name may be given more than
    /// once (each value is sent). A name or value HTTP cannot carry is *failed* at resolution
    /// by the client. Not for secrets: they belong in [`crate::Credentials`].
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Verifies the serving certificate against `name` instead of the URL's host.
    pub fn with_tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls_server_name = Some(name.into());
        self
    }

    /// Sets the default namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Declares that this endpoint must never receive credentials (`kubectl proxy` forwards a
    /// caller's `Authorization` header upstream in place of its own). A client refuses to
    /// compose it with credentials.
    pub fn refusing_credentials(mut self) -> Self {
        self.accepts_credentials = false;
        self
    }

    /// Sends requests through this HTTP(S) proxy (explicit: the process's `HTTPS_PROXY` is
    /// never consulted by the client itself).
    pub fn with_proxy(mut self, proxy: Url) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Records why the source applied and what it read.
    pub fn with_provenance(mut self, provenance: Provenance) -> Self {
        self.provenance = provenance;
        self
    }

    /// The base URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The unix socket to connect to, if not TCP.
    pub fn unix_socket(&self) -> Option<&std::path::Path> {
        self.unix_socket.as_deref()
    }

    /// The `Host` header to send instead of the URL's authority, if any.
    pub fn host_header(&self) -> Option<&str> {
        self.host_header.as_deref()
    }

    /// The headers every request carries ([`Endpoint::with_header`]), name and value, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// What a `403` without a `Status` body means here, if the endpoint knows.
    pub fn forbidden_hint(&self) -> Option<&str> {
        self.forbidden_hint.as_deref()
    }

    /// What a `403` without a `Status` body means for a request of `path` (its path and
    /// query): [`Endpoint::with_forbidden_hint_by_path`]'s answer, else
    /// [`Endpoint::forbidden_hint`].
    pub fn forbidden_hint_for(&self, path: &str) -> Option<String> {
        match self.forbidden_hint_by_path {
            Some(hint) => Some(hint(path)),
            None => self.forbidden_hint.clone(),
        }
    }

    /// Where to give the CA that issued the server's certificate ([`Endpoint::with_ca_hint`]),
    /// if the endpoint knows.
    pub fn ca_hint(&self) -> Option<&str> {
        self.ca_hint.as_deref()
    }

    /// How the serving certificate is verified.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The name the serving certificate is verified against, when it is not the URL's host.
    pub fn tls_server_name(&self) -> Option<&str> {
        self.tls_server_name.as_deref()
    }

    /// The default namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether credentials may be sent to this endpoint.
    pub fn accepts_credentials(&self) -> bool {
        self.accepts_credentials
    }

    /// The explicit HTTP(S) proxy, if any.
    pub fn proxy(&self) -> Option<&Url> {
        self.proxy.as_ref()
    }

    /// Why the source applied and what it read.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// `true` when the URL's host is a loopback address (see [`is_loopback`]), or the
    /// endpoint is a unix socket (which never leaves the machine).
    pub fn is_loopback(&self) -> bool {
        self.unix_socket.is_some() || is_loopback(&self.url)
    }

    /// The base URL as people write it: the port always shown, no trailing slash
    /// (`https://10.96.0.1:443`); for a unix socket, `unix://` and the socket's path.
    pub fn display_url(&self) -> String {
        if let Some(path) = &self.unix_socket {
            return format!("unix://{}", crate::Shown::path(path));
        }
        let host = match self.url.host() {
            Some(Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(host) => host.to_string(),
            None => String::new(),
        };
        let port = self
            .url
            .port_or_known_default()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        let path = self.url.path().trim_end_matches('/');
        let url = format!("{}://{host}{port}{path}", self.url.scheme());
        crate::Shown::text(&url).to_string()
    }

    /// The URL of `path_and_query` (which starts with `/`) on this endpoint: the path is
    /// appended to the base URL's path prefix.
    ///
    /// # Errors
    ///
    /// A message when `path_and_query` does not start with `/`.
    pub fn url_for(&self, path_and_query: &str) -> Result<Url, String> {
        if !path_and_query.starts_with('/') {
            return Err(format!(
                "request path must start with '/', got {path_and_query:?}"
            ));
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        // URL parsers resolve `.` and `..` segments, which would silently send a different
        // request (or climb out of the endpoint's path prefix).
        let dot_segment = |s: &str| {
            [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."]
                .iter()
                .any(|dot| s.eq_ignore_ascii_case(dot))
        };
        if path.split('/').any(dot_segment) {
            return Err(format!(
                "request path must not contain '.' or '..' segments, got {path:?}"
            ));
        }
        let mut url = self.url.clone();
        let prefix = self.url.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(query);
        url.set_fragment(None);
        Ok(url)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &RedactedUrl::new(&self.url))
            .field("unix_socket", &self.unix_socket)
            .field("host_header", &self.host_header)
            .field("forbidden_hint", &self.forbidden_hint)
            .field(
                "forbidden_hint_by_path",
                &self.forbidden_hint_by_path.is_some(),
            )
            .field("ca_hint", &self.ca_hint)
            .field("headers", &self.headers)
            .field("trust", &self.trust)
            .field("tls_server_name", &self.tls_server_name)
            .field("namespace", &self.namespace)
            .field("accepts_credentials", &self.accepts_credentials)
            .field("proxy", &self.proxy.as_ref().map(RedactedUrl::new))
            .field("provenance", &self.provenance)
            .finish()
    }
}

/// `true` when `url`'s host is a loopback address: a literal in `127.0.0.0/8`, `::1`, or
/// exactly `localhost`. Decided from the URL alone, never by DNS (a name could resolve anywhere).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// `true` when `name` is a DNS host name: dot-separated labels of 1 to 63 letters, digits and
/// hyphens (not at either end), at most 253 characters, an optional trailing dot, and a last
/// label that starts with a letter (so that `1.2.3` or `0x7f.1`, which URL parsers read as
/// IPv4 shorthands, are not names).
pub fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let last_is_word = name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.starts_with(|c: char| c.is_ascii_alphabetic()));
    name.len() <= 253 && name.split('.').all(label) && last_is_word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Endpoint {
        Endpoint::new(url.parse().unwrap(), Trust::SystemRoots)
    }

    #[test]
    fn url_for_keeps_a_path_prefix() {
        let e = endpoint("https://rancher.example/k8s/clusters/c-1");
        assert_eq!(
            e.url_for("/api/v1/pods?limit=1").unwrap().as_str(),
            "https://rancher.example/k8s/clusters/c-1/api/v1/pods?limit=1"
        );
        assert_eq!(
            endpoint("https://10.0.0.1:6443/")
                .url_for("/api")
                .unwrap()
                .as_str(),
            "https://10.0.0.1:6443/api"
        );
        assert!(e.url_for("api").is_err());
        assert!(e.url_for("/api/../../version").is_err());
        assert!(e.url_for("/api/%2E%2E/x").is_err());
        assert!(e.url_for("/api/v1/namespaces/a.b/pods").is_ok());
    }

    #[test]
    fn display_url_shows_the_port_and_brackets_ipv6() {
        assert_eq!(
            endpoint("https://10.96.0.1:443").display_url(),
            "https://10.96.0.1:443"
        );
        assert_eq!(
            endpoint("https://[::1]:6443/").display_url(),
            "https://[::1]:6443"
        );
        assert_eq!(
            endpoint("https://example.test/prefix/").display_url(),
            "https://example.test:443/prefix"
        );
    }

    #[test]
    fn loopback_is_decided_without_dns() {
        for yes in [
            "http://127.0.0.1:8001",
            "http://127.8.9.10",
            "http://[::1]:8001",
            "http://localhost:8001",
        ] {
            assert!(is_loopback(&yes.parse().unwrap()), "{yes}");
        }
        for no in [
            "http://10.0.0.1",
            "http://localhost.example.test",
            "http://[::2]",
            "http://proxy.test",
        ] {
            assert!(!is_loopback(&no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn dns_names_are_labels_ending_in_a_word() {
        for yes in [
            "localhost",
            "api.cluster.test",
            "kubernetes.default.svc.",
            "a-b.c1",
        ] {
            assert!(is_dns_name(yes), "{yes}");
        }
        for no in [
            "", "a..b", "-x", "x-", "1.2.3", "0x7f.1", "*.x", "a b", "a/b",
        ] {
            assert!(!is_dns_name(no), "{no}");
        }
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        let canary = "s3cr3t-canary";
        let url: Url = format!("http://user:{canary}@127.0.0.1:3128/p?q=1")
            .parse()
            .unwrap();
        let shown = RedactedUrl::new(&url);
        assert_eq!(
            shown.to_string(),
            "http://user:[redacted]@127.0.0.1:3128/p?q=1"
        );
        assert_eq!(
            format!("{shown:?}"),
            r#""http://user:[redacted]@127.0.0.1:3128/p?q=1""#
        );
        let plain: Url = "http://user@proxy.test:3128".parse().unwrap();
        assert_eq!(
            RedactedUrl::new(&plain).to_string(),
            "http://user@proxy.test:3128/"
        );
        for (text, want) in [
            (
                "http://user:s3cr3t-canary@127.0.0.1:3128",
                "http://user:[redacted]@127.0.0.1:3128/",
            ),
            // Not URLs: the password goes by the text's own delimiters.
            (
                "user:s3cr3t-canary@127.0.0.1:3128",
                "user:[redacted]@127.0.0.1:3128",
            ),
            (
                "http://user:s3cr3t/canary@127.0.0.1:99999",
                "http://user:[redacted]@127.0.0.1:99999",
            ),
            ("unix:///run/proxy.sock", "unix:///run/proxy.sock"),
            ("http://127.0.0.1:8001", "http://127.0.0.1:8001/"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(RedactedUrl::unparsed(text).to_string(), want, "{text}");
        }
        let endpoint = Endpoint::new(url.clone(), Trust::SystemRoots).with_proxy(url);
        let debug = format!("{endpoint:?} {endpoint:#?}");
        assert!(!debug.contains("canary"), "{debug}");
        assert!(
            debug.contains("http://user:[redacted]@127.0.0.1:3128/p?q=1"),
            "{debug}"
        );
    }

    #[test]
    fn ca_bundle_rejects_pem_without_certificates() {
        let err = CaBundle::from_pem(b"not a certificate\n", Origin::File("/x/ca.crt".into()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "CA bundle from file /x/ca.crt holds no PEM certificate"
        );
        assert_eq!(err.files(), vec![PathBuf::from("/x/ca.crt")]);
    }
}
