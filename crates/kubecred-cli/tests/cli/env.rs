//! `kubecred` with the `KUBE_*` variables against the stand-in over TLS.

use base64::Engine as _;
use kubecred_testing::{ApiServer, Authentication, CertificateAuthority};

use crate::support::*;

/// The stand-in, accepting [`TOKEN`] as `laptop`, and the variables that reach it.
fn laptop() -> (ApiServer, Vec<(String, String)>) {
    let server = ApiServer::builder().token("laptop", TOKEN).start().unwrap();
    let env = vec![var("KUBE_HOST", &server.url())];
    (server, env)
}

fn with(env: &[(String, String)], more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.extend(more.iter().map(|(k, v)| var(k, v)));
    env
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn labels(server: &ApiServer) -> Vec<Authentication> {
    server
        .requests()
        .into_iter()
        .map(|r| r.authentication)
        .collect()
}

#[test]
fn token_with_a_pem_or_base64_ca_works() {
    let (server, env) = laptop();
    let pem = server.ca_pem();
    for ca in [pem.clone(), b64(&pem)] {
        let env = with(
            &env,
            &[("KUBE_TOKEN", TOKEN), ("KUBE_CLUSTER_CA_CERT_DATA", &ca)],
        );
        let body = kubecred(&["get", "/api"], &env).assert_success_body();
        assert_eq!(body["versions"][0], "v1");
    }
    assert_eq!(
        labels(&server),
        [
            Authentication::Token {
                label: "laptop".into()
            },
            Authentication::Token {
                label: "laptop".into()
            }
        ]
    );
}

#[test]
fn file_variants_work_and_explain_lists_their_paths() {
    let (server, env) = laptop();
    let client = server.ca().issue_client_certificate("laptop-user").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    };
    let token = write("token", &format!("{TOKEN}\n"));
    let ca = write("ca.crt", &server.ca_pem());
    let cert = write("client.crt", client.cert_pem());
    let key = write("client.key", secret_key(client.key_pem()));
    let env = with(
        &env,
        &[
            ("KUBE_TOKEN_FILE", &token),
            ("KUBE_CLUSTER_CA_CERT_FILE", &ca),
            ("KUBE_CLIENT_CERT_FILE", &cert),
            ("KUBE_CLIENT_KEY_FILE", &key),
        ],
    );
    kubecred(&["get", "/api"], &env).assert_success_body();
    // The token is tried first, as kube-apiserver does.
    assert_eq!(
        labels(&server),
        [Authentication::Token {
            label: "laptop".into()
        }]
    );

    let report = kubecred(&["explain", "--output", "json"], &env).json();
    let source = &report["sources"][0];
    assert_eq!(source["name"], "env");
    assert_eq!(source["outcome"], "chosen");
    assert_eq!(source["reason"], "KUBE_HOST is set");
    assert_eq!(
        source["variables"],
        serde_json::json!([
            "KUBE_HOST",
            "KUBE_TOKEN_FILE",
            "KUBE_CLUSTER_CA_CERT_FILE",
            "KUBE_CLIENT_CERT_FILE",
            "KUBE_CLIENT_KEY_FILE"
        ])
    );
    assert_eq!(source["files"], serde_json::json!([token, ca, cert, key]));
}

#[test]
fn client_certificate_alone_authenticates_with_mtls() {
    let (server, env) = laptop();
    let client = server.ca().issue_client_certificate("alice").unwrap();
    let env = with(
        &env,
        &[
            ("KUBE_CLUSTER_CA_CERT_DATA", &server.ca_pem()),
            ("KUBE_CLIENT_CERT_DATA", client.cert_pem()),
            ("KUBE_CLIENT_KEY_DATA", &b64(secret_key(client.key_pem()))),
        ],
    );
    kubecred(&["get", "/version"], &env).assert_success_body();
    assert_eq!(
        labels(&server),
        [Authentication::ClientCertificate {
            common_name: "alice".into()
        }]
    );
    let report = kubecred(&["explain", "--output", "json"], &env).json();
    assert_eq!(report["credential"]["kind"], "client-certificate");
}

