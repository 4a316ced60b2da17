//! `kubecred` with a kubeconfig (`--kubeconfig`, `KUBECONFIG`, `--context`) against the stand-in
//! over TLS: every cluster and user kind, merging, the chain around it, exec plugins, and the
//! real kubectl reaching the stand-in with the same identity from the same kubeconfigs.

use std::path::{Path, PathBuf};
use std::process::Command;

use kubecred_testing::{
    kubeconfig_var, ApiServer, Authentication, Cluster, Context, Exec, ExecPlugin, Kubeconfig,
    KubeconfigDir, ServiceAccountFiles, User, EXEC_API_V1, EXEC_API_V1BETA1,
};

use crate::support::*;

/// The kubeconfig user's token (label `alice` at the stand-in).
const ALICE_TOKEN: &str = "kubeconfig-alice-token-0c6f1d2e9b";
/// Another user's token (label `bob`).
const BOB_TOKEN: &str = "kubeconfig-bob-token-5a7e3c4d81";
/// The token an exec plugin prints (label `plugin`).
const PLUGIN_TOKEN: &str = "exec-plugin-printed-token-7d2b9f0e44";
/// A basic-auth password (label `carol`).
const CAROL_PASSWORD: &str = "kubeconfig-carol-password-9e1f";

/// A laptop: a stand-in that knows alice's and bob's tokens, carol's password and the
/// plugin's token, a directory for kubeconfigs, and the environment of a shell there (`HOME`
/// in the directory, so no `~/.kube/config`; `PATH`, for exec plugins and kubectl).
struct Laptop {
    server: ApiServer,
    dir: KubeconfigDir,
    env: Vec<(String, String)>,
}

impl Laptop {
    fn new() -> Self {
        let server = ApiServer::builder()
            .token("alice", secret(ALICE_TOKEN))
            .token("bob", secret(BOB_TOKEN))
            .token("plugin", secret(PLUGIN_TOKEN))
            .basic_auth("carol", "carol", secret(CAROL_PASSWORD))
            .start()
            .unwrap();
        let dir = KubeconfigDir::new().unwrap();
        #[allow(clippy::disallowed_methods)] // exec plugins and kubectl get our PATH
        let path = std::env::var("PATH").unwrap_or_default();
        let env = vec![var("HOME", &path_str(dir.path())), var("PATH", &path)];
        Self { server, dir, env }
    }

    /// Writes `config` as `name` in the laptop's directory.
    fn write(&self, name: &str, config: &Kubeconfig) -> PathBuf {
        self.dir.write(name, config).unwrap()
    }

    /// The one-context kubeconfig for this server with `user`, written as `config`.
    fn simple(&self, user: User) -> PathBuf {
        self.write("config", &Kubeconfig::for_server(&self.server, user))
    }

    /// The environment with `KUBECONFIG` set to `paths`.
    fn with_kubeconfig<P: AsRef<Path>>(&self, paths: &[P]) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        env.push(var("KUBECONFIG", &kubeconfig_var(paths)));
        env
    }

    /// `kubecred ARGS --kubeconfig FILE`.
    fn kubecred(&self, args: &[&str], file: &Path) -> Run {
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push("--kubeconfig".to_owned());
        args.push(path_str(file));
        kubecred(&args, &self.env)
    }

    /// How each request the server saw so far authenticated, and forgets them.
    fn take_authentications(&self) -> Vec<Authentication> {
        self.server.take_authentications()
    }
}

fn alice() -> User {
    User::new("alice").token(ALICE_TOKEN)
}

