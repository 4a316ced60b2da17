//! [`KubeconfigSource`], the `kubeconfig` source of a chain, and its builder.

use std::fmt;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use kubecred_core::{
    ApiEndpoint, CredentialSource, Credentials, Deferred, Endpoint, Provenance, RedactedUrl,
    SourceBuilder, SourceConfig, SourceError,
};

use crate::files::{self, ChosenBy};
use crate::merge::{self, Merged};
use crate::resolve::{self, files_label};
use crate::user::{Settings, UserCredentials};
use crate::{parse, ExecCache, DEFAULT_EXEC_TIMEOUT, SOURCE_NAME};

/// The API server and credentials of a kubeconfig's context, read as kubectl reads them.
///
/// It is both the [`ApiEndpoint`] and the [`CredentialSource`] of the `kubeconfig` source:
///
/// - [`ApiEndpoint::endpoint`] evaluates the files on every call (which files, parsing,
///   merging, the context, its cluster and user) and answers the endpoint: the cluster's
///   server (a path prefix kept), its trust, `tls-server-name`, proxy, the context's
///   namespace (else `default`) and the user's impersonation headers. Its provenance names
///   the files read in order, the context, cluster and user, the server, the user's kind and
///   the namespace: never a value.
/// - [`CredentialSource::credentials`] serves the user of the last evaluation (the first
///   call evaluates the files if `endpoint` has not): a static `token`, basic or `-data`
///   identity is one `Arc` for every call; a `tokenFile` and certificate files are re-read on
///   the token policy (60 s by default, 10 s before a JWT's `exp`) and after a `401`
///   ([`CredentialSource::refresh`]); [`CredentialSource::current`] answers them without a
///   lock or I/O until due.
/// - An exec user's credentials are obtained by running its plugin, which `explain` must not
///   do: [`CredentialSource::deferred`] says so.
///
/// Not applicable when no file is there to read (no `--kubeconfig`, `KUBECONFIG` unset,
/// no `$HOME/.kube/config`) or the files define nothing at all (no cluster, user, context or
/// `current-context`: client-go's empty config) while no context was asked for; *failed*
/// for everything else that is wrong, naming the file, variable or entry at fault.
///
/// ```
/// use std::sync::Arc;
/// use kubecred_core::{ApiEndpoint, CredentialSource, MapEnvironment, SourceBuilder};
/// use kubecred_kubeconfig::KubeconfigSource;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("config");
/// std::fs::write(&path, "\
/// clusters:
/// - name: dev
///   cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}
/// users:
/// - name: me
///   user: {token: a-token}
/// contexts:
/// - name: dev
///   context: {cluster: dev, user: me, namespace: team}
/// current-context: dev
/// ")?;
/// let source = KubeconfigSource::builder()
///     .environment(Arc::new(MapEnvironment::default()))
///     .path_from(&path, "--kubeconfig")
///     .build();
/// let endpoint = source.endpoint().await?;
/// assert_eq!(endpoint.namespace(), "team");
/// let credentials = source.credentials().await?;
/// assert_eq!(credentials.kind().as_str(), "bearer-token");
/// assert!(endpoint.provenance().reason.contains("user \"me\" (bearer-token)"));
/// # Ok(())
/// # }
/// ```
pub struct KubeconfigSource {
    explicit: Option<(PathBuf, String)>,
    context: Option<String>,
    settings: Settings,
    /// The user of the last evaluation, which `credentials` serves.
    state: ArcSwapOption<State>,
}

/// One evaluation's user, and what identifies it.
#[derive(Debug)]
struct State {
    context: String,
    user_name: Option<String>,
    user_file: Option<PathBuf>,
    user: UserCredentials,
}

impl KubeconfigSource {
    /// A builder: the process environment, the system clock, the default re-read periods,
    /// the files of `KUBECONFIG` or `$HOME/.kube/config`, `current-context`, a 120 s exec
    /// timeout.
    pub fn builder() -> KubeconfigSourceBuilder {
        KubeconfigSourceBuilder::default()
    }

