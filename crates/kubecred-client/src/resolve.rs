//! Resolution: each entry of a chain evaluated in order, the report of every outcome, and the
//! choice a client is built from.
//!
//! A source that does not apply moves the chain on; the first that applies is chosen; one
//! that applies but is broken (or whose composition policy refuses) stops the chain. A
//! successful `build()` evaluates nothing after the chosen source ([`Until::Chosen`]);
//! `explain()` and a failed `build()` evaluate every entry, so that the report is whole.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use kubecred_core::{
    ApiEndpoint, CredentialSource, Credentials, Endpoint, SourceError, StaticSource, Trust,
};

use crate::explain::{CredentialReport, Explanation, Outcome, SourceReport};
use crate::policy::{self, Carries};
use crate::transport::{self, IdentityResolver, SetupError};
use crate::{Client, Error};

/// One entry of a chain: one source in a chain (two, possibly, composed by hand), or a
/// kubecred source whose own configuration is broken.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The entry's name in the report: the source's (for a hand-composed pair, the
    /// endpoint's, unless the credentials are what failed).
    name: String,
    kind: EntryKind,
}

#[derive(Debug)]
enum EntryKind {
    /// Where the endpoint and the credentials come from.
    Sources {
        endpoint: Arc<dyn ApiEndpoint>,
        /// `None`: anonymous (an endpoint composed by hand without credentials).
        credentials: Option<Arc<dyn CredentialSource>>,
    },
    /// A kubecred source that a setting of its own (a `KUBECRED_*` variable) breaks: it is
    /// *failed* with this error, while the rest of the chain is still evaluated.
    Misconfigured(SourceError),
}

impl Entry {
    /// A source that is both the endpoint and the credentials, under its own name.
    pub(crate) fn source(source: Arc<dyn kubecred_core::Source>) -> Self {
        let name = ApiEndpoint::name(&*source).to_owned();
        Self {
            name,
            kind: EntryKind::Sources {
                endpoint: Arc::clone(&source) as Arc<dyn ApiEndpoint>,
                credentials: Some(source as Arc<dyn CredentialSource>),
            },
        }
    }

    /// An endpoint and credentials composed by hand (`None`: anonymous).
    pub(crate) fn composed(
        endpoint: Arc<dyn ApiEndpoint>,
        credentials: Option<Arc<dyn CredentialSource>>,
    ) -> Self {
        Self {
            name: endpoint.name().to_owned(),
            kind: EntryKind::Sources {
                endpoint,
                credentials,
            },
        }
    }

    /// The source `name`, *failed* with `error` by its own configuration.
    pub(crate) fn misconfigured(name: &str, error: SourceError) -> Self {
        Self {
            name: name.to_owned(),
            kind: EntryKind::Misconfigured(error),
        }
    }
}

/// How far a resolution evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Stop at the chosen source (a successful `build()`): nothing after it is read, probed
    /// or connected to. A failure still evaluates the rest, for the report.
    Chosen,
    /// Every entry (`explain()`).
    End,
}

/// What the reqwest client of a chosen endpoint is built with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// The TCP (and TLS) connect limit.
    pub(crate) connect: Duration,
    /// The whole-request limit of a buffered send, from sending to the end of the body; a
    /// streamed send's head limit.
    pub(crate) request: Duration,
    /// The longest silence a streamed body may keep (`None`: no limit); reqwest's client is
    /// not told, the client's [`crate::Body`] times it.
    pub(crate) idle: Option<Duration>,
}

/// The chosen entry, ready to become a [`Client`].
pub(crate) struct Chosen {
    /// The client's name: the source's, or `<endpoint> with <credentials>` when composed.
    pub(crate) name: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) credentials: Arc<dyn CredentialSource>,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) identity: Option<Arc<IdentityResolver>>,
    /// Where the verifier leaves the certificate it last refused, for the error's words.
    pub(crate) rejected: Arc<transport::Rejected>,
    /// How a server-name override is sent as SNI, when it is.
    pub(crate) sni: Option<transport::SniRoute>,
    pub(crate) host: Option<HeaderValue>,
    /// The headers every request carries unless the caller sets its own (a kubeconfig
    /// user's impersonation), checked here.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) http: reqwest::Client,
}

/// How a resolution ended.
pub(crate) enum Decision {
    Chosen(Box<Chosen>),
    /// A source applies but is broken: its name (the one in the report) and why.
    Failed(String, SourceError),
    /// kubecred itself could not set up the transport of the chosen source.
    Internal(String),
    NoSource,
}

/// The report and the decision of one resolution.
pub(crate) struct Resolution {
    pub(crate) report: Explanation,
    pub(crate) decision: Decision,
}

