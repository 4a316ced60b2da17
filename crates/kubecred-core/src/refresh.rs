//! The caching and refresh machinery every file-backed source reuses: a value read without a
//! lock or a syscall on the request path, re-read when due by exactly one caller.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

use crate::{CaBundle, Credentials, SourceError};

/// Where time comes from: the system clock in production, a [`ManualClock`] in tests, so that
/// no test sleeps for a minute.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time (compared with JWT `exp` claims, so wall time, not
    /// monotonic).
    fn now(&self) -> SystemTime;
}

/// The wall clock. On Linux it is the coarse one (`CLOCK_REALTIME_COARSE`: a vDSO read of
/// the time of the last kernel tick, 1 to 10 ms old, with no hardware clock read), which is
/// all a refresh schedule of seconds needs and costs a few nanoseconds on every request;
/// elsewhere `SystemTime::now()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[allow(clippy::disallowed_methods)] // the seam itself: the one read of the system's time
impl Clock for SystemClock {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn now(&self) -> SystemTime {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        match (u64::try_from(now.tv_sec), u32::try_from(now.tv_nsec)) {
            (Ok(secs), Ok(nanos)) => UNIX_EPOCH + Duration::new(secs, nanos),
            // Before 1970: not a clock a refresh schedule can use; the precise one says so.
            _ => SystemTime::now(),
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use kubecred_core::{Clock, ManualClock};
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_800_000_061));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: SystemTime) -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(to_nanos(now))),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(
            by.as_nanos().min(u128::from(u64::MAX)) as u64,
            Ordering::SeqCst,
        );
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: SystemTime) {
        self.nanos.store(to_nanos(now), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// `now + by`, saturating instead of overflowing (a period of years is "never").
fn later(now: SystemTime, by: Duration) -> SystemTime {
    now.checked_add(by)
        .unwrap_or_else(|| UNIX_EPOCH + Duration::from_nanos(u64::MAX))
}

fn to_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
}

/// When a cached value is re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// Re-read at least this often (for tokens at least once a minute: the kubelet rotates a
    /// projected token at about 80% of its life, as early as 8 minutes for the shortest, 600 s).
    pub period: Duration,
    /// Re-read this long before the value's expiry (a JWT `exp`) when that is sooner.
    pub expiry_margin: Duration,
    /// After a failed re-read, the next attempt comes no sooner than this.
    pub retry_after_failure: Duration,
}

impl RefreshPolicy {
    /// Tokens: every 60 s, 10 s before `exp` when sooner, 10 s after a failure.
    pub const TOKEN: RefreshPolicy = RefreshPolicy::every(Duration::from_secs(60));
    /// CA bundles: every 300 s, 10 s after a failure.
    pub const CA_BUNDLE: RefreshPolicy = RefreshPolicy::every(Duration::from_secs(300));

    /// Every `period`, 10 s before expiry, and min(`period`, 10 s) after a failure
    /// (never a re-read and a warning on every request).
    pub const fn every(period: Duration) -> Self {
        let ten = Duration::from_secs(10);
        let retry = if period.as_nanos() < ten.as_nanos() {
            period
        } else {
            ten
        };
        Self {
            period,
            expiry_margin: ten,
            retry_after_failure: retry,
        }
    }
}

/// A value that knows when it stops being valid.
pub trait Expiring {
    /// When the value stops being valid, if known.
    fn expires_at(&self) -> Option<SystemTime> {
        None
    }
}

impl Expiring for Credentials {
    fn expires_at(&self) -> Option<SystemTime> {
        Credentials::expires_at(self)
    }
}

impl Expiring for CaBundle {}

/// A cached value with a due time: [`Cached::get`] returns it with one clock read and two
/// atomic loads (no lock, no I/O) until it is due; then exactly one caller re-reads it while
/// the others keep the still-valid value. A failed re-read keeps the last good value, logs a
/// warning, and is retried no sooner than [`RefreshPolicy::retry_after_failure`].
pub struct Cached<T> {
    what: String,
    policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
    current: ArcSwapOption<T>,
    /// When the next re-read is due, in nanoseconds since the Unix epoch.
    due: AtomicU64,
    /// Set while one caller re-reads on schedule.
    refreshing: AtomicBool,
    /// After a failed read, when the next one may come (nanoseconds since the Unix epoch; 0
    /// after a successful one): forced re-reads keep to it too.
    retry_not_before: AtomicU64,
    /// Serialises forced re-reads (after a `401`) and first loads.
    forced: Mutex<()>,
    loads: AtomicU64,
}

