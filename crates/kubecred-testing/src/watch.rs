//! The stand-in's pods as state a test changes: a server-wide `resourceVersion` counter, a
//! bounded history of the changes, and the watch streams (`?watch=true`) that follow them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use crate::responses;

/// How many changes (events) the stand-in keeps for watches that start from a
/// `resourceVersion`: a watch from a version older than the oldest change kept gets one
/// `ERROR` event holding a `410` `Status` of reason `Expired`, then the end of its stream, as
/// from kube-apiserver once its watch cache has moved on.
pub const WATCH_HISTORY_EVENTS: usize = 1000;

/// The name of the pod every namespace holds until a test changes it.
pub(crate) const DEFAULT_POD_NAME: &str = "stand-in";

/// One pod as the stand-in keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodObject {
    pub(crate) name: String,
    pub(crate) namespace: String,
    /// The serial number in the pod's `uid`.
    pub(crate) serial: u64,
    pub(crate) resource_version: u64,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) phase: String,
}

impl PodObject {
    /// The `stand-in` pod every namespace starts with (`resourceVersion` 1).
    pub(crate) fn default_in(namespace: &str) -> Self {
        PodObject {
            name: DEFAULT_POD_NAME.to_owned(),
            namespace: namespace.to_owned(),
            serial: 1,
            resource_version: 1,
            labels: BTreeMap::from([("app".to_owned(), "stand-in".to_owned())]),
            phase: "Running".to_owned(),
        }
    }
}

/// A watch event's `type`.
#[derive(Debug, Clone, Copy)]
enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One line of a watch body: `{"type":"ADDED","object":{...}}` and a newline.
fn event_line(kind: EventType, pod: &PodObject) -> Bytes {
    Bytes::from(
        format!(
            r#"{{"type":"{}","object":{}}}"#,
            kind.as_str(),
            responses::pod(pod, true)
        ) + "\n",
    )
}

/// A change kept for watches that start from a `resourceVersion`.
struct Change {
    resource_version: u64,
    namespace: String,
    line: Bytes,
}

/// An open watch: where its events go.
struct Watcher {
    namespace: String,
    /// Only changes after this version are sent (a watch from a version not yet reached).
    after: u64,
    events: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct Inner {
    /// The last change's `resourceVersion`; 0 before the first change, which counts as 1 (the
    /// default pods' version).
    resource_version: u64,
    /// The last uid serial handed out (1 is the default pods').
    serial: u64,
    /// Namespaces a test has changed; every other one holds only the default pod.
    namespaces: HashMap<String, Vec<PodObject>>,
    history: VecDeque<Change>,
    watchers: Vec<Watcher>,
}

impl Inner {
    fn current(&self) -> u64 {
        self.resource_version.max(1)
    }

    fn pods(&self, namespace: &str) -> Vec<PodObject> {
        self.namespaces
            .get(namespace)
            .cloned()
            .unwrap_or_else(|| vec![PodObject::default_in(namespace)])
    }

    fn pods_mut(&mut self, namespace: &str) -> &mut Vec<PodObject> {
        self.namespaces
            .entry(namespace.to_owned())
            .or_insert_with(|| vec![PodObject::default_in(namespace)])
    }

    /// Takes the next `resourceVersion`, stamps `pod` with it, keeps the change and sends it
    /// to every watch of its namespace.
    fn record(&mut self, kind: EventType, pod: &mut PodObject) -> u64 {
        self.resource_version = self.current() + 1;
        pod.resource_version = self.resource_version;
        let line = event_line(kind, pod);
        // A watch whose body was dropped (client gone) is forgotten here.
        self.watchers.retain(|watcher| {
            watcher.namespace != pod.namespace
                || pod.resource_version <= watcher.after
                || watcher.events.send(line.clone()).is_ok()
        });
        if self.history.len() == WATCH_HISTORY_EVENTS {
            self.history.pop_front();
        }
        self.history.push_back(Change {
            resource_version: self.resource_version,
            namespace: pod.namespace.clone(),
            line,
        });
        self.resource_version
    }
}

/// Every namespace's pods, the counter, the history and the open watches.
#[derive(Default)]
pub(crate) struct PodStore {
    inner: Mutex<Inner>,
}

impl PodStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counter now.
    pub(crate) fn resource_version(&self) -> u64 {
        self.lock().current()
    }

