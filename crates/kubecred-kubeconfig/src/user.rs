//! A kubeconfig user → its credentials: static (`token`, `username`/`password`,
//! `client-*-data`), file-backed and re-read (`tokenFile`, `client-certificate`/`client-key`
//! files, as a pair), or an exec plugin's.
//!
//! The rules of client-go (`validation.go`, `client_config.go`), with kubecred's stricter
//! reading: a user with more than one authentication method is *failed*, naming them
//! (`token` with `tokenFile` is one method: the file wins, as in client-go); a client
//! certificate rides along with a token or basic authentication (it is TLS, they are a header),
//! but not with an exec plugin, whose output may carry its own; a certificate without its key
//! (or a key without its certificate) is *failed*; `auth-provider` is *failed*, naming the
//! provider and the exec plugin that replaced it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kubecred_core::{
    check_token, read_small_file, read_token_file, Cached, ClientIdentity, Credentials, Deferred,
    Origin, SourceConfig, SourceError,
};
use secrecy::zeroize::Zeroize as _;
use secrecy::{ExposeSecret as _, SecretString};

use crate::exec::cache::ExecCache;
use crate::exec::{ClusterInfo, ExecConfig, ExecCredentials, ExecSettings};
use crate::merge::Defined;
use crate::model::{Exec, User};

/// What building a user's credentials needs beyond the kubeconfig.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) config: SourceConfig,
    pub(crate) exec_timeout: Duration,
    pub(crate) stdin_is_terminal: bool,
    pub(crate) exec_cache: ExecCache,
    /// The setting that gave `exec_cache`, for messages (`--exec-cache`, …).
    pub(crate) exec_cache_origin: String,
}

/// A user's credentials, ready to be read.
#[derive(Debug)]
pub(crate) enum UserCredentials {
    /// Fixed for the source's life: one `Arc` for every call.
    Static {
        credentials: Arc<Credentials>,
        kind: &'static str,
    },
    /// Re-read from files (a token file, a certificate and key pair, or both) on the token
    /// re-read policy, and after a `401`.
    Files(Box<FileUser>),
    /// Run by an exec plugin when due (boxed: it is large, and the other variants are read
    /// on every request).
    Exec(Box<ExecCredentials>),
}

/// File-backed credentials: the cache and how to fill it.
#[derive(Debug)]
pub(crate) struct FileUser {
    cached: Cached<Credentials>,
    load: FileLoad,
    kind: &'static str,
}

/// How the file-backed credentials are read.
#[derive(Debug)]
pub(crate) struct FileLoad {
    token_file: Option<PathBuf>,
    /// A static header credential read with the files (a `token` or basic authentication
    /// next to certificate files).
    fixed: Option<Credentials>,
    identity: Option<Identity>,
}

/// Where a client certificate identity comes from.
#[derive(Debug, Clone)]
enum Identity {
    Files { certificate: PathBuf, key: PathBuf },
    Data(ClientIdentity),
}

impl FileLoad {
    fn load(&self) -> Result<Credentials, SourceError> {
        let mut credentials = match (&self.token_file, &self.fixed) {
            (Some(path), _) => Credentials::bearer(read_token_file(path)?),
            (None, Some(fixed)) => fixed.clone(),
            (None, None) => Credentials::anonymous(),
        };
        if let Some(identity) = &self.identity {
            credentials = credentials.with_identity(identity.load()?);
        }
        Ok(credentials)
    }
}

impl Identity {
    fn load(&self) -> Result<ClientIdentity, SourceError> {
        match self {
            Identity::Data(identity) => Ok(identity.clone()),
            Identity::Files { certificate, key } => {
                let certificate_pem = read_small_file("client certificate", certificate)?;
                let mut key_pem = read_small_file("client key", key)?;
                let identity = ClientIdentity::from_pem(
                    &certificate_pem,
                    Origin::File(certificate.clone()),
                    &key_pem,
                    Origin::File(key.clone()),
                );
                key_pem.zeroize();
                identity
            }
        }
    }
}

