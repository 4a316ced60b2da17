//! A pod on this machine: the stand-in API server, a kubelet-style service-account directory
//! trusting its CA, and the variables that point a program at them.

use std::io;
use std::net::TcpListener;
use std::process::Command;

use crate::{ApiServer, Error, ServiceAccountDir, ServiceAccountFiles};

/// Set by the kubelet in every container: the host (an IP address) of the API server's
/// Service (Kubernetes documentation, "Accessing the Kubernetes API from a Pod").
///
/// A fact of Kubernetes, not of kubecred: it is the name `kubecred_incluster::SERVICE_HOST_VAR`
/// reads too (this crate depends on no production crate, so it states the name itself).
pub const SERVICE_HOST_VAR: &str = "KUBERNETES_SERVICE_HOST";

/// Set by the kubelet in every container: the port of the API server's Service (see
/// [`SERVICE_HOST_VAR`]; `kubecred_incluster::SERVICE_PORT_VAR` reads the same name).
pub const SERVICE_PORT_VAR: &str = "KUBERNETES_SERVICE_PORT";

/// The namespace variable of the downward-API convention (`fieldRef: metadata.namespace`),
/// which beats the `namespace` file: the name `kubecred_incluster::POD_NAMESPACE_VAR` reads.
/// A [`Pod`] does not set it.
pub const POD_NAMESPACE_VAR: &str = "POD_NAMESPACE";

/// The variable that moves kubecred's in-cluster source to another service-account
/// directory: the name `kubecred_client::SERVICEACCOUNT_DIR_VAR` reads (the tests package
/// checks that the two agree).
pub const SERVICEACCOUNT_DIR_VAR: &str = "KUBECRED_SERVICEACCOUNT_DIR";

/// The env source's API server URL variable under its default prefix `KUBE` (the name
/// `kubecred-env` reads; the tests package checks that the two agree).
pub const ENV_HOST_VAR: &str = "KUBE_HOST";

/// The env source's token file variable under its default prefix `KUBE` (see
/// [`ENV_HOST_VAR`]).
pub const ENV_TOKEN_FILE_VAR: &str = "KUBE_TOKEN_FILE";

/// The env source's CA bundle file variable under its default prefix `KUBE` (see
/// [`ENV_HOST_VAR`]).
pub const ENV_CA_FILE_VAR: &str = "KUBE_CLUSTER_CA_CERT_FILE";

/// The label under which a [`Pod`]'s server records its token
/// ([`Authentication::Token`](crate::Authentication::Token)), unless
/// [`PodBuilder::token`] names another.
pub const POD_TOKEN_LABEL: &str = "pod";

/// The token a [`Pod`] gets unless [`PodBuilder::token`] gives another (not a JWT; opaque
/// tokens are what the stand-in compares).
pub const POD_TOKEN: &str = "kubecred-testing-pod-token";

/// The namespace a [`Pod`]'s `namespace` file holds unless [`PodBuilder::namespace`] gives
/// another.
pub const DEFAULT_POD_NAMESPACE: &str = "team-a";

/// A pod, on this machine: a stand-in [`ApiServer`] that accepts the pod's token, a
/// [`ServiceAccountDir`] holding that token, the server's CA as `ca.crt` and a namespace, and
/// the variables that point a program at them — the kubelet's ([`Pod::kubelet_vars`]), with
/// kubecred's service-account directory ([`Pod::in_cluster_vars`]), or the env source's
/// ([`Pod::env_vars`]), also as shell ([`Pod::exports`]).
///
/// The server is ready when [`PodBuilder::start`] returns; dropping the pod stops it and
/// removes the directory.
///
/// ```
/// use kubecred_testing::{Pod, POD_TOKEN, SERVICE_HOST_VAR, SERVICE_PORT_VAR};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pod = Pod::start()?;
/// assert_eq!(std::fs::read_to_string(pod.dir.token_path())?, format!("{POD_TOKEN}\n"));
/// assert_eq!(std::fs::read_to_string(pod.dir.ca_path())?, pod.server.ca_pem());
/// assert_eq!(
///     pod.kubelet_vars(),
///     [
///         (SERVICE_HOST_VAR.to_owned(), "127.0.0.1".to_owned()),
///         (SERVICE_PORT_VAR.to_owned(), pod.server.port().to_string()),
///     ]
/// );
///
/// // The kubelet rotates the token; the server accepts the new one under its own label.
/// pod.server.add_token("rotated", "token-2");
/// pod.rotate_token("token-2\n")?;
/// assert_eq!(std::fs::read_to_string(pod.dir.token_path())?, "token-2\n");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Pod {
    /// The stand-in API server: it accepts the pod's token (unless a server of the test's
    /// own was given) and records every request.
    pub server: ApiServer,
    /// The service-account directory, kubelet layout.
    pub dir: ServiceAccountDir,
    namespace: String,
}

