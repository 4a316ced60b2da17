//! The JSON bodies the stand-in API server answers with, shaped like kube-apiserver's (same
//! kinds, same field names, fields in the order kube-apiserver writes them).

use std::net::SocketAddr;

use crate::watch::PodObject;

/// A JSON string literal (quoted and escaped) for `value`.
fn json_string(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}

/// A `Status` object with `status: Failure`.
pub(crate) fn status(code: u16, reason: &str, message: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":{},"reason":{},"code":{code}}}"#,
        json_string(message),
        json_string(reason),
    )
}

/// `401`: no credentials, or a token the server does not know.
pub(crate) fn unauthorized() -> String {
    status(401, "Unauthorized", "Unauthorized")
}

/// `403` from the authorizer (RBAC): `user` may not list pods in `namespace`.
/// `verb` is `list` or `watch`.
pub(crate) fn forbidden_pods(user: &str, verb: &str, namespace: &str) -> String {
    status(
        403,
        "Forbidden",
        &format!(
            r#"pods is forbidden: User "{user}" cannot {verb} resource "pods" in API group "" in the namespace "{namespace}""#
        ),
    )
}

/// `404` for a path the server does not serve.
pub(crate) fn not_found() -> String {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// `404` for a pod that does not exist, as kube-apiserver words it (its `details` left out).
pub(crate) fn pod_not_found(name: &str) -> String {
    status(404, "NotFound", &format!(r#"pods "{name}" not found"#))
}

/// `405` for anything but GET.
pub(crate) fn method_not_allowed() -> String {
    status(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    )
}

/// `GET /api`: the `APIVersions` object, the reference request of the in-cluster check.
pub(crate) fn api_versions(server_address: SocketAddr) -> String {
    format!(
        r#"{{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{{"clientCIDR":"0.0.0.0/0","serverAddress":{}}}]}}"#,
        json_string(&server_address.to_string()),
    )
}

/// `GET /apis`: an `APIGroupList` with `apps/v1` and `batch/v1`.
pub(crate) fn api_group_list() -> String {
    let group = |name: &str| {
        format!(
            r#"{{"name":"{name}","versions":[{{"groupVersion":"{name}/v1","version":"v1"}}],"preferredVersion":{{"groupVersion":"{name}/v1","version":"v1"}}}}"#
        )
    };
    format!(
        r#"{{"kind":"APIGroupList","apiVersion":"v1","groups":[{},{}]}}"#,
        group("apps"),
        group("batch"),
    )
}

/// `GET /version`.
pub(crate) fn version() -> String {
    r#"{"major":"1","minor":"32","gitVersion":"v1.32.0","gitCommit":"kubecred-testing","gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.23.0","compiler":"gc","platform":"linux/amd64"}"#
        .to_owned()
}

/// One pod, as kube-apiserver writes it: with `kind` and `apiVersion` when `with_kind` (a
/// watch event's object), without them as an item of a list.
pub(crate) fn pod(pod: &PodObject, with_kind: bool) -> String {
    let labels = if pod.labels.is_empty() {
        String::new()
    } else {
        // Go's encoder writes a map's keys sorted, as the BTreeMap iterates them.
        format!(r#","labels":{}"#, serde_json::json!(pod.labels))
    };
    format!(
        concat!(
            r#"{{{kind}"metadata":{{"name":{name},"namespace":{ns},"#,
            r#""uid":"6f1b3c2e-0000-4000-8000-{serial:012}","resourceVersion":"{rv}","#,
            r#""creationTimestamp":"2026-01-01T00:00:00Z"{labels}}},"#,
            r#""spec":{{"containers":[{{"name":"main","image":"registry.k8s.io/pause:3.10","#,
            r#""resources":{{}},"imagePullPolicy":"IfNotPresent"}}],"restartPolicy":"Always","#,
            r#""serviceAccountName":"default","nodeName":"stand-in-node"}},"#,
            r#""status":{{"phase":{phase},"qosClass":"BestEffort","#,
            r#""startTime":"2026-01-01T00:00:00Z"}}}}"#,
        ),
        kind = if with_kind {
            r#""kind":"Pod","apiVersion":"v1","#
        } else {
            ""
        },
        name = json_string(&pod.name),
        ns = json_string(&pod.namespace),
        serial = pod.serial,
        rv = pod.resource_version,
        phase = json_string(&pod.phase),
        labels = labels,
    )
}

/// `GET /api/v1/namespaces/{namespace}/pods`: a `PodList` of `pods`, listed at
/// `resource_version`.
pub(crate) fn pod_list(resource_version: u64, pods: &[PodObject]) -> String {
    let items: Vec<String> = pods.iter().map(|p| pod(p, false)).collect();
    format!(
        r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"{resource_version}"}},"items":[{}]}}"#,
        items.join(",")
    )
}

