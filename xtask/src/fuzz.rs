//! `cargo xtask fuzz [TARGET] [--seconds N] [--merge] [--input FILE]`: the fuzz targets of
//! `fuzz/` under libFuzzer (cargo-fuzz, nightly; installed with `cargo install cargo-fuzz
//! --locked` when missing).
//!
//! - A run: each target (or the one named) for N seconds (60 by default), starting from its
//!   committed seeds (`fuzz/corpus/<target>/`) and the inputs earlier runs kept
//!   (`fuzz/work/<target>/`, ignored by git, where new inputs go); a crash, a leak (the
//!   oracle's panic), a timeout or an out-of-memory fails the task, naming the target and
//!   the artifact (`fuzz/artifacts/<target>/`).
//! - `--merge`: adds to `fuzz/corpus/<target>/` only the inputs of `fuzz/work/<target>/` that
//!   bring new coverage (libFuzzer's `-set_cover_merge=1`, the smaller cousin of the
//!   `-merge=1` that `cargo fuzz cmin` runs), keeping the seeds: the corpus to commit stays
//!   small.
//! - `--input FILE`: runs the target on one input (reproducing an artifact).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::SystemTime;

/// Seconds per target unless `--seconds` says otherwise.
const DEFAULT_SECONDS: u64 = 60;

/// The longest input libFuzzer makes, in bytes: enough for a kubeconfig with a few users
/// and their key data; huge inputs (10,000 certificates) are the crates' own tests.
const MAX_LEN: u32 = 16 * 1024;

/// An input that takes longer than this, in seconds, is a hang (a plugin run included).
const TIMEOUT_SECS: u32 = 30;

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    target: Option<String>,
    seconds: u64,
    merge: bool,
    input: Option<PathBuf>,
}

fn parse(args: &[&str]) -> Result<Args, String> {
    let mut parsed = Args {
        target: None,
        seconds: DEFAULT_SECONDS,
        merge: false,
        input: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--seconds" => {
                let value = args.next().ok_or("--seconds takes a number")?;
                parsed.seconds =
                    value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("--seconds takes a positive number, not `{value}`")
                    })?;
            }
            "--merge" => parsed.merge = true,
            "--input" => {
                let value = args.next().ok_or("--input takes a file")?;
                parsed.input = Some(PathBuf::from(value));
            }
            flag if flag.starts_with('-') => return Err(format!("unknown flag `{flag}`")),
            target if parsed.target.is_none() => parsed.target = Some(target.to_owned()),
            extra => return Err(format!("one target at most (got `{extra}` too)")),
        }
    }
    if parsed.input.is_some() && parsed.target.is_none() {
        return Err("--input needs the target to run it on".to_owned());
    }
    Ok(parsed)
}

pub(crate) fn run(args: &[&str]) -> ExitCode {
    let args = match parse(args) {
        Ok(args) => args,
        Err(e) => return crate::usage_error(&format!("fuzz: {e}")),
    };
    match fuzz(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fuzz: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::disallowed_methods)] // xtask runs outside kubecred: the artifacts' times are the file system's
