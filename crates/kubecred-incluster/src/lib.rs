//! kubecred's in-cluster source: the API server and credentials a pod is given.
//!
//! [`InCluster`] implements both [`ApiEndpoint`] and [`CredentialSource`] from what the
//! kubelet puts in every container (Kubernetes documentation, "Accessing the Kubernetes API
//! from a Pod"):
//!
//! - the variables `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`
//!   ([`SERVICE_HOST_VAR`], [`SERVICE_PORT_VAR`]): the URL is `https://` + host:port, an IPv6
//!   host bracketed;
//! - the service account's files in [`DEFAULT_SERVICEACCOUNT_DIR`]: `token` (the bearer
//!   token), `ca.crt` (the CA bundle that verifies the API server, and nothing else: never the
//!   system roots) and `namespace`;
//! - the namespace from `POD_NAMESPACE`, then the `namespace` file, then `default`.
//!
//! ```
//! use std::sync::Arc;
//! use kubecred_core::{ApiEndpoint, CredentialSource, MapEnvironment, SourceBuilder};
//! use kubecred_incluster::InCluster;
//! use kubecred_testing::{CertificateAuthority, ServiceAccountDir, ServiceAccountFiles};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ca = CertificateAuthority::new("demo-ca")?;
//! let dir = ServiceAccountDir::new(
//!     &ServiceAccountFiles::new().token("a-token\n").ca_crt(ca.pem()).namespace("team-a"),
//! )?;
//! let source = InCluster::builder()
//!     .serviceaccount_dir(dir.path())
//!     .environment(Arc::new(MapEnvironment::new([
//!         ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
//!         ("KUBERNETES_SERVICE_PORT", "443"),
//!     ])))
//!     .build();
//! let endpoint = source.endpoint().await?;
//! assert_eq!(endpoint.display_url(), "https://10.96.0.1:443");
//! assert_eq!(endpoint.namespace(), "team-a");
//! assert_eq!(source.credentials().await?.kind().as_str(), "bearer-token");
//! # Ok(())
//! # }
//! ```
//!
//! The key design decision: the serving certificate is verified against the host the
//! variables name (an IP SAN for an IP), not a hidden `kubernetes.default.svc`; the DNS form
//! that client-go's predecessors used is an explicit opt-in ([`InClusterBuilder::use_dns_name`]).
//! This costs nothing in a real cluster, whose API server certificate carries the Service IP,
//! and makes a pod whose variables point elsewhere fail loudly instead of silently.
//!
//! Bound service-account tokens rotate (the kubelet rewrites the projected token at about 80%
//! of its lifetime, through an atomic `..data` symlink swap), and so can `ca.crt`. The token
//! is cached behind an atomic pointer ([`kubecred_core::Cached`]) and re-read through the path
//! every 60 s, or 10 s before its JWT `exp` when sooner, and at once after a `401`
//! ([`CredentialSource::refresh`]); a failed re-read keeps the last good token, and the next
//! one, on schedule or after a `401`, comes no sooner than 10 s later. `ca.crt` is a
//! [`kubecred_core::CaFile`], re-read every 300 s for new connections.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use kubecred_core::{
    check_namespace, is_dns_name, read_small_file, read_token_file, ApiEndpoint, CaFile, Cached,
    Clock, CredentialSource, Credentials, DirectoryError, Endpoint, Environment, Provenance,
    RefreshPolicy, SourceBuilder, SourceConfig, SourceError, Trust,
};
use url::Url;

/// The source's name in every message and in `explain`.
pub const SOURCE_NAME: &str = "in-cluster";
/// Set by the kubelet in every container: the API server Service's cluster IP (or host).
pub const SERVICE_HOST_VAR: &str = "KUBERNETES_SERVICE_HOST";
/// Set by the kubelet in every container: the API server Service's port.
pub const SERVICE_PORT_VAR: &str = "KUBERNETES_SERVICE_PORT";
/// Overrides the namespace file when set (commonly from the downward API).
pub const POD_NAMESPACE_VAR: &str = "POD_NAMESPACE";
/// Where the kubelet mounts the service account's token, CA bundle and namespace.
pub const DEFAULT_SERVICEACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The bearer token file's name in the service-account directory.
pub const TOKEN_FILE: &str = "token";
/// The CA bundle file's name in the service-account directory.
pub const CA_FILE: &str = "ca.crt";
/// The namespace file's name in the service-account directory.
pub const NAMESPACE_FILE: &str = "namespace";
/// The API server's in-cluster DNS name (the `kubernetes` Service in `default`), port 443.
pub const DNS_URL: &str = "https://kubernetes.default.svc";
/// The namespace used when neither `POD_NAMESPACE` nor the namespace file gives one.
pub const DEFAULT_NAMESPACE: &str = "default";

