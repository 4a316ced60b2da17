//! The environment seam: every source reads variables through [`Environment`].

use std::collections::HashMap;
use std::fmt::Debug;

/// Where a source reads environment variables from.
///
/// The production implementation is [`ProcessEnvironment`]; tests use [`MapEnvironment`] so
/// they never read or change the real process environment.
///
/// Implementations must be cheap: sources call [`Environment::var`] only while resolving,
/// never on the request path.
pub trait Environment: Send + Sync + Debug {
    /// The raw value of `name`, or `None` when it is unset or not valid Unicode.
    fn raw_var(&self, name: &str) -> Option<String>;

    /// The value of `name` with surrounding whitespace removed, or `None` when it is unset,
    /// empty or only whitespace: for kubecred a blank variable counts as unset (DESIGN.md).
    fn var(&self, name: &str) -> Option<String> {
        let value = self.raw_var(name)?;
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else if trimmed.len() == value.len() {
            Some(value)
        } else {
            Some(trimmed.to_owned())
        }
    }
}

/// The real process environment (`std::env::var`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn raw_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests and for programs that configure kubecred from their
/// own settings rather than from the process environment.
///
/// ```
/// use kubecred_core::{Environment, MapEnvironment};
/// let env = MapEnvironment::new([("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("BLANK", "  ")]);
/// assert_eq!(env.var("KUBERNETES_SERVICE_HOST").as_deref(), Some("10.96.0.1"));
/// assert_eq!(env.var("BLANK"), None);
/// ```
#[derive(Clone, Default)]
pub struct MapEnvironment {
    vars: HashMap<String, String>,
}

impl MapEnvironment {
    /// An environment holding exactly `vars` (name, value).
    pub fn new<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Sets `name` to `value`, replacing any earlier value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
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
    fn raw_var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}
