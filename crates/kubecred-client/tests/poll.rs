//! The `poll` example, built by `cargo test`, keeps working through a token rotation with
//! revocation and a CA rotation, as a long-running program in a pod must.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kubecred_client::{PROXY_URL_VAR, REFRESH_SECS_VAR, SERVICEACCOUNT_DIR_VAR};
use std::time::{Duration, SystemTime};

use kubecred_testing::{
    closed_proxy_url, kubelet_vars, ApiServer, CertificateAuthority, Exec, ExecPlugin, Kubeconfig,
    KubeconfigDir, ServiceAccountDir, ServiceAccountFiles, User,
};

const TOKEN: &str = "poll-test-token-first";
const ROTATED: &str = "poll-test-token-rotated";

/// The example binary next to this test binary (`target/<profile>/examples/poll`).
fn poll_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join("examples").join("poll");
    assert!(
        binary.exists(),
        "{} is missing: `cargo test -p kubecred-client` builds the examples",
        binary.display()
    );
    binary
}

fn files(token: &str, ca: &str) -> ServiceAccountFiles {
    ServiceAccountFiles::new()
        .token(token)
        .ca_crt(ca)
        .namespace("team-a")
}

#[test]
fn poll_survives_token_rotation_with_revocation_and_ca_rotation() {
    let server = ApiServer::builder().token("first", TOKEN).start().unwrap();
    let old_ca = server.ca_pem();
    let new_ca = CertificateAuthority::new("rotated cluster CA").unwrap();
    let dir = ServiceAccountDir::new(&files(TOKEN, &old_ca)).unwrap();
    let mut env: Vec<(String, OsString)> = kubelet_vars(&server.host(), server.port())
        .into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect();
    env.push((SERVICEACCOUNT_DIR_VAR.to_owned(), dir.path().into()));
    env.push((REFRESH_SECS_VAR.to_owned(), "1".into()));

    // Each step happens after the poller has shown enough progress (its own output is the
    // readiness signal): the CA re-read period is 1 s, 50 lines are at least 1 s.
    let (lines, stderr, ok) = run_poll(&env, 150, 20, |n| {
        match n {
            // The kubelet rotates the token; the old one is revoked at once.
            10 => {
                server.add_token("rotated", ROTATED);
                dir.update(&files(ROTATED, &old_ca)).unwrap();
                assert!(server.revoke_token("first"));
            }
            // The CA rotates in the cluster's order: both CAs projected, ...
            20 => dir
                .update(&files(ROTATED, &format!("{old_ca}{}", new_ca.pem())))
                .unwrap(),
            // ... the API server switches to the new CA and drops its connections, ...
            70 => server.rotate_serving_certificate(&new_ca).unwrap(),
            // ... the old CA leaves the bundle, and later connections still verify.
            80 => dir.update(&files(ROTATED, &new_ca.pem())).unwrap(),
            130 => server.rotate_serving_certificate(&new_ca).unwrap(),
            _ => {}
        }
    });

    assert_eq!(lines.len(), 150, "stderr:\n{stderr}");
    for (i, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "line {line:?}");
        assert_eq!(fields[0], (i + 1).to_string(), "line {line:?}");
        assert_eq!(fields[1], "200", "line {line:?}\nstderr:\n{stderr}");
        fields[2].parse::<u64>().expect("milliseconds");
    }
    assert!(ok, "stderr:\n{stderr}");

    // The rotation really happened: the revoked token met one 401, later requests carried
    // the new one, and the server saw a certificate from the new CA in use.
    let seen = authentications_with_one_refused(&server);
    assert!(seen.last().unwrap().contains("rotated"), "{seen:#?}");
    assert!(!stderr.contains(TOKEN) && !stderr.contains(ROTATED));
}

#[test]
fn bad_arguments_exit_2_and_a_failed_start_exits_1_without_lines() {
    let run = |args: &[&str]| {
        Command::new(poll_binary())
            .args(args)
            .env_clear()
            .env(PROXY_URL_VAR, closed_proxy_url().unwrap())
            .output()
            .unwrap()
    };
    for args in [&["/api", "x", "1"][..], &["api", "10", "1"], &["/api"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    let out = run(&["/api", "10", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no credential source applies"));
}

/// Runs the poller for `count` requests of `/api`, `interval_ms` apart, with exactly `env` (and
/// the proxy pinned to a closed port), calling `step` with the number of lines printed so far
/// as each line comes (the poller's output is the readiness signal); returns the lines, stderr
/// and whether it exited 0.
fn run_poll(
    env: &[(String, OsString)],
    count: usize,
    interval_ms: u64,
    mut step: impl FnMut(usize),
) -> (Vec<String>, String, bool) {
    let mut child = Command::new(poll_binary())
        .args(["/api", &interval_ms.to_string(), &count.to_string()])
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)))
        .env(PROXY_URL_VAR, closed_proxy_url().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        BufReader::new(stderr).read_to_string(&mut text).unwrap();
        text
    });
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        lines.push(line.unwrap());
        step(lines.len());
    }
    let status = child.wait().unwrap();
    (lines, stderr.join().unwrap(), status.success())
}

