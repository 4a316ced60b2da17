//! The exec credential cache driven for real: each `ExecCredentials` built over one cache
//! directory stands for one process (what the next `kubecred` command would be), with
//! kubecred_testing's `ExecPlugin` script counting runs.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kubecred_core::{ExposeSecret as _, ManualClock, MapEnvironment};
use kubecred_testing::{CertificateAuthority, ExecPlugin, LogCapture, EXEC_API_V1};

use crate::exec::{ClusterInfo, ExecConfig, ExecCredentials, ExecSettings};

/// A token no output, error, `Debug` or log line may contain.
const CANARY: &str = "kubecred-canary-cached-token-41c7aa";

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn config(plugin: &ExecPlugin) -> ExecConfig {
    ExecConfig {
        api_version: EXEC_API_V1.to_owned(),
        command: plugin.command().display().to_string(),
        args: vec!["get-token".to_owned()],
        env: vec![("PLUGIN_PROFILE".to_owned(), "dev".to_owned())],
        install_hint: None,
        provide_cluster_info: true,
        interactive_mode: Some("Never".to_owned()),
        base_dir: plugin.dir().to_owned(),
    }
}

fn cluster(server: &str) -> ClusterInfo {
    ClusterInfo {
        server: server.to_owned(),
        certificate_authority_data: Some("Q0E=".to_owned()),
        ..ClusterInfo::default()
    }
}

/// One process's credentials: the plugin over `dir`, at `clock`, with `vars` as its
/// environment.
struct Process<'a> {
    plugin: &'a ExecPlugin,
    dir: PathBuf,
    clock: ManualClock,
    vars: Vec<(&'static str, &'static str)>,
}

impl<'a> Process<'a> {
    fn new(plugin: &'a ExecPlugin, dir: &Path) -> Self {
        Self {
            plugin,
            dir: dir.to_owned(),
            clock: ManualClock::new(start()),
            vars: Vec::new(),
        }
    }

    fn start(&self) -> ExecCredentials {
        self.start_with(config(self.plugin), cluster("https://127.0.0.1:6443"))
    }

    fn start_with(&self, config: ExecConfig, cluster: ClusterInfo) -> ExecCredentials {
        let settings = ExecSettings {
            timeout: Duration::from_secs(20),
            clock: Arc::new(self.clock.clone()),
            env: Arc::new(MapEnvironment::new(self.vars.iter().copied())),
            stdin_is_terminal: false,
            cache_dir: Some((self.dir.clone(), "cache directory set by a test".to_owned())),
        };
        ExecCredentials::new(config, Some(cluster), settings).unwrap()
    }

    /// A new process's token.
    async fn token(&self) -> String {
        let exec = self.start();
        let credentials = exec.credentials().await.unwrap();
        credentials.token().unwrap().expose_secret().to_owned()
    }
}

/// A cache directory that does not exist yet (the cache creates it `0700`), in a temporary
/// directory removed on drop.
fn cache_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("exec");
    (tmp, dir)
}

/// The cache's entries (`*.json`) in `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn the_entry(dir: &Path) -> PathBuf {
    let entries = entries(dir);
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

#[tokio::test]
async fn the_next_process_reads_the_credential_from_a_0600_file_in_a_0700_directory() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("cache/kubecred/exec");
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let process = Process::new(&plugin, &dir);
    for _ in 0..5 {
        assert_eq!(process.token().await, CANARY);
    }
    assert_eq!(plugin.runs(), 1, "one run for five processes");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(
        mode(&home.path().join("cache")),
        0o700,
        "missing parents too"
    );
    let entry = the_entry(&dir);
    assert_eq!(mode(&entry), 0o600);
    let name = entry.file_stem().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    // Only the ExecCredential's status: nothing that names the machine, user or cluster.
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({
            "apiVersion": EXEC_API_V1,
            "kind": "ExecCredential",
            "status": {"token": CANARY, "expirationTimestamp": "2027-01-15T09:00:00Z"},
        })
    );
    let debug = format!("{:?}", process.start());
    assert!(!debug.contains(CANARY), "{debug}");
}

