//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.
//!
//! Each step prints its command before it runs, with the workspace root as the working
//! directory, so a failure can be reproduced by copying the line.

use std::process::ExitCode;

/// One check: a name for messages, cargo's arguments, and extra environment variables.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        args: &["fmt", "--all", "--", "--check"],
        env: &[],
    },
    Step {
        name: "clippy",
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
    Step {
        name: "test",
        args: &["test", "--workspace"],
        env: &[],
    },
    Step {
        name: "doc",
        args: &["doc", "--workspace", "--no-deps"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
];

/// Runs every step; exits 1 naming the first one that fails.
pub(crate) fn run() -> ExitCode {
    for (index, step) in STEPS.iter().enumerate() {
        let line = step.command_line();
        println!("[{}/{}] $ {line}", index + 1, STEPS.len());
        let status = crate::cargo()
            .args(step.args)
            .envs(step.env.iter().copied())
            .current_dir(crate::workspace_root())
            .status();
        let failure = match status {
            Ok(status) if status.success() => continue,
            Ok(status) => format!("it exited with {status}"),
            Err(e) => format!("it could not start: {e}"),
        };
        eprintln!("ci: step `{}` failed: {failure}\n    $ {line}", step.name);
        return ExitCode::FAILURE;
    }
    println!("ci: all {} steps passed", STEPS.len());
    ExitCode::SUCCESS
}

impl Step {
    /// The command as a person would type it, environment first.
    fn command_line(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(name, value)| format!("{name}={}", quote(value)))
            .collect();
        words.push("cargo".to_owned());
        words.extend(self.args.iter().map(|arg| quote(arg)));
        words.join(" ")
    }
}

/// Quotes a shell word that holds a space.
fn quote(word: &str) -> String {
    if word.contains(' ') {
        format!("\"{word}\"")
    } else {
        word.to_owned()
    }
}
