//! kubecred's kubeconfig source: the API server and credentials of a kubeconfig's context, as
//! kubectl reads them, with exec credential plugins.
//!
//! [`KubeconfigSource`] (built by [`KubeconfigSourceBuilder`]) is both the
//! [`ApiEndpoint`](kubecred_core::ApiEndpoint) and the
//! [`CredentialSource`](kubecred_core::CredentialSource) of the `kubeconfig` source:
//!
//! 1. **Which files**: an explicit path (`path`, `path_from`), else `KUBECONFIG` (split on
//!    `:`; missing entries skipped, none existing *failed*), else `$HOME/.kube/config`, else
//!    *not applicable*. Each file is a regular file of at most 1 MiB.
//! 2. **Parsing**: YAML (JSON too) into types that hold every user secret in `secrecy` from the
//!    moment it is parsed; an error gives the file, line and column and never a value.
//! 3. **Merging** by client-go's rules: the first file that defines a cluster, user or context
//!    wins; `current-context` comes from the first file that sets it; relative paths are
//!    taken against the directory of the file that holds them.
//! 4. **Resolution**: the context (`context(name)`, else `current-context`) → its cluster
//!    (server, CA file, `-data` or the system roots, insecure, `tls-server-name`,
//!    `proxy-url`), namespace (else `default`), impersonation headers and user (`token`,
//!    `tokenFile`, client certificate files or `-data`, basic, exec, none).
//!
//! ```
//! use std::sync::Arc;
//! use kubecred_core::{ApiEndpoint, CredentialSource, MapEnvironment, SourceBuilder};
//! use kubecred_kubeconfig::{KubeconfigSource, KUBECONFIG_VAR};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("config");
//! std::fs::write(&path, "\
//! clusters:
//! - name: dev
//!   cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}
//! users:
//! - name: me
//!   user: {token: a-token}
//! contexts:
//! - name: dev
//!   context: {cluster: dev, user: me}
//! current-context: dev
//! ")?;
//! let env = MapEnvironment::new([(KUBECONFIG_VAR, path.as_os_str())]);
//! let source = KubeconfigSource::builder().environment(Arc::new(env)).build();
//! let endpoint = source.endpoint().await?;
//! assert_eq!(endpoint.url().as_str(), "https://127.0.0.1:6443/");
//! assert_eq!(source.credentials().await?.kind().as_str(), "bearer-token");
//! # Ok(())
//! # }
//! ```
//!
//! The key design decision: follow client-go where it defines a kubeconfig's meaning, and
//! fail where it falls through. Every file that is named but missing, a context without a
//! definition, a cluster without a server, a user with two methods, a legacy `auth-provider`
//! is *failed*, naming the file and entry, so a broken kubeconfig never lets a chain reach
//! the next source (the pod's service account, say). The cost: some kubeconfigs that kubectl
//! tolerates (it prompts, or ignores a field) are refused, with a message saying what to
//! change.

mod exec;
mod files;
mod merge;
mod model;
mod parse;
mod resolve;
mod source;
mod user;

pub use exec::cache::{ExecCache, DEFAULT_EXEC_CACHE_SUBDIR, KEY_VARIABLES, XDG_CACHE_HOME_VAR};
pub use source::{KubeconfigSource, KubeconfigSourceBuilder};

use std::time::Duration;

/// The source's name in every message and in `explain`.
pub const SOURCE_NAME: &str = "kubeconfig";

/// The variable that lists kubeconfig files, `:`-separated (client-go's
/// `RecommendedConfigPathEnvVar`); read through the builder's environment.
pub const KUBECONFIG_VAR: &str = "KUBECONFIG";

/// The variable whose `.kube/config` is the kubeconfig when `KUBECONFIG` is unset
/// (client-go's `RecommendedHomeFile`).
pub const HOME_VAR: &str = "HOME";

/// How long an exec credential plugin may run before it is killed: 120 s
/// ([`KubeconfigSourceBuilder::exec_timeout`] changes it).
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(120);
