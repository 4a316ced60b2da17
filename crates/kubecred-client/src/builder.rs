//! The two ways to build a [`Client`]: [`ClientBuilder`] resolves a chain of sources;
//! [`ComposedBuilder`] takes an endpoint and credentials composed by hand. The types keep the
//! modes apart: a chain's settings are not methods of a composed builder, and settings of a
//! chain given before switching to a composed builder make its `build()` fail.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kubecred_core::{
    ApiEndpoint, Clock, CredentialSource, Environment, ProcessEnvironment, Source, SystemClock,
};

use crate::explain::Explanation;
use crate::resolve::{self, Entry, Timeouts, Until};
use crate::sources::Settings;
use crate::{Client, Error, SourceName};

/// The connect timeout unless [`ClientBuilder::connect_timeout`] says otherwise: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole-request timeout unless [`ClientBuilder::timeout`] says otherwise: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The idle limit of a streamed body unless [`ClientBuilder::idle_timeout`] says otherwise:
/// none, as in kubectl. A healthy watch or followed log can stay silent for as long as it
/// lasts (a watch without `timeoutSeconds` up to twice kube-apiserver's
/// `--min-request-timeout`, 3,600 s by default; kube-rs's watcher asks for 290 s; a followed
/// log of a quiet pod, indefinitely), and an idle limit under that cuts it; a peer that is
/// gone is found without one by the TCP keep-alive probes of every connection (reqwest's:
/// after 15 s of silence, 3 probes 15 s apart).
pub const DEFAULT_IDLE_TIMEOUT: Option<Duration> = None;

/// What both modes share: the clock and the timeouts.
#[derive(Clone)]
struct Common {
    clock: Arc<dyn Clock>,
    timeouts: Timeouts,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            timeouts: Timeouts {
                connect: DEFAULT_CONNECT_TIMEOUT,
                request: DEFAULT_TIMEOUT,
                idle: DEFAULT_IDLE_TIMEOUT,
            },
        }
    }
}

impl Common {
    /// The report of every entry, or of the builder's own contradiction.
    async fn explain(&self, entries: Result<Vec<Entry>, Error>) -> Explanation {
        match entries {
            Ok(entries) => {
                resolve::resolve(entries, Until::End, self.timeouts, &*self.clock)
                    .await
                    .report
            }
            Err(error) => Explanation::invalid(&error),
        }
    }

    /// The client of the first entry that applies, evaluating none after it.
    async fn build(self, entries: Vec<Entry>) -> Result<Client, Error> {
        resolve::resolve(entries, Until::Chosen, self.timeouts, &*self.clock)
            .await
            .into_client(self.clock, self.timeouts)
    }
}

impl fmt::Debug for Common {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Common")
            .field("connect_timeout", &self.timeouts.connect)
            .field("timeout", &self.timeouts.request)
            .field("idle_timeout", &self.timeouts.idle)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`] from an ordered chain of sources: by default kubecred's own, in this
/// order (explicit beats implicit, probing last):
///
/// 1. `env`: the `KUBE_*` variables (or another prefix: [`ClientBuilder::env_prefix`]);
/// 2. `kubeconfig`: the user's kubeconfig (`ClientBuilder::kubeconfig`, else `KUBECONFIG`,
///    else `~/.kube/config`), its current context or `ClientBuilder::context` (feature
///    `kubeconfig`);
/// 3. `in-cluster`: the pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT`);
/// 4. `proxy`: a running `kubectl proxy` (`http://127.0.0.1:8001`, or
///    [`ClientBuilder::proxy_url`]), probed with a connect.
///
/// The first source that applies wins; a source that applies but is broken stops the chain
/// (it never falls through to another identity); when none applies the error lists every
/// source and why. The chain is resolved once, in [`ClientBuilder::build`], which evaluates
/// nothing after the chosen source; the chosen source stays for the client's life. A chain
/// takes the endpoint and the credentials from the same source.
///
/// To compose an endpoint and credentials by hand instead, call [`ClientBuilder::endpoint`]
/// (or [`ClientBuilder::credentials`]): it returns a [`ComposedBuilder`], the other mode.
#[derive(Clone)]
pub struct ClientBuilder {
    /// `sources(..)`: kubecred's sources in this order.
    names: Option<Vec<SourceName>>,
    /// `chain(..)`: the caller's own sources.
    custom: Option<Vec<Arc<dyn Source>>>,
    env: Arc<dyn Environment>,
    settings: Settings,
    common: Common,
    /// The chain settings called so far, by method name, for the error a composed builder
    /// gives when it inherits them.
    chain_settings: Vec<&'static str>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            names: None,
            custom: None,
            env: Arc::new(ProcessEnvironment),
            settings: Settings::default(),
            common: Common::default(),
            chain_settings: Vec::new(),
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        let mut d = f.debug_struct("ClientBuilder");
        #[cfg(feature = "kubeconfig")]
        d.field("exec_cache", &s.exec_cache);
        d.field("sources", &self.names)
            .field("chain", &self.custom)
            .field("env", &self.env)
            .field("env_prefix", &s.env_prefix)
            .field(
                "proxy_url",
                &s.proxy_url
                    .as_deref()
                    .map(kubecred_core::RedactedUrl::unparsed),
            )
            .field("proxy_probe_timeout", &s.proxy_probe_timeout)
            .field("refresh_period", &s.refresh_period)
            .field("ca_refresh_period", &s.ca_refresh_period)
            .field("serviceaccount_dir", &s.serviceaccount_dir)
            .field("kubeconfig", &s.kubeconfig)
            .field("context", &s.context)
            .field("exec_timeout", &s.exec_timeout)
            .field("common", &self.common)
            .finish()
    }
}

