//! No `Debug`, `Display` or error chain of the library ever contains the token.

use std::sync::Arc;

use kubecred_client::error_chain;
use kubecred_core::{ApiEndpoint, CredentialSource, MapEnvironment, SourceBuilder};
use kubecred_testing::{ApiServer, CertificateAuthority, ServiceAccountFiles};

use crate::support::*;

/// Everything a person could see of one scenario.
fn seen(texts: &mut Vec<String>, value: &dyn std::fmt::Debug) {
    texts.push(format!("{value:?}"));
    texts.push(format!("{value:#?}"));
}

#[tokio::test]
async fn no_debug_display_or_error_chain_contains_the_token() {
    let mut texts = Vec::new();

    // Success: the client, its endpoint, its credentials, its report.
    let pod = Pod::new();
    let builder = pod.builder();
    seen(&mut texts, &builder);
    let report = builder.explain().await;
    seen(&mut texts, &report);
    texts.push(report.to_string());
    texts.push(report.to_json());
    let client = builder.build().await.unwrap();
    seen(&mut texts, &client);
    seen(&mut texts, &client.authorization_header().await.unwrap());
    let response = client.get("/api").await.unwrap();
    seen(&mut texts, &response);

    let source = kubecred_incluster::InCluster::builder()
        .serviceaccount_dir(pod.dir.path())
        .environment(Arc::new(pod.env.clone()))
        .build();
    seen(&mut texts, &source.endpoint().await.unwrap());
    seen(&mut texts, &source.credentials().await.unwrap());
    seen(&mut texts, &source);
    seen(&mut texts, &pod.env);
    seen(&mut texts, &pod.dir);

    // Failures: a refused token, a stranger CA, an empty token file, a missing variable.
    let refused = Pod::with_server(ApiServer::builder().token("x", "other").start().unwrap());
    let err = refused.client().await.get("/api").await.unwrap_err();
    texts.push(error_chain(&err));
    seen(&mut texts, &err);

    let stranger = CertificateAuthority::new("stranger").unwrap();
    pod.dir
        .update(
            &ServiceAccountFiles::new()
                .token(TOKEN)
                .ca_crt(stranger.pem()),
        )
        .unwrap();
    let err = pod.client().await.get("/api").await.unwrap_err();
    texts.push(error_chain(&err));
    seen(&mut texts, &err);

    pod.dir
        .update(
            &ServiceAccountFiles::new()
                .token("")
                .ca_crt(pod.server.ca_pem()),
        )
        .unwrap();
    let err = pod.builder().build().await.unwrap_err();
    texts.push(error_chain(&err));
    seen(&mut texts, &err);

    let mut env = pod.env.clone();
    env.set(kubecred_incluster::SERVICE_PORT_VAR, " ");
    env.set("SOME_TOKEN_VARIABLE", TOKEN);
    seen(&mut texts, &env);
    let err = kubecred_client::Client::builder()
        .environment(Arc::new(env))
        .build()
        .await
        .unwrap_err();
    texts.push(error_chain(&err));
    seen(&mut texts, &err);

    let none = kubecred_client::Client::builder()
        .environment(Arc::new(MapEnvironment::default()))
        .proxy_url(closed_proxy_url())
        .build()
        .await
        .unwrap_err();
    seen(&mut texts, &none);

    assert!(texts.len() > 25);
    for text in &texts {
        assert!(!text.contains(TOKEN), "the token leaked into:\n{text}");
    }
}

#[tokio::test]
async fn no_debug_display_or_error_chain_contains_a_client_key() {
    let server = ApiServer::builder().token("laptop", TOKEN).start().unwrap();
    let alice = server.ca().issue_client_certificate("alice").unwrap();
    let bob = server.ca().issue_client_certificate("bob").unwrap();
    let env = |key: &str| {
        Arc::new(MapEnvironment::new([
            ("KUBE_HOST", server.url()),
            ("KUBE_TOKEN", TOKEN.to_owned()),
            ("KUBE_CLUSTER_CA_CERT_DATA", server.ca_pem()),
            ("KUBE_CLIENT_CERT_DATA", alice.cert_pem().to_owned()),
            ("KUBE_CLIENT_KEY_DATA", key.to_owned()),
        ]))
    };
    let mut texts = Vec::new();
    let source = kubecred_env::EnvSource::builder()
        .environment(env(alice.key_pem()))
        .build();
    seen(&mut texts, &source);
    seen(&mut texts, &source.endpoint().await.unwrap());
    seen(&mut texts, &source.credentials().await.unwrap());
    let builder = kubecred_client::Client::builder().environment(env(alice.key_pem()));
    seen(&mut texts, &builder.explain().await);
    let client = builder.build().await.unwrap();
    seen(&mut texts, &client);
    seen(&mut texts, &client.get("/api").await.unwrap());

    // A mismatched key, and a key in the certificate's place.
    for key in [bob.key_pem(), alice.cert_pem()] {
        let err = kubecred_client::Client::builder()
            .environment(env(key))
            .build()
            .await
            .unwrap_err();
        texts.push(error_chain(&err));
        seen(&mut texts, &err);
    }

    let key_lines: Vec<&str> = [alice.key_pem(), bob.key_pem()]
        .into_iter()
        .flat_map(str::lines)
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .collect();
    assert!(!key_lines.is_empty());
    for text in &texts {
        assert!(!text.contains(TOKEN), "the token leaked into:\n{text}");
        for line in &key_lines {
            assert!(!text.contains(line), "a private key leaked into:\n{text}");
        }
    }
}