#[tokio::test]
async fn a_client_certificate_and_key_are_cached_too() {
    let (_tmp, dir) = cache_dir();
    let ca = CertificateAuthority::new("plugin CA").unwrap();
    let issued = ca.issue_client_certificate("exec-user").unwrap();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.clear_token();
    plugin.set_client_certificate(issued.cert_pem(), issued.key_pem());
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let process = Process::new(&plugin, dir.as_path());
    let first = process.start().credentials().await.unwrap();
    let second = process.start().credentials().await.unwrap();
    assert_eq!(plugin.runs(), 1);
    assert_eq!(
        first.identity().unwrap().certificates(),
        second.identity().unwrap().certificates()
    );
    assert_eq!(
        second.identity().unwrap().private_key().secret_der(),
        first.identity().unwrap().private_key().secret_der()
    );
    assert_eq!(
        second.expires_at(),
        Some(start() + Duration::from_secs(3600))
    );
}

#[tokio::test]
async fn an_entry_is_not_used_from_ten_seconds_before_its_expiry() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(60)));
    let process = Process::new(&plugin, dir.as_path());
    assert_eq!(process.token().await, CANARY);
    plugin.set_token("second-token");
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));

    process.clock.advance(Duration::from_secs(49));
    assert_eq!(process.token().await, CANARY, "11 s before expiry: used");
    assert_eq!(plugin.runs(), 1);
    process.clock.advance(Duration::from_secs(1));
    assert_eq!(process.token().await, "second-token", "10 s before: not");
    assert_eq!(plugin.runs(), 2);
    assert_eq!(process.token().await, "second-token", "and replaced");
    assert_eq!(plugin.runs(), 2);
}

#[tokio::test]
async fn a_change_of_args_env_server_or_inherited_profile_misses() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let mut process = Process::new(&plugin, dir.as_path());
    let server = "https://127.0.0.1:6443";
    let run = |process: &Process<'_>, config: ExecConfig, server: &str| {
        let exec = process.start_with(config, cluster(server));
        async move { exec.credentials().await.unwrap() }
    };
    run(&process, config(&plugin), server).await;
    run(&process, config(&plugin), server).await;
    assert_eq!(plugin.runs(), 1, "the same plugin hits");

    let mut args = config(&plugin);
    args.args.push("--region=eu".to_owned());
    run(&process, args, server).await;
    assert_eq!(plugin.runs(), 2, "args");
    let mut env = config(&plugin);
    env.env[0].1 = "prod".to_owned();
    run(&process, env, server).await;
    assert_eq!(plugin.runs(), 3, "an env value");
    run(&process, config(&plugin), "https://127.0.0.2:6443").await;
    assert_eq!(plugin.runs(), 4, "the server, with provideClusterInfo");
    let mut api = config(&plugin);
    api.api_version = kubecred_testing::EXEC_API_V1BETA1.to_owned();
    plugin.set_api_version(kubecred_testing::EXEC_API_V1BETA1);
    run(&process, api, server).await;
    assert_eq!(plugin.runs(), 5, "the apiVersion");
    plugin.set_api_version(EXEC_API_V1);
    process.vars = vec![("AWS_PROFILE", "other-account")];
    run(&process, config(&plugin), server).await;
    assert_eq!(plugin.runs(), 6, "an inherited AWS_PROFILE");

    // Without provideClusterInfo the server is not the plugin's business: one entry.
    process.vars.clear();
    let mut no_info = config(&plugin);
    no_info.provide_cluster_info = false;
    let mut no_info_2 = config(&plugin);
    no_info_2.provide_cluster_info = false;
    run(&process, no_info, server).await;
    run(&process, no_info_2, "https://127.0.0.2:6443").await;
    assert_eq!(plugin.runs(), 7);
    assert_eq!(entries(dir.as_path()).len(), 7);
}

