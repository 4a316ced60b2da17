//! Reading and parsing one kubeconfig file, with errors that give the file, line and column
//! and never quote a value.
//!
//! The YAML crate's own messages are never shown: a type error quotes the value it met
//! (`invalid type: string "…"`), and that value may be a token. kubecred says instead whether
//! the file is not YAML at all or holds a value of the wrong type, and where.

use std::path::Path;

use kubecred_core::{read_small_file, SourceError};
use secrecy::zeroize::Zeroize as _;

use crate::model::Kubeconfig;

/// Reads `path` ([`read_small_file`]: a regular file of at most 1 MiB) and parses it; the raw
/// buffer is zeroed afterwards.
///
/// # Errors
///
/// Those of [`read_small_file`] (what: `kubeconfig`); [`SourceError::InvalidFile`] naming the
/// file when it is not UTF-8, not YAML, or not shaped like a kubeconfig (with line and column).
pub(crate) fn read(path: &Path) -> Result<Kubeconfig, SourceError> {
    let raw = read_small_file("kubeconfig", path)?;
    let mut text = match String::from_utf8(raw) {
        Ok(text) => text,
        Err(e) => {
            e.into_bytes().zeroize();
            return Err(invalid(path, "is not UTF-8".to_owned()));
        }
    };
    let parsed = parse(&text).map_err(|problem| invalid(path, problem));
    text.zeroize();
    parsed
}

/// Parses a kubeconfig; the error is the problem as a sentence fragment, never quoting the
/// text.
pub(crate) fn parse(text: &str) -> Result<Kubeconfig, String> {
    if is_blank(text) {
        // An empty file (or only comments): client-go's empty config.
        return Ok(Kubeconfig::default());
    }
    match serde_norway::from_str::<Kubeconfig>(text) {
        Ok(config) => Ok(config),
        Err(shape) => {
            // Tell a syntax error from a value of the wrong type: the former fails even when
            // every value is ignored.
            let (what, error) = match serde_norway::from_str::<serde::de::IgnoredAny>(text) {
                Err(syntax) => ("is not valid YAML", syntax),
                Ok(_) => (
                    "is not a kubeconfig: a field holds a value of the wrong type",
                    shape,
                ),
            };
            Err(match error.location() {
                Some(at) => format!("{what} (line {}, column {})", at.line(), at.column()),
                None => what.to_owned(),
            })
        }
    }
}

/// Only whitespace and `#` comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    })
}

fn invalid(path: &Path, problem: String) -> SourceError {
    SourceError::InvalidFile {
        what: "kubeconfig",
        path: path.to_owned(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    const CANARY: &str = "canary-token-8f3a1c";

    #[test]
    fn malformed_yaml_on_a_token_line_gives_file_line_and_column_not_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let text = format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: \"{CANARY}\n    username: x: y\n"
        );
        std::fs::write(&path, &text).unwrap();
        let err = read(&path).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(
            err.to_string().starts_with(&format!(
                "kubeconfig file {} is not valid YAML (line ",
                path.display()
            )),
            "{err}"
        );
        assert!(err.to_string().contains(", column "), "{err}");
        assert_eq!(err.files(), vec![path]);
    }

    #[test]
    fn a_token_where_a_map_belongs_is_located_not_quoted() {
        // A plain scalar where client-go expects a bool: the YAML crate's own message would
        // quote it.
        let text = format!(
            "clusters:\n- name: c\n  cluster:\n    server: https://x\n    insecure-skip-tls-verify: {CANARY}\n"
        );
        let problem = parse(&text).unwrap_err();
        assert!(!problem.contains(CANARY), "{problem}");
        assert_eq!(
            problem,
            "is not a kubeconfig: a field holds a value of the wrong type (line 5, column 31)"
        );
    }

    #[test]
    fn blank_and_null_lists_are_empty() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# nothing\n\n").unwrap().is_empty());
        let printed = "apiVersion: v1\nclusters: null\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n";
        assert!(parse(printed).unwrap().is_empty());
        assert!(!parse("current-context: x\n").unwrap().is_empty());
    }

    #[test]
    fn secrets_are_parsed_into_secret_strings_and_debug_hides_them() {
        let text = format!(
            "users:\n- name: u\n  user:\n    token: {CANARY}\n    password: {CANARY}-p\n    username: admin\n    client-key-data: {CANARY}-k\n    exec:\n      command: aws\n      apiVersion: client.authentication.k8s.io/v1\n      env:\n      - name: SECRET\n        value: {CANARY}-e\n"
        );
        let config = parse(&text).unwrap();
        let user = &config.users[0].value;
        assert_eq!(user.token.as_ref().unwrap().expose_secret(), CANARY);
        let debug = format!("{config:?}");
        assert!(!debug.contains(CANARY), "{debug}");
        assert!(!debug.contains("admin"), "{debug}");
    }

    #[test]
    fn unknown_fields_preferences_and_extensions_are_accepted() {
        let text = "apiVersion: v1\nkind: Config\npreferences:\n  colors: true\nextensions:\n- name: x\n  extension: {a: 1}\nclusters:\n- name: c\n  cluster:\n    server: https://x\n    disable-compression: true\n    something-new: 1\n    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension: {audience: a}\n";
        let config = parse(text).unwrap();
        let cluster = &config.clusters[0].value;
        assert!(cluster.disable_compression);
        assert_eq!(
            cluster.extensions[0].name,
            "client.authentication.k8s.io/exec"
        );
    }

    #[test]
    fn json_is_yaml() {
        let config = parse(r#"{"contexts":[{"name":"a","context":{"cluster":"c","user":"u"}}],"current-context":"a"}"#).unwrap();
        assert_eq!(config.contexts[0].value.cluster, "c");
        assert_eq!(config.current_context.as_deref(), Some("a"));
    }
}