const APPLIES_REASON: &str = "KUBERNETES_SERVICE_HOST and _PORT are set";

/// The in-cluster source. See the crate documentation.
#[derive(Debug)]
pub struct InCluster {
    dir: PathBuf,
    dir_origin: Option<String>,
    token_path: PathBuf,
    ca_path: PathBuf,
    namespace_path: PathBuf,
    use_dns_name: bool,
    env: Arc<dyn Environment>,
    token: Cached<Credentials>,
    ca_policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
}

impl Default for InCluster {
    fn default() -> Self {
        Self::new()
    }
}

impl InCluster {
    /// The in-cluster source with the kubelet's paths and the process environment.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to move the files or inject the environment.
    pub fn builder() -> InClusterBuilder {
        InClusterBuilder::default()
    }

    /// The token file's path.
    pub fn token_path(&self) -> &Path {
        &self.token_path
    }

    /// The CA bundle file's path.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The namespace file's path.
    pub fn namespace_path(&self) -> &Path {
        &self.namespace_path
    }

    /// How many times the token file was read: for tests and benchmarks.
    pub fn token_reads(&self) -> u64 {
        self.token.loads()
    }

    fn read_token(&self) -> Result<Credentials, SourceError> {
        read_token_file(&self.token_path)
            .map(Credentials::bearer)
            .map_err(|e| self.blame_dir(&self.token_path, e))
    }

    /// `error`, the failure to read `file`, or, when `file` is in the service-account
    /// directory and that directory is missing or not a directory, the directory's own error
    /// (naming it and where its path came from) with `error` as its cause. Checked only after
    /// a read failed: a working pod pays nothing.
    fn blame_dir(&self, file: &Path, error: SourceError) -> SourceError {
        if !file.starts_with(&self.dir) {
            return error;
        }
        let problem = match std::fs::metadata(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
            // A component of the path is a file (`/etc/passwd/sub`).
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => "is not a directory",
            Ok(metadata) if !metadata.is_dir() => "is not a directory",
            _ => return error,
        };
        let default =
            self.dir_origin.is_none() && self.dir == Path::new(DEFAULT_SERVICEACCOUNT_DIR);
        SourceError::InvalidDirectory(Box::new(DirectoryError::new(
            if default {
                "default service-account directory"
            } else {
                "service-account directory"
            },
            &self.dir,
            self.dir_origin.clone(),
            problem,
            error,
        )))
    }

