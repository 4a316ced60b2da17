//! kube-rs's `Api::<Pod>` through kubecred-kube against the stand-in API server over TLS,
//! in-cluster style: get, list, watch.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::Api;
use kubecred_client::{Client, MapEnvironment};
use kubecred_testing::{Authentication, Pod as TestPod, POD_TOKEN_LABEL};

/// How long a test waits for the next watch event before it fails (a bound, never a wait).
const EVENT_BOUND: Duration = Duration::from_secs(30);

/// The kubecred client of `pod`, in-cluster style (the kubelet's variables, its directory).
async fn kubecred_client(pod: &TestPod) -> Client {
    Client::builder()
        .environment(Arc::new(MapEnvironment::new(pod.kubelet_vars())))
        .serviceaccount_dir(pod.dir.path())
        .build()
        .await
        .unwrap()
}

fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn get_and_list_pods_in_the_sources_namespace() {
    let pod = TestPod::start().unwrap();
    pod.server.add_pod("team-a", "web", &[("app", "web")]);
    let client = kubecred_client(&pod).await;
    let kube = kubecred_kube::client(&client).unwrap();
    assert_eq!(kube.default_namespace(), "team-a");

    let pods: Api<Pod> = Api::default_namespaced(kube);
    let list = pods.list(&ListParams::default()).await.unwrap();
    let names: Vec<_> = list.items.iter().map(name).collect();
    assert_eq!(names, ["stand-in", "web"]);
    assert_eq!(list.metadata.resource_version.as_deref(), Some("2"));

    let web = pods.get("web").await.unwrap();
    assert_eq!(web.metadata.labels.unwrap()["app"], "web");
    assert_eq!(web.metadata.namespace.as_deref(), Some("team-a"));
    let missing = pods.get("nope").await.unwrap_err();
    match missing {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"))
        }
        other => panic!("expected a 404 Status, got {other:?}"),
    }

    let requests = pod.server.requests();
    let paths: Vec<_> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/team-a/pods?",
            "/api/v1/namespaces/team-a/pods/web",
            "/api/v1/namespaces/team-a/pods/nope",
        ]
    );
    let token = Authentication::Token {
        label: POD_TOKEN_LABEL.to_owned(),
    };
    assert!(
        requests.iter().all(|r| r.authentication == token),
        "{requests:?}"
    );
}

#[tokio::test]
async fn api_watch_streams_the_current_pods_then_each_change() {
    let pod = TestPod::start().unwrap();
    let client = kubecred_client(&pod).await;
    let pods: Api<Pod> = Api::default_namespaced(kubecred_kube::client(&client).unwrap());
    let mut events = pods
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let mut next = async || match tokio::time::timeout(EVENT_BOUND, events.try_next()).await {
        Ok(event) => event.unwrap().expect("the watch ended"),
        Err(_) => panic!("no watch event within {EVENT_BOUND:?}"),
    };
    assert!(matches!(next().await, WatchEvent::Added(p) if name(&p) == "stand-in"));
    pod.server.add_pod("team-a", "web", &[]);
    assert!(matches!(next().await, WatchEvent::Added(p) if name(&p) == "web"));
    pod.server.label_pod("team-a", "web", "tier", "front");
    match next().await {
        WatchEvent::Modified(p) => assert_eq!(p.metadata.labels.unwrap()["tier"], "front"),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    pod.server.delete_pod("team-a", "stand-in");
    assert!(matches!(next().await, WatchEvent::Deleted(p) if name(&p) == "stand-in"));
    let watch = &pod.server.requests()[0];
    assert!(
        watch.path.starts_with("/api/v1/namespaces/team-a/pods?"),
        "{}",
        watch.path
    );
    assert!(watch.path.contains("watch=true"), "{}", watch.path);
}
