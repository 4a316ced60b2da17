//! What fuzzing the public API found, pinned through the client: no parser's message (which
//! quotes its input, a private key included) in any error, report or `Debug`; each broken
//! client identity told apart; no proxy password in any `Debug` or report.

use std::sync::Arc;

use kubecred_client::{error_chain, Client};
use kubecred_core::MapEnvironment;
use kubecred_testing::{assert_quotes_nothing_of, pem_body, CertificateAuthority};

/// Everything a person could see of a client built from `vars`: the report as text and
/// JSON, and `build()`'s error as text, chain and `Debug` (or the client's `Debug`).
async fn everything_shown(vars: &[(&str, &str)]) -> Vec<String> {
    let builder =
        || Client::builder().environment(Arc::new(MapEnvironment::new(vars.iter().copied())));
    let report = builder().explain().await;
    let mut texts = vec![
        report.to_string(),
        report.to_json(),
        format!("{report:?}"),
        format!("{:?}", builder()),
    ];
    match builder().build().await {
        Ok(client) => {
            texts.push(format!("{client:?}"));
            texts.push(format!("{client:#?}"));
            texts.push(format!("{:?}", client.endpoint()));
            texts.push(client.endpoint().display_url());
        }
        Err(err) => {
            texts.push(err.to_string());
            texts.push(error_chain(&err));
            texts.push(format!("{err:?}"));
            texts.push(format!("{err:#?}"));
        }
    }
    texts
}

#[tokio::test]
async fn a_one_line_certificate_and_key_pem_shows_no_key_byte_in_any_output() {
    let ca = CertificateAuthority::new("hardening-ca").unwrap();
    let client = ca.issue_client_certificate("one-line").unwrap();
    let key_body = pem_body(client.key_pem());
    let both = format!("{}{}", client.cert_pem(), client.key_pem());
    for one_line in [both.replace('\n', "\\n"), both.replace('\n', " ")] {
        let vars = [
            ("KUBE_HOST", "https://127.0.0.1:6443"),
            ("KUBE_CLIENT_CERT_DATA", one_line.as_str()),
            ("KUBE_CLIENT_KEY_DATA", one_line.as_str()),
        ];
        let texts = everything_shown(&vars).await;
        assert!(
            texts[0].contains("KUBE_CLIENT_CERT_DATA is not valid PEM"),
            "{}",
            texts[0]
        );
        for text in &texts {
            assert_quotes_nothing_of(text, &key_body);
        }
    }
    // A CA bundle on one line: described, not quoted.
    let ca_body = pem_body(&ca.pem());
    let one_line = ca.pem().replace('\n', "\\n");
    let texts = everything_shown(&[
        ("KUBE_HOST", "https://127.0.0.1:6443"),
        ("KUBE_CLUSTER_CA_CERT_DATA", &one_line),
    ])
    .await;
    for text in &texts {
        assert_quotes_nothing_of(text, &ca_body);
    }
}

#[tokio::test]
async fn each_broken_client_identity_gets_its_own_message() {
    let ca = CertificateAuthority::new("hardening-ca").unwrap();
    let client = ca.issue_client_certificate("broken").unwrap();
    let other = ca.issue_client_certificate("other").unwrap();
    let base64 = |der: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(der)
    };
    // Well-formed DER that is no key (the certificate itself): it gets past the PEM and DER
    // checks and fails where the key is loaded for signing.
    let not_a_key = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64(&client.der())
    );
    let ca_pem = ca.pem();
    for (cert, key, want) in [
        (
            client.cert_pem(),
            not_a_key.as_str(),
            "client certificate identity from environment variable KUBE_CLIENT_KEY_DATA is a private key that does not parse as one rustls can sign with (RSA, ECDSA P-256 or P-384, or Ed25519)",
        ),
        (
            client.cert_pem(),
            other.key_pem(),
            "client certificate identity from environment variable KUBE_CLIENT_KEY_DATA is a private key that does not match the certificate from environment variable KUBE_CLIENT_CERT_DATA",
        ),
    ] {
        let vars = [
            ("KUBE_HOST", "https://127.0.0.1:6443"),
            ("KUBE_CLUSTER_CA_CERT_DATA", ca_pem.as_str()),
            ("KUBE_CLIENT_CERT_DATA", cert),
            ("KUBE_CLIENT_KEY_DATA", key),
        ];
        let err = Client::builder()
            .environment(Arc::new(MapEnvironment::new(vars)))
            .build()
            .await
            .unwrap_err();
        let chain = error_chain(&err);
        assert!(chain.contains(want), "{chain}");
        assert!(!chain.contains("cannot sign with"), "{chain}");
    }
}

#[tokio::test]
async fn a_proxy_password_is_in_no_debug_display_or_report() {
    let canary = "s3cr3t-canary";
    let proxy = format!("http://user:{canary}@127.0.0.1:3128");
    let texts = everything_shown(&[
        ("KUBE_HOST", "https://api.example.test:6443"),
        ("KUBE_INSECURE", "true"),
        ("HTTPS_PROXY", &proxy),
    ])
    .await;
    for text in &texts {
        assert!(!text.contains(canary), "{text}");
    }

    let builder = kubecred_proxy::ProxySource::builder().url(&proxy);
    let source = builder.clone().build();
    for text in [
        format!("{builder:?}"),
        format!("{source:?}"),
        format!("{source:#?}"),
    ] {
        assert!(!text.contains(canary), "{text}");
    }
    let err = kubecred_core::ApiEndpoint::endpoint(&source)
        .await
        .unwrap_err();
    assert!(!error_chain(&err).contains(canary), "{err}");
}
