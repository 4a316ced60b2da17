//! kubecred's cross-crate library tests, one module per concern (the CLI's end-to-end tests
//! live with the CLI, which owns the binary).

mod builder;
mod chain;
mod hardening;
mod incluster;
mod layer;
mod mock;
mod proxy;
mod retry;
mod rotation;
mod secrets;
mod serve;
mod streaming;
mod support;
mod tls;
