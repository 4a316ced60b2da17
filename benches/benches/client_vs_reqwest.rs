//! Benchmarks 3 and 6 of BENCHMARKS.md, with the stand-in API server in a separate process
//! on loopback (this binary, re-run as `client_vs_reqwest standin`):
//!
//! - 3: requests through `kubecred_client::Client` (in-cluster source) against raw reqwest
//!   with a fixed `Authorization` header, over TLS, one keep-alive connection, sequential
//!   requests, bodies read in full, the variants taking turns in blocks within each run: the
//!   median ratio of throughputs and its spread. Two baselines, both sending the same headers as the client: reqwest with the
//!   client's timeouts (connect 10 s, request 30 s: every kubecred request has them), and
//!   bare reqwest (no timeouts);
//! - 6: 1,000 concurrent requests arriving when the token is due: how many token file reads;
//! - 8: the same when a kubeconfig user's exec credential is due: how many plugin runs;
//! - 10: a hyper-util client behind kubecred's tower layer (`AuthLayer`) against the same
//!   hyper-util client with a fixed `Authorization` header, each on its own keep-alive
//!   connection with the client's rustls configuration, taking turns in blocks as in 3; a
//!   second fixed-header client in the same runs is the A/A control. `BENCH_FIGURE=10` runs
//!   only this one (`BENCH_FIGURE=3`: all but this one).
//!
//! `BENCH_ONLY=client|reqwest|layer|fixed` runs one variant alone, `BENCH_REQUESTS` requests,
//! for profilers (callgrind: per request = (I(2200) − I(200)) / 2000).
//!
//! `cargo bench -p kubecred-bench --bench client_vs_reqwest` (or `cargo xtask bench`).
//! Environment: `BENCH_RUNS` (default 15, at least 10), `BENCH_REQUESTS` per variant and run
//! (default 3000), `BENCH_BLOCK` (default 50: within a run the variants take turns in blocks
//! of this many requests, so that a slow phase of the shared machine falls on all of them),
//! `BENCH_PATHS` (the paths requested in turn, comma-separated; default `/api`), `BENCH_AA`
//! (an A/A control: the client's slot runs a second, identical reqwest, to show
//! the harness's own bias and noise). The clients run on a current-thread runtime:
//! sequential requests on one connection need no second worker, and cross-thread wake-ups on
//! a 2-core machine shared with the server only add noise.

// A harness, not kubecred: its settings are its own process's `BENCH_*` variables.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use kubecred_client::{AuthLayer, AuthService, Client};
use kubecred_core::{ManualClock, MapEnvironment, Source, SourceBuilder};
use kubecred_incluster::InCluster;
use kubecred_kubeconfig::KubeconfigSource;
use kubecred_testing::{
    ApiServer, Cluster, Context, Exec, ExecPlugin, Kubeconfig, KubeconfigDir, ServiceAccountDir,
    ServiceAccountFiles, User,
};
use tower_layer::Layer;
use tower_service::Service;

const TOKEN: &str = "bench-token-0123456789abcdef";

fn main() {
    if std::env::args().nth(1).as_deref() == Some("standin") {
        standin();
        return;
    }
    let runs: usize = env_number("BENCH_RUNS", 15).max(10);
    let requests: usize = env_number("BENCH_REQUESTS", 3000);
    let block: usize = env_number("BENCH_BLOCK", 50).max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = Standin::spawn();
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        // For profilers (`perf stat -e instructions`): one variant, nothing else.
        runtime.block_on(only_one(&server, &only, requests));
        return;
    }
    let figure = std::env::var("BENCH_FIGURE").unwrap_or_default();
    if figure != "10" {
        runtime.block_on(client_vs_reqwest(&server, runs, requests, block));
    }
    if figure.is_empty() || figure == "10" {
        runtime.block_on(layer_vs_fixed_header(&server, runs, requests, block));
    }
    if figure == "10" {
        return;
    }
    // Figure 6 needs requests that race: worker threads, one per core.
    let workers = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    workers.block_on(reads_when_due(&server));
    workers.block_on(exec_runs_when_due(&server));
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server process: prints `HOST PORT`, then its CA PEM, then an empty line; serves
/// until its stdin closes.
fn standin() {
    let server = ApiServer::builder().token("bench", TOKEN).start().unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} {}", server.host(), server.port()).unwrap();
    writeln!(out, "{}", server.ca_pem().trim_end()).unwrap();
    writeln!(out).unwrap();
    out.flush().unwrap();
    drop(out);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// The stand-in API server in a child process.
