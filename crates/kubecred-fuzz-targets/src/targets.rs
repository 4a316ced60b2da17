//! The targets: one function per parser reachable from outside, each ending in the oracle.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kubecred_client::{Client, SourceName};
use kubecred_core::{
    decode_base64, ApiEndpoint, CaBundle, ClientIdentity, CredentialSource, Credentials, Endpoint,
    Origin, SourceBuilder, StaticSource, Trust,
};
use kubecred_env::EnvSource;
use kubecred_incluster::InCluster;
use kubecred_kubeconfig::{KubeconfigSource, KUBECONFIG_VAR};
use kubecred_proxy::ProxySource;
use secrecy::SecretString;

use crate::block_on;
use crate::oracle::{material, Oracle, MARK};
use crate::scenario::{self, Scenario};

/// No exec plugin of a target runs longer (the targets' own plugin answers at once).
const EXEC_TIMEOUT: Duration = Duration::from_secs(5);

/// A loopback `http://` URL where nothing listens.
fn closed_proxy_url() -> String {
    kubecred_testing::closed_proxy_url().expect("a loopback port")
}

/// The renderings of a client chain: `explain` (text, JSON, `Debug`), and when `explain`
/// says no exec plugin would run, `build()`'s client or error.
async fn explain_and_build(
    oracle: &mut Oracle,
    builder: impl Fn() -> kubecred_client::ClientBuilder,
) {
    let report = builder().explain().await;
    oracle.text("explain's text", report.to_string());
    oracle.text("explain's JSON", report.to_json());
    oracle.text("explain's summary", report.summary());
    oracle.debug("explain's Debug", &report);
    oracle.debug("the builder", &builder());
    if report.deferred_credential.is_some() {
        // The chosen credentials run a plugin the input named: never run.
        return;
    }
    match builder().build().await {
        Ok(client) => {
            oracle.debug("the client", &client);
            oracle.debug("the client's endpoint", client.endpoint());
            oracle.text("the client's URL", client.endpoint().display_url());
        }
        Err(error) => oracle.error("build()'s error", &error),
    }
}

/// An arbitrary environment map (and files) → `ClientBuilder::explain()`, its text and JSON,
/// and `build()` (the default chain; the proxy's probe on a closed port).
pub fn explain_env(data: &[u8]) {
    let scenario = Scenario::new(data);
    let mut oracle = Oracle::start();
    if scenario.reads_a_token_file_as_kubeconfig() {
        oracle.without_canary();
    }
    let proxy = closed_proxy_url();
    let env = scenario.environment();
    block_on(explain_and_build(&mut oracle, || {
        Client::builder()
            .environment(env.clone())
            .proxy_url(proxy.clone())
            .exec_timeout(EXEC_TIMEOUT)
    }));
    oracle.finish();
}

/// The env source with arbitrary `KUBE_*` (or `@prefix`) and proxy variables and `_FILE`
/// contents: its endpoint, credentials and a re-read, and the composed client's report.
pub fn env_source(data: &[u8]) {
    let scenario = Scenario::new(data);
    let mut oracle = Oracle::start();
    let mut builder = EnvSource::builder().environment(scenario.environment());
    if let Some(prefix) = scenario.option_text("prefix") {
        builder = builder.prefix(prefix);
    }
    let source = Arc::new(builder.build());
    oracle.debug("the source", &source);
    block_on(async {
        oracle.result("endpoint()", &source.endpoint().await);
        let credentials = source.credentials().await;
        oracle.result("credentials()", &credentials);
        if let Ok(credentials) = &credentials {
            oracle.result("refresh()", &source.refresh(credentials).await);
        }
        let composed = || Client::composed(source.clone()).credentials(source.clone());
        let report = composed().explain().await;
        oracle.text("explain's text", report.to_string());
        oracle.text("explain's JSON", report.to_json());
        match composed().build().await {
            Ok(client) => oracle.debug("the client", &client),
            Err(error) => oracle.error("build()'s error", &error),
        }
    });
    oracle.finish();
}