fn fuzz(args: &Args) -> Result<(), String> {
    ensure_cargo_fuzz()?;
    let all = targets()?;
    let chosen: Vec<String> = match &args.target {
        Some(target) if all.contains(target) => vec![target.clone()],
        Some(target) => {
            return Err(format!(
                "no fuzz target `{target}` (there are: {})",
                all.join(", ")
            ))
        }
        None => all,
    };
    let fuzz_dir = crate::workspace_root().join("fuzz");
    // Built once, then each binary run directly: `cargo fuzz run` would check the build
    // again before every target.
    eprintln!(
        "fuzz: building {} (cargo +nightly fuzz build)",
        chosen.join(", ")
    );
    let mut build = cargo_fuzz(&["build"]);
    if let [target] = chosen.as_slice() {
        build.arg(target);
    }
    status(&mut build, "cargo +nightly fuzz build")?;
    let bin_dir = fuzz_dir.join("target").join(host_triple()?).join("release");
    let binary = |target: &str| {
        let mut command = Command::new(bin_dir.join(target));
        command.current_dir(crate::workspace_root());
        command
    };
    if let (Some(input), [target]) = (&args.input, chosen.as_slice()) {
        return status(
            binary(target).arg(input),
            &format!("{target} on {}", input.display()),
        );
    }
    let mut failures = Vec::new();
    for target in &chosen {
        let seeds = fuzz_dir.join("corpus").join(target);
        let work = fuzz_dir.join("work").join(target);
        let artifacts = fuzz_dir.join("artifacts").join(target);
        for dir in [&work, &artifacts] {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        if args.merge {
            eprintln!(
                "fuzz: merging the new coverage of {} into {}",
                work.display(),
                seeds.display()
            );
            status(
                binary(target)
                    // A set cover of the features, not the greedy merge: fewer files.
                    .arg("-set_cover_merge=1")
                    // Edges, not hit counts: a third of the files for the same coverage.
                    .arg("-use_counters=0")
                    .arg(format!("-max_len={MAX_LEN}"))
                    .arg(&seeds)
                    .arg(&work),
                &format!("the merge of {target}"),
            )?;
            continue;
        }
        eprintln!("fuzz: {target} for {} s", args.seconds);
        let started = SystemTime::now();
        let outcome = status(
            binary(target)
                .arg(format!("-max_total_time={}", args.seconds))
                .arg(format!("-max_len={MAX_LEN}"))
                .arg(format!("-timeout={TIMEOUT_SECS}"))
                .arg("-rss_limit_mb=2048")
                .arg("-print_final_stats=1")
                .arg(format!("-artifact_prefix={}/", artifacts.display()))
                .arg(&work)
                .arg(&seeds),
            target,
        );
        if let Err(e) = outcome {
            let found = new_files(&artifacts, started);
            failures.push(match found.as_slice() {
                [] => format!("{target}: {e}"),
                found => format!(
                    "{target} found {}",
                    found
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} target(s) failed (reproduce with cargo xtask fuzz TARGET --input ARTIFACT):\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}

/// `cargo +nightly fuzz ARGS` at the workspace root, for `fuzz/`, with none of the variables
/// that would point it at the stable toolchain or the workspace's target directory.
fn cargo_fuzz(args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command
        .current_dir(crate::workspace_root())
        .args(["+nightly", "fuzz"])
        .args(args.iter().take(1))
        .args(["--fuzz-dir", "fuzz"])
        // Overflow checks and `debug_assert!`s too: more of what is wrong becomes a crash.
        .args(if args.first() == Some(&"list") {
            &[][..]
        } else {
            &["--debug-assertions"][..]
        })
        .args(args.iter().skip(1));
    for name in [
        "CARGO",
        "CARGO_TARGET_DIR",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(name);
    }
    command
}

fn status(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo for {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The host's target triple (`rustc +nightly -vV`): cargo-fuzz builds for it.
fn host_triple() -> Result<String, String> {
    let output = Command::new("rustc")
        .args(["+nightly", "-vV"])
        .output()
        .map_err(|e| format!("cannot run rustc +nightly -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc +nightly -vV names no host".to_owned())
}

/// cargo-fuzz, installed (`cargo install cargo-fuzz --locked`) when `cargo +nightly fuzz`
/// does not answer.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let answers = cargo_fuzz_version().is_ok_and(|s| s.success());
    if answers {
        return Ok(());
    }
    eprintln!("fuzz: cargo-fuzz is missing; cargo install cargo-fuzz --locked");
    status(
        Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]),
        "cargo install cargo-fuzz",
    )?;
    match cargo_fuzz_version() {
        Ok(s) if s.success() => Ok(()),
        _ => Err(
            "cargo +nightly fuzz still does not run: is the nightly toolchain installed \
             (rustup toolchain install nightly)?"
                .to_owned(),
        ),
    }
}

fn cargo_fuzz_version() -> std::io::Result<std::process::ExitStatus> {
    Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
}

/// The targets `fuzz/Cargo.toml` declares (`cargo fuzz list`).
fn targets() -> Result<Vec<String>, String> {
    let output = cargo_fuzz(&["list"])
        .output()
        .map_err(|e| format!("cannot run cargo fuzz list: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The files of `dir` modified since `since`: what a failed run left.
fn new_files(dir: &Path, since: SystemTime) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified >= since)
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_read() {
        assert_eq!(
            parse(&[]).unwrap(),
            Args {
                target: None,
                seconds: 60,
                merge: false,
                input: None
            }
        );
        let args = parse(&["jwt", "--seconds", "600"]).unwrap();
        assert_eq!((args.target.as_deref(), args.seconds), (Some("jwt"), 600));
        assert!(parse(&["--merge"]).unwrap().merge);
        assert!(parse(&["--seconds", "0"]).is_err());
        assert!(parse(&["--seconds"]).is_err());
        assert!(parse(&["a", "b"]).is_err());
        assert!(parse(&["--input", "x"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
