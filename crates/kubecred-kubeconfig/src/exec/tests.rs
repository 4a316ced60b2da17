//! Exec plugins driven for real: each test runs kubecred_testing's `ExecPlugin` script.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kubecred_core::{CredentialKind, ExposeSecret, ManualClock, MapEnvironment};
use kubecred_testing::{
    CertificateAuthority, ExecPlugin, LogCapture, EXEC_API_V1, EXEC_API_V1BETA1, EXEC_PLUGIN_NAME,
};

use super::run::EXEC_INFO_VAR;
use super::*;

/// A token no output, error, `Debug` or log line may contain.
const CANARY: &str = "kubecred-canary-exec-token-5b0d9e";

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn config(plugin: &ExecPlugin) -> ExecConfig {
    ExecConfig {
        api_version: EXEC_API_V1.to_owned(),
        command: plugin.command().display().to_string(),
        args: Vec::new(),
        env: Vec::new(),
        install_hint: None,
        provide_cluster_info: false,
        interactive_mode: Some("Never".to_owned()),
        base_dir: plugin.dir().to_owned(),
    }
}

fn settings(clock: &ManualClock) -> ExecSettings {
    ExecSettings {
        timeout: Duration::from_secs(20),
        clock: Arc::new(clock.clone()),
        env: Arc::new(MapEnvironment::default()),
        stdin_is_terminal: false,
        cache_dir: None,
    }
}

fn exec(plugin: &ExecPlugin, clock: &ManualClock) -> ExecCredentials {
    ExecCredentials::new(config(plugin), None, settings(clock)).unwrap()
}

fn token(credentials: &Credentials) -> &str {
    credentials.token().expect("a bearer token").expose_secret()
}

fn new_error(config: ExecConfig, settings: ExecSettings) -> String {
    let error = ExecCredentials::new(config, None, settings).unwrap_err();
    assert!(!error.is_not_applicable());
    kubecred_core::error_chain(&error)
}

async fn run_error(exec: &ExecCredentials) -> String {
    let error = exec.credentials().await.unwrap_err();
    assert!(!error.is_not_applicable());
    kubecred_core::error_chain(&error)
}

#[tokio::test]
async fn a_v1_token_with_args_env_and_exec_info() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let mut config = config(&plugin);
    config.args = vec!["get-token".to_owned(), "--cluster=a b".to_owned()];
    config.env = vec![("PLUGIN_PROFILE".to_owned(), "dev".to_owned())];
    let exec = ExecCredentials::new(config, None, settings(&clock)).unwrap();
    assert_eq!(exec.runs(), 0, "new() never runs the plugin");
    assert_eq!(plugin.runs(), 0);

    let credentials = exec.credentials().await.unwrap();
    assert_eq!(token(&credentials), CANARY);
    assert_eq!(credentials.kind(), CredentialKind::BearerToken);
    assert_eq!(credentials.expires_at(), None);
    assert_eq!((exec.runs(), plugin.runs()), (1, 1));
    let run = &plugin.run_records()[0];
    assert_eq!(run.args, ["get-token", "--cluster=a b"]);
    assert_eq!(run.env("PLUGIN_PROFILE"), Some("dev"));
    assert!(
        run.env("PATH").is_some(),
        "the process environment is inherited"
    );
    assert_eq!(
        run.exec_info,
        serde_json::json!({
            "apiVersion": EXEC_API_V1,
            "kind": "ExecCredential",
            "spec": {"interactive": false},
        })
    );
    assert_eq!(exec.command(), plugin.command().display().to_string());
}

#[tokio::test]
async fn a_v1beta1_token_defaults_to_if_available() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_api_version(EXEC_API_V1BETA1);
    let clock = ManualClock::new(start());
    let mut config = config(&plugin);
    config.api_version = EXEC_API_V1BETA1.to_owned();
    config.interactive_mode = None;
    let exec = ExecCredentials::new(config, None, settings(&clock)).unwrap();
    assert_eq!(token(&exec.credentials().await.unwrap()), CANARY);
    assert_eq!(plugin.exec_infos()[0]["apiVersion"], EXEC_API_V1BETA1);
    assert_eq!(plugin.exec_infos()[0]["spec"]["interactive"], false);
}

