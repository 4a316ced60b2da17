//! Which kubeconfig files to read, in order (client-go's loading rules, with kubecred's
//! departures: nothing that is missing falls through silently).
//!
//! 1. An explicit path (`--kubeconfig`, `ClientBuilder::kubeconfig`): exactly that file; missing
//!    or unreadable is *failed*, naming the file and where its path came from.
//! 2. Else `KUBECONFIG` (through the [`Environment`] seam): split on `:`, blank entries and
//!    duplicates dropped; entries that do not exist are skipped, but if none exists the source
//!    is *failed*, naming `KUBECONFIG`; an entry that is a directory is *failed*, naming it. A
//!    blank `KUBECONFIG` is unset (kubectl reads it as an empty list). At most
//!    [`MAX_LISTED_FILES`] files that exist are read: a longer list is *failed*, naming
//!    `KUBECONFIG` and the limit (each file holds at most 1 MiB, so this bounds the YAML read).
//! 3. Else `$HOME/.kube/config` if it exists; if not, *not applicable*.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use kubecred_core::{Environment, SourceError};

use crate::{HOME_VAR, KUBECONFIG_VAR};

/// The most files of a `KUBECONFIG` list that are read (client-go sets none): 64 files of at
/// most 1 MiB each keep a list's YAML to 64 MiB, read in seconds, where a 1 MiB list naming
/// one 1 MiB file under tens of thousands of spellings (`/a/c`, `/a//c`, `/a/./c`, …) would
/// have each read and parsed.
pub(crate) const MAX_LISTED_FILES: usize = 64;

/// What the files were chosen by, for messages and `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChosenBy {
    /// An explicit path, with where it came from (`--kubeconfig`).
    Explicit(String),
    /// The `KUBECONFIG` variable.
    Variable,
    /// `$HOME/.kube/config`.
    Home,
}

impl ChosenBy {
    /// The variables that decided (for `explain`'s `variables`).
    pub(crate) fn variables(&self) -> Vec<String> {
        match self {
            ChosenBy::Explicit(_) => Vec::new(),
            ChosenBy::Variable => vec![KUBECONFIG_VAR.to_owned()],
            ChosenBy::Home => vec![HOME_VAR.to_owned()],
        }
    }

    /// "KUBECONFIG", "--kubeconfig", "$HOME/.kube/config": how a person names the choice.
    pub(crate) fn describe(&self) -> String {
        match self {
            ChosenBy::Explicit(origin) => origin.clone(),
            ChosenBy::Variable => KUBECONFIG_VAR.to_owned(),
            ChosenBy::Home => format!("${HOME_VAR}/.kube/config"),
        }
    }
}

/// The files to read, in order (each exists when chosen), and what chose them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) chosen_by: ChosenBy,
}