#[test]
fn a_token_user_reaches_the_stand_in_and_explain_names_the_file() {
    let laptop = Laptop::new();
    let file = laptop.simple(alice());
    let body = laptop
        .kubecred(&["get", "/api"], &file)
        .assert_success_body();
    assert_eq!(body["versions"][0], "v1");
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("alice")]
    );

    let report = laptop
        .kubecred(&["explain", "--output", "json"], &file)
        .json();
    let source = source_report(&report, "kubeconfig");
    assert_eq!(source["outcome"], "chosen", "{report:#}");
    assert_eq!(source["files"], serde_json::json!([path_str(&file)]));
    assert_eq!(report["endpoint"], laptop.server.url());
    assert_eq!(report["namespace"], "default");
    assert_eq!(report["credential"]["kind"], "bearer-token");
}

#[test]
fn a_relative_token_file_follows_a_kubelet_style_rotation() {
    let laptop = Laptop::new();
    let sa = laptop
        .dir
        .service_account_dir(&ServiceAccountFiles::new().token(format!("{ALICE_TOKEN}\n")))
        .unwrap();
    let relative = laptop.dir.relative(&sa.token_path());
    assert!(relative.is_relative());
    let file = laptop.simple(User::new("pod").token_file_path(&relative));
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_success_body();
    sa.update(&ServiceAccountFiles::new().token(format!("{BOB_TOKEN}\n")))
        .unwrap();
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_success_body();
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("alice"), Authentication::token("bob")]
    );
}

#[test]
fn client_certificate_files_and_data_authenticate_with_mtls() {
    let laptop = Laptop::new();
    let client = laptop.server.ca().issue_client_certificate("dana").unwrap();
    secret_key(client.key_pem());
    for user in [
        User::new("dana").client_certificate_files(&client),
        User::new("dana").client_certificate_data(&client),
    ] {
        let file = laptop.simple(user);
        laptop
            .kubecred(&["get", "/api"], &file)
            .assert_success_body();
    }
    let dana = Authentication::ClientCertificate {
        common_name: "dana".to_owned(),
    };
    assert_eq!(laptop.take_authentications(), [dana.clone(), dana]);
}

#[test]
fn a_ca_file_or_data_verifies_the_server() {
    let laptop = Laptop::new();
    for cluster in [
        Cluster::new("stand-in", &laptop.server).ca_file(),
        Cluster::new("stand-in", &laptop.server).ca_data(),
    ] {
        let file = laptop.write(
            "config",
            &Kubeconfig::new()
                .cluster(cluster)
                .user(alice())
                .context(Context::new("here", "stand-in", "alice"))
                .current_context("here"),
        );
        laptop
            .kubecred(&["get", "/api"], &file)
            .assert_success_body();
    }
    assert_eq!(
        laptop.take_authentications(),
        [
            Authentication::token("alice"),
            Authentication::token("alice")
        ]
    );
}

/// A kubeconfig with one cluster (`cluster`), alice, and a current context.
fn with_cluster(cluster: Cluster) -> Kubeconfig {
    Kubeconfig::new()
        .cluster(cluster)
        .user(alice())
        .context(Context::new("here", "stand-in", "alice"))
        .current_context("here")
}

#[test]
fn no_ca_is_a_tls_error_not_a_fall_through() {
    let laptop = Laptop::new();
    let pod = Pod::new();
    let file = laptop.write(
        "config",
        &with_cluster(Cluster::new("stand-in", &laptop.server).no_ca()),
    );
    let mut env = pod.env.clone();
    env.extend(laptop.with_kubeconfig(&[&file]));
    let run = kubecred(&["get", "/api"], &env);
    run.assert_failure(&["kubeconfig"]);
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "no TLS error:\n{run:#?}"
    );
    assert!(pod.server.requests().is_empty(), "fell through to the pod");
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn insecure_skip_tls_verify_works_and_is_warned() {
    let laptop = Laptop::new();
    let file = laptop.write(
        "config",
        &with_cluster(
            Cluster::new("stand-in", &laptop.server)
                .no_ca()
                .insecure(true),
        ),
    );
    let run = laptop.kubecred(&["get", "/api"], &file);
    run.assert_code(0);
    assert!(
        run.stderr.contains("insecure"),
        "no warning on stderr:\n{run:#?}"
    );
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("alice")]
    );
}

