//! No output of the binary ever contains the token or a private key.
//!
//! Every run of every test in this binary is searched as it finishes
//! (`support::kubecred`, against the token and every key registered with
//! `support::secret_key`); this test adds the runs where the most is logged: trace level, in
//! each source, succeeding and failing.

use kubecred_testing::{ApiServer, CertificateAuthority, ServiceAccountFiles};

use crate::support::*;

#[test]
fn trace_level_runs_print_no_secret() {
    let trace = |env: &[(String, String)]| {
        let mut env = env.to_vec();
        env.push(var("RUST_LOG", "trace"));
        env
    };
    let pod = Pod::new();
    let mut runs = vec![
        kubecred(&["get", "/api"], &trace(&pod.env)),
        kubecred(&["explain"], &trace(&pod.env)),
    ];
    let refused = Pod::with_server(ApiServer::builder().token("x", "other").start().unwrap());
    runs.push(kubecred(&["get", "/api"], &trace(&refused.env)));

    let stranger = CertificateAuthority::new("stranger").unwrap();
    pod.files(
        ServiceAccountFiles::new()
            .token(TOKEN)
            .ca_crt(stranger.pem()),
    );
    runs.push(kubecred(&["get", "/api"], &trace(&pod.env)));

    let laptop = ApiServer::builder().token("laptop", TOKEN).start().unwrap();
    let client = laptop.ca().issue_client_certificate("alice").unwrap();
    let env = vec![
        var("KUBE_HOST", &laptop.url()),
        var("KUBE_TOKEN", TOKEN),
        var("KUBE_CLUSTER_CA_CERT_DATA", &laptop.ca_pem()),
        var("KUBE_CLIENT_CERT_DATA", client.cert_pem()),
        var("KUBE_CLIENT_KEY_DATA", secret_key(client.key_pem())),
    ];
    runs.push(kubecred(&["get", "/api"], &trace(&env)));
    runs.push(kubecred(&["explain", "--output", "json"], &trace(&env)));
    assert_eq!(laptop.requests().len(), 1);

    // The searches ran in `kubecred`; here, make sure they searched real log lines.
    for run in &runs {
        assert!(
            run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"),
            "a trace-level run logged nothing:\n{run:#?}"
        );
    }
}
