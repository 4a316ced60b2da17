//! The request path's cache: the URL and `Authorization` value of recent requests, so that a
//! request for a path asked for before, with the same credentials, builds neither again.
//!
//! Programs ask for the same few paths again and again (a poll, a re-list) with the same
//! credentials for minutes, and building and checking a `Url` or a header value anew costs
//! more than the rest of the client's own work on a request. Credentials are compared by
//! identity (`Arc::ptr_eq`), never by value: a source hands out the same `Arc` while its
//! credentials do not change, and a new one when they do.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use http::HeaderValue;
use kubecred_core::Credentials;

/// How many recent requests are kept (direct-mapped by a hash of the path): enough for the
/// few paths a program polls or re-lists in turn, small enough to cost nothing.
const SLOTS: usize = 16;

/// Credentials and their `Authorization` value (marked sensitive; `None` without a token).
type Authorization = (Arc<Credentials>, Option<HeaderValue>);

/// The URL and `Authorization` value of recent requests, by [`slot`] of their paths.
#[derive(Debug)]
pub(crate) struct RecentRequests {
    slots: [ArcSwapOption<Recent>; SLOTS],
    /// The `Authorization` value of the latest credentials, which the slots share (its clones
    /// share one buffer: one copy of the token outside `secrecy`, not one per slot).
    latest: ArcSwapOption<Authorization>,
}

/// What a recent request was built from.
#[derive(Debug)]
struct Recent {
    /// The request's path with its query, and its URL on the endpoint.
    path: Box<str>,
    url: reqwest::Url,
    /// The credentials of the last request of this slot that had the client's own, and their
    /// `Authorization` value (a clone of the shared one).
    credentials: Option<Authorization>,
}

/// The slot of `path` among [`SLOTS`] (FNV-1a).
fn slot(path: &str) -> usize {
    let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % SLOTS as u64) as usize
}

