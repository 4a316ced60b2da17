//! Running an exec plugin: the checks that need no run, the command's lookup, and one run
//! with its time limit.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kubecred_core::{Environment, Shown, SourceError};
use secrecy::zeroize::Zeroizing;
use tokio::io::AsyncReadExt;

use super::{cache, wire, ClusterInfo, ExecConfig, ExecSettings, Failure};

/// `apiVersion` of exec plugins since Kubernetes 1.22.
pub(super) const API_V1: &str = "client.authentication.k8s.io/v1";
/// `apiVersion` of exec plugins since Kubernetes 1.11, still served.
pub(super) const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
/// `apiVersion` removed in Kubernetes 1.24.
const API_V1ALPHA1: &str = "client.authentication.k8s.io/v1alpha1";

/// The variable that carries the `ExecCredential` request to the plugin (client-go's name).
pub(super) const EXEC_INFO_VAR: &str = "KUBERNETES_EXEC_INFO";

/// The most a plugin may print on stdout, in bytes: 1 MiB, the limit of every file kubecred
/// reads ([`kubecred_core::MAX_FILE_BYTES`]). A credential is a few KiB at most.
const MAX_OUTPUT_BYTES: u64 = kubecred_core::MAX_FILE_BYTES;

/// A plugin ready to run: the checks that need no run are done, the program is found.
pub(super) struct Plugin {
    /// The command as the kubeconfig names it (in messages).
    pub(super) command: String,
    /// The program that runs: the command made absolute (against the kubeconfig's directory,
    /// or found on `PATH`).
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) api_version: String,
    /// Whether the plugin gets stdin (a terminal) and `spec.interactive: true`.
    pub(super) interactive: bool,
    /// The `KUBERNETES_EXEC_INFO` value.
    pub(super) exec_info: String,
    pub(super) timeout: Duration,
    /// The exec credential cache's key: see [`cache::key`].
    pub(super) cache_key: [u8; 32],
}

impl Plugin {
    /// Checks `config` and finds its program. See [`super::ExecCredentials::new`].
    pub(super) fn new(
        config: ExecConfig,
        cluster: Option<ClusterInfo>,
        settings: &ExecSettings,
    ) -> Result<Self, SourceError> {
        let ExecConfig {
            api_version,
            command,
            args,
            env,
            install_hint,
            provide_cluster_info,
            interactive_mode,
            base_dir,
        } = config;
        let invalid = |problem: String| Failure::new(&command, problem).into_source_error();
        if command.trim().is_empty() {
            return Err(SourceError::InvalidSetting {
                setting: "an exec plugin".to_owned(),
                problem: "has an empty command".to_owned(),
            });
        }
        let default_mode = match api_version.as_str() {
            API_V1 => None,
            API_V1BETA1 => Some(InteractiveMode::IfAvailable),
            API_V1ALPHA1 => {
                return Err(invalid(format!(
                    "uses apiVersion {API_V1ALPHA1}, which was removed in Kubernetes 1.24: use {API_V1} (with interactiveMode) or {API_V1BETA1}"
                )))
            }
            other => {
                return Err(invalid(format!(
                    "uses apiVersion {}, which kubecred does not know: use {API_V1} or {API_V1BETA1}",
                    Shown::text(other)
                )))
            }
        };
        let mode = match interactive_mode.as_deref() {
            Some("Never") => InteractiveMode::Never,
            Some("IfAvailable") => InteractiveMode::IfAvailable,
            Some("Always") => InteractiveMode::Always,
            Some(other) => {
                return Err(invalid(format!(
                    "has interactiveMode {}, not Never, IfAvailable or Always",
                    Shown::text(other)
                )))
            }
            None => default_mode.ok_or_else(|| {
                invalid(format!(
                    "has no interactiveMode, which {API_V1} requires (Never, IfAvailable or Always)"
                ))
            })?,
        };
        if mode == InteractiveMode::Always && !settings.stdin_is_terminal {
            return Err(invalid(
                "has interactiveMode Always, but stdin is not a terminal".to_owned(),
            ));
        }
        let interactive = mode != InteractiveMode::Never && settings.stdin_is_terminal;
        let program = find_program(&command, &base_dir, &*settings.env)
            .map_err(|problem| invalid(with_hint(problem, install_hint.as_deref())))?;
        let cluster = cluster.filter(|_| provide_cluster_info);
        let cache_key = cache::key(
            &api_version,
            &program,
            &args,
            &env,
            cluster.as_ref(),
            &*settings.env,
        );
        Ok(Self {
            cache_key,
            exec_info: wire::request_json(&api_version, interactive, cluster.as_ref()),
            command,
            program,
            args,
            env,
            api_version,
            interactive,
            timeout: settings.timeout,
        })
    }

