//! [`SourceConfig`]: what every source of a chain shares (the environment, the clock, the
//! re-read policies), and [`SourceBuilder`], the setters every source's builder gets from it.

use std::sync::Arc;
use std::time::Duration;

use crate::{Clock, Environment, ProcessEnvironment, RefreshPolicy, SystemClock};

/// The settings every source reads the same way: where variables come from, where time comes
/// from, and how often file-backed tokens and CA bundles are re-read.
///
/// A client builder makes one and hands it to each source's builder (`configure(&config)` on
/// `EnvSourceBuilder`, `InClusterBuilder`, …), in the manner of aws-config's
/// `ProviderConfig`, so a new knob is added here once instead of to every source.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use kubecred_core::{MapEnvironment, SourceConfig};
///
/// let config = SourceConfig::new()
///     .with_environment(Arc::new(MapEnvironment::new([("KUBE_HOST", "https://127.0.0.1:6443")])))
///     .with_token_refresh_period(Duration::from_secs(5));
/// assert_eq!(config.token_refresh().period, Duration::from_secs(5));
/// assert_eq!(config.ca_refresh().period, Duration::from_secs(300), "the default stays");
/// ```
#[derive(Debug, Clone)]
pub struct SourceConfig {
    environment: Arc<dyn Environment>,
    clock: Arc<dyn Clock>,
    token_refresh: RefreshPolicy,
    ca_refresh: RefreshPolicy,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            environment: Arc::new(ProcessEnvironment),
            clock: Arc::new(SystemClock),
            token_refresh: RefreshPolicy::TOKEN,
            ca_refresh: RefreshPolicy::CA_BUNDLE,
        }
    }
}

impl SourceConfig {
    /// The process environment, the system clock, tokens re-read every 60 s
    /// ([`RefreshPolicy::TOKEN`]) and CA bundles every 300 s ([`RefreshPolicy::CA_BUNDLE`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads variables through `environment` instead of the process environment.
    pub fn with_environment(mut self, environment: Arc<dyn Environment>) -> Self {
        self.environment = environment;
        self
    }

    /// Reads time from `clock` (tests use a [`ManualClock`](crate::ManualClock)).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Re-reads file-backed tokens (and the credentials read with them) at least every
    /// `period` ([`RefreshPolicy::every`]: also 10 s before a JWT's `exp`).
    pub fn with_token_refresh_period(mut self, period: Duration) -> Self {
        self.token_refresh = RefreshPolicy::every(period);
        self
    }

    /// Re-reads CA bundle files every `period`.
    pub fn with_ca_refresh_period(mut self, period: Duration) -> Self {
        self.ca_refresh = RefreshPolicy::every(period);
        self
    }

    /// Where variables come from.
    pub fn environment(&self) -> &Arc<dyn Environment> {
        &self.environment
    }

    /// Where time comes from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// When file-backed tokens are re-read.
    pub fn token_refresh(&self) -> RefreshPolicy {
        self.token_refresh
    }

    /// When CA bundle files are re-read.
    pub fn ca_refresh(&self) -> RefreshPolicy {
        self.ca_refresh
    }
}

/// A source builder that takes a [`SourceConfig`]: implementing [`SourceBuilder::config_mut`]
/// gives it `configure` and a setter for each of the config's settings, defined here once for
/// every source (a new setting is added to [`SourceConfig`] and here, and each source reads it
/// from its config).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use kubecred_core::{MapEnvironment, SourceBuilder, SourceConfig};
///
/// #[derive(Default)]
/// struct MyBuilder {
///     config: SourceConfig,
/// }
///
/// impl SourceBuilder for MyBuilder {
///     fn config_mut(&mut self) -> &mut SourceConfig {
///         &mut self.config
///     }
/// }
///
/// let builder = MyBuilder::default()
///     .environment(Arc::new(MapEnvironment::default()))
///     .token_refresh_period(Duration::from_secs(5));
/// assert_eq!(builder.config.token_refresh().period, Duration::from_secs(5));
/// ```
pub trait SourceBuilder: Sized {
    /// The builder's configuration, which the provided methods change.
    fn config_mut(&mut self) -> &mut SourceConfig;

    /// Takes the environment, the clock and both re-read periods from `config` (replacing
    /// what earlier calls set).
    fn configure(mut self, config: &SourceConfig) -> Self {
        *self.config_mut() = config.clone();
        self
    }

    /// Reads variables from `env` instead of the process environment.
    fn environment(mut self, env: Arc<dyn Environment>) -> Self {
        let config = self.config_mut();
        *config = config.clone().with_environment(env);
        self
    }

    /// Reads time from `clock` (tests use a [`ManualClock`](crate::ManualClock)).
    fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        let config = self.config_mut();
        *config = config.clone().with_clock(clock);
        self
    }

    /// Re-reads file-backed tokens at least every `period` (60 s by default, well inside the
    /// kubelet's rotation of a projected token; also 10 s before a JWT's `exp`).
    fn token_refresh_period(mut self, period: Duration) -> Self {
        let config = self.config_mut();
        config.token_refresh = RefreshPolicy::every(period);
        self
    }

    /// Re-reads CA bundle files every `period` (300 s by default).
    fn ca_refresh_period(mut self, period: Duration) -> Self {
        let config = self.config_mut();
        config.ca_refresh = RefreshPolicy::every(period);
        self
    }
}
