//! Unit tests of the env source with an injected environment.

use super::*;
use base64::Engine as _;
use kubecred_core::{ExposeSecret, MapEnvironment};
use kubecred_testing::{assert_quotes_nothing_of, pem_body, CertificateAuthority};

fn source(vars: &[(&str, &str)]) -> EnvSource {
    EnvSource::builder()
        .environment(Arc::new(MapEnvironment::new(vars.iter().copied())))
        .build()
}

async fn endpoint(vars: &[(&str, &str)]) -> Result<Endpoint, SourceError> {
    source(vars).endpoint().await
}

async fn failure(vars: &[(&str, &str)]) -> String {
    let s = source(vars);
    let err = match s.endpoint().await {
        Ok(_) => s
            .credentials()
            .await
            .expect_err("expected a failure")
            .to_string(),
        Err(e) => e.to_string(),
    };
    // Only the values that are not secrets are quoted (bounded, escaped); nothing of any
    // other (a token, a key, a CA's data, a URL's password) ever is.
    const QUOTED: [&str; 3] = ["KUBE_HOST", "KUBE_INSECURE", "KUBE_TLS_SERVER_NAME"];
    for (name, value) in vars {
        if value.len() > 8 && !value.starts_with('/') && !QUOTED.contains(name) {
            assert!(!err.contains(value), "the error quotes a value: {err}");
        }
    }
    err
}

#[tokio::test]
async fn not_applicable_without_kube_host_even_with_a_namespace() {
    for vars in [&[][..], &[("KUBE_HOST", "  "), ("KUBE_NAMESPACE", "a")][..]] {
        let err = endpoint(vars).await.unwrap_err();
        assert!(err.is_not_applicable());
        assert_eq!(err.to_string(), "KUBE_HOST is not set");
    }
}

#[tokio::test]
async fn a_table_variable_without_kube_host_fails_naming_kube_host() {
    for name in [
        "KUBE_TOKEN",
        "KUBE_INSECURE",
        "KUBE_CLUSTER_CA_CERT_FILE",
        "KUBE_CLIENT_KEY_DATA",
    ] {
        let err = endpoint(&[(name, "x")]).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("environment variable KUBE_HOST is not set, but {name} is")
        );
    }
    // Other KUBE_* variables are none of our business.
    assert!(endpoint(&[("KUBE_EDITOR", "vim")])
        .await
        .unwrap_err()
        .is_not_applicable());
}

#[tokio::test]
async fn kube_host_forms() {
    for (host, want) in [
        ("api.example.test", "https://api.example.test:443"),
        ("api.example.test:6443", "https://api.example.test:6443"),
        ("https://10.0.0.1:6443/", "https://10.0.0.1:6443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        (
            "https://rancher.example.test/k8s/clusters/c-1",
            "https://rancher.example.test:443/k8s/clusters/c-1",
        ),
        ("[::1]:6443", "https://[::1]:6443"),
    ] {
        let e = endpoint(&[("KUBE_HOST", host)]).await.unwrap();
        assert_eq!(e.display_url(), want, "{host}");
    }
    for bad in [
        "ftp://x.test",
        "https://",
        "https://u:p@x.test",
        "https://x.test/?q=1",
        "http://[::1",
    ] {
        let err = failure(&[("KUBE_HOST", bad)]).await;
        assert!(
            err.starts_with("environment variable KUBE_HOST "),
            "{bad}: {err}"
        );
    }
}

#[tokio::test]
async fn trust_follows_the_variables() {
    let ca = CertificateAuthority::new("env-test").unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(ca.pem());
    let e = endpoint(&[("KUBE_HOST", "x.test")]).await.unwrap();
    assert!(matches!(e.trust(), Trust::SystemRoots));
    let e = endpoint(&[
        ("KUBE_HOST", "x.test"),
        ("KUBE_CLUSTER_CA_CERT_DATA", &ca.pem()),
    ])
    .await
    .unwrap();
    assert!(matches!(e.trust(), Trust::CaBundle(_)));
    let e = endpoint(&[("KUBE_HOST", "x.test"), ("KUBE_CLUSTER_CA_CERT_DATA", &b64)])
        .await
        .unwrap();
    assert!(matches!(e.trust(), Trust::CaBundle(_)));
    let e = endpoint(&[("KUBE_HOST", "x.test"), ("KUBE_INSECURE", "t")])
        .await
        .unwrap();
    assert!(matches!(e.trust(), Trust::InsecureSkipVerify));
    let e = endpoint(&[("KUBE_HOST", "x.test"), ("KUBE_INSECURE", "FALSE")])
        .await
        .unwrap();
    assert!(matches!(e.trust(), Trust::SystemRoots));
}

