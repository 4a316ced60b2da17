//! Inputs that used to crash or mislead the binary: an `exp` after the year 9999, a path that
//! is not UTF-8 in `explain --output json`, a service-account directory that does not exist.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use kubecred_testing::{SERVICE_HOST_VAR, SERVICE_PORT_VAR};

use crate::support::{kubecred, var};

/// `{"alg":"RS256"}` . `{"exp":253402300800}`: 10000-01-01T00:00:00Z, past what RFC 3339 writes.
const YEAR_10000_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjI1MzQwMjMwMDgwMH0.sig";

#[test]
fn a_token_expiring_after_the_year_9999_is_reported_not_a_crash() {
    let env = [
        var("KUBE_HOST", "https://127.0.0.1:1"),
        var("KUBE_INSECURE", "true"),
        var("KUBE_TOKEN", YEAR_10000_JWT),
    ];
    let explain = kubecred(&["explain", "--output", "json"], &env);
    explain.assert_code(0);
    let report = explain.json();
    assert_eq!(report["credential"]["kind"], "bearer-token");
    assert_eq!(report["credential"]["expires_at"], serde_json::Value::Null);
    assert!(report["warnings"].to_string().contains("9999"), "{report}");
    let text = kubecred(&["explain"], &env);
    text.assert_code(0);
    assert!(text.stdout.contains("9999"), "{}", text.stdout);
    // get builds the client (no panic) and fails on the closed port, exit 1.
    kubecred(&["get", "/api"], &env).assert_failure(&["env:"]);
}

#[test]
fn explain_json_takes_a_path_that_is_not_utf8() {
    let output = Command::new(env!("CARGO_BIN_EXE_kubecred"))
        .args(["explain", "--output", "json", "--serviceaccount-dir"])
        .arg(OsStr::from_bytes(b"/tmp/kubecred-no-such-dir/\xff"))
        .env_clear()
        .env(SERVICE_HOST_VAR, "10.96.0.1")
        .env(SERVICE_PORT_VAR, "443")
        .env(
            "KUBECRED_PROXY_URL",
            "unix:///nonexistent/kubecred-test.sock",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {output:?}"));
    assert_eq!(report["sources"][2]["name"], "in-cluster");
    assert_eq!(report["sources"][2]["outcome"], "failed");
    assert!(
        report["sources"][2]["files"]
            .to_string()
            .contains("/tmp/kubecred-no-such-dir/\u{fffd}"),
        "{report}"
    );
}

#[test]
fn a_missing_service_account_directory_is_named_with_its_flag() {
    let env = [
        var(SERVICE_HOST_VAR, "10.96.0.1"),
        var(SERVICE_PORT_VAR, "443"),
    ];
    let run = kubecred(
        &["get", "/api", "--serviceaccount-dir", "/nonexistent/sa"],
        &env,
    );
    run.assert_failure(&[
        "in-cluster:",
        "/nonexistent/sa",
        "--serviceaccount-dir",
        "does not exist",
    ]);
    let mut env = env.to_vec();
    env.push(var("KUBECRED_SERVICEACCOUNT_DIR", "/nonexistent/sa"));
    kubecred(&["get", "/api"], &env).assert_failure(&[
        "/nonexistent/sa",
        "KUBECRED_SERVICEACCOUNT_DIR",
        "does not exist",
    ]);
}