    fn url(&self) -> Result<Url, SourceError> {
        let host = self.env.var(SERVICE_HOST_VAR)?;
        let port = self.env.var(SERVICE_PORT_VAR)?;
        let (host, port) = match (host, port) {
            (None, None) => {
                return Err(SourceError::not_applicable(format!(
                    "{SERVICE_HOST_VAR} and {SERVICE_PORT_VAR} are not set"
                )))
            }
            (Some(_), None) => {
                return Err(SourceError::MissingVariable {
                    variable: SERVICE_PORT_VAR.to_owned(),
                    because: SERVICE_HOST_VAR.to_owned(),
                })
            }
            (None, Some(_)) => {
                return Err(SourceError::MissingVariable {
                    variable: SERVICE_HOST_VAR.to_owned(),
                    because: SERVICE_PORT_VAR.to_owned(),
                })
            }
            (Some(host), Some(port)) => (host, port),
        };
        let port: u16 = Some(port.as_str())
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| SourceError::InvalidVariable {
                variable: SERVICE_PORT_VAR.to_owned(),
                // A port is not a secret: quoted (bounded, escaped).
                problem: format!(
                    "is \"{}\", not a port number (1-65535)",
                    kubecred_core::Shown::text(&port)
                ),
            })?;
        if self.use_dns_name {
            return Ok(Url::parse(DNS_URL).expect("DNS_URL is a valid URL"));
        }
        let host = url_host(&host).ok_or_else(|| SourceError::InvalidVariable {
            variable: SERVICE_HOST_VAR.to_owned(),
            problem: format!(
                "is \"{}\", not a host name, an IPv4 address or an IPv6 address",
                kubecred_core::Shown::text(&host)
            ),
        })?;
        Url::parse(&format!("https://{host}:{port}")).map_err(|_| SourceError::InvalidVariable {
            variable: SERVICE_HOST_VAR.to_owned(),
            problem: "does not make a valid URL".to_owned(),
        })
    }

    /// The namespace and, for `explain`, the variable or file it came from.
    fn namespace(&self) -> Result<(String, Provenance), SourceError> {
        if let Some(namespace) = self.env.var(POD_NAMESPACE_VAR)? {
            check_namespace(&namespace).map_err(|problem| SourceError::InvalidVariable {
                variable: POD_NAMESPACE_VAR.to_owned(),
                problem,
            })?;
            return Ok((
                namespace,
                Provenance::default().with_variables([POD_NAMESPACE_VAR]),
            ));
        }
        let content = match read_small_file("namespace", &self.namespace_path) {
            Ok(content) => content,
            Err(SourceError::FileNotFound { .. }) => {
                return Ok((DEFAULT_NAMESPACE.to_owned(), Provenance::default()))
            }
            Err(e) => return Err(e),
        };
        let invalid = |problem: String| SourceError::InvalidFile {
            what: "namespace",
            path: self.namespace_path.clone(),
            problem,
        };
        let namespace = std::str::from_utf8(&content)
            .map_err(|_| invalid("is not UTF-8".to_owned()))?
            .trim();
        if namespace.is_empty() {
            return Ok((DEFAULT_NAMESPACE.to_owned(), Provenance::default()));
        }
        check_namespace(namespace).map_err(invalid)?;
        Ok((
            namespace.to_owned(),
            Provenance::default().with_files([&self.namespace_path]),
        ))
    }
}

/// The host as it goes in a URL: an IPv6 literal bracketed (a bracketed one kept), an IPv4
/// address in its dotted-quad form only (no `1.2.3` or `0x7f.1` shorthands), or a DNS name
/// of letters, digits and hyphens.
fn url_host(host: &str) -> Option<String> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        inner.parse::<Ipv6Addr>().ok()?;
        return Some(host.to_owned());
    }
    if host.parse::<Ipv6Addr>().is_ok() {
        return Some(format!("[{host}]"));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|_| host.to_owned());
    }
    is_dns_name(host).then(|| host.to_owned())
}

#[async_trait]
impl ApiEndpoint for InCluster {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Reads the variables, `ca.crt` and the namespace.
    ///
    /// # Errors
    ///
    /// *Not applicable* when neither variable is set; [`SourceError::MissingVariable`] when
    /// one is set without the other; [`SourceError::InvalidVariable`] for a bad host or port;
    /// the errors of [`kubecred_core::read_ca_bundle_file`] for `ca.crt`, or
    /// [`SourceError::InvalidDirectory`] (its cause) when the service-account directory is
    /// missing or not a directory; [`SourceError::ReadFile`] for an unreadable namespace
    /// file (a missing one means `default`).
    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        let url = self.url()?;
        let ca = CaFile::open(&self.ca_path, self.ca_policy, Arc::clone(&self.clock))
            .map_err(|e| self.blame_dir(&self.ca_path, e))?;
        let (namespace, namespace_provenance) = self.namespace()?;
        let provenance = Provenance::new(APPLIES_REASON)
            .with_variables([SERVICE_HOST_VAR, SERVICE_PORT_VAR])
            .with_variables(namespace_provenance.variables)
            .with_files([&self.token_path, &self.ca_path])
            .with_files(namespace_provenance.files);
        Ok(Endpoint::new(url, Trust::CaFile(Arc::new(ca)))
            .with_namespace(namespace)
            .with_provenance(provenance))
    }
}

#[async_trait]
impl CredentialSource for InCluster {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// The cached token: the first call reads the token file; later calls re-read it when
    /// due (every 60 s by default, 10 s before its JWT `exp` when sooner), one caller at a
    /// time, keeping the last good token if the re-read fails.
    ///
    /// # Errors
    ///
    /// The errors of [`read_token_file`] on the first call: a missing or empty token file
    /// ([`SourceError::InvalidDirectory`], with that error as its cause, when the
    /// service-account directory is missing or not a directory).
    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        self.token.get(|| self.read_token())
    }

    /// The cached token while it is not due for a re-read.
    fn current(&self) -> Option<Arc<Credentials>> {
        self.token.current()
    }

    /// Re-reads the token file now, unless another caller already replaced `rejected` or a
    /// read failed less than min(period, 10 s) ago (then the cached token is returned). On
    /// failure the last good token stays cached and the error is returned.
    async fn refresh(&self, rejected: &Arc<Credentials>) -> Result<Arc<Credentials>, SourceError> {
        self.token.refresh(rejected, || self.read_token())
    }
}

