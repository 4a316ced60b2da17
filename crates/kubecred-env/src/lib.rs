//! kubecred's env source: the API server and credentials from environment variables.
//!
//! [`EnvSource`] implements both [`ApiEndpoint`] and [`CredentialSource`] from the Terraform
//! Kubernetes provider's variable names, plus `_FILE` twins (the prefix `KUBE` can be changed
//! with [`EnvSourceBuilder::prefix`]):
//!
//! | variable | meaning |
//! |---|---|
//! | `KUBE_HOST` | API server URL (`https://host:port`, a path prefix kept; a bare host gets `https://`) |
//! | `KUBE_TOKEN` / `KUBE_TOKEN_FILE` | bearer token, or a file that holds it (re-read on refresh) |
//! | `KUBE_CLUSTER_CA_CERT_DATA` / `_FILE` | CA bundle, PEM or base64 of PEM; without one the system roots verify |
//! | `KUBE_CLIENT_CERT_DATA` / `_FILE`, `KUBE_CLIENT_KEY_DATA` / `_FILE` | client certificate identity (mTLS), PEM or base64 of PEM |
//! | `KUBE_TLS_SERVER_NAME` | name to verify the serving certificate against |
//! | `KUBE_INSECURE` | Go boolean (`1`, `t`, `true`, `TRUE`, `0`, `f`, `false`, …): `true` skips verification, loudly |
//! | `KUBE_NAMESPACE` | default namespace (`default` when unset) |
//!
//! It applies when `KUBE_HOST` is set (a blank variable counts as unset). Another variable of
//! the table, other than `KUBE_NAMESPACE`, set without `KUBE_HOST` is *failed*; so is a
//! `_DATA` set with its `_FILE` twin, a certificate without its key, data that is neither PEM
//! nor base64 of PEM, a non-boolean `KUBE_INSECURE`, and `KUBE_INSECURE=true` with a CA
//! variable. Errors name the variable, never its value. `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
//! (either case, like kubectl) become an explicit proxy of the endpoint, never for a loopback
//! host; `ALL_PROXY` is ignored.
//!
//! ```
//! use std::sync::Arc;
//! use kubecred_core::{ApiEndpoint, CredentialSource, MapEnvironment, SourceBuilder};
//! use kubecred_env::EnvSource;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let env = MapEnvironment::new([
//!     ("KUBE_HOST", "api.example.test:6443"),
//!     ("KUBE_TOKEN", "a-token"),
//!     ("KUBE_NAMESPACE", "team-a"),
//! ]);
//! let source = EnvSource::builder().environment(Arc::new(env)).build();
//! let endpoint = source.endpoint().await?;
//! assert_eq!(endpoint.display_url(), "https://api.example.test:6443");
//! assert_eq!(endpoint.namespace(), "team-a");
//! assert_eq!(source.credentials().await?.kind().as_str(), "bearer-token");
//! # Ok(())
//! # }
//! ```
//!
//! The key design decision: a half-configured environment is an error, not a fall-through —
//! setting `KUBE_TOKEN` and forgetting `KUBE_HOST` inside a pod must not silently use the pod's
//! own identity. The cost: a stray `KUBE_*` variable of the table breaks a chain that would
//! otherwise have worked, and the error says which one to unset.

mod data;
mod names;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use kubecred_core::{
    check_namespace, check_token, is_dns_name, read_small_file, read_token_file, ApiEndpoint,
    CaBundle, CaFile, Cached, ClientIdentity, Clock, CredentialSource, Credentials, Endpoint,
    Environment, Origin, Provenance, RefreshPolicy, SourceBuilder, SourceConfig, SourceError,
    Trust,
};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::names::Names;

/// The source's name in every message and in `explain`.
pub const SOURCE_NAME: &str = "env";
/// The prefix of the variables unless [`EnvSourceBuilder::prefix`] changes it.
pub const DEFAULT_PREFIX: &str = "KUBE";
/// The longest `KUBE_HOST` accepted, in bytes (a URL of an API server, a path prefix
/// included, is far shorter): a longer one is *failed* before anything quotes it.
pub const MAX_URL_BYTES: usize = 2048;

/// The env source. See the crate documentation.
#[derive(Debug)]
pub struct EnvSource {
    names: Names,
    env: Arc<dyn Environment>,
    credentials: Cached<Credentials>,
    ca_policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
}

impl Default for EnvSource {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvSource {
    /// The `KUBE_*` variables of the process environment.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to change the prefix or inject the environment.
    pub fn builder() -> EnvSourceBuilder {
        EnvSourceBuilder::default()
    }

