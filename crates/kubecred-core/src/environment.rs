//! The environment seam: every source reads variables through [`Environment`].

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Debug;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::SourceError;

/// The longest variable value kubecred reads, in bytes: 1 MiB, the limit of the files it
/// reads ([`crate::MAX_FILE_BYTES`]), so that a CA bundle given as a `_DATA` value and the
/// same bundle in a file are held to one rule. A longer value is *failed*.
pub const MAX_VARIABLE_BYTES: usize = crate::MAX_FILE_BYTES as usize;

/// The longest path kubecred takes from a variable, in bytes: Linux's `PATH_MAX` (4096). A
/// longer path could not be opened anyway; it is *failed* before any message quotes it.
pub const MAX_PATH_BYTES: usize = 4096;

/// Where a source reads environment variables from.
///
/// The production implementation is [`ProcessEnvironment`]; tests use [`MapEnvironment`] so
/// they never read or change the real process environment.
///
/// An implementation provides [`Environment::raw_var_os`]; sources read through the provided
/// methods, which hold every variable to the same rules:
///
/// - a variable that is empty or only whitespace counts as unset, for every variable kubecred
///   reads (a blank `KUBE_HOST` in a pod's spec must not make the env source apply);
/// - surrounding whitespace is removed;
/// - a value that is not valid UTF-8, or longer than [`MAX_VARIABLE_BYTES`], is *failed*
///   ([`SourceError::InvalidVariable`], naming the variable and never echoing its bytes):
///   never silently unset, which would let a chain fall through to another identity;
/// - a path ([`Environment::path_var`]) may hold any bytes but NUL, as Linux paths do.
///
/// Implementations must be cheap: sources read variables only while resolving, never on the
/// request path.
pub trait Environment: Send + Sync + Debug {
    /// The raw value of `name` as the operating system holds it, or `None` when it is unset.
    fn raw_var_os(&self, name: &str) -> Option<OsString>;

    /// Whether `name` is set to something other than blanks (a value that is not UTF-8 is
    /// set).
    fn is_set(&self, name: &str) -> bool {
        self.raw_var_os(name)
            .is_some_and(|value| !trim_bytes(value.as_bytes()).is_empty())
    }

    /// The value of `name` with surrounding whitespace removed, or `None` when it is unset,
    /// empty or only whitespace.
    ///
    /// # Errors
    ///
    /// [`SourceError::InvalidVariable`] naming `name` when the value is not valid UTF-8 or is
    /// longer than [`MAX_VARIABLE_BYTES`].
    fn var(&self, name: &str) -> Result<Option<String>, SourceError> {
        let Some(value) = self.raw_var_os(name) else {
            return Ok(None);
        };
        let trimmed = trim_bytes(value.as_bytes());
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.len() > MAX_VARIABLE_BYTES {
            return Err(invalid(name, "is longer than 1 MiB"));
        }
        match std::str::from_utf8(trimmed) {
            Ok(text) => Ok(Some(text.to_owned())),
            Err(_) => Err(invalid(name, "is not valid UTF-8")),
        }
    }

    /// The path `name` holds (surrounding whitespace removed), or `None` when it is unset or
    /// blank. Any bytes but NUL make a path on Linux, so a value that is not UTF-8 is a path.
    ///
    /// # Errors
    ///
    /// [`SourceError::InvalidVariable`] naming `name` when the path is longer than
    /// [`MAX_PATH_BYTES`].
    fn path_var(&self, name: &str) -> Result<Option<PathBuf>, SourceError> {
        let Some(value) = self.raw_var_os(name) else {
            return Ok(None);
        };
        let trimmed = trim_bytes(value.as_bytes());
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.len() > MAX_PATH_BYTES {
            return Err(invalid(name, "is a path longer than 4096 bytes (PATH_MAX)"));
        }
        Ok(Some(PathBuf::from(OsStr::from_bytes(trimmed))))
    }
}

fn invalid(name: &str, problem: &str) -> SourceError {
    SourceError::InvalidVariable {
        variable: name.to_owned(),
        problem: problem.to_owned(),
    }
}