/// [`run_poll`] through the kubeconfig at `kubeconfig` (`KUBECONFIG`).
fn poll_kubeconfig(
    kubeconfig: &std::path::Path,
    count: usize,
    interval_ms: u64,
    step: impl FnMut(usize),
) -> (Vec<String>, String, bool) {
    let env = [(
        kubecred_kubeconfig::KUBECONFIG_VAR.to_owned(),
        kubeconfig.as_os_str().to_owned(),
    )];
    run_poll(&env, count, interval_ms, step)
}

#[track_caller]
fn assert_all_200(lines: &[String], count: usize, stderr: &str) {
    assert_eq!(lines.len(), count, "lines: {lines:?}\nstderr:\n{stderr}");
    for line in lines {
        assert_eq!(
            line.split(' ').nth(1),
            Some("200"),
            "line {line:?}\nstderr:\n{stderr}"
        );
    }
}

#[test]
// The plugin's expiry is read by another process, on the real clock.
#[allow(clippy::disallowed_methods)]
fn poll_runs_an_exec_plugin_once_re_runs_it_before_expiry_and_after_a_revocation() {
    const FIRST: &str = "poll-exec-token-first";
    const SECOND: &str = "poll-exec-token-second";
    let server = ApiServer::builder().token("first", FIRST).start().unwrap();
    let plugin = ExecPlugin::new(FIRST).unwrap();
    let dir = KubeconfigDir::new().unwrap();
    let kubeconfig = dir
        .write(
            "config",
            &Kubeconfig::for_server(&server, User::new("dev").exec(Exec::plugin(&plugin))),
        )
        .unwrap();

    // No expiry: one run serves all 20 requests.
    let (lines, stderr, ok) = poll_kubeconfig(&kubeconfig, 20, 10, |_| {});
    assert_all_200(&lines, 20, &stderr);
    assert!(ok, "stderr:\n{stderr}");
    assert_eq!(plugin.runs(), 1);

    // A credential that expires 15 s after the run is due 5 s after it: one more run,
    // before it expires, with a credential that lasts (no failed request on the way).
    plugin.set_expiry(Some(SystemTime::now() + Duration::from_secs(15)));
    let runs_before = plugin.runs();
    // 70 requests 100 ms apart: 7 s, past the 5 s; the later runs' expiry is set at the
    // first line, seconds before the re-run.
    let (lines, stderr, ok) = poll_kubeconfig(&kubeconfig, 70, 100, |n| {
        if n == 1 {
            plugin.set_expiry(Some(SystemTime::now() + Duration::from_secs(600)));
        }
    });
    assert_all_200(&lines, 70, &stderr);
    assert!(ok, "stderr:\n{stderr}");
    assert_eq!(
        plugin.runs() - runs_before,
        2,
        "the first run, then one before expiry"
    );

    // Revoked at the stand-in: one 401, one re-run, and the request succeeds on the new token.
    plugin.set_expiry(None);
    server.clear_requests();
    let runs_before = plugin.runs();
    let (lines, stderr, ok) = poll_kubeconfig(&kubeconfig, 20, 20, |n| {
        if n == 10 {
            server.add_token("second", SECOND);
            plugin.set_token(SECOND);
            assert!(server.revoke_token("first"));
        }
    });
    assert_all_200(&lines, 20, &stderr);
    assert!(ok, "stderr:\n{stderr}");
    assert_eq!(
        plugin.runs() - runs_before,
        2,
        "the first run, then one after the 401"
    );
    let seen = authentications_with_one_refused(&server);
    assert!(seen.last().unwrap().contains("second"), "{seen:#?}");
    assert!(!stderr.contains(FIRST) && !stderr.contains(SECOND));
}

/// How each request the server saw authenticated (`Debug` of each), after checking that
/// exactly one of them carried a token the server refused.
#[track_caller]
fn authentications_with_one_refused(server: &ApiServer) -> Vec<String> {
    let seen: Vec<String> = server
        .requests()
        .into_iter()
        .map(|r| format!("{:?}", r.authentication))
        .collect();
    assert_eq!(
        seen.iter().filter(|a| a.contains("UnknownToken")).count(),
        1,
        "{seen:#?}"
    );
    seen
}