impl UserCredentials {
    /// The credentials of `user` (`None`: anonymous), checked now: conflicts, a certificate
    /// without its key, a token HTTP cannot carry, a `-data` value that does not decode, an
    /// exec plugin's checks that need no run. File-backed credentials are read on first use.
    ///
    /// # Errors
    ///
    /// *Failed*, naming the user and its file (never a value).
    pub(crate) fn new(
        user: Option<&(String, Defined<User>)>,
        cluster: &ClusterInfo,
        settings: &Settings,
    ) -> Result<Self, SourceError> {
        let Some((name, defined)) = user else {
            return Ok(Self::fixed(Credentials::anonymous(), "none"));
        };
        let file = &defined.file;
        let u = &defined.value;
        let invalid = |problem: String| SourceError::InvalidFile {
            what: "kubeconfig",
            path: file.clone(),
            problem: format!("user \"{name}\" {problem}"),
        };
        if let Some(provider) = &u.auth_provider {
            return Err(invalid(auth_provider_problem(&provider.name)));
        }
        let token_file = u.token_file.as_deref().filter(|p| !p.is_empty());
        let has_token = u.token.is_some() || token_file.is_some();
        let has_basic = u.username.is_some() || u.password.is_some();
        let certificate = present(&u.client_certificate, &u.client_certificate_data);
        let key = u.client_key.is_some() || u.client_key_data.is_some();
        let mut methods = Vec::new();
        if has_token {
            methods.push("token");
        }
        if has_basic {
            methods.push("username/password");
        }
        if u.exec.is_some() {
            methods.push("exec");
            if certificate || key {
                methods.push("client certificate");
            }
        }
        if methods.len() > 1 {
            return Err(invalid(format!(
                "has more than one authentication method ({}): keep one",
                methods.join(", ")
            )));
        }
        if u.client_certificate.is_some() && u.client_certificate_data.is_some() {
            return Err(invalid(
                "sets both client-certificate and client-certificate-data: give one".to_owned(),
            ));
        }
        if u.client_key.is_some() && u.client_key_data.is_some() {
            return Err(invalid(
                "sets both client-key and client-key-data: give one".to_owned(),
            ));
        }
        if certificate != key {
            let problem = if certificate {
                "has a client certificate without its key (client-key or client-key-data)"
            } else {
                "has a client key without its certificate (client-certificate or client-certificate-data)"
            };
            return Err(invalid(problem.to_owned()));
        }
        if let Some(exec) = &u.exec {
            return exec_credentials(name, defined, exec, cluster, settings);
        }

        let identity = if certificate {
            Some(identity(file, u, &invalid)?)
        } else {
            None
        };
        let fixed = if let Some(token) = &u.token {
            check_token(token.expose_secret(), Origin::File(file.clone()))?;
            Some(Credentials::bearer(token.clone()))
        } else if has_basic {
            let empty = || SecretString::from("");
            Some(Credentials::basic(
                u.username.clone().unwrap_or_else(empty),
                u.password.clone().unwrap_or_else(empty),
            ))
        } else {
            None
        };
        let kind = match (token_file, &fixed, has_basic, certificate) {
            (Some(_), _, _, _) => "token-file",
            (None, Some(_), false, _) => "bearer-token",
            (None, Some(_), true, _) => "basic",
            (None, None, _, true) => "client-certificate",
            (None, None, _, false) => "none",
        };
        let file_backed = token_file.is_some() || matches!(identity, Some(Identity::Files { .. }));
        if !file_backed {
            let mut credentials = fixed.unwrap_or_else(Credentials::anonymous);
            if let Some(Identity::Data(identity)) = identity {
                credentials = credentials.with_identity(identity);
            }
            return Ok(Self::fixed(credentials, kind));
        }
        let what = match token_file {
            Some(path) => format!("token file {path} (kubeconfig user \"{name}\")"),
            None => format!("client certificate files (kubeconfig user \"{name}\")"),
        };
        Ok(UserCredentials::Files(Box::new(FileUser {
            cached: Cached::new(
                what,
                settings.config.token_refresh(),
                Arc::clone(settings.config.clock()),
            ),
            load: FileLoad {
                token_file: token_file.map(PathBuf::from),
                fixed,
                identity,
            },
            kind,
        })))
    }

