//! `cargo xtask demo`: the real `kubecred` binary, run the way a person would run it in a pod,
//! on a laptop with `KUBE_*` variables, on a laptop with a kubeconfig whose user runs an exec
//! plugin, and on a laptop with `kubectl proxy`.
//!
//! The demo builds the binary, then plays each scenario: a scenario sets up a stand-in world
//! (from `kubecred-testing`: an API server on 127.0.0.1, a kubelet-style service-account
//! directory, a kubeconfig and an exec credential plugin, the real `kubectl proxy`), runs `kubecred` in it with a clean environment, prints
//! each command line and its output, and says what went wrong if the result is not the
//! expected one. A scenario is one small function listed in [`SCENARIOS`]. The `kubectl proxy`
//! scenario needs `kubectl` on `PATH`; without it, it says so and is skipped.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use kubecred_testing::{
    closed_port, ApiServer, Authentication, Exec, ExecPlugin, Kubeconfig, KubeconfigDir,
    KubectlProxy, Pod, ProxyListen, RecordedRequest, User,
};

/// A scenario: sets up its world, runs `kubecred` in it, and returns what went wrong.
type Scenario = fn(&Kubecred) -> Result<(), String>;

/// How an error caused by a closed stdout begins.
const STDOUT_CLOSED: &str = "stdout is closed";

/// `println!` that returns an error from the enclosing function (a `Result<_, String>`) when
/// stdout is closed, instead of panicking as `println!` does.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
            .map_err(|e| format!("{STDOUT_CLOSED}: {e}"))?
    }};
}

/// Every scenario, in the order the demo plays them.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("in-cluster", in_cluster),
    ("env", env),
    ("kubeconfig with an exec plugin", kubeconfig_exec),
    ("kubectl proxy", kubectl_proxy),
];

/// The pod's token: JWT-shaped, with an `exp` of 2031-01-01T00:00:00Z so `explain` has an
/// expiry to show. The demo checks that no output ever contains it.
const POD_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8ifQ",
    ".eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVtbzpkZWZhdWx0IiwiZXhwIjoxOTI0OTkyMDAwfQ",
    ".ZGVtby1zaWduYXR1cmUtbm90LWEtcmVhbC1vbmU",
);
/// The label the stand-in server records for [`POD_TOKEN`].
const POD_TOKEN_LABEL: &str = "demo-pod";

/// The token a person on a laptop puts in `KUBE_TOKEN`: JWT-shaped like [`POD_TOKEN`], for
/// another service account. The demo checks that no output ever contains it.
const LAPTOP_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8ifQ",
    ".eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVtbzpsYXB0b3AiLCJleHAiOjE5MjQ5OTIwMDB9",
    ".ZGVtby1zaWduYXR1cmUtb2YtdGhlLWxhcHRvcC10b2tlbg",
);
/// The label the stand-in server records for [`LAPTOP_TOKEN`].
const LAPTOP_TOKEN_LABEL: &str = "demo-laptop";

/// The token the laptop's exec credential plugin prints (as `aws eks get-token` would): the
/// demo checks that no output ever contains it.
const PLUGIN_TOKEN: &str = "demo-exec-plugin-token-printed-on-its-stdout";
/// The label the stand-in server records for [`PLUGIN_TOKEN`].
const PLUGIN_TOKEN_LABEL: &str = "demo-exec-plugin";

/// The token in `kubectl proxy`'s own kubeconfig: kubecred never sees it.
const KUBECTL_TOKEN: &str = "demo-kubectl-proxy-token-from-its-kubeconfig";
/// The label the stand-in server records for [`KUBECTL_TOKEN`].
const KUBECTL_TOKEN_LABEL: &str = "kubectl-proxy";

