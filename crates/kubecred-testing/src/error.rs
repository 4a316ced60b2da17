//! What can go wrong while making certificates or starting the stand-in API server.

use std::io;
use std::net::SocketAddr;

/// Why a certificate could not be made or the stand-in API server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// rcgen refused to generate a key pair or sign a certificate (e.g. a subject alternative
    /// name that is neither a DNS name nor an IP address).
    #[error("cannot generate {what}")]
    Certificate {
        /// What was being made ("the CA certificate", "a server certificate for [..]", ...).
        what: String,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },

    /// The listening socket could not be bound.
    #[error("cannot bind the stand-in API server to {addr}")]
    Bind {
        /// The address that was tried (port 0: an ephemeral port).
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// rustls refused part of the server's TLS configuration.
    #[error("cannot build the TLS configuration of the stand-in API server: bad {what}")]
    Tls {
        /// The part rustls refused ("serving certificate", "client-certificate verifier", ...).
        what: &'static str,
        /// rustls's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The server's thread or its tokio runtime could not be started.
    #[error("cannot start the stand-in API server's {what}")]
    Start {
        /// "thread" or "tokio runtime".
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A [`Pod`](crate::Pod)'s service-account directory could not be written or rewritten
    /// (the error names the file or symlink).
    #[error("cannot write the pod's service-account directory: {0}")]
    ServiceAccountDir(io::Error),

    /// `kubectl proxy` could not be started, or exited before it served.
    #[error("cannot start `kubectl proxy`: {problem}")]
    Kubectl {
        /// What went wrong (kubectl missing, its exit status and stderr, ...).
        problem: String,
    },
}
