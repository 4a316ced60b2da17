//! kubecred's client: reach a Kubernetes API server from wherever the program runs.
//!
//! - [`ClientBuilder`] composes any [`ApiEndpoint`](kubecred_core::ApiEndpoint) with any
//!   [`CredentialSource`](kubecred_core::CredentialSource), or resolves an ordered chain of
//!   sources (by default: env → in-cluster → proxy, those compiled in), once, at
//!   [`ClientBuilder::build`]; [`ClientBuilder::explain`] reports every source's outcome
//!   without sending a request.
//! - [`Client`] sends requests: [`Client::request`] (any `http::Request`, every status is
//!   `Ok`), [`Client::get`] and [`Client::get_json`] (a non-2xx is an [`Error::Status`] that
//!   names the source and carries the server's `Status` message), and hands frameworks what
//!   they need: [`Client::endpoint`], [`Client::tls_config`], [`Client::authorization_header`].
//!
//! ```no_run
//! use kubecred_client::Client;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), kubecred_client::Error> {
//! // In a pod: the service account; later releases add env variables and kubectl proxy.
//! let client = Client::builder().build().await?;
//! let versions: serde_json::Value = client.get_json("/api").await?;
//! println!("{} in namespace {}", versions["versions"], client.namespace());
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
//! carries its own proxy when it wants one), timeouts default to 10 s (connect) and 30 s
//! (whole request).

mod builder;
mod client;
mod error;
mod explain;
mod transport;

pub use builder::{
    ClientBuilder, SourceName, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, SERVICEACCOUNT_DIR_VAR,
};
pub use client::{Client, USER_AGENT_VALUE};
pub use error::Error;
pub use explain::{CredentialReport, Explanation, Outcome, SourceReport};

/// `error` and its causes, joined by `": "`: the one-line form used in reports and logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}
