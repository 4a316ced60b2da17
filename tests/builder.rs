//! The builder's two modes, a successful `build()` that stops at the chosen source, and what
//! resolution makes of hostile inputs: values that are not UTF-8, oversized values, an `exp`
//! after the year 9999, timeouts that say which limit fired.

use std::ffi::OsString;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kubecred_client::{
    ApiEndpoint, Client, CredentialSource, Credentials, Endpoint, Error, MapEnvironment, Outcome,
    SourceError, SourceName, StaticSource, TimeLimit, Trust,
};
use kubecred_core::Source;
use kubecred_testing::Pod;

fn static_source(name: &str) -> Arc<StaticSource> {
    Arc::new(
        StaticSource::new(
            Endpoint::new(
                "https://127.0.0.1:6443".parse().unwrap(),
                Trust::SystemRoots,
            ),
            Credentials::anonymous(),
        )
        .named(name),
    )
}

#[tokio::test]
async fn an_endpoint_after_chain_settings_is_a_configuration_error_not_a_silent_pick() {
    let err = Client::builder()
        .sources([SourceName::InCluster])
        .endpoint(static_source("mine"))
        .build()
        .await
        .unwrap_err();
    let Error::Config(message) = &err else {
        panic!("expected Config, got {err:?}");
    };
    assert!(message.contains("ClientBuilder::sources"), "{message}");
    // The same composition without chain settings builds.
    let client = Client::builder()
        .endpoint(static_source("mine"))
        .build()
        .await
        .unwrap();
    assert_eq!(client.source_name(), "mine");
    let client = Client::composed(static_source("mine"))
        .build()
        .await
        .unwrap();
    assert_eq!(client.source_name(), "mine");
}

#[tokio::test]
async fn sources_and_a_chain_together_are_a_configuration_error() {
    let err = Client::builder()
        .sources([SourceName::Env])
        .chain([static_source("mine") as Arc<dyn Source>])
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

/// A source that fails, under any name: the old placeholders' names included.
#[derive(Debug)]
struct Broken(&'static str);

#[async_trait]
impl ApiEndpoint for Broken {
    fn name(&self) -> &str {
        self.0
    }

    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        Err(SourceError::Refused {
            reason: "broken on purpose".to_owned(),
        })
    }
}

#[async_trait]
impl CredentialSource for Broken {
    fn name(&self) -> &str {
        self.0
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        Err(SourceError::Refused {
            reason: "broken on purpose".to_owned(),
        })
    }
}

#[tokio::test]
async fn a_users_source_named_like_a_placeholder_is_an_ordinary_source() {
    for name in ["(no endpoint)", "env", "in-cluster"] {
        let err = Client::builder()
            .chain([Arc::new(Broken(name)) as Arc<dyn Source>])
            .build()
            .await
            .unwrap_err();
        let Error::SourceFailed {
            name: failed,
            report,
            ..
        } = &err
        else {
            panic!("{name}: expected SourceFailed, got {err:?}");
        };
        assert_eq!(failed, name);
        assert_eq!(report.sources[0].name, name);
        assert!(err.to_string().contains("broken on purpose"), "{err}");
    }
}

#[tokio::test]
async fn a_hand_composed_failure_has_one_name_in_the_error_and_the_report() {
    let err = Client::composed(static_source("my-endpoint"))
        .credentials(Arc::new(Broken("vault")))
        .build()
        .await
        .unwrap_err();
    let Error::SourceFailed { name, report, .. } = &err else {
        panic!("expected SourceFailed, got {err:?}");
    };
    assert_eq!(name, "vault");
    assert_eq!(report.sources.len(), 1);
    assert_eq!(report.sources[0].name, "vault");
    assert_eq!(report.sources[0].outcome, Outcome::Failed);
}

/// A source that counts how often it is evaluated.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);

#[async_trait]
impl ApiEndpoint for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(SourceError::not_applicable("counted"))
    }
}

#[async_trait]
impl CredentialSource for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(SourceError::not_applicable("counted"))
    }
}

