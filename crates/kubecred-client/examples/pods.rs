//! The README's library example, compiled with the crate's examples so that it stays true:
//! the pods in the client's namespace, through the default chain.

use std::process::ExitCode;

use kubecred_client::{error_chain, Client};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One paragraph a person can act on: the source, the variable or file, the cause.
            eprintln!("error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), kubecred_client::Error> {
    // The default chain: KUBE_* variables, then your kubeconfig, then the pod's service
    // account, then a running `kubectl proxy`. It is resolved once, here.
    let client = Client::builder().build().await?;
    let pods: serde_json::Value = client
        .get_json(&format!("/api/v1/namespaces/{}/pods", client.namespace()))
        .await?;
    let count = pods["items"].as_array().map_or(0, Vec::len);
    println!(
        "{count} pod(s) in {} via {}",
        client.namespace(),
        client.source_name()
    );
    Ok(())
}