impl Resolution {
    /// The client of the chosen source, or the error `build()` returns.
    pub(crate) fn into_client(
        self,
        clock: Arc<dyn kubecred_core::Clock>,
        timeouts: Timeouts,
    ) -> Result<Client, Error> {
        let report = Box::new(self.report);
        match self.decision {
            Decision::Chosen(chosen) => {
                if matches!(chosen.endpoint.trust(), Trust::InsecureSkipVerify) {
                    tracing::warn!(
                        source = %chosen.name,
                        "insecure: TLS verification of the API server is off; anyone on the path can impersonate it"
                    );
                }
                Ok(Client::new(*chosen, clock, timeouts))
            }
            Decision::Failed(name, error) => Err(Error::SourceFailed {
                name,
                error,
                report,
            }),
            Decision::Internal(reason) => Err(Error::Internal { reason }),
            Decision::NoSource => Err(Error::NoSource { report }),
        }
    }
}

/// Evaluates `entries` in order, as far as `until` says.
///
/// `clock` tells whether the chosen credentials have already expired (a warning of the
/// report).
pub(crate) async fn resolve(
    entries: Vec<Entry>,
    until: Until,
    timeouts: Timeouts,
    clock: &dyn kubecred_core::Clock,
) -> Resolution {
    let mut report = Explanation::empty();
    let mut decision = None;
    for entry in entries {
        if until == Until::Chosen && matches!(decision, Some(Decision::Chosen(_))) {
            break;
        }
        let decided = decision.is_some();
        let name = entry.name.clone();
        match evaluate(entry, until, timeouts).await {
            Ok(evaluated) => {
                let p = evaluated.chosen.endpoint.provenance();
                report.sources.push(SourceReport {
                    name,
                    outcome: if decided {
                        Outcome::Skipped
                    } else {
                        Outcome::Chosen
                    },
                    reason: p.reason.clone(),
                    variables: p.variables.clone(),
                    files: p.files.clone(),
                });
                if !decided {
                    let endpoint = &evaluated.chosen.endpoint;
                    report.endpoint = Some(endpoint.display_url());
                    report.namespace = Some(endpoint.namespace().to_owned());
                    report.trust = Some(endpoint.trust().to_string());
                    let expires_at = evaluated.first.as_ref().and_then(|c| c.expires_at());
                    // Credentials not read (a deferred source under explain) stay `null`.
                    report.credential = evaluated
                        .first
                        .as_ref()
                        .map(|c| CredentialReport::new(c.kind(), expires_at));
                    report.deferred_credential = evaluated.deferred.clone();
                    if let Some(at) = expires_at.filter(|at| *at <= clock.now()) {
                        report.warnings.push(format!(
                            "the credential expired at {}: the API server will refuse it",
                            crate::explain::rfc3339(at)
                                .unwrap_or_else(|| "a time before 1970".to_owned())
                        ));
                    }
                    if expires_at.is_some_and(|t| crate::explain::rfc3339(t).is_none()) {
                        report.warnings.push(
                            "the credential's expiry is outside the years 1970 to 9999 and cannot be shown"
                                .to_owned(),
                        );
                    }
                    if matches!(endpoint.trust(), Trust::InsecureSkipVerify) {
                        report
                            .warnings
                            .push("insecure: TLS verification of the API server is off".to_owned());
                    }
                    decision = Some(Decision::Chosen(Box::new(evaluated.chosen)));
                }
            }
            Err(Failure::Source(failed_name, error)) => {
                let outcome = match (decided, error.is_not_applicable()) {
                    (true, _) => Outcome::Skipped,
                    (false, true) => Outcome::NotApplicable,
                    (false, false) => Outcome::Failed,
                };
                report
                    .sources
                    .push(SourceReport::failed(&failed_name, outcome, &error));
                if outcome == Outcome::Failed {
                    decision = Some(Decision::Failed(failed_name, error));
                }
            }
            Err(Failure::Internal(reason)) => {
                report.warnings.push(format!("internal: {reason}"));
                if !decided {
                    decision = Some(Decision::Internal(reason));
                }
            }
        }
    }
    for source in &report.sources {
        tracing::debug!(
            source = %source.name,
            outcome = source.outcome.as_str(),
            reason = %source.reason,
            "evaluated credential source"
        );
    }
    Resolution {
        report,
        decision: decision.unwrap_or(Decision::NoSource),
    }
}

/// What an entry that applies resolves to.
struct Evaluated {
    chosen: Chosen,
    /// The credentials read while resolving (`None`: deferred, not read by `explain`).
    first: Option<Arc<Credentials>>,
    /// What would obtain them, when deferred.
    deferred: Option<String>,
}

