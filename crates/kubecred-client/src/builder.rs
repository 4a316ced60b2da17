//! `ClientBuilder`: the inputs, the chain and its resolution.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use kubecred_core::{
    ApiEndpoint, Clock, CredentialSource, Credentials, Endpoint, Environment, ProcessEnvironment,
    Source, SourceError, SystemClock, Trust,
};

use crate::explain::{CredentialReport, Explanation, Outcome, SourceReport};
use crate::{transport, Client, Error};

/// Moves the in-cluster service-account directory for the default chain (the CLI's
/// `--serviceaccount-dir` beats it).
pub const SERVICEACCOUNT_DIR_VAR: &str = "KUBECRED_SERVICEACCOUNT_DIR";
/// Sets the token and CA bundle re-read periods of the default chain's sources, in whole
/// seconds from 1 to 31536000 (for demos and tests; [`ClientBuilder::refresh_period`] and
/// [`ClientBuilder::ca_refresh_period`] beat it). An invalid value makes the sources that
/// use it (env, in-cluster) *failed*, naming the variable.
pub const REFRESH_SECS_VAR: &str = "KUBECRED_REFRESH_SECS";

#[cfg_attr(not(any(feature = "env", feature = "incluster")), allow(dead_code))]
const MAX_REFRESH_SECS: u64 = 365 * 24 * 60 * 60;
/// Moves the `kubectl proxy` address of the default chain (the CLI's `--proxy-url` beats it).
pub const PROXY_URL_VAR: &str = "KUBECRED_PROXY_URL";

/// The connect timeout unless [`ClientBuilder::connect_timeout`] says otherwise: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole-request timeout unless [`ClientBuilder::timeout`] says otherwise: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The sources kubecred ships, as named in every message, in `explain` and on the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceName {
    /// The `KUBE_*` environment variables (crate `kubecred-env`).
    #[cfg(feature = "env")]
    Env,
    /// The pod's service account and `KUBERNETES_SERVICE_*` (crate `kubecred-incluster`).
    #[cfg(feature = "incluster")]
    InCluster,
    /// A running `kubectl proxy` (crate `kubecred-proxy`).
    #[cfg(feature = "proxy")]
    Proxy,
}

impl SourceName {
    /// The default chain, in order (only the sources compiled in).
    pub const DEFAULT_CHAIN: &'static [SourceName] = &[
        #[cfg(feature = "env")]
        SourceName::Env,
        #[cfg(feature = "incluster")]
        SourceName::InCluster,
        #[cfg(feature = "proxy")]
        SourceName::Proxy,
    ];

    /// The name: `env`, `in-cluster`, `proxy`.
    pub fn as_str(self) -> &'static str {
        match self {
            #[cfg(feature = "env")]
            SourceName::Env => "env",
            #[cfg(feature = "incluster")]
            SourceName::InCluster => "in-cluster",
            #[cfg(feature = "proxy")]
            SourceName::Proxy => "proxy",
        }
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceName {
    type Err = String;

    /// Parses a name of [`SourceName::DEFAULT_CHAIN`]; the error lists the known names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceName::DEFAULT_CHAIN
            .iter()
            .copied()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = SourceName::DEFAULT_CHAIN
                    .iter()
                    .map(|n| n.as_str())
                    .collect();
                format!("unknown source {s:?} (known: {})", known.join(", "))
            })
    }
}

/// One entry of the chain: where the endpoint and the credentials come from (one source in
/// a chain; two, possibly, when composed by hand).
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    endpoint: Arc<dyn ApiEndpoint>,
    credentials: Arc<dyn CredentialSource>,
}

impl Entry {
    fn credentials_name(&self) -> &str {
        self.credentials.name()
    }
}

/// What the builder will resolve.
#[derive(Debug, Clone)]
enum Inputs {
    /// The default chain, or the named subset in this order.
    Named(Option<Vec<SourceName>>),
    /// A chain of the caller's sources.
    Chain(Vec<Arc<dyn Source>>),
    /// An endpoint and credentials composed by hand.
    Composed {
        endpoint: Arc<dyn ApiEndpoint>,
        credentials: Option<Arc<dyn CredentialSource>>,
    },
}

