//! Exec credential plugins (`client.authentication.k8s.io/v1` and `v1beta1`): a kubeconfig
//! user's `exec` names a program (`aws eks get-token`, `gke-gcloud-auth-plugin`,
//! `kubelogin`) that prints an `ExecCredential` holding a token or a client certificate.
//!
//! [`ExecCredentials`] is the crate's one way to run them, with client-go's meaning and
//! kubecred's lifecycle:
//!
//! - the checks that need no run (`v1alpha1`, removed in Kubernetes 1.24; `v1` without
//!   `interactiveMode`; `Always` without a terminal; an unknown `apiVersion`; a command that
//!   is not found) fail at resolution, so the plugin never runs for a broken user;
//! - a run gets `args`, the process environment with `env` on top, and
//!   `KUBERNETES_EXEC_INFO` (the `ExecCredential` request, with `spec.cluster` only for
//!   `provideClusterInfo: true`); stdin only when interactive; stderr passed through (its
//!   prompts are the user's); stdout parsed and never echoed; killed after the exec timeout,
//!   a non-interactive run with its whole process group (what it started dies with it);
//! - one run serves every caller until 10 s before its `expirationTimestamp` (never due
//!   without one); exactly one run when many callers find it due; a failed re-run keeps a
//!   credential that has not expired, warns, and is retried no sooner than 2 s later; a `401`
//!   re-runs once however many requests saw it.
//!
//! (client-go re-runs a plugin only strictly after expiry, has no time limit on a hung
//! plugin, and never re-runs after a `401` on its own.)
//!
//! With an exec cache ([`cache`], off by default), a run first looks for the credential in
//! the cache directory, under a lock held while the plugin runs, and a credential with an
//! `expirationTimestamp` is written there for the next process; a `401` removes the refused
//! entry before the re-run.

pub(crate) mod cache;
mod run;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use kubecred_core::{Clock, Credentials, Environment, Shown, SourceError};

/// How long before a credential's `expirationTimestamp` the plugin is run again: 10 s, the
/// margin kubecred keeps before a JWT's `exp` too.
pub(crate) const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(10);

/// The least time between two runs after a failed one, and the least time a fresh credential
/// is served (even one the plugin gave a shorter life): 2 s, so that a broken plugin costs
/// one run and one warning per 2 s, never one per request.
pub(crate) const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// A kubeconfig user's `exec` section, as the kubeconfig gives it (paths not yet resolved).
pub(crate) struct ExecConfig {
    /// `apiVersion`: `client.authentication.k8s.io/v1` or `v1beta1` (anything else fails).
    pub api_version: String,
    /// `command`, as the kubeconfig names it: a name looked up on `PATH`, or (containing a
    /// `/`) a path, relative to `base_dir` unless absolute (joined once, when the program is
    /// found).
    pub command: String,
    /// `args`, in order.
    pub args: Vec<String>,
    /// `env` (name, value), set on top of the process environment. The values may be
    /// secrets: never shown.
    pub env: Vec<(String, String)>,
    /// `installHint`: printed in the error when the command is not found.
    pub install_hint: Option<String>,
    /// `provideClusterInfo`: whether `KUBERNETES_EXEC_INFO` carries `spec.cluster`.
    pub provide_cluster_info: bool,
    /// `interactiveMode`: `Never`, `IfAvailable` or `Always`; required for `v1`, defaults to
    /// `IfAvailable` for `v1beta1`.
    pub interactive_mode: Option<String>,
    /// The directory of the kubeconfig file that defined the user (for a relative command);
    /// itself relative to the current directory when the kubeconfig's path was.
    pub base_dir: PathBuf,
}

impl fmt::Debug for ExecConfig {
    // `env` values and `args` may hold secrets: names and counts only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecConfig")
            .field("api_version", &self.api_version)
            .field("command", &self.command)
            .field("args", &self.args.len())
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("install_hint", &self.install_hint.is_some())
            .field("provide_cluster_info", &self.provide_cluster_info)
            .field("interactive_mode", &self.interactive_mode)
            .field("base_dir", &self.base_dir)
            .finish()
    }
}