#[test]
fn insecure_with_a_ca_is_refused_naming_both() {
    let laptop = Laptop::new();
    let file = laptop.write(
        "config",
        &with_cluster(Cluster::new("stand-in", &laptop.server).insecure(true)),
    );
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_failure(&["insecure-skip-tls-verify", "certificate-authority"]);
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn tls_server_name_is_the_name_verified() {
    let laptop = Laptop::new();
    let file = laptop.write(
        "config",
        &with_cluster(
            Cluster::new("stand-in", &laptop.server).tls_server_name("kubernetes.default.svc"),
        ),
    );
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_success_body();
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("alice")]
    );

    // A name the serving certificate does not hold: the handshake fails, so the name is used.
    let file = laptop.write(
        "config",
        &with_cluster(
            Cluster::new("stand-in", &laptop.server).tls_server_name("elsewhere.example"),
        ),
    );
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_failure(&["kubeconfig"]);
    assert!(laptop.server.requests().is_empty());
}

/// Two files in their own directories for `KUBECONFIG`: the first defines the cluster
/// `shared` (the stand-in, its CA in a file beside it), alice and the context `a`, and sets
/// no current context; the second defines `shared` again (at a closed port, another CA),
/// bob and the context `b`, and sets `current-context: b`.
fn two_files(laptop: &Laptop) -> (PathBuf, PathBuf) {
    let first = laptop.write(
        "first/config",
        &Kubeconfig::new()
            .cluster(Cluster::new("shared", &laptop.server).ca_file())
            .user(alice())
            .context(Context::new("a", "shared", "alice")),
    );
    let stranger = kubecred_testing::CertificateAuthority::new("stranger").unwrap();
    let second = laptop.write(
        "second/config",
        &Kubeconfig::new()
            .cluster(
                Cluster::url("shared", format!("https://127.0.0.1:{}", closed_port()))
                    .ca_pem(stranger.pem())
                    .ca_file(),
            )
            .user(User::new("bob").token_file(format!("{BOB_TOKEN}\n")))
            .context(Context::new("b", "shared", "bob"))
            .current_context("b"),
    );
    (first, second)
}

#[test]
fn kubeconfig_lists_two_files_merged_by_client_go_rules() {
    let laptop = Laptop::new();
    let (first, second) = two_files(&laptop);
    let missing = laptop.dir.path().join("missing/config");
    // current-context `b` from the second file; its cluster `shared` from the first (the
    // first definition wins); bob's token file relative to the second file's directory.
    let env = laptop.with_kubeconfig(&[&first, &missing, &second]);
    kubecred(&["get", "/api"], &env).assert_success_body();
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("bob")]
    );

    let report = kubecred(&["explain", "--output", "json"], &env).json();
    let source = source_report(&report, "kubeconfig");
    assert_eq!(source["outcome"], "chosen", "{report:#}");
    let files: Vec<String> = source["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    // The files read, in order (the missing one skipped), then the token file.
    assert_eq!(
        files,
        [
            path_str(&first),
            path_str(&second),
            path_str(&second.with_file_name("config.bob.token"))
        ],
        "{report:#}"
    );
}

#[test]
fn kubeconfig_whose_files_are_all_missing_fails_naming_it() {
    let laptop = Laptop::new();
    let pod = Pod::new();
    let missing = [laptop.dir.path().join("a"), laptop.dir.path().join("b")];
    let mut env = pod.env.clone();
    env.extend(laptop.with_kubeconfig(&missing));
    kubecred(&["get", "/api"], &env).assert_failure(&["kubeconfig", "KUBECONFIG"]);
    assert!(pod.server.requests().is_empty(), "fell through to the pod");
}

