//! Test doubles for programs that reach a Kubernetes API server: a stand-in API server, a
//! service-account directory builder and a pod made of the two, for kubecred's tests and its
//! users'.
//!
//! - [`ApiServer`] is a stand-in kube-apiserver on a loopback address: HTTPS with its own
//!   [`CertificateAuthority`], bearer-token, basic and client-certificate authentication
//!   (impersonation headers recorded), `401` with
//!   a real `Status` body otherwise, and real-shaped answers for `/api`, `/apis`, `/version`
//!   and `/api/v1/namespaces/{ns}/pods`, whose pods a test adds, changes and deletes while
//!   watches (`?watch=true`) stream each change ([pods and watches](ApiServer#pods-and-watches)). It runs on its own thread and runtime, so sync
//!   tests, async tests and child processes can all use it, and it records every request
//!   ([`RecordedRequest`], with how it [authenticated](Authentication), never the token).
//!   Configure it with [`ApiServerBuilder`].
//! - [`CertificateAuthority`] issues serving and client certificates ([`IssuedCertificate`])
//!   with rcgen on the `ring` provider.
//! - [`ServiceAccountDir`] lays out `token`, `ca.crt` and `namespace` from
//!   [`ServiceAccountFiles`] exactly as the kubelet does in a pod (timestamped directory,
//!   `..data` symlink) and rotates them with the kubelet's atomic symlink swap.
//!
//! ```
//! use kubecred_testing::{ApiServer, ServiceAccountDir, ServiceAccountFiles};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ApiServer::builder().token("pod", "pod-token").start()?;
//! assert!(server.url().starts_with("https://127.0.0.1:"));
//!
//! // The files a pod would see, trusting the server's CA.
//! let dir = ServiceAccountDir::new(
//!     &ServiceAccountFiles::new()
//!         .token("pod-token\n")
//!         .ca_crt(server.ca_pem())
//!         .namespace("team-a"),
//! )?;
//! assert_eq!(std::fs::read_to_string(dir.token_path())?, "pod-token\n");
//!
//! // Point the code under test at `server.host()`/`server.port()` and `dir.path()`, then
//! // look at what it sent (here: nothing yet).
//! assert!(server.requests().is_empty());
//!
//! // The kubelet rotates the token: so can a test, while the server takes the new one.
//! server.add_token("pod-rotated", "pod-token-2");
//! dir.update(
//!     &ServiceAccountFiles::new()
//!         .token("pod-token-2\n")
//!         .ca_crt(server.ca_pem())
//!         .namespace("team-a"),
//! )?;
//! assert!(server.revoke_token("pod"));
//! # Ok(())
//! # }
//! ```
//!
//! - [`Pod`] (built by [`PodBuilder`]) is the two together, as a pod sees them: a server that
//!   accepts the pod's token, a directory holding it and the server's CA, and the variables
//!   that point a program at them — the kubelet's ([`SERVICE_HOST_VAR`],
//!   [`SERVICE_PORT_VAR`]; [`kubelet_vars`] for a server elsewhere), kubecred's
//!   ([`SERVICEACCOUNT_DIR_VAR`]) or the env source's ([`ENV_HOST_VAR`],
//!   [`ENV_TOKEN_FILE_VAR`], [`ENV_CA_FILE_VAR`]), and as shell ([`Pod::exports`],
//!   [`export_lines`], read back as a shell does with [`eval_exports`]). The `serve` example
//!   runs one as a process, to try a program of one's own against it:
//!   `cargo run -p kubecred-testing --example serve`.
//! - [`closed_port`] and [`closed_proxy_url`]: a loopback port where nothing listens, to pin
//!   a probe (kubecred's proxy source) where it finds nothing.
//!
//! ```
//! use kubecred_testing::{Pod, SERVICEACCOUNT_DIR_VAR};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pod = Pod::start()?;
//! let vars = pod.in_cluster_vars(); // host, port, and the directory
//! assert_eq!(vars[2], (SERVICEACCOUNT_DIR_VAR.to_owned(), pod.dir.path().display().to_string()));
//! let proxy_url = kubecred_testing::closed_proxy_url()?; // pin the proxy source here
//! # let _ = proxy_url;
//! # Ok(())
//! # }
//! ```
//!
//! - [`Kubeconfig`] writes kubeconfigs for an [`ApiServer`] (or any URL) into a
//!   [`KubeconfigDir`]: [`Cluster`]s with a CA file, `-data`, none, insecure,
//!   `tls-server-name` or `proxy-url`; [`User`]s with a token, a token file (kubelet-style
//!   with [`KubeconfigDir::service_account_dir`]), client certificate files or `-data`, basic
//!   authentication, an [`Exec`] plugin, impersonation, or nothing; [`Context`]s with a
//!   namespace; one file or several for `KUBECONFIG` ([`kubeconfig_var`]), with relative or
//!   absolute paths.
//! - [`ExecPlugin`] is an exec credential plugin for such a kubeconfig: a `/bin/sh` script
//!   that prints the `ExecCredential` its test set (a token or a client certificate, an
//!   expiry), or sleeps, or fails, changed while the code under test runs, and records each
//!   run ([`ExecPluginRun`]: pid, arguments, environment, `KUBERNETES_EXEC_INFO`).
//!
//! - [`KubectlProxy`] runs the real `kubectl proxy` (from `PATH`) against an [`ApiServer`],
//!   over TCP, IPv6 or a unix socket, ready when it has printed its "Starting to serve" line.
//!
//! - [`LogCapture`] collects what code under test logs through `tracing`, to assert on
//!   warnings.
//! - [`assert_quotes_nothing_of`] and [`pem_body`]: that a message quotes nothing of a key.
//!
//! TLS uses the `ring` provider only, passed explicitly to every rustls configuration (no
//! process-wide default is installed). [`ServiceAccountDir`] needs a Unix platform (symlinks).

