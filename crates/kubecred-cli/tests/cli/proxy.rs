//! `kubecred` through the real `kubectl proxy`, pointed at the stand-in API server.

use kubecred_testing::{ApiServer, Authentication, KubectlProxy, ProxyListen, RecordedRequest};

use crate::support::*;

/// kubectl's own token upstream: the stand-in records it as `kubectl`.
const KUBECTL_TOKEN: &str = "kubectl-proxy-upstream-token-5e1d";

fn cluster() -> ApiServer {
    ApiServer::builder()
        .token("kubectl", KUBECTL_TOKEN)
        .start()
        .unwrap()
}

fn proxy(server: &ApiServer, listen: ProxyListen) -> KubectlProxy {
    KubectlProxy::start(server, KUBECTL_TOKEN, listen).unwrap()
}

/// The requests kubecred made (its User-Agent, which kubectl proxy forwards); kubectl's own
/// (its start-up `/version`) are left out.
fn from_kubecred(server: &ApiServer) -> Vec<RecordedRequest> {
    let ours = concat!("kubecred/", env!("CARGO_PKG_VERSION"));
    server
        .requests()
        .into_iter()
        .filter(|r| r.user_agent.as_deref() == Some(ours))
        .collect()
}

/// kubecred made `count` requests, and each reached the API server with kubectl's token:
/// kubecred sent no credentials of its own (kubectl would have forwarded them in its place).
#[track_caller]
fn assert_only_kubectl_authenticated(server: &ApiServer, count: usize) {
    let requests = from_kubecred(server);
    assert_eq!(requests.len(), count, "{requests:#?}");
    for r in &requests {
        assert_eq!(
            r.authentication,
            Authentication::Token {
                label: "kubectl".into()
            },
            "{r:#?}"
        );
    }
}

#[test]
fn get_api_through_kubectl_proxy_over_tcp() {
    let server = cluster();
    let proxy = proxy(&server, ProxyListen::Loopback);
    let body = kubecred(&["get", "/api", "--proxy-url", proxy.url()], &[]).assert_success_body();
    assert_eq!(body["versions"][0], "v1");
    assert_only_kubectl_authenticated(&server, 1);

    let report = kubecred(
        &["explain", "--output", "json", "--proxy-url", proxy.url()],
        &[],
    );
    report.assert_code(0);
    let report = report.json();
    assert_eq!(source_report(&report, "proxy")["outcome"], "chosen");
    assert_eq!(report["endpoint"], proxy.url());
    assert_eq!(report["credential"]["kind"], "none");
    assert_eq!(from_kubecred(&server).len(), 1, "explain sends no request");
}

#[test]
fn get_api_through_kubectl_proxy_on_a_unix_socket() {
    let server = cluster();
    let proxy = proxy(&server, ProxyListen::UnixSocket);
    assert!(proxy.url().starts_with("unix:///"));
    let env = [var("KUBECRED_PROXY_URL", proxy.url())];
    let body = kubecred(&["get", "/api/v1/namespaces/default/pods"], &env).assert_success_body();
    assert_eq!(body["kind"], "PodList");
    assert_only_kubectl_authenticated(&server, 1);
    let report = kubecred(&["explain", "--output", "json"], &env).json();
    let source = source_report(&report, "proxy");
    assert_eq!(
        source["variables"],
        serde_json::json!(["KUBECRED_PROXY_URL"])
    );
    assert_eq!(
        source["files"],
        serde_json::json!([&proxy.url()["unix://".len()..]])
    );
}

#[test]
fn get_api_through_kubectl_proxy_on_ipv6_loopback() {
    let server = cluster();
    let proxy = proxy(&server, ProxyListen::LoopbackIpv6);
    assert!(proxy.url().starts_with("http://[::1]:"), "{}", proxy.url());
    kubecred(&["get", "/version", "--proxy-url", proxy.url()], &[]).assert_success_body();
    assert_only_kubectl_authenticated(&server, 1);
}

#[test]
fn an_exec_path_is_reported_as_the_proxys_filter_not_rbac() {
    let server = cluster();
    let proxy = proxy(&server, ProxyListen::Loopback);
    let run = kubecred(
        &[
            "get",
            "/api/v1/namespaces/default/pods/web/exec?command=ls",
            "--proxy-url",
            proxy.url(),
        ],
        &[],
    );
    // The proxy's address, the request, and which of its filters most likely refused.
    run.assert_failure(&[
        &format!(
            "proxy: 403 Forbidden for GET {}/api/v1/namespaces/default/pods/web/exec?command=ls: Forbidden (refused by kubectl proxy's request filter, not by the cluster's RBAC: most likely by its path filter (--reject-paths",
            proxy.url()
        ),
    ]);
    assert!(
        from_kubecred(&server).is_empty(),
        "the filter answered, not the cluster"
    );
}

#[test]
fn nothing_listening_is_not_applicable_with_the_address() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let run = kubecred(&["explain", "--output", "json", "--proxy-url", &url], &[]);
    run.assert_code(1);
    let report = run.json();
    let source = source_report(&report, "proxy");
    assert_eq!(source["outcome"], "not-applicable");
    assert_eq!(
        source["reason"],
        format!("nothing listening on 127.0.0.1:{port} (connection refused)")
    );
}

#[test]
fn a_non_loopback_or_malformed_proxy_url_is_refused() {
    for (url, want) in [
        (
            "http://proxy.kubecred.test:8001",
            "proxy: refused: the proxy URL proxy.kubecred.test is not a loopback address",
        ),
        (
            "https://127.0.0.1:8001",
            "proxy: the proxy URL is not an http:// or unix:// URL",
        ),
    ] {
        kubecred(&["get", "/api", "--proxy-url", url], &[]).assert_failure(&[want]);
        let report = kubecred(&["explain", "--output", "json", "--proxy-url", url], &[]);
        report.assert_code(1);
        assert_eq!(source_report(&report.json(), "proxy")["outcome"], "failed");
    }
    let env = [var("KUBECRED_PROXY_URL", "ftp://127.0.0.1")];
    kubecred(&["get", "/api"], &env).assert_failure(&[
        "proxy: environment variable KUBECRED_PROXY_URL is not an http:// or unix:// URL",
    ]);
}

/// The one test that needs kubectl's default port: it runs alone on it (no other test in this
/// binary leaves the proxy unpinned) and fails, saying so, if another process holds 8001.
#[test]
fn the_default_chain_finds_kubectl_proxy_on_8001_and_in_cluster_beats_it() {
    if let Err(e) = std::net::TcpListener::bind("127.0.0.1:8001") {
        panic!("port 8001 (kubectl proxy's default) is held by another process ({e}); this test needs it free");
    }
    let server = cluster();
    let proxy = proxy(&server, ProxyListen::DefaultPort);
    assert_eq!(proxy.url(), "http://127.0.0.1:8001");

    kubecred_unpinned(&["get", "/api"], &[]).assert_success_body();
    assert_only_kubectl_authenticated(&server, 1);

    let pod = Pod::new();
    kubecred_unpinned(&["get", "/api"], &pod.env).assert_success_body();
    assert_eq!(pod.server.requests().len(), 1, "in-cluster comes first");
    assert_eq!(from_kubecred(&server).len(), 1);
    let report = kubecred_unpinned(&["explain", "--output", "json"], &pod.env).json();
    assert_eq!(source_report(&report, "in-cluster")["outcome"], "chosen");
    let skipped = source_report(&report, "proxy");
    assert_eq!(skipped["outcome"], "skipped");
    assert_eq!(
        skipped["reason"],
        "something accepts connections on 127.0.0.1:8001"
    );
}
