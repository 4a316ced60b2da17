//! kubecred's own sources, built for a chain from the builder's settings and the `KUBECRED_*`
//! variables (read through the same environment seam as the sources): the only place that
//! knows the concrete source crates.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[cfg_attr(
    not(any(feature = "env", feature = "incluster")),
    allow(unused_imports)
)]
use kubecred_core::{Clock, Environment, SourceBuilder, SourceConfig, SourceError};

use crate::resolve::Entry;
use crate::SourceName;

/// Moves the in-cluster service-account directory for the default chain (the CLI's
/// `--serviceaccount-dir` beats it).
pub const SERVICEACCOUNT_DIR_VAR: &str = "KUBECRED_SERVICEACCOUNT_DIR";
/// Sets the token and CA bundle re-read periods of the default chain's sources, in whole
/// seconds from 1 to 31536000 (for demos and tests; [`crate::ClientBuilder::refresh_period`]
/// and [`crate::ClientBuilder::ca_refresh_period`] beat it). An invalid value makes the
/// sources that use it (env, in-cluster) *failed*, naming the variable.
pub const REFRESH_SECS_VAR: &str = "KUBECRED_REFRESH_SECS";
/// Moves the `kubectl proxy` address of the default chain (the CLI's `--proxy-url` beats it).
pub const PROXY_URL_VAR: &str = "KUBECRED_PROXY_URL";
/// Turns on the kubeconfig source's exec credential cache: a true boolean (`1`, `t`, `T`,
/// `TRUE`, `true`, `True`: Go's `strconv.ParseBool`, as `KUBE_INSECURE` takes) for the
/// default location (`$XDG_CACHE_HOME/kubecred/exec`, else `$HOME/.cache/kubecred/exec`), an
/// absolute path for that directory, a false one (`0`, `f`, `F`, `FALSE`, `false`, `False`)
/// or unset for none. Anything else (a relative path included) makes the kubeconfig source
/// *failed*, naming the variable.
/// [`crate::ClientBuilder::exec_cache`] and the CLI's `--exec-cache` beat it.
pub const EXEC_CACHE_VAR: &str = "KUBECRED_EXEC_CACHE";

/// The longest re-read period `KUBECRED_REFRESH_SECS` takes: a year, in seconds.
#[cfg_attr(
    not(any(feature = "env", feature = "incluster", feature = "kubeconfig")),
    allow(dead_code)
)]
const MAX_REFRESH_SECS: u64 = 365 * 24 * 60 * 60;

/// The builder's settings for kubecred's own sources; each beats its `KUBECRED_*` variable.
#[derive(Debug, Clone, Default)]
#[cfg_attr(
    not(all(
        feature = "env",
        feature = "incluster",
        feature = "kubeconfig",
        feature = "proxy"
    )),
    allow(dead_code)
)]
pub(crate) struct Settings {
    pub(crate) env_prefix: Option<String>,
    pub(crate) proxy_url: Option<String>,
    pub(crate) proxy_probe_timeout: Option<Duration>,
    pub(crate) refresh_period: Option<Duration>,
    pub(crate) ca_refresh_period: Option<Duration>,
    /// The service-account directory and where it came from (named in errors: a flag, a
    /// setting, `ClientBuilder::serviceaccount_dir`).
    pub(crate) serviceaccount_dir: Option<(PathBuf, String)>,
    /// Exactly this kubeconfig file, and where its path came from (named in errors).
    pub(crate) kubeconfig: Option<(PathBuf, String)>,
    /// The kubeconfig context to use instead of `current-context`.
    pub(crate) context: Option<String>,
    /// How long an exec credential plugin may run before it is killed.
    pub(crate) exec_timeout: Option<Duration>,
    /// The exec credential cache (beats `KUBECRED_EXEC_CACHE`), and the setting that gave
    /// it (named in messages about the directory).
    #[cfg(feature = "kubeconfig")]
    pub(crate) exec_cache: Option<(kubecred_kubeconfig::ExecCache, String)>,
}

