//! Running the real `kubecred` binary in a pod-like setting: a stand-in API server over TLS
//! and a kubelet-style service-account directory.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use kubecred_testing::{ApiServer, Authentication, ServiceAccountFiles};

/// The pod's token: a JWT whose `exp` is 2030-01-01T00:00:00Z (1893456000). Distinctive, so
/// the no-secret test can search every output for it (or for its signature).
pub(crate) const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE4OTM0NTYwMDAsInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDp0ZWFtLWE6YXBwIn0.c2VjcmV0LXNpZ25hdHVyZS1rdWJlY3JlZA";
/// The part of the token that is its secret: the signature.
pub(crate) const TOKEN_SIGNATURE: &str = "c2VjcmV0LXNpZ25hdHVyZS1rdWJlY3JlZA";

/// Secrets registered by the tests (beyond [`TOKEN`]): every run is searched for each of them.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers a private key (PEM) as a secret: each line of its body, and its base64 form as
/// the `_DATA` variables take it. Returns the PEM for convenience.
pub(crate) fn secret_key(key_pem: &str) -> &str {
    use base64::Engine as _;
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    secrets.extend(
        key_pem
            .lines()
            .filter(|line| !line.starts_with("-----") && line.len() >= 16)
            .map(str::to_owned),
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(key_pem);
    secrets.push(b64[20..60].to_owned());
    key_pem
}

/// Registers `value` (a token or a password) as a secret: every run is searched for it.
/// Returns it for convenience.
pub(crate) fn secret(value: &str) -> &str {
    SECRETS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(value.to_owned());
    value
}

/// Asserts that `run` printed no secret: the token, its signature, or a registered key.
#[track_caller]
pub(crate) fn assert_no_secret(run: &Run) {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let needles = [TOKEN, TOKEN_SIGNATURE]
        .into_iter()
        .chain(secrets.iter().map(String::as_str));
    for needle in needles {
        assert!(
            !run.stdout.contains(needle) && !run.stderr.contains(needle),
            "a run printed a secret ({}...):\n{run:#?}",
            &needle[..8]
        );
    }
}

/// One finished run of `kubecred`.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    #[allow(dead_code)] // shown by Debug when an assertion fails
    pub(crate) args: Vec<String>,
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self:#?}"))
    }

    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code: expected {code}, got {}\n{self:#?}",
            self.code
        );
        self
    }

    #[track_caller]
    pub(crate) fn assert_success_body(&self) -> serde_json::Value {
        self.assert_code(0);
        assert_eq!(self.stderr, "", "stderr of a success:\n{self:#?}");
        self.json()
    }

    #[track_caller]
    pub(crate) fn assert_failure(&self, fragments: &[&str]) {
        self.assert_code(1);
        assert_eq!(self.stdout, "", "stdout of a failure:\n{self:#?}");
        for fragment in fragments {
            assert!(
                self.stderr.contains(fragment),
                "stderr lacks {fragment:?}:\n{}",
                self.stderr
            );
        }
    }
}

/// Runs `kubecred ARGS` with exactly `env` (the test process's environment is not inherited),
/// the proxy pinned to a closed port unless the test chose one (`KUBECRED_PROXY_URL` or
/// `--proxy-url`), so that a `kubectl proxy` on 8001 never changes what a test sees.
pub(crate) fn kubecred<S: AsRef<str>>(args: &[S], env: &[(String, String)]) -> Run {
    let chose_proxy = env.iter().any(|(k, _)| k == "KUBECRED_PROXY_URL")
        || args.iter().any(|a| a.as_ref().starts_with("--proxy-url"));
    let mut env = env.to_vec();
    if !chose_proxy {
        env.push(var(
            "KUBECRED_PROXY_URL",
            &format!("http://127.0.0.1:{}", closed_port()),
        ));
    }
    kubecred_unpinned(args, &env)
}

/// Runs `kubecred ARGS` with exactly `env`: the default proxy address stays in the chain.
pub(crate) fn kubecred_unpinned<S: AsRef<str>>(args: &[S], env: &[(String, String)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_kubecred"))
        .args(&args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("the kubecred binary runs");
    let run = Run {
        args,
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_secret(&run);
    run
}

/// A pod: a [`kubecred_testing::Pod`] whose server accepts [`TOKEN`] (label `pod`), and its
/// in-cluster variables (the kubelet's and `KUBECRED_SERVICEACCOUNT_DIR`) for the binary.
pub(crate) struct Pod {
    pod: kubecred_testing::Pod,
    pub(crate) env: Vec<(String, String)>,
}

impl Pod {
    pub(crate) fn new() -> Self {
        Self::of(kubecred_testing::Pod::builder().token("pod", TOKEN))
    }

    pub(crate) fn with_server(server: ApiServer) -> Self {
        Self::of(
            kubecred_testing::Pod::builder()
                .server(server)
                .token("pod", TOKEN),
        )
    }

    fn of(builder: kubecred_testing::PodBuilder) -> Self {
        let pod = builder.namespace("team-a\n").start().unwrap();
        let env = pod.in_cluster_vars();
        Self { pod, env }
    }

    /// Rewrites the service-account files (atomically, as the kubelet does).
    pub(crate) fn files(&self, files: ServiceAccountFiles) {
        self.dir.update(&files).unwrap();
    }

    /// The environment with `name` set to `value` (or removed when `value` is `None`).
    pub(crate) fn env_with(&self, name: &str, value: Option<&str>) -> Vec<(String, String)> {
        let mut env: Vec<_> = self
            .env
            .iter()
            .filter(|(k, _)| k != name)
            .cloned()
            .collect();
        if let Some(value) = value {
            env.push(var(name, value));
        }
        env
    }

    pub(crate) fn get(&self, path: &str) -> Run {
        kubecred(&["get", path], &self.env)
    }

    /// The labels of the tokens the server saw, in order.
    pub(crate) fn authentications(&self) -> Vec<Authentication> {
        self.server
            .requests()
            .into_iter()
            .map(|r| r.authentication)
            .collect()
    }
}

/// The server and the directory, as `pod.server` and `pod.dir`.
impl std::ops::Deref for Pod {
    type Target = kubecred_testing::Pod;

    fn deref(&self) -> &kubecred_testing::Pod {
        &self.pod
    }
}

pub(crate) fn var(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

pub(crate) fn path_str(path: &Path) -> String {
    path.display().to_string()
}

/// A loopback port nothing listens on ([`kubecred_testing::closed_port`]).
pub(crate) fn closed_port() -> u16 {
    kubecred_testing::closed_port().unwrap()
}

/// The report of the source called `name` in an `explain --output json` report.
pub(crate) fn source_report<'a>(
    report: &'a serde_json::Value,
    name: &str,
) -> &'a serde_json::Value {
    report["sources"]
        .as_array()
        .and_then(|sources| sources.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no source {name} in {report:#}"))
}