    fn fixed(credentials: Credentials, kind: &'static str) -> Self {
        UserCredentials::Static {
            credentials: Arc::new(credentials),
            kind,
        }
    }

    /// The user's kind for `explain`: `bearer-token`, `token-file`, `client-certificate`,
    /// `basic`, `exec: COMMAND` or `none`, with `+ client-certificate` when a certificate
    /// rides along with a token or basic authentication.
    pub(crate) fn kind(&self) -> String {
        let (kind, with_certificate) = match self {
            UserCredentials::Static { credentials, kind } => {
                (*kind, credentials.identity().is_some())
            }
            UserCredentials::Files(user) => (user.kind, user.load.identity.is_some()),
            UserCredentials::Exec(exec) => return format!("exec: {}", exec.command()),
        };
        if with_certificate && kind != "client-certificate" {
            format!("{kind} + client-certificate")
        } else {
            kind.to_owned()
        }
    }

    /// The current credentials; file-backed ones are read when due.
    ///
    /// # Errors
    ///
    /// The first read's error (a later failed re-read keeps the last good value and warns).
    pub(crate) async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        match self {
            UserCredentials::Static { credentials, .. } => Ok(Arc::clone(credentials)),
            UserCredentials::Files(user) => user.cached.get(|| user.load.load()),
            UserCredentials::Exec(exec) => exec.credentials().await,
        }
    }

    /// The credentials at hand (no lock, no I/O), or `None` when due or not read yet.
    pub(crate) fn current(&self) -> Option<Arc<Credentials>> {
        match self {
            UserCredentials::Static { credentials, .. } => Some(Arc::clone(credentials)),
            UserCredentials::Files(user) => user.cached.current(),
            UserCredentials::Exec(exec) => exec.current(),
        }
    }

    /// Re-reads after a `401` (file-backed: once for concurrent callers, within the back-off
    /// of a failed read; static: the same value).
    ///
    /// # Errors
    ///
    /// The re-read's error; the last good value stays.
    pub(crate) async fn refresh(
        &self,
        rejected: &Arc<Credentials>,
    ) -> Result<Arc<Credentials>, SourceError> {
        match self {
            UserCredentials::Static { credentials, .. } => Ok(Arc::clone(credentials)),
            UserCredentials::Files(user) => user.cached.refresh(rejected, || user.load.load()),
            UserCredentials::Exec(exec) => exec.refresh(rejected).await,
        }
    }

    /// What `explain` reports instead of reading (exec plugins only).
    pub(crate) fn deferred(&self) -> Option<Deferred> {
        match self {
            UserCredentials::Exec(exec) => {
                let mut how = format!(
                    "exec plugin {} (run when a client is built; explain does not run it)",
                    exec.command()
                );
                if let Some(cache) = exec.cache_report() {
                    how = format!("{how}; {cache}");
                }
                Some(Deferred::new(how))
            }
            _ => None,
        }
    }

    /// The files read for these credentials (for `explain`), never their content.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        match self {
            UserCredentials::Static { .. } | UserCredentials::Exec(_) => Vec::new(),
            UserCredentials::Files(user) => {
                let load = &user.load;
                let mut files: Vec<PathBuf> = load.token_file.iter().cloned().collect();
                if let Some(Identity::Files { certificate, key }) = &load.identity {
                    files.push(certificate.clone());
                    files.push(key.clone());
                }
                files
            }
        }
    }
}

/// Whether a file or `-data` field is set (an empty one is unset).
fn present(file: &Option<String>, data: &Option<String>) -> bool {
    file.as_deref().is_some_and(|f| !f.is_empty()) || data.as_deref().is_some_and(|d| !d.is_empty())
}