impl Pod {
    /// A pod with the defaults: a server on `127.0.0.1` that accepts [`POD_TOKEN`] (label
    /// [`POD_TOKEN_LABEL`]), and `token` (`POD_TOKEN` and a newline), `ca.crt` and
    /// `namespace` ([`DEFAULT_POD_NAMESPACE`]).
    ///
    /// Errors: as [`PodBuilder::start`].
    pub fn start() -> Result<Pod, Error> {
        Self::builder().start()
    }

    /// A builder for another token, namespace, server or set of files.
    pub fn builder() -> PodBuilder {
        PodBuilder::default()
    }

    /// The namespace the pod's `namespace` file was written with (what
    /// [`Pod::rotate_token`] writes again).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The kubelet's variables for this pod's server: [`SERVICE_HOST_VAR`] (`127.0.0.1` or
    /// `::1`, as [`ApiServer::host`]) and [`SERVICE_PORT_VAR`], in that order. They do not
    /// name the service-account directory: give [`Pod::dir`]'s path to the code under test
    /// (or use [`Pod::in_cluster_vars`]).
    pub fn kubelet_vars(&self) -> Vec<(String, String)> {
        kubelet_vars(&self.server.host(), self.server.port())
    }

    /// The in-cluster style: [`Pod::kubelet_vars`] and [`SERVICEACCOUNT_DIR_VAR`] naming
    /// [`Pod::dir`], what a program using kubecred's default chain needs to find this pod.
    pub fn in_cluster_vars(&self) -> Vec<(String, String)> {
        let mut vars = self.kubelet_vars();
        vars.push(var(SERVICEACCOUNT_DIR_VAR, path_str(self.dir.path())));
        vars
    }

    /// The env style (the Terraform provider's variables): [`ENV_HOST_VAR`] (the server's
    /// URL), [`ENV_TOKEN_FILE_VAR`] (the pod's `token` file, so it follows a rotation) and
    /// [`ENV_CA_FILE_VAR`] (its `ca.crt`). No token value: it stays in its file.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            var(ENV_HOST_VAR, self.server.url()),
            var(ENV_TOKEN_FILE_VAR, path_str(&self.dir.token_path())),
            var(ENV_CA_FILE_VAR, path_str(&self.dir.ca_path())),
        ]
    }

    /// Both styles as shell: a comment line and the [`export_lines`] of
    /// [`Pod::in_cluster_vars`], then a comment line and those of [`Pod::env_vars`]. Every
    /// line is `# ...` or `export NAME='VALUE'`, so the text can be copy-pasted, `eval`ed or
    /// sourced from a file by a POSIX shell. Set one style or the other: with both, kubecred's
    /// chain takes the env style (it comes first). No token is printed (it stays in its file).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pod = kubecred_testing::Pod::start()?;
    /// let exports = pod.exports();
    /// assert!(exports.contains(&format!("export KUBE_HOST='{}'\n", pod.server.url())));
    /// assert!(!exports.contains(kubecred_testing::POD_TOKEN));
    /// # Ok(())
    /// # }
    /// ```
    pub fn exports(&self) -> String {
        format!(
            "# The in-cluster style: the kubelet's variables and the service-account directory\n\
             {}\
             # Or the env style (kubecred's chain tries it first, so it wins if both are set)\n\
             {}",
            export_lines(&self.in_cluster_vars()),
            export_lines(&self.env_vars()),
        )
    }

    /// Rotates the token as the kubelet does ([`ServiceAccountDir::update`], an atomic
    /// `..data` swap): `token` holds `token` verbatim, `ca.crt` the server's current CA, and
    /// `namespace` [`Pod::namespace`]. The server's tokens are not changed: register the new
    /// one with [`ApiServer::add_token`] if it should be accepted.
    ///
    /// Errors: [`Error::ServiceAccountDir`] when the directory cannot be rewritten.
    pub fn rotate_token(&self, token: impl AsRef<[u8]>) -> Result<(), Error> {
        self.dir
            .update(
                &ServiceAccountFiles::new()
                    .token(token)
                    .ca_crt(self.server.ca_pem())
                    .namespace(&self.namespace),
            )
            .map_err(Error::ServiceAccountDir)
    }
}