impl ClientBuilder {
    /// A builder for the default chain.
    pub fn new() -> Self {
        Self::default()
    }

    fn chain_setting(mut self, method: &'static str) -> Self {
        if !self.chain_settings.contains(&method) {
            self.chain_settings.push(method);
        }
        self
    }

    /// Uses these of kubecred's sources, in this order, instead of the default chain (a name
    /// given twice counts once, at its first place). Cannot be combined with
    /// [`ClientBuilder::chain`]: `build()` fails with [`Error::Config`] when both are given.
    pub fn sources(mut self, names: impl IntoIterator<Item = SourceName>) -> Self {
        let mut chain: Vec<SourceName> = Vec::new();
        for name in names {
            if !chain.contains(&name) {
                chain.push(name);
            }
        }
        self.names = Some(chain);
        self.chain_setting("sources")
    }

    /// Uses a chain of the caller's own sources, in this order. Cannot be combined with
    /// [`ClientBuilder::sources`]: `build()` fails with [`Error::Config`] when both are given.
    pub fn chain(mut self, sources: impl IntoIterator<Item = Arc<dyn Source>>) -> Self {
        self.custom = Some(sources.into_iter().collect());
        self.chain_setting("chain")
    }

    /// Switches to the other mode: this endpoint, composed by hand (no chain), with the
    /// credentials [`ComposedBuilder::credentials`] gives (anonymous without them). The
    /// clock and the timeouts set so far carry over; any chain setting set so far (sources,
    /// environment, …) makes [`ComposedBuilder::build`] fail with [`Error::Config`].
    pub fn endpoint(self, endpoint: Arc<dyn ApiEndpoint>) -> ComposedBuilder {
        ComposedBuilder::from_chain_builder(self).endpoint(endpoint)
    }

    /// Switches to the other mode, as [`ClientBuilder::endpoint`] does: these credentials,
    /// with the endpoint [`ComposedBuilder::endpoint`] gives (`build()` fails with
    /// [`Error::Config`] without one).
    pub fn credentials(self, credentials: Arc<dyn CredentialSource>) -> ComposedBuilder {
        ComposedBuilder::from_chain_builder(self).credentials(credentials)
    }

    /// Reads variables through `env` instead of the process environment (for the default
    /// chain's sources and the `KUBECRED_*` variables).
    pub fn environment(mut self, env: Arc<dyn Environment>) -> Self {
        self.env = env;
        self.chain_setting("environment")
    }

