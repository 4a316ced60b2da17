//! The client's errors.

use std::fmt;
use std::time::Duration;

use http::StatusCode;
use kubecred_core::SourceError;

use crate::Explanation;

/// Everything [`crate::Client`] and [`crate::ClientBuilder`] can fail with.
///
/// Every variant that concerns a source names it (`in-cluster: ...`), and none carries a
/// secret: tokens and keys never reach an error.
///
/// `Debug` prints the variant's name and the message with its causes, not a dump of the
/// fields (the report of every source is [`Error::report`]): a `main` that returns
/// `Result<(), Error>` prints a line a person can act on.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No source of the chain applies. The report lists every source and why it did not.
    #[error("no credential source applies: {}", report.summary())]
    NoSource {
        /// What each source found.
        report: Box<Explanation>,
    },

    /// A source applies but is broken (or the composition would be unsafe): the chain stops
    /// there rather than fall through to another identity. The message holds the whole
    /// cause (`in-cluster: token file /…/token is empty`).
    #[error("{name}: {}", kubecred_core::error_chain(error))]
    SourceFailed {
        /// The failing source's name (for a hand-composed client, the endpoint's or the
        /// credentials' source, whichever failed).
        name: String,
        /// What is wrong, naming the variable or file.
        error: SourceError,
        /// What each source found.
        report: Box<Explanation>,
    },

    /// kubecred itself could not set up its transport (the crypto provider or the HTTP
    /// client): not the source's fault. Worth a bug report.
    #[error("kubecred cannot set up its transport: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },

    /// The builder was given an incomplete or contradictory set of inputs.
    #[error("invalid client configuration: {0}")]
    Config(String),

    /// Reading the current credentials failed while sending a request.
    #[error(
        "{name}: cannot get credentials: {}",
        kubecred_core::error_chain(error)
    )]
    Credentials {
        /// The credential source's name.
        name: String,
        /// Why.
        error: SourceError,
    },

    /// The request itself is unusable (an absolute URI, a path without a leading `/`, ...)
    /// or would be unsafe (an `Authorization` header bound for an endpoint that must not
    /// receive one). Refused before connecting.
    #[error("{name}: invalid request: {reason}")]
    InvalidRequest {
        /// The source's name.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// The API server's certificate did not verify with the endpoint's trust.
    #[error(
        "{name}: the API server at {url} failed TLS verification against {trust}{}",
        problem.as_deref().map(|p| format!(": {p}")).unwrap_or_default()
    )]
    TlsVerification {
        /// The source's name.
        name: String,
        /// The URL requested (never holds a secret).
        url: String,
        /// What the certificate was checked against (e.g. "the CA bundle from file …/ca.crt").
        trust: String,
        /// What was wrong with the certificate, in words, where rustls's error leaves it to
        /// decode: for a name mismatch, the names the certificate holds (DNS names, IP
        /// addresses, common name; bounded, escaped) and, for an IP address it lists only as a
        /// DNS name or common name, that it has no IP SAN for it; for an unknown issuer, the
        /// issuer and where to give its CA (`KUBE_CLUSTER_CA_CERT_FILE`/`_DATA`, a kubeconfig
        /// cluster's `certificate-authority`/`-data`). `None` otherwise.
        problem: Option<String>,
        /// The TLS error (reqwest's, whole, through [`TransportCause::reqwest`]), shown as
        /// `problem` for a name mismatch (rustls's own message lists every name of the
        /// certificate, hundreds for some), otherwise as rustls's message, bounded.
        #[source]
        source: TransportCause,
    },

    /// The API server refused the client certificate during the TLS handshake (its CA did
    /// not issue it, or it expired).
    #[error("{name}: the API server at {url} rejected the client certificate")]
    ClientCertificateRejected {
        /// The source's name.
        name: String,
        /// The URL requested.
        url: String,
        /// The TLS alert.
        #[source]
        source: reqwest::Error,
    },

    /// The API server requires a client certificate (its TLS `certificate_required` alert)
    /// and the source has none: a kubeconfig-style identity is expected, e.g.
    /// `KUBE_CLIENT_CERT_*` and `KUBE_CLIENT_KEY_*` for the env source.
    #[error("{name}: the API server at {url} requires a client certificate, and the credentials have none")]
    ClientCertificateRequired {
        /// The source's name.
        name: String,
        /// The URL requested.
        url: String,
        /// The TLS alert.
        #[source]
        source: reqwest::Error,
    },

    /// The request ran into one of the client's time limits; the message names the limit
    /// and the builder method that changes it.
    #[error("{name}: request to {url} timed out: {limit}")]
    Timeout {
        /// The source's name.
        name: String,
        /// The URL requested.
        url: String,
        /// Which limit fired.
        limit: TimeLimit,
        /// The transport error, when reqwest's timer fired ([`TimeLimit::Connect`],
        /// [`TimeLimit::Request`]); `None` for the limits the client times itself, a
        /// stream's [`TimeLimit::Head`] and [`TimeLimit::Idle`].
        #[source]
        source: Option<reqwest::Error>,
    },

    /// Connecting, sending or reading failed (refused, reset, a body cut short, ...).
    #[error("{name}: request to {url} failed")]
    Transport {
        /// The source's name.
        name: String,
        /// The URL requested.
        url: String,
        /// The transport error (reqwest's, whole, through [`TransportCause::reqwest`]): in
        /// words for a body cut short (`the server closed the connection before the end of
        /// the body`), otherwise reqwest's messages, bounded.
        #[source]
        source: TransportCause,
    },

    /// The API server answered with a non-2xx status (from [`crate::Client::get`] and
    /// [`crate::Client::get_json`]; [`crate::Client::request`] returns every status as `Ok`).
    /// The message says where, as the TLS errors do: `in-cluster: 404 Not Found for GET
    /// https://10.96.0.1:443/api/nope: …`.
    #[error("{name}: {status} for {method} {url}: {message}")]
    Status {
        /// The source's name.
        name: String,
        /// The request's method.
        method: http::Method,
        /// The URL requested: the server's address and the request's path and query
        /// (`http://127.0.0.1:8001/…` for `kubectl proxy`, `unix:///…/api` for a unix socket;
        /// bounded, control characters escaped; never holds a secret).
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The `message` of the server's `Status` object, or the body's start when there is
        /// none.
        message: String,
        /// The `reason` of the server's `Status` object (e.g. `Unauthorized`), if any.
        reason: Option<String>,
    },

    /// A 2xx body did not decode as the requested type.
    #[error("{name}: cannot decode the response to {path}")]
    Decode {
        /// The source's name.
        name: String,
        /// The request path.
        path: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Error::NoSource { .. } => "NoSource",
            Error::SourceFailed { .. } => "SourceFailed",
            Error::Internal { .. } => "Internal",
            Error::Config(_) => "Config",
            Error::Credentials { .. } => "Credentials",
            Error::InvalidRequest { .. } => "InvalidRequest",
            Error::TlsVerification { .. } => "TlsVerification",
            Error::ClientCertificateRejected { .. } => "ClientCertificateRejected",
            Error::ClientCertificateRequired { .. } => "ClientCertificateRequired",
            Error::Timeout { .. } => "Timeout",
            Error::Transport { .. } => "Transport",
            Error::Status { .. } => "Status",
            Error::Decode { .. } => "Decode",
        };
        write!(f, "{variant}: {}", kubecred_core::error_chain(self))
    }
}