#[tokio::test]
async fn a_successful_build_evaluates_nothing_after_the_chosen_source() {
    let later = Arc::new(Counting::default());
    let chain = || {
        [
            static_source("first") as Arc<dyn Source>,
            Arc::clone(&later) as Arc<dyn Source>,
        ]
    };
    let client = Client::builder().chain(chain()).build().await.unwrap();
    assert_eq!(client.source_name(), "first");
    assert_eq!(
        later.0.load(Ordering::SeqCst),
        0,
        "build() read a later source"
    );
    // explain() still evaluates every source.
    let report = Client::builder().chain(chain()).explain().await;
    assert_eq!(later.0.load(Ordering::SeqCst), 1);
    assert_eq!(report.sources[1].outcome, Outcome::Skipped);
    // A failed build() still carries the whole report.
    let err = Client::builder()
        .chain([
            Arc::new(Broken("broken")) as Arc<dyn Source>,
            Arc::clone(&later) as Arc<dyn Source>,
        ])
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.report().unwrap().sources.len(), 2);
}

#[tokio::test]
async fn a_pods_build_never_connects_to_the_proxy_address() {
    let pod = Pod::start().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let builder = || {
        Client::builder()
            .environment(Arc::new(MapEnvironment::new(pod.kubelet_vars())))
            .serviceaccount_dir(pod.dir.path())
            .proxy_url(&proxy_url)
    };
    let client = builder().build().await.unwrap();
    assert_eq!(client.source_name(), "in-cluster");
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "build() connected to the proxy's address: {accepted:?}"
    );
    // explain() probes it (the listener proves the test can see a connection).
    let report = builder().explain().await;
    let proxy = report.sources.iter().find(|s| s.name == "proxy").unwrap();
    assert_eq!(proxy.outcome, Outcome::Skipped);
    listener.set_nonblocking(false).unwrap();
    assert!(listener.accept().is_ok(), "explain() probed the proxy");
}

fn env_with(pairs: Vec<(String, OsString)>) -> Arc<MapEnvironment> {
    Arc::new(MapEnvironment::new(pairs))
}

#[tokio::test]
async fn a_kube_host_that_is_not_utf8_in_a_pod_fails_naming_it_and_sends_nothing() {
    let pod = Pod::start().unwrap();
    let mut vars: Vec<(String, OsString)> = pod
        .kubelet_vars()
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    vars.push((
        "KUBE_HOST".to_owned(),
        OsString::from_vec(b"https://elsewhere.test/\xff".to_vec()),
    ));
    let err = Client::builder()
        .environment(env_with(vars))
        .serviceaccount_dir(pod.dir.path())
        .proxy_url(kubecred_testing::closed_proxy_url().unwrap())
        .build()
        .await
        .unwrap_err();
    let Error::SourceFailed { name, .. } = &err else {
        panic!("expected SourceFailed, got {err:?}");
    };
    assert_eq!(name, "env");
    let text = kubecred_client::error_chain(&err);
    assert!(
        text.contains("KUBE_HOST") && text.contains("not valid UTF-8"),
        "{text}"
    );
    assert!(!text.contains("elsewhere"), "{text}");
    assert!(pod.server.requests().is_empty());
}

#[tokio::test]
async fn a_kube_token_that_is_not_utf8_fails_naming_it() {
    let vars = vec![
        (
            "KUBE_HOST".to_owned(),
            OsString::from("https://127.0.0.1:6443"),
        ),
        (
            "KUBE_TOKEN".to_owned(),
            OsString::from_vec(b"tok\xffen-canary".to_vec()),
        ),
    ];
    let err = Client::builder()
        .environment(env_with(vars))
        .sources([SourceName::Env])
        .build()
        .await
        .unwrap_err();
    let text = kubecred_client::error_chain(&err);
    assert!(
        text.contains("KUBE_TOKEN") && text.contains("not valid UTF-8"),
        "{text}"
    );
    assert!(!text.contains("canary"), "{text}");
}

#[tokio::test]
async fn an_oversized_kube_host_gives_a_short_message() {
    let host = format!("https://{}.test", "a".repeat(100 * 1024));
    let env = Arc::new(MapEnvironment::new([("KUBE_HOST", host)]));
    let err = Client::builder()
        .environment(env.clone())
        .sources([SourceName::Env])
        .build()
        .await
        .unwrap_err();
    let text = kubecred_client::error_chain(&err);
    assert!(text.len() < 1024, "{} bytes: {}", text.len(), &text[..200]);
    assert!(text.contains("KUBE_HOST"), "{text}");
    let report = Client::builder()
        .environment(env)
        .sources([SourceName::Env])
        .explain()
        .await;
    assert!(report.to_string().len() < 1024);
    assert!(report.to_json().len() < 1024);
}

