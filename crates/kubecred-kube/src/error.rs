//! `Error`: why no `kube::Client` could be made.

/// Why [`client`](crate::client) or [`from_builder`](crate::from_builder) made no
/// `kube::Client`. Every variant that concerns the chosen source names it, and a URL in a
/// message is shown without its user name and password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// kubecred could not build its client ([`from_builder`](crate::from_builder) only): no
    /// source applies, one failed, … ([`kubecred_client::Error::report`] says which). Boxed:
    /// kubecred's error is large, and this one is returned on every path.
    #[error(transparent)]
    Client(Box<kubecred_client::Error>),
    /// The chosen endpoint is one kube-rs cannot reach; `reason` says why and what to use
    /// instead.
    #[error("{source_name}: kube-rs cannot reach {url}: {reason}")]
    Unreachable {
        /// The chosen source (`proxy`, …).
        source_name: String,
        /// The endpoint's URL, without user name or password.
        url: String,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// A part of the chosen endpoint does not fit kube-rs's types: its URL or its HTTP
    /// proxy's is not an `http::Uri`, or its TLS server name is neither a DNS name nor an IP
    /// address. `what` names the part.
    #[error("{source_name}: the endpoint's {what} is not usable by kube-rs")]
    Endpoint {
        /// The chosen source.
        source_name: String,
        /// Which part: `URL`, `HTTP proxy URL`, `TLS server name`.
        what: String,
    },
}

impl From<kubecred_client::Error> for Error {
    fn from(error: kubecred_client::Error) -> Self {
        Error::Client(Box::new(error))
    }
}
