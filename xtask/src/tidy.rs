//! The house rules, as tests: `cargo test` alone enforces them.
//!
//! - every Rust file starts with a `//!` comment saying what it is for;
//! - no debugging leftovers, unfinished-code macros or ignores without a reason in Rust files
//!   (the patterns are listed in [`FORBIDDEN`], built with `concat!` so that this file does
//!   not contain them);
//! - every package under `crates/`, `tests/`, `xtask/` and `benches/` opts into the workspace
//!   lints with `[lints]` followed by `workspace = true`;
//! - the project stands alone: no file cites the design brief it was started from (the
//!   patterns are in [`CITATIONS`]); the facts it leans on are stated in ARCHITECTURE.md's
//!   "Contracts this project keeps" and in the crate docs;
//! - the dependency graph keeps its shape (`deps.rs`, over `cargo metadata`).
//!
//! The files are those git knows (tracked, plus untracked ones that are not ignored, so a new
//! file is checked before its first commit); without git, the tree is walked, skipping
//! `target/` and `.git/`.

mod deps;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Text no Rust file may contain, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    (concat!("db", "g!("), "a debugging leftover"),
    (concat!("to", "do!("), "unfinished code"),
    (concat!("unimple", "mented!("), "unfinished code"),
    (
        concat!("#[ig", "nore]"),
        "an ignored test needs a reason: #[ignore = \"why\"]",
    ),
];

/// The top-level directories whose packages must opt into the workspace lints.
const PACKAGE_DIRS: &[&str] = &["crates", "tests", "xtask", "benches"];

/// Text no file of the project may contain (compared without regard to case), and why: the
/// project states the facts it relies on in its own words instead of pointing elsewhere.
const CITATIONS: &[(&str, &str)] = &[
    (
        concat!("DES", "IGN.md"),
        "a design brief that is not in the repository",
    ),
    (
        concat!("../", "shared"),
        "a directory outside the repository",
    ),
];

#[test]
fn house_rules() {
    let root = crate::workspace_root();
    let files = workspace_files(root, &["*.rs", "*Cargo.toml"]);
    let mut problems = Vec::new();
    let (mut rust_files, mut manifests) = (0, 0);
    for file in &files {
        let is_rust = file.extension().is_some_and(|ext| ext == "rs");
        let is_manifest = file.file_name().is_some_and(|name| name == "Cargo.toml")
            && file
                .components()
                .next()
                .is_some_and(|first| PACKAGE_DIRS.iter().any(|dir| first.as_os_str() == *dir))
            && file.components().count() > 1;
        if !is_rust && !is_manifest {
            continue;
        }
        let text = match std::fs::read_to_string(root.join(file)) {
            Ok(text) => text,
            // Tracked but deleted in the working tree: nothing to check.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(Problem::new(
                    file,
                    None,
                    "a readable UTF-8 file",
                    e.to_string(),
                ));
                continue;
            }
        };
        if is_rust {
            rust_files += 1;
            check_rust(file, &text, &mut problems);
        } else {
            manifests += 1;
            check_manifest(file, &text, &mut problems);
        }
    }
    assert!(
        rust_files > 0 && manifests > 0,
        "expected Rust files and Cargo.toml files under {}, found {rust_files} and {manifests}",
        root.display()
    );
    let list: Vec<String> = problems.iter().map(Problem::to_string).collect();
    assert!(
        problems.is_empty(),
        "{} house rule(s) broken:\n{}",
        problems.len(),
        list.join("\n")
    );
}

#[test]
fn no_file_cites_what_is_not_in_the_repository() {
    let root = crate::workspace_root();
    let files = workspace_files(root, &[]);
    let mut problems = Vec::new();
    let mut read = 0;
    for file in &files {
        // Not text (an image, a binary), deleted in the working tree, or unreadable: a
        // citation is text, and every text file of the project is UTF-8.
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        read += 1;
        check_citations(file, &text, &mut problems);
    }
    assert!(
        read > 10,
        "expected the project's files under {}, read {read}",
        root.display()
    );
    let list: Vec<String> = problems.iter().map(Problem::to_string).collect();
    assert!(
        problems.is_empty(),
        "{} citation(s) of what is not in the repository (state the fact itself, e.g. in \
         ARCHITECTURE.md's \"Contracts this project keeps\"):\n{}",
        problems.len(),
        list.join("\n")
    );
}

/// A broken rule: where, what was expected, and what was found.
#[derive(Debug, PartialEq, Eq)]
struct Problem {
    file: PathBuf,
    /// 1-based; `None` for the whole file.
    line: Option<usize>,
    expected: String,
    found: String,
}

impl Problem {
    fn new(
        file: &Path,
        line: Option<usize>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            line,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "  {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(
            f,
            "\n      expected: {}\n      found:    {}",
            self.expected, self.found
        )
    }
}

/// The Rust rules: the `//!` first line and the [`FORBIDDEN`] patterns.
fn check_rust(file: &Path, text: &str, problems: &mut Vec<Problem>) {
    let first = text.lines().next();
    if !first.is_some_and(|line| line.starts_with("//!")) {
        problems.push(Problem::new(
            file,
            Some(1),
            "a first line starting with `//!` (what this file is for)",
            match first {
                Some(line) => format!("`{line}`"),
                None => "an empty file".to_owned(),
            },
        ));
    }
    for (index, line) in text.lines().enumerate() {
        for (pattern, why) in FORBIDDEN {
            if line.contains(pattern) {
                problems.push(Problem::new(
                    file,
                    Some(index + 1),
                    format!("no `{pattern}` ({why})"),
                    format!("`{}`", line.trim()),
                ));
            }
        }
    }
}