    /// The pods of `namespace` and the counter, read at one moment.
    pub(crate) fn list(&self, namespace: &str) -> (u64, Vec<PodObject>) {
        let inner = self.lock();
        (inner.current(), inner.pods(namespace))
    }

    /// The pod `name` of `namespace`, if there is one.
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<PodObject> {
        self.lock()
            .pods(namespace)
            .into_iter()
            .find(|pod| pod.name == name)
    }

    pub(crate) fn add(
        &self,
        namespace: &str,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Option<u64> {
        let mut inner = self.lock();
        if inner.pods(namespace).iter().any(|pod| pod.name == name) {
            return None;
        }
        inner.serial = inner.serial.max(1) + 1;
        let mut pod = PodObject {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            serial: inner.serial,
            resource_version: 0,
            labels,
            phase: "Running".to_owned(),
        };
        let version = inner.record(EventType::Added, &mut pod);
        inner.pods_mut(namespace).push(pod);
        Some(version)
    }

    pub(crate) fn modify(
        &self,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut PodObject),
    ) -> Option<u64> {
        let mut inner = self.lock();
        let index = inner
            .pods(namespace)
            .iter()
            .position(|pod| pod.name == name)?;
        let mut pod = inner.pods_mut(namespace)[index].clone();
        change(&mut pod);
        let version = inner.record(EventType::Modified, &mut pod);
        inner.pods_mut(namespace)[index] = pod;
        Some(version)
    }

    pub(crate) fn delete(&self, namespace: &str, name: &str) -> Option<u64> {
        let mut inner = self.lock();
        let index = inner
            .pods(namespace)
            .iter()
            .position(|pod| pod.name == name)?;
        let mut pod = inner.pods_mut(namespace).remove(index);
        Some(inner.record(EventType::Deleted, &mut pod))
    }

    /// Ends every open watch: each body sends what it has queued, then its last chunk.
    pub(crate) fn end_watches(&self) {
        self.lock().watchers.clear();
    }

    /// Opens a watch on `namespace`: from now (the current pods as `ADDED` first, then, with
    /// `initial_events_end`, a `BOOKMARK` annotated `k8s.io/initial-events-end` at the current
    /// version, as a streaming list ends its initial events) when `since` is `None`, else the
    /// changes after `since` the history still holds (or, when it no longer holds them all, an
    /// `ERROR` event with a `410` `Expired` `Status`, and the end).
    pub(crate) fn watch(
        &self,
        namespace: &str,
        since: Option<u64>,
        timeout: Option<Duration>,
        initial_events_end: bool,
    ) -> WatchBody {
        let mut inner = self.lock();
        let (sender, receiver) = mpsc::unbounded_channel();
        let body = WatchBody {
            events: receiver,
            ends_at: timeout.map(|timeout| tokio::time::Instant::now() + timeout),
            deadline: None,
        };
        match since {
            None => {
                for pod in inner.pods(namespace) {
                    // The receiver is right here: sending cannot fail.
                    let _ = sender.send(event_line(EventType::Added, &pod));
                }
                if initial_events_end {
                    let line = format!(
                        r#"{{"type":"BOOKMARK","object":{}}}"#,
                        responses::initial_events_end(inner.current())
                    ) + "\n";
                    let _ = sender.send(Bytes::from(line));
                }
            }
            Some(since) => {
                // The history holds every change from `oldest` to the counter, one per version.
                let oldest = inner.current() + 1 - inner.history.len() as u64;
                if since.saturating_add(1) < oldest {
                    // As kube-apiserver's watch cache answers: a `200` whose one event is the
                    // error (kube-rs's watcher lists again on it).
                    let line = format!(
                        r#"{{"type":"ERROR","object":{}}}"#,
                        responses::expired(since, oldest)
                    ) + "\n";
                    let _ = sender.send(Bytes::from(line));
                    return body;
                }
                for change in &inner.history {
                    if change.resource_version > since && change.namespace == namespace {
                        let _ = sender.send(change.line.clone());
                    }
                }
            }
        }
        inner.watchers.retain(|watcher| !watcher.events.is_closed());
        let after = since.unwrap_or(0);
        inner.watchers.push(Watcher {
            namespace: namespace.to_owned(),
            after,
            events: sender,
        });
        body
    }
}