/// Configures a [`Pod`]; [`PodBuilder::start`] starts it.
///
/// ```
/// use kubecred_testing::{ApiServer, Pod, ServiceAccountFiles};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A pod of the test's own token and namespace.
/// let pod = Pod::builder().token("app", "app-token").namespace("demo").start()?;
/// assert_eq!(std::fs::read_to_string(pod.dir.namespace_path())?, "demo");
///
/// // A broken pod: a server of the test's own, and a directory without `ca.crt`.
/// let pod = Pod::builder()
///     .server(ApiServer::builder().ipv6(true).start()?)
///     .files(ServiceAccountFiles::new().token("t"))
///     .start()?;
/// assert!(!pod.dir.ca_path().exists());
/// assert_eq!(pod.kubelet_vars()[0].1, "::1");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PodBuilder {
    label: String,
    token: String,
    token_file: Option<Vec<u8>>,
    namespace: String,
    server: Option<ApiServer>,
    files: Option<ServiceAccountFiles>,
}

impl Default for PodBuilder {
    fn default() -> Self {
        Self {
            label: POD_TOKEN_LABEL.to_owned(),
            token: POD_TOKEN.to_owned(),
            token_file: None,
            namespace: DEFAULT_POD_NAMESPACE.to_owned(),
            server: None,
            files: None,
        }
    }
}

impl PodBuilder {
    /// The pod's token (default [`POD_TOKEN`], label [`POD_TOKEN_LABEL`]): the server the
    /// builder starts accepts it, recorded under `label`, and the `token` file holds it and a
    /// newline (unless [`PodBuilder::token_file`] says otherwise).
    pub fn token(mut self, label: impl Into<String>, token: impl Into<String>) -> Self {
        self.label = label.into();
        self.token = token.into();
        self
    }

    /// The `token` file's contents, verbatim, instead of the token and a newline (for a token
    /// the server does not know, a JWT of a test's own, an empty file, ...).
    pub fn token_file(mut self, contents: impl AsRef<[u8]>) -> Self {
        self.token_file = Some(contents.as_ref().to_vec());
        self
    }

    /// The `namespace` file's contents (default [`DEFAULT_POD_NAMESPACE`]).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Uses a server the test started itself (IPv6, client certificates, a CA of its own, ...)
    /// instead of starting one: [`PodBuilder::token`] then only says what the `token` file
    /// holds, and the server accepts the tokens it was built with.
    pub fn server(mut self, server: ApiServer) -> Self {
        self.server = Some(server);
        self
    }

    /// The service-account files, verbatim, instead of the token file, the server's CA and
    /// the namespace (for a pod whose files are missing or broken; take the CA from a server
    /// given with [`PodBuilder::server`]).
    pub fn files(mut self, files: ServiceAccountFiles) -> Self {
        self.files = Some(files);
        self
    }

    /// Starts the server (unless one was given) and writes the service-account directory.
    ///
    /// Errors: those of [`ApiServerBuilder::start`](crate::ApiServerBuilder::start), and
    /// [`Error::ServiceAccountDir`] when the directory cannot be written.
    pub fn start(self) -> Result<Pod, Error> {
        let server = match self.server {
            Some(server) => server,
            None => ApiServer::builder()
                .token(self.label, &self.token)
                .start()?,
        };
        let files = self.files.unwrap_or_else(|| {
            let token = self
                .token_file
                .unwrap_or_else(|| format!("{}\n", self.token).into_bytes());
            ServiceAccountFiles::new()
                .token(token)
                .ca_crt(server.ca_pem())
                .namespace(&self.namespace)
        });
        let dir = ServiceAccountDir::new(&files).map_err(Error::ServiceAccountDir)?;
        Ok(Pod {
            server,
            dir,
            namespace: self.namespace,
        })
    }
}

