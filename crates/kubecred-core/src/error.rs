//! The error taxonomy every source shares.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a piece of configuration came from: named in errors and in `explain`, never with its
/// value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A file, by path (e.g. `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`).
    File(PathBuf),
    /// An environment variable, by name (e.g. `KUBE_CLUSTER_CA_CERT_DATA`).
    Variable(String),
    /// A value handed over in code.
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "file {}", crate::Shown::path(path)),
            Origin::Variable(name) => write!(f, "environment variable {name}"),
            Origin::Code => f.write_str("value given in code"),
        }
    }
}

/// Why a source could not hand out an endpoint or credentials.
///
/// [`SourceError::NotApplicable`] means "this source does not apply here" (its variables are
/// unset, say): a chain moves on to the next source. Every other variant means the source
/// applies but is broken: a chain stops there, so a half-configured environment never falls
/// through to another identity. Messages name the variable or file at fault, never its value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source does not apply in this environment; `reason` says why
    /// (e.g. "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set").
    #[error("{reason}")]
    NotApplicable {
        /// A sentence fragment a person can act on.
        reason: String,
    },

    /// `variable` is unset (or blank) although `because` is set and needs it.
    #[error("environment variable {variable} is not set, but {because} is")]
    MissingVariable {
        /// The variable that is missing.
        variable: String,
        /// The variable whose presence requires it.
        because: String,
    },

    /// `variable` is set to something unusable; `problem` says what is wrong, quoting the
    /// value only when it is not a secret (a port, a host, a boolean, a number of seconds, a
    /// path), bounded and escaped ([`crate::Shown`]): e.g. `is "abc", not a port number
    /// (1-65535)`. A token, a key, a password, or a URL's password is never quoted.
    #[error("environment variable {variable} {problem}")]
    InvalidVariable {
        /// The variable at fault.
        variable: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A setting that is not an environment variable (a flag, a builder value), or one whose
    /// name does not fit "environment variable X", is unusable.
    #[error("{setting} {problem}")]
    InvalidSetting {
        /// The setting, as a person would name it (e.g. "the proxy URL (--proxy-url)").
        setting: String,
        /// What is wrong.
        problem: String,
    },

    /// Two settings that exclude each other are both present (e.g. a `_DATA` variable and its
    /// `_FILE` twin).
    #[error("{first} and {second} are both set: {problem}")]
    Conflict {
        /// One setting, by name.
        first: String,
        /// The other, by name.
        second: String,
        /// What to do about it.
        problem: String,
    },

    /// A file the source needs does not exist.
    #[error("{what} file {} does not exist", crate::Shown::path(path))]
    FileNotFound {
        /// What the file is for ("token", "CA bundle", ...).
        what: &'static str,
        /// The path that was tried.
        path: PathBuf,
    },

    /// A file the source needs could not be read (permissions, not a file, not UTF-8, ...).
    #[error("cannot read {what} file {}", crate::Shown::path(path))]
    ReadFile {
        /// What the file is for.
        what: &'static str,
        /// The path that was tried.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A file the source needs is empty or only whitespace.
    #[error("{what} file {} is empty", crate::Shown::path(path))]
    EmptyFile {
        /// What the file is for.
        what: &'static str,
        /// The path that was read.
        path: PathBuf,
    },

    /// A file the source needs exists but is unusable: not a regular file, larger than
    /// [`crate::MAX_FILE_BYTES`], or content that breaks a rule (a namespace that is not a
    /// DNS label).
    #[error("{what} file {} {problem}", crate::Shown::path(path))]
    InvalidFile {
        /// What the file is for.
        what: &'static str,
        /// The path that was read.
        path: PathBuf,
        /// What is wrong, never quoting the content.
        problem: String,
    },

    /// A directory the source reads its files from is missing or is not a directory (a
    /// service-account directory given by a flag that names nothing): the directory, where
    /// its path came from, and as the cause the error of the file that could not be read in
    /// it. Boxed, so that every `SourceError` stays small.
    #[error(transparent)]
    InvalidDirectory(Box<DirectoryError>),

    /// A bearer token holds characters an `Authorization` header cannot carry.
    #[error("bearer token from {origin} {problem}")]
    InvalidToken {
        /// Where the token came from.
        origin: Origin,
        /// What is wrong, never quoting the token.
        problem: String,
    },

    /// A CA bundle does not hold usable certificates.
    #[error("CA bundle from {origin} {problem}")]
    InvalidCaBundle {
        /// Where the bundle came from.
        origin: Origin,
        /// What is wrong (e.g. "holds no PEM certificate").
        problem: String,
    },

    /// A client certificate or key is unusable.
    #[error("client certificate identity from {origin} {problem}")]
    InvalidClientIdentity {
        /// Where the certificate or key came from.
        origin: Origin,
        /// What is wrong.
        problem: String,
    },

    /// The configuration would be unsafe to use (e.g. a bearer token over plain `http://` to a
    /// non-loopback host); refused before any connection is made.
    #[error("refused: {reason}")]
    Refused {
        /// Why, naming the setting at fault.
        reason: String,
    },

    /// The endpoint trusts the system's root certificates ([`crate::Trust::SystemRoots`]), and
    /// the operating system's store (read by `rustls-native-certs`) holds none that rustls can
    /// use: no API server could be verified. Give the source a CA bundle instead.
    #[error(
        "no system root certificates were found to verify the API server; give a CA bundle instead"
    )]
    NoSystemRoots,
}