    /// Runs the plugin once and decodes what it printed.
    ///
    /// The plugin gets `args`, the process environment with `env` and `KUBERNETES_EXEC_INFO`
    /// on top, stdin only when interactive (else `/dev/null`), this process's stderr; its
    /// stdout is read (at most 1 MiB) into a buffer that is zeroed afterwards. A timeout, too
    /// much output, or dropping the future kills it; a non-interactive run is in a process
    /// group of its own, and the whole group is killed, with every process it started (a
    /// `sleep`, a helper) still in it. (An interactive run stays in the terminal's group,
    /// which it needs to read the terminal: only the plugin itself is killed.)
    ///
    /// # Errors
    ///
    /// A [`Failure`] naming the command when it cannot start, runs longer than the timeout
    /// (it is killed, and reaped, first), prints more than 1 MiB, exits non-zero (naming the
    /// status; its stdout is never shown), or prints no usable `ExecCredential`.
    pub(super) async fn run(&self) -> Result<wire::Decoded, Failure> {
        let fail = |problem: String| Failure::new(&self.command, problem);
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(EXEC_INFO_VAR, &self.exec_info)
            .stdin(if self.interactive {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if !self.interactive {
            // Not for an interactive run: a process outside the terminal's foreground group
            // is stopped (SIGTTIN) when it reads its stdin, the terminal.
            command.process_group(0);
        }
        let mut child = command
            .spawn()
            .map_err(|e| fail(format!("could not be started: {e}")))?;
        // Declared after `child`, so dropped before it: the group is killed while the plugin
        // is not yet reaped, so its id cannot have been reused.
        let mut group = GroupKill::new(child.id().filter(|_| !self.interactive));
        let mut stdout = child.stdout.take().ok_or_else(|| {
            fail("could not be started: its stdout could not be captured".to_owned())
        })?;
        let mut output = Zeroizing::new(Vec::new());
        let run = async {
            let read = (&mut stdout)
                .take(MAX_OUTPUT_BYTES + 1)
                .read_to_end(&mut output)
                .await;
            if read.is_ok() && output.len() as u64 > MAX_OUTPUT_BYTES {
                return None;
            }
            Some((read, child.wait().await))
        };
        let outcome = tokio::time::timeout(self.timeout, run).await;
        drop(stdout);
        let (read, status) = match outcome {
            Ok(Some(done)) => {
                // It exited on its own: what it left running is its own business, as with
                // kubectl.
                group.disarm();
                done
            }
            Ok(None) => {
                group.kill();
                let _ = child.kill().await;
                return Err(fail("printed more than 1 MiB on stdout".to_owned()));
            }
            Err(_elapsed) => {
                // SIGKILL to the whole group, then reap the plugin, so that no process is
                // left behind.
                group.kill();
                let _ = child.kill().await;
                return Err(fail(format!(
                    "ran longer than the exec timeout of {} and was killed (--exec-timeout on the CLI, ClientBuilder::exec_timeout in code)",
                    humantime::format_duration(self.timeout)
                )));
            }
        };
        let status = status.map_err(|e| fail(format!("could not be waited for: {e}")))?;
        if !status.success() {
            let how = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                (None, None) => "failed".to_owned(),
            };
            return Err(fail(format!(
                "{how} (its stderr went to this program's stderr; its stdout is not shown)"
            )));
        }
        read.map_err(|e| fail(format!("could not be read from: {e}")))?;
        wire::parse_output(&output, &self.api_version, &self.command)
    }
}

/// Kills a plugin's process group (SIGKILL) when told to, or when dropped armed: a plugin
/// run that is cancelled leaves no process of its group behind.
struct GroupKill {
    /// The group's id (the plugin's pid, as it leads its group); `None` once disarmed.
    group: Option<rustix::process::Pid>,
}

impl GroupKill {
    /// Armed for the group led by `pid` (`None`, the child already reaped: nothing to kill).
    fn new(pid: Option<u32>) -> Self {
        let group = pid
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(rustix::process::Pid::from_raw);
        Self { group }
    }

    /// Kills the group now (a group already gone is fine), and disarms.
    fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            if let Err(e) =
                rustix::process::kill_process_group(group, rustix::process::Signal::KILL)
            {
                if e != rustix::io::Errno::SRCH {
                    tracing::debug!(error = %e, "could not kill the exec plugin's process group");
                }
            }
        }
    }

    /// The plugin finished: nothing is killed on drop.
    fn disarm(&mut self) {
        self.group = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// client-go's `interactiveMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InteractiveMode {
    Never,
    IfAvailable,
    Always,
}

/// The program `command` names: with a `/`, a path (relative ones against `base_dir`, the
/// kubeconfig's directory, joined once), made absolute against the current directory (so
/// that a relative kubeconfig path keeps working if the directory changes), that must exist; without one, the first executable file of that
/// name in a directory of `PATH` (read through `env`; relative and empty entries are skipped,
/// as Go's `exec.LookPath` refuses results relative to the current directory).
///
/// # Errors
///
/// What is wrong, as a sentence fragment after the command's name.
fn find_program(command: &str, base_dir: &Path, env: &dyn Environment) -> Result<PathBuf, String> {
    if command.contains('/') {
        let joined = base_dir.join(command);
        let path = std::path::absolute(&joined).unwrap_or(joined);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "was not found: {} is not a file",
                Shown::path(&path)
            ))
        };
    }
    let path = env.path_var("PATH").map_err(|e| e.to_string())?;
    let found = path.as_deref().and_then(|path| {
        std::env::split_paths(path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(command))
            .find(|candidate| is_executable(candidate))
    });
    match (found, path) {
        (Some(program), _) => Ok(program),
        (None, Some(_)) => Err("was not found on PATH".to_owned()),
        (None, None) => Err("was not found: PATH is not set".to_owned()),
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `problem`, followed by the kubeconfig's `installHint` when it has one (client-go prints
/// it too).
/// The hint's lines are joined by spaces, so that the error stays one paragraph.
fn with_hint(problem: String, hint: Option<&str>) -> String {
    let hint = hint.map(|h| h.split_whitespace().collect::<Vec<_>>().join(" "));
    match hint.filter(|h| !h.is_empty()) {
        Some(hint) => format!("{problem}; its installHint says: {}", Shown::text(&hint)),
        None => problem,
    }
}
