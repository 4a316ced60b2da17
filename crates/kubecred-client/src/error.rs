//! The client's errors.

use http::StatusCode;
use kubecred_core::SourceError;

use crate::Explanation;

/// Everything [`crate::Client`] and [`crate::ClientBuilder`] can fail with.
///
/// Every variant that concerns a source names it (`in-cluster: ...`), and none carries a
/// secret: tokens and keys never reach an error.
#[derive(Debug, thiserror::Error)]
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
    #[error("{name}: the API server at {url} failed TLS verification against {trust}")]
    TlsVerification {
        /// The source's name.
        name: String,
        /// The URL requested (never holds a secret).
        url: String,
        /// What the certificate was checked against (e.g. "the CA bundle from file …/ca.crt").
        trust: String,
        /// The TLS error.
        #[source]
        source: reqwest::Error,
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

    /// Connecting, sending or reading failed (refused, timed out, reset, ...).
    #[error("{name}: request to {url} failed")]
    Transport {
        /// The source's name.
        name: String,
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The API server answered with a non-2xx status (from [`crate::Client::get`] and
    /// [`crate::Client::get_json`]; [`crate::Client::request`] returns every status as `Ok`).
    #[error("{name}: {status}: {message}")]
    Status {
        /// The source's name.
        name: String,
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
