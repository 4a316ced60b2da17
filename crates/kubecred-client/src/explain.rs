//! The report of a chain's resolution: what `explain` prints and what a failed build carries.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use kubecred_core::{CredentialKind, SourceError};
use serde::Serialize;

/// What one source's evaluation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// The first source that applies: the client uses it.
    Chosen,
    /// The source does not apply here.
    NotApplicable,
    /// The source applies but is broken: the chain stops here.
    Failed,
    /// Evaluated, but after the chosen or failed source: not used whatever it found.
    Skipped,
}

impl Outcome {
    /// The name used in reports: `chosen`, `not-applicable`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Chosen => "chosen",
            Outcome::NotApplicable => "not-applicable",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One source's line in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SourceReport {
    /// The source's name (`env`, `in-cluster`, `proxy`, ...).
    pub name: String,
    /// What its evaluation came to.
    pub outcome: Outcome,
    /// Why: the source's own finding (for a skipped source too), never a secret.
    pub reason: String,
    /// Names of the environment variables it used or named.
    pub variables: Vec<String>,
    /// Paths of the files it used or named.
    pub files: Vec<PathBuf>,
}

/// The kind and expiry of the chosen credentials: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CredentialReport {
    /// `bearer-token`, `client-certificate` or `none`.
    pub kind: String,
    /// RFC 3339 (UTC, seconds), or `None` when unknown.
    pub expires_at: Option<String>,
}

/// Every source's outcome, in chain order, and what the chosen one resolved to.
///
/// Serialises to the JSON shape of `kubecred explain --output json` (DESIGN.md); the fields of
/// a choice that was not made are `null`. `Display` renders the text report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// Every source, in chain order.
    pub sources: Vec<SourceReport>,
    /// The chosen endpoint's URL (`https://10.96.0.1:443`).
    pub endpoint: Option<String>,
    /// The chosen endpoint's default namespace.
    pub namespace: Option<String>,
    /// How the chosen endpoint's certificate is verified (e.g. "the CA bundle from file …").
    pub trust: Option<String>,
    /// The chosen credentials' kind and expiry.
    pub credential: Option<CredentialReport>,
    /// Things a person should know (e.g. that verification is off).
    pub warnings: Vec<String>,
}

impl Explanation {
    /// The chosen source's report, if any.
    pub fn chosen(&self) -> Option<&SourceReport> {
        self.sources.iter().find(|s| s.outcome == Outcome::Chosen)
    }

    /// One line: every source and why it was not used, for error messages.
    pub fn summary(&self) -> String {
        if self.sources.is_empty() {
            return "the chain is empty".to_owned();
        }
        self.sources
            .iter()
            .map(|s| format!("{}: {}", s.name, s.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The report as pretty JSON (the shape of `kubecred explain --output json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an Explanation always serialises")
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sources (in chain order):")?;
        let decided = self
            .sources
            .iter()
            .find(|s| matches!(s.outcome, Outcome::Chosen | Outcome::Failed))
            .map(|s| s.name.as_str());
        for s in &self.sources {
            let reason = match (s.outcome, decided) {
                (Outcome::Skipped, Some(at)) => {
                    format!(
                        "not used, the chain stopped at {at}; it found: {}",
                        s.reason
                    )
                }
                _ => s.reason.clone(),
            };
            writeln!(f, "  {:<12} {:<15} {reason}", s.name, s.outcome.as_str())?;
            if !s.variables.is_empty() {
                writeln!(f, "  {:<28} variables: {}", "", s.variables.join(", "))?;
            }
            if !s.files.is_empty() {
                let files: Vec<String> = s.files.iter().map(|p| p.display().to_string()).collect();
                writeln!(f, "  {:<28} files: {}", "", files.join(", "))?;
            }
        }
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
        writeln!(f, "endpoint:   {}", or_none(&self.endpoint))?;
        writeln!(f, "namespace:  {}", or_none(&self.namespace))?;
        writeln!(f, "verified by: {}", or_none(&self.trust))?;
        match &self.credential {
            Some(c) if c.kind == CredentialKind::None.as_str() => {
                writeln!(f, "credential: none (nothing secret is sent)")?
            }
            Some(c) => writeln!(
                f,
                "credential: {} (expires: {})",
                c.kind,
                c.expires_at.as_deref().unwrap_or("unknown")
            )?,
            None => writeln!(f, "credential: (none)")?,
        }
        for w in &self.warnings {
            writeln!(f, "warning:    {w}")?;
        }
        Ok(())
    }
}

impl SourceReport {
    pub(crate) fn failed(name: &str, outcome: Outcome, error: &SourceError) -> Self {
        Self {
            name: name.to_owned(),
            outcome,
            reason: kubecred_core::error_chain(error),
            variables: error.variables(),
            files: error.files(),
        }
    }
}

impl CredentialReport {
    pub(crate) fn new(kind: CredentialKind, expires_at: Option<SystemTime>) -> Self {
        Self {
            kind: kind.as_str().to_owned(),
            expires_at: expires_at.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        }
    }
}