#[tokio::test]
async fn yaml_output_is_accepted() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_output(&format!(
        "apiVersion: {EXEC_API_V1}\nkind: ExecCredential\nstatus:\n  token: {CANARY}\n  expirationTimestamp: \"2027-01-15T08:10:00Z\"\n"
    ));
    let clock = ManualClock::new(start());
    let credentials = exec(&plugin, &clock).credentials().await.unwrap();
    assert_eq!(token(&credentials), CANARY);
    assert_eq!(
        credentials.expires_at(),
        Some(start() + Duration::from_secs(600))
    );
}

#[tokio::test]
async fn a_client_certificate_and_key_from_the_plugin() {
    let ca = CertificateAuthority::new("exec CA").unwrap();
    let client = ca.issue_client_certificate("exec-user").unwrap();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.clear_token();
    plugin.set_client_certificate(client.cert_pem(), client.key_pem());
    let clock = ManualClock::new(start());
    let exec = exec(&plugin, &clock);
    let credentials = exec.credentials().await.unwrap();
    assert_eq!(credentials.kind(), CredentialKind::ClientCertificate);
    assert!(credentials.token().is_none());
    let identity = credentials.identity().unwrap();
    assert_eq!(identity.certificates()[0], client.der());
    let debug = format!("{credentials:?} {exec:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");

    // A token and a certificate together: both are used.
    plugin.set_token(CANARY);
    let exec = super::tests::exec(&plugin, &clock);
    let credentials = exec.credentials().await.unwrap();
    assert_eq!(token(&credentials), CANARY);
    assert!(credentials.identity().is_some());

    // One without the other fails, naming the missing half.
    plugin.set_output(&format!(
        r#"{{"apiVersion":"{EXEC_API_V1}","kind":"ExecCredential","status":{{"clientCertificateData":{cert}}}}}"#,
        cert = serde_json::Value::from(client.cert_pem())
    ));
    let text = run_error(&super::tests::exec(&plugin, &clock)).await;
    assert!(text.contains("without status.clientKeyData"), "{text}");
}

#[tokio::test]
async fn a_relative_command_is_resolved_against_the_kubeconfig_directory() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    for command in [
        format!("bin/{EXEC_PLUGIN_NAME}"),
        format!("./bin/{EXEC_PLUGIN_NAME}"),
    ] {
        let mut config = config(&plugin);
        config.command = command;
        config.base_dir = plugin.dir().to_owned();
        let exec = ExecCredentials::new(config, None, settings(&clock)).unwrap();
        assert_eq!(token(&exec.credentials().await.unwrap()), CANARY);
    }
    assert_eq!(plugin.runs(), 2);

    let mut config = config(&plugin);
    config.command = format!("elsewhere/{EXEC_PLUGIN_NAME}");
    let text = new_error(config, settings(&clock));
    assert!(
        text.contains(&format!("elsewhere/{EXEC_PLUGIN_NAME}")) && text.contains("not found"),
        "{text}"
    );
}

/// `to`, relative to the current directory (`../..` up to `/`, then `to` without its root),
/// so that a test gets a relative path without changing the process's directory.
fn relative_to_cwd(to: &Path) -> std::path::PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let mut relative = std::path::PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.join(to.strip_prefix("/").unwrap())
}

