//! The contracts of kubecred: how a program finds a Kubernetes API server and the credentials
//! to call it with, independent of where it runs.
//!
//! This crate is the API boundary of the workspace. It holds:
//!
//! - the two traits every source implements: [`ApiEndpoint`] (where the API server is and how
//!   to trust it) and [`CredentialSource`] (what to authenticate with), and [`Source`], a
//!   source that is both and can stand in a chain;
//! - the value types they hand out: [`Endpoint`], [`Trust`], [`CaBundle`], [`Credentials`],
//!   [`ClientIdentity`], [`Provenance`];
//! - the error taxonomy, [`SourceError`]: *not applicable* moves a chain on, anything else
//!   stops it;
//! - the environment seam, [`Environment`], through which every source reads variables, so that
//!   tests never touch the real process environment, and [`SourceConfig`], the settings every
//!   source's builder takes in one call (environment, clock, re-read periods);
//! - the refresh machinery, [`Cached`] (a value read lock-free, re-read when due by one
//!   caller) with [`RefreshPolicy`] and the [`Clock`] seam ([`SystemClock`], [`ManualClock`]),
//!   and [`CaFile`], a CA bundle that follows its file's rotation;
//! - [`StaticSource`], a source built from values in code, and with the `mock` feature,
//!   `mockall` mocks of both traits (`MockApiEndpoint`, `MockCredentialSource`).
//!
//! ```
//! use std::sync::Arc;
//! use kubecred_core::{CredentialSource, Credentials, StaticSource, Trust, Endpoint};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = Endpoint::new("https://127.0.0.1:6443".parse()?, Trust::SystemRoots);
//! let source: Arc<dyn CredentialSource> = Arc::new(StaticSource::new(
//!     endpoint,
//!     Credentials::bearer("a-token".to_owned().into()),
//! ));
//! let credentials = source.credentials().await?;
//! assert_eq!(credentials.kind().as_str(), "bearer-token");
//! // The token never shows up in Debug output.
//! assert!(!format!("{credentials:?}").contains("a-token"));
//! # Ok(())
//! # }
//! ```
//!
//! The key design decision: a source answers *where* and *with what* through two separate
//! traits, so any endpoint composes with any credentials, and the value types carry enough
//! (trust, server name, whether credentials may be sent at all) for a client to refuse an
//! unsafe composition before it connects. The cost is that a source that is both (the
//! in-cluster one) implements two traits and keeps its state consistent between them.
//!
//! Core does no network I/O and knows no concrete source; its only file I/O is the small-file
//! readers sources share ([`read_small_file`], [`read_token_file`], [`read_ca_bundle_file`]).

mod config;
mod credentials;
mod encoding;
mod endpoint;
mod environment;
mod error;
mod files;
mod jwt;
mod refresh;
mod shown;
mod source;
mod system_proxy;

pub use config::{SourceBuilder, SourceConfig};
pub use credentials::{BasicAuth, ClientIdentity, CredentialKind, Credentials};
pub use encoding::decode_base64;
pub use endpoint::{
    is_dns_name, is_loopback, CaBundle, CaFile, Endpoint, Provenance, RedactedUrl, Trust,
};
pub use environment::{
    parse_bool, Environment, MapEnvironment, ProcessEnvironment, BOOLEAN_SPELLINGS, MAX_PATH_BYTES,
    MAX_VARIABLE_BYTES,
};
pub use error::{DirectoryError, Origin, SourceError};
pub use files::{
    check_namespace, check_token, read_ca_bundle_file, read_small_file, read_token_file,
    MAX_FILE_BYTES,
};
pub use refresh::{Cached, Clock, Expiring, ManualClock, RefreshPolicy, SystemClock};
pub use shown::{escape_controls, Shown, ShownPath, MAX_SHOWN_CHARS};
pub use source::{ApiEndpoint, CredentialSource, Deferred, Source, StaticSource};
pub use system_proxy::system_proxy;

#[cfg(feature = "mock")]
pub use source::{MockApiEndpoint, MockCredentialSource};

/// `error` and its causes, joined by `": "` (a cause already at the end of the text is not
/// repeated): the one-line form used in reports, logs and the CLI. Control characters but
/// newlines are escaped ([`escape_controls`]): whatever a source or a server put in a message,
/// it reaches a terminal as text.
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
    match escape_controls(&text, &['\n']) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(escaped) => escaped,
    }
}

/// Re-exported so that users build tokens with the same `secrecy` version kubecred uses.
pub use secrecy::{ExposeSecret, SecretString};