#[test]
fn a_client_certificate_the_server_does_not_trust_is_reported_as_rejected() {
    let server = ApiServer::builder()
        .require_client_certificate(true)
        .start()
        .unwrap();
    // Another CA, and one with the very name of the server's (kubeadm names every cluster
    // CA "kubernetes"): a rustls server answers the latter with `decrypt_error`.
    for stranger in ["stranger", server.ca().common_name()] {
        let stranger = CertificateAuthority::new(stranger).unwrap();
        let client = stranger.issue_client_certificate("mallory").unwrap();
        let env = vec![
            var("KUBE_HOST", &server.url()),
            var("KUBE_CLUSTER_CA_CERT_DATA", &server.ca_pem()),
            var("KUBE_CLIENT_CERT_DATA", client.cert_pem()),
            var("KUBE_CLIENT_KEY_DATA", secret_key(client.key_pem())),
        ];
        kubecred(&["get", "/api"], &env).assert_failure(&[
            "env: the API server at https://127.0.0.1:",
            "rejected the client certificate",
        ]);
    }
    assert!(server.requests().is_empty());
}

#[test]
fn a_server_that_requires_a_client_certificate_says_so_when_none_is_configured() {
    let server = ApiServer::builder()
        .require_client_certificate(true)
        .token("laptop", "laptop-token-6d1f0a")
        .start()
        .unwrap();
    let env = vec![
        var("KUBE_HOST", &server.url()),
        var("KUBE_CLUSTER_CA_CERT_DATA", &server.ca_pem()),
        var("KUBE_TOKEN", "laptop-token-6d1f0a"),
    ];
    kubecred(&["get", "/api"], &env).assert_failure(&[
        "env: the API server at https://127.0.0.1:",
        "requires a client certificate, and the credentials have none",
    ]);
    assert!(server.requests().is_empty());
}

#[test]
fn an_invalid_kubecred_refresh_secs_fails_the_sources_that_use_it_and_explain_lists_all() {
    for value in ["abc", "0", "-1", "9223372036854775807"] {
        let env = [var("KUBECRED_REFRESH_SECS", value)];
        let run = kubecred(&["explain", "--output", "json"], &env);
        run.assert_code(1);
        let report = run.json();
        // env, kubeconfig, in-cluster, proxy
        assert_eq!(report["sources"].as_array().unwrap().len(), 4, "{value}");
        let env_source = source_report(&report, "env");
        assert_eq!(env_source["outcome"], "failed");
        assert_eq!(
            env_source["reason"],
            format!("environment variable KUBECRED_REFRESH_SECS is \"{}\", not a whole number of seconds from 1 to 31536000 (a year)", value)
        );
        assert_eq!(
            env_source["variables"],
            serde_json::json!(["KUBECRED_REFRESH_SECS"])
        );
        assert_eq!(source_report(&report, "kubeconfig")["outcome"], "skipped");
        assert_eq!(source_report(&report, "in-cluster")["outcome"], "skipped");
        assert_eq!(source_report(&report, "proxy")["outcome"], "skipped");
        kubecred(&["get", "/api"], &env).assert_failure(&["KUBECRED_REFRESH_SECS"]);
    }
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_named() {
    let (server, env) = laptop();
    let alice = server.ca().issue_client_certificate("alice").unwrap();
    let bob = server.ca().issue_client_certificate("bob").unwrap();
    let env = with(
        &env,
        &[
            ("KUBE_CLUSTER_CA_CERT_DATA", &server.ca_pem()),
            ("KUBE_CLIENT_CERT_DATA", alice.cert_pem()),
            ("KUBE_CLIENT_KEY_DATA", secret_key(bob.key_pem())),
        ],
    );
    kubecred(&["get", "/api"], &env).assert_failure(&[
        "env: client certificate identity from environment variable KUBE_CLIENT_KEY_DATA is a private key that does not match the certificate from environment variable KUBE_CLIENT_CERT_DATA",
    ]);
}

#[test]
fn bad_variables_fail_naming_them() {
    let (server, env) = laptop();
    let client = server.ca().issue_client_certificate("alice").unwrap();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("KUBE_TOKEN", TOKEN.into()), ("KUBE_TOKEN_FILE", "/tmp/x".into())],
            "env: KUBE_TOKEN and KUBE_TOKEN_FILE are both set: set only one of them",
        ),
        (
            vec![("KUBE_CLIENT_CERT_DATA", client.cert_pem().into())],
            "env: environment variable KUBE_CLIENT_KEY_DATA (or KUBE_CLIENT_KEY_FILE) is not set, but KUBE_CLIENT_CERT_DATA is",
        ),
        (
            vec![("KUBE_CLUSTER_CA_CERT_DATA", "bm90IGEgY2VydGlmaWNhdGU=".into())],
            "env: environment variable KUBE_CLUSTER_CA_CERT_DATA is neither PEM nor base64 of PEM (it looks like base64, but what it decodes to is not PEM)",
        ),
        (
            vec![("KUBE_INSECURE", "yes".into())],
            // A non-secret value is quoted.
            "env: environment variable KUBE_INSECURE is \"yes\", not a boolean",
        ),
    ];
    for (more, want) in cases {
        let more: Vec<(&str, &str)> = more.iter().map(|(k, v)| (*k, v.as_str())).collect();
        kubecred(&["get", "/api"], &with(&env, &more)).assert_failure(&[want]);
    }
    assert!(
        server.requests().is_empty(),
        "a failed source sends nothing"
    );
}