/// The in-cluster source with arbitrary variables and service-account files (`/token`,
/// `/ca.crt`, `/namespace`; `@dns` asks for `kubernetes.default.svc`).
pub fn in_cluster(data: &[u8]) {
    let scenario = Scenario::new(data);
    let mut oracle = Oracle::start();
    let dir = scenario.dir.path();
    let source = InCluster::builder()
        .environment(scenario.environment())
        .serviceaccount_dir(dir)
        .use_dns_name(scenario.option("dns").is_some())
        .build();
    oracle.debug("the source", &source);
    block_on(async {
        oracle.result("endpoint()", &source.endpoint().await);
        let credentials = source.credentials().await;
        oracle.result("credentials()", &credentials);
        if let Ok(credentials) = &credentials {
            oracle.result("refresh()", &source.refresh(credentials).await);
        }
        let env = scenario.environment();
        explain_and_build(&mut oracle, || {
            Client::builder()
                .environment(env.clone())
                .sources([SourceName::InCluster])
                .serviceaccount_dir(dir)
        })
        .await;
    });
    oracle.finish();
}

/// A `kubectl proxy` URL as the proxy source reads it, its loopback port or socket path
/// moved where nothing listens (`defang`); and the system proxy variables (`HTTPS_PROXY`,
/// `NO_PROXY`, …) against an API server URL (`@target`, else `https://api.example.test`).
pub fn proxy_url(data: &[u8]) {
    let scenario = Scenario::new(data);
    let mut oracle = Oracle::start();
    let url = scenario
        .option_text("url")
        .unwrap_or_else(|| "http://127.0.0.1:8001".to_owned());
    let url = scenario::with_url_password_canary(url.into_bytes());
    let url = defang(&String::from_utf8_lossy(&url), scenario.dir.path());
    let builder = ProxySource::builder()
        .url_from_variable("KUBECRED_PROXY_URL", url)
        .probe_timeout(Duration::from_millis(200));
    oracle.debug("the builder", &builder);
    let source = builder.build();
    oracle.debug("the source", &source);
    block_on(async {
        oracle.result("endpoint()", &source.endpoint().await);
    });
    let target = scenario
        .option_text("target")
        .unwrap_or_else(|| "https://api.example.test:6443".to_owned());
    if let Ok(target) = url::Url::parse(&target) {
        let env = scenario.environment();
        match kubecred_core::system_proxy(&*env, &target) {
            // The proxy URL is an endpoint's from here on: what shows it is the endpoint.
            Ok((proxy, variables)) => {
                oracle.debug("system_proxy()'s variables", &variables);
                let mut endpoint = Endpoint::new(target, Trust::SystemRoots);
                if let Some(proxy) = proxy {
                    endpoint = endpoint.with_proxy(proxy);
                }
                oracle.debug("the endpoint with the system proxy", &endpoint);
                oracle.text("its URL", endpoint.display_url());
            }
            Err(error) => oracle.error("system_proxy()", &error),
        }
    }
    oracle.finish();
}

/// `url` with its port replaced by a closed one when it is a loopback `http://` URL, and a
/// `unix:///path` moved under `dir`: the proxy source connects to either.
fn defang(url: &str, dir: &Path) -> String {
    if let Some(path) = url.strip_prefix("unix://") {
        return match path.strip_prefix('/') {
            Some(rest) => format!("unix://{}/{}", dir.display(), rest.replace("..", "__")),
            None => url.to_owned(),
        };
    }
    match url::Url::parse(url) {
        Ok(mut parsed) if kubecred_core::is_loopback(&parsed) => {
            let port = kubecred_testing::closed_port().expect("a loopback port");
            if parsed.set_port(Some(port)).is_ok() {
                parsed.to_string()
            } else {
                // No port can be set (no host): the source refuses it without connecting.
                url.to_owned()
            }
        }
        _ => url.to_owned(),
    }
}

/// A bearer token (a JWT or not) → its expiry, its credentials' `Debug`, and the report and
/// client of a composed client that uses it (the `exp` of the year 10000 crashed there).
pub fn jwt(data: &[u8]) {
    let token = scenario::with_token_canary(scenario::sanitize(data));
    let token = String::from_utf8_lossy(&token).into_owned();
    let mut oracle = Oracle::start();
    let credentials = Credentials::bearer(SecretString::from(token));
    oracle.debug("the credentials", &credentials);
    oracle.debug("the expiry", &credentials.expires_at());
    let url = format!(
        "https://127.0.0.1:{}",
        kubecred_testing::closed_port().expect("a port")
    );
    let endpoint = Endpoint::new(url.parse().expect("a URL"), Trust::InsecureSkipVerify);
    let source = Arc::new(StaticSource::new(endpoint, credentials));
    block_on(async {
        let report = Client::composed(source.clone())
            .credentials(source.clone())
            .explain()
            .await;
        oracle.text("explain's text", report.to_string());
        oracle.text("explain's JSON", report.to_json());
        oracle.debug("explain's Debug", &report);
        match Client::composed(source.clone())
            .credentials(source)
            .build()
            .await
        {
            Ok(client) => oracle.debug("the client", &client),
            Err(error) => oracle.error("build()'s error", &error),
        }
    });
    oracle.finish();
}

