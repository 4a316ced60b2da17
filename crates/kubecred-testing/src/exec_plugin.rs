//! A kubeconfig exec credential plugin for tests: a `/bin/sh` script that prints the
//! `ExecCredential` its test set, and records every run.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::EXEC_API_V1;

/// The file name of the plugin program in [`ExecPlugin::bin_dir`].
pub const EXEC_PLUGIN_NAME: &str = "kubecred-exec-plugin";

/// How long one step of the plugin's sleep lasts: a sleeping plugin that is killed leaves a
/// `sleep` child behind for at most this long.
const SLEEP_TICK: Duration = Duration::from_millis(50);

/// A kubeconfig exec credential plugin (what `aws eks get-token` or `kubelogin` are to
/// kubectl), for tests: an executable `/bin/sh` script in a temporary directory that prints
/// the `ExecCredential` the test set on its stdout.
///
/// What it prints is read from files at each run, so a test changes it while the code under
/// test runs: [`set_token`](ExecPlugin::set_token) rotates the token,
/// [`set_expiry`](ExecPlugin::set_expiry) sets `status.expirationTimestamp`,
/// [`fail_with`](ExecPlugin::fail_with) makes it exit non-zero with a line on stderr,
/// [`sleep`](ExecPlugin::sleep) makes it hang first. Each run is recorded
/// ([`ExecPluginRun`]: its pid, arguments, environment and `KUBERNETES_EXEC_INFO`), as soon
/// as it starts, so that a run that is killed counts too.
///
/// Point a kubeconfig user's `exec.command` at [`command`](ExecPlugin::command) (an absolute
/// path), or put [`bin_dir`](ExecPlugin::bin_dir) on `PATH` and use [`EXEC_PLUGIN_NAME`].
/// The directory is removed on drop. Unix only (`/bin/sh`, GNU `env -0` and `mv -T`).
///
/// ```
/// use std::process::Command;
/// use kubecred_testing::{ExecPlugin, EXEC_API_V1};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let plugin = ExecPlugin::new("plugin-token")?;
/// let output = Command::new(plugin.command())
///     .env("KUBERNETES_EXEC_INFO", r#"{"kind":"ExecCredential","spec":{"interactive":false}}"#)
///     .output()?;
/// let credential: serde_json::Value = serde_json::from_slice(&output.stdout)?;
/// assert_eq!(credential["apiVersion"], EXEC_API_V1);
/// assert_eq!(credential["status"]["token"], "plugin-token");
/// assert_eq!(plugin.runs(), 1);
/// assert_eq!(plugin.exec_infos()[0]["spec"]["interactive"], false);
///
/// // Revoke and rotate: the next run prints another token, then fails.
/// plugin.set_token("plugin-token-2");
/// plugin.fail_with(3, "the identity provider is down");
/// let status = Command::new(plugin.command()).output()?.status;
/// assert_eq!(status.code(), Some(3));
/// assert_eq!(plugin.runs(), 2);
/// # Ok(())
/// # }
/// ```
pub struct ExecPlugin {
    dir: tempfile::TempDir,
    output: Mutex<Output>,
}

/// What the plugin prints, as the test set it.
#[derive(Clone)]
struct Output {
    api_version: String,
    token: Option<String>,
    certificate: Option<(String, String)>,
    expiry: Option<SystemTime>,
    /// Printed instead of an `ExecCredential` when set.
    raw: Option<String>,
}

impl Output {
    fn render(&self) -> String {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut status = serde_json::Map::new();
        if let Some(token) = &self.token {
            status.insert("token".into(), token.clone().into());
        }
        if let Some((cert, key)) = &self.certificate {
            status.insert("clientCertificateData".into(), cert.clone().into());
            status.insert("clientKeyData".into(), key.clone().into());
        }
        if let Some(expiry) = self.expiry {
            status.insert(
                "expirationTimestamp".into(),
                humantime::format_rfc3339_seconds(expiry).to_string().into(),
            );
        }
        let credential = serde_json::json!({
            "apiVersion": self.api_version,
            "kind": "ExecCredential",
            "status": status,
        });
        format!("{credential}\n")
    }
}