impl<T: Expiring> Cached<T> {
    /// An empty cache for `what` (named in warnings: "token file /…/token").
    pub fn new(what: impl Into<String>, policy: RefreshPolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            what: what.into(),
            policy,
            clock,
            current: ArcSwapOption::empty(),
            due: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            retry_not_before: AtomicU64::new(0),
            forced: Mutex::new(()),
            loads: AtomicU64::new(0),
        }
    }

    /// The current value; `load` runs when the cache is empty (its error is returned) or the
    /// value is due (its error is logged and the last good value returned).
    ///
    /// # Errors
    ///
    /// Only when there is no value yet and `load` fails.
    pub fn get(
        &self,
        load: impl FnOnce() -> Result<T, SourceError>,
    ) -> Result<Arc<T>, SourceError> {
        let now = to_nanos(self.clock.now());
        if let Some(value) = self.current.load_full() {
            if now < self.due.load(Ordering::Acquire) {
                return Ok(value);
            }
            // Due: one caller re-reads, the others keep the still-valid value.
            let Some(_refreshing) = Refreshing::claim(&self.refreshing) else {
                return Ok(value);
            };
            if now < self.due.load(Ordering::Acquire) {
                // Another caller re-read it between our look at `due` and the flag.
                return Ok(self.current.load_full().unwrap_or(value));
            }
            // The guard lowers the flag even if `load` panics, so that the next due read
            // happens instead of every later caller keeping the old value forever.
            return Ok(self.load_and_store(load).unwrap_or(value));
        }
        let _first = self.forced.lock().unwrap_or_else(|e| e.into_inner());
        match self.current.load_full() {
            Some(value) => Ok(value),
            None => self.load_and_store(load),
        }
    }

    /// The cached value when it is not due, with one clock read and two atomic loads (no
    /// lock, no I/O); `None` when the cache is empty or due, for [`Cached::get`] to re-read.
    pub fn current(&self) -> Option<Arc<T>> {
        let now = to_nanos(self.clock.now());
        let value = self.current.load_full()?;
        (now < self.due.load(Ordering::Acquire)).then_some(value)
    }

    /// Re-reads now unless the cached value is no longer `stale` (another caller already
    /// re-read it): concurrent callers that saw the same stale value cause one read. Within
    /// [`RefreshPolicy::retry_after_failure`] of a failed read it does not read again and
    /// returns the cached value, so that a run of `401`s with a broken file causes one read
    /// and one warning per back-off, not one per request.
    ///
    /// # Errors
    ///
    /// `load`'s error; the last good value stays cached.
    pub fn refresh(
        &self,
        stale: &Arc<T>,
        load: impl FnOnce() -> Result<T, SourceError>,
    ) -> Result<Arc<T>, SourceError> {
        let _one = self.forced.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = self.current.load_full() {
            let backing_off =
                to_nanos(self.clock.now()) < self.retry_not_before.load(Ordering::Acquire);
            if !Arc::ptr_eq(&value, stale) || backing_off {
                return Ok(value);
            }
        }
        self.load_and_store(load)
    }

    /// The cached value, without checking whether it is due.
    pub fn peek(&self) -> Option<Arc<T>> {
        self.current.load_full()
    }

    /// How many times a value was read (successfully or not): for tests and benchmarks.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    fn load_and_store(
        &self,
        load: impl FnOnce() -> Result<T, SourceError>,
    ) -> Result<Arc<T>, SourceError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        match load() {
            Ok(value) => {
                let mut due = later(now, self.policy.period);
                if let Some(expiry) = value.expires_at() {
                    let early = expiry
                        .checked_sub(self.policy.expiry_margin)
                        .unwrap_or(UNIX_EPOCH);
                    due = due.min(early);
                }
                if due <= now {
                    // Expired or about to: look again soon, not on every request.
                    due = later(now, self.policy.retry_after_failure);
                }
                let value = Arc::new(value);
                self.current.store(Some(Arc::clone(&value)));
                self.due.store(to_nanos(due), Ordering::Release);
                self.retry_not_before.store(0, Ordering::Release);
                Ok(value)
            }
            Err(error) => {
                let retry = to_nanos(later(now, self.policy.retry_after_failure));
                self.due.store(retry, Ordering::Release);
                self.retry_not_before.store(retry, Ordering::Release);
                if self.current.load().is_some() {
                    tracing::warn!(
                        what = %self.what,
                        error = %crate::error_chain(&error),
                        retry_in_secs = self.policy.retry_after_failure.as_secs_f64(),
                        "re-reading failed; keeping the last good value"
                    );
                }
                Err(error)
            }
        }
    }
}

/// The right to re-read on schedule, held by one caller: taken by raising the flag, given
/// back by lowering it when dropped, on return or on unwinding from a panicking loader.
struct Refreshing<'a>(&'a AtomicBool);