#[tokio::test]
async fn bad_input_is_named_never_guessed() {
    let ca = CertificateAuthority::new("env-test").unwrap();
    let pem = ca.pem();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_TOKEN", "t1"), ("KUBE_TOKEN_FILE", "/t")],
            "KUBE_TOKEN and KUBE_TOKEN_FILE are both set: set only one of them",
        ),
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_CLUSTER_CA_CERT_DATA", &pem), ("KUBE_CLUSTER_CA_CERT_FILE", "/ca")],
            "KUBE_CLUSTER_CA_CERT_DATA and KUBE_CLUSTER_CA_CERT_FILE are both set: set only one of them",
        ),
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_INSECURE", "yes please")],
            "environment variable KUBE_INSECURE is \"yes please\", not a boolean (true, false, 1, 0, t, f, TRUE, FALSE, True, False)",
        ),
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_INSECURE", "true"), ("KUBE_CLUSTER_CA_CERT_DATA", &pem)],
            "KUBE_INSECURE and KUBE_CLUSTER_CA_CERT_DATA are both set: verification cannot be both off and pinned to a CA bundle; unset one",
        ),
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_CLUSTER_CA_CERT_DATA", "garbage-data-here")],
            "environment variable KUBE_CLUSTER_CA_CERT_DATA is neither PEM nor base64 of PEM (it does not start a PEM block and is not valid base64)",
        ),
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_CLIENT_CERT_DATA", &pem)],
            "environment variable KUBE_CLIENT_KEY_DATA (or KUBE_CLIENT_KEY_FILE) is not set, but KUBE_CLIENT_CERT_DATA is",
        ),
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_CLIENT_KEY_FILE", "/key.pem")],
            "environment variable KUBE_CLIENT_CERT_DATA (or KUBE_CLIENT_CERT_FILE) is not set, but KUBE_CLIENT_KEY_FILE is",
        ),
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_TLS_SERVER_NAME", "not a name!")],
            "environment variable KUBE_TLS_SERVER_NAME is \"not a name!\", not a DNS name or an IP address",
        ),
        (
            &[("KUBE_HOST", "x.test"), ("KUBE_TOKEN_FILE", "/nonexistent/kubecred/token")],
            "token file /nonexistent/kubecred/token does not exist",
        ),
    ];
    for (vars, want) in cases {
        assert_eq!(&failure(vars).await, want);
    }
}

#[tokio::test]
async fn credentials_token_file_and_client_certificate() {
    let ca = CertificateAuthority::new("env-test").unwrap();
    let client = ca.issue_client_certificate("alice").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "from-file\n").unwrap();
    let token_path = token_path.display().to_string();

    let s = source(&[("KUBE_HOST", "x.test"), ("KUBE_TOKEN_FILE", &token_path)]);
    let token = |c: &Credentials| c.token().unwrap().expose_secret().to_owned();
    let first = s.credentials().await.unwrap();
    assert_eq!(token(&first), "from-file");
    std::fs::write(&token_path, "rotated").unwrap();
    let rotated = s.refresh(&first).await.unwrap();
    assert_eq!(token(&rotated), "rotated");
    std::fs::write(&token_path, "").unwrap();
    assert!(s.refresh(&rotated).await.is_err());
    assert_eq!(token(&s.credentials().await.unwrap()), "rotated");

    let key_b64 = base64::engine::general_purpose::STANDARD.encode(client.key_pem());
    let s = source(&[
        ("KUBE_HOST", "x.test"),
        ("KUBE_CLIENT_CERT_DATA", client.cert_pem()),
        ("KUBE_CLIENT_KEY_DATA", &key_b64),
    ]);
    let credentials = s.credentials().await.unwrap();
    assert_eq!(credentials.kind().as_str(), "client-certificate");
    assert!(!format!("{credentials:?}").contains(&key_b64[10..40]));

    let err = failure(&[
        ("KUBE_HOST", "x.test"),
        ("KUBE_CLIENT_CERT_DATA", client.cert_pem()),
        ("KUBE_CLIENT_KEY_DATA", client.cert_pem()),
    ])
    .await;
    assert_eq!(
        err,
        "client certificate identity from environment variable KUBE_CLIENT_KEY_DATA holds no PEM private key (PKCS#1, PKCS#8 or SEC1)"
    );
}

