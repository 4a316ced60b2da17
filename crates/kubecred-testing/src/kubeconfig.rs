//! A kubeconfig writer for tests: clusters (a stand-in [`ApiServer`] or any URL), users of
//! every kind, contexts, written as YAML files with their certificate, key and token files
//! beside them, one file or several for `KUBECONFIG` merging.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use tempfile::TempDir;

use crate::{ApiServer, IssuedCertificate, ServiceAccountDir, ServiceAccountFiles};

/// The name [`Kubeconfig::for_server`] gives its cluster and its context.
pub const STAND_IN_NAME: &str = "stand-in";

/// The `apiVersion` of exec plugins that kubectl 1.22 and later speak.
pub const EXEC_API_V1: &str = "client.authentication.k8s.io/v1";

/// The `apiVersion` of exec plugins that kubectl 1.11 and later speak (and 1.20, Debian's).
pub const EXEC_API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// The contents of one kubeconfig file: clusters, users, contexts and the current context, in
/// the order they were added (the order matters when several files are merged).
///
/// [`KubeconfigDir::write`] writes it as YAML with the files it refers to beside it;
/// [`Kubeconfig::to_yaml`] gives the text alone. Every scalar is written as a double-quoted
/// YAML string (JSON's escapes), so any name, path or secret round-trips. `Debug` shows the
/// structure's names and never a token, password or key.
///
/// ```
/// use kubecred_testing::{ApiServer, Cluster, Context, Kubeconfig, KubeconfigDir, User};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ApiServer::builder()
///     .token("alice", "alice-token")
///     .basic_auth("bob", "bob", "bob-password")
///     .start()?;
/// let dir = KubeconfigDir::new()?;
///
/// // The common case: one cluster, one user, one current context.
/// let simple = dir.write(
///     "config",
///     &Kubeconfig::for_server(&server, User::new("alice").token("alice-token")),
/// )?;
///
/// // Anything else, piece by piece; `ca.crt` and the key files are written beside it.
/// let client = server.ca().issue_client_certificate("carol")?;
/// let full = dir.write(
///     "team/config",
///     &Kubeconfig::new()
///         .cluster(Cluster::new("prod", &server).ca_file())
///         .user(User::new("bob").basic("bob", "bob-password"))
///         .user(User::new("carol").client_certificate_files(&client))
///         .context(Context::new("bob@prod", "prod", "bob").namespace("team-a"))
///         .context(Context::new("carol@prod", "prod", "carol"))
///         .current_context("bob@prod"),
/// )?;
/// assert!(full.with_file_name("config.prod.ca.crt").exists());
///
/// // KUBECONFIG=full:simple (the first file that defines a name wins).
/// let var = kubecred_testing::kubeconfig_var([&full, &simple]);
/// assert_eq!(var, format!("{}:{}", full.display(), simple.display()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Kubeconfig {
    clusters: Vec<Cluster>,
    users: Vec<User>,
    contexts: Vec<Context>,
    current_context: Option<String>,
    absolute_paths: bool,
}

impl Kubeconfig {
    /// An empty kubeconfig: `apiVersion: v1`, `kind: Config`, no cluster, user or context,
    /// no `current-context` (what client-go calls an empty config).
    pub fn new() -> Self {
        Self::default()
    }

    /// One cluster for `server` named [`STAND_IN_NAME`] (its CA as
    /// `certificate-authority-data`), `user`, and a context named [`STAND_IN_NAME`] joining
    /// them, which is the `current-context`.
    pub fn for_server(server: &ApiServer, user: User) -> Self {
        let context = Context::new(STAND_IN_NAME, STAND_IN_NAME, user.name.clone());
        Self::new()
            .cluster(Cluster::new(STAND_IN_NAME, server))
            .user(user)
            .context(context)
            .current_context(STAND_IN_NAME)
    }

    /// Adds a cluster (after those added before; a second one of the same name is written
    /// too, as a hand-edited file might hold it).
    pub fn cluster(mut self, cluster: Cluster) -> Self {
        self.clusters.push(cluster);
        self
    }

    /// Adds a user.
    pub fn user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Adds a context.
    pub fn context(mut self, context: Context) -> Self {
        self.contexts.push(context);
        self
    }

    /// Sets `current-context` (`""` is written as given: client-go reads it as unset).
    pub fn current_context(mut self, name: impl Into<String>) -> Self {
        self.current_context = Some(name.into());
        self
    }

    /// Removes `current-context`: the file does not set one.
    pub fn without_current_context(mut self) -> Self {
        self.current_context = None;
        self
    }

    /// Refers to the files written beside the kubeconfig ([`Cluster::ca_file`],
    /// [`User::token_file`], [`User::client_certificate_files`]) by absolute path instead of
    /// by name relative to the kubeconfig's directory (the default, which tests that each
    /// file's relative paths are resolved against its own directory). Paths given verbatim
    /// (`*_path`) are never changed.
    pub fn absolute_paths(mut self, absolute: bool) -> Self {
        self.absolute_paths = absolute;
        self
    }

    /// The YAML text, referring to the files [`KubeconfigDir::write`] would write beside it
    /// for a kubeconfig named `file_name` in `dir` (relative names, or paths under `dir` with
    /// [`Kubeconfig::absolute_paths`]). Nothing is written; a kubeconfig whose material is
    /// all inline (`-data`, `token`) needs no file beside it.
    pub fn to_yaml_for(&self, dir: &Path, file_name: &str) -> String {
        self.render(dir, file_name).0
    }

    /// The YAML text as [`Kubeconfig::to_yaml_for`] gives it for a file named `config` in the
    /// current directory.
    pub fn to_yaml(&self) -> String {
        self.to_yaml_for(Path::new("."), "config")
    }