#[test]
fn the_kubeconfig_flag_beats_the_variable() {
    let laptop = Laptop::new();
    let (first, _) = two_files(&laptop);
    let flagged = laptop.write(
        "flagged",
        &Kubeconfig::for_server(&laptop.server, User::new("bob").token(BOB_TOKEN)),
    );
    let env = laptop.with_kubeconfig(&[&first]);
    let args = ["get", "/api", "--kubeconfig", &path_str(&flagged)];
    kubecred(&args, &env).assert_success_body();
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("bob")]
    );
}

/// One file with the contexts `alice@stand-in` (namespace `team-b`, the current one) and
/// `bob@stand-in`.
fn two_contexts(laptop: &Laptop) -> PathBuf {
    laptop.write(
        "config",
        &Kubeconfig::new()
            .cluster(Cluster::new("stand-in", &laptop.server))
            .user(alice())
            .user(User::new("bob").token(BOB_TOKEN))
            .context(Context::new("alice@stand-in", "stand-in", "alice").namespace("team-b"))
            .context(Context::new("bob@stand-in", "stand-in", "bob"))
            .current_context("alice@stand-in"),
    )
}

#[test]
fn the_context_flag_chooses_and_an_unknown_one_lists_those_there_are() {
    let laptop = Laptop::new();
    let file = two_contexts(&laptop);
    laptop
        .kubecred(&["get", "/api", "--context", "bob@stand-in"], &file)
        .assert_success_body();
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_success_body();
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("bob"), Authentication::token("alice")]
    );

    laptop
        .kubecred(&["get", "/api", "--context", "carol@nowhere"], &file)
        .assert_failure(&["carol@nowhere", "alice@stand-in", "bob@stand-in"]);
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn the_namespace_comes_from_the_context() {
    let laptop = Laptop::new();
    let file = two_contexts(&laptop);
    let report = laptop
        .kubecred(&["explain", "--output", "json"], &file)
        .json();
    assert_eq!(report["namespace"], "team-b", "{report:#}");
    let report = laptop
        .kubecred(
            &["explain", "--output", "json", "--context", "bob@stand-in"],
            &file,
        )
        .json();
    assert_eq!(report["namespace"], "default", "{report:#}");
}

#[test]
fn no_current_context_fails_listing_the_contexts() {
    let laptop = Laptop::new();
    let file = laptop.write(
        "config",
        &Kubeconfig::for_server(&laptop.server, alice()).without_current_context(),
    );
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_failure(&["kubeconfig", "stand-in"]);
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn an_empty_kubeconfig_does_not_apply_and_the_chain_goes_on() {
    let laptop = Laptop::new();
    let pod = Pod::new();
    for (name, text) in [
        ("empty", String::new()),
        ("no-entries", Kubeconfig::new().to_yaml()),
    ] {
        let file = laptop.dir.write_raw(name, &text).unwrap();
        let mut env = pod.env.clone();
        env.extend(laptop.with_kubeconfig(&[&file]));
        kubecred(&["get", "/api"], &env).assert_success_body();
        let report = kubecred(&["explain", "--output", "json"], &env).json();
        assert_eq!(
            source_report(&report, "kubeconfig")["outcome"],
            "not-applicable",
            "{report:#}"
        );
        assert_eq!(source_report(&report, "in-cluster")["outcome"], "chosen");
    }
    assert_eq!(
        pod.authentications(),
        [Authentication::token("pod"), Authentication::token("pod")]
    );
}

#[test]
fn malformed_yaml_on_a_token_line_gives_the_place_and_not_the_token() {
    let laptop = Laptop::new();
    let yaml = Kubeconfig::for_server(&laptop.server, alice()).to_yaml();
    let line = yaml
        .lines()
        .position(|l| l.contains(ALICE_TOKEN))
        .expect("a token line")
        + 1;
    // Something after the quoted token, on its line.
    let quoted = format!("\"{ALICE_TOKEN}\"");
    let broken = yaml.replace(&quoted, &format!("{quoted} x"));
    let file = laptop.dir.write_raw("config", &broken).unwrap();
    let run = laptop.kubecred(&["get", "/api"], &file);
    run.assert_failure(&[&path_str(&file), "line"]);
    assert!(
        run.stderr.contains(&format!("line {line},")),
        "no line {line}:\n{run:#?}"
    );
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn a_context_without_a_user_is_anonymous() {
    let laptop = Laptop::new();
    for context in [
        Context::anonymous("here", "stand-in"),
        Context::new("here", "stand-in", ""),
    ] {
        let file = laptop.write(
            "config",
            &Kubeconfig::new()
                .cluster(Cluster::new("stand-in", &laptop.server))
                .context(context)
                .current_context("here"),
        );
        let report = laptop
            .kubecred(&["explain", "--output", "json"], &file)
            .json();
        assert_eq!(report["credential"]["kind"], "none", "{report:#}");
        // The stand-in refuses anonymous requests, as most clusters do.
        laptop
            .kubecred(&["get", "/api"], &file)
            .assert_failure(&["401"]);
    }
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::Anonymous, Authentication::Anonymous]
    );
}