#[tokio::test]
async fn a_credential_without_expiry_is_never_written() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let process = Process::new(&plugin, dir.as_path());
    for _ in 0..3 {
        assert_eq!(process.token().await, CANARY);
    }
    assert_eq!(plugin.runs(), 3, "every process runs it");
    assert_eq!(entries(dir.as_path()), Vec::<PathBuf>::new());

    // An entry left from when the plugin gave an expiry goes once it no longer does.
    plugin.set_expiry(Some(start() + Duration::from_secs(60)));
    process.token().await;
    assert_eq!(entries(dir.as_path()).len(), 1);
    process.clock.advance(Duration::from_secs(55));
    plugin.set_expiry(None);
    process.token().await;
    assert_eq!(entries(dir.as_path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_truncated_or_garbage_entry_is_ignored_and_replaced() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let process = Process::new(&plugin, dir.as_path());
    process.token().await;
    let entry = the_entry(dir.as_path());
    let whole = std::fs::read(&entry).unwrap();
    let logs = LogCapture::start();
    for (n, broken) in [
        whole[..whole.len() / 2].to_vec(),
        b"\x00\xffgarbage{{{".to_vec(),
        Vec::new(),
        br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"no-expiry"}}"#.to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&entry, broken).unwrap();
        assert_eq!(process.token().await, CANARY);
        assert_eq!(plugin.runs(), n + 2, "a broken entry is a miss");
        assert_eq!(std::fs::read(&entry).unwrap(), whole, "and is replaced");
        assert_eq!(mode(&entry), 0o600);
        assert_eq!(process.token().await, CANARY);
        assert_eq!(plugin.runs(), n + 2, "the replacement is used");
    }
    let log = logs.take();
    assert!(!log.contains("WARN"), "a broken entry is no warning: {log}");
    assert!(!log.contains(CANARY), "{log}");
}

#[tokio::test]
async fn an_entry_open_to_others_is_not_used_with_one_warning() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let process = Process::new(&plugin, dir.as_path());
    process.token().await;
    let entry = the_entry(dir.as_path());
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&entry).unwrap();

    let logs = LogCapture::start();
    for n in 0..3 {
        assert_eq!(process.token().await, CANARY);
        assert_eq!(
            plugin.runs(),
            n + 2,
            "the plugin runs as if there were no cache"
        );
    }
    let log = logs.take();
    assert_eq!(log.matches("WARN").count(), 1, "{log}");
    assert!(
        log.contains("exec credential cache is not used")
            && log.contains(&entry.display().to_string())
            && log.contains("mode 0644"),
        "{log}"
    );
    assert!(!log.contains(CANARY), "{log}");
    assert_eq!(mode(&entry), 0o644, "left alone");
    assert_eq!(std::fs::read(&entry).unwrap(), before);
}

#[tokio::test]
async fn a_directory_open_to_others_or_owned_by_another_user_is_not_used() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));

    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let foreign = tempfile::tempdir().unwrap();
    let euid = rustix::process::geteuid().as_raw();
    // As root, a directory handed to `nobody`; as anyone else, `/`, which root owns.
    let foreign_dir = if euid == 0 {
        std::os::unix::fs::chown(foreign.path(), Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(foreign.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        foreign.path().to_owned()
    } else {
        PathBuf::from("/")
    };
    for (dir, problem) in [
        (open.path().to_owned(), "mode 0755".to_owned()),
        (foreign_dir, format!("not by this process's user {euid}")),
    ] {
        let logs = LogCapture::start();
        let runs = plugin.runs();
        let process = Process::new(&plugin, &dir);
        for _ in 0..3 {
            assert_eq!(process.token().await, CANARY);
        }
        assert_eq!(plugin.runs(), runs + 3);
        let log = logs.take();
        assert_eq!(log.matches("WARN").count(), 1, "{log}");
        assert!(log.contains(&problem), "{problem}: {log}");
        assert_eq!(entries(&dir), Vec::<PathBuf>::new(), "nothing written");
        let explained = process.start().cache_report().unwrap();
        assert!(
            explained.contains("exec cache not used") && explained.contains(&problem),
            "{explained}"
        );
    }
}

#[tokio::test]
async fn a_file_as_the_directory_or_a_symlinked_entry_is_said_in_words_with_its_origin() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));

    // A regular file where the directory should be.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cache");
    std::fs::write(&file, "").unwrap();
    let logs = LogCapture::start();
    let process = Process::new(&plugin, &file);
    assert_eq!(process.token().await, CANARY);
    let log = logs.take();
    assert!(
        log.contains(&format!(
            "{} is not a directory (cache directory set by a test)",
            file.display()
        )) && !log.contains("os error"),
        "{log}"
    );

    // An entry that is a symbolic link (to a file that would decode).
    let (_tmp, dir) = cache_dir();
    let process = Process::new(&plugin, &dir);
    assert_eq!(process.token().await, CANARY);
    let entry = the_entry(&dir);
    let target = dir.with_file_name("elsewhere.json");
    std::fs::rename(&entry, &target).unwrap();
    std::os::unix::fs::symlink(&target, &entry).unwrap();
    let runs = plugin.runs();
    let logs = LogCapture::start();
    assert_eq!(process.token().await, CANARY);
    assert_eq!(
        plugin.runs(),
        runs + 1,
        "the link is not followed: the plugin runs"
    );
    let log = logs.take();
    assert!(
        log.contains(&format!(
            "{} is a symbolic link: not followed (cache directory set by a test)",
            entry.display()
        )) && !log.contains("os error"),
        "{log}"
    );
    let explained = process.start().cache_report().unwrap();
    assert!(
        explained.contains("is a symbolic link: not followed; cache directory set by a test"),
        "{explained}"
    );
}