impl Error {
    /// The report of every source's outcome, when this error comes from resolving a chain.
    pub fn report(&self) -> Option<&Explanation> {
        match self {
            Error::NoSource { report } | Error::SourceFailed { report, .. } => Some(report),
            _ => None,
        }
    }

    /// The HTTP status, for [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The transport failure under [`Error::Transport`] and [`Error::TlsVerification`]:
/// reqwest's error, kept whole for a program that tells failures apart
/// ([`TransportCause::reqwest`]: its `is_connect()`, `is_body()`, … and its `source()` chain
/// down to hyper's, the I/O and rustls's errors), and shown in kubecred's words where it has
/// them — a name mismatch (the text of [`Error::TlsVerification`]'s `problem`, which its
/// message already ends with), a body cut short (`the server closed the connection
/// before the end of the body`) — and otherwise as reqwest's chain of messages, bounded and
/// escaped as any text from outside ([`kubecred_core::Shown`], 256 characters).
///
/// Its own `source()` is `None`, so that a message built from the chain
/// ([`kubecred_core::error_chain`]) stays bounded: rustls's message for a name mismatch lists
/// every name the certificate holds, and its message for a connection closed without a TLS
/// `close_notify` carries a link to its manual.
pub struct TransportCause(Box<(reqwest::Error, Option<String>)>);

impl TransportCause {
    /// `error`, shown as `words` when there are some.
    pub(crate) fn new(error: reqwest::Error, words: Option<String>) -> Self {
        // Boxed: every `Error` stays as small as it was with reqwest's error alone.
        Self(Box::new((error, words)))
    }

    /// reqwest's error, whole (its URL removed: the [`Error`]'s message names it).
    pub fn reqwest(&self) -> &reqwest::Error {
        &self.0 .0
    }

    /// reqwest's error, taken out.
    pub fn into_reqwest(self) -> reqwest::Error {
        self.0 .0
    }
}

impl fmt::Display for TransportCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 .1 {
            Some(words) => f.write_str(words),
            None => kubecred_core::Shown::text(&kubecred_core::error_chain(self.reqwest())).fmt(f),
        }
    }
}

impl fmt::Debug for TransportCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransportCause({:?})", self.to_string())
    }
}

impl std::error::Error for TransportCause {}

/// The time limit an [`Error::Timeout`] ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeLimit {
    /// No connection (TCP and TLS) within this long: [`crate::ClientBuilder::connect_timeout`]
    /// (10 s by default).
    Connect(Duration),
    /// No complete answer within this long of sending: [`crate::ClientBuilder::timeout`] (30 s
    /// by default). Bounds the buffered sends ([`crate::Client::request`], `get`,
    /// `get_json`), head and body.
    Request(Duration),
    /// No response head within this long of sending a streamed request
    /// ([`crate::Client::send_streaming`], [`crate::Client::get_streaming`]): the same
    /// [`crate::ClientBuilder::timeout`], which bounds a stream's head only, never its body.
    Head(Duration),
    /// Nothing of a streamed body arrived for this long (after the head, or since the last
    /// chunk): [`crate::ClientBuilder::idle_timeout`] (none by default).
    Idle(Duration),
}

impl fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeLimit::Connect(limit) => write!(
                f,
                "no connection within the connect limit of {} (ClientBuilder::connect_timeout changes it)",
                seconds(*limit)
            ),
            TimeLimit::Request(limit) => write!(
                f,
                "no complete answer within the request limit of {} (ClientBuilder::timeout changes it)",
                seconds(*limit)
            ),
            TimeLimit::Head(limit) => write!(
                f,
                "no response head within the request limit of {} (ClientBuilder::timeout changes it; it does not bound the streamed body)",
                seconds(*limit)
            ),
            TimeLimit::Idle(limit) => write!(
                f,
                "nothing received for the idle limit of {} (ClientBuilder::idle_timeout changes it)",
                seconds(*limit)
            ),
        }
    }
}

/// `10 s`, `0.5 s`.
fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0} s")
    } else {
        format!("{secs} s")
    }
}