/// PEM and base64 bundles: `certificates NUL key` (without a NUL, one text is both, as a
/// one-line cert+key PEM is) → `CaBundle::from_pem`, `ClientIdentity::from_pem`, the same
/// after `decode_base64`, and the env source's `_DATA` variables.
pub fn pem(data: &[u8]) {
    let data = scenario::sanitize(data);
    let (cert, key) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..], &data[..]),
    };
    let cert = scenario::expand(cert, false, b"/");
    let mut key = scenario::expand(key, true, b"/");
    if key.windows(10).any(|w| w == b"-----BEGIN") {
        // PEM's explanatory text: a parser that quotes its input quotes this too.
        let mut with = format!("{}\n", crate::oracle::TOKEN_CANARY).into_bytes();
        with.extend_from_slice(&key);
        key = with;
    }
    let mut oracle = Oracle::start();
    let ca = Origin::Variable("CA".to_owned());
    oracle.result("CaBundle::from_pem", &CaBundle::from_pem(&cert, ca.clone()));
    let identity = |cert: &[u8], key: &[u8]| {
        ClientIdentity::from_pem(cert, Origin::Code, key, Origin::File("/key".into()))
    };
    oracle.result("ClientIdentity::from_pem", &identity(&cert, &key));
    let cert_text = String::from_utf8_lossy(&cert);
    let key_text = String::from_utf8_lossy(&key);
    let cert_decoded = decode_base64(&cert_text);
    let key_decoded = decode_base64(&key_text);
    if let Some(cert) = &cert_decoded {
        oracle.result("CaBundle::from_pem(base64)", &CaBundle::from_pem(cert, ca));
    }
    if let (Some(cert), Some(key)) = (&cert_decoded, &key_decoded) {
        oracle.result("ClientIdentity::from_pem(base64)", &identity(cert, key));
    }
    let env = kubecred_core::MapEnvironment::new(
        [
            ("KUBE_HOST", b"https://127.0.0.1:6443".to_vec()),
            ("KUBE_CLUSTER_CA_CERT_DATA", cert.clone()),
            ("KUBE_CLIENT_CERT_DATA", cert.clone()),
            ("KUBE_CLIENT_KEY_DATA", key.clone()),
        ]
        .map(|(name, value)| {
            use std::os::unix::ffi::OsStringExt;
            (name, std::ffi::OsString::from_vec(value))
        }),
    );
    let source = EnvSource::builder().environment(Arc::new(env)).build();
    block_on(async {
        oracle.result("the env source's endpoint()", &source.endpoint().await);
        oracle.result(
            "the env source's credentials()",
            &source.credentials().await,
        );
    });
    oracle.finish();
}

/// Arms or disarms the oracle for YAML (or JSON) texts whose secrets are at known places:
/// the canary (and the key) may stand only in `secrets` (the values at those places); an
/// input that put one elsewhere (a name, which messages rightly quote) disarms that check.
/// `texts` are the documents, `secrets` what [`yaml_secrets`] found in them (`None`: a
/// document did not parse, which quotes nothing, unless the document is refused after a
/// partial read: then only an input without canaries stays armed).
fn arm(oracle: &mut Oracle, texts: &[&[u8]], secrets: Option<&[String]>) {
    let count =
        |text: &[u8], needle: &[u8]| text.windows(needle.len()).filter(|w| *w == needle).count();
    let m = material();
    let key_needles: Vec<&[u8]> = m.key_windows.iter().map(|w| w.as_bytes()).collect();
    let in_texts = |needle: &[u8]| texts.iter().map(|t| count(t, needle)).sum::<usize>();
    match secrets {
        Some(secrets) => {
            let in_secrets = |needle: &[u8]| {
                secrets
                    .iter()
                    .map(|s| count(s.as_bytes(), needle))
                    .sum::<usize>()
            };
            if in_texts(MARK.as_bytes()) != in_secrets(MARK.as_bytes()) {
                oracle.without_canary();
            }
            if key_needles.iter().any(|n| in_texts(n) != in_secrets(n)) {
                oracle.without_key();
            }
        }
        None => {
            if in_texts(MARK.as_bytes()) > 0 {
                oracle.without_canary();
            }
            if key_needles.iter().any(|n| in_texts(n) > 0) {
                oracle.without_key();
            }
        }
    }
}