struct Standin {
    child: Child,
    host: String,
    port: u16,
    ca_pem: String,
}

impl Standin {
    fn spawn() -> Self {
        // `BENCH_SERVER_CPU=N`: the server on its own core (with `taskset`), so that the two
        // processes do not take turns on one (run this harness under `taskset -c M`).
        let exe = std::env::current_exe().unwrap();
        let mut command = match std::env::var("BENCH_SERVER_CPU") {
            Ok(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu]).arg(&exe);
                c
            }
            Err(_) => Command::new(&exe),
        };
        let mut child = command
            .arg("standin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let (host, port) = line.trim().split_once(' ').unwrap();
        let (host, port) = (host.to_owned(), port.parse().unwrap());
        let mut ca_pem = String::new();
        loop {
            line.clear();
            stdout.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            ca_pem.push_str(&line);
        }
        Self {
            child,
            host,
            port,
            ca_pem,
        }
    }

    /// A client of the default chain in a pod of this server (in-cluster wins; the proxy
    /// source is pinned to a closed port), and the service-account directory it reads.
    async fn client(&self) -> (Client, ServiceAccountDir) {
        let (dir, env) = self.pod();
        let client = Client::builder()
            .environment(Arc::new(env))
            .serviceaccount_dir(dir.path())
            .proxy_url("http://127.0.0.1:1")
            .build()
            .await
            .unwrap();
        (client, dir)
    }

    /// The full URLs of `paths` on this server.
    fn urls(&self, paths: &[String]) -> Vec<String> {
        paths
            .iter()
            .map(|path| format!("https://{}:{}{path}", self.host, self.port))
            .collect()
    }

    /// A pod's service-account directory and variables for this server.
    fn pod(&self) -> (ServiceAccountDir, MapEnvironment) {
        let dir =
            ServiceAccountDir::new(&ServiceAccountFiles::new().token(TOKEN).ca_crt(&self.ca_pem))
                .unwrap();
        let env = MapEnvironment::new(kubecred_testing::kubelet_vars(&self.host, self.port));
        (dir, env)
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Raw reqwest on the same TLS footing: ring, the server's CA only, no proxy, fixed
/// `Authorization` and `User-Agent` headers (the bytes kubecred sends, so the server's work
/// is the same); with the client's timeouts or without any.
fn raw_reqwest(server: &Standin, timeouts: bool) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(server.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut headers = http::HeaderMap::new();
    let mut value = http::HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap();
    value.set_sensitive(true);
    headers.insert(http::header::AUTHORIZATION, value);
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(kubecred_client::USER_AGENT_VALUE),
    );
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .default_headers(headers);
    if timeouts {
        builder = builder
            .connect_timeout(kubecred_client::DEFAULT_CONNECT_TIMEOUT)
            .timeout(kubecred_client::DEFAULT_TIMEOUT);
    }
    builder.build().unwrap()
}

/// One of the compared clients, with the paths it asks for in turn (`BENCH_PATHS`).
enum Variant<'a> {
    /// The client and the paths.
    Client(&'a Client, &'a [String]),
    /// Raw reqwest and the paths' full URLs.
    Raw(&'a reqwest::Client, &'a [String]),
    /// A hyper-util client behind the client's `AuthLayer`, and the paths' full URIs.
    Layered(&'a AuthService<Hyper>, &'a [http::Uri]),
    /// The same hyper-util client with a fixed `Authorization` value, and the URIs.
    Fixed(&'a Hyper, &'a http::HeaderValue, &'a [http::Uri]),
}