impl ExecPlugin {
    /// A plugin that prints a [`EXEC_API_V1`] `ExecCredential` holding `token` and no
    /// expiry, and exits 0.
    ///
    /// # Errors
    ///
    /// The I/O error when its temporary directory or script cannot be written.
    pub fn new(token: &str) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kubecred-exec-plugin-")
            .tempdir()?;
        for sub in ["bin", "state", "runs", "tmp"] {
            fs::create_dir(dir.path().join(sub))?;
        }
        let script = dir.path().join("bin").join(EXEC_PLUGIN_NAME);
        fs::write(&script, script_text(dir.path()))?;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
        let plugin = Self {
            dir,
            output: Mutex::new(Output {
                api_version: EXEC_API_V1.to_owned(),
                token: Some(token.to_owned()),
                certificate: None,
                expiry: None,
                raw: None,
            }),
        };
        plugin.write_output(&plugin.lock())?;
        Ok(plugin)
    }

    /// The plugin program: an absolute path, for a kubeconfig's `exec.command`.
    pub fn command(&self) -> PathBuf {
        self.bin_dir().join(EXEC_PLUGIN_NAME)
    }

    /// The directory that holds the program (named [`EXEC_PLUGIN_NAME`]): put it on `PATH`
    /// to test the lookup of a command without a `/`.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The plugin's temporary directory (the program is `bin/kubecred-exec-plugin` in it,
    /// for a command relative to a kubeconfig written here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `apiVersion` the plugin prints ([`EXEC_API_V1`] unless
    /// [`set_api_version`](ExecPlugin::set_api_version) changed it).
    pub fn api_version(&self) -> String {
        self.lock().api_version.clone()
    }

    /// From the next run on, prints `apiVersion: api_version` (e.g.
    /// [`EXEC_API_V1BETA1`](crate::EXEC_API_V1BETA1), or a wrong one).
    ///
    /// # Panics
    ///
    /// When the plugin's state file cannot be written (its directory was removed).
    pub fn set_api_version(&self, api_version: &str) {
        self.update(|o| o.api_version = api_version.to_owned());
    }

    /// From the next run on, prints `status.token: token` (and stops printing a raw
    /// [`set_output`](ExecPlugin::set_output)).
    ///
    /// # Panics
    ///
    /// When the plugin's state file cannot be written.
    pub fn set_token(&self, token: &str) {
        self.update(|o| o.token = Some(token.to_owned()));
    }

    /// From the next run on, prints no `status.token`.
    ///
    /// # Panics
    ///
    /// When the plugin's state file cannot be written.
    pub fn clear_token(&self) {
        self.update(|o| o.token = None);
    }

    /// From the next run on, prints `status.clientCertificateData` and `clientKeyData` (PEM,
    /// e.g. from [`IssuedCertificate`](crate::IssuedCertificate)'s `cert_pem` and `key_pem`),
    /// beside the token if one is set.
    ///
    /// # Panics
    ///
    /// When the plugin's state file cannot be written.
    pub fn set_client_certificate(&self, cert_pem: &str, key_pem: &str) {
        self.update(|o| o.certificate = Some((cert_pem.to_owned(), key_pem.to_owned())));
    }

    /// From the next run on, prints `status.expirationTimestamp` (RFC 3339, whole seconds,
    /// UTC), or none with `None`.
    ///
    /// # Panics
    ///
    /// When the plugin's state file cannot be written.
    pub fn set_expiry(&self, expiry: Option<SystemTime>) {
        self.update(|o| o.expiry = expiry);
    }

    /// From the next run on, prints exactly `stdout` instead of an `ExecCredential` (YAML,
    /// garbage, another kind); [`set_token`](ExecPlugin::set_token) and the other setters
    /// go back to printing an `ExecCredential`.
    ///
    /// # Panics
    ///
    /// When the plugin's state file cannot be written.
    pub fn set_output(&self, stdout: &str) {
        let mut output = self.lock();
        output.raw = Some(stdout.to_owned());
        self.write_output(&output)
            .expect("cannot write the exec plugin's output file");
    }

    /// From the next run on, prints `stderr_line` on stderr and exits with `code` (1 to 255)
    /// without printing anything on stdout, until [`succeed`](ExecPlugin::succeed).
    ///
    /// # Panics
    ///
    /// When the plugin's state files cannot be written.
    pub fn fail_with(&self, code: u8, stderr_line: &str) {
        self.set_failure(code, stderr_line, false);
    }

    /// Like [`fail_with`](ExecPlugin::fail_with), but prints its `ExecCredential` on stdout
    /// first: a plugin whose output must not be trusted, or echoed, when it exits non-zero.
    ///
    /// # Panics
    ///
    /// When the plugin's state files cannot be written.
    pub fn fail_after_printing(&self, code: u8, stderr_line: &str) {
        self.set_failure(code, stderr_line, true);
    }

    /// From the next run on, prints its `ExecCredential` and exits 0 again (undoes
    /// [`fail_with`](ExecPlugin::fail_with) and
    /// [`fail_after_printing`](ExecPlugin::fail_after_printing)).
    ///
    /// # Panics
    ///
    /// When the plugin's state files cannot be removed.
    pub fn succeed(&self) {
        let state = self.dir.path().join("state");
        remove_if_present(&state.join("exit"))
            .and_then(|()| remove_if_present(&state.join("print_first")))
            .expect("cannot remove the exec plugin's failure files");
    }

    /// From the next run on, sleeps for `duration` (in steps of 50 ms, rounded up; `ZERO`:
    /// not at all) before printing or failing: a slow or hung plugin.
    ///
    /// # Panics
    ///
    /// When the plugin's state file cannot be written.
    pub fn sleep(&self, duration: Duration) {
        let path = self.dir.path().join("state").join("sleep");
        let ticks = duration.as_nanos().div_ceil(SLEEP_TICK.as_nanos());
        let result = if ticks == 0 {
            remove_if_present(&path)
        } else {
            write_atomically(&path, ticks.to_string().as_bytes())
        };
        result.expect("cannot write the exec plugin's sleep file");
    }

    /// How many times the plugin has started (a run is recorded before it sleeps, fails or
    /// prints).
    pub fn runs(&self) -> usize {
        self.run_dirs().len()
    }

    /// Every run so far, in the order they started.
    pub fn run_records(&self) -> Vec<ExecPluginRun> {
        self.run_dirs()
            .into_iter()
            .map(|(_, dir)| ExecPluginRun::read(&dir))
            .collect()
    }

    /// The `KUBERNETES_EXEC_INFO` of every run so far, in order, parsed as JSON
    /// (`Value::Null` for a run without it, or whose value is not JSON).
    pub fn exec_infos(&self) -> Vec<serde_json::Value> {
        self.run_records()
            .into_iter()
            .map(|run| run.exec_info)
            .collect()
    }

    fn set_failure(&self, code: u8, stderr_line: &str, print_first: bool) {
        let state = self.dir.path().join("state");
        let print_first_path = state.join("print_first");
        let result = if print_first {
            write_atomically(&print_first_path, b"")
        } else {
            remove_if_present(&print_first_path)
        };
        result
            .and_then(|()| {
                write_atomically(&state.join("stderr"), format!("{stderr_line}\n").as_bytes())
            })
            .and_then(|()| write_atomically(&state.join("exit"), code.to_string().as_bytes()))
            .expect("cannot write the exec plugin's failure files");
    }

    fn run_dirs(&self) -> Vec<(u64, PathBuf)> {
        let mut runs: Vec<(u64, PathBuf)> = fs::read_dir(self.dir.path().join("runs"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        let n = e.file_name().to_str()?.parse().ok()?;
                        Some((n, e.path()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        runs.sort_unstable_by_key(|(n, _)| *n);
        runs
    }

    fn lock(&self) -> MutexGuard<'_, Output> {
        self.output.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut Output)) {
        let mut output = self.lock();
        change(&mut output);
        output.raw = None;
        self.write_output(&output)
            .expect("cannot write the exec plugin's output file");
    }

    fn write_output(&self, output: &Output) -> io::Result<()> {
        write_atomically(
            &self.dir.path().join("state").join("stdout"),
            output.render().as_bytes(),
        )
    }
}

impl fmt::Debug for ExecPlugin {
    // The token and key it prints are secrets of the test: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecPlugin")
            .field("command", &self.command())
            .field("api_version", &self.api_version())
            .field("runs", &self.runs())
            .finish_non_exhaustive()
    }
}

