//! The bodies of kubecred's fuzz targets, one copy each: `fuzz/` (cargo-fuzz, nightly) runs
//! them under libFuzzer, and this crate's `replay` test runs every input of every committed
//! corpus (`fuzz/corpus/<target>/`) through them on stable, as part of `cargo test`.
//!
//! Each target takes arbitrary bytes, drives one parser through the public API (files in a
//! temporary directory, a tiny plugin script, never a connection but to a closed loopback port
//! or a unix socket in a temporary directory), and checks an oracle, not only "no panic":
//! every token, key and password the input can carry holds a canary ([`oracle::TOKEN_CANARY`],
//! [`oracle::PASSWORD_CANARY`], the body of [`oracle::Material`]'s private key), and no
//! `Debug`, `Display`, error chain, log line or `explain` rendering may contain one. A
//! violation is a panic, which libFuzzer reports as a crash and the replay test as a failure.
//!
//! Most targets read a *scenario* ([`scenario::Scenario`]): records separated by NUL bytes,
//! `NAME=VALUE` for a variable and `/name=CONTENT` for a file in the temporary directory, with
//! markers for the canaries and the key material (see [`scenario`]).

pub mod oracle;
pub mod scenario;
mod targets;

pub use targets::{
    env_source, exec_credential, explain_env, in_cluster, jwt, kubeconfig, pem, proxy_url,
};

/// A target: its name (the directory of its corpus, the name of its libFuzzer binary) and its
/// body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("explain_env", explain_env),
    ("env_source", env_source),
    ("in_cluster", in_cluster),
    ("proxy_url", proxy_url),
    ("jwt", jwt),
    ("pem", pem),
    ("kubeconfig", kubeconfig),
    ("exec_credential", exec_credential),
];

/// Runs `future` to completion on this thread's current-thread tokio runtime (made once per
/// thread, with time and I/O).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}