impl Settings {
    /// The chain entry of the source `name`, configured; a source that a `KUBECRED_*`
    /// variable breaks is an entry *failed* with that variable's error.
    #[cfg_attr(
        not(any(feature = "env", feature = "incluster", feature = "kubeconfig")),
        allow(unused_variables)
    )]
    #[cfg_attr(
        not(any(
            feature = "env",
            feature = "incluster",
            feature = "kubeconfig",
            feature = "proxy"
        )),
        allow(unreachable_code)
    )]
    pub(crate) fn entry(
        &self,
        name: SourceName,
        env: &Arc<dyn Environment>,
        clock: &Arc<dyn Clock>,
    ) -> Entry {
        let built = match name {
            #[cfg(feature = "env")]
            SourceName::Env => self.env_source(env, clock),
            #[cfg(feature = "kubeconfig")]
            SourceName::Kubeconfig => self.kubeconfig(env, clock),
            #[cfg(feature = "incluster")]
            SourceName::InCluster => self.in_cluster(env, clock),
            #[cfg(feature = "proxy")]
            SourceName::Proxy => self.proxy(env),
        };
        match built {
            Ok(source) => Entry::source(source),
            Err(error) => Entry::misconfigured(name.as_str(), error),
        }
    }

    /// What every file-backed source shares: `env`, `clock`, and the re-read periods of the
    /// builder, else of `KUBECRED_REFRESH_SECS`, else the sources' defaults.
    #[cfg(any(feature = "env", feature = "incluster", feature = "kubeconfig"))]
    fn config(
        &self,
        env: &Arc<dyn Environment>,
        clock: &Arc<dyn Clock>,
    ) -> Result<SourceConfig, SourceError> {
        let from_variable = match (self.refresh_period, self.ca_refresh_period) {
            (Some(_), Some(_)) => None,
            _ => match env.var(REFRESH_SECS_VAR)? {
                None => None,
                Some(value) => Some(
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|secs| (1..=MAX_REFRESH_SECS).contains(secs))
                        .map(Duration::from_secs)
                        .ok_or_else(|| SourceError::InvalidVariable {
                            variable: REFRESH_SECS_VAR.to_owned(),
                            problem: format!(
                                "is \"{}\", not a whole number of seconds from 1 to 31536000 (a year)",
                                kubecred_core::Shown::text(&value)
                            ),
                        })?,
                ),
            },
        };
        let mut config = SourceConfig::new()
            .with_environment(Arc::clone(env))
            .with_clock(Arc::clone(clock));
        if let Some(period) = self.refresh_period.or(from_variable) {
            config = config.with_token_refresh_period(period);
        }
        if let Some(period) = self.ca_refresh_period.or(from_variable) {
            config = config.with_ca_refresh_period(period);
        }
        Ok(config)
    }

    #[cfg(feature = "env")]
    fn env_source(
        &self,
        env: &Arc<dyn Environment>,
        clock: &Arc<dyn Clock>,
    ) -> Result<Arc<dyn kubecred_core::Source>, SourceError> {
        let mut builder = kubecred_env::EnvSource::builder().configure(&self.config(env, clock)?);
        if let Some(prefix) = &self.env_prefix {
            builder = builder.prefix(prefix.clone());
        }
        Ok(Arc::new(builder.build()))
    }

    #[cfg(feature = "kubeconfig")]
    fn kubeconfig(
        &self,
        env: &Arc<dyn Environment>,
        clock: &Arc<dyn Clock>,
    ) -> Result<Arc<dyn kubecred_core::Source>, SourceError> {
        let mut builder =
            kubecred_kubeconfig::KubeconfigSource::builder().configure(&self.config(env, clock)?);
        if let Some((path, origin)) = &self.kubeconfig {
            builder = builder.path_from(path.clone(), origin.clone());
        }
        if let Some(context) = &self.context {
            builder = builder.context(context.clone());
        }
        if let Some(timeout) = self.exec_timeout {
            builder = builder.exec_timeout(timeout);
        }
        let (cache, origin) = match &self.exec_cache {
            Some((cache, origin)) => (cache.clone(), origin.clone()),
            None => (exec_cache_from_variable(&**env)?, EXEC_CACHE_VAR.to_owned()),
        };
        builder = builder.exec_cache_from(cache, origin);
        Ok(Arc::new(builder.build()))
    }

    #[cfg(feature = "incluster")]
    fn in_cluster(
        &self,
        env: &Arc<dyn Environment>,
        clock: &Arc<dyn Clock>,
    ) -> Result<Arc<dyn kubecred_core::Source>, SourceError> {
        let config = self.config(env, clock)?;
        let dir = match &self.serviceaccount_dir {
            Some((dir, origin)) => Some((dir.clone(), origin.clone())),
            None => env
                .path_var(SERVICEACCOUNT_DIR_VAR)?
                .map(|dir| (dir, SERVICEACCOUNT_DIR_VAR.to_owned())),
        };
        let mut builder = kubecred_incluster::InCluster::builder().configure(&config);
        if let Some((dir, origin)) = dir {
            builder = builder.serviceaccount_dir_from(dir, origin);
        }
        Ok(Arc::new(builder.build()))
    }

    #[cfg(feature = "proxy")]
    fn proxy(
        &self,
        env: &Arc<dyn Environment>,
    ) -> Result<Arc<dyn kubecred_core::Source>, SourceError> {
        let mut builder = kubecred_proxy::ProxySource::builder();
        if let Some(url) = &self.proxy_url {
            builder = builder.url(url.clone());
        } else if let Some(url) = env.var(PROXY_URL_VAR)? {
            builder = builder.url_from_variable(PROXY_URL_VAR, url);
        }
        if let Some(timeout) = self.proxy_probe_timeout {
            builder = builder.probe_timeout(timeout);
        }
        Ok(Arc::new(builder.build()))
    }
}

