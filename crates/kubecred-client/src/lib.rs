//! kubecred's client: reach a Kubernetes API server from wherever the program runs.
//!
//! - [`ClientBuilder`] resolves an ordered chain of sources (by default: env → kubeconfig →
//!   in-cluster → proxy, those compiled in), once, at [`ClientBuilder::build`], which evaluates nothing
//!   after the chosen source; [`ClientBuilder::explain`] reports every source's outcome
//!   without sending a request. [`ComposedBuilder`] ([`Client::composed`]) is the other
//!   mode: any [`ApiEndpoint`] with any [`CredentialSource`], composed by hand.
//! - The types those take are re-exported ([`StaticSource`], [`Endpoint`], [`Credentials`],
//!   [`MapEnvironment`], …, and with the `mock` feature the `mockall` mocks), so one
//!   dependency on this crate is enough to compose or mock.
//! - [`Client`] sends requests: [`Client::request`] (any `http::Request`, every status is
//!   `Ok`), [`Client::get`] and [`Client::get_json`] (a non-2xx is an [`Error::Status`] that
//!   names the source and carries the server's `Status` message), which read the whole body;
//!   [`Client::send_streaming`] and [`Client::get_streaming`], which return at the head with
//!   a [`Body`] that streams (watches, followed logs); and hands frameworks what they need:
//!   [`Client::endpoint`], [`Client::tls_config`], [`Client::authorization_header`].
//!
//! ```
//! use std::sync::Arc;
//! use kubecred_client::Client;
//! use kubecred_core::MapEnvironment;
//! use kubecred_testing::{ApiServer, ServiceAccountDir, ServiceAccountFiles};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A pod, played by the stand-in API server and a kubelet-style service-account directory.
//! let server = ApiServer::builder().token("pod", "pod-token").start()?;
//! let dir = ServiceAccountDir::new(
//!     &ServiceAccountFiles::new().token("pod-token\n").ca_crt(server.ca_pem()).namespace("team-a"),
//! )?;
//! let env = MapEnvironment::new([
//!     ("KUBERNETES_SERVICE_HOST", server.host()),
//!     ("KUBERNETES_SERVICE_PORT", server.port().to_string()),
//! ]);
//!
//! // In a real pod this is just `Client::builder().build().await?`.
//! let client = Client::builder()
//!     .environment(Arc::new(env))
//!     .serviceaccount_dir(dir.path())
//!     .build()
//!     .await?;
//! let versions: serde_json::Value = client.get_json("/api").await?;
//! assert_eq!(versions["versions"][0], "v1");
//! assert_eq!((client.source_name(), client.namespace()), ("in-cluster", "team-a"));
//! # Ok(())
//! # }
//! ```
//!
//! The key design decision: the chain is resolved once and the chosen source stays, while its
//! credentials keep refreshing; a source that applies but is broken stops the chain rather
//! than fall through to another identity. The cost: a program whose environment changes after
//! start-up must build a new client to notice.
//!
//! The transport is reqwest on rustls with the `ring` provider, built with an explicit
//! configuration: the system's `HTTP(S)_PROXY` variables are never consulted (an endpoint
//! carries its own proxy when it wants one). Time limits, each named by the
//! [`Error::Timeout`] it ends with ([`TimeLimit`]): connecting, 10 s
//! ([`ClientBuilder::connect_timeout`]); a buffered send ([`Client::request`], `get`,
//! `get_json`), 30 s from sending to the end of the body ([`ClientBuilder::timeout`]); a
//! streamed send, the same 30 s for its head only, never its body, whose limit is the idle
//! one: the longest silence after the head or between chunks ([`ClientBuilder::idle_timeout`],
//! none by default, as in kubectl, since a healthy watch can be silent for as long as it
//! lasts: [`DEFAULT_IDLE_TIMEOUT`] says more).

mod body;
mod builder;
mod certificate;
mod client;
mod error;
mod explain;
mod layer;
mod policy;
mod recent;
mod resolve;
mod source_name;
mod sources;
mod status;
mod transport;

pub use body::Body;
pub use builder::{
    ClientBuilder, ComposedBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_TIMEOUT,
};
pub use client::{Client, USER_AGENT_VALUE};
pub use error::{Error, TimeLimit, TransportCause};
pub use explain::{CredentialReport, Explanation, Outcome, SourceReport};
pub use layer::{AuthFuture, AuthLayer, AuthService, BoxError};
pub use source_name::SourceName;
pub use sources::{EXEC_CACHE_VAR, PROXY_URL_VAR, REFRESH_SECS_VAR, SERVICEACCOUNT_DIR_VAR};

// What the public signatures take, so that composing or mocking needs no second dependency.
pub use kubecred_core::{
    error_chain, ApiEndpoint, CredentialKind, CredentialSource, Credentials, Endpoint, Environment,
    MapEnvironment, SecretString, Source, SourceError, StaticSource, Trust,
};

/// `mockall` mocks of the two traits (the `mock` feature): `MockApiEndpoint` and
/// `MockCredentialSource`, re-exported from `kubecred-core`.
#[cfg(feature = "mock")]
pub use kubecred_core::{MockApiEndpoint, MockCredentialSource};
