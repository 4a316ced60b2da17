//! Merging kubeconfig files by client-go's rules (`clientcmd.ClientConfigLoadingRules.Load`).
//!
//! - Files are taken in list order; for each named cluster, user and context the first file
//!   that defines it wins; `current-context` comes from the first file that sets it
//!   (`current-context: ""` is unset).
//! - Paths in a file (`certificate-authority`, `client-certificate`, `client-key`,
//!   `tokenFile`) are relative to that file's directory (client-go's `ResolvePaths`), and
//!   rewritten here. An exec `command` containing a `/` is relative to it too, but kept as
//!   the kubeconfig names it (for `explain` and messages): the exec module joins it to
//!   [`Defined::dir`], once, when it looks the program up.
//! - A name defined twice in one file is *failed*, naming the file, the kind and the name
//!   (client-go refuses it too, quoting the whole list, secrets included: kubecred quotes
//!   nothing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kubecred_core::SourceError;

use crate::model::{Cluster, Context, Kubeconfig, Named, User};

/// An entry and the file that defined it (its relative paths already resolved against the
/// file's directory).
#[derive(Debug, Clone)]
pub(crate) struct Defined<T> {
    pub(crate) value: T,
    pub(crate) file: PathBuf,
}

impl<T> Defined<T> {
    /// The directory of the file that defined the entry.
    pub(crate) fn dir(&self) -> PathBuf {
        base_dir(&self.file).to_owned()
    }
}

/// The merged kubeconfig.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    /// The files read, in order.
    pub(crate) files: Vec<PathBuf>,
    pub(crate) clusters: BTreeMap<String, Defined<Cluster>>,
    pub(crate) users: BTreeMap<String, Defined<User>>,
    pub(crate) contexts: BTreeMap<String, Defined<Context>>,
    /// The first `current-context` set, and its file.
    pub(crate) current_context: Option<(String, PathBuf)>,
}

impl Merged {
    /// client-go's "empty config": nothing in any file.
    pub(crate) fn is_empty(&self) -> bool {
        self.clusters.is_empty()
            && self.users.is_empty()
            && self.contexts.is_empty()
            && self.current_context.is_none()
    }

    /// The context names, sorted, for messages ("contexts defined: a, b").
    pub(crate) fn context_names(&self) -> String {
        if self.contexts.is_empty() {
            return "none is defined".to_owned();
        }
        // Bounded and escaped: a kubeconfig may hold thousands of contexts, or names made to
        // look like another line of output.
        const LISTED: usize = 20;
        let names: Vec<String> = self
            .contexts
            .keys()
            .take(LISTED)
            .map(|name| kubecred_core::Shown::text(name).to_string())
            .collect();
        let more = self.contexts.len().saturating_sub(LISTED);
        if more == 0 {
            format!("contexts defined: {}", names.join(", "))
        } else {
            format!("contexts defined: {}, and {more} more", names.join(", "))
        }
    }
}

/// Merges parsed files, in order.
///
/// # Errors
///
/// [`SourceError::InvalidFile`] for a name defined twice in one file, or an entry without a
/// name.
pub(crate) fn merge(parsed: Vec<(PathBuf, Kubeconfig)>) -> Result<Merged, SourceError> {
    let mut merged = Merged::default();
    for (file, config) in parsed {
        let dir = base_dir(&file).to_owned();
        add(&mut merged.clusters, &file, config.clusters, |mut c| {
            resolve(&dir, &mut c.certificate_authority);
            c
        })?;
        add(&mut merged.users, &file, config.users, |mut u| {
            resolve(&dir, &mut u.client_certificate);
            resolve(&dir, &mut u.client_key);
            resolve(&dir, &mut u.token_file);
            u
        })?;
        add(&mut merged.contexts, &file, config.contexts, |c| c)?;
        if merged.current_context.is_none() {
            if let Some(name) = config.current_context.filter(|n| !n.is_empty()) {
                merged.current_context = Some((name, file.clone()));
            }
        }
        merged.files.push(file);
    }
    Ok(merged)
}