#[tokio::test]
async fn a_custom_prefix_reads_its_own_variables_only() {
    let env = MapEnvironment::new([
        ("MYAPP_HOST", "https://mine.test:6443"),
        ("MYAPP_TOKEN", "mine"),
        ("KUBE_HOST", "https://theirs.test"),
    ]);
    let s = EnvSource::builder()
        .prefix("MYAPP_")
        .environment(Arc::new(env))
        .build();
    let e = s.endpoint().await.unwrap();
    assert_eq!(e.display_url(), "https://mine.test:6443");
    assert_eq!(e.provenance().reason, "MYAPP_HOST is set");
    assert_eq!(e.provenance().variables, ["MYAPP_HOST", "MYAPP_TOKEN"]);
    assert_eq!(
        s.credentials()
            .await
            .unwrap()
            .token()
            .unwrap()
            .expose_secret(),
        "mine"
    );
}

#[tokio::test]
async fn provenance_lists_names_and_file_paths_only() {
    let e = endpoint(&[
        ("KUBE_HOST", "x.test"),
        ("KUBE_TOKEN_FILE", "/run/token"),
        ("KUBE_NAMESPACE", "team-b"),
        ("HTTPS_PROXY", "http://proxy.test:3128"),
    ])
    .await
    .unwrap();
    let p = e.provenance();
    assert_eq!(
        p.variables,
        [
            "KUBE_HOST",
            "KUBE_TOKEN_FILE",
            "KUBE_NAMESPACE",
            "HTTPS_PROXY"
        ]
    );
    assert_eq!(p.files, [PathBuf::from("/run/token")]);
    assert_eq!(e.namespace(), "team-b");
    assert_eq!(e.proxy().map(Url::as_str), Some("http://proxy.test:3128/"));
}

fn seen(err: &SourceError) -> [String; 4] {
    [
        err.to_string(),
        kubecred_core::error_chain(err),
        format!("{err:?}"),
        format!("{err:#?}"),
    ]
}

#[tokio::test]
async fn a_one_line_certificate_and_key_pem_quotes_none_of_the_key() {
    let ca = CertificateAuthority::new("one-line-ca").unwrap();
    let client = ca.issue_client_certificate("one-line").unwrap();
    let key_body = pem_body(client.key_pem());
    let both = format!("{}{}", client.cert_pem(), client.key_pem());
    for (one_line, problem) in [
        (
            both.replace('\n', "\\n"),
            "is not valid PEM: a line that starts a block holds more than its -----BEGIN ...----- marker (is the PEM on one line, with spaces or literal \\n instead of newlines?)",
        ),
        (
            both.replace('\n', " "),
            "is not valid PEM: a block has no -----END ...----- line",
        ),
    ] {
        let err = source(&[
            ("KUBE_HOST", "https://127.0.0.1:6443"),
            ("KUBE_CLIENT_CERT_DATA", &one_line),
            ("KUBE_CLIENT_KEY_DATA", client.key_pem()),
        ])
        .credentials()
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("client certificate identity from environment variable KUBE_CLIENT_CERT_DATA {problem}")
        );
        for text in seen(&err) {
            assert_quotes_nothing_of(&text, &key_body);
        }
        // The key alone on one line: named, not quoted, either.
        let err = source(&[
            ("KUBE_HOST", "https://127.0.0.1:6443"),
            ("KUBE_CLIENT_CERT_DATA", client.cert_pem()),
            ("KUBE_CLIENT_KEY_DATA", &one_line),
        ])
        .credentials()
        .await
        .unwrap_err();
        assert!(err.to_string().contains("KUBE_CLIENT_KEY_DATA"), "{err}");
        for text in seen(&err) {
            assert_quotes_nothing_of(&text, &key_body);
        }
    }
}

#[tokio::test]
async fn a_one_line_ca_bundle_is_described_not_quoted() {
    let ca = CertificateAuthority::new("one-line-ca").unwrap();
    let ca_body = pem_body(&ca.pem());
    let one_line = ca.pem().replace('\n', "\\n");
    let err = endpoint(&[
        ("KUBE_HOST", "https://127.0.0.1:6443"),
        ("KUBE_CLUSTER_CA_CERT_DATA", &one_line),
    ])
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "CA bundle from environment variable KUBE_CLUSTER_CA_CERT_DATA is not valid PEM: "
        ),
        "{err}"
    );
    for text in seen(&err) {
        assert_quotes_nothing_of(&text, &ca_body);
        assert!(text.len() < 1024, "{} bytes: {text}", text.len());
    }
}