#[tokio::test]
async fn a_relative_command_under_a_relative_kubeconfig_directory_is_joined_once() {
    // `kubecred --kubeconfig ex/config` with `command: ./bin/plugin`: base_dir is relative.
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let base_dir = relative_to_cwd(plugin.dir());
    assert!(base_dir.is_relative());
    let mut config = config(&plugin);
    config.command = format!("./bin/{EXEC_PLUGIN_NAME}");
    config.base_dir = base_dir.clone();
    let exec = ExecCredentials::new(config, None, settings(&clock)).unwrap();
    assert_eq!(exec.command(), format!("./bin/{EXEC_PLUGIN_NAME}"));
    assert!(
        exec.plugin.program.is_absolute(),
        "{:?}",
        exec.plugin.program
    );
    assert_eq!(token(&exec.credentials().await.unwrap()), CANARY);
    assert_eq!(plugin.runs(), 1);

    // Not found: the one joined path is named, never the directory twice.
    let mut config = super::tests::config(&plugin);
    config.command = "./missing".to_owned();
    config.base_dir = base_dir.clone();
    let text = new_error(config, settings(&clock));
    let expected = std::path::absolute(base_dir.join("./missing")).unwrap();
    assert!(
        text.contains(&format!(
            "exec plugin ./missing was not found: {} is not a file",
            expected.display()
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_bare_command_is_looked_up_on_path_through_the_environment() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let mut config = config(&plugin);
    config.command = EXEC_PLUGIN_NAME.to_owned();
    config.base_dir = "/nonexistent-base".into();
    let mut settings = settings(&clock);
    let path = format!(
        "/nonexistent-dir::relative/dir:{}",
        plugin.bin_dir().display()
    );
    settings.env = Arc::new(MapEnvironment::new([("PATH", path)]));
    let exec = ExecCredentials::new(config, None, settings).unwrap();
    assert_eq!(token(&exec.credentials().await.unwrap()), CANARY);
    assert_eq!(plugin.runs(), 1);
}

#[test]
fn a_command_not_found_fails_naming_it_with_its_install_hint() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let mut config = config(&plugin);
    config.command = "kubecred-no-such-plugin".to_owned();
    config.install_hint = Some("Install it with:\n    brew install no-such-plugin\n".to_owned());
    let mut settings = settings(&clock);
    settings.env = Arc::new(MapEnvironment::new([(
        "PATH",
        plugin.bin_dir().display().to_string(),
    )]));
    let text = new_error(config, settings.clone());
    assert!(
        text.contains("exec plugin kubecred-no-such-plugin")
            && text.contains("not found on PATH")
            && text.contains("Install it with: brew install no-such-plugin"),
        "{text}"
    );

    // No PATH at all: said so.
    let mut config = super::tests::config(&plugin);
    config.command = EXEC_PLUGIN_NAME.to_owned();
    settings.env = Arc::new(MapEnvironment::default());
    let text = new_error(config, settings);
    assert!(text.contains("PATH is not set"), "{text}");
    assert_eq!(plugin.runs(), 0);
}

#[tokio::test]
async fn a_non_zero_exit_names_the_command_and_status_and_not_its_stdout() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.fail_after_printing(3, "the identity provider said no");
    let clock = ManualClock::new(start());
    let exec = exec(&plugin, &clock);
    let text = run_error(&exec).await;
    assert!(
        text.contains(&format!("exec plugin {}", plugin.command().display()))
            && text.contains("exited with status 3"),
        "{text}"
    );
    assert!(!text.contains(CANARY), "{text}");
    assert!(exec.current().is_none());
}

#[tokio::test]
async fn a_wrong_api_version_in_the_output_names_both() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_api_version(EXEC_API_V1BETA1);
    let clock = ManualClock::new(start());
    let text = run_error(&exec(&plugin, &clock)).await;
    assert!(
        text.contains(&format!("apiVersion {EXEC_API_V1BETA1}"))
            && text.contains(&format!("asks for {EXEC_API_V1}")),
        "{text}"
    );
    assert!(!text.contains(CANARY), "{text}");
}

#[test]
fn v1alpha1_is_refused_without_a_run() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let mut config = config(&plugin);
    config.api_version = "client.authentication.k8s.io/v1alpha1".to_owned();
    let text = new_error(config, settings(&clock));
    assert!(text.contains("removed in Kubernetes 1.24"), "{text}");

    let mut config = super::tests::config(&plugin);
    config.api_version = "example.com/v9".to_owned();
    let text = new_error(config, settings(&clock));
    assert!(
        text.contains("example.com/v9") && text.contains("does not know"),
        "{text}"
    );
    assert_eq!(plugin.runs(), 0);
}

#[test]
fn v1_without_interactive_mode_is_refused() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let mut config = config(&plugin);
    config.interactive_mode = None;
    let text = new_error(config, settings(&clock));
    assert!(
        text.contains("has no interactiveMode") && text.contains(EXEC_API_V1),
        "{text}"
    );
    let mut config = super::tests::config(&plugin);
    config.interactive_mode = Some("Sometimes".to_owned());
    let text = new_error(config, settings(&clock));
    assert!(text.contains("interactiveMode Sometimes"), "{text}");
    assert_eq!(plugin.runs(), 0);
}