/// A hyper-util client on kubecred's rustls configuration (figure 10).
type Hyper = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// The paths requested in turn: `BENCH_PATHS`, comma-separated (default `/api`; e.g.
/// `/api,/version` for a client that never asks for the same path twice in a row).
fn paths() -> Vec<String> {
    std::env::var("BENCH_PATHS")
        .unwrap_or_else(|_| "/api".to_owned())
        .split(',')
        .map(str::to_owned)
        .collect()
}

impl Variant<'_> {
    /// Sends `requests` sequential GETs, reading each body in full; the time taken.
    async fn block(&self, requests: usize) -> Duration {
        let start = Instant::now();
        for i in 0..requests {
            match self {
                Variant::Client(client, paths) => {
                    let path = paths[i % paths.len()].as_str();
                    let request = http::Request::get(path).body(Bytes::new()).unwrap();
                    let response = client.request(request).await.unwrap();
                    assert_eq!(response.status(), 200);
                    std::hint::black_box(response.body().len());
                }
                Variant::Raw(client, urls) => {
                    let url = urls[i % urls.len()].as_str();
                    let response = client.get(url).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    std::hint::black_box(response.bytes().await.unwrap().len());
                }
                Variant::Layered(service, uris) => {
                    let request = http::Request::get(uris[i % uris.len()].clone())
                        .body(Full::default())
                        .unwrap();
                    let mut service = (*service).clone();
                    std::future::poll_fn(|cx| service.poll_ready(cx))
                        .await
                        .unwrap();
                    let response = service.call(request).await.unwrap();
                    assert_eq!(response.status(), 200);
                    let body = response.into_body().collect().await.unwrap();
                    std::hint::black_box(body.to_bytes().len());
                }
                Variant::Fixed(client, authorization, uris) => {
                    let mut request = http::Request::get(uris[i % uris.len()].clone())
                        .body(Full::default())
                        .unwrap();
                    request
                        .headers_mut()
                        .insert(http::header::AUTHORIZATION, (*authorization).clone());
                    // Called as the layered one is: a clone, ready, then `call`.
                    let mut client = (*client).clone();
                    std::future::poll_fn(|cx| client.poll_ready(cx))
                        .await
                        .unwrap();
                    let response = client.call(request).await.unwrap();
                    assert_eq!(response.status(), 200);
                    let body = response.into_body().collect().await.unwrap();
                    std::hint::black_box(body.to_bytes().len());
                }
            }
        }
        start.elapsed()
    }

    /// Throughput over `requests` sequential requests, in requests per second.
    async fn throughput(&self, requests: usize) -> f64 {
        requests as f64 / self.block(requests).await.as_secs_f64()
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Runs of `requests` requests per variant. Within a run the variants take turns in blocks of
/// `block` requests, the order rotating from block to block, so that a slow phase of the
/// machine (the other process, a timer, the hypervisor) falls on every variant alike; a run's
/// throughput for a variant is its requests over the sum of its blocks' times.
async fn interleaved(
    variants: &[Variant<'_>],
    runs: usize,
    requests: usize,
    block: usize,
) -> Vec<Vec<f64>> {
    let blocks = requests.div_ceil(block);
    let mut figures = vec![Vec::with_capacity(runs); variants.len()];
    for run in 0..runs {
        let mut elapsed = vec![Duration::ZERO; variants.len()];
        for b in 0..blocks {
            for slot in 0..variants.len() {
                let v = (run + b + slot) % variants.len();
                elapsed[v] += variants[v].block(block).await;
            }
        }
        for (v, time) in elapsed.iter().enumerate() {
            figures[v].push((blocks * block) as f64 / time.as_secs_f64());
        }
    }
    figures
}

async fn client_vs_reqwest(server: &Standin, runs: usize, requests: usize, block: usize) {
    let (client, _dir) = server.client().await;
    let with_timeouts = raw_reqwest(server, true);
    let bare = raw_reqwest(server, false);
    let aa = raw_reqwest(server, true);
    let paths = paths();
    let urls = server.urls(&paths);
    // The A/A control: the client's slot taken by a second, identical reqwest.
    let first = if std::env::var_os("BENCH_AA").is_some_and(|v| !v.is_empty()) {
        Variant::Raw(&aa, &urls)
    } else {
        Variant::Client(&client, &paths)
    };
    let variants = [
        first,
        Variant::Raw(&with_timeouts, &urls),
        Variant::Raw(&bare, &urls),
    ];
    // Warm up: the TLS handshakes, the connection pools, the allocator.
    interleaved(&variants, 1, 300, block).await;
    let figures = interleaved(&variants, runs, requests, block).await;
    let ratios = |baseline: &[f64]| -> Vec<f64> {
        figures[0]
            .iter()
            .zip(baseline)
            .map(|(ours, theirs)| ours / theirs)
            .collect()
    };
    let (mut vs_timed, mut vs_plain) = (ratios(&figures[1]), ratios(&figures[2]));
    let spread = |ratios: &[f64]| {
        ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)))
    };
    let ((t_min, t_max), (p_min, p_max)) = (spread(&vs_timed), spread(&vs_plain));
    let [mut ours, mut timed, mut plain] = figures.try_into().unwrap();
    println!(
        "RESULT client_vs_reqwest runs={runs} requests_per_run={requests} block={block} client_rps_median={:.0} reqwest_same_timeouts_rps_median={:.0} reqwest_bare_rps_median={:.0}",
        median(&mut ours),
        median(&mut timed),
        median(&mut plain),
    );
    println!(
        "RESULT ratio_vs_reqwest_same_timeouts median={:.3} min={t_min:.3} max={t_max:.3}",
        median(&mut vs_timed)
    );
    println!(
        "RESULT ratio_vs_bare_reqwest median={:.3} min={p_min:.3} max={p_max:.3}",
        median(&mut vs_plain)
    );
}

