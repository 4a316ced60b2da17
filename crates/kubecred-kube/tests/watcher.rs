//! The acceptance test of kubecred-kube: kube-rs's `watcher` on pods, through kubecred, keeps
//! delivering through a kubelet-style token rotation with the old token revoked, and never
//! surfaces an error to its caller. Against the stand-in API server over TLS, in-cluster
//! style.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::Api;
use kubecred_client::{Client, MapEnvironment};
use kubecred_testing::{Authentication, Pod as TestPod, RecordedRequest, POD_TOKEN_LABEL};

/// How long the test waits for the watcher's next item before it fails (a bound on a broken
/// run, never a wait: every item comes as soon as the stand-in sends it).
const ITEM_BOUND: Duration = Duration::from_secs(30);

/// The token the kubelet rotates to, and its label at the stand-in.
const ROTATED_TOKEN: &str = "kubecred-kube-rotated-token";
const ROTATED_LABEL: &str = "rotated";

/// A watcher's items, each one required to be `Ok`: the caller sees no error.
struct Items(BoxStream<'static, Result<Event<Pod>, watcher::Error>>);

impl Items {
    async fn next(&mut self) -> Event<Pod> {
        match tokio::time::timeout(ITEM_BOUND, self.0.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(Some(Err(error))) => panic!("the watcher surfaced an error: {error}"),
            Ok(None) => panic!("the watcher ended"),
            Err(_) => panic!("no item from the watcher within {ITEM_BOUND:?}"),
        }
    }

    /// The next item, which must be the change of pod `name` that `expected` describes.
    async fn expect(&mut self, expected: &str, name: &str) -> Pod {
        let event = self.next().await;
        let (kind, pod) = match event {
            Event::Apply(pod) => ("Apply", pod),
            Event::Delete(pod) => ("Delete", pod),
            Event::InitApply(pod) => ("InitApply", pod),
            Event::Init => ("Init", Pod::default()),
            Event::InitDone => ("InitDone", Pod::default()),
        };
        let got = pod.metadata.name.clone().unwrap_or_default();
        assert_eq!((kind, got.as_str()), (expected, name));
        pod
    }
}

async fn watch_pods(pod: &TestPod, config: watcher::Config) -> Items {
    let client = Client::builder()
        .environment(Arc::new(MapEnvironment::new(pod.kubelet_vars())))
        .serviceaccount_dir(pod.dir.path())
        .build()
        .await
        .unwrap();
    let kube = kubecred_kube::client(&client).unwrap();
    let pods: Api<Pod> = Api::default_namespaced(kube);
    Items(watcher::watcher(pods, config).boxed())
}

fn label(request: &RecordedRequest) -> String {
    match &request.authentication {
        Authentication::Token { label } => label.clone(),
        other => format!("{other:?}"),
    }
}

/// The watcher's initial list, a change, then the rotation; then changes pushed after it.
async fn rotate_under_a_watcher(pod: &TestPod, items: &mut Items) {
    pod.server.add_pod("team-a", "before", &[]);
    items.expect("Apply", "before").await;

    // The kubelet rotates the token (an atomic `..data` swap) and the old one is revoked.
    pod.server.add_token(ROTATED_LABEL, ROTATED_TOKEN);
    pod.rotate_token(format!("{ROTATED_TOKEN}\n")).unwrap();
    assert!(pod.server.revoke_token(POD_TOKEN_LABEL));
    let before_rotation = pod.server.requests().len();
    // The watch ends, as it does at its `timeoutSeconds` (290 s for kube-rs's watcher): the
    // re-watch goes out with the token kubecred holds (the old one, re-read only every 60 s),
    // gets a 401, and is sent again on the token re-read from the file.
    pod.server.end_watches();

    pod.server.add_pod("team-a", "after", &[("app", "after")]);
    items.expect("Apply", "after").await;
    pod.server.label_pod("team-a", "after", "tier", "front");
    let labelled = items.expect("Apply", "after").await;
    assert_eq!(labelled.metadata.labels.unwrap()["tier"], "front");
    pod.server.set_pod_phase("team-a", "after", "Succeeded");
    let done = items.expect("Apply", "after").await;
    assert_eq!(done.status.unwrap().phase.as_deref(), Some("Succeeded"));
    pod.server.delete_pod("team-a", "before");
    items.expect("Delete", "before").await;

    // One refused re-watch, then the same watch on the new token; nothing else.
    let after: Vec<_> = pod.server.requests()[before_rotation..].to_vec();
    let labels: Vec<_> = after.iter().map(label).collect();
    assert_eq!(labels, ["UnknownToken", ROTATED_LABEL], "{after:?}");
    assert_eq!(after[0].path, after[1].path);
    assert!(after[1].path.contains("watch=true"), "{}", after[1].path);
}

#[tokio::test]
async fn a_watcher_keeps_delivering_through_a_rotation_with_the_old_token_revoked() {
    let pod = TestPod::start().unwrap();
    let mut items = watch_pods(&pod, watcher::Config::default()).await;
    items.expect("Init", "").await;
    items.expect("InitApply", "stand-in").await;
    items.expect("InitDone", "").await;
    rotate_under_a_watcher(&pod, &mut items).await;

    // kube-rs's list-then-watch: a list (one page of at most 500), then a watch from its
    // version, with bookmarks and kube-rs's 290 s timeout.
    let requests = pod.server.requests();
    let list = &requests[0].path;
    assert!(
        list.contains("limit=500") && !list.contains("watch"),
        "{list}"
    );
    let watch = &requests[1].path;
    for part in [
        "watch=true",
        "resourceVersion=1",
        "timeoutSeconds=290",
        "allowWatchBookmarks=true",
    ] {
        assert!(watch.contains(part), "{part} not in {watch}");
    }
}

#[tokio::test]
async fn a_streaming_list_watcher_keeps_delivering_through_a_rotation() {
    let pod = TestPod::start().unwrap();
    let mut items = watch_pods(&pod, watcher::Config::default().streaming_lists()).await;
    items.expect("Init", "").await;
    items.expect("InitApply", "stand-in").await;
    items.expect("InitDone", "").await;
    rotate_under_a_watcher(&pod, &mut items).await;
    let first = &pod.server.requests()[0].path;
    assert!(first.contains("sendInitialEvents=true"), "{first}");
}