/// Builds `kubecred`, plays every scenario, and exits 1 at the first that goes wrong. A reader
/// that goes away (`cargo xtask demo | head`) ends the demo quietly, servers and `kubectl
/// proxy` stopped as usual.
pub(crate) fn run() -> ExitCode {
    let kubecred = match Kubecred::build() {
        Ok(kubecred) => kubecred,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    match play(&kubecred) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.starts_with(STDOUT_CLOSED) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn play(kubecred: &Kubecred) -> Result<(), String> {
    for (index, (name, scenario)) in SCENARIOS.iter().enumerate() {
        if index > 0 {
            say!();
        }
        say!(
            "# ── scenario {}: {name} (a fresh shell: nothing carries over) ──",
            index + 1
        );
        scenario(kubecred).map_err(|e| {
            if e.starts_with(STDOUT_CLOSED) {
                e
            } else {
                format!("the {name} scenario went wrong: {e}")
            }
        })?;
    }
    say!();
    say!("# done: every check of the demo passed (a scenario it skipped says so above)");
    Ok(())
}

/// In a pod: `KUBERNETES_SERVICE_HOST`/`PORT` set by the kubelet, the service account's
/// files mounted, and `kubecred explain` then `kubecred get /api`.
fn in_cluster(kubecred: &Kubecred) -> Result<(), String> {
    let pod = Pod::builder()
        .token(POD_TOKEN_LABEL, POD_TOKEN)
        .namespace("demo")
        .start()
        .map_err(|e| format!("cannot start the stand-in pod: {e}"))?;
    let (server, dir) = (&pod.server, &pod.dir);
    say!(
        "# A stand-in API server on {} with its own CA, and a kubelet-style service-account \
         directory (token, ca.crt, namespace) in {}: a pod, on this machine.",
        server.addr(),
        dir.path().display(),
    );
    let vars = pod.in_cluster_vars();
    let env: Vec<(&str, String)> = vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    say!(
        "# Set by the kubelet in every container (the service-account directory moved from \
         /var/run/secrets/kubernetes.io/serviceaccount, which this machine does not have):"
    );
    for (name, value) in &env {
        say!("$ export {name}={value}");
    }

    let explain = kubecred.run(&["explain"], &env)?;
    say!();
    let get = kubecred.run(&["get", "/api"], &env)?;
    say!();
    let requests = server.requests();
    say!("# {}", seen(&requests));

    let mut problems = Vec::new();
    explain.expect_success(&mut problems);
    explain.expect_chosen("in-cluster", &mut problems);
    get.expect_success(&mut problems);
    get.expect_api_versions(&mut problems);
    expect_only_token(&requests, POD_TOKEN_LABEL, &mut problems);
    for run in [&explain, &get] {
        run.expect_no_secret(signature(POD_TOKEN), &mut problems);
    }
    outcome(problems)
}

/// On a laptop: `KUBE_HOST`, `KUBE_TOKEN` and `KUBE_CLUSTER_CA_CERT_DATA` exported by hand (no
/// service account, no kubelet variables), then `kubecred explain` and `kubecred get /api`.
fn env(kubecred: &Kubecred) -> Result<(), String> {
    let server = ApiServer::builder()
        .token(LAPTOP_TOKEN_LABEL, LAPTOP_TOKEN)
        .start()
        .map_err(|e| format!("cannot start the stand-in API server: {e}"))?;
    let closed = closed_port().map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    say!(
        "# A stand-in API server on {} with its own CA, and no service account: a laptop, \
         with the server's URL, a token and its CA exported as KUBE_* variables. \
         KUBECRED_PROXY_URL points the proxy source at a closed port, so that a kubectl proxy \
         on 127.0.0.1:8001 cannot change what follows.",
        server.addr(),
    );
    let env = [
        ("KUBE_HOST", server.url()),
        ("KUBE_TOKEN", LAPTOP_TOKEN.to_owned()),
        ("KUBE_CLUSTER_CA_CERT_DATA", server.ca_pem()),
        ("KUBECRED_PROXY_URL", format!("http://127.0.0.1:{closed}")),
    ];
    for (name, value) in &env {
        match *name {
            "KUBE_TOKEN" => say!("$ export {name}=\"<a bearer token: never printed>\""),
            "KUBE_CLUSTER_CA_CERT_DATA" => {
                say!("$ export {name}=\"<the stand-in's CA certificate, PEM>\"")
            }
            _ => say!("$ export {name}={value}"),
        }
    }

    let explain = kubecred.run(&["explain"], &env)?;
    say!();
    let get = kubecred.run(&["get", "/api"], &env)?;
    say!();
    let requests = server.requests();
    say!("# {}", seen(&requests));

    let mut problems = Vec::new();
    explain.expect_success(&mut problems);
    explain.expect_chosen("env", &mut problems);
    get.expect_success(&mut problems);
    get.expect_api_versions(&mut problems);
    expect_only_token(&requests, LAPTOP_TOKEN_LABEL, &mut problems);
    for run in [&explain, &get] {
        run.expect_no_secret(signature(LAPTOP_TOKEN), &mut problems);
    }
    outcome(problems)
}

/// On a laptop with a kubeconfig (`KUBECONFIG`), whose user runs an exec credential plugin,
/// as on a managed cluster: `kubecred explain` (which reports the plugin without running it),
/// then `kubecred get /api` (which runs it once and authenticates with the token it printed).
fn kubeconfig_exec(kubecred: &Kubecred) -> Result<(), String> {
    let server = ApiServer::builder()
        .token(PLUGIN_TOKEN_LABEL, PLUGIN_TOKEN)
        .start()
        .map_err(|e| format!("cannot start the stand-in API server: {e}"))?;
    let plugin =
        ExecPlugin::new(PLUGIN_TOKEN).map_err(|e| format!("cannot write the exec plugin: {e}"))?;
    let dir = KubeconfigDir::new().map_err(|e| format!("cannot make a directory: {e}"))?;
    let config = Kubeconfig::for_server(
        &server,
        User::new("laptop").exec(
            Exec::plugin(&plugin).install_hint("the demo's plugin is made by kubecred-testing"),
        ),
    );
    let kubeconfig = dir
        .write("config", &config)
        .map_err(|e| format!("cannot write the kubeconfig: {e}"))?;
    let closed = closed_port().map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    say!(
        "# A stand-in API server on {} with its own CA, and a laptop's kubeconfig whose user \
         runs an exec credential plugin ({}, a script that prints an ExecCredential holding a \
         token, as `aws eks get-token` or `kubelogin` do). No KUBE_* variables, no service \
         account; KUBECRED_PROXY_URL points the proxy source at a closed port.",
        server.addr(),
        plugin.command().display(),
    );
    say!("$ cat {}", kubeconfig.display());
    let text = std::fs::read_to_string(&kubeconfig)
        .map_err(|e| format!("cannot read {}: {e}", kubeconfig.display()))?;
    let ca = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("certificate-authority-data: "))
        .unwrap_or_default()
        .to_owned();
    let shown = if ca.is_empty() {
        text.clone()
    } else {
        text.replace(&ca, "<the stand-in's CA certificate, base64 of the PEM>")
    };
    say!("{}", shown.trim_end());
    let env = [
        ("KUBECONFIG", kubeconfig.display().to_string()),
        ("HOME", dir.path().display().to_string()),
        ("KUBECRED_PROXY_URL", format!("http://127.0.0.1:{closed}")),
    ];
    for (name, value) in &env {
        say!("$ export {name}={value}");
    }

    let explain = kubecred.run(&["explain"], &env)?;
    let runs_after_explain = plugin.runs();
    say!();
    let get = kubecred.run(&["get", "/api"], &env)?;
    say!();
    let requests = server.requests();
    say!(
        "# {} The plugin ran {} time(s): none for explain, once for get.",
        seen(&requests),
        plugin.runs()
    );

    let mut problems = Vec::new();
    explain.expect_success(&mut problems);
    explain.expect_chosen("kubeconfig", &mut problems);
    if runs_after_explain != 0 {
        problems.push(format!(
            "`kubecred explain` ran the exec plugin {runs_after_explain} time(s), expected none"
        ));
    }
    get.expect_success(&mut problems);
    get.expect_api_versions(&mut problems);
    expect_only_token(&requests, PLUGIN_TOKEN_LABEL, &mut problems);
    if plugin.runs() != 1 {
        problems.push(format!(
            "the exec plugin ran {} time(s) in all, expected exactly 1 (by `kubecred get`)",
            plugin.runs()
        ));
    }
    for run in [&explain, &get] {
        run.expect_no_secret(PLUGIN_TOKEN, &mut problems);
    }
    outcome(problems)
}

/// On a laptop where kubectl works: the real `kubectl proxy` in front of the stand-in, with a
/// kubeconfig of its own; `kubecred` gets no variables and no credentials, only the proxy's
/// address. Skipped, saying so, when `kubectl` is not on `PATH`.
fn kubectl_proxy(kubecred: &Kubecred) -> Result<(), String> {
    if !on_path("kubectl") {
        say!(
            "# The kubectl proxy scenario is skipped: kubectl is not on PATH, and the scenario \
             runs the real `kubectl proxy`. Install kubectl (Debian: `apt-get install \
             kubernetes-client`; elsewhere: https://kubernetes.io/docs/tasks/tools/) and run \
             `cargo xtask demo` again."
        );
        return Ok(());
    }
    let server = ApiServer::builder()
        .token(KUBECTL_TOKEN_LABEL, KUBECTL_TOKEN)
        .start()
        .map_err(|e| format!("cannot start the stand-in API server: {e}"))?;
    let proxy = KubectlProxy::start(&server, KUBECTL_TOKEN, ProxyListen::Loopback)
        .map_err(|e| format!("cannot start kubectl proxy: {e}"))?;
    let url = proxy.url().to_owned();
    say!(
        "# A stand-in API server on {} with its own CA, and the real kubectl proxy in front of \
         it, holding a kubeconfig of its own (its token is labelled {KUBECTL_TOKEN_LABEL:?}): a \
         laptop where kubectl works. kubecred gets no KUBE_* variables and no service account, \
         only the proxy's address.",
        server.addr(),
    );
    say!(
        "$ kubectl proxy --kubeconfig={} --port=0 &",
        proxy.kubeconfig().display()
    );
    say!(
        "Starting to serve on {}",
        url.strip_prefix("http://").unwrap_or(&url)
    );

    let explain = kubecred.run(&["explain", "--proxy-url", &url], &[])?;
    say!();
    let get = kubecred.run(&["get", "/api", "--proxy-url", &url], &[])?;
    say!();
    let requests = server.requests();
    say!(
        "# {} kubecred sent no credentials: kubectl proxy added its own (it would have \
         forwarded kubecred's in their place).",
        seen(&requests)
    );

    let mut problems = Vec::new();
    explain.expect_success(&mut problems);
    explain.expect_chosen("proxy", &mut problems);
    get.expect_success(&mut problems);
    get.expect_api_versions(&mut problems);
    expect_only_token(&requests, KUBECTL_TOKEN_LABEL, &mut problems);
    for run in [&explain, &get] {
        run.expect_no_secret(KUBECTL_TOKEN, &mut problems);
    }
    outcome(problems)
}

/// The part of a JWT that is secret, its signature: any print of the token holds it.
fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or(token)
}

