//! Benchmarks 1 and 2 of BENCHMARKS.md: the cost of reading the current credential on the
//! request path (`CredentialSource::current`, which the client asks first), on one thread and
//! on two at once, next to one atomic load for scale and the awaited `credentials()`.
//!
//! `cargo bench -p kubecred-bench --bench hot_path` (or `cargo xtask bench`).

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use kubecred_core::{
    Cached, Clock, CredentialSource, Credentials, MapEnvironment, RefreshPolicy, SourceBuilder,
    SystemClock,
};
use kubecred_incluster::InCluster;
use kubecred_testing::{CertificateAuthority, ServiceAccountDir, ServiceAccountFiles};

/// Polls a future that is ready at once (a cached credential) without a runtime.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the credential read was not ready at once"),
    }
}

/// The in-cluster source of a kubelet-style directory, its token already read.
fn source() -> (Arc<dyn CredentialSource>, ServiceAccountDir) {
    let ca = CertificateAuthority::new("bench").unwrap();
    let dir = ServiceAccountDir::new(
        &ServiceAccountFiles::new()
            .token("bench-token")
            .ca_crt(ca.pem()),
    )
    .unwrap();
    let source: Arc<dyn CredentialSource> = Arc::new(
        InCluster::builder()
            .serviceaccount_dir(dir.path())
            .environment(Arc::new(MapEnvironment::new(
                kubecred_testing::kubelet_vars("127.0.0.1", 6443),
            )))
            .build(),
    );
    ready(source.credentials()).unwrap();
    (source, dir)
}

/// What the client does on a request: the credentials at hand, awaited when they are due
/// (once a minute on the real clock, so a long benchmark re-reads the file now and then, as
/// a long-running program does).
fn read(source: &dyn CredentialSource) -> Arc<Credentials> {
    source
        .current()
        .unwrap_or_else(|| ready(source.credentials()).unwrap())
}

/// Each of `threads` threads does `iters` reads at the same time; the time per read of one
/// thread.
fn concurrent(threads: usize, iters: u64, op: impl Fn() + Send + Sync + 'static) -> Duration {
    let op = Arc::new(op);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (op, barrier) = (Arc::clone(&op), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    op();
                }
                start.elapsed()
            })
        })
        .collect();
    let total: Duration = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total / threads as u32
}

fn hot_path(c: &mut Criterion) {
    let atomic = Arc::new(AtomicU64::new(1));
    let (source, _dir) = source();

    let mut one = c.benchmark_group("one thread");
    one.bench_function("atomic load (scale)", |b| {
        b.iter(|| black_box(atomic.load(Ordering::Acquire)))
    });
    one.bench_function("current() of the in-cluster source", |b| {
        b.iter(|| black_box(read(&*source)))
    });
    // The awaited path, which the client takes only when `current()` answers `None`: the
    // same read behind an `async-trait` call (a boxed future).
    one.bench_function("credentials() of the in-cluster source", |b| {
        b.iter(|| black_box(ready(source.credentials()).unwrap()))
    });
    // Its parts: the cache alone (no trait object), and the clock read. A day's period, so
    // that the value stays at hand however long criterion takes.
    let day = RefreshPolicy::every(Duration::from_secs(86_400));
    let cache = Cached::new("bench", day, Arc::new(SystemClock));
    cache.get(|| Ok(Credentials::anonymous())).unwrap();
    one.bench_function("Cached::current alone", |b| {
        b.iter(|| black_box(cache.current().unwrap()))
    });
    one.bench_function("SystemClock::now alone", |b| {
        b.iter(|| black_box(SystemClock.now()))
    });
    one.finish();

    let mut two = c.benchmark_group("two threads");
    {
        let atomic = Arc::clone(&atomic);
        two.bench_function("atomic load (scale)", move |b| {
            let atomic = Arc::clone(&atomic);
            b.iter_custom(move |iters| {
                let atomic = Arc::clone(&atomic);
                concurrent(2, iters, move || {
                    black_box(atomic.load(Ordering::Acquire));
                })
            })
        });
    }
    two.bench_function("current() of the in-cluster source", |b| {
        b.iter_custom(|iters| {
            let source = Arc::clone(&source);
            concurrent(2, iters, move || {
                black_box(read(&*source));
            })
        })
    });
    two.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