#[tokio::test]
async fn always_needs_a_terminal_and_the_interactive_flag_follows_the_rule() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let mut config = config(&plugin);
    config.interactive_mode = Some("Always".to_owned());
    let text = new_error(config, settings(&clock));
    assert!(
        text.contains("interactiveMode Always") && text.contains("not a terminal"),
        "{text}"
    );
    assert_eq!(plugin.runs(), 0);

    // With a terminal: interactive unless Never. (The run inherits the test's stdin, which
    // the plugin does not read.)
    for (mode, interactive) in [("Always", true), ("IfAvailable", true), ("Never", false)] {
        let mut config = super::tests::config(&plugin);
        config.interactive_mode = Some(mode.to_owned());
        let mut settings = settings(&clock);
        settings.stdin_is_terminal = true;
        let exec = ExecCredentials::new(config, None, settings).unwrap();
        exec.credentials().await.unwrap();
        let info = plugin.exec_infos().pop().unwrap();
        assert_eq!(info["spec"]["interactive"], interactive, "{mode}");
    }
}

#[tokio::test]
async fn provide_cluster_info_puts_the_cluster_in_exec_info() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let cluster = ClusterInfo {
        server: "https://127.0.0.1:6443/prefix".to_owned(),
        tls_server_name: Some("kubernetes.test".to_owned()),
        insecure_skip_tls_verify: false,
        certificate_authority_data: Some("LS0tLS1CRUdJTi0tLS0t".to_owned()),
        proxy_url: Some("socks5://127.0.0.1:1080".to_owned()),
        disable_compression: true,
        config: Some(serde_json::json!({"audience": "kubecred"})),
    };
    let mut with = config(&plugin);
    with.provide_cluster_info = true;
    ExecCredentials::new(with, Some(cluster.clone()), settings(&clock))
        .unwrap()
        .credentials()
        .await
        .unwrap();
    ExecCredentials::new(config(&plugin), Some(cluster), settings(&clock))
        .unwrap()
        .credentials()
        .await
        .unwrap();
    let infos = plugin.exec_infos();
    assert_eq!(
        infos[0]["spec"]["cluster"],
        serde_json::json!({
            "server": "https://127.0.0.1:6443/prefix",
            "tls-server-name": "kubernetes.test",
            "certificate-authority-data": "LS0tLS1CRUdJTi0tLS0t",
            "proxy-url": "socks5://127.0.0.1:1080",
            "disable-compression": true,
            "config": {"audience": "kubecred"},
        })
    );
    assert!(infos[1]["spec"].get("cluster").is_none(), "{}", infos[1]);
    assert_eq!(infos[1]["spec"]["interactive"], false);
    assert!(plugin.run_records()[1].env(EXEC_INFO_VAR).is_some());
}

#[tokio::test]
async fn a_hung_plugin_is_killed_at_the_timeout_and_gone() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.sleep(Duration::from_secs(30));
    let clock = ManualClock::new(start());
    let mut settings = settings(&clock);
    settings.timeout = Duration::from_millis(500);
    let exec = ExecCredentials::new(config(&plugin), None, settings).unwrap();
    let started = Instant::now();
    let text = run_error(&exec).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(
        text.contains("ran longer than the exec timeout of 500ms and was killed")
            && text.contains("(--exec-timeout on the CLI, ClientBuilder::exec_timeout in code)"),
        "{text}"
    );
    let pid = plugin.run_records()[0]
        .pid
        .expect("the plugin recorded its pid");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the plugin's process {pid} is still there"
    );
}

/// The processes whose process group is `group`, and are not zombies, from `/proc/*/stat`.
fn live_members_of_group(group: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = tail.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == group.to_string() {
            members.extend(head.split(' ').next().and_then(|p| p.parse::<u32>().ok()));
        }
    }
    members
}

