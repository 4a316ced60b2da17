//! `cargo xtask bench`: every figure of BENCHMARKS.md, on this machine.
//!
//! 1. Builds the release `kubecred` and measures, whole process, `kubecred get /api` in a pod
//!    setting and through a kubeconfig (figure 7), over TLS against the stand-in API server
//!    (in this process, on its own thread):
//!    wall time from spawn to exit (median and 90th percentile of many runs, next to
//!    `/bin/true` for the cost of an exec) and peak RSS (`/usr/bin/time -v`); `kubectl get
//!    --raw /api` the same way, for scale, when kubectl is on `PATH`.
//! 2. Runs the criterion benchmark of the hot path and the client-vs-reqwest harness
//!    (`cargo bench -p kubecred-bench`), whose `RESULT` lines it repeats at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use kubecred_testing::{kubeconfig_yaml, ApiServer, ServiceAccountDir, ServiceAccountFiles};

use crate::{cargo, target_dir, workspace_root};

const TOKEN: &str = "bench-pod-token-5b7c1e";
const RUNS: usize = 40;

pub(crate) fn run() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<(), String> {
    if !Path::new("/usr/bin/time").exists() {
        return Err("/usr/bin/time is missing (Debian: apt-get install time)".to_owned());
    }
    step(cargo().args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "kubecred-cli",
        "--bin",
        "kubecred",
    ]))?;
    let kubecred = target_dir().join("release").join("kubecred");

    let server = ApiServer::builder()
        .token("pod", TOKEN)
        .start()
        .map_err(|e| format!("cannot start the stand-in API server: {e}"))?;
    let dir = ServiceAccountDir::new(
        &ServiceAccountFiles::new()
            .token(TOKEN)
            .ca_crt(server.ca_pem())
            .namespace("bench"),
    )
    .map_err(|e| format!("cannot make the service-account directory: {e}"))?;
    let pod = |command: &mut Command| {
        command
            .env_clear()
            .env("KUBERNETES_SERVICE_HOST", server.host())
            .env("KUBERNETES_SERVICE_PORT", server.port().to_string())
            .env("KUBECRED_SERVICEACCOUNT_DIR", dir.path())
            // The proxy source probes 127.0.0.1:8001 otherwise; in-cluster wins before it.
            .env("KUBECRED_PROXY_URL", "http://127.0.0.1:1");
    };

    println!("## Whole process ({RUNS} runs each, after 3 warm-up runs)\n");
    println!("| command | median | p90 | peak RSS |");
    println!("|---|---|---|---|");
    let mut exec = Command::new("/bin/true");
    report("`/bin/true` (the cost of an exec)", &mut exec)?;
    let mut get = Command::new(&kubecred);
    get.args(["get", "/api"]);
    pod(&mut get);
    report("`kubecred get /api`, in-cluster, TLS", &mut get)?;
    // Figure 7: the same request through a kubeconfig with a token (its CA as -data).
    let laptop_kubeconfig = dir.path().join("kubeconfig-for-kubecred");
    std::fs::write(&laptop_kubeconfig, kubeconfig_yaml(&server, TOKEN))
        .map_err(|e| format!("cannot write a kubeconfig: {e}"))?;
    let mut through_kubeconfig = Command::new(&kubecred);
    through_kubeconfig
        .args(["get", "/api"])
        .env_clear()
        .env("KUBECONFIG", &laptop_kubeconfig)
        .env("KUBECRED_PROXY_URL", "http://127.0.0.1:1");
    report(
        "`kubecred get /api`, kubeconfig with a token, TLS",
        &mut through_kubeconfig,
    )?;

    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok()
    {
        let kubeconfig = dir.path().join("kubeconfig-for-kubectl");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&server, TOKEN))
            .map_err(|e| format!("cannot write a kubeconfig: {e}"))?;
        let home = tempdir_path(&dir);
        let mut kubectl = Command::new("kubectl");
        #[allow(clippy::disallowed_methods)] // kubectl gets our PATH, and no other variable
        kubectl
            .args(["get", "--raw", "/api"])
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home);
        report("`kubectl get --raw /api` (for scale)", &mut kubectl)?;
    } else {
        println!("| `kubectl get --raw /api` | (kubectl not on PATH) | | |");
    }
    println!();

    println!("## cargo bench -p kubecred-bench\n");
    let output = cargo()
        .args(["bench", "-p", "kubecred-bench"])
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    if !output.status.success() {
        return Err(format!("cargo bench failed ({})", output.status));
    }
    println!("\n## Summary of the harness\n");
    for line in text.lines().filter(|l| l.starts_with("RESULT ")) {
        println!("{line}");
    }
    Ok(())
}

/// A `HOME` for kubectl (its cache), inside the temporary directory.
fn tempdir_path(dir: &ServiceAccountDir) -> PathBuf {
    let home = dir.path().join("home");
    let _ = std::fs::create_dir_all(&home);
    home
}

fn step(command: &mut Command) -> Result<(), String> {
    let status = command
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

/// Runs `command` 3 + RUNS times (checking it succeeds), prints one table row.
fn report(label: &str, command: &mut Command) -> Result<(), String> {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut times = Vec::with_capacity(RUNS);
    for i in 0..3 + RUNS {
        let start = Instant::now();
        let output = command
            .output()
            .map_err(|e| format!("cannot run {label}: {e}"))?;
        let elapsed = start.elapsed();
        if !output.status.success() {
            return Err(format!(
                "{label} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        if i >= 3 {
            times.push(elapsed);
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    let rss = peak_rss(command)?;
    println!(
        "| {label} | {} | {} | {:.1} MiB |",
        ms(median),
        ms(p90),
        rss as f64 / 1024.0
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Peak RSS in KiB, from `/usr/bin/time -v`.
fn peak_rss(command: &Command) -> Result<u64, String> {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-v")
        .arg(command.get_program())
        .args(command.get_args());
    timed.env_clear();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            timed.env(key, value);
        }
    }
    let output = timed
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time: {e}"))?;
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
                .and_then(|kib| kib.parse().ok())
        })
        .ok_or_else(|| "no peak RSS in the output of /usr/bin/time -v".to_owned())
}
