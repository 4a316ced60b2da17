//! `cargo xtask demo`: the real `kubecred` binary, run the way a person in a pod would run it.
//!
//! The demo builds the binary, then plays each scenario: a scenario sets up a stand-in world
//! (here, from `kubecred-testing`: an API server on 127.0.0.1 and a kubelet-style
//! service-account directory), runs `kubecred` in it with a clean environment, prints each
//! command line and its output, and says what went wrong if the result is not the expected
//! one. A scenario is one small function listed in [`SCENARIOS`].

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use kubecred_testing::{
    ApiServer, Authentication, RecordedRequest, ServiceAccountDir, ServiceAccountFiles,
};

/// A scenario: sets up its world, runs `kubecred` in it, and returns what went wrong.
type Scenario = fn(&Kubecred) -> Result<(), String>;

/// Every scenario, in the order the demo plays them.
const SCENARIOS: &[(&str, Scenario)] = &[("in-cluster", in_cluster)];

/// The pod's token: JWT-shaped, with an `exp` of 2031-01-01T00:00:00Z so `explain` has an
/// expiry to show. The demo checks that no output ever contains it.
const POD_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8ifQ",
    ".eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVtbzpkZWZhdWx0IiwiZXhwIjoxOTI0OTkyMDAwfQ",
    ".ZGVtby1zaWduYXR1cmUtbm90LWEtcmVhbC1vbmU",
);
/// The label the stand-in server records for [`POD_TOKEN`].
const POD_TOKEN_LABEL: &str = "demo-pod";

/// Builds `kubecred`, plays every scenario, and exits 1 at the first that goes wrong.
pub(crate) fn run() -> ExitCode {
    let kubecred = match Kubecred::build() {
        Ok(kubecred) => kubecred,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (index, (name, scenario)) in SCENARIOS.iter().enumerate() {
        if index > 0 {
            println!();
        }
        if let Err(e) = scenario(&kubecred) {
            eprintln!("demo: the {name} scenario went wrong: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// In a pod: `KUBERNETES_SERVICE_HOST`/`PORT` set by the kubelet, the service account's
/// files mounted, and `kubecred explain` then `kubecred get /api`.
fn in_cluster(kubecred: &Kubecred) -> Result<(), String> {
    let server = ApiServer::builder()
        .token(POD_TOKEN_LABEL, POD_TOKEN)
        .start()
        .map_err(|e| format!("cannot start the stand-in API server: {e}"))?;
    let dir = ServiceAccountDir::new(
        &ServiceAccountFiles::new()
            .token(format!("{POD_TOKEN}\n"))
            .ca_crt(server.ca_pem())
            .namespace("demo"),
    )
    .map_err(|e| format!("cannot write the service-account directory: {e}"))?;
    println!(
        "# A stand-in API server on {} with its own CA, and a kubelet-style service-account \
         directory (token, ca.crt, namespace) in {}: a pod, on this machine.",
        server.addr(),
        dir.path().display(),
    );
    let env = [
        ("KUBERNETES_SERVICE_HOST", server.host()),
        ("KUBERNETES_SERVICE_PORT", server.port().to_string()),
        (
            "KUBECRED_SERVICEACCOUNT_DIR",
            dir.path().display().to_string(),
        ),
    ];

    let explain = kubecred.run(&["explain"], &env)?;
    println!();
    let get = kubecred.run(&["get", "/api"], &env)?;
    println!();
    println!("# {}", seen(&server.requests()));

    let mut problems = Vec::new();
    explain.expect_success(&mut problems);
    get.expect_success(&mut problems);
    for needle in ["\"APIVersions\"", "\"v1\""] {
        if get.code == Some(0) && !get.stdout.contains(needle) {
            problems.push(format!("`{}` printed no {needle}", get.line));
        }
    }
    // The signature is the part of a JWT that is secret: any print of the token holds it.
    let signature = POD_TOKEN.rsplit('.').next().unwrap_or(POD_TOKEN);
    for run in [&explain, &get] {
        run.expect_no_secret(signature, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
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
        let args = [
            "build",
            "--quiet",
            "-p",
            "kubecred-cli",
            "--bin",
            "kubecred",
        ];
        eprintln!("demo: building kubecred (cargo {})", args.join(" "));
        let status = Command::new(crate::cargo())
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
    /// prints the command line as a person in the pod would type it, then the output.
    fn run(&self, args: &[&str], env: &[(&str, String)]) -> Result<Run, String> {
        let line = format!("kubecred {}", args.join(" "));
        println!("$ {line}");
        let mut command = Command::new(&self.path);
        command
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
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
        run.print();
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
    fn print(&self) {
        for stream in [&self.stdout, &self.stderr] {
            print!("{stream}");
            if !stream.is_empty() && !stream.ends_with('\n') {
                println!();
            }
        }
        if self.code != Some(0) {
            println!("[{}]", self.exit());
        }
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

    fn expect_no_secret(&self, secret: &str, problems: &mut Vec<String>) {
        for (name, stream) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if stream.contains(secret) {
                problems.push(format!("`{}` printed the token on {name}", self.line));
            }
        }
    }
}