    /// The name of the host variable (`KUBE_HOST`, or `<PREFIX>_HOST`).
    pub fn host_variable(&self) -> &str {
        &self.names.host
    }

    /// The host variable's value, or *not applicable*, or *failed* when another variable of
    /// the table is set without it.
    fn host(&self) -> Result<String, SourceError> {
        if let Some(host) = self.env.var(&self.names.host)? {
            return Ok(host);
        }
        match self
            .names
            .needing_host()
            .into_iter()
            .find(|name| self.env.is_set(name))
        {
            Some(set) => Err(SourceError::MissingVariable {
                variable: self.names.host.clone(),
                because: set.to_owned(),
            }),
            None => Err(SourceError::not_applicable(format!(
                "{} is not set",
                self.names.host
            ))),
        }
    }

    fn check_twins(&self) -> Result<(), SourceError> {
        for (data, file) in self.names.twins() {
            if self.env.is_set(data) && self.env.is_set(file) {
                return Err(SourceError::Conflict {
                    first: data.to_owned(),
                    second: file.to_owned(),
                    problem: "set only one of them".to_owned(),
                });
            }
        }
        Ok(())
    }

    fn url(&self, host: &str) -> Result<Url, SourceError> {
        let invalid = |problem: &str| SourceError::InvalidVariable {
            variable: self.names.host.clone(),
            problem: problem.to_owned(),
        };
        if host.len() > MAX_URL_BYTES {
            return Err(invalid("is longer than 2048 bytes"));
        }
        let with_scheme = if host.contains("://") {
            host.to_owned()
        } else {
            format!("https://{host}")
        };
        // A URL may carry a password: quoted without it.
        let url = Url::parse(&with_scheme).map_err(|_| {
            invalid(&format!(
                "is \"{}\", not a URL (https://host:port, optionally with a path)",
                kubecred_core::RedactedUrl::unparsed(host)
            ))
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(invalid("is not an https:// or http:// URL"));
        }
        match url.host() {
            None => return Err(invalid("has no host")),
            // What DNS can carry (RFC 1035: labels of at most 63 bytes, a name of at most
            // 253): refused here, at resolution, rather than by the resolver on the first
            // request.
            Some(url::Host::Domain(name))
                if name.len() > 253 || name.split('.').any(|label| label.len() > 63) =>
            {
                return Err(invalid("has a host name longer than DNS allows"))
            }
            Some(_) => {}
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "must not carry a user name or password (use the token or client certificate variables)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("must not carry a query or a fragment"));
        }
        Ok(url)
    }

    fn insecure(&self) -> Result<bool, SourceError> {
        let Some(value) = self.env.var(&self.names.insecure)? else {
            return Ok(false);
        };
        // Go's strconv.ParseBool, as kubectl and the Terraform provider read it.
        kubecred_core::parse_bool(&value).ok_or_else(|| SourceError::InvalidVariable {
            variable: self.names.insecure.clone(),
            // A boolean is not a secret: quoted (bounded, escaped).
            problem: format!(
                "is \"{}\", not a boolean ({})",
                kubecred_core::Shown::text(&value),
                kubecred_core::BOOLEAN_SPELLINGS
            ),
        })
    }

    /// The CA trust and the variable it came from, if a CA variable is set: fixed for
    /// `_DATA`, following the file's rotation for `_FILE`.
    fn ca_trust(&self) -> Result<Option<(Trust, &str)>, SourceError> {
        if let Some(value) = self.env.var(&self.names.ca_data)? {
            let pem = data::pem_bytes(&self.names.ca_data, value)?;
            let bundle = CaBundle::from_pem(&pem, Origin::Variable(self.names.ca_data.clone()))?;
            return Ok(Some((Trust::CaBundle(bundle), &self.names.ca_data)));
        }
        if let Some(path) = self.env.path_var(&self.names.ca_file)? {
            let file = CaFile::open(path, self.ca_policy, Arc::clone(&self.clock))?;
            return Ok(Some((Trust::CaFile(Arc::new(file)), &self.names.ca_file)));
        }
        Ok(None)
    }

    /// How many times the credential variables (and files) were read: for tests and
    /// benchmarks.
    pub fn credential_reads(&self) -> u64 {
        self.credentials.loads()
    }

    fn tls_server_name(&self) -> Result<Option<String>, SourceError> {
        let Some(name) = self.env.var(&self.names.tls_server_name)? else {
            return Ok(None);
        };
        let valid = name.parse::<std::net::IpAddr>().is_ok() || is_dns_name(&name);
        if valid {
            Ok(Some(name))
        } else {
            Err(SourceError::InvalidVariable {
                variable: self.names.tls_server_name.clone(),
                problem: format!(
                    "is \"{}\", not a DNS name or an IP address",
                    kubecred_core::Shown::text(&name)
                ),
            })
        }
    }

    /// A `_DATA` variable's PEM, or its `_FILE` twin's content (the twins were checked).
    fn pem(
        &self,
        data: &str,
        file: &str,
        what: &'static str,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        if let Some(value) = self.env.var(data)? {
            return data::pem_bytes(data, value).map(Some);
        }
        match self.env.path_var(file)? {
            Some(path) => read_small_file(what, &path).map(Some),
            None => Ok(None),
        }
    }