    /// The YAML and the side files (path, contents) it refers to.
    fn render(&self, dir: &Path, file_name: &str) -> (String, Vec<(PathBuf, Vec<u8>)>) {
        let mut side = SideFiles {
            dir,
            stem: sanitize(file_name),
            absolute: self.absolute_paths,
            files: Vec::new(),
        };
        let mut y = Yaml::default();
        y.line(0, "apiVersion: v1");
        y.line(0, "kind: Config");
        y.line(0, "preferences: {}");

        y.list_header(0, "clusters", self.clusters.is_empty());
        for cluster in &self.clusters {
            cluster.render(&mut y, &mut side);
        }
        y.list_header(0, "users", self.users.is_empty());
        for user in &self.users {
            user.render(&mut y, &mut side);
        }
        y.list_header(0, "contexts", self.contexts.is_empty());
        for context in &self.contexts {
            context.render(&mut y);
        }
        if let Some(current) = &self.current_context {
            y.field(0, "current-context", current);
        }
        (y.text, side.files)
    }
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("clusters", &self.clusters)
            .field("users", &self.users)
            .field("contexts", &self.contexts)
            .field("current_context", &self.current_context)
            .field("absolute_paths", &self.absolute_paths)
            .finish()
    }
}

/// How a [`Cluster`] tells kubectl (or kubecred) to verify its server.
#[derive(Debug, Clone)]
enum Ca {
    /// `certificate-authority-data`: base64 of the PEM.
    Data,
    /// `certificate-authority`: the PEM, written beside the kubeconfig.
    File,
    /// `certificate-authority`: this path, verbatim.
    Path(PathBuf),
    /// Neither: the system roots.
    None,
}

/// A `clusters[]` entry: a server URL and how to verify it.
///
/// Made for an [`ApiServer`] ([`Cluster::new`], trusting its CA through
/// `certificate-authority-data`) or for any URL ([`Cluster::url`], trusting nothing given);
/// the other setters add or change one field each.
#[derive(Debug, Clone)]
pub struct Cluster {
    name: String,
    server: String,
    ca_pem: Option<String>,
    ca: Ca,
    insecure: bool,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
    disable_compression: bool,
    exec_extension: Option<serde_json::Value>,
}

impl Cluster {
    /// A cluster named `name` whose `server` is `server`'s URL (`https://127.0.0.1:PORT`),
    /// trusting `server`'s CA as `certificate-authority-data`.
    pub fn new(name: impl Into<String>, server: &ApiServer) -> Self {
        Self {
            ca_pem: Some(server.ca_pem()),
            ca: Ca::Data,
            ..Self::url(name, server.url())
        }
    }

    /// A cluster named `name` whose `server` is `url`, verbatim (a path prefix, `http://`, a
    /// name that does not resolve...), with no CA: the system roots verify it.
    pub fn url(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            server: url.into(),
            ca_pem: None,
            ca: Ca::None,
            insecure: false,
            tls_server_name: None,
            proxy_url: None,
            disable_compression: false,
            exec_extension: None,
        }
    }

    /// Sets `server` to `url`, verbatim, keeping everything else.
    pub fn server(mut self, url: impl Into<String>) -> Self {
        self.server = url.into();
        self
    }

    /// Trusts `pem` (another CA, or garbage) instead of the server's CA, in the way chosen so
    /// far (`certificate-authority-data` unless [`Cluster::ca_file`] was chosen).
    pub fn ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_pem = Some(pem.into());
        if matches!(self.ca, Ca::None | Ca::Path(_)) {
            self.ca = Ca::Data;
        }
        self
    }

    /// The CA as `certificate-authority-data` (base64 of the PEM): the default of
    /// [`Cluster::new`]. Without a PEM (a [`Cluster::url`] without [`Cluster::ca_pem`]), no
    /// CA is written.
    pub fn ca_data(mut self) -> Self {
        self.ca = Ca::Data;
        self
    }

    /// The CA as a file beside the kubeconfig, `NAME.CLUSTER.ca.crt` (NAME is the
    /// kubeconfig's file name), referred to by `certificate-authority`.
    pub fn ca_file(mut self) -> Self {
        self.ca = Ca::File;
        self
    }

    /// `certificate-authority: PATH`, verbatim (relative or absolute, existing or not).
    pub fn ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Ca::Path(path.into());
        self
    }

    /// No CA at all: the system roots verify the server (and fail against a stand-in).
    pub fn no_ca(mut self) -> Self {
        self.ca = Ca::None;
        self
    }

    /// `insecure-skip-tls-verify: true` (or, with `false`, nothing). It keeps the CA chosen so
    /// far: add [`Cluster::no_ca`] for the combination kubectl accepts.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// `tls-server-name`: the name the server's certificate is verified against instead of
    /// the URL's host (the stand-in's certificate holds `kubernetes.default.svc` and the other
    /// names of [`SERVING_CERTIFICATE_SANS`](crate::SERVING_CERTIFICATE_SANS)).
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls_server_name = Some(name.into());
        self
    }

    /// `proxy-url` (`http://`, `https://` or `socks5://`), verbatim.
    pub fn proxy_url(mut self, url: impl Into<String>) -> Self {
        self.proxy_url = Some(url.into());
        self
    }

    /// `disable-compression: true`.
    pub fn disable_compression(mut self, disable: bool) -> Self {
        self.disable_compression = disable;
        self
    }

    /// The `client.authentication.k8s.io/exec` extension of the cluster (under `extensions`):
    /// what an exec plugin with `provideClusterInfo` receives as `spec.cluster.config`.
    pub fn exec_extension(mut self, config: serde_json::Value) -> Self {
        self.exec_extension = Some(config);
        self
    }

    fn render(&self, y: &mut Yaml, side: &mut SideFiles<'_>) {
        y.field(0, "- name", &self.name);
        y.line(2, "cluster:");
        y.field(4, "server", &self.server);
        match (&self.ca, &self.ca_pem) {
            (Ca::Data, Some(pem)) => y.field(4, "certificate-authority-data", &b64(pem)),
            (Ca::File, Some(pem)) => {
                let path = side.add(&format!("{}.ca.crt", sanitize(&self.name)), pem.as_bytes());
                y.field(4, "certificate-authority", &path);
            }
            (Ca::Path(path), _) => y.field(4, "certificate-authority", &path_text(path)),
            (Ca::Data | Ca::File, None) | (Ca::None, _) => {}
        }
        if self.insecure {
            y.line(4, "insecure-skip-tls-verify: true");
        }
        if let Some(name) = &self.tls_server_name {
            y.field(4, "tls-server-name", name);
        }
        if let Some(url) = &self.proxy_url {
            y.field(4, "proxy-url", url);
        }
        if self.disable_compression {
            y.line(4, "disable-compression: true");
        }
        if let Some(config) = &self.exec_extension {
            y.line(4, "extensions:");
            y.field(4, "- name", "client.authentication.k8s.io/exec");
            // JSON is YAML's flow style: the value is written as JSON on one line.
            y.line(6, &format!("extension: {config}"));
        }
    }
}

