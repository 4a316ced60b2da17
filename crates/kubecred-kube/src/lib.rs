//! kube-rs's [`kube::Client`](https://docs.rs/kube/5/kube/struct.Client.html) on kubecred's
//! credentials: kubecred's chain, rotation, `401`
//! re-reads and `explain`, under kube-rs's typed API (`Api`, `watch`, `kube::runtime`).
//!
//! - [`client`] makes a `kube::Client` from a built [`kubecred_client::Client`] (any source,
//!   any composition); [`from_builder`] builds the kubecred client first (the default chain:
//!   env → kubeconfig → in-cluster → proxy).
//! - The `kube::Client`'s default namespace is the chosen source's
//!   ([`kubecred_client::Client::namespace`]).
//! - [`Error`] says why no client was made, naming the source: an endpoint kube-rs cannot
//!   reach (a `kubectl proxy` on a unix socket) is refused with the reason.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use kube::Api;
//! use kubecred_testing::Pod as TestPod;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A pod, played by kubecred-testing: a stand-in API server and a service-account directory.
//! let pod = TestPod::start()?;
//! let env = kubecred_client::MapEnvironment::new(pod.kubelet_vars());
//!
//! // In a real pod this is just `kubecred_kube::from_builder(Client::builder()).await?`.
//! let builder = kubecred_client::Client::builder()
//!     .environment(std::sync::Arc::new(env))
//!     .serviceaccount_dir(pod.dir.path());
//! let kube = kubecred_kube::from_builder(builder).await?;
//!
//! let pods: Api<Pod> = Api::default_namespaced(kube); // the pod's namespace, `team-a`
//! let names: Vec<_> = pods.list(&Default::default()).await?.items.into_iter()
//!     .filter_map(|pod| pod.metadata.name)
//!     .collect();
//! assert_eq!(names, ["stand-in"]);
//! # Ok(())
//! # }
//! ```
//!
//! # How it is built
//!
//! On kube-rs's own stack, as `kube::Client::try_from(Config)` builds it, with kubecred in
//! the places that hold credentials and trust:
//!
//! - the connector: hyper-util's HTTP connector (through the endpoint's HTTP proxy with
//!   `CONNECT`, when it has one), hyper-rustls over [`kubecred_client::Client::tls_config`]
//!   (its roots follow the CA file's rotation, its client certificate the credentials'; the
//!   endpoint's TLS server name is sent as SNI and verified), and hyper-timeout with
//!   `kube::Config`'s default limits (connect 30 s, write 295 s, no read limit, so a watch
//!   lasts as long as the server keeps it);
//! - the service: hyper-util's client under [`kubecred_client::AuthLayer`] (credentials, the
//!   endpoint's own headers: impersonation, a `Host` for `kubectl proxy` on `[::1]`), under
//!   kube-rs's `BaseUriLayer` (the endpoint's URL, a path prefix kept). kube-rs's retry of
//!   `429`/`503`/`504` answers and its tracing spans are not part of it.
//!
//! Rotation: every request (a watcher's re-list and re-watch included) takes the source's
//! current credentials; a `401` makes the source re-read them once and, for a request that
//! can be sent again, retries it once. kube-rs's own `Config::auth_info`, token files and
//! exec plugins are not used: kubecred's source is the one place credentials come from.
//!
//! The key design decision: this crate builds the `kube::Client` and nothing else, so that
//! kube-rs and k8s-openapi (large crates) reach only the programs that use them; the cost is
//! a second HTTP stack beside kubecred's reqwest client when a program uses both.
//!
//! # Versions and build cost
//!
//! kube 5 (`default-features = false`, `client`), hence Rust 1.89 for this crate (the rest of
//! kubecred needs 1.86). k8s-openapi compiles for one Kubernetes version, which the final
//! binary picks with one feature (`k8s-openapi = { version = "0.29", features = ["v1_33"] }`);
//! this library enables none.
//!
//! Build cost, measured cold on a 2-core machine that other builds were sharing (load 4 to
//! 6), so an idle machine does better: in `cargo test --workspace --no-run --timings` (339 s
//! wall, 235 s CPU), the 93 compilation units only this crate brings (kube-rs, k8s-openapi,
//! serde-saphyr, jiff, …, and this crate's tests and example) took 182 s of the 675 s of
//! compile time, 27%: k8s-openapi 16 s, kube-client 16 s, this crate's test binaries and
//! example 69 s. Built alone after kubecred-client's tests (`cargo build -p kubecred-kube
//! --tests` in the same fresh target directory), it took 190 s wall (117 s CPU), 119 s of
//! compile time being crates the two share rebuilt with kube-rs's feature set (a build of one
//! package does not unify features with the rest of the workspace). Incremental builds are
//! not affected. No other kubecred crate depends on kube-rs.
//!
//! Endpoints kube-rs cannot reach: a unix socket (`kubectl proxy --unix-socket`): hyper-util's
//! client connects over TCP only; use `kubectl proxy` on a loopback port, or
//! [`kubecred_client::Client`] itself. An HTTPS or SOCKS proxy: only an `http://` proxy is
//! tunnelled through.