#[test]
fn auth_provider_gcp_is_refused_naming_its_replacement() {
    let laptop = Laptop::new();
    let file = laptop.simple(User::new("gke").auth_provider("gcp"));
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_failure(&["gcp", "gke-gcloud-auth-plugin"]);
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn basic_auth_and_impersonation_reach_the_stand_in() {
    let laptop = Laptop::new();
    let file = laptop.simple(User::new("carol").basic("carol", CAROL_PASSWORD));
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_success_body();
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::Basic {
            label: "carol".to_owned()
        }]
    );

    let file = laptop.simple(
        alice()
            .impersonate("erin")
            .impersonate_group("devs")
            .impersonate_group("ops")
            .impersonate_extra("reason", ["on call"]),
    );
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_success_body();
    let requests = laptop.server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authentication, Authentication::token("alice"));
    let mut headers = requests[0].impersonation.clone();
    headers.sort();
    assert_eq!(
        headers,
        [
            ("impersonate-extra-reason".to_owned(), "on call".to_owned()),
            ("impersonate-group".to_owned(), "devs".to_owned()),
            ("impersonate-group".to_owned(), "ops".to_owned()),
            ("impersonate-user".to_owned(), "erin".to_owned()),
        ]
    );
}

#[test]
fn env_beats_kubeconfig_which_beats_in_cluster_and_a_broken_one_does_not_fall_through() {
    let laptop = Laptop::new();
    let pod = Pod::new();
    let file = laptop.simple(alice());

    // env (KUBE_HOST at the pod's server) before kubeconfig.
    let mut env = laptop.with_kubeconfig(&[&file]);
    env.extend(pod.env_vars());
    kubecred(&["get", "/api"], &env).assert_success_body();
    assert!(laptop.server.requests().is_empty());
    assert_eq!(pod.authentications(), [Authentication::token("pod")]);

    // kubeconfig before in-cluster.
    let mut env = laptop.with_kubeconfig(&[&file]);
    env.extend(pod.env.clone());
    kubecred(&["get", "/api"], &env).assert_success_body();
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("alice")]
    );

    // A broken kubeconfig stops the chain.
    let broken = laptop.dir.write_raw("broken", "clusters: [\n").unwrap();
    let mut env = laptop.with_kubeconfig(&[&broken]);
    env.extend(pod.env.clone());
    kubecred(&["get", "/api"], &env).assert_failure(&["kubeconfig"]);
    assert_eq!(
        pod.authentications(),
        [Authentication::token("pod")],
        "fell through to the pod"
    );
}

// ---- exec plugins ----

/// A plugin printing [`PLUGIN_TOKEN`] in `api_version`.
fn plugin(api_version: &str) -> ExecPlugin {
    let plugin = ExecPlugin::new(PLUGIN_TOKEN).unwrap();
    plugin.set_api_version(api_version);
    plugin
}