/// The cluster of the user's context, for `spec.cluster` of `KUBERNETES_EXEC_INFO` when the
/// user has `provideClusterInfo: true` (client-go's `clientauthentication.Cluster`); the
/// kubeconfig's resolution makes one for every cluster.
#[derive(Clone, Default)]
pub(crate) struct ClusterInfo {
    /// `server`: the API server's URL, as the kubeconfig gives it.
    pub server: String,
    /// `tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `certificate-authority-data`: base64 of the PEM bundle, filled from the
    /// `certificate-authority` file too, as client-go does.
    pub certificate_authority_data: Option<String>,
    /// `proxy-url` (may hold a password: never in `Debug`).
    pub proxy_url: Option<String>,
    /// `disable-compression`.
    pub disable_compression: bool,
    /// The cluster's `client.authentication.k8s.io/exec` extension, passed as `config`.
    pub config: Option<serde_json::Value>,
}

impl fmt::Debug for ClusterInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterInfo")
            .field("server", &self.server)
            .field("tls_server_name", &self.tls_server_name)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field(
                "certificate_authority_data",
                &self.certificate_authority_data.is_some(),
            )
            .field("proxy_url", &self.proxy_url.is_some())
            .field("disable_compression", &self.disable_compression)
            .field("config", &self.config.is_some())
            .finish()
    }
}

/// How plugins run: the source builder's settings.
#[derive(Clone, Debug)]
pub(crate) struct ExecSettings {
    /// How long one run may take before the plugin is killed (the source's default is
    /// `DEFAULT_EXEC_TIMEOUT`, 120 s).
    pub timeout: Duration,
    /// Where time comes from, for `expirationTimestamp` (a `ManualClock` in tests). The
    /// timeout is measured by tokio's timer, not by this clock.
    pub clock: Arc<dyn Clock>,
    /// Where `PATH` is read from, for a command without a `/`. The plugin itself inherits the
    /// real process environment.
    pub env: Arc<dyn Environment>,
    /// Whether stdin is a terminal (the interactive rule: a plugin gets stdin only then, and
    /// `Always` fails without one).
    pub stdin_is_terminal: bool,
    /// The exec credential cache's directory, if on (see [`cache`]), and where it came from
    /// for messages ("cache directory set by --exec-cache", [`cache::ExecCache::dir`]).
    pub cache_dir: Option<(PathBuf, String)>,
}

/// The credentials of one exec plugin: runs it when due, exactly once however many callers
/// wait, and serves the result lock-free in between. See the module's documentation for the
/// lifecycle.
///
/// Cancelling a call that is running the plugin (dropping its future) kills the plugin (and
/// its process group, when not interactive); the next caller runs it again.
pub(crate) struct ExecCredentials {
    plugin: run::Plugin,
    clock: Arc<dyn Clock>,
    cached: ArcSwapOption<Entry>,
    /// Held while the plugin runs; what the last failed run said.
    state: tokio::sync::Mutex<State>,
    runs: AtomicU64,
    /// This plugin's entry in the exec credential cache, when it is on.
    cache: Option<cache::Cache>,
}

/// A credential and when it is due for a re-run (`None`: never, but after a `401`).
struct Entry {
    credentials: Arc<Credentials>,
    due_at: Option<SystemTime>,
}

#[derive(Default)]
struct State {
    /// After a failed run: the failure, and when the next run may come.
    failure: Option<(Failure, SystemTime)>,
}