    /// Evaluates the files and the chosen context now.
    fn evaluate(&self) -> Result<(Endpoint, Arc<State>), SourceError> {
        let env = self.settings.config.environment();
        let selection = files::select(self.explicit.as_ref(), &**env)?;
        let parsed = selection
            .files
            .iter()
            .map(|path| parse::read(path).map(|config| (path.clone(), config)))
            .collect::<Result<Vec<_>, _>>()?;
        let merged = merge::merge(parsed)?;
        if merged.is_empty() && self.context.is_none() {
            return Err(SourceError::not_applicable(format!(
                "kubeconfig {} (from {}) defines no cluster, user or context",
                files_label(&merged),
                selection.chosen_by.describe()
            )));
        }
        let context = self.context.as_deref();
        if context.is_some_and(|c| c.trim().is_empty()) {
            return Err(SourceError::InvalidSetting {
                setting: "the kubeconfig context (--context)".to_owned(),
                problem: "is blank".to_owned(),
            });
        }
        let resolved = resolve::resolve(&merged, context, &self.settings.config)?;
        let state = self.state_for(&resolved)?;
        let provenance = provenance(&merged, &selection.chosen_by, &resolved, &state);
        Ok((resolved.endpoint.with_provenance(provenance), state))
    }

    /// The state of `resolved`'s user: the stored one when it is the same context and user
    /// (so that its cache lives on), else a new one, stored.
    fn state_for(&self, resolved: &resolve::Resolved) -> Result<Arc<State>, SourceError> {
        let user_name = resolved.user.as_ref().map(|(name, _)| name.clone());
        let user_file = resolved.user.as_ref().map(|(_, u)| u.file.clone());
        if let Some(state) = self.state.load_full() {
            if state.context == resolved.context
                && state.user_name == user_name
                && state.user_file == user_file
            {
                return Ok(state);
            }
        }
        let user = UserCredentials::new(
            resolved.user.as_ref(),
            &resolved.cluster_facts,
            &self.settings,
        )?;
        let state = Arc::new(State {
            context: resolved.context.clone(),
            user_name,
            user_file,
            user,
        });
        self.state.store(Some(Arc::clone(&state)));
        Ok(state)
    }

    /// The stored state, or a new evaluation's.
    fn state(&self) -> Result<Arc<State>, SourceError> {
        match self.state.load_full() {
            Some(state) => Ok(state),
            None => self.evaluate().map(|(_, state)| state),
        }
    }
}

/// What `explain` shows: the files in order, the context, cluster, user, server, the user's
/// kind and the namespace (never a value).
fn provenance(
    merged: &Merged,
    chosen_by: &ChosenBy,
    resolved: &resolve::Resolved,
    state: &State,
) -> Provenance {
    let user = match &state.user_name {
        Some(name) => format!("user \"{name}\" ({})", state.user.kind()),
        None => "no user (none)".to_owned(),
    };
    let reason = format!(
        "context \"{}\" of kubeconfig {} (from {}): cluster \"{}\" at {}, {user}, namespace {}",
        resolved.context,
        files_label(merged),
        chosen_by.describe(),
        resolved.cluster,
        RedactedUrl::new(resolved.endpoint.url()),
        resolved.endpoint.namespace(),
    );
    Provenance::new(reason)
        .with_variables(chosen_by.variables())
        .with_variables(resolved.proxy_variables.iter().cloned())
        .with_files(merged.files.iter().cloned())
        .with_files(state.user.files())
}

impl fmt::Debug for KubeconfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load();
        f.debug_struct("KubeconfigSource")
            .field("explicit", &self.explicit)
            .field("context", &self.context)
            .field("exec_timeout", &self.settings.exec_timeout)
            .field("exec_cache", &self.settings.exec_cache)
            .field("state", &*state)
            .finish()
    }
}

#[async_trait]
impl ApiEndpoint for KubeconfigSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Evaluates the files now (see the type's documentation for the errors).
    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        self.evaluate().map(|(endpoint, _)| endpoint)
    }
}

#[async_trait]
impl CredentialSource for KubeconfigSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// The user of the last evaluation (evaluating the files first if none was made).
    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        self.state()?.user.credentials().await
    }

    fn current(&self) -> Option<Arc<Credentials>> {
        self.state.load().as_ref()?.user.current()
    }

    /// For an exec user: the plugin, which `explain` does not run. Evaluates the files when
    /// no evaluation was made; `None` when that fails (`credentials` then returns the error).
    fn deferred(&self) -> Option<Deferred> {
        self.state().ok()?.user.deferred()
    }

    async fn refresh(&self, rejected: &Arc<Credentials>) -> Result<Arc<Credentials>, SourceError> {
        self.state()?.user.refresh(rejected).await
    }
}