    /// Makes the env source read `<PREFIX>_HOST`, `<PREFIX>_TOKEN`, … instead of `KUBE_*`.
    #[cfg(feature = "env")]
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.env_prefix = Some(prefix.into());
        self.chain_setting("env_prefix")
    }

    /// Makes the kubeconfig source read exactly this file (beats `KUBECONFIG` and
    /// `~/.kube/config`); a missing or unreadable file makes it *failed*, naming it and this
    /// method.
    #[cfg(feature = "kubeconfig")]
    pub fn kubeconfig(self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig_from(path, "ClientBuilder::kubeconfig")
    }

    /// Like [`ClientBuilder::kubeconfig`], for a program that takes the path from a setting
    /// of its own: errors name `origin` (the `kubecred` CLI passes `--kubeconfig`).
    #[cfg(feature = "kubeconfig")]
    pub fn kubeconfig_from(mut self, path: impl Into<PathBuf>, origin: impl Into<String>) -> Self {
        self.settings.kubeconfig = Some((path.into(), origin.into()));
        self.chain_setting("kubeconfig")
    }

    /// Makes the kubeconfig source use this context instead of the kubeconfig's
    /// `current-context`; one that the kubeconfig does not define makes it *failed*, listing
    /// the contexts there are.
    #[cfg(feature = "kubeconfig")]
    pub fn context(mut self, name: impl Into<String>) -> Self {
        self.settings.context = Some(name.into());
        self.chain_setting("context")
    }

    /// How long a kubeconfig user's exec credential plugin may run before it is killed and
    /// the read fails saying so (120 s by default; also how long a process waits for another
    /// that holds the exec cache's lock; a timeout too long for the clock, such as
    /// [`Duration::MAX`], is none). Not covered by [`ClientBuilder::timeout`], which is the
    /// request's.
    #[cfg(feature = "kubeconfig")]
    pub fn exec_timeout(mut self, timeout: Duration) -> Self {
        self.settings.exec_timeout = Some(timeout);
        self.chain_setting("exec_timeout")
    }

    /// Keeps exec plugins' credentials in `dir` for later processes (a script's next command
    /// reads the credential instead of running the plugin again), until 10 s before their
    /// `expirationTimestamp`; a credential without one is never kept. Off by default; beats
    /// `KUBECRED_EXEC_CACHE`. The directory is created `0700` and each entry `0600`; one open
    /// to others or owned by another user is not used (one warning, and the plugin runs).
    #[cfg(feature = "kubeconfig")]
    pub fn exec_cache(self, dir: impl Into<PathBuf>) -> Self {
        self.exec_cache_from(dir, "ClientBuilder::exec_cache")
    }

    /// Like [`ClientBuilder::exec_cache`], for a program that takes the directory from a
    /// setting of its own: a warning about the directory names `origin` (the `kubecred` CLI
    /// passes `--exec-cache`).
    #[cfg(feature = "kubeconfig")]
    pub fn exec_cache_from(mut self, dir: impl Into<PathBuf>, origin: impl Into<String>) -> Self {
        let cache = kubecred_kubeconfig::ExecCache::Dir(dir.into());
        self.settings.exec_cache = Some((cache, origin.into()));
        self.chain_setting("exec_cache")
    }

    /// Like [`ClientBuilder::exec_cache`], in the default location:
    /// `$XDG_CACHE_HOME/kubecred/exec`, else `$HOME/.cache/kubecred/exec` (read through the
    /// builder's environment).
    #[cfg(feature = "kubeconfig")]
    pub fn exec_cache_default(self) -> Self {
        self.exec_cache_default_from("ClientBuilder::exec_cache_default")
    }

    /// Like [`ClientBuilder::exec_cache_default`]; a warning about the directory names
    /// `origin` as what turned the cache on (the `kubecred` CLI passes `--exec-cache`).
    #[cfg(feature = "kubeconfig")]
    pub fn exec_cache_default_from(mut self, origin: impl Into<String>) -> Self {
        let cache = kubecred_kubeconfig::ExecCache::DefaultDir;
        self.settings.exec_cache = Some((cache, origin.into()));
        self.chain_setting("exec_cache")
    }

    /// Moves the `kubectl proxy` of the default chain without reordering it:
    /// `http://` + a loopback host and port, or `unix:///path/to.sock` (beats
    /// `KUBECRED_PROXY_URL`). A malformed or non-loopback URL makes the proxy source *failed*.
    #[cfg(feature = "proxy")]
    pub fn proxy_url(mut self, url: impl Into<String>) -> Self {
        self.settings.proxy_url = Some(url.into());
        self.chain_setting("proxy_url")
    }

    /// How long the proxy source's connect probe waits (200 ms by default).
    #[cfg(feature = "proxy")]
    pub fn proxy_probe_timeout(mut self, timeout: Duration) -> Self {
        self.settings.proxy_probe_timeout = Some(timeout);
        self.chain_setting("proxy_probe_timeout")
    }

    /// How often the default chain's file-backed tokens are re-read at least (60 s by
    /// default; 10 s before a JWT's `exp` when sooner). Beats `KUBECRED_REFRESH_SECS`.
    pub fn refresh_period(mut self, period: Duration) -> Self {
        self.settings.refresh_period = Some(period);
        self.chain_setting("refresh_period")
    }

    /// How often the default chain's CA bundle files are re-read (300 s by default; down to
    /// 1 s). Beats `KUBECRED_REFRESH_SECS`.
    pub fn ca_refresh_period(mut self, period: Duration) -> Self {
        self.settings.ca_refresh_period = Some(period);
        self.chain_setting("ca_refresh_period")
    }

    /// Reads time from `clock` in the default chain's sources and in the client, which asks
    /// it whether a refused token has expired; tests use a [`kubecred_core::ManualClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.common.clock = clock;
        self
    }

    /// Moves the in-cluster service-account directory (beats `KUBECRED_SERVICEACCOUNT_DIR`).
    /// A directory that is missing or not a directory makes the in-cluster source *failed*,
    /// naming it and this method.
    pub fn serviceaccount_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.serviceaccount_dir_from(dir, "ClientBuilder::serviceaccount_dir")
    }

    /// Like [`ClientBuilder::serviceaccount_dir`], for a program that takes the directory
    /// from a setting of its own: errors name `origin` as where the directory came from (the
    /// `kubecred` CLI passes `--serviceaccount-dir`).
    pub fn serviceaccount_dir_from(
        mut self,
        dir: impl Into<PathBuf>,
        origin: impl Into<String>,
    ) -> Self {
        self.settings.serviceaccount_dir = Some((dir.into(), origin.into()));
        self.chain_setting("serviceaccount_dir")
    }

    /// The TCP (and TLS) connect timeout; 10 s by default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.common.timeouts.connect = timeout;
        self
    }

    /// The whole-request timeout of a buffered send ([`Client::request`], [`Client::get`],
    /// [`Client::get_json`]), from sending to the end of the body; 30 s by default. A
    /// streamed send ([`Client::send_streaming`]) waits this long for the response head,
    /// never for its body (see `idle_timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.common.timeouts.request = timeout;
        self
    }

    /// The idle limit of a streamed body ([`Client::send_streaming`],
    /// [`Client::get_streaming`]): the body ends with an [`Error::Timeout`] of
    /// [`crate::TimeLimit::Idle`] when nothing arrives for `timeout` after the head or since
    /// the last chunk (`None`: no limit). None by default ([`DEFAULT_IDLE_TIMEOUT`] says
    /// why); buffered sends are bounded by the whole-request timeout instead. A limit over 30
    /// years (up to [`Duration::MAX`]) is timed as 30 years, tokio's bound on a sleep.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.common.timeouts.idle = timeout.into();
        self
    }

    /// Evaluates every source in order, without sending any HTTP request, and reports each
    /// outcome (sources after the chosen or failed one are still evaluated, as `skipped`).
    pub async fn explain(&self) -> Explanation {
        self.common.explain(self.entries()).await
    }

    /// Resolves the chain once and builds the client. Nothing after the chosen source is
    /// read, probed or connected to.
    ///
    /// # Errors
    ///
    /// [`Error::NoSource`] when no source applies; [`Error::SourceFailed`] when the first
    /// source that applies is broken or its composition unsafe (both carry the same report
    /// as [`ClientBuilder::explain`], every source evaluated); [`Error::Config`] when both
    /// [`ClientBuilder::sources`] and [`ClientBuilder::chain`] were given;
    /// [`Error::Internal`] when the transport cannot be set up.
    pub async fn build(self) -> Result<Client, Error> {
        let entries = self.entries()?;
        self.common.build(entries).await
    }

    fn entries(&self) -> Result<Vec<Entry>, Error> {
        match (&self.names, &self.custom) {
            (Some(_), Some(_)) => Err(Error::Config(
                "both ClientBuilder::sources and ClientBuilder::chain were given; a chain is one or the other".to_owned(),
            )),
            (_, Some(custom)) => Ok(custom.iter().cloned().map(Entry::source).collect()),
            (names, None) => Ok(names
                .as_deref()
                .unwrap_or(SourceName::DEFAULT_CHAIN)
                .iter()
                .map(|name| self.settings.entry(*name, &self.env, &self.common.clock))
                .collect()),
        }
    }
}