impl ExecCredentials {
    /// Checks `config` and finds its program, without running it: the plugin runs on the
    /// first [`credentials`](Self::credentials) call. `cluster` goes into
    /// `KUBERNETES_EXEC_INFO` only when `config.provide_cluster_info` is set.
    ///
    /// # Errors
    ///
    /// [`SourceError::InvalidSetting`] naming the command, at resolution: `apiVersion`
    /// `v1alpha1` ("removed in Kubernetes 1.24") or one that is unknown; `v1` without
    /// `interactiveMode`, or an unknown mode; `Always` when stdin is not a terminal; an empty
    /// command; a command that is not found (on `PATH` through `settings.env`, or at its
    /// path), the message ending with the `installHint`.
    pub(crate) fn new(
        config: ExecConfig,
        cluster: Option<ClusterInfo>,
        settings: ExecSettings,
    ) -> Result<Self, SourceError> {
        let plugin = run::Plugin::new(config, cluster, &settings)?;
        let cache = settings
            .cache_dir
            .map(|(dir, origin)| cache::Cache::new(dir, origin, plugin.cache_key));
        Ok(Self {
            cache,
            plugin,
            clock: settings.clock,
            cached: ArcSwapOption::empty(),
            state: tokio::sync::Mutex::new(State::default()),
            runs: AtomicU64::new(0),
        })
    }