/// Chooses the files by the rules of the module's documentation.
///
/// # Errors
///
/// *Not applicable* when there is no explicit path, `KUBECONFIG` is unset and
/// `$HOME/.kube/config` does not exist (or `HOME` is unset); *failed* as the rules say.
pub(crate) fn select(
    explicit: Option<&(PathBuf, String)>,
    env: &dyn Environment,
) -> Result<Selection, SourceError> {
    if let Some((path, origin)) = explicit {
        return match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => Err(from_setting(path, origin, "is a directory")),
            Ok(_) => Ok(Selection {
                files: vec![path.clone()],
                chosen_by: ChosenBy::Explicit(origin.clone()),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(from_setting(path, origin, "does not exist"))
            }
            Err(e) => Err(from_setting(path, origin, &format!("cannot be read ({e})"))),
        };
    }
    // A list, so not held to one path's PATH_MAX: to the variables' 1 MiB. Blank is unset.
    if let Some(list) = env
        .raw_var_os(KUBECONFIG_VAR)
        .filter(|list| !list.as_bytes().iter().all(u8::is_ascii_whitespace))
    {
        if list.len() > kubecred_core::MAX_VARIABLE_BYTES {
            return Err(SourceError::InvalidVariable {
                variable: KUBECONFIG_VAR.to_owned(),
                problem: "is longer than 1 MiB".to_owned(),
            });
        }
        return from_variable(&list);
    }
    let Some(home) = env.path_var(HOME_VAR)? else {
        return Err(SourceError::not_applicable(format!(
            "{KUBECONFIG_VAR} and {HOME_VAR} are not set"
        )));
    };
    let path = home.join(".kube").join("config");
    match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_dir() => Err(SourceError::InvalidFile {
            what: "kubeconfig",
            path,
            problem: format!("(${HOME_VAR}/.kube/config) is a directory"),
        }),
        Ok(_) => Ok(Selection {
            files: vec![path],
            chosen_by: ChosenBy::Home,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(SourceError::not_applicable(format!(
            "{KUBECONFIG_VAR} is not set and {} does not exist",
            path.display()
        ))),
        Err(e) => Err(SourceError::from_io("kubeconfig", path, e)),
    }
}

/// The files of a `KUBECONFIG` list.
fn from_variable(list: &OsStr) -> Result<Selection, SourceError> {
    let mut named: Vec<PathBuf> = Vec::new();
    // A set beside the list: a 1 MiB list has hundreds of thousands of entries.
    let mut seen = std::collections::HashSet::new();
    for entry in list.as_bytes().split(|&b| b == b':') {
        if entry.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if seen.insert(entry) {
            named.push(PathBuf::from(OsStr::from_bytes(entry)));
        }
    }
    let mut files = Vec::new();
    for path in &named {
        if files.len() == MAX_LISTED_FILES {
            return Err(SourceError::InvalidVariable {
                variable: KUBECONFIG_VAR.to_owned(),
                problem: format!(
                    "names more than {MAX_LISTED_FILES} kubeconfig files that exist (the most kubecred reads)"
                ),
            });
        }
        match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => {
                return Err(SourceError::InvalidFile {
                    what: "kubeconfig",
                    path: path.clone(),
                    problem: format!("(from {KUBECONFIG_VAR}) is a directory"),
                })
            }
            Ok(_) => files.push(path.clone()),
            // Skipped, as client-go does; the list as a whole must name one file that exists.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SourceError::from_io("kubeconfig", path, e)),
        }
    }
    if named.is_empty() {
        return Err(SourceError::InvalidVariable {
            variable: KUBECONFIG_VAR.to_owned(),
            problem: "holds only separators and blanks, no file".to_owned(),
        });
    }
    if files.is_empty() {
        // Bounded: a list may be long, and its entries are shown escaped.
        const LISTED: usize = 10;
        let mut shown: Vec<String> = named
            .iter()
            .take(LISTED)
            .map(|p| kubecred_core::Shown::path(p).to_string())
            .collect();
        if named.len() > LISTED {
            shown.push(format!("and {} more", named.len() - LISTED));
        }
        return Err(SourceError::InvalidVariable {
            variable: KUBECONFIG_VAR.to_owned(),
            problem: format!(
                "names no kubeconfig file that exists (tried: {})",
                shown.join(", ")
            ),
        });
    }
    Ok(Selection {
        files,
        chosen_by: ChosenBy::Variable,
    })
}

