//! A stand-in pod you can start as a process, to try a program of your own against it:
//!
//! ```text
//! cargo run -q -p kubecred-testing --example serve
//! ```
//!
//! starts the stand-in API server on `127.0.0.1` (an ephemeral port, TLS with its own CA) and
//! a kubelet-style service-account directory holding a fresh token, `ca.crt` and `namespace`
//! `team-a` ([`Pod`]), then prints on stdout the variables of both styles as `export` lines
//! ([`Pod::exports`]): the in-cluster style (`KUBERNETES_SERVICE_HOST`,
//! `KUBERNETES_SERVICE_PORT`, `KUBECRED_SERVICEACCOUNT_DIR`) and the env style (`KUBE_HOST`,
//! `KUBE_TOKEN_FILE`, `KUBE_CLUSTER_CA_CERT_FILE`). Paste one block into another shell, or
//! redirect stdout to a file and source it there (`. FILE`); with both styles set, kubecred
//! takes the env style. No token is printed: it stays in its file.
//!
//! It serves until its stdin closes (Ctrl-D in a terminal, or the end of a pipe), then prints
//! on stderr the requests it received (method, path, how they authenticated), stops the
//! server and removes the directory. Ctrl-C stops it too, but as the shell's default does: at
//! once, with no request log, and leaving the temporary directory behind.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::process::ExitCode;

use kubecred_testing::Pod;

fn main() -> ExitCode {
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let pod = Pod::builder().token("serve", fresh_token()).start()?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(pod.exports().as_bytes())?;
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "# serving on {} (token label \"serve\"); close stdin (Ctrl-D) to stop",
        pod.server.url()
    );

    io::copy(&mut io::stdin().lock(), &mut io::sink())?;

    let requests = pod.server.requests();
    eprintln!("# stdin closed: {} request(s) served", requests.len());
    for request in requests {
        eprintln!(
            "# {} {} ({:?})",
            request.method, request.path, request.authentication
        );
    }
    Ok(())
}

/// A token of 32 hex digits from std's randomly seeded hasher: another one on every run, so
/// that a token seen once is no use later.
fn fresh_token() -> String {
    let half = || RandomState::new().build_hasher().finish();
    format!("kubecred-serve-{:016x}{:016x}", half(), half())
}