/// The secrets of a kubeconfig or `ExecCredential` document: the values of `token`,
/// `password`, `username`, `client-key-data` and `clientKeyData` anywhere, and every string
/// that is a URL with a password. `None` when it does not parse (or nests flow collections
/// deeper than the sources read).
fn yaml_secrets(text: &[u8]) -> Option<Vec<String>> {
    if text.iter().filter(|b| matches!(b, b'[' | b'{')).count() > 256 {
        return None;
    }
    let value: serde_norway::Value = serde_norway::from_slice(text).ok()?;
    let mut secrets = Vec::new();
    collect_secrets(&value, false, &mut secrets);
    Some(secrets)
}

fn collect_secrets(value: &serde_norway::Value, secret: bool, out: &mut Vec<String>) {
    use serde_norway::Value;
    match value {
        Value::String(text) => {
            if secret {
                out.push(text.clone());
            } else if let Ok(url) = url::Url::parse(text) {
                if url.password().is_some() {
                    out.push(text.clone());
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| collect_secrets(v, secret, out)),
        Value::Mapping(map) => {
            for (key, value) in map {
                let secret = secret
                    || key.as_str().is_some_and(|k| {
                        matches!(
                            k,
                            "token" | "password" | "username" | "client-key-data" | "clientKeyData"
                        )
                    });
                collect_secrets(value, secret, out);
            }
        }
        Value::Tagged(tagged) => collect_secrets(&tagged.value, secret, out),
        _ => {}
    }
}

/// One or several kubeconfig files (`/name=YAML` records, merged in input order through
/// `KUBECONFIG` unless the input sets it; `@path` reads one explicitly; `@context` picks a
/// context): the source's endpoint and (unless an exec plugin would run) credentials, and
/// the client's report. Files whose name has `key` or `token` are side files (a client key,
/// a token file).
pub fn kubeconfig(data: &[u8]) {
    let mut scenario = Scenario::with_secret_files(data);
    let mut oracle = Oracle::start();
    let documents: Vec<Vec<u8>> = scenario
        .files
        .iter()
        .filter(|(name, _)| !is_side_file(name))
        .map(|(_, path)| std::fs::read(path).unwrap_or_default())
        .collect();
    let texts: Vec<&[u8]> = documents.iter().map(Vec::as_slice).collect();
    let secrets: Option<Vec<String>> = texts.iter().try_fold(Vec::new(), |mut all, text| {
        all.extend(yaml_secrets(text)?);
        Some(all)
    });
    arm(&mut oracle, &texts, secrets.as_deref());
    if scenario.reads_a_token_file_as_kubeconfig() {
        oracle.without_canary();
    }
    if !scenario.has_var(KUBECONFIG_VAR) {
        let list: Vec<String> = scenario
            .files
            .iter()
            .filter(|(name, _)| !is_side_file(name))
            .map(|(_, path)| path.display().to_string())
            .collect();
        scenario
            .vars
            .push((KUBECONFIG_VAR.to_owned(), list.join(":").into()));
    }
    let env = scenario.environment();
    let explicit = scenario.option_text("path");
    let context = scenario.option_text("context");
    let mut builder = KubeconfigSource::builder()
        .environment(env.clone())
        .exec_timeout(EXEC_TIMEOUT)
        .stdin_is_terminal(false);
    if let Some(path) = &explicit {
        builder = builder.path_from(path, "the fuzz input's @path");
    }
    if let Some(context) = &context {
        builder = builder.context(context);
    }
    let source = builder.build();
    block_on(async {
        oracle.result("endpoint()", &source.endpoint().await);
        oracle.debug("the source", &source);
        if source.deferred().is_none() {
            let credentials = source.credentials().await;
            oracle.result("credentials()", &credentials);
            if let Ok(credentials) = &credentials {
                oracle.result("refresh()", &source.refresh(credentials).await);
            }
        }
        explain_and_build(&mut oracle, || {
            let mut builder = Client::builder()
                .environment(env.clone())
                .sources([SourceName::Kubeconfig])
                .exec_timeout(EXEC_TIMEOUT);
            if let Some(path) = &explicit {
                builder = builder.kubeconfig_from(path, "the fuzz input's @path");
            }
            if let Some(context) = &context {
                builder = builder.context(context);
            }
            builder
        })
        .await;
    });
    oracle.finish();
}

fn is_side_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("key") || lower.contains("token") || lower.ends_with(".crt")
}

/// The plugin every `exec_credential` input runs: it prints `$1/stdout` and exits with the
/// code in `$1/exit`. Written once per process, so that no file being written is executed
/// (a fork of another thread could hold it open: `ETXTBSY`).
fn plugin() -> &'static Path {
    static PLUGIN: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = PLUGIN.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("plugin");
        std::fs::write(
            &path,
            "#!/bin/sh\n/bin/cat \"$1/stdout\"\nexit \"$(/bin/cat \"$1/exit\")\"\n",
        )
        .expect("the plugin script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("the plugin is executable");
        dir
    });
    dir.path()
}