/// A watch's response body: one data frame (so one chunk, flushed) per event, until the
/// timeout, [`PodStore::end_watches`] or the server's end.
#[derive(Debug)]
pub(crate) struct WatchBody {
    events: mpsc::UnboundedReceiver<Bytes>,
    /// When the stream ends (`timeoutSeconds` after the request), if it does.
    ends_at: Option<tokio::time::Instant>,
    /// The timer for `ends_at`, made on the first poll (on the server's runtime).
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for WatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Poll::Ready(event) = self.events.poll_recv(cx) {
            return Poll::Ready(event.map(|line| Ok(Frame::data(line))));
        }
        let Some(ends_at) = self.ends_at else {
            return Poll::Pending;
        };
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(ends_at)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &mut WatchBody) -> Vec<serde_json::Value> {
        let mut lines = Vec::new();
        while let Ok(line) = body.events.try_recv() {
            let text = std::str::from_utf8(&line).unwrap();
            assert!(text.ends_with('\n') && !text[..text.len() - 1].contains('\n'));
            lines.push(serde_json::from_str(text).unwrap());
        }
        lines
    }

    #[test]
    fn changes_count_up_and_replay_from_a_version() {
        let store = PodStore::default();
        assert_eq!(store.resource_version(), 1);
        assert_eq!(store.add("a", "web", BTreeMap::new()), Some(2));
        assert_eq!(store.add("a", "web", BTreeMap::new()), None);
        assert_eq!(store.add("b", "other", BTreeMap::new()), Some(3));
        assert_eq!(
            store.modify("a", "web", |p| p.phase = "Failed".into()),
            Some(4)
        );
        assert_eq!(store.modify("a", "nope", |_| {}), None);
        assert_eq!(store.delete("a", DEFAULT_POD_NAME), Some(5));
        assert_eq!(store.delete("a", DEFAULT_POD_NAME), None);

        let (version, pods) = store.list("a");
        assert_eq!(version, 5);
        assert_eq!(pods.len(), 1);
        assert_eq!((pods[0].resource_version, pods[0].serial), (4, 2));
        assert_eq!(store.list("c").1, vec![PodObject::default_in("c")]);

        let mut body = store.watch("a", Some(2), None, false);
        let replayed = lines(&mut body);
        let types: Vec<_> = replayed.iter().map(|e| e["type"].clone()).collect();
        assert_eq!(types, ["MODIFIED", "DELETED"]);
        assert_eq!(replayed[1]["object"]["metadata"]["resourceVersion"], "5");

        let mut fresh = store.watch("a", None, None, false);
        let current = lines(&mut fresh);
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["type"], "ADDED");
        assert_eq!(current[0]["object"]["status"]["phase"], "Failed");

        // A streaming list: the current pods, then the bookmark that ends them.
        let mut streamed = store.watch("a", None, None, true);
        let initial = lines(&mut streamed);
        assert_eq!(initial.len(), 2);
        assert_eq!(initial[1]["type"], "BOOKMARK");
        assert_eq!(initial[1]["object"]["metadata"]["resourceVersion"], "5");
        assert_eq!(
            initial[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );

        // From a version not yet reached: only the changes after it.
        let mut ahead = store.watch("a", Some(6), None, false);
        store.add("a", "six", BTreeMap::new());
        store.add("a", "seven", BTreeMap::new());
        let sent = lines(&mut ahead);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["object"]["metadata"]["name"], "seven");
        assert!(lines(&mut store.watch("a", Some(u64::MAX), None, false)).is_empty());
    }

    #[test]
    fn history_is_bounded() {
        let store = PodStore::default();
        for i in 0..WATCH_HISTORY_EVENTS + 5 {
            store.add("a", &format!("p{i}"), BTreeMap::new());
        }
        let now = store.resource_version();
        assert_eq!(now, WATCH_HISTORY_EVENTS as u64 + 6);
        let oldest = now + 1 - WATCH_HISTORY_EVENTS as u64;
        let mut kept = store.watch("a", Some(oldest - 1), None, false);
        assert_eq!(lines(&mut kept).len(), WATCH_HISTORY_EVENTS);
        let mut expired = store.watch("a", Some(oldest - 2), None, false);
        let error = lines(&mut expired);
        assert_eq!(error.len(), 1);
        assert_eq!(error[0]["type"], "ERROR");
        assert_eq!(error[0]["object"]["code"], 410);
        assert_eq!(error[0]["object"]["reason"], "Expired");
        assert_eq!(
            error[0]["object"]["message"],
            format!("too old resource version: {} ({oldest})", oldest - 2)
        );
        // Its stream ends there: nothing else will be sent.
        assert!(expired.events.is_closed());
    }
}
