//! The `kube-pods` example (the README's kube-rs program), built by `cargo test`, run as a process
//! in-cluster style: it lists, then its watcher prints each change the test pushes, through a
//! token rotation with the old token revoked.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use kubecred_testing::{closed_proxy_url, Pod, POD_TOKEN, POD_TOKEN_LABEL};

/// The example binary next to this test binary (`target/<profile>/examples/kube-pods`).
fn pods_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join("examples").join("kube-pods");
    assert!(
        binary.exists(),
        "{} is missing: `cargo test -p kubecred-kube` builds the examples",
        binary.display()
    );
    binary
}

/// How long the example may run before the watchdog kills it (a bound on a broken run).
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn the_example_lists_then_watches_through_a_rotation() {
    const ROTATED: &str = "kubecred-kube-example-rotated";
    let pod = Pod::start().unwrap();
    let mut child = Command::new(pods_binary())
        .arg("3")
        .env_clear()
        .envs(pod.in_cluster_vars())
        .env("KUBECRED_PROXY_URL", closed_proxy_url().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A bound on a broken run (never a wait): the example is killed if it has not finished
    // within LIMIT, or when the test fails first, so that a line that never comes fails the
    // test instead of hanging it.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(LIMIT).is_err() {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    // Each line is the readiness signal for the next step.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().expect("the example ended early").unwrap();
    assert_eq!(next(), "1 pod(s) in team-a via in-cluster: stand-in");
    assert_eq!(next(), "watching");
    pod.server.add_pod("team-a", "web", &[]);
    assert_eq!(next(), "applied web");

    pod.server.add_token("rotated", ROTATED);
    pod.rotate_token(format!("{ROTATED}\n")).unwrap();
    assert!(pod.server.revoke_token(POD_TOKEN_LABEL));
    pod.server.end_watches();
    pod.server.label_pod("team-a", "web", "tier", "front");
    assert_eq!(next(), "applied web");
    pod.server.delete_pod("team-a", "web");
    assert_eq!(next(), "deleted web");

    let status = child.wait().unwrap();
    done.send(()).unwrap();
    watchdog.join().unwrap();
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        !stderr.contains(POD_TOKEN) && !stderr.contains(ROTATED),
        "{stderr}"
    );
    let last = pod.server.requests().pop().unwrap();
    assert_eq!(
        last.authentication,
        kubecred_testing::Authentication::Token {
            label: "rotated".to_owned()
        }
    );
}