/// An exec plugin's output and exit: `@stdout` (the `ExecCredential`, JSON or YAML; a secret's
/// place), `@exit` (its exit code), and the kubeconfig's exec settings: `@apiVersion`,
/// `@arg` and `@env` (`NAME=VALUE`, repeated), `@provideClusterInfo`, `@interactiveMode`,
/// `@installHint`. The source's credentials (one run), and `build()` (one more).
pub fn exec_credential(data: &[u8]) {
    let scenario = Scenario::new(data);
    let mut oracle = Oracle::start();
    let dir = scenario.dir.path();
    let stdout = scenario
        .option("stdout")
        .map(|v| scenario::expand(v, true, dir.as_os_str().as_encoded_bytes()))
        .unwrap_or_default();
    let exit: u8 = scenario
        .option_text("exit")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    std::fs::write(dir.join("stdout"), &stdout).expect("the plugin's stdout");
    std::fs::write(dir.join("exit"), exit.to_string()).expect("the plugin's exit code");
    // Output that is no document at all is never quoted: the oracle stays armed.
    if let Some(secrets) = yaml_secrets(&stdout) {
        arm(&mut oracle, &[&stdout], Some(&secrets));
    }
    let text = |name: &str| scenario.option_text(name);
    let mut args = vec![serde_json::Value::from(dir.display().to_string())];
    let mut env = Vec::new();
    for (name, value) in &scenario.options {
        let value = String::from_utf8_lossy(value).into_owned();
        match name.as_str() {
            "arg" => args.push(value.into()),
            "env" => {
                let (n, v) = value.split_once('=').unwrap_or((&value, ""));
                env.push(serde_json::json!({"name": n, "value": v}));
            }
            _ => {}
        }
    }
    let mut exec = serde_json::json!({
        "apiVersion": text("apiVersion")
            .unwrap_or_else(|| "client.authentication.k8s.io/v1".to_owned()),
        "command": plugin().join("plugin").display().to_string(),
        "args": args,
        "env": env,
        "interactiveMode": text("interactiveMode").unwrap_or_else(|| "Never".to_owned()),
    });
    if let Some(provide) = text("provideClusterInfo") {
        exec["provideClusterInfo"] = serde_json::Value::Bool(provide.trim() == "true");
    }
    if let Some(hint) = text("installHint") {
        exec["installHint"] = hint.into();
    }
    let port = kubecred_testing::closed_port().expect("a loopback port");
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": format!("https://127.0.0.1:{port}"),
            "certificate-authority-data": crate::oracle::base64(material().ca_pem.as_bytes()),
        }}],
        "users": [{"name": "u", "user": {"exec": exec}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    let path = dir.join("config");
    std::fs::write(&path, config.to_string()).expect("the kubeconfig");
    let source = KubeconfigSource::builder()
        .path_from(&path, "the fuzz kubeconfig")
        .exec_timeout(EXEC_TIMEOUT)
        .stdin_is_terminal(false)
        .build();
    block_on(async {
        oracle.result("endpoint()", &source.endpoint().await);
        oracle.result("credentials()", &source.credentials().await);
        oracle.debug("the source", &source);
        let client = Client::builder()
            .environment(Arc::new(kubecred_core::MapEnvironment::new(Vec::<(
                String,
                String,
            )>::new(
            ))))
            .sources([SourceName::Kubeconfig])
            .kubeconfig_from(&path, "the fuzz kubeconfig")
            .exec_timeout(EXEC_TIMEOUT)
            .build()
            .await;
        match client {
            Ok(client) => oracle.debug("the client", &client),
            Err(error) => oracle.error("build()'s error", &error),
        }
    });
    oracle.finish();
}