#[tokio::test]
async fn a_refused_cached_credential_is_removed_and_the_plugin_runs_once() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let process = Process::new(&plugin, dir.as_path());
    process.token().await;

    // The token is revoked: the next process reads it, the server refuses it.
    plugin.set_token("after-401");
    let exec = process.start();
    let rejected = exec.credentials().await.unwrap();
    assert_eq!(rejected.token().unwrap().expose_secret(), CANARY);
    assert_eq!(plugin.runs(), 1);
    let fresh = exec.refresh(&rejected).await.unwrap();
    assert_eq!(fresh.token().unwrap().expose_secret(), "after-401");
    assert_eq!(plugin.runs(), 2, "one run");
    assert_eq!(process.token().await, "after-401", "the entry was replaced");
    assert_eq!(plugin.runs(), 2);

    // Another process refused the same old token meanwhile: the entry is newer, no run.
    let late = process.start();
    let fresh_again = late.refresh(&rejected).await.unwrap();
    assert_eq!(fresh_again.token().unwrap().expose_secret(), "after-401");
    assert_eq!(plugin.runs(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_started_together_run_the_plugin_once() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    plugin.sleep(Duration::from_millis(300));
    let process = Process::new(&plugin, dir.as_path());
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let exec = process.start();
            tokio::spawn(async move { exec.credentials().await })
        })
        .collect();
    for call in calls {
        let credentials = call.await.unwrap().unwrap();
        assert_eq!(credentials.token().unwrap().expose_secret(), CANARY);
    }
    assert_eq!(plugin.runs(), 1);
}

#[tokio::test]
async fn a_lock_held_past_the_exec_timeout_runs_the_plugin_without_the_cache() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let process = Process::new(&plugin, dir.as_path());
    let mut config = config(&plugin);
    config.args.push("--held".to_owned());
    let settings = ExecSettings {
        timeout: Duration::from_millis(300),
        clock: Arc::new(process.clock.clone()),
        env: Arc::new(MapEnvironment::default()),
        stdin_is_terminal: false,
        cache_dir: Some((
            dir.as_path().to_owned(),
            "cache directory set by a test".to_owned(),
        )),
    };
    let exec = ExecCredentials::new(config, Some(cluster("https://x")), settings).unwrap();
    let cache = exec.cache.as_ref().unwrap();
    let held = cache.lock(Duration::ZERO).await.unwrap();
    let logs = LogCapture::start();
    assert!(exec.credentials().await.is_ok());
    assert_eq!(plugin.runs(), 1);
    let log = logs.take();
    assert!(log.contains("is held by another process"), "{log}");
    assert_eq!(entries(dir.as_path()), Vec::<PathBuf>::new());
    drop(held);
}