/// One run of an [`ExecPlugin`], as the plugin recorded it when it started.
#[derive(Clone)]
pub struct ExecPluginRun {
    /// The plugin's process id (`$$`): check that a killed plugin is gone.
    pub pid: Option<u32>,
    /// Its arguments, in order (without the program's name).
    pub args: Vec<String>,
    /// Its `KUBERNETES_EXEC_INFO`, parsed as JSON (`Value::Null` when unset or not JSON).
    pub exec_info: serde_json::Value,
    env: BTreeMap<String, String>,
}

impl ExecPluginRun {
    fn read(dir: &Path) -> Self {
        let text = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
        let nul_separated = |name: &str| -> Vec<String> {
            text(name)
                .split_terminator('\0')
                .map(str::to_owned)
                .collect()
        };
        let env = nul_separated("env")
            .into_iter()
            .filter_map(|entry| {
                let (name, value) = entry.split_once('=')?;
                Some((name.to_owned(), value.to_owned()))
            })
            .collect();
        Self {
            pid: text("pid").trim().parse().ok(),
            args: nul_separated("args"),
            exec_info: serde_json::from_str(&text("exec_info")).unwrap_or(serde_json::Value::Null),
            env,
        }
    }

    /// The value of the environment variable `name` in the plugin's environment, if set.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }

    /// The names of every variable in the plugin's environment, sorted.
    pub fn env_names(&self) -> Vec<&str> {
        self.env.keys().map(String::as_str).collect()
    }
}

impl fmt::Debug for ExecPluginRun {
    // The environment's values may be secrets: names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecPluginRun")
            .field("pid", &self.pid)
            .field("args", &self.args.len())
            .field("env", &self.env_names())
            .finish_non_exhaustive()
    }
}

/// The plugin script, reading its state under `root` at each run.
fn script_text(root: &Path) -> String {
    let root = root.display().to_string().replace('\'', r"'\''");
    format!(
        r#"#!/bin/sh
# An exec credential plugin written by kubecred_testing::ExecPlugin: it records this run,
# then sleeps, fails or prints the ExecCredential its test set.
d='{root}'
tmp="$d/tmp/$$"
mkdir "$tmp" || exit 70
for a in "$@"; do printf '%s\0' "$a"; done > "$tmp/args"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$tmp/exec_info"
env -0 > "$tmp/env"
printf '%s\n' "$$" > "$tmp/pid"
set -- "$d"/runs/*
i=$#
[ -e "$1" ] || i=0
i=$((i + 1))
while ! mv -T "$tmp" "$d/runs/$i" 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -lt 1000000 ] || exit 71
done
if [ -f "$d/state/sleep" ]; then
  read -r n < "$d/state/sleep"
  j=0
  while [ "$j" -lt "$n" ]; do sleep {tick}; j=$((j + 1)); done
fi
if [ -f "$d/state/exit" ]; then
  [ -f "$d/state/print_first" ] && cat "$d/state/stdout"
  cat "$d/state/stderr" >&2
  read -r code < "$d/state/exit"
  exit "$code"
fi
exec cat "$d/state/stdout"
"#,
        tick = SLEEP_TICK.as_secs_f64(),
    )
}

/// Writes `path` through a temporary file and a rename, so that a run never reads half of it.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("new");
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EXEC_API_V1BETA1;
    use std::process::Command;

    #[test]
    fn prints_what_the_test_set_and_records_each_run() {
        let plugin = ExecPlugin::new("t-1").unwrap();
        let ca = crate::CertificateAuthority::new("plugin CA").unwrap();
        let client = ca.issue_client_certificate("exec-user").unwrap();
        plugin.set_api_version(EXEC_API_V1BETA1);
        plugin.set_client_certificate(client.cert_pem(), client.key_pem());
        let expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        plugin.set_expiry(Some(expiry));
        let out = Command::new(plugin.command())
            .args(["get-token", "--cluster", "a b"])
            .env("KUBERNETES_EXEC_INFO", r#"{"spec":{"interactive":true}}"#)
            .env("PLUGIN_VAR", "x=y")
            .output()
            .unwrap();
        assert!(out.status.success());
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(value["apiVersion"], EXEC_API_V1BETA1);
        assert_eq!(value["kind"], "ExecCredential");
        assert_eq!(value["status"]["token"], "t-1");
        assert_eq!(value["status"]["clientKeyData"], client.key_pem());
        assert_eq!(
            value["status"]["expirationTimestamp"],
            "2027-01-15T08:00:00Z"
        );
        let runs = plugin.run_records();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].args, ["get-token", "--cluster", "a b"]);
        assert_eq!(runs[0].env("PLUGIN_VAR"), Some("x=y"));
        assert_eq!(runs[0].exec_info["spec"]["interactive"], true);
        assert!(runs[0].pid.is_some());
        let debug = format!("{plugin:?} {:?}", runs[0]);
        assert!(!debug.contains("t-1") && !debug.contains("x=y"), "{debug}");

        plugin.set_output("not: json\n");
        let out = Command::new(plugin.command()).output().unwrap();
        assert_eq!(out.stdout, b"not: json\n");
        assert_eq!(plugin.exec_infos()[1], serde_json::Value::Null);
        plugin.clear_token();
        let out = Command::new(plugin.command()).output().unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(value["status"].get("token").is_none());
    }

    #[test]
    fn fails_sleeps_and_recovers() {
        let plugin = ExecPlugin::new("t").unwrap();
        plugin.fail_with(42, "no identity today");
        plugin.sleep(Duration::from_millis(100));
        let started = std::time::Instant::now();
        let out = Command::new(plugin.command()).output().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(out.status.code(), Some(42));
        assert!(out.stdout.is_empty());
        assert_eq!(out.stderr, b"no identity today\n");
        plugin.succeed();
        plugin.sleep(Duration::ZERO);
        let out = Command::new(plugin.command()).output().unwrap();
        assert!(out.status.success());
        assert_eq!(plugin.runs(), 2);
    }

    #[test]
    fn concurrent_runs_are_each_recorded_once() {
        let plugin = ExecPlugin::new("t").unwrap();
        let children: Vec<_> = (0..8)
            .map(|_| Command::new(plugin.command()).output())
            .collect();
        for child in children {
            assert!(child.unwrap().status.success());
        }
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let command = plugin.command();
                std::thread::spawn(move || Command::new(command).output().unwrap().status)
            })
            .collect();
        for thread in threads {
            assert!(thread.join().unwrap().success());
        }
        let mut pids: Vec<_> = plugin.run_records().iter().map(|r| r.pid).collect();
        assert_eq!(pids.len(), 16);
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(pids.len(), 16);
    }
}