/// Why an entry did not resolve.
enum Failure {
    /// The source at fault (by the name the report and the error give it) and why.
    Source(String, SourceError),
    Internal(String),
}

/// Resolves one entry: its endpoint, its credentials, the policy's verdict on the pair, and
/// the TLS configuration and HTTP client they make. A failure comes with the name of the
/// source at fault: the credentials' source when they failed, else the endpoint's.
async fn evaluate(entry: Entry, until: Until, timeouts: Timeouts) -> Result<Evaluated, Failure> {
    let (endpoint_source, credentials_source) = match entry.kind {
        EntryKind::Misconfigured(error) => return Err(Failure::Source(entry.name, error)),
        EntryKind::Sources {
            endpoint,
            credentials,
        } => (endpoint, credentials),
    };
    let at_endpoint = |e| Failure::Source(entry.name.clone(), e);
    let endpoint = endpoint_source.endpoint().await.map_err(at_endpoint)?;
    // One source for both (a chain entry, or the same object given twice) keeps its name; two
    // are named together. Decided by identity, never by comparing names.
    let one_source = credentials_source.as_ref().is_some_and(|credentials| {
        std::ptr::addr_eq(Arc::as_ptr(&endpoint_source), Arc::as_ptr(credentials))
    });
    let (credentials_source, name) = match credentials_source {
        Some(source) if one_source => (source, entry.name.clone()),
        Some(source) => {
            let name = format!("{} with {}", entry.name, source.name());
            (source, name)
        }
        // Anonymous, named after the endpoint; one `Arc` for every request, so that the
        // client keeps what it built from it.
        None => (
            Arc::new(
                StaticSource::new(endpoint.clone(), Credentials::anonymous())
                    .named(endpoint_source.name()),
            ) as Arc<dyn CredentialSource>,
            entry.name.clone(),
        ),
    };
    // `explain` never runs what a deferred source would run (an exec plugin).
    let deferred = match until {
        Until::End => credentials_source.deferred().map(|d| d.how),
        Until::Chosen => None,
    };
    let first = if deferred.is_some() {
        None
    } else {
        Some(
            credentials_source
                .credentials()
                .await
                .map_err(|e| Failure::Source(credentials_source.name().to_owned(), e))?,
        )
    };
    let carries = first.as_deref().map_or(Carries::DEFERRED, Carries::of);
    policy::refuse_unsafe_composition(&endpoint, carries).map_err(at_endpoint)?;
    let credentials = first
        .clone()
        .unwrap_or_else(|| Arc::new(Credentials::anonymous()));
    let host = endpoint
        .host_header()
        .map(|host| {
            HeaderValue::from_str(host).map_err(|_| SourceError::Refused {
                reason: format!("the endpoint's Host header {host:?} is not a valid header value"),
            })
        })
        .transpose()
        .map_err(at_endpoint)?;
    let headers = endpoint
        .headers()
        .iter()
        .map(|(name, value)| {
            let refused = || SourceError::Refused {
                reason: format!("the endpoint's {name:?} header cannot be sent over HTTP"),
            };
            Ok((
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| refused())?,
                HeaderValue::from_str(value).map_err(|_| refused())?,
            ))
        })
        .collect::<Result<Vec<_>, SourceError>>()
        .map_err(at_endpoint)?;
    let setup = |e: SetupError| match e {
        SetupError::Source(e) => Failure::Source(entry.name.clone(), e),
        SetupError::Internal(reason) => Failure::Internal(reason),
    };
    let transport::Tls {
        config: tls,
        identity,
        rejected,
    } = transport::tls_config(&endpoint, &credentials).map_err(setup)?;
    // A server-name override is sent as SNI too, with the URL's own authority as `Host`.
    let sni = transport::SniRoute::of(&endpoint);
    let host = match (&sni, host) {
        (Some(route), None) => Some(HeaderValue::from_str(&route.authority).map_err(|_| {
            at_endpoint(SourceError::Refused {
                reason: "the endpoint URL's authority is not a valid Host header".to_owned(),
            })
        })?),
        (_, host) => host,
    };
    let http = transport::http_client(
        &endpoint,
        tls.clone(),
        sni.as_ref(),
        timeouts.connect,
        timeouts.request,
    )
    .map_err(setup)?;
    Ok(Evaluated {
        chosen: Chosen {
            name,
            endpoint,
            credentials: credentials_source,
            tls: Arc::new(tls),
            identity,
            rejected,
            sni,
            host,
            headers,
            http,
        },
        first,
        deferred,
    })
}