/// Builds a [`Client`] from an endpoint and credentials composed by hand: any
/// [`ApiEndpoint`] with any [`CredentialSource`] (anonymous without one), resolved once in
/// [`ComposedBuilder::build`]. Made by [`Client::composed`], [`ClientBuilder::endpoint`] or
/// [`ClientBuilder::credentials`].
///
/// The builder refuses a composition that would leak the credentials: an endpoint that must
/// not receive any (`kubectl proxy`), a bearer token over plain `http://` to a non-loopback
/// host, a client certificate over plain `http://`.
#[derive(Clone, Debug)]
pub struct ComposedBuilder {
    endpoint: Option<Arc<dyn ApiEndpoint>>,
    credentials: Option<Arc<dyn CredentialSource>>,
    common: Common,
    /// Chain settings inherited from a [`ClientBuilder`]: `build()` refuses them.
    chain_settings: Vec<&'static str>,
}

impl ComposedBuilder {
    /// A builder for `endpoint`, with anonymous credentials until
    /// [`ComposedBuilder::credentials`] gives others.
    pub fn new(endpoint: Arc<dyn ApiEndpoint>) -> Self {
        Self {
            endpoint: Some(endpoint),
            credentials: None,
            common: Common::default(),
            chain_settings: Vec::new(),
        }
    }