/// `Ok` when there is no problem, else every problem in one line.
fn outcome(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Checks that the stand-in server saw kubecred's `GET /api` (by its `User-Agent`), and that
/// every request it saw authenticated with the token labelled `label`.
fn expect_only_token(requests: &[RecordedRequest], label: &str, problems: &mut Vec<String>) {
    let from_kubecred = |r: &RecordedRequest| {
        r.user_agent
            .as_deref()
            .is_some_and(|agent| agent.starts_with("kubecred/"))
    };
    if !requests
        .iter()
        .any(|r| r.method == "GET" && r.path == "/api" && from_kubecred(r))
    {
        problems.push("the stand-in API server saw no GET /api from kubecred".to_owned());
    }
    for request in requests {
        let with_label = matches!(
            &request.authentication,
            Authentication::Token { label: seen } if seen == label
        );
        if !with_label {
            problems.push(format!(
                "the stand-in API server saw {} {} authenticated as {:?}, expected the token labelled {label:?}",
                request.method, request.path, request.authentication
            ));
        }
    }
}

/// Whether an executable file called `program` is in a directory of `PATH`.
#[allow(clippy::disallowed_methods)] // xtask runs outside kubecred: our PATH, as a shell's
fn on_path(program: &str) -> bool {
    let file = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(&file))))
}

