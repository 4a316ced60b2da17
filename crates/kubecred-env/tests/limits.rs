//! A PEM of 10,000 certificates, in a variable, in a file and in code: bounded time and memory,
//! and a clear error naming the variable or file and the limit where a limit is crossed.

use std::sync::Arc;

use kubecred_core::{
    ApiEndpoint, CaBundle, MapEnvironment, Origin, SourceBuilder, Trust, MAX_FILE_BYTES,
    MAX_VARIABLE_BYTES,
};
use kubecred_env::EnvSource;
use kubecred_testing::CertificateAuthority;

/// One CA certificate's PEM: a fresh key's signature varies in length by a byte or two, so a
/// test that fills a limit sizes its bundle by this one certificate.
fn certificate() -> String {
    CertificateAuthority::new("limits-ca").unwrap().pem()
}

/// `count` copies of one CA certificate, as one PEM bundle.
fn bundle(count: usize) -> String {
    certificate().repeat(count)
}

async fn endpoint_error(vars: Vec<(&str, String)>) -> String {
    let env = MapEnvironment::new(vars);
    let err = EnvSource::builder()
        .environment(Arc::new(env))
        .build()
        .endpoint()
        .await
        .unwrap_err();
    kubecred_core::error_chain(&err)
}

#[tokio::test]
async fn a_ca_variable_of_10000_certificates_is_refused_naming_it_and_the_limit() {
    let pem = bundle(10_000);
    assert!(pem.len() > MAX_VARIABLE_BYTES, "{} bytes", pem.len());
    let message = endpoint_error(vec![
        ("KUBE_HOST", "https://127.0.0.1:6443".to_owned()),
        ("KUBE_CLUSTER_CA_CERT_DATA", pem),
    ])
    .await;
    assert!(message.contains("KUBE_CLUSTER_CA_CERT_DATA"), "{message}");
    assert!(
        message.contains("1 MiB") || message.contains("1048576"),
        "{message}"
    );
    assert!(message.len() < 300, "{message}");
}

#[tokio::test]
async fn a_ca_file_of_10000_certificates_is_refused_naming_it_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.crt");
    std::fs::write(&path, bundle(10_000)).unwrap();
    let message = endpoint_error(vec![
        ("KUBE_HOST", "https://127.0.0.1:6443".to_owned()),
        ("KUBE_CLUSTER_CA_CERT_FILE", path.display().to_string()),
    ])
    .await;
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("larger than {MAX_FILE_BYTES} bytes")),
        "{message}"
    );
}

#[tokio::test]
async fn the_largest_ca_variable_is_read_whole() {
    // As many certificates as 1 MiB holds: every one is a trust anchor.
    let one = certificate();
    let count = MAX_VARIABLE_BYTES / one.len();
    let env = MapEnvironment::new([
        ("KUBE_HOST", "https://127.0.0.1:6443".to_owned()),
        ("KUBE_CLUSTER_CA_CERT_DATA", one.repeat(count)),
    ]);
    let endpoint = EnvSource::builder()
        .environment(Arc::new(env))
        .build()
        .endpoint()
        .await
        .unwrap();
    match endpoint.trust() {
        Trust::CaBundle(bundle) => assert_eq!(bundle.certificates().len(), count),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bundle_of_10000_certificates_from_code_is_read_whole() {
    // Code is not held to the 1 MiB of files and variables: its bundle is its own memory.
    let bundle = CaBundle::from_pem(bundle(10_000).as_bytes(), Origin::Code).unwrap();
    assert_eq!(bundle.certificates().len(), 10_000);
}