/// A secret or path-bearing piece of a user: inline (`-data`), a file written beside the
/// kubeconfig, or a path given verbatim.
#[derive(Clone)]
enum Material {
    Data(SecretString),
    File(SecretString),
    Path(PathBuf),
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Material::Data(_) => f.write_str("Data(<redacted>)"),
            Material::File(_) => f.write_str("File(<redacted>)"),
            Material::Path(path) => f.debug_tuple("Path").field(path).finish(),
        }
    }
}

/// An exec plugin user's `exec` block: the command kubectl (or kubecred) runs for a
/// credential.
///
/// ```
/// use kubecred_testing::{Exec, User, EXEC_API_V1BETA1};
///
/// let exec = Exec::new("/usr/local/bin/my-plugin")
///     .api_version(EXEC_API_V1BETA1)
///     .args(["get-token", "--cluster", "dev"])
///     .env("PLUGIN_MODE", "test")
///     .install_hint("install my-plugin from example.com")
///     .provide_cluster_info(true);
/// let user = User::new("dev").exec(exec);
/// # let _ = user;
/// ```
#[derive(Debug, Clone)]
pub struct Exec {
    api_version: String,
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    install_hint: Option<String>,
    provide_cluster_info: bool,
    interactive_mode: Option<String>,
}

impl Exec {
    /// Runs `command` (a path, written verbatim: absolute, relative to the kubeconfig's
    /// directory when it holds a `/`, or a bare name looked up on `PATH`), speaking
    /// [`EXEC_API_V1`] with `interactiveMode: Never` (which `v1` requires).
    pub fn new(command: impl AsRef<Path>) -> Self {
        Self {
            api_version: EXEC_API_V1.to_owned(),
            command: path_text(command.as_ref()),
            args: Vec::new(),
            env: Vec::new(),
            install_hint: None,
            provide_cluster_info: false,
            interactive_mode: Some("Never".to_owned()),
        }
    }

    /// Runs `plugin` ([`ExecPlugin::command`](crate::ExecPlugin::command), an absolute path)
    /// with the `apiVersion` it answers in now, `interactiveMode: Never`.
    pub fn plugin(plugin: &crate::ExecPlugin) -> Self {
        Self::new(plugin.command()).api_version(plugin.api_version())
    }

    /// `apiVersion` ([`EXEC_API_V1`], [`EXEC_API_V1BETA1`], or anything else).
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// Sets `command`, verbatim (see [`Exec::new`]).
    pub fn command(mut self, command: impl AsRef<Path>) -> Self {
        self.command = path_text(command.as_ref());
        self
    }

    /// `args`, in order (replacing any given before).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one `env` entry (`name`, `value`), after those added before.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// `installHint`: what to print when the command is not found.
    pub fn install_hint(mut self, hint: impl Into<String>) -> Self {
        self.install_hint = Some(hint.into());
        self
    }

    /// `provideClusterInfo: true` (or, with `false`, nothing).
    pub fn provide_cluster_info(mut self, provide: bool) -> Self {
        self.provide_cluster_info = provide;
        self
    }

    /// `interactiveMode` (`Never`, `IfAvailable`, `Always`), or with `None` no such field
    /// (which `v1` refuses).
    pub fn interactive_mode(mut self, mode: Option<&str>) -> Self {
        self.interactive_mode = mode.map(str::to_owned);
        self
    }

    fn render(&self, y: &mut Yaml) {
        y.line(4, "exec:");
        y.field(6, "apiVersion", &self.api_version);
        y.field(6, "command", &self.command);
        if !self.args.is_empty() {
            y.line(6, "args:");
            for arg in &self.args {
                y.field(6, "-", arg);
            }
        }
        if !self.env.is_empty() {
            y.line(6, "env:");
            for (name, value) in &self.env {
                y.field(6, "- name", name);
                y.field(8, "value", value);
            }
        }
        if let Some(hint) = &self.install_hint {
            y.field(6, "installHint", hint);
        }
        if self.provide_cluster_info {
            y.line(6, "provideClusterInfo: true");
        }
        if let Some(mode) = &self.interactive_mode {
            y.field(6, "interactiveMode", mode);
        }
    }
}

/// A `users[]` entry: a name and any combination of the ways a kubeconfig user
/// authenticates (a test may combine methods that kubectl refuses together).
///
/// Without a setter it is anonymous (`user: {}`). Tokens, passwords and keys are kept in
/// `secrecy` types and never shown by `Debug`; they are written in the clear into the
/// kubeconfig (or the files beside it), as kubectl would find them.
#[derive(Debug, Clone)]
pub struct User {
    name: String,
    token: Option<SecretString>,
    token_file: Option<Material>,
    client_certificate: Option<Material>,
    client_key: Option<Material>,
    basic: Option<(String, SecretString)>,
    exec: Option<Exec>,
    auth_provider: Option<String>,
    impersonate: Option<String>,
    impersonate_uid: Option<String>,
    impersonate_groups: Vec<String>,
    impersonate_extra: Vec<(String, Vec<String>)>,
}