/// The live members of `group` once they have had `within` to die: SIGKILL is delivered at
/// once, but a killed process leaves the table when the kernel has run its exit, which on a
/// loaded machine takes a moment; polled every 10 ms, so a group that dies returns at once.
fn live_members_of_group_after(group: u32, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let members = live_members_of_group(group);
        if members.is_empty() || Instant::now() >= deadline {
            return members;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn a_hung_plugins_children_are_killed_with_it() {
    // A plugin that starts a background child and waits for it (ExecPlugin's script cannot).
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plugin");
    let child_file = dir.path().join("child");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 37 &\necho $$ $! > '{}.new' && mv '{}.new' '{}'\nwait\n",
            child_file.display(),
            child_file.display(),
            child_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let clock = ManualClock::new(start());
    let mut settings = settings(&clock);
    // Long enough for the script to start its child and say so on a loaded machine.
    settings.timeout = Duration::from_secs(5);
    let mut config = ExecConfig {
        command: script.display().to_string(),
        base_dir: dir.path().to_owned(),
        ..config(&ExecPlugin::new(CANARY).unwrap())
    };
    config.interactive_mode = Some("Never".to_owned());
    let exec = ExecCredentials::new(config, None, settings).unwrap();
    let text = run_error(&exec).await;
    assert!(text.contains("and was killed"), "{text}");
    let pids: Vec<u32> = std::fs::read_to_string(&child_file)
        .expect("the plugin started its child within the timeout")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let [plugin_pid, child] = pids[..] else {
        panic!("{pids:?}")
    };
    // The plugin led its own group; nothing of it is left (a killed orphan may linger as a
    // zombie until init reaps it: dead, not counted).
    assert_eq!(
        live_members_of_group_after(plugin_pid, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
    assert!(
        !live_members_of_group(plugin_pid).contains(&child)
            && std::fs::read_to_string(format!("/proc/{child}/stat")).map_or(true, |stat| stat
                .rsplit_once(')')
                .is_some_and(|(_, t)| t.trim_start().starts_with('Z'))),
        "the plugin's child {child} survived"
    );
}

#[tokio::test]
async fn deeply_nested_plugin_output_is_refused_before_it_is_decoded() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_output(&format!(
        "apiVersion: v1\nstatus: {}\n",
        "[".repeat(200_000)
    ));
    let clock = ManualClock::new(start());
    let started = Instant::now();
    let text = run_error(&exec(&plugin, &clock)).await;
    assert!(
        text.contains("printed output that nests flow collections ([ and {) more than 64 levels deep (at line 2)"),
        "{text}"
    );
    // A hang guard only.
    assert!(started.elapsed() < Duration::from_secs(20));
    // JSON too.
    plugin.set_output(&format!("{{\"a\": {}", "{\"a\": ".repeat(100_000)));
    let text = run_error(&exec(&plugin, &clock)).await;
    assert!(
        text.contains("more than 64 levels deep (at line 1)"),
        "{text}"
    );
}

#[tokio::test]
async fn one_run_serves_every_call_when_there_is_no_expiry() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let exec = exec(&plugin, &clock);
    let first = exec.credentials().await.unwrap();
    for _ in 0..50 {
        let again = exec.credentials().await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the same Arc every time");
    }
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert!(Arc::ptr_eq(&exec.current().unwrap(), &first));
    exec.credentials().await.unwrap();
    assert_eq!((exec.runs(), plugin.runs()), (1, 1));
}

#[tokio::test]
async fn due_ten_seconds_before_the_expiration_timestamp() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(60)));
    let clock = ManualClock::new(start());
    let exec = exec(&plugin, &clock);
    let first = exec.credentials().await.unwrap();
    assert_eq!(first.expires_at(), Some(start() + Duration::from_secs(60)));

    plugin.set_token("rotated-token");
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    clock.advance(Duration::from_secs(49));
    assert!(exec.current().is_some());
    assert_eq!(token(&exec.credentials().await.unwrap()), CANARY);
    assert_eq!(plugin.runs(), 1);

    clock.advance(Duration::from_secs(1)); // 50 s: 10 s before expiry
    assert!(exec.current().is_none(), "due");
    assert_eq!(plugin.runs(), 1, "current() runs nothing");
    let second = exec.credentials().await.unwrap();
    assert_eq!(token(&second), "rotated-token");
    assert!(exec.credentials().await.unwrap().token().is_some());
    assert_eq!((exec.runs(), plugin.runs()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_calls_when_due_cause_one_run() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.sleep(Duration::from_millis(200));
    let clock = ManualClock::new(start());
    let exec = Arc::new(exec(&plugin, &clock));

    // The first call: everyone waits for the one run.
    let calls = |exec: &Arc<ExecCredentials>| {
        (0..100)
            .map(|_| {
                let exec = Arc::clone(exec);
                tokio::spawn(async move { exec.credentials().await })
            })
            .collect::<Vec<_>>()
    };
    for call in calls(&exec) {
        assert_eq!(token(&call.await.unwrap().unwrap()), CANARY);
    }
    assert_eq!(plugin.runs(), 1);

    // Due, not expired: one run, the others keep the valid credential or get the new one.
    plugin.set_expiry(Some(start() + Duration::from_secs(60)));
    let exec = Arc::new(super::tests::exec(&plugin, &clock));
    exec.credentials().await.unwrap();
    plugin.set_token("rotated-token");
    clock.advance(Duration::from_secs(55));
    for call in calls(&exec) {
        let credentials = call.await.unwrap().unwrap();
        assert!([CANARY, "rotated-token"].contains(&token(&credentials)));
    }
    assert_eq!(plugin.runs(), 3);

    // Expired: everyone waits for the one run.
    plugin.set_token("third-token");
    clock.advance(Duration::from_secs(3600));
    for call in calls(&exec) {
        assert_eq!(token(&call.await.unwrap().unwrap()), "third-token");
    }
    assert_eq!((exec.runs(), plugin.runs() as u64), (3, 4));
}

#[tokio::test]
async fn a_failed_re_run_keeps_a_valid_credential_and_warns() {
    let logs = LogCapture::start();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(60)));
    let clock = ManualClock::new(start());
    let exec = exec(&plugin, &clock);
    let first = exec.credentials().await.unwrap();

    plugin.fail_after_printing(1, "the identity provider is down");
    clock.advance(Duration::from_secs(52));
    let kept = exec.credentials().await.unwrap();
    assert!(Arc::ptr_eq(&first, &kept));
    assert_eq!(plugin.runs(), 2);
    let log = logs.take();
    assert!(
        log.contains("WARN")
            && log.contains("keeping its last credential")
            && log.contains("exited with status 1"),
        "{log}"
    );
    assert!(!log.contains(CANARY), "{log}");

    // Within the back-off: no run, the kept credential is current.
    assert!(Arc::ptr_eq(&exec.current().unwrap(), &first));
    exec.credentials().await.unwrap();
    assert_eq!(plugin.runs(), 2);

    // After it: one more try, still kept (it expires at 60 s).
    clock.advance(RETRY_AFTER_FAILURE);
    assert!(exec.current().is_none());
    assert!(Arc::ptr_eq(&exec.credentials().await.unwrap(), &first));
    assert_eq!(plugin.runs(), 3);

    // The plugin recovers: the next run replaces it.
    plugin.succeed();
    plugin.set_token("recovered-token");
    plugin.set_expiry(None);
    clock.advance(RETRY_AFTER_FAILURE);
    assert_eq!(token(&exec.credentials().await.unwrap()), "recovered-token");
    assert_eq!(plugin.runs(), 4);
}