mod error;

use std::sync::Arc;

use http::header::HeaderValue;
use hyper_rustls::FixedServerNameResolver;
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt as _;
use kubecred_client::{AuthLayer, Client, ClientBuilder, Endpoint};

pub use error::Error;

/// `connector` under kube-rs's limits (`kube::Config`'s defaults), as kube-rs wraps its own
/// (a macro: hyper-timeout's bounds name `tower_service`, which this crate does not depend on).
macro_rules! timeouts {
    ($config:expr, $connector:expr) => {{
        let mut connector = TimeoutConnector::new($connector);
        connector.set_connect_timeout($config.connect_timeout);
        connector.set_read_timeout($config.read_timeout);
        connector.set_write_timeout($config.write_timeout);
        connector
    }};
}

/// A `kube::Client` for `client`'s endpoint, authenticated with its source's current
/// credentials on every request; its default namespace is `client.namespace()`.
///
/// Must be called within a tokio runtime: `kube::Client` starts its buffer's task there, as
/// `kube::Client::try_from` does. The two clients share the credentials (one cache, one
/// re-read after a `401`) and the TLS configuration, not their connections.
///
/// # Errors
///
/// [`Error::Unreachable`] for an endpoint kube-rs cannot reach (a unix socket, an HTTPS or
/// SOCKS proxy); [`Error::Endpoint`] for a URL, proxy URL or TLS server name that kube-rs's
/// types do not take.
pub fn client(client: &Client) -> Result<kube::Client, Error> {
    let endpoint = client.endpoint();
    let source_name = client.source_name();
    if endpoint.unix_socket().is_some() {
        return Err(unreachable(
            client,
            "it is a unix socket, and kube-rs's HTTP client connects over TCP only \
             (run `kubectl proxy` on a loopback port, or use kubecred_client::Client)",
        ));
    }
    let config = config(endpoint, source_name)?;
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(Arc::unwrap_or_clone(client.tls_config()))
        .https_or_http();
    let tls = match endpoint.tls_server_name() {
        Some(name) => {
            let name = rustls_pki_types_name(name)
                .ok_or_else(|| endpoint_error(source_name, "TLS server name"))?;
            tls.with_server_name_resolver(FixedServerNameResolver::new(name))
        }
        None => tls,
    }
    .enable_http1();
    let mut http = HttpConnector::new();
    // The scheme is the TLS layer's business (`https_or_http`).
    http.enforce_http(false);
    match endpoint.proxy() {
        None => Ok(stack(
            client,
            &config,
            timeouts!(config, tls.wrap_connector(http)),
        )),
        Some(proxy) => {
            if proxy.scheme() != "http" {
                return Err(unreachable(
                    client,
                    "its HTTP proxy is not an http:// URL, and only http:// proxies are \
                     tunnelled through (use kubecred_client::Client, which takes others)",
                ));
            }
            let mut tunnel = Tunnel::new(proxy_uri(proxy, source_name)?, http);
            if let Some(header) = proxy_authorization(proxy) {
                tunnel = tunnel.with_auth(header);
            }
            Ok(stack(
                client,
                &config,
                timeouts!(config, tls.wrap_connector(tunnel)),
            ))
        }
    }
}