impl User {
    /// A user named `name` with no credentials (anonymous).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            token: None,
            token_file: None,
            client_certificate: None,
            client_key: None,
            basic: None,
            exec: None,
            auth_provider: None,
            impersonate: None,
            impersonate_uid: None,
            impersonate_groups: Vec::new(),
            impersonate_extra: Vec::new(),
        }
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `token`: a bearer token, inline.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(SecretString::from(token.into()));
        self
    }

    /// `tokenFile`: `contents` (written verbatim, a trailing newline stays) in a file beside
    /// the kubeconfig, `NAME.USER.token`.
    pub fn token_file(mut self, contents: impl Into<String>) -> Self {
        self.token_file = Some(Material::File(SecretString::from(contents.into())));
        self
    }

    /// `tokenFile: PATH`, verbatim: e.g. a kubelet-style token (made with
    /// [`KubeconfigDir::service_account_dir`]) by a path relative to the kubeconfig.
    pub fn token_file_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(Material::Path(path.into()));
        self
    }

    /// `client-certificate` and `client-key`: `cert`'s PEM files beside the kubeconfig,
    /// `NAME.USER.crt` and `NAME.USER.key`.
    pub fn client_certificate_files(mut self, cert: &IssuedCertificate) -> Self {
        self.client_certificate = Some(Material::File(SecretString::from(cert.cert_pem())));
        self.client_key = Some(Material::File(SecretString::from(cert.key_pem())));
        self
    }

    /// `client-certificate-data` and `client-key-data`: base64 of `cert`'s PEMs, inline.
    pub fn client_certificate_data(mut self, cert: &IssuedCertificate) -> Self {
        self.client_certificate = Some(Material::Data(SecretString::from(cert.cert_pem())));
        self.client_key = Some(Material::Data(SecretString::from(cert.key_pem())));
        self
    }

    /// `client-certificate: PATH`, verbatim (alone: a certificate without its key).
    pub fn client_certificate_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_certificate = Some(Material::Path(path.into()));
        self
    }

    /// `client-key: PATH`, verbatim.
    pub fn client_key_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_key = Some(Material::Path(path.into()));
        self
    }

    /// Removes `client-key`/`client-key-data`: the certificate alone.
    pub fn without_client_key(mut self) -> Self {
        self.client_key = None;
        self
    }

    /// `username` and `password`: HTTP basic authentication (see
    /// [`ApiServerBuilder::basic_auth`](crate::ApiServerBuilder::basic_auth)).
    pub fn basic(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic = Some((username.into(), SecretString::from(password.into())));
        self
    }

    /// `exec`: a credential plugin.
    pub fn exec(mut self, exec: Exec) -> Self {
        self.exec = Some(exec);
        self
    }

    /// `auth-provider` named `name` (`gcp`, `azure`, `oidc`...) with an empty `config`.
    pub fn auth_provider(mut self, name: impl Into<String>) -> Self {
        self.auth_provider = Some(name.into());
        self
    }

    /// `as`: impersonate this user (`Impersonate-User`).
    pub fn impersonate(mut self, user: impl Into<String>) -> Self {
        self.impersonate = Some(user.into());
        self
    }

    /// `as-uid` (`Impersonate-Uid`).
    pub fn impersonate_uid(mut self, uid: impl Into<String>) -> Self {
        self.impersonate_uid = Some(uid.into());
        self
    }

    /// Adds a group to `as-groups` (one `Impersonate-Group` each).
    pub fn impersonate_group(mut self, group: impl Into<String>) -> Self {
        self.impersonate_groups.push(group.into());
        self
    }

    /// Adds `key` with `values` to `as-user-extra` (`Impersonate-Extra-KEY`, one per value).
    pub fn impersonate_extra<I, S>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.impersonate_extra
            .push((key.into(), values.into_iter().map(Into::into).collect()));
        self
    }

    fn render(&self, y: &mut Yaml, side: &mut SideFiles<'_>) {
        y.field(0, "- name", &self.name);
        let start = y.text.len();
        y.line(2, "user:");
        let body = y.text.len();
        let user = sanitize(&self.name);
        if let Some(token) = &self.token {
            y.field(4, "token", token.expose_secret());
        }
        if let Some(file) = &self.token_file {
            y.material(4, "tokenFile", file, side, &format!("{user}.token"), false);
        }
        if let Some(cert) = &self.client_certificate {
            y.material(
                4,
                "client-certificate",
                cert,
                side,
                &format!("{user}.crt"),
                true,
            );
        }
        if let Some(key) = &self.client_key {
            y.material(4, "client-key", key, side, &format!("{user}.key"), true);
        }
        if let Some((username, password)) = &self.basic {
            y.field(4, "username", username);
            y.field(4, "password", password.expose_secret());
        }
        if let Some(exec) = &self.exec {
            exec.render(y);
        }
        if let Some(provider) = &self.auth_provider {
            y.line(4, "auth-provider:");
            y.field(6, "name", provider);
            y.line(6, "config: {}");
        }
        if let Some(user) = &self.impersonate {
            y.field(4, "as", user);
        }
        if let Some(uid) = &self.impersonate_uid {
            y.field(4, "as-uid", uid);
        }
        if !self.impersonate_groups.is_empty() {
            y.line(4, "as-groups:");
            for group in &self.impersonate_groups {
                y.field(4, "-", group);
            }
        }
        if !self.impersonate_extra.is_empty() {
            y.line(4, "as-user-extra:");
            for (key, values) in &self.impersonate_extra {
                y.line(6, &format!("{}:", quote(key)));
                for value in values {
                    y.field(6, "-", value);
                }
            }
        }
        if y.text.len() == body {
            // Nothing at all: an anonymous user.
            y.text.truncate(start);
            y.line(2, "user: {}");
        }
    }
}