/// An explicit path that cannot be used: names the file and where its path came from.
fn from_setting(path: &Path, origin: &str, problem: &str) -> SourceError {
    SourceError::InvalidSetting {
        setting: format!("kubeconfig file {} (from {origin})", path.display()),
        problem: problem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubecred_core::MapEnvironment;

    fn env(vars: &[(&str, &str)]) -> MapEnvironment {
        MapEnvironment::new(vars.iter().copied())
    }

    #[test]
    fn a_list_of_separators_or_of_many_missing_files_is_failed_with_a_short_message() {
        let err = select(None, &env(&[(KUBECONFIG_VAR, ": :")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable KUBECONFIG holds only separators and blanks, no file"
        );
        let many: Vec<String> = (0..500).map(|i| format!("/nonexistent/k{i}")).collect();
        let err = select(None, &env(&[(KUBECONFIG_VAR, &many.join(":"))])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.len() < 400 && text.ends_with("and 490 more)"),
            "{text}"
        );
    }

    #[test]
    fn a_1_mib_list_spelling_one_file_thousands_of_ways_is_failed_at_the_limit() {
        // Found while bounding the fuzz targets' inputs: every spelling is a distinct entry,
        // each file would be read and parsed, and the duplicate check was quadratic.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, "").unwrap();
        let base = dir.path().display().to_string();
        let mut list = String::new();
        let mut count = 0;
        while list.len() < kubecred_core::MAX_VARIABLE_BYTES - 4096 {
            // `/dir` + n slashes + `config`: the same file each time.
            list.push_str(&base);
            list.push_str(&"/".repeat(count % 50 + 1));
            list.push_str(&"./".repeat(count / 50));
            list.push_str("config:");
            count += 1;
        }
        assert!(count > 1000, "{count} entries");
        let err = select(None, &env(&[(KUBECONFIG_VAR, &list)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "environment variable KUBECONFIG names more than {MAX_LISTED_FILES} kubeconfig files that exist (the most kubecred reads)"
            )
        );
        // At the limit, every file is read.
        let at_limit: Vec<String> = (0..MAX_LISTED_FILES)
            .map(|i| format!("{base}{}config", "/".repeat(i + 1)))
            .collect();
        let chosen = select(None, &env(&[(KUBECONFIG_VAR, &at_limit.join(":"))])).unwrap();
        assert_eq!(chosen.files.len(), MAX_LISTED_FILES);
    }

    #[test]
    fn explicit_path_missing_is_failed_naming_it_and_its_origin() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let explicit = (missing.clone(), "--kubeconfig".to_owned());
        // KUBECONFIG would name a file that exists: the explicit path still wins.
        let other = dir.path().join("other");
        std::fs::write(&other, "").unwrap();
        let vars = env(&[(KUBECONFIG_VAR, other.to_str().unwrap())]);
        let err = select(Some(&explicit), &vars).unwrap_err();
        assert!(!err.is_not_applicable());
        assert_eq!(
            err.to_string(),
            format!(
                "kubeconfig file {} (from --kubeconfig) does not exist",
                missing.display()
            )
        );
        let err = select(Some(&(dir.path().to_owned(), "x".to_owned())), &vars).unwrap_err();
        assert!(
            err.to_string().ends_with("(from x) is a directory"),
            "{err}"
        );
    }

    #[test]
    fn explicit_path_beats_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "").unwrap();
        std::fs::write(&b, "").unwrap();
        let vars = env(&[(KUBECONFIG_VAR, b.to_str().unwrap())]);
        let chosen = select(Some(&(a.clone(), "--kubeconfig".to_owned())), &vars).unwrap();
        assert_eq!(chosen.files, vec![a]);
        assert_eq!(
            chosen.chosen_by,
            ChosenBy::Explicit("--kubeconfig".to_owned())
        );
    }

    #[test]
    fn kubeconfig_list_skips_missing_drops_blanks_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "").unwrap();
        std::fs::write(&b, "").unwrap();
        let missing = dir.path().join("missing");
        let list = format!(
            "{}::{}: :{}:{}",
            a.display(),
            missing.display(),
            b.display(),
            a.display()
        );
        let chosen = select(None, &env(&[(KUBECONFIG_VAR, &list), (HOME_VAR, "/x")])).unwrap();
        assert_eq!(chosen.files, vec![a, b]);
        assert_eq!(chosen.chosen_by, ChosenBy::Variable);
        assert_eq!(chosen.chosen_by.variables(), vec![KUBECONFIG_VAR]);
    }

    #[test]
    fn kubeconfig_list_all_missing_is_failed_naming_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let list = format!(
            "{}:{}",
            dir.path().join("x").display(),
            dir.path().join("y").display()
        );
        let err = select(None, &env(&[(KUBECONFIG_VAR, &list)])).unwrap_err();
        assert!(!err.is_not_applicable());
        assert_eq!(err.variables(), vec![KUBECONFIG_VAR]);
        assert!(
            err.to_string().starts_with(
                "environment variable KUBECONFIG names no kubeconfig file that exists"
            ),
            "{err}"
        );
    }

    #[test]
    fn kubeconfig_entry_that_is_a_directory_is_failed_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "").unwrap();
        let list = format!("{}:{}", a.display(), dir.path().display());
        let err = select(None, &env(&[(KUBECONFIG_VAR, &list)])).unwrap_err();
        assert_eq!(err.files(), vec![dir.path().to_owned()]);
        assert_eq!(
            err.to_string(),
            format!(
                "kubeconfig file {} (from KUBECONFIG) is a directory",
                dir.path().display()
            )
        );
    }

    #[test]
    fn blank_kubeconfig_is_unset_and_home_is_the_fallback() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".kube").join("config");
        let vars = env(&[
            (KUBECONFIG_VAR, "  "),
            (HOME_VAR, home.path().to_str().unwrap()),
        ]);
        let err = select(None, &vars).unwrap_err();
        assert!(err.is_not_applicable(), "{err:?}");
        assert!(
            err.to_string().contains(&config.display().to_string()),
            "{err}"
        );

        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, "").unwrap();
        let chosen = select(None, &vars).unwrap();
        assert_eq!(chosen.files, vec![config]);
        assert_eq!(chosen.chosen_by, ChosenBy::Home);
        assert_eq!(chosen.chosen_by.variables(), vec![HOME_VAR]);
    }

    #[test]
    fn nothing_set_is_not_applicable() {
        let err = select(None, &env(&[])).unwrap_err();
        assert!(err.is_not_applicable());
        assert_eq!(err.to_string(), "KUBECONFIG and HOME are not set");
    }
}
