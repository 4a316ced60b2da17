//! The README's kube-rs example, compiled with the crate's examples so that it stays true: a
//! kube-rs program on kubecred's default chain, `Api::<Pod>` list, then a `watcher`.
//!
//! `cargo run -p kubecred-kube --example kube-pods [CHANGES]`: lists the pods of the chosen
//! source's namespace, then prints `watching` once the watcher has listed them itself, and
//! each change it delivers (`applied NAME`, `deleted NAME`), forever or until CHANGES
//! changes; exits 1 on any error.

use std::process::ExitCode;

use futures::TryStreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt as _};
use kubecred_client::Client;

#[tokio::main]
async fn main() -> ExitCode {
    let changes = match std::env::args().nth(1).map(|n| n.parse::<u64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            eprintln!("usage: kube-pods [CHANGES]");
            return ExitCode::from(2);
        }
    };
    match run(changes).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One paragraph: which source, which file or variable, why.
            eprintln!("error: {}", kubecred_client::error_chain(&*error));
            ExitCode::FAILURE
        }
    }
}

async fn run(changes: Option<u64>) -> Result<(), Box<dyn std::error::Error>> {
    // kubecred's default chain (KUBE_* variables, your kubeconfig, the pod's service account,
    // a running `kubectl proxy`), resolved once; its credentials keep refreshing.
    let client = Client::builder().build().await?;
    let kube = kubecred_kube::client(&client)?;

    // kube-rs's typed API, in the chosen source's namespace.
    let pods: Api<Pod> = Api::default_namespaced(kube);
    let names: Vec<String> = pods
        .list(&Default::default())
        .await?
        .into_iter()
        .map(|pod| pod.name_any())
        .collect();
    println!(
        "{} pod(s) in {} via {}: {}",
        names.len(),
        client.namespace(),
        client.source_name(),
        names.join(", ")
    );

    // A watcher: it lists, watches, and re-watches when a watch ends, each request on the
    // source's current credentials (a rotated token is re-read after a 401).
    let mut events = std::pin::pin!(watcher::watcher(pods, watcher::Config::default()));
    let (mut seen, mut watching) = (0, false);
    while changes.is_none_or(|changes| seen < changes) {
        let Some(event) = events.try_next().await? else {
            break;
        };
        match event {
            Event::Apply(pod) => println!("applied {}", pod.name_any()),
            Event::Delete(pod) => println!("deleted {}", pod.name_any()),
            // The watcher's own initial list is done: changes from now on are printed.
            Event::InitDone if !watching => {
                watching = true;
                println!("watching");
                continue;
            }
            // Its initial list (again after a 410 Expired).
            Event::Init | Event::InitApply(_) | Event::InitDone => continue,
        }
        seen += 1;
    }
    Ok(())
}