/// A `contexts[]` entry: a cluster, a user (or none) and a namespace.
#[derive(Debug, Clone)]
pub struct Context {
    name: String,
    cluster: String,
    user: Option<String>,
    namespace: Option<String>,
}

impl Context {
    /// A context named `name` joining the cluster and the user of those names.
    pub fn new(
        name: impl Into<String>,
        cluster: impl Into<String>,
        user: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            cluster: cluster.into(),
            user: Some(user.into()),
            namespace: None,
        }
    }

    /// A context named `name` on `cluster` with no `user` field at all (anonymous; write
    /// [`Context::new`] with `""` for an empty user name).
    pub fn anonymous(name: impl Into<String>, cluster: impl Into<String>) -> Self {
        Self {
            user: None,
            ..Self::new(name, cluster, "")
        }
    }

    /// `namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    fn render(&self, y: &mut Yaml) {
        y.field(0, "- name", &self.name);
        y.line(2, "context:");
        y.field(4, "cluster", &self.cluster);
        if let Some(user) = &self.user {
            y.field(4, "user", user);
        }
        if let Some(namespace) = &self.namespace {
            y.field(4, "namespace", namespace);
        }
    }
}

/// A temporary directory (removed on drop) holding kubeconfig files and the files they refer
/// to, for one test.
#[derive(Debug)]
pub struct KubeconfigDir {
    dir: TempDir,
}

impl KubeconfigDir {
    /// A fresh, empty temporary directory.
    ///
    /// # Errors
    ///
    /// The I/O error when the directory cannot be made.
    pub fn new() -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kubecred-kubeconfig-")
            .tempdir()?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `config` as `name` under the directory (`name` may hold subdirectories, made as
    /// needed, e.g. `a/config`), with the files it refers to beside it, and returns the
    /// kubeconfig's absolute path. A file written before is replaced.
    ///
    /// # Errors
    ///
    /// The I/O error, naming the file, when a directory or file cannot be written.
    pub fn write(&self, name: &str, config: &Kubeconfig) -> io::Result<PathBuf> {
        let path = self.path().join(name);
        let parent = path.parent().unwrap_or(self.path());
        let file_name = path
            .file_name()
            .map_or_else(|| "config".to_owned(), |n| n.to_string_lossy().into_owned());
        let (yaml, side) = config.render(parent, &file_name);
        fs::create_dir_all(parent).map_err(|e| context(e, parent))?;
        for (side_path, contents) in side {
            fs::write(&side_path, contents).map_err(|e| context(e, &side_path))?;
        }
        fs::write(&path, yaml).map_err(|e| context(e, &path))?;
        Ok(path)
    }

    /// Writes `text` verbatim as `name` (an empty file, or a kubeconfig a test has broken on
    /// purpose from [`Kubeconfig::to_yaml_for`]) and returns its path.
    ///
    /// # Errors
    ///
    /// The I/O error, naming the file, when it cannot be written.
    pub fn write_raw(&self, name: &str, text: &str) -> io::Result<PathBuf> {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| context(e, parent))?;
        }
        fs::write(&path, text).map_err(|e| context(e, &path))?;
        Ok(path)
    }

    /// A kubelet-style directory (timestamped directory, `..data` symlink, rotated with
    /// [`ServiceAccountDir::update`]) inside this one, so that a kubeconfig here can name its
    /// token by a relative path: see [`KubeconfigDir::relative`].
    ///
    /// # Errors
    ///
    /// The I/O error, naming the file or symlink, when the layout cannot be written.
    pub fn service_account_dir(
        &self,
        files: &ServiceAccountFiles,
    ) -> io::Result<ServiceAccountDir> {
        ServiceAccountDir::new_in(self.path(), files)
    }

    /// `path` relative to this directory (what a kubeconfig written at its top level would
    /// name it); `path` unchanged when it is not inside.
    pub fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(self.path())
            .map_or_else(|_| path.to_owned(), Path::to_owned)
    }
}

/// A `KUBECONFIG` value: `paths` joined with `:` (the list separator on Unix), in order.
pub fn kubeconfig_var<I, P>(paths: I) -> String
where
    I: IntoIterator<Item = P>,
    P: AsRef<Path>,
{
    paths
        .into_iter()
        .map(|p| path_text(p.as_ref()))
        .collect::<Vec<_>>()
        .join(":")
}

/// A kubeconfig for `server`, trusting its CA, authenticating with `token` (user
/// `kubectl-proxy`): [`Kubeconfig::for_server`] as YAML, what [`KubectlProxy`] gives kubectl.
///
/// [`KubectlProxy`]: crate::KubectlProxy
pub fn kubeconfig_yaml(server: &ApiServer, token: &str) -> String {
    Kubeconfig::for_server(server, User::new("kubectl-proxy").token(token)).to_yaml()
}

/// The files a kubeconfig refers to, collected while it is rendered.
struct SideFiles<'a> {
    dir: &'a Path,
    stem: String,
    absolute: bool,
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl SideFiles<'_> {
    /// Records `contents` as `STEM.suffix` and returns how the kubeconfig names it.
    fn add(&mut self, suffix: &str, contents: &[u8]) -> String {
        let name = format!("{}.{suffix}", self.stem);
        let path = self.dir.join(&name);
        self.files.push((path.clone(), contents.to_vec()));
        if self.absolute {
            path_text(&path)
        } else {
            name
        }
    }
}

/// Block-style YAML, every scalar double-quoted.
#[derive(Default)]
struct Yaml {
    text: String,
}