/// Builds a [`Client`] from any [`ApiEndpoint`] with any [`CredentialSource`], or from an
/// ordered chain of sources.
///
/// Without an explicit endpoint or chain, the default chain is used, in this order (explicit
/// beats implicit, probing last):
///
/// 1. `env`: the `KUBE_*` variables (or another prefix: [`ClientBuilder::env_prefix`]);
/// 2. `in-cluster`: the pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT`);
/// 3. `proxy`: a running `kubectl proxy` (`http://127.0.0.1:8001`, or
///    [`ClientBuilder::proxy_url`]), probed with a connect.
///
/// The first source that applies wins; a source that applies but is broken stops the chain
/// (it never falls through to another identity); when none applies the error lists every
/// source and why. The chain is resolved once, in [`ClientBuilder::build`]; the chosen
/// source stays for the client's life. A chain takes the endpoint and the credentials from
/// the same source.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    inputs: Inputs,
    env: Arc<dyn Environment>,
    #[cfg_attr(not(feature = "env"), allow(dead_code))]
    env_prefix: Option<String>,
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    proxy_url: Option<String>,
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    proxy_probe_timeout: Option<Duration>,
    refresh_period: Option<Duration>,
    ca_refresh_period: Option<Duration>,
    clock: Arc<dyn Clock>,
    serviceaccount_dir: Option<PathBuf>,
    connect_timeout: Duration,
    timeout: Duration,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            inputs: Inputs::Named(None),
            env: Arc::new(ProcessEnvironment),
            env_prefix: None,
            proxy_url: None,
            proxy_probe_timeout: None,
            refresh_period: None,
            ca_refresh_period: None,
            clock: Arc::new(SystemClock),
            serviceaccount_dir: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl ClientBuilder {
    /// A builder for the default chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses these of kubecred's sources, in this order, instead of the default chain (a name
    /// given twice counts once, at its first place).
    pub fn sources(mut self, names: impl IntoIterator<Item = SourceName>) -> Self {
        let mut chain: Vec<SourceName> = Vec::new();
        for name in names {
            if !chain.contains(&name) {
                chain.push(name);
            }
        }
        self.inputs = Inputs::Named(Some(chain));
        self
    }

    /// Uses a chain of the caller's own sources, in this order.
    pub fn chain(mut self, sources: impl IntoIterator<Item = Arc<dyn Source>>) -> Self {
        self.inputs = Inputs::Chain(sources.into_iter().collect());
        self
    }

    /// Uses this endpoint (composed by hand: no chain). Without
    /// [`ClientBuilder::credentials`], requests are anonymous.
    pub fn endpoint(mut self, endpoint: Arc<dyn ApiEndpoint>) -> Self {
        let credentials = match self.inputs {
            Inputs::Composed { credentials, .. } => credentials,
            _ => None,
        };
        self.inputs = Inputs::Composed {
            endpoint,
            credentials,
        };
        self
    }

    /// Uses these credentials with the endpoint given to [`ClientBuilder::endpoint`]. The
    /// builder refuses a composition that would leak them (an endpoint that must not receive
    /// credentials, or a bearer token over plain `http://` to a non-loopback host).
    pub fn credentials(mut self, credentials: Arc<dyn CredentialSource>) -> Self {
        match &mut self.inputs {
            Inputs::Composed {
                credentials: slot, ..
            } => *slot = Some(credentials),
            _ => {
                // Remembered until an endpoint arrives; build() fails if none does.
                self.inputs = Inputs::Composed {
                    endpoint: Arc::new(MissingEndpoint),
                    credentials: Some(credentials),
                }
            }
        }
        self
    }

    /// Reads variables through `env` instead of the process environment (for the default
    /// chain's sources and the `KUBECRED_*` variables).
    pub fn environment(mut self, env: Arc<dyn Environment>) -> Self {
        self.env = env;
        self
    }

    /// Makes the env source read `<PREFIX>_HOST`, `<PREFIX>_TOKEN`, … instead of `KUBE_*`.
    #[cfg(feature = "env")]
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = Some(prefix.into());
        self
    }

    /// Moves the `kubectl proxy` of the default chain without reordering it:
    /// `http://` + a loopback host and port, or `unix:///path/to.sock` (beats
    /// `KUBECRED_PROXY_URL`). A malformed or non-loopback URL makes the proxy source *failed*.
    #[cfg(feature = "proxy")]
    pub fn proxy_url(mut self, url: impl Into<String>) -> Self {
        self.proxy_url = Some(url.into());
        self
    }

    /// How long the proxy source's connect probe waits (200 ms by default).
    #[cfg(feature = "proxy")]
    pub fn proxy_probe_timeout(mut self, timeout: Duration) -> Self {
        self.proxy_probe_timeout = Some(timeout);
        self
    }

    /// How often the default chain's file-backed tokens are re-read at least (60 s by
    /// default; 10 s before a JWT's `exp` when sooner). Beats `KUBECRED_REFRESH_SECS`.
    pub fn refresh_period(mut self, period: Duration) -> Self {
        self.refresh_period = Some(period);
        self
    }

    /// How often the default chain's CA bundle files are re-read (300 s by default; down to
    /// 1 s). Beats `KUBECRED_REFRESH_SECS`.
    pub fn ca_refresh_period(mut self, period: Duration) -> Self {
        self.ca_refresh_period = Some(period);
        self
    }

    /// Reads time from `clock` in the default chain's sources and in the client, which asks
    /// it whether a refused token has expired; tests use a [`kubecred_core::ManualClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Moves the in-cluster service-account directory (beats `KUBECRED_SERVICEACCOUNT_DIR`).
    pub fn serviceaccount_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.serviceaccount_dir = Some(dir.into());
        self
    }

    /// The TCP (and TLS) connect timeout; 10 s by default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The whole-request timeout, from sending to the end of the body; 30 s by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Evaluates every source in order, without sending any HTTP request, and reports each
    /// outcome (sources after the chosen or failed one are still evaluated, as `skipped`).
    pub async fn explain(&self) -> Explanation {
        self.resolve().await.report
    }

    /// Resolves the chain once and builds the client.
    ///
    /// # Errors
    ///
    /// [`Error::NoSource`] when no source applies; [`Error::SourceFailed`] when the first
    /// source that applies is broken or its composition unsafe; [`Error::Config`] for
    /// credentials without an endpoint. The first two carry the same report as
    /// [`ClientBuilder::explain`].
    pub async fn build(self) -> Result<Client, Error> {
        let resolution = self.resolve().await;
        let report = Box::new(resolution.report);
        if let Some((name, error)) = resolution.failure {
            if name == MissingEndpoint::NAME {
                return Err(Error::Config(
                    "credentials were given without an endpoint".to_owned(),
                ));
            }
            return Err(Error::SourceFailed {
                name,
                error,
                report,
            });
        }
        let Some(chosen) = resolution.chosen else {
            return Err(Error::NoSource { report });
        };
        if matches!(chosen.endpoint.trust(), Trust::InsecureSkipVerify) {
            tracing::warn!(
                source = %chosen.entry.name,
                "insecure: TLS verification of the API server is off; anyone on the path can impersonate it"
            );
        }
        let http = transport::http_client(
            &chosen.endpoint,
            chosen.tls.clone(),
            self.connect_timeout,
            self.timeout,
        )
        .map_err(|error| Error::SourceFailed {
            name: chosen.entry.name.clone(),
            error,
            report: report.clone(),
        })?;
        let name = if chosen.entry.name == chosen.entry.credentials_name() {
            chosen.entry.name.clone()
        } else {
            format!(
                "{} with {}",
                chosen.entry.name,
                chosen.entry.credentials_name()
            )
        };
        Client::new(
            name,
            chosen.endpoint,
            chosen.entry.credentials,
            Arc::new(chosen.tls),
            chosen.identity,
            http,
            Arc::clone(&self.clock),
        )
        .map_err(|error| Error::SourceFailed {
            name: chosen.entry.name.clone(),
            error,
            report,
        })
    }

    fn entries(&self) -> Vec<Entry> {
        match &self.inputs {
            Inputs::Named(names) => {
                let names = names.as_deref().unwrap_or(SourceName::DEFAULT_CHAIN);
                names
                    .iter()
                    .map(|name| {
                        let source = self.named_source(*name);
                        Entry {
                            name: name.as_str().to_owned(),
                            endpoint: Arc::clone(&source) as Arc<dyn ApiEndpoint>,
                            credentials: source as Arc<dyn CredentialSource>,
                        }
                    })
                    .collect()
            }
            Inputs::Chain(sources) => sources
                .iter()
                .map(|s| Entry {
                    name: ApiEndpoint::name(&**s).to_owned(),
                    endpoint: Arc::clone(s) as Arc<dyn ApiEndpoint>,
                    credentials: Arc::clone(s) as Arc<dyn CredentialSource>,
                })
                .collect(),
            Inputs::Composed {
                endpoint,
                credentials,
            } => {
                let credentials = credentials
                    .clone()
                    .unwrap_or_else(|| Arc::new(Anonymous::new(endpoint.name())));
                vec![Entry {
                    name: endpoint.name().to_owned(),
                    endpoint: Arc::clone(endpoint),
                    credentials,
                }]
            }
        }
    }

    /// The token and CA re-read periods: the builder's, else `KUBECRED_REFRESH_SECS`, else
    /// the sources' defaults (`None`).
    #[cfg_attr(not(any(feature = "env", feature = "incluster")), allow(dead_code))]
    fn refresh_periods(&self) -> Result<(Option<Duration>, Option<Duration>), Misconfigured> {
        if let (Some(token), Some(ca)) = (self.refresh_period, self.ca_refresh_period) {
            return Ok((Some(token), Some(ca)));
        }
        let from_env = match self.env.var(REFRESH_SECS_VAR) {
            None => None,
            Some(value) => Some(
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|secs| (1..=MAX_REFRESH_SECS).contains(secs))
                    .map(Duration::from_secs)
                    .ok_or(Misconfigured {
                        variable: REFRESH_SECS_VAR,
                        problem: "is not a whole number of seconds from 1 to 31536000 (a year)",
                    })?,
            ),
        };
        Ok((
            self.refresh_period.or(from_env),
            self.ca_refresh_period.or(from_env),
        ))
    }

    #[cfg_attr(
        not(any(feature = "incluster", feature = "env")),
        allow(unused_variables)
    )]
    fn named_source(&self, name: SourceName) -> Arc<dyn Source> {
        match name {
            #[cfg(feature = "env")]
            SourceName::Env => {
                let (token_period, ca_period) = match self.refresh_periods() {
                    Ok(periods) => periods,
                    Err(bad) => return Arc::new(bad.named(name)),
                };
                let mut builder = kubecred_env::EnvSource::builder()
                    .environment(Arc::clone(&self.env))
                    .clock(Arc::clone(&self.clock));
                if let Some(period) = token_period {
                    builder = builder.token_refresh_period(period);
                }
                if let Some(period) = ca_period {
                    builder = builder.ca_refresh_period(period);
                }
                if let Some(prefix) = &self.env_prefix {
                    builder = builder.prefix(prefix.clone());
                }
                Arc::new(builder.build())
            }
            #[cfg(feature = "proxy")]
            SourceName::Proxy => {
                let mut builder = kubecred_proxy::ProxySource::builder();
                if let Some(url) = &self.proxy_url {
                    builder = builder.url(url.clone());
                } else if let Some(url) = self.env.var(PROXY_URL_VAR) {
                    builder = builder.url_from_variable(PROXY_URL_VAR, url);
                }
                if let Some(timeout) = self.proxy_probe_timeout {
                    builder = builder.probe_timeout(timeout);
                }
                Arc::new(builder.build())
            }
            #[cfg(feature = "incluster")]
            SourceName::InCluster => {
                let dir = self
                    .serviceaccount_dir
                    .clone()
                    .or_else(|| self.env.var(SERVICEACCOUNT_DIR_VAR).map(PathBuf::from))
                    .unwrap_or_else(|| {
                        PathBuf::from(kubecred_incluster::DEFAULT_SERVICEACCOUNT_DIR)
                    });
                let (token_period, ca_period) = match self.refresh_periods() {
                    Ok(periods) => periods,
                    Err(bad) => return Arc::new(bad.named(name)),
                };
                let mut builder = kubecred_incluster::InCluster::builder()
                    .serviceaccount_dir(dir)
                    .environment(Arc::clone(&self.env))
                    .clock(Arc::clone(&self.clock));
                if let Some(period) = token_period {
                    builder = builder.token_refresh_period(period);
                }
                if let Some(period) = ca_period {
                    builder = builder.ca_refresh_period(period);
                }
                Arc::new(builder.build())
            }
        }
    }

    async fn resolve(&self) -> Resolution {
        let mut resolution = Resolution {
            report: Explanation {
                sources: Vec::new(),
                endpoint: None,
                namespace: None,
                trust: None,
                credential: None,
                warnings: Vec::new(),
            },
            chosen: None,
            failure: None,
        };
        for entry in self.entries() {
            let decided = resolution.chosen.is_some() || resolution.failure.is_some();
            match evaluate(&entry).await {
                Ok((endpoint, credentials, tls, identity)) => {
                    let p = endpoint.provenance();
                    resolution.report.sources.push(SourceReport {
                        name: entry.name.clone(),
                        outcome: if decided {
                            Outcome::Skipped
                        } else {
                            Outcome::Chosen
                        },
                        reason: p.reason.clone(),
                        variables: p.variables.clone(),
                        files: p.files.clone(),
                    });
                    if !decided {
                        let report = &mut resolution.report;
                        report.endpoint = Some(endpoint.display_url());
                        report.namespace = Some(endpoint.namespace().to_owned());
                        report.trust = Some(endpoint.trust().to_string());
                        report.credential = Some(CredentialReport::new(
                            credentials.kind(),
                            credentials.expires_at(),
                        ));
                        if matches!(endpoint.trust(), Trust::InsecureSkipVerify) {
                            report.warnings.push(
                                "insecure: TLS verification of the API server is off".to_owned(),
                            );
                        }
                        resolution.chosen = Some(Chosen {
                            entry,
                            endpoint,
                            tls,
                            identity,
                        });
                    }
                }
                Err((failed_name, error)) => {
                    let outcome = match (decided, error.is_not_applicable()) {
                        (true, _) => Outcome::Skipped,
                        (false, true) => Outcome::NotApplicable,
                        (false, false) => Outcome::Failed,
                    };
                    resolution.report.sources.push(SourceReport::failed(
                        &entry.name,
                        outcome,
                        &error,
                    ));
                    if outcome == Outcome::Failed {
                        resolution.failure = Some((failed_name, error));
                    }
                }
            }
        }
        for source in &resolution.report.sources {
            tracing::debug!(
                source = %source.name,
                outcome = source.outcome.as_str(),
                reason = %source.reason,
                "evaluated credential source"
            );
        }
        resolution
    }
}