/// The `410` `Status` (reason `Expired`) of a watch's `ERROR` event, for a `resourceVersion`
/// older than the history kept, as kube-apiserver words it.
pub(crate) fn expired(requested: u64, oldest: u64) -> String {
    status(
        410,
        "Expired",
        &format!("too old resource version: {requested} ({oldest})"),
    )
}

/// The object of the `BOOKMARK` that ends a streaming list's initial events (a `Pod` of
/// nothing but its `resourceVersion` and the `k8s.io/initial-events-end` annotation), as
/// kube-apiserver sends it.
pub(crate) fn initial_events_end(resource_version: u64) -> String {
    format!(
        r#"{{"kind":"Pod","apiVersion":"v1","metadata":{{"resourceVersion":"{resource_version}","creationTimestamp":null,"annotations":{{"k8s.io/initial-events-end":"true"}}}},"spec":{{"containers":null}},"status":{{}}}}"#
    )
}

/// `400` for a query parameter that does not parse.
pub(crate) fn bad_request(message: &str) -> String {
    status(400, "BadRequest", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(body: &str) -> Value {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    #[test]
    fn unauthorized_is_exactly_kube_apiservers() {
        assert_eq!(
            unauthorized(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
    }

    #[test]
    fn the_default_pod_list_is_unchanged() {
        assert_eq!(
            pod_list(1, &[PodObject::default_in("team-a")]),
            concat!(
                r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"#,
                r#""metadata":{"name":"stand-in","namespace":"team-a","#,
                r#""uid":"6f1b3c2e-0000-4000-8000-000000000001","resourceVersion":"1","#,
                r#""creationTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"stand-in"}},"#,
                r#""spec":{"containers":[{"name":"main","image":"registry.k8s.io/pause:3.10","#,
                r#""resources":{},"imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","#,
                r#""serviceAccountName":"default","nodeName":"stand-in-node"},"#,
                r#""status":{"phase":"Running","qosClass":"BestEffort","#,
                r#""startTime":"2026-01-01T00:00:00Z"}}]}"#,
            )
        );
        let watched = parse(&pod(&PodObject::default_in("a"), true));
        assert_eq!(
            (&watched["kind"], &watched["apiVersion"]),
            (&"Pod".into(), &"v1".into())
        );
        assert_eq!(parse(&expired(3, 9))["code"], 410);
        assert_eq!(parse(&bad_request("x"))["reason"], "BadRequest");
    }

    #[test]
    fn every_body_is_json_of_the_right_kind() {
        let addr: SocketAddr = "[::1]:6443".parse().unwrap();
        let api = parse(&api_versions(addr));
        assert_eq!(api["kind"], "APIVersions");
        assert_eq!(
            api["serverAddressByClientCIDRs"][0]["serverAddress"],
            "[::1]:6443"
        );
        let apis = parse(&api_group_list());
        assert_eq!(apis["kind"], "APIGroupList");
        assert_eq!(
            apis["groups"][0]["preferredVersion"]["groupVersion"],
            "apps/v1"
        );
        assert_eq!(apis["groups"][1]["name"], "batch");
        assert_eq!(parse(&version())["gitVersion"], "v1.32.0");
        assert_eq!(parse(&not_found())["reason"], "NotFound");
        assert_eq!(
            parse(&pod_not_found("x\""))["message"],
            r#"pods "x"" not found"#
        );
        assert_eq!(parse(&method_not_allowed())["code"], 405);
        let pods = parse(&pod_list(1, &[PodObject::default_in("we\"ird")]));
        assert_eq!(pods["kind"], "PodList");
        assert_eq!(pods["metadata"]["resourceVersion"], "1");
        assert_eq!(pods["items"][0]["metadata"]["name"], "stand-in");
        assert_eq!(pods["items"][0]["metadata"]["namespace"], "we\"ird");
        assert_eq!(pods["items"][0]["status"]["phase"], "Running");
    }
}