impl Yaml {
    fn line(&mut self, indent: usize, text: &str) {
        self.text.extend(std::iter::repeat_n(' ', indent));
        self.text.push_str(text);
        self.text.push('\n');
    }

    /// `key: "value"` (`key` may be `- name` or `-`, for a list item).
    fn field(&mut self, indent: usize, key: &str, value: &str) {
        let separator = if key == "-" { " " } else { ": " };
        self.line(indent, &format!("{key}{separator}{}", quote(value)));
    }

    /// `key:` with nothing under it as `key: []`.
    fn list_header(&mut self, indent: usize, key: &str, empty: bool) {
        if empty {
            self.line(indent, &format!("{key}: []"));
        } else {
            self.line(indent, &format!("{key}:"));
        }
    }

    /// `key: PATH` or `key-data: BASE64` (`data_suffix`: whether the inline form exists; a
    /// `tokenFile` has `token` instead, which [`User::token`] writes).
    fn material(
        &mut self,
        indent: usize,
        key: &str,
        material: &Material,
        side: &mut SideFiles<'_>,
        suffix: &str,
        data_suffix: bool,
    ) {
        match material {
            Material::Data(data) if data_suffix => {
                self.field(indent, &format!("{key}-data"), &b64(data.expose_secret()));
            }
            Material::Data(data) | Material::File(data) => {
                let path = side.add(suffix, data.expose_secret().as_bytes());
                self.field(indent, key, &path);
            }
            Material::Path(path) => self.field(indent, key, &path_text(path)),
        }
    }
}