#[tokio::test]
async fn past_expiry_a_failed_re_run_is_an_error() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(60)));
    let clock = ManualClock::new(start());
    let exec = exec(&plugin, &clock);
    exec.credentials().await.unwrap();
    plugin.fail_with(2, "expired session");
    clock.advance(Duration::from_secs(61));
    let text = run_error(&exec).await;
    assert!(text.contains("exited with status 2"), "{text}");
    assert!(exec.current().is_none());
    // Within the back-off the same error comes back without a run.
    let again = run_error(&exec).await;
    assert_eq!(again, text);
    assert_eq!(plugin.runs(), 2);
}

#[tokio::test]
async fn refresh_after_a_401_re_runs_once() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let exec = exec(&plugin, &clock);
    let rejected = exec.credentials().await.unwrap();
    plugin.set_token("after-401");
    let fresh = exec.refresh(&rejected).await.unwrap();
    assert_eq!(token(&fresh), "after-401");
    assert_eq!(plugin.runs(), 2);
    // The same rejected value again: the newer one, no run.
    let again = exec.refresh(&rejected).await.unwrap();
    assert!(Arc::ptr_eq(&again, &fresh));
    assert!(Arc::ptr_eq(&exec.current().unwrap(), &fresh));
    assert_eq!(plugin.runs(), 2);

    // A failed forced run is an error, and the next one waits for the back-off.
    plugin.fail_with(1, "revoked");
    let error = exec.refresh(&fresh).await.unwrap_err().to_string();
    assert!(error.contains("exited with status 1"), "{error}");
    let during_backoff = exec.refresh(&fresh).await.unwrap();
    assert!(Arc::ptr_eq(&during_backoff, &fresh));
    assert_eq!(plugin.runs(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_of_one_rejected_value_cause_one_run() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let clock = ManualClock::new(start());
    let exec = Arc::new(exec(&plugin, &clock));
    let rejected = exec.credentials().await.unwrap();
    plugin.set_token("after-401");
    plugin.sleep(Duration::from_millis(200));
    let refreshes: Vec<_> = (0..50)
        .map(|_| {
            let (exec, rejected) = (Arc::clone(&exec), Arc::clone(&rejected));
            tokio::spawn(async move { exec.refresh(&rejected).await })
        })
        .collect();
    for refresh in refreshes {
        assert_eq!(token(&refresh.await.unwrap().unwrap()), "after-401");
    }
    assert_eq!(plugin.runs(), 2);
}

#[tokio::test]
async fn current_does_no_io_and_is_none_when_due() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(30)));
    let clock = ManualClock::new(start());
    let exec = exec(&plugin, &clock);
    assert!(exec.current().is_none(), "nothing before the first run");
    assert_eq!(plugin.runs(), 0);
    let first = exec.credentials().await.unwrap();
    assert!(Arc::ptr_eq(&exec.current().unwrap(), &first));
    clock.advance(Duration::from_secs(20));
    for _ in 0..10 {
        assert!(exec.current().is_none());
    }
    assert_eq!(plugin.runs(), 1);
}

