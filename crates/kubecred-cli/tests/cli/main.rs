//! End-to-end tests of the built `kubecred` binary against the stand-in API server, one
//! module per concern.

mod env;
mod exec_cache;
mod hostile;
mod incluster;
mod kubeconfig;
mod proxy;
mod secrets;
mod streaming;
mod support;
mod usage;