/// `KUBECRED_EXEC_CACHE`, read through `env` (see [`EXEC_CACHE_VAR`]).
#[cfg(feature = "kubeconfig")]
fn exec_cache_from_variable(
    env: &dyn Environment,
) -> Result<kubecred_kubeconfig::ExecCache, SourceError> {
    use kubecred_kubeconfig::ExecCache;
    let Some(value) = env.path_var(EXEC_CACHE_VAR)? else {
        return Ok(ExecCache::Off);
    };
    match value.to_str().and_then(kubecred_core::parse_bool) {
        Some(true) => Ok(ExecCache::DefaultDir),
        Some(false) => Ok(ExecCache::Off),
        None if value.is_absolute() => Ok(ExecCache::Dir(value)),
        None => Err(SourceError::InvalidVariable {
            variable: EXEC_CACHE_VAR.to_owned(),
            problem: format!(
                "is \"{}\", not a boolean ({}) or an absolute directory path",
                kubecred_core::Shown::path(&value),
                kubecred_core::BOOLEAN_SPELLINGS
            ),
        }),
    }
}

#[cfg(all(test, feature = "kubeconfig"))]
mod tests {
    use kubecred_core::MapEnvironment;
    use kubecred_kubeconfig::ExecCache;

    use super::*;

    fn cache(value: &str) -> Result<ExecCache, SourceError> {
        exec_cache_from_variable(&MapEnvironment::new([(EXEC_CACHE_VAR, value)]))
    }

    #[test]
    fn the_exec_cache_variable_takes_go_s_booleans_and_absolute_paths() {
        for on in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(cache(on).unwrap(), ExecCache::DefaultDir, "{on}");
        }
        for off in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(cache(off).unwrap(), ExecCache::Off, "{off}");
        }
        assert_eq!(
            cache("/var/cache/me").unwrap(),
            ExecCache::Dir("/var/cache/me".into())
        );
        assert_eq!(
            exec_cache_from_variable(&MapEnvironment::default()).unwrap(),
            ExecCache::Off
        );
        for refused in ["yes", "on", "tRuE", "relative/dir"] {
            let message = cache(refused).unwrap_err().to_string();
            assert!(
                message.contains(EXEC_CACHE_VAR)
                    && message.contains(&format!("\"{refused}\""))
                    && message.contains("true, false, 1, 0, t, f, TRUE, FALSE, True, False")
                    && message.contains("or an absolute directory path"),
                "{message}"
            );
        }
    }
}
