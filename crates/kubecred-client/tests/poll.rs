//! The `poll` example, built by `cargo test`, keeps working through a token rotation with
//! revocation and a CA rotation, as a long-running program in a pod must.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kubecred_client::{PROXY_URL_VAR, REFRESH_SECS_VAR, SERVICEACCOUNT_DIR_VAR};
use kubecred_testing::{
    closed_proxy_url, kubelet_vars, ApiServer, CertificateAuthority, ServiceAccountDir,
    ServiceAccountFiles,
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
    let mut child = Command::new(poll_binary())
        .args(["/api", "20", "150"])
        .env_clear()
        .envs(kubelet_vars(&server.host(), server.port()))
        .env(SERVICEACCOUNT_DIR_VAR, dir.path())
        .env(PROXY_URL_VAR, closed_proxy_url().unwrap())
        .env(REFRESH_SECS_VAR, "1")
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

    // Each step happens after the poller has shown enough progress (its own output is the
    // readiness signal): the CA re-read period is 1 s, 50 lines are at least 1 s.
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        lines.push(line);
        match lines.len() {
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
    }
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();

    assert_eq!(lines.len(), 150, "stderr:\n{stderr}");
    for (i, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "line {line:?}");
        assert_eq!(fields[0], (i + 1).to_string(), "line {line:?}");
        assert_eq!(fields[1], "200", "line {line:?}\nstderr:\n{stderr}");
        fields[2].parse::<u64>().expect("milliseconds");
    }
    assert!(status.success(), "exit {status:?}\nstderr:\n{stderr}");

    // The rotation really happened: the revoked token met one 401, later requests carried
    // the new one, and the server saw a certificate from the new CA in use.
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
