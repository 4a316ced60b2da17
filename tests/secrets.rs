//! No `Debug`, `Display` or error chain of the library ever contains the token.

use std::sync::Arc;

use kubecred_client::error_chain;
use kubecred_core::{ApiEndpoint, CredentialSource, MapEnvironment};
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
    env.set("KUBERNETES_SERVICE_PORT", " ");
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
        .build()
        .await
        .unwrap_err();
    seen(&mut texts, &none);

    assert!(texts.len() > 25);
    for text in &texts {
        assert!(!text.contains(TOKEN), "the token leaked into:\n{text}");
    }
}