/// A hyper-util client on `client`'s rustls configuration (HTTP/1.1, pooled: one
/// keep-alive connection for sequential requests).
fn hyper_on(client: &Client) -> Hyper {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*client.tls_config()).clone())
        .https_only()
        .enable_http1()
        .build();
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector)
}

/// The full URIs of the requested paths (`BENCH_PATHS`) on `server`, for hyper.
fn server_uris(server: &Standin) -> Vec<http::Uri> {
    server
        .urls(&paths())
        .iter()
        .map(|url| url.parse().unwrap())
        .collect()
}

/// Figure 10: hyper behind the layer against hyper with a fixed header, and the A/A control
/// (a second fixed-header hyper) in the same runs.
async fn layer_vs_fixed_header(server: &Standin, runs: usize, requests: usize, block: usize) {
    let (client, _dir) = server.client().await;
    let layered = AuthLayer::new(&client).layer(hyper_on(&client));
    let (fixed, control) = (hyper_on(&client), hyper_on(&client));
    let authorization = client.authorization_header().await.unwrap().unwrap();
    let uris = server_uris(server);
    let variants = [
        Variant::Layered(&layered, &uris),
        Variant::Fixed(&fixed, &authorization, &uris),
        Variant::Fixed(&control, &authorization, &uris),
    ];
    interleaved(&variants, 1, 300, block).await;
    let figures = interleaved(&variants, runs, requests, block).await;
    let ratios = |ours: &[f64]| -> Vec<f64> {
        ours.iter()
            .zip(&figures[1])
            .map(|(ours, theirs)| ours / theirs)
            .collect()
    };
    let (mut layer, mut aa) = (ratios(&figures[0]), ratios(&figures[2]));
    let spread = |ratios: &[f64]| {
        ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)))
    };
    let ((l_min, l_max), (a_min, a_max)) = (spread(&layer), spread(&aa));
    let [mut ours, mut theirs, _] = figures.try_into().unwrap();
    println!(
        "RESULT layer_vs_fixed_header runs={runs} requests_per_run={requests} block={block} layer_rps_median={:.0} fixed_header_rps_median={:.0}",
        median(&mut ours),
        median(&mut theirs),
    );
    println!(
        "RESULT ratio_layer_vs_fixed_header median={:.3} min={l_min:.3} max={l_max:.3}",
        median(&mut layer)
    );
    println!(
        "RESULT ratio_aa_fixed_header median={:.3} min={a_min:.3} max={a_max:.3}",
        median(&mut aa)
    );
}