    fn origin(&self, data: &str, file: &str) -> Origin {
        // Only called once the twins were read: a variable that cannot be read failed there.
        match self.env.path_var(file).ok().flatten() {
            Some(path) if !self.env.is_set(data) => Origin::File(path),
            _ => Origin::Variable(data.to_owned()),
        }
    }

    fn identity(&self) -> Result<Option<ClientIdentity>, SourceError> {
        let n = &self.names;
        let cert_set = [&n.cert_data, &n.cert_file]
            .into_iter()
            .find(|v| self.env.is_set(v));
        let key_set = [&n.key_data, &n.key_file]
            .into_iter()
            .find(|v| self.env.is_set(v));
        match (cert_set, key_set) {
            (None, None) => return Ok(None),
            (Some(cert), None) => {
                return Err(SourceError::MissingVariable {
                    variable: format!("{} (or {})", n.key_data, n.key_file),
                    because: cert.clone(),
                })
            }
            (None, Some(key)) => {
                return Err(SourceError::MissingVariable {
                    variable: format!("{} (or {})", n.cert_data, n.cert_file),
                    because: key.clone(),
                })
            }
            (Some(_), Some(_)) => {}
        }
        let cert = self
            .pem(&n.cert_data, &n.cert_file, "client certificate")?
            .unwrap_or_default();
        let mut key = self
            .pem(&n.key_data, &n.key_file, "client key")?
            .unwrap_or_default();
        let identity = ClientIdentity::from_pem(
            &cert,
            self.origin(&n.cert_data, &n.cert_file),
            &key,
            self.origin(&n.key_data, &n.key_file),
        );
        key.zeroize();
        identity.map(Some)
    }

    fn token(&self) -> Result<Option<SecretString>, SourceError> {
        if let Some(token) = self.env.var(&self.names.token)? {
            let token = SecretString::from(token);
            check_token(
                token.expose_secret(),
                Origin::Variable(self.names.token.clone()),
            )?;
            return Ok(Some(token));
        }
        match self.env.path_var(&self.names.token_file)? {
            Some(path) => read_token_file(&path).map(Some),
            None => Ok(None),
        }
    }

    /// Reads every credential variable (and file) now.
    fn load(&self) -> Result<Credentials, SourceError> {
        self.host()?;
        self.check_twins()?;
        let identity = self.identity()?;
        let credentials = match (self.token()?, identity) {
            (Some(token), Some(identity)) => Credentials::bearer(token).with_identity(identity),
            (Some(token), None) => Credentials::bearer(token),
            (None, Some(identity)) => Credentials::client_certificate(identity),
            (None, None) => Credentials::anonymous(),
        };
        Ok(credentials)
    }

