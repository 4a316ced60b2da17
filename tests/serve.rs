//! The stand-in you can start as a process (`cargo run -p kubecred-testing --example serve`):
//! the variables it exports, evaluated by a shell, are the ones kubecred reads, and a client
//! built from them gets `/api` from the stand-in.

use std::sync::Arc;

use kubecred_client::Client;
use kubecred_core::MapEnvironment;
use kubecred_testing::{eval_exports, export_lines, Authentication, Pod};

/// A client of the default chain in exactly `vars` (the proxy pinned to a closed port)
/// chooses `source`, and its `GET /api` answers the stand-in's `APIVersions`, sent with the
/// pod's token.
async fn reaches(pod: &Pod, vars: Vec<(String, String)>, source: &str) {
    let client = Client::builder()
        .environment(Arc::new(MapEnvironment::new(vars)))
        .proxy_url(crate::support::closed_proxy_url())
        .build()
        .await
        .unwrap();
    assert_eq!(client.source_name(), source);
    let versions: serde_json::Value = client.get_json("/api").await.unwrap();
    assert_eq!(versions["kind"], "APIVersions");
    let requests = pod.server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].path, "/api");
    let serve = Authentication::Token {
        label: "serve".to_owned(),
    };
    assert_eq!(requests[0].authentication, serve);
}

fn serve_pod() -> Pod {
    Pod::builder()
        .token("serve", "kubecred-serve-test-token")
        .start()
        .unwrap()
}

#[test]
fn the_fixtures_variable_names_are_the_ones_kubecred_reads() {
    assert_eq!(
        kubecred_testing::SERVICE_HOST_VAR,
        kubecred_incluster::SERVICE_HOST_VAR
    );
    assert_eq!(
        kubecred_testing::SERVICE_PORT_VAR,
        kubecred_incluster::SERVICE_PORT_VAR
    );
    assert_eq!(
        kubecred_testing::POD_NAMESPACE_VAR,
        kubecred_incluster::POD_NAMESPACE_VAR
    );
    assert_eq!(
        kubecred_testing::SERVICEACCOUNT_DIR_VAR,
        kubecred_client::SERVICEACCOUNT_DIR_VAR
    );
    let prefix = kubecred_env::DEFAULT_PREFIX;
    assert_eq!(kubecred_testing::ENV_HOST_VAR, format!("{prefix}_HOST"));
    assert_eq!(
        kubecred_testing::ENV_TOKEN_FILE_VAR,
        format!("{prefix}_TOKEN_FILE")
    );
    assert_eq!(
        kubecred_testing::ENV_CA_FILE_VAR,
        format!("{prefix}_CLUSTER_CA_CERT_FILE")
    );
}

#[tokio::test]
async fn the_in_cluster_exports_evaluated_by_sh_reach_the_stand_in() {
    let pod = serve_pod();
    let vars = eval_exports(&export_lines(&pod.in_cluster_vars())).unwrap();
    reaches(&pod, vars, "in-cluster").await;
}

#[tokio::test]
async fn the_env_exports_evaluated_by_sh_reach_the_stand_in() {
    let pod = serve_pod();
    let vars = eval_exports(&export_lines(&pod.env_vars())).unwrap();
    reaches(&pod, vars, "env").await;
}

#[tokio::test]
async fn all_the_exports_evaluated_by_sh_reach_the_stand_in_through_the_env_style() {
    let pod = serve_pod();
    let vars = eval_exports(&pod.exports()).unwrap();
    assert_eq!(vars.len(), 6, "{vars:?}");
    reaches(&pod, vars, "env").await;
}