#[test]
fn an_exec_plugin_token_authenticates_in_v1_and_v1beta1() {
    let laptop = Laptop::new();
    for api_version in [EXEC_API_V1, EXEC_API_V1BETA1] {
        let plugin = plugin(api_version);
        let file = laptop.simple(User::new("laptop").exec(Exec::plugin(&plugin)));
        laptop
            .kubecred(&["get", "/api"], &file)
            .assert_success_body();
        assert_eq!(plugin.runs(), 1, "{api_version}");
    }
    assert_eq!(
        laptop.take_authentications(),
        [
            Authentication::token("plugin"),
            Authentication::token("plugin")
        ]
    );
}

#[test]
fn explain_does_not_run_the_plugin() {
    let laptop = Laptop::new();
    let plugin = plugin(EXEC_API_V1);
    let file = laptop.simple(User::new("laptop").exec(Exec::plugin(&plugin)));
    for args in [&["explain"][..], &["explain", "--output", "json"]] {
        let run = laptop.kubecred(args, &file);
        run.assert_code(0);
        assert!(
            run.stdout.contains(&path_str(&plugin.command())),
            "the command is not reported:\n{run:#?}"
        );
    }
    assert_eq!(plugin.runs(), 0);
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn a_relative_command_in_a_kubeconfig_named_by_a_relative_path_is_joined_once() {
    // `cd laptop && kubecred get /api --kubeconfig ex/config`, with `command: ./plugin`
    // beside it (as kubectl does: ./plugin against ex/, once).
    let laptop = Laptop::new();
    let plugin = plugin(EXEC_API_V1);
    let user = User::new("laptop").exec(Exec::plugin(&plugin).command("./plugin"));
    let file = laptop.write("ex/config", &Kubeconfig::for_server(&laptop.server, user));
    std::os::unix::fs::symlink(plugin.command(), file.with_file_name("plugin")).unwrap();
    let run = |args: &[&str]| {
        let mut env = laptop.env.clone();
        env.push(var(
            "KUBECRED_PROXY_URL",
            &format!("http://127.0.0.1:{}", closed_port()),
        ));
        let output = Command::new(env!("CARGO_BIN_EXE_kubecred"))
            .args(args)
            .args(["--kubeconfig", "ex/config"])
            .current_dir(laptop.dir.path())
            .env_clear()
            .envs(env)
            .output()
            .expect("the kubecred binary runs");
        Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    };
    run(&["get", "/api"]).assert_success_body();
    assert_eq!(plugin.runs(), 1);
    assert_eq!(
        laptop.take_authentications(),
        [Authentication::token("plugin")]
    );
    // explain names the command as the kubeconfig does.
    let explained = run(&["explain"]);
    explained.assert_code(0);
    assert!(
        explained.stdout.contains("exec: ./plugin"),
        "{explained:#?}"
    );
    assert!(!explained.stdout.contains(PLUGIN_TOKEN));
}

#[test]
fn a_plugin_not_found_prints_its_install_hint() {
    let laptop = Laptop::new();
    let missing = laptop.dir.path().join("bin/no-such-plugin");
    let file = laptop.simple(
        User::new("laptop")
            .exec(Exec::new(&missing).install_hint("get no-such-plugin from plugins.example")),
    );
    laptop
        .kubecred(&["get", "/api"], &file)
        .assert_failure(&["no-such-plugin", "get no-such-plugin from plugins.example"]);
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn a_failing_plugin_is_named_with_its_status() {
    let laptop = Laptop::new();
    let plugin = plugin(EXEC_API_V1);
    plugin.fail_after_printing(3, "the identity provider is down");
    let file = laptop.simple(User::new("laptop").exec(Exec::plugin(&plugin)));
    let run = laptop.kubecred(&["get", "/api"], &file);
    run.assert_failure(&[&path_str(&plugin.command()), "3"]);
    // Its stderr is the user's; its stdout (a token) is never echoed (checked for every run).
    assert!(run.stderr.contains("the identity provider is down"));
    assert_eq!(plugin.runs(), 1);
    assert!(laptop.server.requests().is_empty());
}

#[test]
fn a_hung_plugin_is_killed_at_the_exec_timeout() {
    let laptop = Laptop::new();
    let plugin = plugin(EXEC_API_V1);
    plugin.sleep(std::time::Duration::from_secs(60));
    let file = laptop.simple(User::new("laptop").exec(Exec::plugin(&plugin)));
    let started = std::time::Instant::now();
    let run = laptop.kubecred(&["get", "/api", "--exec-timeout", "1"], &file);
    run.assert_failure(&[&path_str(&plugin.command()), "killed", "exec timeout of 1s"]);
    // Bounded by the limit, not by the plugin's 60 s (a generous margin for a loaded machine).
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(plugin.runs(), 1);
    let pid = plugin.run_records()[0]
        .pid
        .expect("the plugin recorded its pid");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the plugin ({pid}) still runs"
    );
    assert!(laptop.server.requests().is_empty());
}

// ---- kubectl agrees ----

/// The real kubectl, with exactly `env`.
fn kubectl(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    Command::new("kubectl")
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("kubectl runs (is it on PATH?)")
}

/// The exec `apiVersion` this machine's kubectl speaks: `v1` from 1.22 on, else `v1beta1`
/// (Debian's kubectl is 1.20).
fn kubectl_exec_api_version(env: &[(String, String)]) -> &'static str {
    let output = kubectl(&["version", "--client", "-o", "json"], env);
    let version: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let minor: u32 = version["clientVersion"]["minor"]
        .as_str()
        .unwrap_or("0")
        .trim_end_matches('+')
        .parse()
        .unwrap_or(0);
    if minor >= 22 {
        EXEC_API_V1
    } else {
        EXEC_API_V1BETA1
    }
}

