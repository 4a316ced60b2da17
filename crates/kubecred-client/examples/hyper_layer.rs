//! A plain hyper-util client behind kubecred's tower layer, on kubecred's TLS configuration:
//! the credentials of the default chain (rotation, one re-read after a `401`) under an HTTP
//! stack built by hand (the endpoint's TLS server-name override, if any, sent as SNI). It GETs
//! a path (default `/version`) and prints the status and body.
//!
//! Against a real cluster: `cargo run -p kubecred-client --example hyper_layer -- /api`.
//! Against the stand-in: `cargo run -p kubecred-testing --example serve` prints `export`
//! lines for a pod; run this example with them in its environment.

use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::FixedServerNameResolver;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use kubecred_client::{error_chain, BoxError, Client};
use rustls::pki_types::ServerName;
use tower_layer::Layer;
use tower_service::Service;

#[tokio::main]
async fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/version".to_owned());
    match run(&path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // kubecred's own refusals and failures, or the HTTP stack's error.
            match error.downcast_ref::<kubecred_client::Error>() {
                Some(kubecred) => eprintln!("error: {}", error_chain(kubecred)),
                None => eprintln!("error: {}", error_chain(&*error)),
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(path: &str) -> Result<(), BoxError> {
    let client = Client::builder().build().await?;

    // The connector takes kubecred's rustls configuration: its roots follow a rotated CA
    // bundle and its client certificate the credentials, at each new connection.
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*client.tls_config()).clone())
        // A plain-http endpoint (kubectl proxy on loopback) needs http too.
        .https_or_http();
    // A TLS server-name override (`KUBE_TLS_SERVER_NAME`, a kubeconfig's `tls-server-name`) is
    // what the configuration verifies; sent as SNI too, as kubectl and kubecred's own client
    // send it, so that a server choosing its certificate by SNI answers with the right one.
    let tls = match client.endpoint().tls_server_name() {
        Some(name) => tls.with_server_name_resolver(FixedServerNameResolver::new(
            ServerName::try_from(name.to_owned())?,
        )),
        None => tls,
    };
    let connector = tls.enable_http1().build();
    let hyper: HyperClient<_, Full<Bytes>> =
        HyperClient::builder(TokioExecutor::new()).build(connector);
    let mut service = client.auth_layer().layer(hyper);

    let uri: http::Uri = client.endpoint().url_for(path)?.as_str().parse()?;
    let request = http::Request::get(uri).body(Full::default())?;
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    let response = service.call(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("{status} via {}", client.source_name());
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}