#[tokio::test]
async fn garbage_in_a_private_key_block_is_said_not_to_parse() {
    let ca = CertificateAuthority::new("garbage-key-ca").unwrap();
    let client = ca.issue_client_certificate("garbage-key").unwrap();
    let garbage = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode("this is not a key, only some text")
    );
    let err = failure(&[
        ("KUBE_HOST", "https://127.0.0.1:6443"),
        ("KUBE_CLIENT_CERT_DATA", client.cert_pem()),
        ("KUBE_CLIENT_KEY_DATA", &garbage),
    ])
    .await;
    assert_eq!(
        err,
        "client certificate identity from environment variable KUBE_CLIENT_KEY_DATA holds a PRIVATE KEY block whose content does not parse as a private key (it is not DER)"
    );
}

#[tokio::test]
async fn an_x509_v1_client_certificate_is_said_to_be_v1() {
    let ca = CertificateAuthority::new("v1-ca").unwrap();
    let client = ca.issue_client_certificate("v1").unwrap();
    // The tbsCertificate's `[0] EXPLICIT INTEGER 2` (v3) made `0` (v1): same length.
    let mut der = client.der().to_vec();
    let at = der
        .windows(5)
        .position(|w| w == [0xa0, 0x03, 0x02, 0x01, 0x02])
        .unwrap();
    der[at + 4] = 0x00;
    let v1 = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let err = failure(&[
        ("KUBE_HOST", "https://127.0.0.1:6443"),
        ("KUBE_CLIENT_CERT_DATA", &v1),
        ("KUBE_CLIENT_KEY_DATA", client.key_pem()),
    ])
    .await;
    assert_eq!(
        err,
        "client certificate identity from environment variable KUBE_CLIENT_CERT_DATA holds an X.509 v1 certificate: a TLS client certificate must be X.509 v3"
    );
}

#[tokio::test]
async fn a_data_value_over_1_mib_is_refused_naming_the_variable_and_the_limit() {
    let huge = "QUFB".repeat(kubecred_core::MAX_FILE_BYTES as usize / 4 + 1);
    for name in [
        "KUBE_CLUSTER_CA_CERT_DATA",
        "KUBE_CLIENT_CERT_DATA",
        "KUBE_CLIENT_KEY_DATA",
    ] {
        let mut vars = vec![
            ("KUBE_HOST", "https://127.0.0.1:6443"),
            (name, huge.as_str()),
        ];
        if name != "KUBE_CLUSTER_CA_CERT_DATA" {
            let twin = if name == "KUBE_CLIENT_CERT_DATA" {
                "KUBE_CLIENT_KEY_DATA"
            } else {
                "KUBE_CLIENT_CERT_DATA"
            };
            vars.push((twin, "-----BEGIN X-----\n-----END X-----\n"));
        }
        let err = failure(&vars).await;
        assert_eq!(
            err,
            format!("environment variable {name} is longer than 1 MiB"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_proxy_password_is_in_no_debug_or_display() {
    let canary = "s3cr3t-canary";
    let proxy = format!("http://user:{canary}@127.0.0.1:3128");
    let source = source(&[
        ("KUBE_HOST", "https://api.example.test:6443"),
        ("KUBE_TOKEN", "a-token"),
        ("HTTPS_PROXY", &proxy),
    ]);
    let endpoint = source.endpoint().await.unwrap();
    // The password is still used...
    assert_eq!(endpoint.proxy().unwrap().password(), Some(canary));
    // ...and never shown.
    for text in [
        format!("{endpoint:?}"),
        format!("{endpoint:#?}"),
        endpoint.display_url(),
        endpoint.trust().to_string(),
        format!("{source:?}"),
        format!("{:?}", endpoint.provenance()),
    ] {
        assert!(!text.contains(canary), "{text}");
    }
    assert!(format!("{endpoint:?}").contains("http://user:[redacted]@127.0.0.1:3128/"));
}

#[tokio::test]
async fn a_bad_non_secret_value_is_quoted_and_a_hosts_password_never() {
    let err = failure(&[("KUBE_HOST", "x.test"), ("KUBE_INSECURE", "abc")]).await;
    assert!(
        err.starts_with("environment variable KUBE_INSECURE is \"abc\", not a boolean"),
        "{err}"
    );
    let err = failure(&[("KUBE_HOST", "https://me:hunter2-password@[bad")]).await;
    assert!(
        err.starts_with("environment variable KUBE_HOST is \"https://me:"),
        "{err}"
    );
    assert!(!err.contains("hunter2-password"), "{err}");
}