    /// The current credentials: the cached ones when they are not due (no lock, no I/O);
    /// else the plugin runs, once: callers that find a run under way keep the cached
    /// credentials while they have not expired, or wait for the run.
    ///
    /// # Errors
    ///
    /// The run's error ([`SourceError::InvalidSetting`] naming the command: it could not
    /// start, was killed after the exec timeout, exited non-zero, printed no usable
    /// `ExecCredential`) when there is no credential that has not expired to keep. A failed
    /// re-run with one to keep warns and returns it. Within [`RETRY_AFTER_FAILURE`] of a
    /// failed run, the plugin is not run again: that failure is returned.
    pub(crate) async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        if let Some(credentials) = self.current() {
            return Ok(credentials);
        }
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(_running) => {
                if let Some(credentials) = self.unexpired() {
                    return Ok(credentials);
                }
                self.state.lock().await
            }
        };
        if let Some(credentials) = self.current() {
            return Ok(credentials);
        }
        let now = self.clock.now();
        if let Some((failure, retry_at)) = &state.failure {
            if now < *retry_at {
                return self
                    .unexpired()
                    .ok_or_else(|| failure.clone().into_source_error());
            }
        }
        self.run_locked(&mut state, true, None).await
    }

    /// The cached credentials when they are not due: one atomic load and (for a credential
    /// with an expiry) one clock read; no lock, no I/O. `None` before the first run and when
    /// due, for [`credentials`](Self::credentials) to run the plugin.
    pub(crate) fn current(&self) -> Option<Arc<Credentials>> {
        let entry = self.cached.load();
        let entry = entry.as_ref()?;
        match entry.due_at {
            Some(due_at) if self.clock.now() >= due_at => None,
            _ => Some(Arc::clone(&entry.credentials)),
        }
    }

    /// Runs the plugin again because the server refused `rejected` (a `401`), unless the
    /// cached credentials are already newer than `rejected` (another caller re-ran it: they
    /// are returned without a run), so that concurrent `401`s cause one run. Within
    /// [`RETRY_AFTER_FAILURE`] of a failed run it does not run, and returns the cached
    /// credentials.
    ///
    /// # Errors
    ///
    /// The run's error (see [`credentials`](Self::credentials)); the refused credentials are
    /// not kept in its place, but stay cached.
    pub(crate) async fn refresh(
        &self,
        rejected: &Arc<Credentials>,
    ) -> Result<Arc<Credentials>, SourceError> {
        let mut state = self.state.lock().await;
        let now = self.clock.now();
        if let Some(entry) = self.cached.load_full() {
            let newer = !Arc::ptr_eq(&entry.credentials, rejected);
            if newer && entry.due_at.is_none_or(|due_at| now < due_at) {
                return Ok(Arc::clone(&entry.credentials));
            }
            if let Some((_, retry_at)) = &state.failure {
                if now < *retry_at {
                    return Ok(Arc::clone(&entry.credentials));
                }
            }
            // Newer but due: the usual re-run, which may keep it.
            return self.run_locked(&mut state, newer, Some(rejected)).await;
        }
        self.run_locked(&mut state, false, Some(rejected)).await
    }

    /// The command as the kubeconfig names it (for `explain` and messages).
    pub(crate) fn command(&self) -> &str {
        &self.plugin.command
    }

    /// What `explain` says of the exec cache (`None` when it is off): whether a cached
    /// credential would be used and until when, or why the plugin would run. Reads the entry
    /// without the lock; creates nothing, runs nothing, shows no credential.
    pub(crate) fn cache_report(&self) -> Option<String> {
        let cache = self.cache.as_ref()?;
        let dir = Shown::path(cache.dir());
        let now = self.clock.now();
        Some(
            match cache.peek(&self.plugin.api_version, &self.plugin.command, now) {
                cache::Peek::Hit { kind, until } => format!(
                    "exec cache {dir}: a cached {kind} would be used, until {} (10 s before its expirationTimestamp), without running the plugin",
                    humantime::format_rfc3339_seconds(until)
                ),
                cache::Peek::Miss(why) => {
                    format!("exec cache {dir}: {why}, so the plugin would run")
                }
                cache::Peek::Unusable(unusable) => {
                    format!(
                        "exec cache not used ({unusable}; {}), so the plugin would run",
                        cache.origin()
                    )
                }
            },
        )
    }

    /// How many times the plugin was started (successful or not): for tests and benchmarks.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Caches `credentials` (a run's, or the exec cache's), due [`REFRESH_BEFORE_EXPIRY`]
    /// before their expiry but no sooner than [`RETRY_AFTER_FAILURE`] from `now`, and forgets
    /// the last failure.
    fn store(&self, state: &mut State, credentials: Arc<Credentials>, now: SystemTime) {
        let due_at = credentials.expires_at().map(|expires_at| {
            let early = expires_at
                .checked_sub(REFRESH_BEFORE_EXPIRY)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            early.max(later(now, RETRY_AFTER_FAILURE))
        });
        self.cached.store(Some(Arc::new(Entry {
            credentials,
            due_at,
        })));
        state.failure = None;
    }

    /// The cached credentials while they have not expired (due or not).
    fn unexpired(&self) -> Option<Arc<Credentials>> {
        let entry = self.cached.load();
        let entry = entry.as_ref()?;
        match entry.credentials.expires_at() {
            Some(expires_at) if self.clock.now() >= expires_at => None,
            _ => Some(Arc::clone(&entry.credentials)),
        }
    }

    /// Runs the plugin with the lock held. On success the result is cached, due
    /// [`REFRESH_BEFORE_EXPIRY`] before its expiry but no sooner than
    /// [`RETRY_AFTER_FAILURE`] from now. On failure the next run waits
    /// [`RETRY_AFTER_FAILURE`]; with `keep`, cached credentials that have not expired are
    /// kept (due again at the retry time), with a warning, and returned.
    ///
    /// With the exec cache on, the entry's lock is taken first and held until the run is
    /// done; an entry that is valid (and, after a `401`, is not `rejected`) is used instead of
    /// a run; a `rejected` entry is removed; a run's credential with an expiry is written, one
    /// without removes the entry. An unusable cache warns (once) and the plugin runs.
    async fn run_locked(
        &self,
        state: &mut State,
        keep: bool,
        rejected: Option<&Arc<Credentials>>,
    ) -> Result<Arc<Credentials>, SourceError> {
        let mut locked = None;
        if let Some(cache) = &self.cache {
            match cache.lock(self.plugin.timeout).await {
                Ok(lock) => locked = Some(lock),
                Err(unusable) => unusable.warn_once(cache),
            }
        }
        if let (Some(lock), Some(cache)) = (&locked, &self.cache) {
            let now = self.clock.now();
            match lock.read(&self.plugin.api_version, &self.plugin.command, now) {
                Ok(cache::Lookup::Hit(credentials))
                    if rejected.is_some_and(|r| same_secret(r, &credentials)) =>
                {
                    tracing::debug!(command = %self.plugin.command, "the server refused the cached exec credential: removing it");
                    lock.remove();
                }
                Ok(cache::Lookup::Hit(credentials)) => {
                    let credentials = Arc::new(credentials);
                    self.store(state, Arc::clone(&credentials), now);
                    tracing::debug!(command = %self.plugin.command, "exec credential read from the cache");
                    return Ok(credentials);
                }
                Ok(cache::Lookup::Miss(why)) => {
                    tracing::debug!(command = %self.plugin.command, why, "no exec credential in the cache");
                }
                Err(unusable) => {
                    unusable.warn_once(cache);
                    locked = None;
                }
            }
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        let result = self.plugin.run().await;
        let now = self.clock.now();
        match result {
            Ok(decoded) => {
                if let (Some(lock), Some(cache)) = (&locked, &self.cache) {
                    match decoded.credentials.expires_at() {
                        Some(expires_at) => {
                            let entry = wire::entry_json(
                                &self.plugin.api_version,
                                &decoded.status,
                                expires_at,
                            );
                            if let Err(unusable) = lock.write(&entry) {
                                unusable.warn_once(cache);
                            }
                        }
                        // Never stored without an expiry; an older entry has no business there.
                        None => lock.remove(),
                    }
                }
                drop(locked);
                let credentials = Arc::new(decoded.credentials);
                self.store(state, Arc::clone(&credentials), now);
                tracing::debug!(
                    command = %self.plugin.command,
                    kind = %credentials.kind(),
                    "exec plugin ran"
                );
                Ok(credentials)
            }
            Err(failure) => {
                drop(locked);
                let retry_at = later(now, RETRY_AFTER_FAILURE);
                state.failure = Some((failure.clone(), retry_at));
                let kept = if keep { self.unexpired() } else { None };
                let Some(kept) = kept else {
                    return Err(failure.into_source_error());
                };
                let expires_at = kept.expires_at();
                tracing::warn!(
                    command = %self.plugin.command,
                    error = %failure,
                    expires_at = ?expires_at.map(humantime::format_rfc3339_seconds),
                    retry_in_secs = RETRY_AFTER_FAILURE.as_secs(),
                    "re-running the exec plugin failed; keeping its last credential until it expires"
                );
                self.cached.store(Some(Arc::new(Entry {
                    credentials: Arc::clone(&kept),
                    due_at: Some(expires_at.map_or(retry_at, |e| e.min(retry_at))),
                })));
                Ok(kept)
            }
        }
    }
}