async fn only_one(server: &Standin, variant: &str, requests: usize) {
    match variant {
        "client" => {
            let (client, _dir) = server.client().await;
            println!(
                "RESULT only client rps={:.0}",
                Variant::Client(&client, &paths())
                    .throughput(requests)
                    .await
            );
        }
        // Figure 10's two variants, one at a time (for callgrind).
        "layer" | "fixed" => {
            let (client, _dir) = server.client().await;
            let uris = server_uris(server);
            let rps = if variant == "layer" {
                let layered = AuthLayer::new(&client).layer(hyper_on(&client));
                Variant::Layered(&layered, &uris).throughput(requests).await
            } else {
                let fixed = hyper_on(&client);
                let authorization = client.authorization_header().await.unwrap().unwrap();
                Variant::Fixed(&fixed, &authorization, &uris)
                    .throughput(requests)
                    .await
            };
            println!("RESULT only {variant} rps={rps:.0}");
        }
        _ => {
            let urls = server.urls(&paths());
            let raw = raw_reqwest(server, true);
            println!(
                "RESULT only reqwest rps={:.0}",
                Variant::Raw(&raw, &urls).throughput(requests).await
            );
        }
    }
}

async fn reads_when_due(server: &Standin) {
    let (dir, env) = server.pod();
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let source = Arc::new(
        InCluster::builder()
            .serviceaccount_dir(dir.path())
            .environment(Arc::new(env))
            .clock(Arc::new(clock.clone()))
            .build(),
    );
    let client = Client::builder()
        .chain([Arc::clone(&source) as Arc<dyn Source>])
        .build()
        .await
        .unwrap();
    let before = source.token_reads();
    clock.advance(Duration::from_secs(60));
    thousand_requests_at_once(&client).await;
    println!(
        "RESULT reads_when_due concurrent_requests=1000 token_file_reads={}",
        source.token_reads() - before
    );
}

/// Figure 8: a kubeconfig whose user runs an exec plugin (a credential that expires in an
/// hour), on a test clock moved to 5 s before that expiry (inside the 10 s margin: due), and
/// 1,000 requests at once: how many times the plugin ran.
async fn exec_runs_when_due(server: &Standin) {
    let start = SystemTime::now();
    let plugin = ExecPlugin::new(TOKEN).unwrap();
    plugin.set_expiry(Some(start + Duration::from_secs(3600)));
    let dir = KubeconfigDir::new().unwrap();
    let config = Kubeconfig::new()
        .cluster(
            Cluster::url(
                "standin",
                format!("https://{}:{}", server.host, server.port),
            )
            .ca_pem(&server.ca_pem),
        )
        .user(User::new("dev").exec(Exec::plugin(&plugin)))
        .context(Context::new("standin", "standin", "dev"))
        .current_context("standin");
    let path = dir.write("config", &config).unwrap();
    let clock = ManualClock::new(start);
    let source = KubeconfigSource::builder()
        .path(&path)
        .environment(Arc::new(MapEnvironment::default()))
        .clock(Arc::new(clock.clone()))
        .stdin_is_terminal(false)
        .build();
    let client = Client::builder()
        .chain([Arc::new(source) as Arc<dyn Source>])
        .build()
        .await
        .unwrap();
    let before = plugin.runs();
    clock.advance(Duration::from_secs(3600 - 5));
    thousand_requests_at_once(&client).await;
    println!(
        "RESULT exec_runs_when_due concurrent_requests=1000 plugin_runs={}",
        plugin.runs() - before
    );
}

/// 1,000 `GET /version` spawned at once on the runtime's workers, each answered `200`.
async fn thousand_requests_at_once(client: &Client) {
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/version").await.map(|r| r.status()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
}