struct Resolution {
    report: Explanation,
    chosen: Option<Chosen>,
    failure: Option<(String, SourceError)>,
}

struct Chosen {
    entry: Entry,
    endpoint: Endpoint,
    tls: rustls::ClientConfig,
    identity: Option<Arc<transport::IdentityResolver>>,
}

/// What a source that applies resolves to.
type Evaluated = (
    Endpoint,
    Arc<Credentials>,
    rustls::ClientConfig,
    Option<Arc<transport::IdentityResolver>>,
);

/// Resolves one entry: its endpoint, its credentials, and the TLS configuration they make,
/// refusing a composition that would leak a secret. An error comes with the name of the
/// source at fault: the credentials' source when they failed, else the endpoint's.
async fn evaluate(entry: &Entry) -> Result<Evaluated, (String, SourceError)> {
    let endpoint = entry
        .endpoint
        .endpoint()
        .await
        .map_err(|e| (entry.name.clone(), e))?;
    let credentials = entry
        .credentials
        .credentials()
        .await
        .map_err(|e| (entry.credentials_name().to_owned(), e))?;
    check_composition(&endpoint, &credentials).map_err(|e| (entry.name.clone(), e))?;
    let (tls, identity) =
        transport::tls_config(&endpoint, &credentials).map_err(|e| (entry.name.clone(), e))?;
    Ok((endpoint, credentials, tls, identity))
}