impl RecentRequests {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| ArcSwapOption::empty()),
            latest: ArcSwapOption::empty(),
        }
    }

    /// The URL of `path` and the `Authorization` value of `credentials` (`None` without
    /// credentials, for a request that carries the caller's own header, or without a token):
    /// kept from the last request of the same slot where they are the same, built with
    /// `url_for` and `authorization_for` (and kept) where not.
    ///
    /// # Errors
    ///
    /// What `url_for` or `authorization_for` returns; nothing is kept then.
    pub(crate) fn get<E>(
        &self,
        path: &str,
        credentials: Option<&Arc<Credentials>>,
        url_for: impl FnOnce(&str) -> Result<reqwest::Url, E>,
        authorization_for: impl FnOnce(&Arc<Credentials>) -> Result<Option<HeaderValue>, E>,
    ) -> Result<(reqwest::Url, Option<HeaderValue>), E> {
        let slot = &self.slots[slot(path)];
        let last = slot.load();
        let last = last.as_deref();
        let last_url = last.filter(|l| *l.path == *path).map(|l| &l.url);
        let last_credentials = last.and_then(|l| l.credentials.as_ref());
        let same_credentials = match (credentials, last_credentials) {
            (Some(now), Some((then, _))) => Arc::ptr_eq(now, then),
            // A caller's own `Authorization` header: the kept value stays for the next one.
            (None, _) => true,
            (Some(_), None) => false,
        };
        if let (Some(url), true) = (last_url, same_credentials) {
            let authorization = credentials
                .and(last_credentials)
                .and_then(|(_, a)| a.clone());
            return Ok((url.clone(), authorization));
        }
        let url = match last_url {
            Some(url) => url.clone(),
            None => url_for(path)?,
        };
        let kept = match credentials {
            Some(credentials) if !same_credentials => Some((
                Arc::clone(credentials),
                self.shared(credentials, authorization_for)?,
            )),
            _ => last_credentials.cloned(),
        };
        let authorization = credentials.and(kept.as_ref()).and_then(|(_, a)| a.clone());
        slot.store(Some(Arc::new(Recent {
            path: path.into(),
            url: url.clone(),
            credentials: kept,
        })));
        Ok((url, authorization))
    }

    /// The `Authorization` value of `credentials`, built once for all the slots.
    pub(crate) fn shared<E>(
        &self,
        credentials: &Arc<Credentials>,
        authorization_for: impl FnOnce(&Arc<Credentials>) -> Result<Option<HeaderValue>, E>,
    ) -> Result<Option<HeaderValue>, E> {
        if let Some(kept) = self.latest.load().as_deref() {
            if Arc::ptr_eq(&kept.0, credentials) {
                return Ok(kept.1.clone());
            }
        }
        let value = authorization_for(credentials)?;
        self.latest
            .store(Some(Arc::new((Arc::clone(credentials), value.clone()))));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A cache and counters of what it had to build.
    struct Probe {
        cache: RecentRequests,
        urls: Cell<u32>,
        headers: Cell<u32>,
    }

    impl Probe {
        fn new() -> Self {
            Self {
                cache: RecentRequests::new(),
                urls: Cell::new(0),
                headers: Cell::new(0),
            }
        }

        fn get(
            &self,
            path: &str,
            credentials: Option<&Arc<Credentials>>,
        ) -> (String, Option<HeaderValue>) {
            let (url, authorization) = self
                .cache
                .get::<()>(
                    path,
                    credentials,
                    |path| {
                        self.urls.set(self.urls.get() + 1);
                        Ok(format!("https://api.test{path}").parse().unwrap())
                    },
                    |credentials| {
                        self.headers.set(self.headers.get() + 1);
                        Ok(credentials.token().map(|_| {
                            let mut value = HeaderValue::from_static("Bearer t");
                            value.set_sensitive(true);
                            value
                        }))
                    },
                )
                .unwrap();
            (url.to_string(), authorization)
        }

        fn built(&self) -> (u32, u32) {
            (self.urls.get(), self.headers.get())
        }
    }

    fn token() -> Arc<Credentials> {
        Arc::new(Credentials::bearer("t".to_owned().into()))
    }

    /// Two paths that fall in the same slot.
    fn colliding_paths() -> (String, String) {
        let first = "/api".to_owned();
        let second = (0..10_000)
            .map(|i| format!("/api/v1/namespaces/n{i}/pods"))
            .find(|p| slot(p) == slot(&first))
            .expect("16 slots: a collision within 10,000 paths");
        (first, second)
    }

    #[test]
    fn the_same_path_with_the_same_credentials_builds_nothing_again() {
        let probe = Probe::new();
        let credentials = token();
        let first = probe.get("/api", Some(&credentials));
        assert_eq!(first.0, "https://api.test/api");
        assert!(first.1.as_ref().unwrap().is_sensitive());
        for _ in 0..3 {
            assert_eq!(probe.get("/api", Some(&credentials)), first);
        }
        assert_eq!(probe.built(), (1, 1));
    }

    #[test]
    fn credentials_are_compared_by_identity_not_by_value() {
        let probe = Probe::new();
        probe.get("/api", Some(&token()));
        // Equal in value, but a new Arc: the source re-read them; the header is built anew,
        // the URL is kept.
        probe.get("/api", Some(&token()));
        assert_eq!(probe.built(), (1, 2));
    }

    #[test]
    fn slots_share_one_authorization_value_per_credentials() {
        let probe = Probe::new();
        let credentials = token();
        probe.get("/api", Some(&credentials));
        probe.get("/version", Some(&credentials));
        probe.get("/apis", Some(&credentials));
        assert_eq!(probe.built(), (3, 1), "three URLs, one header");
    }

    #[test]
    fn a_path_in_the_same_slot_replaces_the_url_and_keeps_the_header() {
        let (a, b) = colliding_paths();
        let probe = Probe::new();
        let credentials = token();
        assert_eq!(
            probe.get(&a, Some(&credentials)).0,
            format!("https://api.test{a}")
        );
        assert_eq!(
            probe.get(&b, Some(&credentials)).0,
            format!("https://api.test{b}")
        );
        assert_eq!(
            probe.get(&a, Some(&credentials)).0,
            format!("https://api.test{a}")
        );
        assert_eq!(probe.built(), (3, 1));
    }

    #[test]
    fn a_callers_own_header_gets_none_and_leaves_the_kept_credentials() {
        let probe = Probe::new();
        let credentials = token();
        probe.get("/api", Some(&credentials));
        let (_, authorization) = probe.get("/api", None);
        assert_eq!(authorization, None, "the caller's header is not replaced");
        // The next request with the client's credentials still finds them kept.
        assert!(probe.get("/api", Some(&credentials)).1.is_some());
        assert_eq!(probe.built(), (1, 1));
    }

    #[test]
    fn credentials_without_a_token_get_no_header() {
        let probe = Probe::new();
        let anonymous = Arc::new(Credentials::anonymous());
        assert_eq!(probe.get("/api", Some(&anonymous)).1, None);
        assert_eq!(probe.get("/api", Some(&anonymous)).1, None);
        assert_eq!(probe.built(), (1, 1));
    }

    #[test]
    fn a_failed_build_keeps_nothing() {
        let cache = RecentRequests::new();
        let credentials = token();
        let err = cache.get("/bad", Some(&credentials), |_| Err("no url"), |_| Ok(None));
        assert_eq!(err.unwrap_err(), "no url");
        let mut built = 0;
        cache
            .get::<&str>(
                "/bad",
                Some(&credentials),
                |p| {
                    built += 1;
                    Ok(format!("https://api.test{p}").parse().unwrap())
                },
                |_| Ok(None),
            )
            .unwrap();
        assert_eq!(built, 1, "the failed URL was not kept");
    }
}