impl<'a> Refreshing<'a> {
    /// The right, unless another caller holds it.
    fn claim(flag: &'a AtomicBool) -> Option<Self> {
        flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Self(flag))
    }
}

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<T> fmt::Debug for Cached<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("what", &self.what)
            .field("policy", &self.policy)
            .field("loaded", &self.current.load().is_some())
            .field("loads", &self.loads.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::atomic::AtomicUsize;

    const START: u64 = 1_800_000_000;

    fn clock() -> ManualClock {
        ManualClock::new(UNIX_EPOCH + Duration::from_secs(START))
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // compares the seam with the precise system clock
    fn the_system_clock_is_the_wall_clock_to_within_a_tick() {
        // The coarse clock lags by at most one kernel tick (1 to 10 ms).
        let before = SystemTime::now();
        let now = SystemClock.now();
        let after = SystemTime::now();
        assert!(now <= after, "{now:?} is after {after:?}");
        let lag = before.duration_since(now).unwrap_or_default();
        assert!(lag < Duration::from_millis(100), "lags by {lag:?}");
    }

    fn token(value: &str) -> Result<Credentials, SourceError> {
        Ok(Credentials::bearer(value.to_owned().into()))
    }

    fn read(cache: &Cached<Credentials>, value: &str) -> String {
        let credentials = cache.get(|| token(value)).unwrap();
        credentials.token().unwrap().expose_secret().to_owned()
    }

    #[test]
    fn the_value_is_re_read_after_the_period_and_not_before() {
        let clock = clock();
        let cache = Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock.clone()));
        assert_eq!(read(&cache, "one"), "one");
        clock.advance(Duration::from_secs(59));
        assert_eq!(read(&cache, "two"), "one");
        clock.advance(Duration::from_secs(1));
        assert_eq!(read(&cache, "two"), "two");
        assert_eq!(cache.loads(), 2);
    }

    #[test]
    fn a_jwt_expiring_before_the_period_is_re_read_before_exp() {
        use base64::Engine as _;
        let clock = clock();
        let cache = Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock.clone()));
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwt = format!(
            "{}.{}.sig",
            enc.encode(r#"{"alg":"RS256"}"#),
            enc.encode(format!(r#"{{"exp":{}}}"#, START + 30))
        );
        assert_eq!(read(&cache, &jwt), jwt);
        clock.advance(Duration::from_secs(19));
        assert_eq!(read(&cache, "fresh"), jwt);
        clock.advance(Duration::from_secs(1)); // exp - 10 s
        assert_eq!(read(&cache, "fresh"), "fresh");
    }

    #[test]
    fn a_failed_re_read_keeps_the_last_good_value_and_waits_before_retrying() {
        let clock = clock();
        let cache = Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock.clone()));
        read(&cache, "good");
        clock.advance(Duration::from_secs(60));
        let fail = || {
            Err(SourceError::EmptyFile {
                what: "token",
                path: "/t".into(),
            })
        };
        for _ in 0..5 {
            let kept = cache.get(fail).unwrap();
            assert_eq!(kept.token().unwrap().expose_secret(), "good");
        }
        assert_eq!(cache.loads(), 2, "one failed re-read, not one per call");
        clock.advance(Duration::from_secs(10));
        assert_eq!(read(&cache, "recovered"), "recovered");
    }

    #[test]
    fn the_value_is_at_hand_until_due_and_after_a_failed_re_read() {
        let clock = clock();
        let cache = Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock.clone()));
        let at_hand = |cache: &Cached<Credentials>| {
            cache
                .current()
                .map(|c| c.token().unwrap().expose_secret().to_owned())
        };
        assert_eq!(at_hand(&cache), None, "nothing read yet");
        read(&cache, "one");
        clock.advance(Duration::from_secs(59));
        assert_eq!(at_hand(&cache).as_deref(), Some("one"));
        clock.advance(Duration::from_secs(1));
        assert_eq!(at_hand(&cache), None, "due: get must re-read");
        assert_eq!(cache.loads(), 1, "current never reads");
        // A failed re-read keeps the value at hand until the retry is due.
        let kept = cache
            .get(|| Err(SourceError::not_applicable("gone")))
            .unwrap();
        assert_eq!(kept.token().unwrap().expose_secret(), "one");
        clock.advance(Duration::from_secs(9));
        assert_eq!(at_hand(&cache).as_deref(), Some("one"));
        clock.advance(Duration::from_secs(1));
        assert_eq!(at_hand(&cache), None);
        assert_eq!(read(&cache, "two"), "two");
        assert_eq!(at_hand(&cache).as_deref(), Some("two"));
    }

    #[test]
    fn a_failed_forced_re_read_is_not_repeated_before_the_retry_is_due() {
        let clock = clock();
        let cache = Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock.clone()));
        let stale = cache.get(|| token("revoked")).unwrap();
        let gone = || {
            Err(SourceError::EmptyFile {
                what: "token",
                path: "/t".into(),
            })
        };
        assert!(
            cache.refresh(&stale, gone).is_err(),
            "the first failure is returned"
        );
        for _ in 0..5 {
            // A 401 on every request: the cached value, no read, no warning.
            let kept = cache.refresh(&stale, || token("unread")).unwrap();
            assert!(Arc::ptr_eq(&kept, &stale));
        }
        assert_eq!(cache.loads(), 2, "one failed re-read, not one per 401");
        clock.advance(Duration::from_secs(10));
        let fresh = cache.refresh(&stale, || token("rotated")).unwrap();
        assert_eq!(fresh.token().unwrap().expose_secret(), "rotated");
        // After a success, forced re-reads are no longer held back.
        assert_eq!(
            cache
                .refresh(&fresh, || token("again"))
                .unwrap()
                .token()
                .unwrap()
                .expose_secret(),
            "again"
        );
    }

    #[test]
    fn the_first_load_error_is_returned() {
        let cache: Cached<Credentials> =
            Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock()));
        let err = cache
            .get(|| Err(SourceError::not_applicable("nothing")))
            .unwrap_err();
        assert!(err.is_not_applicable());
    }

    #[test]
    fn concurrent_callers_at_the_due_moment_cause_one_read() {
        const CALLERS: usize = 64;
        let clock = clock();
        let cache = Arc::new(Cached::new(
            "token",
            RefreshPolicy::TOKEN,
            Arc::new(clock.clone()),
        ));
        read(&cache, "old");
        clock.advance(Duration::from_secs(60));
        // The one re-reading caller holds its read open until every other caller has been
        // answered, so they all arrive while it is due.
        let barrier = Arc::new(std::sync::Barrier::new(CALLERS));
        let old_answers = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (cache, barrier, old_answers) = (
                    Arc::clone(&cache),
                    Arc::clone(&barrier),
                    Arc::clone(&old_answers),
                );
                std::thread::spawn(move || {
                    let mut loaded = false;
                    let value = cache
                        .get(|| {
                            loaded = true;
                            barrier.wait();
                            token("new")
                        })
                        .unwrap();
                    if !loaded {
                        assert_eq!(value.token().unwrap().expose_secret(), "old");
                        old_answers.fetch_add(1, Ordering::SeqCst);
                        barrier.wait();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cache.loads(), 2);
        assert_eq!(old_answers.load(Ordering::SeqCst), CALLERS - 1);
        assert_eq!(read(&cache, "unused"), "new");
    }

    #[test]
    fn a_panicking_loader_does_not_stop_later_re_reads() {
        let clock = clock();
        let cache = Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock.clone()));
        read(&cache, "one");
        clock.advance(Duration::from_secs(60));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get(|| panic!("a loader's bug"))
        }));
        assert!(panicked.is_err(), "the loader's panic reaches its caller");
        assert_eq!(cache.loads(), 2);
        // Still due (the panic stored nothing): the next read re-reads.
        assert_eq!(read(&cache, "two"), "two");
        assert_eq!(cache.loads(), 3);
        // And so does the next one that is due.
        clock.advance(Duration::from_secs(60));
        assert_eq!(read(&cache, "three"), "three");
        // A forced re-read and a first load that panic leave nothing held either.
        let stale = cache.peek().unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.refresh(&stale, || panic!("a loader's bug"))
        }));
        assert!(panicked.is_err());
        let fresh = cache.refresh(&stale, || token("four")).unwrap();
        assert_eq!(fresh.token().unwrap().expose_secret(), "four");
        let empty: Cached<Credentials> =
            Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock.clone()));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            empty.get(|| panic!("a loader's bug"))
        }));
        assert!(panicked.is_err());
        assert_eq!(read(&empty, "first"), "first");
    }

    #[test]
    fn refreshing_a_stale_value_twice_reads_once() {
        let cache = Cached::new("token", RefreshPolicy::TOKEN, Arc::new(clock()));
        let stale = cache.get(|| token("stale")).unwrap();
        let first = cache.refresh(&stale, || token("fresh")).unwrap();
        let second = cache.refresh(&stale, || token("other")).unwrap();
        assert_eq!(first.token().unwrap().expose_secret(), "fresh");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(cache.loads(), 2);
    }
}