/// A directory a source reads its files from that is missing or is not a directory (the
/// detail of [`SourceError::InvalidDirectory`]). Displayed as "service-account directory /x
/// (from --serviceaccount-dir) does not exist"; its `source` is the error of the file that
/// could not be read in it.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}{} {problem}", crate::Shown::path(path), origin.as_ref().map(|o| format!(" (from {o})")).unwrap_or_default())]
#[non_exhaustive]
pub struct DirectoryError {
    /// What the directory is for ("service-account directory", "default service-account
    /// directory").
    pub what: &'static str,
    /// The directory's path.
    pub path: PathBuf,
    /// Where the path came from, as a person would name it (a flag such as
    /// `--serviceaccount-dir`, a variable such as `KUBECRED_SERVICEACCOUNT_DIR`), if known.
    pub origin: Option<String>,
    /// What is wrong ("does not exist", "is not a directory").
    pub problem: &'static str,
    /// The error of the file that could not be read in the directory.
    #[source]
    pub source: SourceError,
}

impl DirectoryError {
    /// The detail of a [`SourceError::InvalidDirectory`].
    pub fn new(
        what: &'static str,
        path: impl Into<PathBuf>,
        origin: Option<String>,
        problem: &'static str,
        source: SourceError,
    ) -> Self {
        Self {
            what,
            path: path.into(),
            origin,
            problem,
            source,
        }
    }
}

impl SourceError {
    /// `true` for [`SourceError::NotApplicable`]: a chain moves on; for anything else it stops.
    pub fn is_not_applicable(&self) -> bool {
        matches!(self, SourceError::NotApplicable { .. })
    }

    /// A *not applicable* answer with this reason.
    pub fn not_applicable(reason: impl Into<String>) -> Self {
        SourceError::NotApplicable {
            reason: reason.into(),
        }
    }

    /// The environment variables this error names (for `explain`), in order.
    pub fn variables(&self) -> Vec<String> {
        let origin_var = |origin: &Origin| match origin {
            Origin::Variable(name) => vec![name.clone()],
            _ => Vec::new(),
        };
        match self {
            SourceError::MissingVariable { variable, because } => {
                vec![because.clone(), variable.clone()]
            }
            SourceError::InvalidVariable { variable, .. } => vec![variable.clone()],
            SourceError::Conflict { first, second, .. } => vec![first.clone(), second.clone()],
            SourceError::InvalidCaBundle { origin, .. }
            | SourceError::InvalidClientIdentity { origin, .. }
            | SourceError::InvalidToken { origin, .. } => origin_var(origin),
            SourceError::InvalidDirectory(error) => error.source.variables(),
            _ => Vec::new(),
        }
    }

    /// The files this error names (for `explain`).
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            SourceError::FileNotFound { path, .. }
            | SourceError::ReadFile { path, .. }
            | SourceError::InvalidFile { path, .. }
            | SourceError::EmptyFile { path, .. } => vec![path.clone()],
            SourceError::InvalidCaBundle {
                origin: Origin::File(path),
                ..
            }
            | SourceError::InvalidClientIdentity {
                origin: Origin::File(path),
                ..
            }
            | SourceError::InvalidToken {
                origin: Origin::File(path),
                ..
            } => vec![path.clone()],
            SourceError::InvalidDirectory(error) => {
                let mut files = vec![error.path.clone()];
                files.extend(error.source.files());
                files
            }
            _ => Vec::new(),
        }
    }

    /// Maps an I/O error on `path` to [`SourceError::FileNotFound`] or
    /// [`SourceError::ReadFile`].
    pub fn from_io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::NotFound {
            SourceError::FileNotFound { what, path }
        } else {
            SourceError::ReadFile { what, path, source }
        }
    }
}