/// Builds `builder` (resolving its chain, or its composition, once) and makes a
/// `kube::Client` of it, as [`client`] does. Keep the kubecred client instead (build it,
/// then call [`client`]) to also send raw requests or `explain` which source was chosen.
///
/// # Errors
///
/// [`Error::Client`] when `builder.build()` fails (its report lists every source tried); then
/// as [`client`].
pub async fn from_builder(builder: ClientBuilder) -> Result<kube::Client, Error> {
    client(&builder.build().await?)
}

/// kube-rs's `Config` for the endpoint: the URL, the namespace and kube-rs's default limits.
/// Nothing of its `auth_info`, roots, headers or proxy is used (this crate and kubecred's
/// layer do them).
fn config(endpoint: &Endpoint, source_name: &str) -> Result<kube::Config, Error> {
    let url = endpoint
        .url()
        .as_str()
        .parse::<http::Uri>()
        .map_err(|_| endpoint_error(source_name, "URL"))?;
    let mut config = kube::Config::new(url);
    config.default_namespace = endpoint.namespace().to_owned();
    Ok(config)
}

/// The client over `connector`: hyper-util's client under kubecred's auth layer, under
/// kube-rs's base-URI layer (outermost, so the auth layer sees the absolute URI it checks).
fn stack<C>(client: &Client, config: &kube::Config, connector: C) -> kube::Client
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, kube::client::Body>(connector);
    kube::client::ClientBuilder::new(http, config.default_namespace.clone())
        .with_layer(&AuthLayer::new(client))
        .with_layer(&config.base_uri_layer())
        .build()
}

/// The proxy URL as an `http::Uri` (scheme, host and port: its user name and password go in
/// a `Proxy-Authorization` header instead).
fn proxy_uri(proxy: &url::Url, source_name: &str) -> Result<http::Uri, Error> {
    let host = proxy
        .host_str()
        .ok_or_else(|| endpoint_error(source_name, "HTTP proxy URL"))?;
    let port = proxy.port_or_known_default().unwrap_or(80);
    format!("{}://{host}:{port}", proxy.scheme())
        .parse()
        .map_err(|_| endpoint_error(source_name, "HTTP proxy URL"))
}

/// `Basic` of the proxy URL's user name and password (percent-decoded), marked sensitive.
fn proxy_authorization(proxy: &url::Url) -> Option<HeaderValue> {
    use base64::Engine as _;
    if proxy.username().is_empty() && proxy.password().is_none() {
        return None;
    }
    let decode = |part: &str| percent_encoding::percent_decode_str(part).collect::<Vec<u8>>();
    let mut pair = decode(proxy.username());
    pair.push(b':');
    pair.extend(decode(proxy.password().unwrap_or("")));
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pair);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The endpoint's TLS server name as rustls takes it (a DNS name or an IP address).
fn rustls_pki_types_name(name: &str) -> Option<rustls::pki_types::ServerName<'static>> {
    rustls::pki_types::ServerName::try_from(name.to_owned()).ok()
}

/// [`Error::Unreachable`] for `client`'s endpoint.
fn unreachable(client: &Client, reason: &'static str) -> Error {
    Error::Unreachable {
        source_name: client.source_name().to_owned(),
        url: client.endpoint().display_url(),
        reason,
    }
}

/// [`Error::Endpoint`] naming `what`.
fn endpoint_error(source_name: &str, what: &str) -> Error {
    Error::Endpoint {
        source_name: source_name.to_owned(),
        what: what.to_owned(),
    }
}