#[tokio::test]
async fn a_token_expiring_after_the_year_9999_is_reported_as_such_not_a_panic() {
    // {"alg":"RS256"} . {"exp":253402300800}: 10000-01-01T00:00:00Z.
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjI1MzQwMjMwMDgwMH0.sig";
    let env = Arc::new(MapEnvironment::new([
        ("KUBE_HOST", "https://127.0.0.1:1"),
        ("KUBE_INSECURE", "true"),
        ("KUBE_TOKEN", jwt),
    ]));
    let builder = || {
        Client::builder()
            .environment(env.clone())
            .sources([SourceName::Env])
    };
    let report = builder().explain().await;
    let credential = report.credential.as_ref().unwrap();
    assert_eq!(credential.kind, "bearer-token");
    assert_eq!(credential.expires_at, None);
    assert!(
        report.warnings.iter().any(|w| w.contains("9999")),
        "{:?}",
        report.warnings
    );
    assert!(report.to_string().contains("9999"));
    let client = builder().build().await.unwrap();
    assert_eq!(client.source_name(), "env");
}

/// A loopback listener that accepts connections and never answers, held open for the test.
fn silent_server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepting = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded: the test makes two connections at most.
        for stream in accepting.incoming().take(4).flatten() {
            let mut reader = stream.try_clone().unwrap();
            std::thread::spawn(move || {
                let mut sink = [0u8; 1024];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            });
            held.push(stream);
        }
    });
    (listener, addr)
}

#[tokio::test]
async fn each_timeout_names_its_limit() {
    let (_https, addr) = silent_server();
    // TLS never completes: the connect limit (it covers the handshake).
    let client = Client::composed(Arc::new(StaticSource::new(
        Endpoint::new(
            format!("https://{addr}").parse().unwrap(),
            Trust::InsecureSkipVerify,
        ),
        Credentials::anonymous(),
    )))
    .connect_timeout(Duration::from_millis(300))
    .build()
    .await
    .unwrap();
    let err = client.get("/api").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                limit: TimeLimit::Connect(_),
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("connect limit of 0.3 s") && text.contains("ClientBuilder::connect_timeout"),
        "{text}"
    );

    // Plain http connects at once and no answer comes: the request limit.
    let (_http, addr) = silent_server();
    let client = Client::composed(Arc::new(StaticSource::new(
        Endpoint::new(format!("http://{addr}").parse().unwrap(), Trust::PlainHttp),
        Credentials::anonymous(),
    )))
    .timeout(Duration::from_millis(400))
    .build()
    .await
    .unwrap();
    let err = client.get("/api").await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("request limit of 0.4 s") && text.contains("ClientBuilder::timeout"),
        "{text}"
    );
}

#[test]
fn no_builder_debug_shows_a_proxy_password() {
    let builder = Client::builder().proxy_url("http://user:s3cr3t-canary@127.0.0.1:8001");
    let text = format!("{builder:?}");
    assert!(!text.contains("s3cr3t-canary"), "{text}");
    assert!(text.contains("127.0.0.1:8001"), "{text}");
}

#[tokio::test]
async fn two_sources_of_one_name_are_named_together_one_given_twice_keeps_its_name() {
    let first = static_source("x");
    let other = static_source("x");
    let client = Client::composed(first.clone())
        .credentials(other)
        .build()
        .await
        .unwrap();
    assert_eq!(client.source_name(), "x with x");
    let client = Client::composed(first.clone())
        .credentials(first)
        .build()
        .await
        .unwrap();
    assert_eq!(client.source_name(), "x");
}

#[tokio::test]
async fn an_expired_token_is_chosen_with_a_warning() {
    // {"alg":"RS256"} . {"exp":1000000000}: 2001-09-09T01:46:40Z.
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjEwMDAwMDAwMDB9.sig";
    let env = Arc::new(MapEnvironment::new([
        ("KUBE_HOST", "https://127.0.0.1:1"),
        ("KUBE_INSECURE", "true"),
        ("KUBE_TOKEN", jwt),
    ]));
    let report = Client::builder()
        .environment(env)
        .sources([SourceName::Env])
        .explain()
        .await;
    assert_eq!(report.chosen().unwrap().name, "env");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("expired at 2001-09-09T01:46:40Z")),
        "{:?}",
        report.warnings
    );
}