/// Runs `kubectl get --raw /api ARGS` then `kubecred get /api ARGS` with `env`, and returns
/// how each reached the stand-in (every request kubectl made, then kubecred's).
fn both(
    laptop: &Laptop,
    args: &[&str],
    env: &[(String, String)],
) -> (Vec<Authentication>, Vec<Authentication>) {
    let mut kubectl_args = vec!["get", "--raw", "/api"];
    kubectl_args.extend(args);
    let output = kubectl(&kubectl_args, env);
    assert!(
        output.status.success(),
        "kubectl {kubectl_args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let by_kubectl = laptop.take_authentications();
    let mut kubecred_args = vec!["get", "/api"];
    kubecred_args.extend(args);
    kubecred(&kubecred_args, env).assert_success_body();
    (by_kubectl, laptop.take_authentications())
}

#[test]
fn kubectl_agrees_on_the_identity_of_each_kubeconfig() {
    let laptop = Laptop::new();
    let client = laptop.server.ca().issue_client_certificate("dana").unwrap();
    secret_key(client.key_pem());
    let api_version = kubectl_exec_api_version(&laptop.env);
    let plugin = plugin(api_version);
    let sa = laptop
        .dir
        .service_account_dir(&ServiceAccountFiles::new().token(format!("{BOB_TOKEN}\n")))
        .unwrap();
    let dana = Authentication::ClientCertificate {
        common_name: "dana".to_owned(),
    };
    let cases: Vec<(&str, User, Authentication)> = vec![
        ("token", alice(), Authentication::token("alice")),
        (
            "token-file",
            User::new("pod").token_file_path(laptop.dir.relative(&sa.token_path())),
            Authentication::token("bob"),
        ),
        (
            "client-certificate",
            User::new("dana").client_certificate_files(&client),
            dana.clone(),
        ),
        (
            "exec",
            User::new("laptop").exec(Exec::plugin(&plugin)),
            Authentication::token("plugin"),
        ),
    ];
    for (name, user, expected) in cases {
        let file = laptop.write(
            &format!("{name}.yaml"),
            &Kubeconfig::for_server(&laptop.server, user),
        );
        let flag = format!("--kubeconfig={}", path_str(&file));
        let (by_kubectl, by_kubecred) = both(&laptop, &[&flag], &laptop.env);
        assert!(!by_kubectl.is_empty(), "{name}: kubectl sent nothing");
        assert!(
            by_kubectl.iter().all(|a| *a == expected),
            "{name}: kubectl reached the stand-in as {by_kubectl:?}"
        );
        assert_eq!(by_kubecred, [expected], "{name}");
    }
    assert!(plugin.runs() >= 2, "the plugin ran {} times", plugin.runs());

    // Two files through KUBECONFIG.
    let (first, second) = two_files(&laptop);
    let env = laptop.with_kubeconfig(&[&first, &second]);
    let (by_kubectl, by_kubecred) = both(&laptop, &[], &env);
    assert!(
        !by_kubectl.is_empty()
            && by_kubectl
                .iter()
                .all(|a| *a == Authentication::token("bob"))
    );
    assert_eq!(by_kubecred, [Authentication::token("bob")]);

    // --context.
    let file = two_contexts(&laptop);
    let env = laptop.with_kubeconfig(&[&file]);
    let (by_kubectl, by_kubecred) = both(&laptop, &["--context", "bob@stand-in"], &env);
    assert!(
        !by_kubectl.is_empty()
            && by_kubectl
                .iter()
                .all(|a| *a == Authentication::token("bob"))
    );
    assert_eq!(by_kubecred, [Authentication::token("bob")]);
}

// ---- no secret, at trace level ----

#[test]
fn trace_level_kubeconfig_runs_print_no_secret() {
    let laptop = Laptop::new();
    let client = laptop.server.ca().issue_client_certificate("dana").unwrap();
    secret_key(client.key_pem());
    let plugin = plugin(EXEC_API_V1);
    let mut env = laptop.env.clone();
    env.push(var("RUST_LOG", "trace"));
    let mut runs = Vec::new();
    for user in [
        alice(),
        User::new("carol").basic("carol", CAROL_PASSWORD),
        User::new("dana").client_certificate_data(&client),
        User::new("dana").client_certificate_files(&client),
        User::new("laptop").exec(Exec::plugin(&plugin)),
    ] {
        let file = laptop.simple(user);
        for args in [&["get", "/api"][..], &["explain", "--output", "json"]] {
            let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            args.extend(["--kubeconfig".to_owned(), path_str(&file)]);
            runs.push(kubecred(&args, &env));
        }
    }
    // Failing ones: a wrong password, a revoked plugin token, a malformed line with a token.
    let file = laptop.simple(User::new("carol").basic("carol", "wrong-password-of-carol"));
    runs.push(kubecred(
        &["get", "/api", "--kubeconfig", &path_str(&file)],
        &env,
    ));
    let file = laptop.simple(User::new("laptop").exec(Exec::plugin(&plugin)));
    plugin.set_token(secret("exec-plugin-second-token-unknown-3c"));
    runs.push(kubecred(
        &["get", "/api", "--kubeconfig", &path_str(&file)],
        &env,
    ));
    let broken = Kubeconfig::for_server(&laptop.server, alice())
        .to_yaml()
        .replace(
            &format!("\"{ALICE_TOKEN}\""),
            &format!("\"{ALICE_TOKEN}\" x"),
        );
    let file = laptop.dir.write_raw("broken", &broken).unwrap();
    runs.push(kubecred(
        &["get", "/api", "--kubeconfig", &path_str(&file)],
        &env,
    ));
    assert_eq!(runs[..10].iter().filter(|r| r.code == 0).count(), 10);
    assert!(runs[10..].iter().all(|r| r.code == 1));
    for run in &runs {
        assert!(
            run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"),
            "a trace-level run logged nothing:\n{run:#?}"
        );
    }
}