#[cfg(unix)]
fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &std::path::Path) -> bool {
    path.is_file()
}

/// What the stand-in server saw, in one line: method, path and how each request
/// authenticated (a token by its label, never its value).
fn seen(requests: &[RecordedRequest]) -> String {
    if requests.is_empty() {
        return "The stand-in API server saw no request.".to_owned();
    }
    let requests: Vec<String> = requests
        .iter()
        .map(|request| {
            let authentication = match &request.authentication {
                Authentication::Token { label } => format!("the token labelled {label:?}"),
                Authentication::Anonymous => "no credentials".to_owned(),
                Authentication::UnknownToken => "a token it does not know".to_owned(),
                Authentication::ClientCertificate { common_name } => {
                    format!("the client certificate of {common_name:?}")
                }
                other => format!("{other:?}"),
            };
            format!("{} {} with {authentication}", request.method, request.path)
        })
        .collect();
    let count = match requests.len() {
        1 => "1 request".to_owned(),
        n => format!("{n} requests"),
    };
    format!(
        "The stand-in API server saw {count}: {}.",
        requests.join("; ")
    )
}

/// The `kubecred` binary, freshly built.
struct Kubecred {
    path: PathBuf,
}

impl Kubecred {
    /// `cargo build -p kubecred-cli --bin kubecred`, then the binary in the target directory.
    fn build() -> Result<Self, String> {
        let args = ["build", "-p", "kubecred-cli", "--bin", "kubecred"];
        eprintln!(
            "demo: building kubecred (cargo {}; a first build takes about a minute on 2 cores)",
            args.join(" ")
        );
        let status = crate::cargo()
            .args(args)
            .current_dir(crate::workspace_root())
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("`cargo {}` failed ({status})", args.join(" ")));
        }
        let path = crate::target_dir()
            .join("debug")
            .join(format!("kubecred{}", std::env::consts::EXE_SUFFIX));
        if !path.is_file() {
            return Err(format!(
                "cargo built kubecred, but {} does not exist (is the target directory elsewhere?)",
                path.display()
            ));
        }
        Ok(Self { path })
    }

    /// Runs `kubecred ARGS` with exactly `env` and `PATH` (nothing else is inherited), and
    /// prints the command line as a person would type it, then the output.
    fn run(&self, args: &[&str], env: &[(&str, String)]) -> Result<Run, String> {
        let line = format!("kubecred {}", args.join(" "));
        say!("$ {line}");
        let mut command = Command::new(&self.path);
        command
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
        #[allow(clippy::disallowed_methods)] // the binary gets our PATH, and no other variable
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let output = command
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.path.display()))?;
        let run = Run {
            line,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        run.print()?;
        Ok(run)
    }
}