mod ca;
mod error;
#[cfg(unix)]
mod exec_plugin;
#[cfg(unix)]
mod kubeconfig;
#[cfg(unix)]
mod kubectl;
mod leaks;
mod logs;
#[cfg(unix)]
mod pod;
mod responses;
mod server;
#[cfg(unix)]
mod service_account;
mod watch;

pub use ca::{CertificateAuthority, IssuedCertificate};
pub use error::Error;
#[cfg(unix)]
pub use exec_plugin::{ExecPlugin, ExecPluginRun, EXEC_PLUGIN_NAME};
#[cfg(unix)]
pub use kubeconfig::{
    kubeconfig_var, kubeconfig_yaml, Cluster, Context, Exec, Kubeconfig, KubeconfigDir, User,
    EXEC_API_V1, EXEC_API_V1BETA1, STAND_IN_NAME,
};
#[cfg(unix)]
pub use kubectl::{KubectlProxy, ProxyListen};
pub use leaks::{assert_quotes_nothing_of, pem_body};
pub use logs::LogCapture;
#[cfg(unix)]
pub use pod::{
    closed_port, closed_proxy_url, eval_exports, export_lines, kubelet_vars, Pod, PodBuilder,
    DEFAULT_POD_NAMESPACE, ENV_CA_FILE_VAR, ENV_HOST_VAR, ENV_TOKEN_FILE_VAR, POD_NAMESPACE_VAR,
    POD_TOKEN, POD_TOKEN_LABEL, SERVICEACCOUNT_DIR_VAR, SERVICE_HOST_VAR, SERVICE_PORT_VAR,
};
pub use server::{
    ApiServer, ApiServerBuilder, Authentication, RecordedRequest, SERVING_CERTIFICATE_SANS,
};
#[cfg(unix)]
pub use service_account::{ServiceAccountDir, ServiceAccountFiles};
pub use watch::WATCH_HISTORY_EVENTS;
