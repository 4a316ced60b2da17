//! `kubecred get` and `explain` in a pod: the service account against the stand-in over TLS.

use kubecred_testing::{
    ApiServer, Authentication, CertificateAuthority, ServiceAccountFiles, POD_NAMESPACE_VAR,
    SERVICEACCOUNT_DIR_VAR, SERVICE_HOST_VAR, SERVICE_PORT_VAR,
};

use crate::support::*;

#[test]
fn get_api_succeeds_with_the_service_account() {
    let pod = Pod::new();
    let body = pod.get("/api").assert_success_body();
    assert_eq!(body["kind"], "APIVersions");
    assert_eq!(body["versions"], serde_json::json!(["v1"]));
    let requests = pod.server.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].path, "/api");
    assert_eq!(
        requests[0].authentication,
        Authentication::Token {
            label: "pod".into()
        }
    );
    assert_eq!(
        requests[0].user_agent.as_deref(),
        Some(concat!("kubecred/", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn get_keeps_the_query_and_prints_the_body_verbatim() {
    let pod = Pod::new();
    let body = pod
        .get("/api/v1/namespaces/team-a/pods?limit=1")
        .assert_success_body();
    assert_eq!(body["kind"], "PodList");
    assert_eq!(body["items"][0]["metadata"]["namespace"], "team-a");
    assert_eq!(
        pod.server.requests()[0].path,
        "/api/v1/namespaces/team-a/pods?limit=1"
    );
}

#[test]
fn token_file_ending_in_a_newline_works() {
    let pod = Pod::new();
    pod.files(
        ServiceAccountFiles::new()
            .token(format!("\n  {TOKEN}\r\n\n"))
            .ca_crt(pod.server.ca_pem()),
    );
    pod.get("/version").assert_success_body();
    assert_eq!(
        pod.authentications(),
        [Authentication::Token {
            label: "pod".into()
        }]
    );
}

#[test]
fn refused_token_names_the_source_and_the_401() {
    let server = ApiServer::builder()
        .token("someone-else", "other-token")
        .start()
        .unwrap();
    let pod = Pod::with_server(server);
    pod.get("/api").assert_failure(&[
        // Where: the method, the path and the server's address.
        "in-cluster: 401 Unauthorized for GET https://127.0.0.1:",
        "/api: Unauthorized",
        // The CLI says what to look at next.
        "`kubecred explain` shows where they came from",
    ]);
    // The one retry happens only when a re-read finds a different token: here it does not.
    assert_eq!(pod.authentications(), [Authentication::UnknownToken]);
}

#[test]
fn ca_that_did_not_sign_the_server_is_a_tls_error_naming_the_ca_file() {
    let pod = Pod::new();
    let stranger = CertificateAuthority::new("stranger-ca").unwrap();
    pod.files(
        ServiceAccountFiles::new()
            .token(TOKEN)
            .ca_crt(stranger.pem()),
    );
    let ca_path = path_str(&pod.dir.ca_path());
    pod.get("/api").assert_failure(&[
        "in-cluster: the API server at https://127.0.0.1:",
        "failed TLS verification against the CA bundle from file",
        &ca_path,
        "UnknownIssuer",
    ]);
    assert!(
        pod.server.requests().is_empty(),
        "no request may pass an unverified server"
    );
}

#[test]
fn ca_bundle_of_two_certificates_works_when_the_issuer_is_the_second() {
    let pod = Pod::new();
    let other = CertificateAuthority::new("other-ca").unwrap();
    pod.files(ServiceAccountFiles::new().token(TOKEN).ca_crt(format!(
        "{}{}",
        other.pem(),
        pod.server.ca_pem()
    )));
    pod.get("/api").assert_success_body();
}

#[test]
fn empty_token_file_fails_naming_the_file() {
    let pod = Pod::new();
    pod.files(
        ServiceAccountFiles::new()
            .token("\n")
            .ca_crt(pod.server.ca_pem()),
    );
    let token_path = path_str(&pod.dir.token_path());
    pod.get("/api")
        .assert_failure(&[&format!("in-cluster: token file {token_path} is empty")]);
    assert!(pod.server.requests().is_empty());
}

#[test]
fn missing_ca_crt_fails_and_never_falls_back_to_system_roots() {
    let pod = Pod::new();
    pod.files(ServiceAccountFiles::new().token(TOKEN));
    let ca_path = path_str(&pod.dir.ca_path());
    pod.get("/api").assert_failure(&[&format!(
        "in-cluster: CA bundle file {ca_path} does not exist"
    )]);
}

#[test]
fn service_port_missing_fails_naming_it() {
    let pod = Pod::new();
    let run = kubecred(&["get", "/api"], &pod.env_with(SERVICE_PORT_VAR, None));
    run.assert_failure(&[
        "in-cluster: environment variable KUBERNETES_SERVICE_PORT is not set, but KUBERNETES_SERVICE_HOST is",
    ]);
}

#[test]
fn ipv6_host_works_bare_and_bracketed() {
    let pod = Pod::with_server(
        ApiServer::builder()
            .ipv6(true)
            .token("pod", TOKEN)
            .start()
            .unwrap(),
    );
    for host in ["::1", "[::1]"] {
        let env = pod.env_with(SERVICE_HOST_VAR, Some(host));
        let body = kubecred(&["get", "/api"], &env).assert_success_body();
        assert_eq!(body["kind"], "APIVersions", "host {host}");
    }
    let hosts: Vec<_> = pod.server.requests().into_iter().map(|r| r.host).collect();
    let want = Some(format!("[::1]:{}", pod.server.port()));
    assert_eq!(hosts, [want.clone(), want]);

    let env = pod.env_with(SERVICE_HOST_VAR, Some("::1"));
    let report = kubecred(&["explain", "--output", "json"], &env).json();
    assert_eq!(
        report["endpoint"],
        format!("https://[::1]:{}", pod.server.port())
    );
}

#[test]
fn namespace_comes_from_pod_namespace_then_the_file_then_default() {
    let pod = Pod::new();
    let explain = |env: &[(String, String)]| kubecred(&["explain", "--output", "json"], env);

    let from_file = explain(&pod.env);
    from_file.assert_code(0);
    assert_eq!(from_file.json()["namespace"], "team-a");

    let from_env = explain(&pod.env_with(POD_NAMESPACE_VAR, Some("from-downward-api")));
    assert_eq!(from_env.json()["namespace"], "from-downward-api");
    assert!(source_report(&from_env.json(), "in-cluster")["variables"]
        .as_array()
        .unwrap()
        .contains(&"POD_NAMESPACE".into()));

    pod.files(
        ServiceAccountFiles::new()
            .token(TOKEN)
            .ca_crt(pod.server.ca_pem()),
    );
    assert_eq!(explain(&pod.env).json()["namespace"], "default");
}

#[test]
fn https_proxy_is_ignored_in_cluster() {
    let pod = Pod::new();
    let dead_proxy = format!("http://127.0.0.1:{}", closed_port());
    let mut env = pod.env.clone();
    for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"] {
        env.push(var(name, &dead_proxy));
    }
    kubecred(&["get", "/api"], &env).assert_success_body();
    assert_eq!(pod.server.requests().len(), 1);
}

#[test]
fn explain_reports_the_chosen_source_in_the_designed_json_shape() {
    let pod = Pod::new();
    let run = kubecred(&["explain", "--output", "json"], &pod.env);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(source_report(&report, "env")["outcome"], "not-applicable");
    let source = source_report(&report, "in-cluster");
    assert_eq!(source["outcome"], "chosen");
    assert_eq!(
        source["reason"],
        "KUBERNETES_SERVICE_HOST and _PORT are set"
    );
    assert_eq!(
        source["variables"],
        serde_json::json!(["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"])
    );
    assert_eq!(
        source["files"],
        serde_json::json!([
            path_str(&pod.dir.token_path()),
            path_str(&pod.dir.ca_path()),
            path_str(&pod.dir.namespace_path()),
        ])
    );
    assert_eq!(report["endpoint"], pod.server.url());
    assert_eq!(report["credential"]["kind"], "bearer-token");
    assert_eq!(report["credential"]["expires_at"], "2030-01-01T00:00:00Z");
    assert!(
        pod.server.requests().is_empty(),
        "explain sends no HTTP request"
    );

    let text = kubecred(&["explain"], &pod.env);
    text.assert_code(0);
    assert!(
        text.stdout.contains("in-cluster   chosen"),
        "{}",
        text.stdout
    );
}

#[test]
fn explain_when_nothing_applies_reports_every_source_and_exits_1() {
    let run = kubecred(&["explain", "--output", "json"], &[]);
    run.assert_code(1);
    let report = run.json();
    // env, kubeconfig, in-cluster, proxy
    assert_eq!(report["sources"].as_array().unwrap().len(), 4);
    assert_eq!(
        source_report(&report, "kubeconfig")["outcome"],
        "not-applicable"
    );
    assert_eq!(source_report(&report, "proxy")["outcome"], "not-applicable");
    assert_eq!(
        source_report(&report, "env")["reason"],
        "KUBE_HOST is not set"
    );
    let in_cluster = source_report(&report, "in-cluster");
    assert_eq!(in_cluster["outcome"], "not-applicable");
    assert_eq!(
        in_cluster["reason"],
        "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
    );
    assert_eq!(report["endpoint"], serde_json::Value::Null);
    assert_eq!(report["credential"], serde_json::Value::Null);

    kubecred(&["get", "/api"], &[]).assert_failure(&[
        "no credential source applies: env: KUBE_HOST is not set; kubeconfig: KUBECONFIG and HOME are not set; in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set; proxy: nothing listening on 127.0.0.1:",
    ]);
}

#[test]
fn explain_of_a_failed_source_names_it_and_exits_1() {
    let pod = Pod::new();
    pod.files(
        ServiceAccountFiles::new()
            .token("")
            .ca_crt(pod.server.ca_pem()),
    );
    let run = kubecred(&["explain", "--output", "json"], &pod.env);
    run.assert_code(1);
    let report = run.json();
    let source = source_report(&report, "in-cluster");
    assert_eq!(source["outcome"], "failed");
    assert_eq!(
        source["reason"],
        format!("token file {} is empty", path_str(&pod.dir.token_path()))
    );
    assert_eq!(
        source["files"],
        serde_json::json!([path_str(&pod.dir.token_path())])
    );
}

#[test]
fn options_are_global_and_the_flag_beats_the_variable() {
    let pod = Pod::new();
    let dir = path_str(pod.dir.path());
    let env = pod.env_with(SERVICEACCOUNT_DIR_VAR, Some("/nonexistent/kubecred"));
    for args in [
        ["get", "/api", "--serviceaccount-dir", &dir],
        ["--serviceaccount-dir", &dir, "get", "/api"],
    ] {
        kubecred(&args, &env).assert_success_body();
    }
    kubecred(
        &[
            "--source",
            "in-cluster",
            "get",
            "/version",
            "--timeout",
            "5",
        ],
        &pod.env,
    )
    .assert_success_body();
}

#[test]
fn a_403_from_rbac_carries_the_servers_status_message() {
    let pod = Pod::new();
    pod.server.forbid_namespace("kube-system");
    pod.get("/api/v1/namespaces/kube-system/pods").assert_failure(&[
        "in-cluster: 403 Forbidden for GET https://127.0.0.1:",
        r#"/api/v1/namespaces/kube-system/pods: pods is forbidden: User "pod" cannot list resource "pods" in API group "" in the namespace "kube-system""#,
    ]);
}

#[test]
fn a_token_an_http_header_cannot_carry_fails_at_resolution_naming_the_file() {
    let pod = Pod::new();
    pod.files(
        ServiceAccountFiles::new()
            .token(format!("{TOKEN}\nsecond-line"))
            .ca_crt(pod.server.ca_pem()),
    );
    let token_path = path_str(&pod.dir.token_path());
    let report = kubecred(&["explain", "--output", "json"], &pod.env);
    report.assert_code(1);
    assert_eq!(
        source_report(&report.json(), "in-cluster")["reason"],
        format!("bearer token from file {token_path} holds characters an HTTP Authorization header cannot carry (spaces, control characters or non-ASCII)")
    );
    pod.get("/api").assert_failure(&[&token_path]);
    assert!(pod.server.requests().is_empty());
}

#[test]
fn dot_segments_in_the_path_are_refused_not_resolved() {
    let pod = Pod::new();
    pod.get("/api/../../version").assert_failure(&[
        "in-cluster: invalid request: request path must not contain '.' or '..' segments",
    ]);
    assert!(pod.server.requests().is_empty());
}