/// Builds a [`KubeconfigSource`]; the environment, clock and re-read periods come from
/// [`SourceBuilder`] (`configure`, `environment`, `clock`, `token_refresh_period`,
/// `ca_refresh_period`).
///
/// ```
/// use std::time::Duration;
/// use kubecred_kubeconfig::KubeconfigSource;
///
/// let source = KubeconfigSource::builder()
///     .path_from("/home/me/.kube/other", "--kubeconfig")
///     .context("staging")
///     .exec_timeout(Duration::from_secs(30))
///     .stdin_is_terminal(false)
///     .build();
/// assert!(format!("{source:?}").contains("staging"));
/// ```
#[derive(Debug, Default)]
pub struct KubeconfigSourceBuilder {
    config: SourceConfig,
    explicit: Option<(PathBuf, String)>,
    context: Option<String>,
    exec_timeout: Option<Duration>,
    stdin_is_terminal: Option<bool>,
    exec_cache: ExecCache,
    exec_cache_origin: Option<String>,
}

impl SourceBuilder for KubeconfigSourceBuilder {
    fn config_mut(&mut self) -> &mut SourceConfig {
        &mut self.config
    }
}

impl KubeconfigSourceBuilder {
    /// Reads exactly this file instead of `KUBECONFIG` or `$HOME/.kube/config`; a missing
    /// file is *failed*, named as coming from `KubeconfigSourceBuilder::path`.
    pub fn path(self, path: impl Into<PathBuf>) -> Self {
        self.path_from(path, "KubeconfigSourceBuilder::path")
    }

    /// Reads exactly this file; `origin` says where its path came from in messages (the
    /// CLI's `--kubeconfig`, `ClientBuilder::kubeconfig`).
    pub fn path_from(mut self, path: impl Into<PathBuf>, origin: impl Into<String>) -> Self {
        self.explicit = Some((path.into(), origin.into()));
        self
    }

    /// Uses this context instead of `current-context` (kubectl's `--context`). An unknown
    /// one is *failed* at resolution, listing the contexts there are; a blank one is
    /// *failed* too.
    pub fn context(mut self, name: impl Into<String>) -> Self {
        self.context = Some(name.into());
        self
    }

    /// How long an exec plugin may run before it is killed ([`DEFAULT_EXEC_TIMEOUT`], 120 s,
    /// by default).
    pub fn exec_timeout(mut self, timeout: Duration) -> Self {
        self.exec_timeout = Some(timeout);
        self
    }

    /// Keeps exec plugins' credentials that carry an `expirationTimestamp` in `cache`, for
    /// other processes to use until 10 s before it ([`ExecCache::Off`] by default). The
    /// directory is created `0700`, each entry `0600`; one that is open to others or owned by
    /// another user is not used (one warning); processes with the same plugin run it once at
    /// a time; a `401` removes the refused entry and runs the plugin again. `explain` says
    /// whether a cached credential would be used, and until when.
    pub fn exec_cache(self, cache: ExecCache) -> Self {
        self.exec_cache_from(cache, "KubeconfigSourceBuilder::exec_cache")
    }

    /// Like [`KubeconfigSourceBuilder::exec_cache`]; `origin` says where the setting came
    /// from in messages about the directory (the CLI's `--exec-cache`,
    /// `KUBECRED_EXEC_CACHE`, `ClientBuilder::exec_cache`).
    pub fn exec_cache_from(mut self, cache: ExecCache, origin: impl Into<String>) -> Self {
        self.exec_cache = cache;
        self.exec_cache_origin = Some(origin.into());
        self
    }

    /// Whether standard input is a terminal, for exec plugins' `interactiveMode` (by
    /// default, asked of the process's stdin when [`KubeconfigSourceBuilder::build`] runs).
    pub fn stdin_is_terminal(mut self, is_terminal: bool) -> Self {
        self.stdin_is_terminal = Some(is_terminal);
        self
    }

    /// The source. Nothing is read until it is asked for an endpoint or credentials: every
    /// problem is reported then.
    pub fn build(self) -> KubeconfigSource {
        KubeconfigSource {
            explicit: self.explicit,
            context: self.context,
            settings: Settings {
                config: self.config,
                exec_timeout: self.exec_timeout.unwrap_or(DEFAULT_EXEC_TIMEOUT),
                exec_cache: self.exec_cache,
                exec_cache_origin: self
                    .exec_cache_origin
                    .unwrap_or_else(|| "KubeconfigSourceBuilder::exec_cache".to_owned()),
                stdin_is_terminal: self
                    .stdin_is_terminal
                    .unwrap_or_else(|| std::io::stdin().is_terminal()),
            },
            state: ArcSwapOption::empty(),
        }
    }
}

#[cfg(test)]
mod tests;