/// A YAML double-quoted scalar: JSON's string syntax, which YAML's double-quoted style
/// accepts escape for escape.
fn quote(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A name usable in a file name: ASCII letters, digits, `-`, `_` and `.` kept, others `_`.
fn sanitize(name: &str) -> String {
    let kept: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if kept.is_empty() || kept.starts_with('.') {
        format!("_{kept}")
    } else {
        kept
    }
}

fn context(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot write {}: {error}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    //! Each test writes kubeconfigs and has the real kubectl read them back
    //! (`kubectl config view --raw -o json`): the reference says what was written.

    use std::process::Command;

    use serde_json::{json, Value};

    use super::*;
    use crate::CertificateAuthority;

    /// `kubectl config view --raw -o json ARGS` with `KUBECONFIG` (when given) and nothing
    /// else of ours in its environment.
    fn kubectl_view(dir: &KubeconfigDir, args: &[&str], kubeconfig: Option<&str>) -> Value {
        let mut command = Command::new("kubectl");
        #[allow(clippy::disallowed_methods)] // kubectl gets our PATH, and no other variable
        command
            .args(["config", "view", "--raw", "-o", "json"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path());
        if let Some(kubeconfig) = kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let output = command.output().expect("kubectl runs (is it on PATH?)");
        assert!(
            output.status.success(),
            "kubectl config view failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("kubectl prints JSON")
    }

    fn view_file(dir: &KubeconfigDir, path: &Path, flatten: bool) -> Value {
        let file = format!("--kubeconfig={}", path.display());
        let mut args = vec![file.as_str()];
        if flatten {
            args.push("--flatten");
        }
        kubectl_view(dir, &args, None)
    }

    /// The entries of a list sorted by name: kubectl prints clusters, users and contexts
    /// sorted (it holds them in maps), whatever their order in the file.
    fn sorted(list: &Value) -> Value {
        let mut entries = list.as_array().cloned().unwrap_or_default();
        entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Value::Array(entries)
    }

    /// The `cluster`, `user` or `context` body of the entry named `name` in `view[list]`.
    fn entry<'v>(view: &'v Value, list: &str, name: &str) -> &'v Value {
        let body = &list[..list.len() - 1];
        view[list]
            .as_array()
            .and_then(|entries| entries.iter().find(|e| e["name"] == name))
            .map(|e| &e[body])
            .unwrap_or_else(|| panic!("no {body} {name} in {view:#}"))
    }

    fn server() -> ApiServer {
        ApiServer::builder()
            .token("alice", "alice-token")
            .start()
            .unwrap()
    }

    #[test]
    fn every_cluster_user_and_context_kind_reads_back_through_kubectl() {
        let server = server();
        let client = server.ca().issue_client_certificate("carol").unwrap();
        let other = CertificateAuthority::new("other CA").unwrap();
        let dir = KubeconfigDir::new().unwrap();
        let config = Kubeconfig::new()
            .cluster(Cluster::new("data", &server))
            .cluster(Cluster::new("file", &server).ca_file())
            .cluster(Cluster::new("path", &server).ca_path("elsewhere/ca.crt"))
            .cluster(Cluster::new("insecure", &server).no_ca().insecure(true))
            .cluster(
                Cluster::new("named", &server)
                    .ca_pem(other.pem())
                    .server("https://127.0.0.1:1/prefix")
                    .tls_server_name("kubernetes.default.svc")
                    .proxy_url("socks5://127.0.0.1:1080")
                    .disable_compression(true)
                    .exec_extension(json!({"audience": "stand-in"})),
            )
            .cluster(Cluster::url("bare", "https://localhost:6443"))
            .user(User::new("token").token("tok \"en\"\n"))
            .user(User::new("token-file").token_file("from-a-file\n"))
            .user(User::new("token-path").token_file_path("sa/token"))
            .user(User::new("cert-files").client_certificate_files(&client))
            .user(User::new("cert-data").client_certificate_data(&client))
            .user(
                User::new("cert-only")
                    .client_certificate_data(&client)
                    .without_client_key(),
            )
            .user(User::new("basic").basic("bob", "bob: password"))
            .user(
                User::new("exec").exec(
                    Exec::new("./plugins/get-token")
                        .api_version(EXEC_API_V1BETA1)
                        .args(["--cluster", "dev"])
                        .env("A", "1")
                        .env("B", "two words")
                        .install_hint("install it\nfrom here")
                        .provide_cluster_info(true)
                        .interactive_mode(Some("IfAvailable")),
                ),
            )
            .user(User::new("exec-v1-no-mode").exec(Exec::new("plugin").interactive_mode(None)))
            .user(User::new("gcp").auth_provider("gcp"))
            .user(
                User::new("impersonating")
                    .token("alice-token")
                    .impersonate("dave")
                    .impersonate_uid("1234")
                    .impersonate_group("devs")
                    .impersonate_group("ops")
                    .impersonate_extra("scopes", ["view", "edit"])
                    .impersonate_extra("reason", ["on call"]),
            )
            .user(User::new("nobody"))
            .context(Context::new("main", "data", "token").namespace("team-a"))
            .context(Context::anonymous("anonymous", "bare"))
            .context(Context::new("empty-user", "bare", ""))
            .current_context("main");
        let path = dir.write("config", &config).unwrap();
        dir.write_raw("elsewhere/ca.crt", &other.pem()).unwrap();
        let ca = b64(&server.ca_pem());
        let cert = b64(client.cert_pem());
        let key = b64(client.key_pem());

        let view = view_file(&dir, &path, false);
        assert_eq!(
            sorted(&view["clusters"]),
            sorted(&json!([
                {"name": "data", "cluster": {"server": server.url(), "certificate-authority-data": ca}},
                {"name": "file", "cluster": {"server": server.url(), "certificate-authority": "config.file.ca.crt"}},
                {"name": "path", "cluster": {"server": server.url(), "certificate-authority": "elsewhere/ca.crt"}},
                {"name": "insecure", "cluster": {"server": server.url(), "insecure-skip-tls-verify": true}},
                {"name": "named", "cluster": {
                    "server": "https://127.0.0.1:1/prefix",
                    "certificate-authority-data": b64(&other.pem()),
                    "tls-server-name": "kubernetes.default.svc",
                    "proxy-url": "socks5://127.0.0.1:1080",
                    "disable-compression": true,
                    "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"audience": "stand-in"}}],
                }},
                {"name": "bare", "cluster": {"server": "https://localhost:6443"}},
            ]))
        );
        assert_eq!(
            sorted(&view["users"]),
            sorted(&json!([
                {"name": "token", "user": {"token": "tok \"en\"\n"}},
                {"name": "token-file", "user": {"tokenFile": "config.token-file.token"}},
                {"name": "token-path", "user": {"tokenFile": "sa/token"}},
                {"name": "cert-files", "user": {"client-certificate": "config.cert-files.crt", "client-key": "config.cert-files.key"}},
                {"name": "cert-data", "user": {"client-certificate-data": cert, "client-key-data": key}},
                {"name": "cert-only", "user": {"client-certificate-data": cert}},
                {"name": "basic", "user": {"username": "bob", "password": "bob: password"}},
                {"name": "exec", "user": {"exec": {
                    "apiVersion": EXEC_API_V1BETA1,
                    "command": "./plugins/get-token",
                    "args": ["--cluster", "dev"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "two words"}],
                    "installHint": "install it\nfrom here",
                    "provideClusterInfo": true,
                    "interactiveMode": "IfAvailable",
                }}},
                {"name": "exec-v1-no-mode", "user": {"exec": {
                    "apiVersion": EXEC_API_V1,
                    "command": "plugin",
                    "args": null,
                    "env": null,
                    "provideClusterInfo": false,
                }}},
                {"name": "gcp", "user": {"auth-provider": {"name": "gcp", "config": {}}}},
                {"name": "impersonating", "user": {
                    "token": "alice-token",
                    "as": "dave",
                    "as-uid": "1234",
                    "as-groups": ["devs", "ops"],
                    "as-user-extra": {"scopes": ["view", "edit"], "reason": ["on call"]},
                }},
                {"name": "nobody", "user": {}},
            ]))
        );
        assert_eq!(
            sorted(&view["contexts"]),
            sorted(&json!([
                {"name": "main", "context": {"cluster": "data", "user": "token", "namespace": "team-a"}},
                {"name": "anonymous", "context": {"cluster": "bare", "user": ""}},
                {"name": "empty-user", "context": {"cluster": "bare", "user": ""}},
            ]))
        );
        assert_eq!(view["current-context"], "main");

        // The files beside it hold what was meant: kubectl finds them by their relative
        // names (--flatten inlines them) and reads the token file as it was written.
        let flat = view_file(&dir, &path, true);
        assert_eq!(
            entry(&flat, "clusters", "file")["certificate-authority-data"],
            ca
        );
        assert_eq!(
            entry(&flat, "clusters", "path")["certificate-authority-data"],
            b64(&other.pem())
        );
        assert_eq!(
            entry(&flat, "users", "cert-files")["client-certificate-data"],
            cert
        );
        assert_eq!(entry(&flat, "users", "cert-files")["client-key-data"], key);
        assert_eq!(
            fs::read_to_string(dir.path().join("config.token-file.token")).unwrap(),
            "from-a-file\n"
        );
    }

    #[test]
    fn absolute_paths_name_the_files_beside_the_kubeconfig() {
        let server = server();
        let client = server.ca().issue_client_certificate("carol").unwrap();
        let dir = KubeconfigDir::new().unwrap();
        let config = Kubeconfig::for_server(
            &server,
            User::new("carol").client_certificate_files(&client),
        )
        .absolute_paths(true);
        let config = config.cluster(Cluster::new("by-file", &server).ca_file());
        let path = dir.write("nested/dir/kc.yaml", &config).unwrap();
        let here = path.parent().unwrap();
        let view = view_file(&dir, &path, false);
        let name = |suffix: &str| path_text(&here.join(format!("kc.yaml.{suffix}")));
        let carol = entry(&view, "users", "carol");
        assert_eq!(carol["client-certificate"], name("carol.crt"));
        assert_eq!(carol["client-key"], name("carol.key"));
        assert_eq!(
            entry(&view, "clusters", "by-file")["certificate-authority"],
            name("by-file.ca.crt")
        );
        assert_eq!(view["current-context"], STAND_IN_NAME);
    }

    #[test]
    fn several_files_merge_through_kubeconfig_as_kubectl_merges_them() {
        let server = server();
        let other = server.ca().issue_client_certificate("x").unwrap();
        let dir = KubeconfigDir::new().unwrap();
        // The first file has no current context; both define the cluster `shared`.
        let first = dir
            .write(
                "a/config",
                &Kubeconfig::new()
                    .cluster(Cluster::new("shared", &server).ca_file())
                    .user(User::new("alice").token("alice-token"))
                    .context(Context::new("a", "shared", "alice")),
            )
            .unwrap();
        let second = dir
            .write(
                "b/config",
                &Kubeconfig::new()
                    .cluster(
                        Cluster::new("shared", &server)
                            .ca_pem(other.cert_pem())
                            .ca_file(),
                    )
                    .user(User::new("bob").token_file("bob-token"))
                    .context(Context::new("b", "shared", "bob"))
                    .current_context("b"),
            )
            .unwrap();
        let missing = dir.path().join("missing/config");
        let var = kubeconfig_var([&first, &missing, &second]);
        assert_eq!(
            var,
            format!(
                "{}:{}:{}",
                first.display(),
                missing.display(),
                second.display()
            )
        );
        let view = kubectl_view(&dir, &["--flatten"], Some(&var));
        // The first definition of `shared` wins, its CA file found next to a/config.
        assert_eq!(view["clusters"].as_array().unwrap().len(), 1);
        assert_eq!(
            view["clusters"][0]["cluster"]["certificate-authority-data"],
            b64(&server.ca_pem())
        );
        let users: Vec<&str> = view["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect();
        assert_eq!(users, ["alice", "bob"]);
        // bob's token file is named relative to b/ (kubectl's view keeps it as written)
        // and is there.
        assert_eq!(
            entry(&view, "users", "bob")["tokenFile"],
            "config.bob.token"
        );
        assert_eq!(
            fs::read_to_string(second.with_file_name("config.bob.token")).unwrap(),
            "bob-token"
        );
        assert_eq!(view["current-context"], "b");
    }

    #[test]
    fn a_kubelet_style_token_is_named_relative_to_the_kubeconfig() {
        let dir = KubeconfigDir::new().unwrap();
        let sa = dir
            .service_account_dir(&ServiceAccountFiles::new().token("one\n"))
            .unwrap();
        let relative = dir.relative(&sa.token_path());
        assert!(relative.is_relative());
        let path = dir
            .write(
                "config",
                &Kubeconfig::new().user(User::new("pod").token_file_path(&relative)),
            )
            .unwrap();
        let view = view_file(&dir, &path, false);
        assert_eq!(view["users"][0]["user"]["tokenFile"], path_text(&relative));
        assert_eq!(
            fs::read_to_string(dir.path().join(&relative)).unwrap(),
            "one\n"
        );
        sa.update(&ServiceAccountFiles::new().token("two\n"))
            .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(&relative)).unwrap(),
            "two\n"
        );
    }

    #[test]
    fn an_empty_kubeconfig_and_kubectl_proxys_read_back() {
        let server = server();
        let dir = KubeconfigDir::new().unwrap();
        let empty = dir.write("empty", &Kubeconfig::new()).unwrap();
        let view = view_file(&dir, &empty, false);
        assert_eq!(view["clusters"], Value::Null);
        assert_eq!(view["current-context"], "");

        let proxy = dir
            .write_raw("proxy", &kubeconfig_yaml(&server, "alice-token"))
            .unwrap();
        let view = view_file(&dir, &proxy, false);
        assert_eq!(view["users"][0]["user"]["token"], "alice-token");
        assert_eq!(view["clusters"][0]["cluster"]["server"], server.url());
        assert_eq!(view["current-context"], STAND_IN_NAME);
    }

    #[test]
    fn an_exec_plugin_user_runs_the_plugin_in_its_api_version() {
        let plugin = crate::ExecPlugin::new("plugin-token").unwrap();
        plugin.set_api_version(EXEC_API_V1BETA1);
        let dir = KubeconfigDir::new().unwrap();
        let path = dir
            .write(
                "config",
                &Kubeconfig::new().user(User::new("laptop").exec(Exec::plugin(&plugin))),
            )
            .unwrap();
        let view = view_file(&dir, &path, false);
        let exec = &entry(&view, "users", "laptop")["exec"];
        assert_eq!(exec["command"], path_text(&plugin.command()));
        assert_eq!(exec["apiVersion"], EXEC_API_V1BETA1);
        assert_eq!(exec["interactiveMode"], "Never");
        assert_eq!(plugin.runs(), 0, "kubectl config view runs no plugin");
    }

    #[test]
    fn debug_shows_no_secret() {
        let server = server();
        let client = server.ca().issue_client_certificate("carol").unwrap();
        let config = Kubeconfig::new()
            .user(User::new("a").token("secret-token-1"))
            .user(User::new("b").token_file("secret-token-2"))
            .user(User::new("c").basic("bob", "secret-password-3"))
            .user(User::new("d").client_certificate_data(&client))
            .user(User::new("e").client_certificate_files(&client));
        let debug = format!("{config:?}");
        for secret in [
            "secret-token-1",
            "secret-token-2",
            "secret-password-3",
            "PRIVATE KEY",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(!debug.contains(&client.key_pem()[30..60]));
        assert!(debug.contains("\"bob\""));
    }

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(sanitize("alice@prod/x"), "alice_prod_x");
        assert_eq!(sanitize(""), "_");
        assert_eq!(sanitize(".."), "_..");
    }
}