/// The kubelet's variables for an API server at `host` and `port`: [`SERVICE_HOST_VAR`] and
/// [`SERVICE_PORT_VAR`], in that order (for a server that is not a [`Pod`]'s, e.g. in another
/// process; a pod has [`Pod::kubelet_vars`]).
///
/// ```
/// let vars = kubecred_testing::kubelet_vars("10.96.0.1", 443);
/// assert_eq!(vars[1], ("KUBERNETES_SERVICE_PORT".to_owned(), "443".to_owned()));
/// ```
pub fn kubelet_vars(host: &str, port: u16) -> Vec<(String, String)> {
    vec![
        var(SERVICE_HOST_VAR, host.to_owned()),
        var(SERVICE_PORT_VAR, port.to_string()),
    ]
}

/// `export NAME='VALUE'` lines, one per variable, each ending in a newline: POSIX shell,
/// single-quoted (a `'` in a value becomes `'\''`), so that any value — spaces, `$`,
/// newlines — comes back verbatim when the text is `eval`ed or sourced. Names are written as
/// given: they must be shell names (letters, digits, `_`).
///
/// ```
/// let vars = [("DIR".to_owned(), "/tmp/it's here".to_owned())];
/// assert_eq!(kubecred_testing::export_lines(&vars), "export DIR='/tmp/it'\\''s here'\n");
/// ```
pub fn export_lines(vars: &[(String, String)]) -> String {
    vars.iter()
        .map(|(name, value)| format!("export {name}='{}'\n", value.replace('\'', r"'\''")))
        .collect()
}

/// What a POSIX shell makes of `text` ([`Pod::exports`], [`export_lines`]): `sh -c` evaluates
/// it in an empty environment, then reports the value of each variable that a line
/// `export NAME=...` of `text` names, as `(NAME, value)` in the order of those lines. For
/// tests that the exports work as a person's shell would take them.
///
/// Errors: `sh` cannot be run (it is looked up on `PATH`), or it fails (an error of kind
/// `Other` with its exit status and stderr).
///
/// ```
/// let vars = [("DIR".to_owned(), "/tmp/it's $HOME".to_owned())];
/// let seen = kubecred_testing::eval_exports(&kubecred_testing::export_lines(&vars))?;
/// assert_eq!(seen, vars);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn eval_exports(text: &str) -> io::Result<Vec<(String, String)>> {
    let names: Vec<&str> = text
        .lines()
        .filter_map(|line| {
            line.strip_prefix("export ")?
                .split_once('=')
                .map(|(n, _)| n)
        })
        .collect();
    let mut script = format!("{text}\n");
    for name in &names {
        script.push_str(&format!("printf '%s\\0' \"${name}\"\n"));
    }
    let output = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "sh failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let values: Vec<&str> = stdout.split_terminator('\0').collect();
    if values.len() != names.len() {
        return Err(io::Error::other(format!(
            "sh printed {} values for {} variables",
            values.len(),
            names.len()
        )));
    }
    Ok(names
        .into_iter()
        .zip(values)
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// A loopback TCP port on which nothing listens: bound on `127.0.0.1`, then released. A
/// connection to it is refused at once, so a test can pin a probe (kubecred's
/// `--proxy-url`, `ClientBuilder::proxy_url`) where it finds nothing and a `kubectl proxy`
/// running on the machine changes nothing. The port stays free unless another process binds
/// it in the meantime (the kernel hands ephemeral ports out in turn, so that is rare).
///
/// Errors: the operating system's, when no loopback port can be bound.
///
/// ```
/// let port = kubecred_testing::closed_port()?;
/// assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn closed_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `http://127.0.0.1:PORT` on a [`closed_port`]: a `kubectl proxy` URL where nothing
/// listens, for tests that expect no source to apply.
///
/// Errors: as [`closed_port`].
///
/// ```
/// let url = kubecred_testing::closed_proxy_url()?;
/// assert!(url.starts_with("http://127.0.0.1:"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn closed_proxy_url() -> io::Result<String> {
    Ok(format!("http://127.0.0.1:{}", closed_port()?))
}