#[tokio::test]
async fn an_exec_timeout_too_long_for_the_clock_waits_for_the_lock_without_a_deadline() {
    let (_tmp, dir) = cache_dir();
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let process = Process::new(&plugin, dir.as_path());
    let settings = ExecSettings {
        timeout: Duration::MAX,
        clock: Arc::new(process.clock.clone()),
        env: Arc::new(MapEnvironment::default()),
        stdin_is_terminal: false,
        cache_dir: Some((
            dir.as_path().to_owned(),
            "cache directory set by a test".to_owned(),
        )),
    };
    let exec = ExecCredentials::new(config(&plugin), Some(cluster("https://x")), settings).unwrap();
    let cache = exec.cache.as_ref().unwrap();
    // Another process holds the lock: the wait with Duration::MAX starts, and polls on.
    let held = cache.lock(Duration::ZERO).await.unwrap();
    let mut waiting = std::pin::pin!(cache.lock(Duration::MAX));
    tokio::select! {
        biased;
        _ = &mut waiting => panic!("the lock was had while held"),
        () = std::future::ready(()) => {}
    }
    drop(held);
    assert!(waiting.await.is_ok(), "had once released");
    // And a run under that timeout: the plugin runs once, its credential cached.
    assert_eq!(
        exec.credentials()
            .await
            .unwrap()
            .token()
            .unwrap()
            .expose_secret(),
        CANARY
    );
    assert_eq!(plugin.runs(), 1);
    assert_eq!(entries(dir.as_path()).len(), 1);
}

#[tokio::test]
async fn explain_says_whether_a_cached_credential_would_be_used_and_until_when() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("exec");
    let plugin = ExecPlugin::new(CANARY).unwrap();
    plugin.set_expiry(Some(start() + Duration::from_secs(3600)));
    let process = Process::new(&plugin, &dir);
    let report = process.start().cache_report().unwrap();
    assert!(
        report.contains("does not exist yet") && report.contains("the plugin would run"),
        "{report}"
    );
    assert!(!dir.exists(), "explain creates nothing");
    process.token().await;
    let report = process.start().cache_report().unwrap();
    assert!(
        report.contains("a cached bearer-token would be used, until 2027-01-15T08:59:50Z"),
        "{report}"
    );
    assert!(report.contains(&dir.display().to_string()), "{report}");
    assert!(!report.contains(CANARY), "{report}");
    process.clock.advance(Duration::from_secs(3595));
    let report = process.start().cache_report().unwrap();
    assert!(report.contains("within 10 s of its expiry"), "{report}");
    assert_eq!(plugin.runs(), 1, "explain runs nothing");

    let off = ExecCredentials::new(
        config(&plugin),
        None,
        ExecSettings {
            timeout: Duration::from_secs(1),
            clock: Arc::new(process.clock.clone()),
            env: Arc::new(MapEnvironment::default()),
            stdin_is_terminal: false,
            cache_dir: None,
        },
    )
    .unwrap();
    assert_eq!(off.cache_report(), None);
}

#[test]
fn the_default_location_follows_xdg_cache_home_then_home() {
    use super::ExecCache;
    let env = |vars: &[(&str, &str)]| MapEnvironment::new(vars.iter().copied());
    let located = |dir: &str, origin: &str| Some((PathBuf::from(dir), origin.to_owned()));
    let default = ExecCache::DefaultDir;
    assert_eq!(
        default.dir(
            &env(&[("XDG_CACHE_HOME", "/x/cache"), ("HOME", "/home/me")]),
            "--exec-cache"
        ),
        located(
            "/x/cache/kubecred/exec",
            "cache directory: the default location under XDG_CACHE_HOME, turned on by --exec-cache"
        )
    );
    assert_eq!(
        default.dir(
            &env(&[("XDG_CACHE_HOME", "relative"), ("HOME", "/home/me")]),
            "KUBECRED_EXEC_CACHE"
        ),
        located(
            "/home/me/.cache/kubecred/exec",
            "cache directory: the default location under HOME, turned on by KUBECRED_EXEC_CACHE"
        ),
        "a relative XDG_CACHE_HOME is ignored"
    );
    let logs = LogCapture::start();
    assert_eq!(default.dir(&env(&[]), "--exec-cache"), None);
    assert!(logs.take().contains("needs XDG_CACHE_HOME or HOME"));
    assert_eq!(ExecCache::Off.dir(&env(&[("HOME", "/h")]), "x"), None);
    assert_eq!(
        ExecCache::Dir("/d".into()).dir(&env(&[]), "ClientBuilder::exec_cache"),
        located("/d", "cache directory set by ClientBuilder::exec_cache")
    );
}
