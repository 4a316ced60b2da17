//! No output of the binary ever contains the token.

use crate::support::*;

/// Runs every scenario of this binary once more in a fixed order (tests run in parallel, so
/// this one drives its own) and searches every stdout and stderr for the token.
#[test]
fn no_output_contains_the_token() {
    use kubecred_testing::{ApiServer, CertificateAuthority, ServiceAccountFiles};

    let pod = Pod::new();
    let mut runs = vec![
        pod.get("/api"),
        kubecred(&["explain"], &pod.env),
        kubecred(&["explain", "--output", "json"], &pod.env),
        kubecred(
            &["get", "/api"],
            &pod.env_with("KUBERNETES_SERVICE_PORT", None),
        ),
        kubecred(&["get", "/api"], &pod.env_with("RUST_LOG", Some("trace"))),
    ];
    let refused = Pod::with_server(ApiServer::builder().token("x", "other").start().unwrap());
    runs.push(refused.get("/api"));
    runs.push(kubecred(
        &["get", "/api"],
        &refused.env_with("RUST_LOG", Some("trace")),
    ));
    let stranger = CertificateAuthority::new("stranger").unwrap();
    pod.files(
        ServiceAccountFiles::new()
            .token(TOKEN)
            .ca_crt(stranger.pem()),
    );
    runs.push(pod.get("/api"));
    runs.push(kubecred(&["explain"], &pod.env));

    runs.extend(
        RUNS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned(),
    );
    assert!(runs.len() >= 9);
    for run in &runs {
        for needle in [TOKEN, TOKEN_SIGNATURE] {
            assert!(
                !run.stdout.contains(needle) && !run.stderr.contains(needle),
                "a run printed the token:\n{run:#?}"
            );
        }
    }
    // The trace-level runs did log (so the search above covered real log lines).
    assert!(runs
        .iter()
        .any(|r| r.stderr.contains("TRACE") || r.stderr.contains("DEBUG")));
}
