//! The report of a chain's resolution: what `explain` prints and what a failed build carries.

use std::borrow::Cow;
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
    /// Paths of the files it used or named (in JSON, a path that is not UTF-8 is written
    /// with U+FFFD in place of the bytes that are not).
    #[serde(serialize_with = "lossy_paths")]
    pub files: Vec<PathBuf>,
}

fn lossy_paths<S: serde::Serializer>(paths: &[PathBuf], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
}

/// The kind and expiry of the chosen credentials: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CredentialReport {
    /// `bearer-token`, `client-certificate` or `none` in JSON and text.
    #[serde(serialize_with = "kind_name")]
    pub kind: CredentialKind,
    /// RFC 3339 (UTC, seconds), or `None` when unknown or outside the years 1970 to 9999
    /// (the report's warnings then say so).
    pub expires_at: Option<String>,
}

fn kind_name<S: serde::Serializer>(
    kind: &CredentialKind,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(kind.as_str())
}

/// Every source's outcome, in chain order, and what the chosen one resolved to.
///
/// Serialises to the JSON shape of `kubecred explain --output json` (`sources` with `name`,
/// `outcome`, `reason`, `variables` and `files`; `endpoint`, `namespace`, `trust`,
/// `credential` with `kind` and `expires_at`, `warnings`); the fields of a choice that was not
/// made are `null`. `Display` renders the text report, with control characters escaped as
/// `\u{..}` so that no variable or path can send escape sequences to a terminal.
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
    /// The chosen credentials' kind and expiry (`None` when none was chosen, or when they
    /// were not read: see [`Explanation::deferred_credential`]).
    pub credential: Option<CredentialReport>,
    /// What would obtain the chosen credentials when `explain` does not read them (an exec
    /// credential plugin, which `explain` never runs): e.g. `exec plugin aws (run when a
    /// client is built; explain does not run it)`. Absent from the JSON when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred_credential: Option<String>,
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

    /// The report as pretty JSON (the shape of `kubecred explain --output json`). Never
    /// fails: every field serialises (paths that are not UTF-8 lossily).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            // Unreachable with the types above; still no panic on a report.
            serde_json::json!({ "error": format!("the report does not serialise: {e}") })
                .to_string()
        })
    }

    /// A report of nothing yet: no source, no choice, no warning.
    pub(crate) fn empty() -> Self {
        Self {
            sources: Vec::new(),
            endpoint: None,
            namespace: None,
            trust: None,
            credential: None,
            deferred_credential: None,
            warnings: Vec::new(),
        }
    }

    /// The report of a builder whose inputs are contradictory (no source evaluated): the
    /// problem as its one warning.
    pub(crate) fn invalid(error: &crate::Error) -> Self {
        Self {
            warnings: vec![error.to_string()],
            ..Self::empty()
        }
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
            writeln!(
                f,
                "  {:<12} {:<15} {}",
                escaped(&s.name),
                s.outcome.as_str(),
                escaped(&reason)
            )?;
            if !s.variables.is_empty() {
                writeln!(
                    f,
                    "  {:<28} variables: {}",
                    "",
                    escaped(&s.variables.join(", "))
                )?;
            }
            if !s.files.is_empty() {
                let files: Vec<String> = s.files.iter().map(|p| p.display().to_string()).collect();
                writeln!(f, "  {:<28} files: {}", "", escaped(&files.join(", ")))?;
            }
        }
        let or_none = |v: &Option<String>| {
            v.as_deref()
                .map_or_else(|| "(none)".to_owned(), |v| escaped(v).into_owned())
        };
        writeln!(f, "endpoint:   {}", or_none(&self.endpoint))?;
        writeln!(f, "namespace:  {}", or_none(&self.namespace))?;
        writeln!(f, "verified by: {}", or_none(&self.trust))?;
        match &self.credential {
            Some(c) if c.kind == CredentialKind::None => {
                writeln!(f, "credential: none (nothing secret is sent)")?
            }
            Some(c) => writeln!(
                f,
                "credential: {} (expires: {})",
                c.kind.as_str(),
                c.expires_at.as_deref().unwrap_or("unknown")
            )?,
            None => match &self.deferred_credential {
                Some(how) => writeln!(f, "credential: not read: {}", escaped(how))?,
                None => writeln!(f, "credential: (none)")?,
            },
        }
        for w in &self.warnings {
            writeln!(f, "warning:    {}", escaped(w))?;
        }
        Ok(())
    }
}

/// `text` with every control character escaped, newlines too: one line of the report.
fn escaped(text: &str) -> Cow<'_, str> {
    kubecred_core::escape_controls(text, &[])
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
            kind,
            expires_at: expires_at.and_then(rfc3339),
        }
    }
}

/// The last second RFC 3339 can write with a four-digit year: 9999-12-31T23:59:59Z, in
/// seconds since the Unix epoch.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// `t` in RFC 3339 (UTC, seconds), or `None` outside the years 1970 to 9999, which
/// `humantime` (and RFC 3339's four-digit year) cannot write: a JWT may say any `exp`.
pub(crate) fn rfc3339(t: SystemTime) -> Option<String> {
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    (secs <= LAST_RFC3339_SECOND).then(|| humantime::format_rfc3339_seconds(t).to_string())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn an_expiry_rfc3339_cannot_write_is_none_not_a_panic() {
        let last = UNIX_EPOCH + Duration::from_secs(LAST_RFC3339_SECOND);
        assert_eq!(rfc3339(last).as_deref(), Some("9999-12-31T23:59:59Z"));
        assert_eq!(rfc3339(last + Duration::from_secs(1)), None);
        assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_secs(1)), None);
        let report = CredentialReport::new(
            CredentialKind::BearerToken,
            Some(last + Duration::from_secs(1)),
        );
        assert_eq!(report.expires_at, None);
    }

    #[test]
    fn the_text_escapes_control_characters_and_json_takes_any_path() {
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/x/\xff\x1b[31mred"));
        let report = Explanation {
            sources: vec![SourceReport {
                name: "in-cluster".to_owned(),
                outcome: Outcome::Failed,
                reason: "token file /tmp/\x1b]0;title\x07 is empty".to_owned(),
                variables: vec![],
                files: vec![path],
            }],
            endpoint: Some("https://a.test/\u{9b}2J".to_owned()),
            namespace: None,
            trust: None,
            credential: None,
            deferred_credential: None,
            warnings: vec![],
        };
        let text = report.to_string();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}[31mred"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(
            json["sources"][0]["files"][0],
            "/tmp/x/\u{fffd}\u{1b}[31mred"
        );
    }
}
