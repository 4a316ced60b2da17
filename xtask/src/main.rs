//! The workspace's own tasks, run as `cargo xtask TASK` (an alias in `.cargo/config.toml`).
//!
//! - `demo`: builds the real `kubecred` binary and runs it as a person would, against a
//!   stand-in API server: in a pod (a kubelet-style service-account directory), on a laptop
//!   with `KUBE_*` variables, and through the real `kubectl proxy`.
//! - `ci`: the full gate: rustfmt, clippy (the client also with each feature alone), the
//!   tests and the docs (then a search of them for links left as text), stopping at the first
//!   failure.
//! - `bench`: every figure of BENCHMARKS.md (whole-process runs, criterion, the
//!   client-vs-reqwest harness).
//! - `fuzz`: the fuzz targets of `fuzz/` under libFuzzer (cargo-fuzz on nightly).
//!
//! This file only dispatches: each task lives in its own module. The house rules (every file
//! starts with `//!`, no debugging leftovers, every package opts into the workspace lints) are
//! `#[test]`s in `tidy.rs`, with the project's other invariants (no citation of a file outside
//! the repository; the dependency graph's shape, over `cargo metadata`: `tidy/deps.rs`), so
//! `cargo test` alone enforces them.

mod bench;
mod ci;
mod demo;
mod doc_links;
mod fuzz;
#[cfg(test)]
mod tidy;
mod workspace;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask TASK

tasks:
  demo   build kubecred and run it against a stand-in API server (pod, env, kubeconfig with an exec plugin, kubectl proxy)
  ci     cargo fmt --check, clippy -D warnings (the client also per feature), test, doc
         (then no link left as text); stops at the first failure
  bench  the figures of BENCHMARKS.md (release build, /usr/bin/time, cargo bench)
  fuzz [TARGET] [--seconds N] [--merge] [--input FILE]
         the fuzz targets of fuzz/ (cargo +nightly fuzz), each N s (60); fails naming the
         target and the crash artifact; --merge adds new coverage to fuzz/corpus/
  help   print this message
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["demo"] => demo::run(),
        ["ci"] => ci::run(),
        ["bench"] => bench::run(),
        ["fuzz", rest @ ..] => fuzz::run(rest),
        ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        [] => usage_error("no task given"),
        [task] => usage_error(&format!("unknown task `{task}`")),
        [task, extra, ..] => usage_error(&format!("`{task}` takes no arguments (got `{extra}`)")),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprint!("error: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

/// The workspace root: the parent of this package's directory.
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
}

/// A command of the `cargo` that runs us (Cargo sets `CARGO`), else of the one on `PATH`,
/// without the variables `cargo run` gave this process about the xtask package
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...): build scripts such as ring's are fingerprinted
/// on them, so an inner build that inherits them and the outer one would keep rebuilding
/// each other's crates.
#[allow(clippy::disallowed_methods)] // xtask runs outside kubecred: it reads cargo's variables
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let of_the_package = name.starts_with("CARGO_PKG_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            );
        if of_the_package {
            command.env_remove(name);
        }
    }
    command
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root when
/// relative), else `<workspace root>/target`.
#[allow(clippy::disallowed_methods)] // xtask runs outside kubecred: it reads cargo's variables
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}
