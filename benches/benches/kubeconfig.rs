//! Figure 9 of BENCHMARKS.md: how long the kubeconfig source takes to read, parse, merge and
//! resolve a kubeconfig of 50 contexts (`KubeconfigSource::endpoint`, file read included),
//! with criterion. `cargo bench -p kubecred-bench --bench kubeconfig`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use kubecred_core::{ApiEndpoint, MapEnvironment, SourceBuilder};
use kubecred_kubeconfig::KubeconfigSource;
use kubecred_testing::{Cluster, Context, Kubeconfig, KubeconfigDir, User};

fn kubeconfig(c: &mut Criterion) {
    let dir = KubeconfigDir::new().unwrap();
    let mut config = Kubeconfig::new();
    for i in 0..50 {
        let name = format!("cluster-{i}");
        config = config
            .cluster(Cluster::url(
                &name,
                format!("https://api-{i}.example.test:6443"),
            ))
            .user(User::new(format!("user-{i}")).token(format!("token-{i}-0123456789abcdef")))
            .context(
                Context::new(format!("ctx-{i}"), &name, format!("user-{i}")).namespace("team"),
            );
    }
    let path = dir
        .write("config", &config.current_context("ctx-25"))
        .unwrap();
    let source = KubeconfigSource::builder()
        .path(&path)
        .environment(Arc::new(MapEnvironment::default()))
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let endpoint = runtime.block_on(source.endpoint()).unwrap();
    assert_eq!(endpoint.display_url(), "https://api-25.example.test:6443");
    c.bench_function(
        "kubeconfig of 50 contexts: read, parse, merge, resolve",
        |b| b.iter(|| black_box(runtime.block_on(source.endpoint()).unwrap())),
    );
}

criterion_group!(benches, kubeconfig);
criterion_main!(benches);