/// Adds a file's entries of one kind: the first file to define a name wins.
fn add<T: crate::model::Entry>(
    into: &mut BTreeMap<String, Defined<T>>,
    file: &Path,
    entries: Vec<Named<T>>,
    resolve_paths: impl Fn(T) -> T,
) -> Result<(), SourceError> {
    let invalid = |problem: String| SourceError::InvalidFile {
        what: "kubeconfig",
        path: file.to_owned(),
        problem,
    };
    let mut seen = std::collections::BTreeSet::new();
    for entry in entries {
        if entry.name.is_empty() {
            return Err(invalid(format!("holds a {} without a name", T::KIND)));
        }
        if !seen.insert(entry.name.clone()) {
            return Err(invalid(format!(
                "defines {} \"{}\" twice",
                T::KIND,
                entry.name
            )));
        }
        into.entry(entry.name).or_insert_with(|| Defined {
            value: resolve_paths(entry.value),
            file: file.to_owned(),
        });
    }
    Ok(())
}

/// The directory relative paths of `file` are taken against.
fn base_dir(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new(""))
}

/// A relative, non-empty path becomes `dir/path`; an empty one is unset.
fn resolve(dir: &Path, path: &mut Option<String>) {
    match path.as_deref() {
        Some("") => *path = None,
        Some(p) if Path::new(p).is_relative() => {
            *path = Some(dir.join(p).to_string_lossy().into_owned());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn merged(files: &[(&str, &str)]) -> Result<Merged, SourceError> {
        merge(
            files
                .iter()
                .map(|(path, text)| (PathBuf::from(path), parse(text).unwrap()))
                .collect(),
        )
    }

    const FIRST: &str = "clusters:\n- name: shared\n  cluster:\n    server: https://first\n    certificate-authority: ca.crt\ncontexts:\n- name: a\n  context: {cluster: shared, user: u}\ncurrent-context: \"\"\nusers:\n- name: u\n  user:\n    tokenFile: tokens/t\n    client-certificate: /abs/c.crt\n    client-key: k.key\n    exec: {command: ./bin/plugin, apiVersion: v1}\n";
    const SECOND: &str = "clusters:\n- name: shared\n  cluster:\n    server: https://second\n- name: only-second\n  cluster:\n    server: https://2\ncontexts:\n- name: b\n  context: {cluster: only-second}\ncurrent-context: b\n";
    const THIRD: &str = "current-context: a\n";

    #[test]
    fn first_definition_wins_and_current_context_comes_from_the_first_file_that_sets_it() {
        let m = merged(&[
            ("/one/config", FIRST),
            ("/two/config", SECOND),
            ("/three/config", THIRD),
        ])
        .unwrap();
        assert_eq!(
            m.clusters["shared"].value.server.as_deref(),
            Some("https://first")
        );
        assert_eq!(m.clusters["shared"].file, PathBuf::from("/one/config"));
        assert_eq!(m.clusters["only-second"].file, PathBuf::from("/two/config"));
        // FIRST's `current-context: ""` is unset: SECOND's counts, not THIRD's.
        assert_eq!(
            m.current_context,
            Some(("b".to_owned(), PathBuf::from("/two/config")))
        );
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.context_names(), "contexts defined: a, b");
    }

    #[test]
    fn relative_paths_are_against_the_defining_files_directory() {
        let m = merged(&[("/one/config", FIRST), ("rel/config", SECOND)]).unwrap();
        let cluster = &m.clusters["shared"].value;
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/one/ca.crt")
        );
        let user = &m.users["u"].value;
        assert_eq!(user.token_file.as_deref(), Some("/one/tokens/t"));
        assert_eq!(user.client_certificate.as_deref(), Some("/abs/c.crt"));
        assert_eq!(user.client_key.as_deref(), Some("/one/k.key"));
        // The exec command stays as the file names it: exec joins it to `dir()`, once.
        assert_eq!(user.exec.as_ref().unwrap().command, "./bin/plugin");
        assert_eq!(m.users["u"].dir(), PathBuf::from("/one"));
    }

    #[test]
    fn a_command_without_a_slash_is_left_for_path_lookup() {
        let m = merged(&[(
            "/one/config",
            "users:\n- name: u\n  user:\n    exec: {command: aws, apiVersion: v1}\n",
        )])
        .unwrap();
        assert_eq!(m.users["u"].value.exec.as_ref().unwrap().command, "aws");
    }

    #[test]
    fn a_name_twice_in_one_file_is_failed() {
        let text = "users:\n- name: u\n  user: {token: a}\n- name: u\n  user: {token: b}\n";
        let err = merged(&[("/one/config", text)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kubeconfig file /one/config defines user \"u\" twice"
        );
    }

    #[test]
    fn empty_files_merge_to_an_empty_config() {
        assert!(merged(&[("/a", ""), ("/b", "users: null\n")])
            .unwrap()
            .is_empty());
        assert!(!merged(&[("/a", ""), ("/b", THIRD)]).unwrap().is_empty());
    }
}
