//! kubecred-kube on endpoints other than a pod's: a client certificate (the env source), the
//! real `kubectl proxy` on loopback (IPv4, and IPv6 with its `Host` header) and on a unix
//! socket, which kube-rs cannot reach.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kubecred_client::{Client, MapEnvironment, SourceName};
use kubecred_testing::{ApiServer, Authentication, KubectlProxy, ProxyListen};

/// The token `kubectl proxy` authenticates upstream with (its own, not the program's).
const KUBECTL_TOKEN: &str = "kubecred-kube-kubectl-token";

fn env_client(vars: &[(&str, &str)], source: SourceName) -> kubecred_client::ClientBuilder {
    Client::builder()
        .environment(Arc::new(MapEnvironment::new(vars.iter().copied())))
        .sources([source])
}

/// The server's log but kubectl's own start-up request (`/version`).
fn pod_requests(server: &ApiServer) -> Vec<kubecred_testing::RecordedRequest> {
    let mut requests = server.requests();
    requests.retain(|r| r.path.contains("/pods"));
    requests
}

async fn pod_names(kube: kube::Client, namespace: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(kube, namespace);
    let list = pods.list(&Default::default()).await.unwrap();
    list.items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect()
}

#[tokio::test]
async fn a_client_certificate_authenticates_through_kubes_stack() {
    let server = ApiServer::start().unwrap();
    let identity = server.ca().issue_client_certificate("alice").unwrap();
    let ca = server.ca_pem();
    let url = server.url();
    let vars = [
        ("KUBE_HOST", url.as_str()),
        ("KUBE_CLUSTER_CA_CERT_DATA", ca.as_str()),
        ("KUBE_CLIENT_CERT_DATA", identity.cert_pem()),
        ("KUBE_CLIENT_KEY_DATA", identity.key_pem()),
        ("KUBE_NAMESPACE", "team-b"),
    ];
    let kube = kubecred_kube::from_builder(env_client(&vars, SourceName::Env))
        .await
        .unwrap();
    assert_eq!(kube.default_namespace(), "team-b");
    let pods: Api<Pod> = Api::default_namespaced(kube);
    let stand_in = pods.get("stand-in").await.unwrap();
    assert_eq!(stand_in.metadata.namespace.as_deref(), Some("team-b"));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].authentication,
        Authentication::ClientCertificate {
            common_name: "alice".to_owned()
        }
    );
}

#[tokio::test]
async fn kubectl_proxy_on_loopback_is_reached_without_credentials() {
    for listen in [ProxyListen::Loopback, ProxyListen::LoopbackIpv6] {
        let server = ApiServer::builder()
            .token("kubectl", KUBECTL_TOKEN)
            .start()
            .unwrap();
        let proxy = KubectlProxy::start(&server, KUBECTL_TOKEN, listen).unwrap();
        let vars = [("KUBECRED_PROXY_URL", proxy.url())];
        let kube = kubecred_kube::from_builder(env_client(&vars, SourceName::Proxy))
            .await
            .unwrap();
        // The proxy's namespace is `default`: kubecred does not read kubectl's kubeconfig.
        assert_eq!(kube.default_namespace(), "default");
        assert_eq!(
            pod_names(kube, "team-a").await,
            ["stand-in"],
            "{}",
            proxy.url()
        );
        // Only kubectl authenticated upstream: kubecred sent no credential to the proxy.
        let requests = pod_requests(&server);
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(
            requests[0].authentication,
            Authentication::Token {
                label: "kubectl".to_owned()
            }
        );
    }
}

#[tokio::test]
async fn kubectl_proxy_on_a_unix_socket_is_refused_saying_why() {
    let server = ApiServer::builder()
        .token("kubectl", KUBECTL_TOKEN)
        .start()
        .unwrap();
    let proxy = KubectlProxy::start(&server, KUBECTL_TOKEN, ProxyListen::UnixSocket).unwrap();
    let vars = [("KUBECRED_PROXY_URL", proxy.url())];
    let client = env_client(&vars, SourceName::Proxy).build().await.unwrap();
    let Err(error) = kubecred_kube::client(&client) else {
        panic!("a unix-socket endpoint made a kube::Client");
    };
    assert!(
        matches!(error, kubecred_kube::Error::Unreachable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("proxy: kube-rs cannot reach "),
        "{message}"
    );
    assert!(message.contains("unix socket"), "{message}");
    assert!(
        message.contains("kubectl proxy` on a loopback port"),
        "{message}"
    );
    assert!(pod_requests(&server).is_empty());
}

#[tokio::test]
async fn a_failed_chain_is_kubecreds_error_with_its_report() {
    let canary = "kubecred-kube-canary-token";
    let builder = env_client(&[("KUBE_TOKEN", canary)], SourceName::Env);
    let Err(error) = kubecred_kube::from_builder(builder).await else {
        panic!("a half-configured environment made a kube::Client");
    };
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(canary), "{shown}");
    let kubecred_kube::Error::Client(error) = error else {
        panic!("expected kubecred's error, got {error:?}");
    };
    assert!(error.report().is_some());
    assert!(error.to_string().contains("KUBE_HOST"), "{error}");
}