/// One finished run of `kubecred`.
struct Run {
    line: String,
    /// The exit code (`None` when a signal ended it).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn print(&self) -> Result<(), String> {
        for stream in [&self.stdout, &self.stderr] {
            if !stream.is_empty() {
                say!("{}", stream.strip_suffix('\n').unwrap_or(stream));
            }
        }
        if self.code != Some(0) {
            say!("[{}]", self.exit());
        }
        Ok(())
    }

    fn exit(&self) -> String {
        match self.code {
            Some(code) => format!("exit code {code}"),
            None => "ended by a signal".to_owned(),
        }
    }

    fn expect_success(&self, problems: &mut Vec<String>) {
        if self.code != Some(0) {
            problems.push(format!(
                "`{}` failed ({}, expected exit code 0)",
                self.line,
                self.exit()
            ));
        }
    }

    /// Checks that `explain` reported `source` as the chosen one.
    fn expect_chosen(&self, source: &str, problems: &mut Vec<String>) {
        let chosen = self.stdout.lines().any(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some(source) && words.next() == Some("chosen")
        });
        if !chosen {
            problems.push(format!("`{}` did not report {source} as chosen", self.line));
        }
    }

    /// Checks that a successful `get /api` printed an `APIVersions` object with `v1`.
    fn expect_api_versions(&self, problems: &mut Vec<String>) {
        if self.code != Some(0) {
            return;
        }
        for needle in ["\"APIVersions\"", "\"v1\""] {
            if !self.stdout.contains(needle) {
                problems.push(format!("`{}` printed no {needle}", self.line));
            }
        }
    }

    fn expect_no_secret(&self, secret: &str, problems: &mut Vec<String>) {
        for (name, stream) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if stream.contains(secret) {
                problems.push(format!("`{}` printed the token on {name}", self.line));
            }
        }
    }
}
