//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.
//!
//! Each step prints its command before it runs, with the workspace root as the working
//! directory, so a failure can be reproduced by copying the line. Besides the workspace-wide
//! lints, `kubecred-client` is linted with no default feature and with each feature alone, so
//! that the code behind `cfg(feature = ...)` compiles in every combination a user can pick.
//! The docs are built with every feature (the `mock` feature's mocks are documented), crate
//! by crate in dependency order, and then searched for links left as text (`doc_links.rs`).

use std::process::ExitCode;
use std::time::Instant;

/// One check: a name for messages and what it runs.
struct Step {
    name: &'static str,
    action: Action,
}

enum Action {
    /// A cargo command: its arguments and extra environment variables.
    Cargo {
        args: &'static [&'static str],
        env: &'static [(&'static str, &'static str)],
    },
    /// `cargo doc --no-deps --all-features` once per layer of the dependency graph
    /// (`workspace::doc_layers`), warnings denied, after removing our crates' pages.
    Doc,
    /// No link to one of our items left as text in the pages the doc step wrote.
    DocLinks,
}

/// `cargo clippy` of `kubecred-client` with `features` only (and its tests and examples).
macro_rules! client_clippy {
    ($name:literal $(, $feature:literal)?) => {
        Step {
            name: $name,
            action: Action::Cargo {
                args: &[
                    "clippy",
                    "-p",
                    "kubecred-client",
                    "--no-default-features",
                    $("--features", $feature,)?
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
                env: &[],
            },
        }
    };
}

const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        action: Action::Cargo {
            args: &["fmt", "--all", "--", "--check"],
            env: &[],
        },
    },
    Step {
        name: "clippy",
        action: Action::Cargo {
            args: &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            env: &[],
        },
    },
    client_clippy!("clippy, client without features"),
    client_clippy!("clippy, client with env alone", "env"),
    client_clippy!("clippy, client with kubeconfig alone", "kubeconfig"),
    client_clippy!("clippy, client with incluster alone", "incluster"),
    client_clippy!("clippy, client with proxy alone", "proxy"),
    Step {
        name: "test",
        action: Action::Cargo {
            args: &["test", "--workspace"],
            env: &[],
        },
    },
    Step {
        name: "doc",
        action: Action::Doc,
    },
    Step {
        name: "doc links",
        action: Action::DocLinks,
    },
];

/// The doc step's command for the packages of one layer.
const DOC_ARGS: &[&str] = &["doc", "--no-deps", "--all-features"];
const DOC_ENV: &[(&str, &str)] = &[("RUSTDOCFLAGS", "-D warnings")];

/// Runs every step; exits 1 naming the first one that fails.
pub(crate) fn run() -> ExitCode {
    let started = Instant::now();
    for (index, step) in STEPS.iter().enumerate() {
        let number = format!("[{}/{}]", index + 1, STEPS.len());
        let step_started = Instant::now();
        if let Err(failure) = step.run(&number) {
            eprintln!("ci: step `{}` failed: {failure}", step.name);
            return ExitCode::FAILURE;
        }
        println!(
            "{number} {} passed in {:.0?}",
            step.name,
            step_started.elapsed()
        );
    }
    println!(
        "ci: all {} steps passed in {:.0?}",
        STEPS.len(),
        started.elapsed()
    );
    ExitCode::SUCCESS
}

impl Step {
    /// Runs the step, printing each command first; the error says what failed and how to
    /// run it again.
    fn run(&self, number: &str) -> Result<(), String> {
        match &self.action {
            Action::Cargo { args, env } => cargo(number, args, env),
            Action::Doc => {
                let packages = crate::workspace::packages()?;
                // Our pages go first, so that cargo writes them all again, in order: a page
                // written before the crates it links to keeps its links as text.
                let doc_dir = crate::target_dir().join("doc");
                for name in packages.iter().flat_map(|package| &package.doc_crates) {
                    match std::fs::remove_dir_all(doc_dir.join(name)) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(format!(
                                "cannot remove {}: {e}",
                                doc_dir.join(name).display()
                            ))
                        }
                        _ => {}
                    }
                }
                for layer in crate::workspace::doc_layers(&packages)? {
                    let mut args: Vec<&str> = DOC_ARGS.to_vec();
                    for package in &layer {
                        args.extend(["-p", package]);
                    }
                    cargo(number, &args, DOC_ENV)?;
                }
                Ok(())
            }
            Action::DocLinks => {
                let doc_dir = crate::target_dir().join("doc");
                println!(
                    "{number} search {} for links left as text",
                    doc_dir.display()
                );
                let packages = crate::workspace::packages()?;
                let crates: Vec<String> = packages
                    .into_iter()
                    .flat_map(|package| package.doc_crates)
                    .collect();
                let unresolved = crate::doc_links::check(&doc_dir, &crates)?;
                if unresolved.is_empty() {
                    return Ok(());
                }
                let list: Vec<String> = unresolved
                    .iter()
                    .map(|u| format!("  {}: [{}]", u.page.display(), u.link))
                    .collect();
                Err(format!(
                    "{} link(s) to our own items rendered as text, not links:\n{}\n    \
                     (a page written before the crates it links to were documented keeps its \
                     links as text: the doc step documents crate by crate in dependency order; \
                     did it run?)",
                    unresolved.len(),
                    list.join("\n")
                ))
            }
        }
    }
}

/// Runs `cargo ARGS` with `env`, printing the command first.
fn cargo(number: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let line = command_line(args, env);
    println!("{number} $ {line}");
    let status = crate::cargo()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(crate::workspace_root())
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("it exited with {status}\n    $ {line}")),
        Err(e) => Err(format!("it could not start: {e}\n    $ {line}")),
    }
}

/// The command as a person would type it, environment first.
fn command_line(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut words: Vec<String> = env
        .iter()
        .map(|(name, value)| format!("{name}={}", quote(value)))
        .collect();
    words.push("cargo".to_owned());
    words.extend(args.iter().map(|arg| quote(arg)));
    words.join(" ")
}

/// Quotes a shell word that holds a space.
fn quote(word: &str) -> String {
    if word.contains(' ') {
        format!("\"{word}\"")
    } else {
        word.to_owned()
    }
}