/// The identity of a user with a certificate and key: files (read later, as a pair) or
/// `-data` (base64 of PEM, parsed now).
fn identity(
    file: &Path,
    u: &User,
    invalid: &dyn Fn(String) -> SourceError,
) -> Result<Identity, SourceError> {
    if let (Some(certificate), Some(key)) = (&u.client_certificate, &u.client_key) {
        return Ok(Identity::Files {
            certificate: PathBuf::from(certificate),
            key: PathBuf::from(key),
        });
    }
    let decode = |field: &str, data: &str| {
        kubecred_core::decode_base64(data)
            .ok_or_else(|| invalid(format!("has a {field} that is not base64")))
    };
    let origin = Origin::File(file.to_owned());
    let certificate_pem = match (&u.client_certificate, &u.client_certificate_data) {
        (Some(path), _) => read_small_file("client certificate", Path::new(path))?,
        (None, Some(data)) => decode("client-certificate-data", data)?,
        (None, None) => unreachable!("checked: a certificate is present"),
    };
    let certificate_origin = match &u.client_certificate {
        Some(path) => Origin::File(PathBuf::from(path)),
        None => origin.clone(),
    };
    let (mut key_pem, key_origin) = match (&u.client_key, &u.client_key_data) {
        (Some(path), _) => (
            read_small_file("client key", Path::new(path))?,
            Origin::File(PathBuf::from(path)),
        ),
        (None, Some(data)) => (decode("client-key-data", data.expose_secret())?, origin),
        (None, None) => unreachable!("checked: a key is present"),
    };
    let identity =
        ClientIdentity::from_pem(&certificate_pem, certificate_origin, &key_pem, key_origin);
    key_pem.zeroize();
    Ok(Identity::Data(identity?))
}

/// The message for a legacy `auth-provider`: which exec plugin replaced it.
fn auth_provider_problem(provider: &str) -> String {
    let replacement = match provider {
        "gcp" => "the gke-gcloud-auth-plugin exec plugin (the gcp provider was removed in Kubernetes 1.26)",
        "azure" => "the kubelogin exec plugin (the azure provider was removed in Kubernetes 1.26)",
        "oidc" => "an exec plugin such as kubelogin (kubectl oidc-login); kubecred does not run the oidc provider",
        _ => "an exec plugin (kubecred runs no auth-provider)",
    };
    format!("uses auth-provider \"{provider}\", which kubecred does not support: use {replacement}")
}

/// An exec user's credentials: the checks that need no run happen now (in
/// [`ExecCredentials::new`]); the plugin runs on the first read.
fn exec_credentials(
    name: &str,
    defined: &Defined<User>,
    exec: &Exec,
    cluster: &ClusterInfo,
    settings: &Settings,
) -> Result<UserCredentials, SourceError> {
    if exec.env.iter().any(|v| v.name.is_empty()) {
        return Err(SourceError::InvalidFile {
            what: "kubeconfig",
            path: defined.file.clone(),
            problem: format!(
                "user \"{name}\" gives exec plugin {} a variable without a name (client-go refuses it too)",
                exec.command
            ),
        });
    }
    let config = ExecConfig {
        api_version: exec.api_version.clone(),
        command: exec.command.clone(),
        args: exec.args.clone(),
        env: exec
            .env
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect(),
        install_hint: exec.install_hint.clone().filter(|h| !h.is_empty()),
        provide_cluster_info: exec.provide_cluster_info,
        interactive_mode: exec.interactive_mode.clone().filter(|m| !m.is_empty()),
        base_dir: defined.dir(),
    };
    let settings = ExecSettings {
        timeout: settings.exec_timeout,
        clock: Arc::clone(settings.config.clock()),
        env: Arc::clone(settings.config.environment()),
        stdin_is_terminal: settings.stdin_is_terminal,
        cache_dir: settings.exec_cache.dir(
            &**settings.config.environment(),
            &settings.exec_cache_origin,
        ),
    };
    let credentials = ExecCredentials::new(config, Some(cluster.clone()), settings)?;
    Ok(UserCredentials::Exec(Box::new(credentials)))
}