/// The manifest rule: `[lints]` followed by `workspace = true`.
fn check_manifest(file: &Path, text: &str, problems: &mut Vec<Problem>) {
    let expected = "`[lints]` followed by `workspace = true`";
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()));
    let Some((number, _)) = lines.by_ref().find(|(_, line)| *line == "[lints]") else {
        problems.push(Problem::new(file, None, expected, "no `[lints]` table"));
        return;
    };
    let next = lines.find(|(_, line)| !line.is_empty() && !line.starts_with('#'));
    match next {
        Some((_, line)) if line.split_whitespace().collect::<String>() == "workspace=true" => {}
        Some((_, line)) => problems.push(Problem::new(
            file,
            Some(number),
            expected,
            format!("`[lints]` followed by `{line}`"),
        )),
        None => problems.push(Problem::new(
            file,
            Some(number),
            expected,
            "`[lints]` at the end of the file",
        )),
    }
}

/// The citation rule: none of the [`CITATIONS`], in any case.
fn check_citations(file: &Path, text: &str, problems: &mut Vec<Problem>) {
    for (index, line) in text.lines().enumerate() {
        let lower = line.to_lowercase();
        for (pattern, why) in CITATIONS {
            if let Some(at) = lower.find(&pattern.to_lowercase()) {
                // A long line (a table row) is shown around the citation only.
                let chars: Vec<char> = line.chars().collect();
                // (A lowercased character can be longer: keep the indices within `line`.)
                let at = lower[..at].chars().count().min(chars.len());
                let start = at.saturating_sub(60);
                let end = (at + pattern.len() + 60).min(chars.len());
                let excerpt: String = chars[start..end].iter().collect();
                problems.push(Problem::new(
                    file,
                    Some(index + 1),
                    format!("no mention of `{pattern}` ({why})"),
                    format!(
                        "`{}{}{}`",
                        if start > 0 { "…" } else { "" },
                        excerpt.trim(),
                        if end < chars.len() { "…" } else { "" }
                    ),
                ));
            }
        }
    }
}

/// The workspace's files matching the git pathspecs `patterns` (every file when empty),
/// relative to `root`: from git if it can tell, else by walking.
fn workspace_files(root: &Path, patterns: &[&str]) -> Vec<PathBuf> {
    let output = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
        ])
        .args(patterns)
        .current_dir(root)
        .output();
    match output {
        Ok(output) if output.status.success() => {
            let mut files: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
                .split('\0')
                .filter(|name| !name.is_empty())
                .map(PathBuf::from)
                .collect();
            files.sort();
            files.dedup();
            files
        }
        // No git, or not a repository: walk the tree, keeping what the patterns name.
        _ => {
            let mut files = Vec::new();
            walk(root, root, &mut files);
            files.retain(|file| {
                patterns.is_empty()
                    || patterns.iter().any(|pattern| {
                        let name = file.to_string_lossy();
                        match pattern.strip_prefix('*') {
                            Some(suffix) => name.ends_with(suffix),
                            None => name == *pattern,
                        }
                    })
            });
            files.sort();
            files
        }
    }
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            walk(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            files.push(relative.to_owned());
        }
    }
}

/// The checks themselves: each rule catches what it should and only that.
mod checks {
    use super::*;

    fn rust(text: &str) -> Vec<(Option<usize>, String)> {
        let mut problems = Vec::new();
        check_rust(Path::new("a.rs"), text, &mut problems);
        problems.into_iter().map(|p| (p.line, p.expected)).collect()
    }

    fn manifest(text: &str) -> Vec<String> {
        let mut problems = Vec::new();
        check_manifest(Path::new("Cargo.toml"), text, &mut problems);
        problems.into_iter().map(|p| p.found).collect()
    }

    #[test]
    fn a_rust_file_starting_with_a_crate_doc_passes() {
        assert_eq!(rust("//! Docs.\n\nfn main() {}\n"), []);
        assert_eq!(
            rust("#[ignore = \"slow\"]\n//! Docs.\n"),
            [(
                Some(1),
                "a first line starting with `//!` (what this file is for)".to_owned()
            )]
        );
        assert_eq!(rust("").len(), 1);
    }

    #[test]
    fn every_forbidden_pattern_is_found_with_its_line() {
        for (pattern, _) in FORBIDDEN {
            let found = rust(&format!("//! Docs.\nfn f() {{\n    {pattern}\n}}\n"));
            assert_eq!(found.len(), 1, "{pattern}: {found:?}");
            assert_eq!(found[0].0, Some(3), "{pattern}: {found:?}");
        }
    }

    #[test]
    fn every_citation_is_found_in_any_case_with_its_line() {
        for (pattern, _) in CITATIONS {
            for text in [pattern.to_string(), pattern.to_lowercase()] {
                let mut problems = Vec::new();
                let file = format!("# Title\n\nsee {text}, section 2\n");
                check_citations(Path::new("README.md"), &file, &mut problems);
                let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
                assert_eq!(lines, [Some(3)], "{text}: {problems:?}");
            }
        }
        let mut problems = Vec::new();
        check_citations(
            Path::new("ARCHITECTURE.md"),
            "the design of the client, shared by every source\n",
            &mut problems,
        );
        assert_eq!(problems, []);
    }

    #[test]
    fn a_manifest_needs_lints_workspace_true() {
        assert_eq!(
            manifest("[package]\nname = \"a\"\n\n[lints]\nworkspace = true\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            manifest("[lints]\n# inherit\nworkspace=true\n"),
            Vec::<String>::new()
        );
        assert_eq!(manifest("[package]\n"), ["no `[lints]` table"]);
        assert_eq!(
            manifest("[lints]\n[lints.rust]\n"),
            ["`[lints]` followed by `[lints.rust]`"]
        );
        assert_eq!(manifest("[lints]\n"), ["`[lints]` at the end of the file"]);
    }
}