/// `bytes` without surrounding ASCII whitespace (space, tab, newline, carriage return, form
/// feed), decided on bytes so that a value need not be UTF-8. Unlike `str::trim`, Unicode
/// spaces such as U+00A0 are kept: a value of only those is set.
fn trim_bytes(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// A boolean variable's value read as Go's `strconv.ParseBool` reads it, as kubectl and the
/// Terraform provider do (`KUBE_INSECURE`, `KUBECRED_EXEC_CACHE`): `1`, `t`, `T`, `TRUE`,
/// `true`, `True` are true; `0`, `f`, `F`, `FALSE`, `false`, `False` are false; anything else
/// (`yes`, `on`, `tRuE`) is `None`. [`BOOLEAN_SPELLINGS`] lists them for messages.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The spellings [`parse_bool`] takes, for an error message: `true, false, 1, 0, t, f, TRUE,
/// FALSE, True, False`.
pub const BOOLEAN_SPELLINGS: &str = "true, false, 1, 0, t, f, TRUE, FALSE, True, False";

/// The real process environment (`std::env::var_os`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    // The seam itself: every other read of the process environment goes through here.
    #[allow(clippy::disallowed_methods)]
    fn raw_var_os(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

/// A fixed set of variables, for tests and for programs that configure kubecred from their
/// own settings rather than from the process environment.
///
/// ```
/// use kubecred_core::{Environment, MapEnvironment};
/// let env = MapEnvironment::new([("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("BLANK", "  ")]);
/// assert_eq!(env.var("KUBERNETES_SERVICE_HOST").unwrap().as_deref(), Some("10.96.0.1"));
/// assert_eq!(env.var("BLANK").unwrap(), None);
/// ```
#[derive(Clone, Default)]
pub struct MapEnvironment {
    vars: HashMap<String, OsString>,
}

impl MapEnvironment {
    /// An environment holding exactly `vars` (name, value); a value may be an `OsString`
    /// that is not UTF-8, as a process's can be.
    pub fn new<K: Into<String>, V: Into<OsString>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Sets `name` to `value`, replacing any earlier value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<OsString>) -> &mut Self {
        self.vars.insert(name.into(), value.into());
        self
    }
}

impl Debug for MapEnvironment {
    // Values may be secrets (a token variable): only the names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("MapEnvironment")
            .field("names", &names)
            .finish()
    }
}

impl Environment for MapEnvironment {
    fn raw_var_os(&self, name: &str) -> Option<OsString> {
        self.vars.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(value: &[u8]) -> MapEnvironment {
        MapEnvironment::new([("V", OsStr::from_bytes(value).to_owned())])
    }

    #[test]
    fn parse_bool_takes_go_s_spellings_only() {
        for value in BOOLEAN_SPELLINGS.split(", ") {
            assert!(parse_bool(value).is_some(), "{value}");
        }
        for value in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(value), Some(true), "{value}");
        }
        for value in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(value), Some(false), "{value}");
        }
        for value in ["", "yes", "on", "tRuE", "2", " true"] {
            assert_eq!(parse_bool(value), None, "{value:?}");
        }
    }

    #[test]
    fn blank_is_unset_and_values_are_trimmed() {
        assert_eq!(env(b" \t\n").var("V").unwrap(), None);
        assert!(!env(b" \t\n").is_set("V"));
        assert_eq!(env(b"  a b \n").var("V").unwrap().as_deref(), Some("a b"));
        assert_eq!(env(b"x").var("UNSET").unwrap(), None);
        assert_eq!(env(b" ").path_var("V").unwrap(), None);
    }

    #[test]
    fn a_value_that_is_not_utf8_is_failed_naming_the_variable_and_no_byte_of_it() {
        let e = env(b"https://elsewhere.test/\xff");
        assert!(e.is_set("V"), "a value that is not UTF-8 is set");
        let err = e.var("V").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("V") && text.contains("not valid UTF-8"),
            "{text}"
        );
        assert!(!text.contains("elsewhere"), "{text}");
        assert!(!err.is_not_applicable());
    }

    #[test]
    fn a_path_may_hold_any_bytes() {
        let path = env(b" /tmp/x/\xff ").path_var("V").unwrap().unwrap();
        assert_eq!(path.as_os_str().as_bytes(), b"/tmp/x/\xff");
    }

    #[test]
    fn oversized_values_and_paths_are_failed_with_a_short_message() {
        let big = vec![b'a'; MAX_VARIABLE_BYTES + 1];
        let text = env(&big).var("V").unwrap_err().to_string();
        assert!(text.len() < 200 && text.contains("1 MiB"), "{text}");
        let long_path = vec![b'a'; MAX_PATH_BYTES + 1];
        let text = env(&long_path).path_var("V").unwrap_err().to_string();
        assert!(text.len() < 200 && text.contains("4096"), "{text}");
    }
}