#[tokio::test]
async fn no_secret_from_the_plugin_in_any_error_debug_or_log() {
    let logs = LogCapture::start();
    let clock = ManualClock::new(start());
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let mut config = config(&plugin);
    config.env = vec![("PLUGIN_SECRET".to_owned(), CANARY.to_owned())];
    config.args = vec![format!("--token={CANARY}")];
    let exec = ExecCredentials::new(config, None, settings(&clock)).unwrap();
    let mut seen = vec![format!("{exec:?}")];
    let credentials = exec.credentials().await.unwrap();
    seen.push(format!("{credentials:?} {exec:?}"));

    let v1 = EXEC_API_V1;
    let outputs = [
        // Malformed JSON on the token's line.
        format!("{{\"apiVersion\":\"{v1}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{CANARY}\",}}}}"),
        // Malformed YAML.
        format!("apiVersion: {v1}\nkind: ExecCredential\nstatus: {{token: {CANARY}\n"),
        // The wrong type where a string belongs: serde would quote the value.
        format!("{{\"apiVersion\":\"{v1}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":{{\"{CANARY}\":1}}}}}}"),
        // A token an Authorization header cannot carry.
        format!("{{\"apiVersion\":\"{v1}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{CANARY} x\"}}}}"),
        // Another kind, another version, a bad timestamp, no status.
        format!("{{\"apiVersion\":\"{v1}\",\"kind\":\"{CANARY}\",\"status\":{{\"token\":\"{CANARY}\"}}}}"),
        format!("{{\"apiVersion\":\"example.com/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{CANARY}\"}}}}"),
        format!("{{\"apiVersion\":\"{v1}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{CANARY}\",\"expirationTimestamp\":\"{CANARY}\"}}}}"),
        format!("{{\"apiVersion\":\"{v1}\",\"kind\":\"ExecCredential\",\"spec\":{{\"token\":\"{CANARY}\"}}}}"),
        format!("{CANARY}\n"),
    ];
    for output in &outputs {
        plugin.set_output(output);
        let exec = super::tests::exec(&plugin, &clock);
        let error = exec.credentials().await.unwrap_err();
        let text = kubecred_core::error_chain(&error);
        assert!(text.contains("exec plugin"), "{text}");
        seen.push(format!("{text} {error:?} {exec:?}"));
    }
    plugin.set_token(CANARY);
    plugin.fail_after_printing(1, "failed");
    let exec = super::tests::exec(&plugin, &clock);
    let error = exec.credentials().await.unwrap_err();
    seen.push(format!("{error} {error:?}"));
    seen.push(logs.take());
    for text in seen {
        assert!(!text.contains(CANARY), "{text}");
    }
}