impl fmt::Debug for ExecCredentials {
    // Nothing the plugin printed, nor `env` values or `args` (which may hold secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.cached.load();
        f.debug_struct("ExecCredentials")
            .field("command", &self.plugin.command)
            .field("program", &self.plugin.program)
            .field("api_version", &self.plugin.api_version)
            .field("args", &self.plugin.args.len())
            .field(
                "env",
                &self.plugin.env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("interactive", &self.plugin.interactive)
            .field("timeout", &self.plugin.timeout)
            .field("runs", &self.runs())
            .field(
                "cached",
                &cached.as_ref().map(|entry| entry.credentials.kind()),
            )
            .field("cache_dir", &self.cache.as_ref().map(cache::Cache::dir))
            .finish()
    }
}

/// Whether two credentials carry the same secret (token and certificate chain): the cached
/// entry is the one a server refused.
fn same_secret(a: &Credentials, b: &Credentials) -> bool {
    use secrecy::ExposeSecret as _;
    a.token().map(|t| t.expose_secret()) == b.token().map(|t| t.expose_secret())
        && a.identity().map(|id| id.certificates()) == b.identity().map(|id| id.certificates())
}

/// Why a run failed, as the [`SourceError::InvalidSetting`] it becomes: "exec plugin CMD"
/// and what went wrong. Cloned for callers that waited for the run, so it carries text only
/// (never anything the plugin printed on stdout).
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    setting: String,
    problem: String,
}

impl Failure {
    fn new(command: &str, problem: String) -> Self {
        Self {
            setting: format!("exec plugin {}", Shown::text(command)),
            problem,
        }
    }

    fn into_source_error(self) -> SourceError {
        SourceError::InvalidSetting {
            setting: self.setting,
            problem: self.problem,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.setting, self.problem)
    }
}

/// `now + by`, or `now` when that overflows.
fn later(now: SystemTime, by: Duration) -> SystemTime {
    now.checked_add(by).unwrap_or(now)
}