    fn from_chain_builder(chain: ClientBuilder) -> Self {
        Self {
            endpoint: None,
            credentials: None,
            common: chain.common,
            chain_settings: chain.chain_settings,
        }
    }

    /// Uses this endpoint (replacing one given before).
    pub fn endpoint(mut self, endpoint: Arc<dyn ApiEndpoint>) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// Uses these credentials with the endpoint (replacing any given before).
    pub fn credentials(mut self, credentials: Arc<dyn CredentialSource>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Reads time from `clock`: the client asks it whether a refused token has expired.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.common.clock = clock;
        self
    }

    /// The TCP (and TLS) connect timeout; 10 s by default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.common.timeouts.connect = timeout;
        self
    }

    /// The whole-request timeout of a buffered send ([`Client::request`], [`Client::get`],
    /// [`Client::get_json`]), from sending to the end of the body; 30 s by default. A
    /// streamed send ([`Client::send_streaming`]) waits this long for the response head,
    /// never for its body (see `idle_timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.common.timeouts.request = timeout;
        self
    }

    /// The idle limit of a streamed body ([`Client::send_streaming`],
    /// [`Client::get_streaming`]): the body ends with an [`Error::Timeout`] of
    /// [`crate::TimeLimit::Idle`] when nothing arrives for `timeout` after the head or since
    /// the last chunk (`None`: no limit). None by default ([`DEFAULT_IDLE_TIMEOUT`] says
    /// why); buffered sends are bounded by the whole-request timeout instead. A limit over 30
    /// years (up to [`Duration::MAX`]) is timed as 30 years, tokio's bound on a sleep.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.common.timeouts.idle = timeout.into();
        self
    }

    /// Resolves the endpoint and the credentials without sending any HTTP request, and
    /// reports the outcome (one entry, named after the endpoint, or after the credentials'
    /// source when they are what failed).
    pub async fn explain(&self) -> Explanation {
        self.common.explain(self.entry().map(|e| vec![e])).await
    }

    /// Resolves the endpoint and the credentials once and builds the client.
    ///
    /// # Errors
    ///
    /// [`Error::SourceFailed`] when either source fails or the composition is unsafe, named
    /// after the one at fault; [`Error::Config`] without an endpoint, or with settings of a
    /// chain inherited from [`ClientBuilder`]; [`Error::Internal`] when the transport cannot
    /// be set up.
    pub async fn build(self) -> Result<Client, Error> {
        let entry = self.entry()?;
        self.common.build(vec![entry]).await
    }

    fn entry(&self) -> Result<Entry, Error> {
        if !self.chain_settings.is_empty() {
            let methods: Vec<String> = self
                .chain_settings
                .iter()
                .map(|m| format!("ClientBuilder::{m}"))
                .collect();
            return Err(Error::Config(format!(
                "{} configure a chain, but the endpoint and credentials are composed by hand (ClientBuilder::endpoint or ::credentials); a composed client has no chain: drop one or the other",
                methods.join(", ")
            )));
        }
        let Some(endpoint) = &self.endpoint else {
            return Err(Error::Config(
                "credentials were given without an endpoint".to_owned(),
            ));
        };
        Ok(Entry::composed(
            Arc::clone(endpoint),
            self.credentials.clone(),
        ))
    }
}