fn var(name: &str, value: String) -> (String, String) {
    (name.to_owned(), value)
}

fn path_str(path: &std::path::Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_lines_come_back_verbatim_from_sh() {
        let vars = vec![
            var("PLAIN", "/tmp/x".to_owned()),
            var("QUOTES", r#"it's "here" \ 'twice''"#.to_owned()),
            var("SHELLISH", "$HOME `id` $(id) ; * ~ \t!".to_owned()),
            var("LINES", "one\ntwo\n".to_owned()),
            var("EMPTY", String::new()),
        ];
        assert_eq!(eval_exports(&export_lines(&vars)).unwrap(), vars);
    }

    #[test]
    fn exports_are_both_styles_as_sh_sees_them_and_no_token() {
        let pod = Pod::start().unwrap();
        let exports = pod.exports();
        assert!(!exports.contains(POD_TOKEN), "{exports}");
        assert!(exports
            .lines()
            .all(|line| line.starts_with("# ") || line.starts_with("export ")));
        let want: Vec<_> = pod
            .in_cluster_vars()
            .into_iter()
            .chain(pod.env_vars())
            .collect();
        let seen = eval_exports(&exports).unwrap();
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                SERVICE_HOST_VAR,
                SERVICE_PORT_VAR,
                SERVICEACCOUNT_DIR_VAR,
                ENV_HOST_VAR,
                ENV_TOKEN_FILE_VAR,
                ENV_CA_FILE_VAR
            ]
        );
        assert_eq!(seen, want);
        assert_eq!(want[3].1, pod.server.url());
        assert_eq!(want[2].1, pod.dir.path().display().to_string());
    }

    #[test]
    fn the_defaults_make_a_pod_whose_server_takes_its_token() {
        let pod = Pod::start().unwrap();
        assert_eq!(pod.namespace(), DEFAULT_POD_NAMESPACE);
        assert_eq!(
            std::fs::read_to_string(pod.dir.namespace_path()).unwrap(),
            DEFAULT_POD_NAMESPACE
        );
        // The server knows the token under the label: revoking it says it was there.
        assert!(pod.server.revoke_token(POD_TOKEN_LABEL));
    }

    #[test]
    fn a_given_token_file_and_files_are_written_verbatim() {
        let pod = Pod::builder().token_file("other").start().unwrap();
        assert_eq!(
            std::fs::read_to_string(pod.dir.token_path()).unwrap(),
            "other"
        );
        assert!(pod.server.revoke_token(POD_TOKEN_LABEL));

        let pod = Pod::builder()
            .server(ApiServer::start().unwrap())
            .files(ServiceAccountFiles::new().namespace("only"))
            .start()
            .unwrap();
        assert!(!pod.dir.token_path().exists() && !pod.dir.ca_path().exists());
        assert!(
            !pod.server.revoke_token(POD_TOKEN_LABEL),
            "a given server keeps its own tokens"
        );
    }

    #[test]
    fn rotate_token_keeps_the_ca_and_namespace() {
        let pod = Pod::builder().namespace("ns-1").start().unwrap();
        pod.rotate_token("token-2").unwrap();
        assert_eq!(
            std::fs::read_to_string(pod.dir.token_path()).unwrap(),
            "token-2"
        );
        assert_eq!(
            std::fs::read_to_string(pod.dir.ca_path()).unwrap(),
            pod.server.ca_pem()
        );
        assert_eq!(
            std::fs::read_to_string(pod.dir.namespace_path()).unwrap(),
            "ns-1"
        );
    }

    #[test]
    fn a_closed_port_refuses_connections() {
        let port = closed_port().unwrap();
        let err = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let url = closed_proxy_url().unwrap();
        let port: u16 = url
            .strip_prefix("http://127.0.0.1:")
            .unwrap()
            .parse()
            .unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