/// The refusals DESIGN.md fixes: decided at resolution, never discovered at send time.
pub(crate) fn check_composition(
    endpoint: &Endpoint,
    credentials: &Credentials,
) -> Result<(), SourceError> {
    if let Some(host) = endpoint.host_header() {
        if http::HeaderValue::from_str(host).is_err() {
            return Err(SourceError::Refused {
                reason: format!("the endpoint's Host header {host:?} is not a valid header value"),
            });
        }
    }
    let url = endpoint.url();
    match url.scheme() {
        "https" => {}
        "http" => {
            if credentials.identity().is_some() {
                return Err(SourceError::Refused {
                    reason: format!(
                        "a client certificate cannot be used over plain http ({})",
                        endpoint.display_url()
                    ),
                });
            }
            if credentials.token().is_some() {
                check_token_allowed(endpoint)?;
            }
        }
        other => {
            return Err(SourceError::Refused {
                reason: format!("the API server URL's scheme {other:?} is not http or https"),
            })
        }
    }
    if credentials.is_secret() {
        check_token_allowed(endpoint)?;
    }
    Ok(())
}

/// Whether an `Authorization` header may go to `endpoint`: never to one that refuses
/// credentials (`kubectl proxy` forwards it upstream), never over plain `http://` to a
/// non-loopback host.
pub(crate) fn check_token_allowed(endpoint: &Endpoint) -> Result<(), SourceError> {
    if !endpoint.accepts_credentials() {
        return Err(SourceError::Refused {
            reason: format!(
                "{} must not receive credentials (it would forward them upstream); compose it with anonymous credentials",
                endpoint.display_url()
            ),
        });
    }
    if endpoint.url().scheme() == "http" && !endpoint.is_loopback() {
        return Err(SourceError::Refused {
            reason: format!(
                "a bearer token is never sent over plain http to a non-loopback host ({})",
                endpoint.display_url()
            ),
        });
    }
    Ok(())
}

