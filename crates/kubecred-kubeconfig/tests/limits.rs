//! Huge kubeconfigs: bounded time and memory, and a clear error naming the file and the limit
//! where a limit is crossed (what the fuzz targets' long runs cannot reach with small inputs).

use std::fmt::Write as _;
use std::sync::Arc;

use kubecred_core::{ApiEndpoint, MapEnvironment, SourceBuilder, MAX_FILE_BYTES};
use kubecred_kubeconfig::{KubeconfigSource, KUBECONFIG_VAR};

/// A kubeconfig of `contexts` contexts (`c0`, `c1`, …) over one cluster and one user, the
/// current one being the last.
fn kubeconfig(contexts: usize) -> String {
    let mut yaml = String::from(
        "clusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}\n\
         users:\n- name: u\n  user: {token: t}\ncontexts:\n",
    );
    for i in 0..contexts {
        writeln!(yaml, "- {{name: c{i}, context: {{cluster: k, user: u}}}}").unwrap();
    }
    writeln!(yaml, "current-context: c{}", contexts - 1).unwrap();
    yaml
}

fn source_for(path: &std::path::Path) -> KubeconfigSource {
    let env = MapEnvironment::new([(KUBECONFIG_VAR, path.as_os_str())]);
    KubeconfigSource::builder()
        .environment(Arc::new(env))
        .stdin_is_terminal(false)
        .build()
}

#[tokio::test]
async fn a_kubeconfig_of_100000_contexts_is_refused_naming_the_file_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let yaml = kubeconfig(100_000);
    assert!(yaml.len() as u64 > MAX_FILE_BYTES, "{} bytes", yaml.len());
    std::fs::write(&path, &yaml).unwrap();
    let err = source_for(&path).endpoint().await.unwrap_err();
    let message = kubecred_core::error_chain(&err);
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("larger than {MAX_FILE_BYTES} bytes")),
        "{message}"
    );
}

#[tokio::test]
async fn the_largest_kubeconfig_read_with_20000_contexts_resolves() {
    // Just under the 1 MiB a file may hold: everything is read, parsed, merged (by name, in
    // ordered maps) and resolved; an unknown context lists 20 names and counts the rest.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let yaml = kubeconfig(20_000);
    assert!((yaml.len() as u64) < MAX_FILE_BYTES, "{} bytes", yaml.len());
    std::fs::write(&path, &yaml).unwrap();
    let endpoint = source_for(&path).endpoint().await.unwrap();
    assert_eq!(endpoint.url().as_str(), "https://127.0.0.1:6443/");

    let env = MapEnvironment::new([(KUBECONFIG_VAR, path.as_os_str())]);
    let err = KubeconfigSource::builder()
        .environment(Arc::new(env))
        .context("nope")
        .stdin_is_terminal(false)
        .build()
        .endpoint()
        .await
        .unwrap_err();
    let message = kubecred_core::error_chain(&err);
    assert!(message.contains("and 19980 more"), "{message}");
    assert!(message.len() < 1000, "{} bytes: {message}", message.len());
}