    fn provenance(&self, proxy_variables: Vec<String>) -> Provenance {
        let n = &self.names;
        let table = [
            &n.host,
            &n.token,
            &n.token_file,
            &n.ca_data,
            &n.ca_file,
            &n.cert_data,
            &n.cert_file,
            &n.key_data,
            &n.key_file,
            &n.tls_server_name,
            &n.insecure,
            &n.namespace,
        ];
        let variables = table
            .into_iter()
            .filter(|name| self.env.is_set(name))
            .cloned()
            .chain(proxy_variables);
        let files: Vec<PathBuf> = [&n.token_file, &n.ca_file, &n.cert_file, &n.key_file]
            .into_iter()
            .filter_map(|name| self.env.path_var(name).ok().flatten())
            .collect();
        Provenance::new(format!("{} is set", n.host))
            .with_variables(variables)
            .with_files(files)
    }
}

#[async_trait]
impl ApiEndpoint for EnvSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Reads the host, trust, server name, namespace and system proxy variables (and a CA
    /// file).
    ///
    /// # Errors
    ///
    /// *Not applicable* without `KUBE_HOST`; the *failed* cases of the crate documentation
    /// otherwise, each naming the variable (or file).
    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        let host = self.host()?;
        self.check_twins()?;
        let url = self.url(&host)?;
        let insecure = self.insecure()?;
        let ca = self.ca_trust()?;
        let trust = match ca {
            Some((_, ca_variable)) if insecure => {
                return Err(SourceError::Conflict {
                    first: self.names.insecure.clone(),
                    second: ca_variable.to_owned(),
                    problem: "verification cannot be both off and pinned to a CA bundle; unset one"
                        .to_owned(),
                })
            }
            _ if url.scheme() == "http" => Trust::PlainHttp,
            Some((trust, _)) => trust,
            None if insecure => Trust::InsecureSkipVerify,
            None => Trust::SystemRoots,
        };
        let (proxy, proxy_variables) = kubecred_core::system_proxy(&*self.env, &url)?;
        let namespace = match self.env.var(&self.names.namespace)? {
            Some(namespace) => {
                check_namespace(&namespace).map_err(|problem| SourceError::InvalidVariable {
                    variable: self.names.namespace.clone(),
                    problem,
                })?;
                namespace
            }
            None => "default".to_owned(),
        };
        let system_roots = matches!(trust, Trust::SystemRoots);
        let mut endpoint = Endpoint::new(url, trust)
            .with_namespace(namespace)
            .with_provenance(self.provenance(proxy_variables));
        if system_roots {
            endpoint = endpoint.with_ca_hint(format!(
                "set {} or {} to the CA that issued it",
                self.names.ca_file, self.names.ca_data
            ));
        }
        if let Some(name) = self.tls_server_name()? {
            endpoint = endpoint.with_tls_server_name(name);
        }
        if let Some(proxy) = proxy {
            endpoint = endpoint.with_proxy(proxy);
        }
        Ok(endpoint)
    }
}

#[async_trait]
impl CredentialSource for EnvSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// The cached credentials: the first call reads the token, certificate and key variables
    /// (and their files); later calls re-read them when due (every 60 s by default, 10 s
    /// before a JWT's `exp` when sooner: a rotated `KUBE_TOKEN_FILE`), keeping the last good
    /// credentials if the re-read fails.
    ///
    /// # Errors
    ///
    /// The *failed* cases of the crate documentation for the credential variables; the errors
    /// of [`read_token_file`] for `KUBE_TOKEN_FILE`.
    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        self.credentials.get(|| self.load())
    }

    /// The cached credentials while they are not due for a re-read.
    fn current(&self) -> Option<Arc<Credentials>> {
        self.credentials.current()
    }

    /// Re-reads the variables and files now, unless another caller already replaced
    /// `rejected` or a read failed less than min(period, 10 s) ago (then the cached
    /// credentials are returned). On failure the last good credentials stay cached and the
    /// error is returned.
    async fn refresh(&self, rejected: &Arc<Credentials>) -> Result<Arc<Credentials>, SourceError> {
        self.credentials.refresh(rejected, || self.load())
    }
}

/// Builds an [`EnvSource`]: another prefix, the shared settings of a [`SourceConfig`]
/// (the environment, the clock, the re-read periods), or any of them one by one.
#[derive(Debug, Clone)]
pub struct EnvSourceBuilder {
    prefix: String,
    config: SourceConfig,
}

impl Default for EnvSourceBuilder {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            config: SourceConfig::default(),
        }
    }
}

impl EnvSourceBuilder {
    /// Reads `<PREFIX>_HOST`, `<PREFIX>_TOKEN`, … instead of `KUBE_*` (e.g. `MYAPP` for
    /// `MYAPP_HOST`). A trailing `_` is ignored.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('_').to_owned();
        self
    }

    /// The source. Nothing is read until it is asked.
    pub fn build(self) -> EnvSource {
        let names = Names::new(&self.prefix);
        let config = self.config;
        EnvSource {
            credentials: Cached::new(
                format!("credentials of {}_*", self.prefix),
                config.token_refresh(),
                Arc::clone(config.clock()),
            ),
            names,
            env: Arc::clone(config.environment()),
            ca_policy: config.ca_refresh(),
            clock: Arc::clone(config.clock()),
        }
    }
}

/// `configure`, `environment`, `clock`, `token_refresh_period`, `ca_refresh_period`: the
/// settings every source shares ([`SourceConfig`]).
impl SourceBuilder for EnvSourceBuilder {
    fn config_mut(&mut self) -> &mut SourceConfig {
        &mut self.config
    }
}

#[cfg(test)]
mod tests;