/// A kubecred source whose own setting (a `KUBECRED_*` variable) is invalid: it evaluates
/// to *failed*, naming the variable, while the rest of the chain is still evaluated.
#[derive(Debug, Clone)]
struct Misconfigured {
    variable: &'static str,
    problem: &'static str,
}

impl Misconfigured {
    #[cfg_attr(not(any(feature = "env", feature = "incluster")), allow(dead_code))]
    fn named(self, name: SourceName) -> NamedMisconfigured {
        NamedMisconfigured {
            name: name.as_str(),
            setting: self,
        }
    }

    fn error(&self) -> SourceError {
        SourceError::InvalidVariable {
            variable: self.variable.to_owned(),
            problem: self.problem.to_owned(),
        }
    }
}

#[derive(Debug)]
struct NamedMisconfigured {
    name: &'static str,
    setting: Misconfigured,
}

#[async_trait::async_trait]
impl ApiEndpoint for NamedMisconfigured {
    fn name(&self) -> &str {
        self.name
    }

    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        Err(self.setting.error())
    }
}

#[async_trait::async_trait]
impl CredentialSource for NamedMisconfigured {
    fn name(&self) -> &str {
        self.name
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        Err(self.setting.error())
    }
}

/// The credentials of a hand-composed endpoint given none; named after the endpoint.
#[derive(Debug)]
struct Anonymous {
    name: String,
    /// One `Arc` for every request, so that the client keeps what it built from it.
    credentials: Arc<Credentials>,
}

impl Anonymous {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            credentials: Arc::new(Credentials::anonymous()),
        }
    }
}

#[async_trait::async_trait]
impl CredentialSource for Anonymous {
    fn name(&self) -> &str {
        &self.name
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        Ok(Arc::clone(&self.credentials))
    }

    fn current(&self) -> Option<Arc<Credentials>> {
        Some(Arc::clone(&self.credentials))
    }
}

/// Stands in for the endpoint while only credentials were given; resolving it fails.
#[derive(Debug)]
struct MissingEndpoint;

impl MissingEndpoint {
    const NAME: &'static str = "(no endpoint)";
}

#[async_trait::async_trait]
impl ApiEndpoint for MissingEndpoint {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        Err(SourceError::Refused {
            reason: "credentials were given without an endpoint".to_owned(),
        })
    }
}