#[test]
fn insecure_works_against_an_unknown_ca_and_warns() {
    let (server, env) = laptop();
    let env = with(&env, &[("KUBE_TOKEN", TOKEN), ("KUBE_INSECURE", "true")]);
    let run = kubecred(&["get", "/api"], &env);
    run.assert_code(0);
    assert_eq!(run.json()["kind"], "APIVersions");
    assert!(run.stderr.contains("insecure"), "{run:#?}");

    let explain = kubecred(&["explain"], &env);
    explain.assert_code(0);
    assert!(explain.stderr.contains("insecure"), "{explain:#?}");
    assert!(
        explain.stdout.contains("warning:    insecure"),
        "{explain:#?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn without_a_ca_variable_the_system_roots_verify_and_explain_says_so() {
    let (_server, env) = laptop();
    let env = with(&env, &[("KUBE_TOKEN", TOKEN)]);
    let report = kubecred(&["explain", "--output", "json"], &env).json();
    assert_eq!(report["trust"], "the system root certificates");
    // The stand-in's own CA is in no system store.
    kubecred(&["get", "/api"], &env)
        .assert_failure(&["failed TLS verification against the system root certificates"]);
}

#[test]
fn a_token_over_plain_http_to_a_non_loopback_host_is_refused_before_connecting() {
    let env = vec![
        var("KUBE_HOST", "http://api.kubecred.test:8080"),
        var("KUBE_TOKEN", TOKEN),
    ];
    let run = kubecred(&["get", "/api", "--timeout", "2"], &env);
    run.assert_failure(&[
        "env: refused: a bearer token is never sent over plain http to a non-loopback host (http://api.kubecred.test:8080)",
    ]);
    let report = kubecred(&["explain", "--output", "json"], &env);
    report.assert_code(1);
    assert_eq!(report.json()["sources"][0]["outcome"], "failed");
}

#[test]
fn with_in_cluster_variables_present_env_wins_and_explain_says_why() {
    let pod = Pod::new();
    let (laptop_server, laptop_env) = laptop();
    let mut env = pod.env.clone();
    env.extend(with(
        &laptop_env,
        &[
            ("KUBE_TOKEN", TOKEN),
            ("KUBE_CLUSTER_CA_CERT_DATA", &laptop_server.ca_pem()),
        ],
    ));
    kubecred(&["get", "/api"], &env).assert_success_body();
    assert_eq!(laptop_server.requests().len(), 1);
    assert!(pod.server.requests().is_empty());

    let report = kubecred(&["explain", "--output", "json"], &env).json();
    let outcomes: Vec<_> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("env".to_owned(), "chosen".to_owned()),
            ("kubeconfig".to_owned(), "skipped".to_owned()),
            ("in-cluster".to_owned(), "skipped".to_owned()),
            ("proxy".to_owned(), "skipped".to_owned()),
        ]
    );
    assert_eq!(
        source_report(&report, "in-cluster")["reason"],
        "KUBERNETES_SERVICE_HOST and _PORT are set"
    );
}

#[test]
fn a_failed_env_never_falls_through_to_the_pods_identity() {
    let pod = Pod::new();
    let env = with(&pod.env, &[("KUBE_TOKEN", "half-configured")]);
    kubecred(&["get", "/api"], &env)
        .assert_failure(&["env: environment variable KUBE_HOST is not set, but KUBE_TOKEN is"]);
    assert!(pod.server.requests().is_empty());
}

#[test]
fn a_custom_prefix_reads_its_own_variables() {
    let (server, _) = laptop();
    let env = vec![
        var("MYAPP_HOST", &server.url()),
        var("MYAPP_TOKEN", TOKEN),
        var("MYAPP_CLUSTER_CA_CERT_DATA", &server.ca_pem()),
        var("KUBE_HOST", "https://not-used.test"),
    ];
    kubecred(&["get", "/api", "--env-prefix", "MYAPP"], &env).assert_success_body();
    assert_eq!(
        labels(&server),
        [Authentication::Token {
            label: "laptop".into()
        }]
    );
}
