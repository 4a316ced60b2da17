//! `kubecred --exec-cache` and `KUBECRED_EXEC_CACHE`: separate `kubecred` processes share an
//! exec plugin's credential through the cache directory, against the stand-in over TLS.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kubecred_testing::{
    ApiServer, Authentication, Exec, ExecPlugin, Kubeconfig, KubeconfigDir, User,
};

use crate::support::*;

/// The token the plugin prints first (label `plugin` at the stand-in).
const FIRST_TOKEN: &str = "exec-cache-first-token-3e91c07d5a";
/// The token it prints after a rotation (label `rotated`).
const ROTATED_TOKEN: &str = "exec-cache-rotated-token-b8f2d6a1c4";

/// A laptop whose kubeconfig user runs a plugin that takes 300 ms and prints a token valid for
/// an hour; `HOME` is its directory (so no `~/.kube/config`), the cache goes in `cache/`.
struct Laptop {
    server: ApiServer,
    plugin: ExecPlugin,
    dir: KubeconfigDir,
    kubeconfig: PathBuf,
    env: Vec<(String, String)>,
}

impl Laptop {
    fn new() -> Self {
        let server = ApiServer::builder()
            .token("plugin", secret(FIRST_TOKEN))
            .token("rotated", secret(ROTATED_TOKEN))
            .start()
            .unwrap();
        let plugin = ExecPlugin::new(FIRST_TOKEN).unwrap();
        plugin.sleep(Duration::from_millis(300));
        #[allow(clippy::disallowed_methods)] // the plugin's expiry is real time
        let now = SystemTime::now();
        plugin.set_expiry(Some(now + Duration::from_secs(3600)));
        let dir = KubeconfigDir::new().unwrap();
        let config =
            Kubeconfig::for_server(&server, User::new("laptop").exec(Exec::plugin(&plugin)));
        let kubeconfig = dir.write("config", &config).unwrap();
        #[allow(clippy::disallowed_methods)] // kubecred gets our PATH (/bin/sh for the plugin)
        let path = std::env::var("PATH").unwrap_or_default();
        let env = vec![var("HOME", &path_str(dir.path())), var("PATH", &path)];
        Self {
            server,
            plugin,
            dir,
            kubeconfig,
            env,
        }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// `kubecred ARGS --kubeconfig FILE`, with `extra` variables.
    fn kubecred(&self, args: &[&str], extra: &[(String, String)]) -> Run {
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push("--kubeconfig".to_owned());
        args.push(path_str(&self.kubeconfig));
        let mut env = self.env.clone();
        env.extend_from_slice(extra);
        kubecred(&args, &env)
    }

    /// `kubecred get /api --exec-cache=CACHE`.
    fn get_cached(&self) -> Run {
        let flag = format!("--exec-cache={}", path_str(&self.cache()));
        self.kubecred(&["get", "/api", &flag], &[])
    }

    /// How each request the server saw so far authenticated (a revoked token is
    /// `UnknownToken`, answered `401`), and forgets them.
    fn take_requests(&self) -> Vec<Authentication> {
        self.server.take_authentications()
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn five_processes_with_the_cache_run_the_plugin_once_and_without_it_five_times() {
    let laptop = Laptop::new();
    for _ in 0..5 {
        let body = laptop.get_cached().assert_success_body();
        assert_eq!(body["versions"][0], "v1");
    }
    assert_eq!(laptop.plugin.runs(), 1, "one run for five processes");
    assert_eq!(
        laptop.take_requests(),
        vec![Authentication::token("plugin"); 5]
    );
    assert_eq!(mode(&laptop.cache()), 0o700);
    let cached = entries(&laptop.cache());
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(mode(&cached[0]), 0o600);

    for _ in 0..5 {
        laptop.kubecred(&["get", "/api"], &[]).assert_success_body();
    }
    assert_eq!(
        laptop.plugin.runs(),
        6,
        "without the cache, a run per process"
    );
    assert_eq!(
        laptop.take_requests(),
        vec![Authentication::token("plugin"); 5]
    );
}

#[test]
fn two_processes_started_together_run_the_plugin_once() {
    let laptop = Laptop::new();
    let runs = std::thread::scope(|scope| {
        let a = scope.spawn(|| laptop.get_cached());
        let b = scope.spawn(|| laptop.get_cached());
        [a.join().unwrap(), b.join().unwrap()]
    });
    for run in &runs {
        run.assert_success_body();
    }
    assert_eq!(laptop.plugin.runs(), 1);
    assert_eq!(
        laptop.take_requests(),
        vec![Authentication::token("plugin"); 2]
    );
}

#[test]
fn a_revoked_cached_token_costs_one_401_and_one_plugin_run() {
    let laptop = Laptop::new();
    laptop.get_cached().assert_success_body();
    laptop.take_requests();
    laptop.server.revoke_token("plugin");
    laptop.plugin.set_token(ROTATED_TOKEN);

    laptop.get_cached().assert_success_body();
    assert_eq!(
        laptop.take_requests(),
        [
            Authentication::UnknownToken,
            Authentication::token("rotated")
        ]
    );
    assert_eq!(laptop.plugin.runs(), 2, "one run after the 401");
    laptop.get_cached().assert_success_body();
    assert_eq!(laptop.take_requests(), [Authentication::token("rotated")]);
    assert_eq!(laptop.plugin.runs(), 2, "the new token was cached");
}

#[test]
fn an_entry_open_to_others_is_ignored_with_one_warning() {
    let laptop = Laptop::new();
    laptop.get_cached().assert_success_body();
    let entry = entries(&laptop.cache()).remove(0);
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = laptop.get_cached();
    run.assert_code(0);
    assert_eq!(
        laptop.plugin.runs(),
        2,
        "the plugin ran as if there were no cache"
    );
    assert_eq!(run.stderr.matches("WARN").count(), 1, "{run:#?}");
    assert!(
        run.stderr.contains("exec credential cache is not used")
            && run.stderr.contains("mode 0644")
            && run.stderr.contains(&path_str(&entry)),
        "{run:#?}"
    );
    assert_eq!(mode(&entry), 0o644, "left alone");
}

#[test]
fn the_bare_flag_uses_the_default_location_before_or_after_the_subcommand() {
    let laptop = Laptop::new();
    let xdg = laptop.dir.path().join("xdg");
    let env = [var("XDG_CACHE_HOME", &path_str(&xdg))];
    laptop
        .kubecred(&["get", "/api", "--exec-cache"], &env)
        .assert_success_body();
    laptop
        .kubecred(&["--exec-cache", "get", "/api"], &env)
        .assert_success_body();
    assert_eq!(laptop.plugin.runs(), 1, "one run for two processes");
    assert_eq!(
        laptop.take_requests(),
        vec![Authentication::token("plugin"); 2]
    );
    assert_eq!(entries(&xdg.join("kubecred/exec")).len(), 1);
    let report = laptop.kubecred(&["explain", "--exec-cache"], &env);
    report.assert_code(0);
    assert!(
        report
            .stdout
            .contains("a cached bearer-token would be used"),
        "{report:#?}"
    );
}

#[test]
fn the_variable_turns_it_on_and_a_relative_path_is_refused() {
    let laptop = Laptop::new();
    let xdg = laptop.dir.path().join("xdg");
    let on = [
        var("KUBECRED_EXEC_CACHE", "1"),
        var("XDG_CACHE_HOME", &path_str(&xdg)),
    ];
    for _ in 0..2 {
        laptop.kubecred(&["get", "/api"], &on).assert_success_body();
    }
    assert_eq!(laptop.plugin.runs(), 1);
    assert_eq!(entries(&xdg.join("kubecred/exec")).len(), 1);

    // `true` without XDG_CACHE_HOME: under $HOME/.cache.
    let home = [var("KUBECRED_EXEC_CACHE", "true")];
    laptop
        .kubecred(&["get", "/api"], &home)
        .assert_success_body();
    laptop
        .kubecred(&["get", "/api"], &home)
        .assert_success_body();
    assert_eq!(laptop.plugin.runs(), 2);
    assert_eq!(
        entries(&laptop.dir.path().join(".cache/kubecred/exec")).len(),
        1
    );

    // An absolute path; `0` is off.
    let dir = laptop.dir.path().join("by-variable");
    let by_path = [var("KUBECRED_EXEC_CACHE", &path_str(&dir))];
    laptop
        .kubecred(&["get", "/api"], &by_path)
        .assert_success_body();
    assert_eq!(entries(&dir).len(), 1);
    laptop
        .kubecred(&["get", "/api"], &[var("KUBECRED_EXEC_CACHE", "0")])
        .assert_success_body();
    assert_eq!(laptop.plugin.runs(), 4);

    laptop
        .kubecred(
            &["get", "/api"],
            &[var("KUBECRED_EXEC_CACHE", "relative/dir")],
        )
        .assert_failure(&["KUBECRED_EXEC_CACHE", "absolute directory path"]);
    assert_eq!(laptop.plugin.runs(), 4);
}

#[test]
fn the_largest_exec_timeout_with_the_cache_is_no_limit_not_a_panic() {
    let laptop = Laptop::new();
    let on = [var("KUBECRED_EXEC_CACHE", &path_str(&laptop.cache()))];
    let max = u64::MAX.to_string();
    for _ in 0..2 {
        laptop
            .kubecred(&["get", "/api", "--exec-timeout", &max], &on)
            .assert_success_body();
    }
    assert_eq!(laptop.plugin.runs(), 1, "the second process read the cache");
}

#[test]
fn the_variable_takes_go_s_booleans_as_kube_insecure_does() {
    let laptop = Laptop::new();
    let xdg = [var(
        "XDG_CACHE_HOME",
        &path_str(&laptop.dir.path().join("xdg")),
    )];
    for on in ["TRUE", "True", "t"] {
        let mut env = xdg.to_vec();
        env.push(var("KUBECRED_EXEC_CACHE", on));
        laptop
            .kubecred(&["get", "/api"], &env)
            .assert_success_body();
    }
    assert_eq!(laptop.plugin.runs(), 1, "one run, then the cache");
    let mut off = xdg.to_vec();
    off.push(var("KUBECRED_EXEC_CACHE", "False"));
    laptop
        .kubecred(&["get", "/api"], &off)
        .assert_success_body();
    assert_eq!(laptop.plugin.runs(), 2, "False is off");
}

#[test]
fn a_file_as_the_cache_directory_is_said_in_words_naming_the_setting() {
    let laptop = Laptop::new();
    let file = laptop.dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let xdg = laptop.dir.path().join("xdg-file");
    std::fs::create_dir(&xdg).unwrap();
    std::fs::write(xdg.join("kubecred"), "").unwrap();
    let flag = format!("--exec-cache={}", path_str(&file));
    for (args, env, said) in [
        (
            vec!["get", "/api", flag.as_str()],
            vec![],
            format!("{} is not a directory (cache directory set by --exec-cache)", path_str(&file)),
        ),
        (
            vec!["get", "/api"],
            vec![var("KUBECRED_EXEC_CACHE", &path_str(&file))],
            "is not a directory (cache directory set by KUBECRED_EXEC_CACHE)".to_owned(),
        ),
        (
            vec!["get", "/api", "--exec-cache"],
            vec![var("XDG_CACHE_HOME", &path_str(&xdg))],
            "(cache directory: the default location under XDG_CACHE_HOME, turned on by --exec-cache)"
                .to_owned(),
        ),
    ] {
        let run = laptop.kubecred(&args, &env);
        run.assert_code(0);
        assert!(
            run.stderr.contains("exec credential cache is not used")
                && run.stderr.contains(&said)
                && !run.stderr.contains("os error"),
            "{said}: {run:#?}"
        );
    }
    assert_eq!(
        laptop.plugin.runs(),
        3,
        "the plugin ran as if there were no cache"
    );
    let explained = laptop.kubecred(&["explain", &flag], &[]);
    assert!(
        explained.stdout.contains(&format!(
            "exec cache not used ({} is not a directory; cache directory set by --exec-cache)",
            path_str(&file)
        )),
        "{explained:#?}"
    );
}

#[test]
fn explain_says_a_cached_credential_would_be_used_and_until_when() {
    let laptop = Laptop::new();
    let flag = format!("--exec-cache={}", path_str(&laptop.cache()));
    let before = laptop.kubecred(&["explain", &flag], &[]);
    before.assert_code(0);
    assert!(
        before
            .stdout
            .contains("does not exist yet, so the plugin would run"),
        "{before:#?}"
    );
    laptop.get_cached().assert_success_body();
    let report = laptop
        .kubecred(&["explain", "--output", "json", &flag], &[])
        .json();
    let deferred = report["deferred_credential"].as_str().unwrap_or_default();
    assert!(
        deferred.contains("a cached bearer-token would be used, until 20")
            && deferred.contains("without running the plugin"),
        "{report:#}"
    );
    assert_eq!(laptop.plugin.runs(), 1, "explain runs nothing");
}