/// Builds an [`InCluster`] source: moves the service-account files (projected tokens with a
/// custom audience are mounted elsewhere) or injects the environment.
#[derive(Debug, Clone)]
pub struct InClusterBuilder {
    dir: PathBuf,
    dir_origin: Option<String>,
    token_path: Option<PathBuf>,
    ca_path: Option<PathBuf>,
    namespace_path: Option<PathBuf>,
    use_dns_name: bool,
    config: SourceConfig,
}

impl Default for InClusterBuilder {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(DEFAULT_SERVICEACCOUNT_DIR),
            dir_origin: None,
            token_path: None,
            ca_path: None,
            namespace_path: None,
            use_dns_name: false,
            config: SourceConfig::default(),
        }
    }
}

impl InClusterBuilder {
    /// Reads `token`, `ca.crt` and `namespace` from `dir` instead of
    /// [`DEFAULT_SERVICEACCOUNT_DIR`]. A path set with the methods below wins.
    pub fn serviceaccount_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self.dir_origin = None;
        self
    }

    /// Like [`InClusterBuilder::serviceaccount_dir`], naming where `dir` came from in errors:
    /// `origin` as a person would name it, e.g. `--serviceaccount-dir` or
    /// `KUBECRED_SERVICEACCOUNT_DIR`. When the kubelet's variables are set and a file in the
    /// directory cannot be read because the directory is missing or is not a directory, the
    /// error ([`SourceError::InvalidDirectory`]) names the directory and its origin
    /// ("service-account directory /x (from --serviceaccount-dir) does not exist"), with the
    /// file's error as its cause. Without an origin it names the directory only, or "the
    /// default service-account directory" for [`DEFAULT_SERVICEACCOUNT_DIR`].
    pub fn serviceaccount_dir_from(
        mut self,
        dir: impl Into<PathBuf>,
        origin: impl Into<String>,
    ) -> Self {
        self.dir = dir.into();
        self.dir_origin = Some(origin.into());
        self
    }

    /// Reads the bearer token from `path` (e.g. a projected token with a custom audience).
    pub fn token_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_path = Some(path.into());
        self
    }

    /// Reads the CA bundle from `path`.
    pub fn ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_path = Some(path.into());
        self
    }

    /// Reads the namespace from `path`.
    pub fn namespace_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.namespace_path = Some(path.into());
        self
    }

    /// Uses [`DNS_URL`] (`https://kubernetes.default.svc`, port 443, resolved by the cluster's
    /// DNS) instead of the variables' host and port. The variables must still be set: they
    /// are how the source knows it runs in a pod.
    pub fn use_dns_name(mut self, yes: bool) -> Self {
        self.use_dns_name = yes;
        self
    }

    /// The source. Nothing is read until it is asked.
    pub fn build(self) -> InCluster {
        let token_path = self.token_path.unwrap_or_else(|| self.dir.join(TOKEN_FILE));
        let config = self.config;
        InCluster {
            dir_origin: self.dir_origin,
            token: Cached::new(
                format!("token file {}", kubecred_core::Shown::path(&token_path)),
                config.token_refresh(),
                Arc::clone(config.clock()),
            ),
            token_path,
            ca_path: self.ca_path.unwrap_or_else(|| self.dir.join(CA_FILE)),
            namespace_path: self
                .namespace_path
                .unwrap_or_else(|| self.dir.join(NAMESPACE_FILE)),
            use_dns_name: self.use_dns_name,
            env: Arc::clone(config.environment()),
            ca_policy: config.ca_refresh(),
            clock: Arc::clone(config.clock()),
            dir: self.dir,
        }
    }
}

/// `configure`, `environment`, `clock`, `token_refresh_period`, `ca_refresh_period`: the
/// settings every source shares ([`SourceConfig`]).
impl SourceBuilder for InClusterBuilder {
    fn config_mut(&mut self) -> &mut SourceConfig {
        &mut self.config
    }
}

#[cfg(test)]
mod tests;
