//! Tests of `source`: the kubeconfig source end to end over real files in a temp dir, with a
//! `MapEnvironment` and hand-written YAML.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use kubecred_core::{
    ApiEndpoint, CredentialKind, CredentialSource, ExposeSecret as _, ManualClock, MapEnvironment,
    SourceBuilder, SourceError, Trust,
};
use kubecred_testing::{CertificateAuthority, ExecPlugin};

use crate::{KubeconfigSource, KubeconfigSourceBuilder, HOME_VAR, KUBECONFIG_VAR};

const CANARY: &str = "canary-secret-5d2e9b";

/// A temp dir with files written into it.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

fn builder(vars: &[(&str, &str)]) -> KubeconfigSourceBuilder {
    KubeconfigSource::builder()
        .environment(Arc::new(MapEnvironment::new(vars.iter().copied())))
        .stdin_is_terminal(false)
}

fn source_for(path: &Path) -> KubeconfigSource {
    builder(&[]).path_from(path, "--kubeconfig").build()
}

/// One cluster `c` with `cluster` fields, one user `u` with `user` fields, context `ctx`.
fn config(cluster: &str, user: &str) -> String {
    format!(
        "clusters:\n- name: c\n  cluster:\n    server: https://api.example.test:6443/prefix\n{cluster}users:\n- name: u\n  user:\n{user}contexts:\n- name: ctx\n  context: {{cluster: c, user: u, namespace: team}}\ncurrent-context: ctx\n"
    )
}

async fn endpoint_err(source: &KubeconfigSource) -> String {
    let err = source.endpoint().await.unwrap_err();
    assert!(!err.is_not_applicable(), "{err:?}");
    err.to_string()
}

#[tokio::test]
async fn a_token_user_resolves_endpoint_namespace_and_one_arc() {
    let dir = Dir::new();
    let path = dir.write("config", &config("", &format!("    token: {CANARY}\n")));
    let source = source_for(&path);
    let endpoint = source.endpoint().await.unwrap();
    assert_eq!(
        endpoint.url().as_str(),
        "https://api.example.test:6443/prefix",
        "the path prefix is kept"
    );
    assert_eq!(endpoint.namespace(), "team");
    assert!(matches!(endpoint.trust(), Trust::SystemRoots));
    let first = source.credentials().await.unwrap();
    assert_eq!(first.token().unwrap().expose_secret(), CANARY);
    assert!(Arc::ptr_eq(&first, &source.credentials().await.unwrap()));
    assert!(Arc::ptr_eq(&first, &source.current().unwrap()));
    assert!(Arc::ptr_eq(&first, &source.refresh(&first).await.unwrap()));
    assert!(source.deferred().is_none());
    let shown = format!("{source:?} {endpoint:?} {first:?}");
    assert!(!shown.contains(CANARY), "{shown}");
}

#[tokio::test]
async fn provenance_names_files_context_cluster_user_server_kind_and_namespace() {
    let dir = Dir::new();
    let token = dir.write("t", CANARY);
    let first = dir.write("a", &config("", "    tokenFile: t\n"));
    let second = dir.write(
        "b",
        "clusters:\n- name: other\n  cluster: {server: 'https://other'}\n",
    );
    let list = format!("{}:{}", first.display(), second.display());
    let source = builder(&[(KUBECONFIG_VAR, &list)]).build();
    let endpoint = source.endpoint().await.unwrap();
    let provenance = endpoint.provenance();
    assert_eq!(
        provenance.reason,
        format!(
            "context \"ctx\" of kubeconfig files {}, {} (from KUBECONFIG): cluster \"c\" at https://api.example.test:6443/prefix, user \"u\" (token-file), namespace team",
            first.display(),
            second.display()
        )
    );
    assert_eq!(provenance.files, vec![first, second, token]);
    assert_eq!(provenance.variables, vec![KUBECONFIG_VAR]);
    assert!(!format!("{provenance:?}").contains(CANARY));
}

#[tokio::test]
async fn kubeconfig_merges_two_files_first_definition_wins() {
    let dir = Dir::new();
    let first = dir.write(
        "one/config",
        "clusters:\n- name: c\n  cluster: {server: 'https://first'}\ncontexts:\n- name: a\n  context: {cluster: c}\n",
    );
    let second = dir.write(
        "two/config",
        "clusters:\n- name: c\n  cluster: {server: 'https://second'}\ncontexts:\n- name: a\n  context: {cluster: none}\ncurrent-context: a\n",
    );
    let missing = dir.path().join("missing");
    let list = format!(
        "{}:{}:{}",
        missing.display(),
        first.display(),
        second.display()
    );
    let source = builder(&[(KUBECONFIG_VAR, &list)]).build();
    let endpoint = source.endpoint().await.unwrap();
    assert_eq!(endpoint.url().as_str(), "https://first/");
    assert_eq!(endpoint.namespace(), "default");
    let credentials = source.credentials().await.unwrap();
    assert_eq!(
        credentials.kind(),
        CredentialKind::None,
        "a context without a user is anonymous"
    );
}

#[tokio::test]
async fn home_fallback_and_empty_kubeconfig_is_not_applicable() {
    let home = Dir::new();
    let vars = [(HOME_VAR, home.path().to_str().unwrap())];
    let err = builder(&vars).build().endpoint().await.unwrap_err();
    assert!(err.is_not_applicable(), "{err:?}");

    let path = home.write(".kube/config", "apiVersion: v1\nkind: Config\nclusters: null\nusers: null\ncontexts: null\ncurrent-context: \"\"\npreferences: {}\n");
    let source = builder(&vars).build();
    let err = source.endpoint().await.unwrap_err();
    assert!(err.is_not_applicable(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "kubeconfig file {} (from $HOME/.kube/config) defines no cluster, user or context",
            path.display()
        )
    );
    assert!(source.credentials().await.unwrap_err().is_not_applicable());

    // Asked for a context, an empty kubeconfig is failed: it does not define it.
    let err = builder(&vars)
        .context("x")
        .build()
        .endpoint()
        .await
        .unwrap_err();
    assert!(!err.is_not_applicable(), "{err:?}");
}

#[tokio::test]
async fn contexts_unknown_absent_blank_and_override() {
    let dir = Dir::new();
    let two = "clusters:\n- name: c\n  cluster: {server: 'https://one'}\n- name: d\n  cluster: {server: 'https://two'}\ncontexts:\n- name: one\n  context: {cluster: c}\n- name: two\n  context: {cluster: d, namespace: ns2}\n";
    let unset = dir.write("unset", two);
    let message = endpoint_err(&source_for(&unset)).await;
    assert_eq!(
        message,
        format!(
            "kubeconfig file {} set no current-context and no context was chosen (--context); contexts defined: one, two",
            unset.display()
        )
    );
    let blank = dir.write("blank", &format!("{two}current-context: \"\"\n"));
    assert!(endpoint_err(&source_for(&blank))
        .await
        .contains("set no current-context"));

    let unknown = dir.write("unknown", &format!("{two}current-context: three\n"));
    assert_eq!(
        endpoint_err(&source_for(&unknown)).await,
        format!(
            "context \"three\" (the current-context of {0}) is not defined in kubeconfig file {0}; contexts defined: one, two",
            unknown.display()
        )
    );

    let chosen = builder(&[]).path(&unknown).context("two").build();
    let endpoint = chosen.endpoint().await.unwrap();
    assert_eq!(endpoint.url().as_str(), "https://two/");
    assert_eq!(endpoint.namespace(), "ns2");
    let wrong = builder(&[]).path(&unknown).context("nope").build();
    assert!(endpoint_err(&wrong)
        .await
        .starts_with("context \"nope\" (the context asked for) is not defined"));
    let blank_override = builder(&[]).path(&unknown).context(" ").build();
    assert!(endpoint_err(&blank_override).await.contains("is blank"));
}

#[tokio::test]
async fn undefined_cluster_or_user_and_cluster_without_server_are_failed() {
    let dir = Dir::new();
    let path = dir.write(
        "a",
        "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    );
    assert!(endpoint_err(&source_for(&path))
        .await
        .ends_with("context \"x\" names cluster \"c\", which no kubeconfig file defines"));
    let path = dir.write("b", "clusters:\n- name: c\n  cluster: {server: 'https://x'}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n");
    assert!(endpoint_err(&source_for(&path))
        .await
        .ends_with("context \"x\" names user \"u\", which no kubeconfig file defines"));
    let path = dir.write("c", "clusters:\n- name: c\n  cluster: {}\ncontexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
    assert_eq!(
        endpoint_err(&source_for(&path)).await,
        format!(
            "kubeconfig file {} cluster \"c\" has no server",
            path.display()
        )
    );
    let path = dir.write("d", "clusters:\n- name: c\n  cluster: {server: 'ftp://x'}\ncontexts:\n- name: x\n  context: {cluster: c, namespace: Not_A_Label}\ncurrent-context: x\n");
    assert!(endpoint_err(&source_for(&path))
        .await
        .contains("context \"x\"'s namespace is not a namespace name"));
}

#[tokio::test]
async fn trust_kinds_ca_file_data_none_insecure_and_plain_http() {
    let ca = CertificateAuthority::new("kubeconfig test CA").unwrap();
    let dir = Dir::new();
    dir.write("pki/ca.crt", &ca.pem());
    let path = dir.write(
        "file",
        &config(
            "    certificate-authority: pki/ca.crt\n    tls-server-name: api.internal\n",
            "",
        ),
    );
    let endpoint = source_for(&path).endpoint().await.unwrap();
    match endpoint.trust() {
        Trust::CaFile(file) => assert_eq!(file.path(), dir.path().join("pki/ca.crt")),
        other => panic!("{other:?}"),
    }
    assert_eq!(endpoint.tls_server_name(), Some("api.internal"));

    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(ca.pem());
    let path = dir.write(
        "data",
        &config(&format!("    certificate-authority-data: {data}\n"), ""),
    );
    assert!(matches!(
        source_for(&path).endpoint().await.unwrap().trust(),
        Trust::CaBundle(_)
    ));

    let path = dir.write(
        "bad-data",
        &config("    certificate-authority-data: '%%%'\n", ""),
    );
    assert!(endpoint_err(&source_for(&path))
        .await
        .ends_with("has a certificate-authority-data that is not base64"));

    let path = dir.write(
        "insecure",
        &config("    insecure-skip-tls-verify: true\n", ""),
    );
    assert!(matches!(
        source_for(&path).endpoint().await.unwrap().trust(),
        Trust::InsecureSkipVerify
    ));

    let path = dir.write(
        "both",
        &config(
            "    insecure-skip-tls-verify: true\n    certificate-authority: pki/ca.crt\n",
            "",
        ),
    );
    let err = source_for(&path).endpoint().await.unwrap_err();
    let message = err.to_string();
    assert!(
        message
            .contains("cluster \"c\" sets both insecure-skip-tls-verify and certificate-authority"),
        "{message}"
    );
    // Settings of a file: explain lists the file, and no "variable".
    assert!(err.variables().is_empty(), "{:?}", err.variables());
    assert_eq!(err.files(), std::slice::from_ref(&path));

    let path = dir.write(
        "two-cas",
        &config(
            &format!(
                "    certificate-authority: pki/ca.crt\n    certificate-authority-data: {data}\n"
            ),
            "",
        ),
    );
    assert!(endpoint_err(&source_for(&path))
        .await
        .contains("sets both certificate-authority and certificate-authority-data"));

    let path = dir.write("http", "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:8080'}\ncontexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
    assert!(matches!(
        source_for(&path).endpoint().await.unwrap().trust(),
        Trust::PlainHttp
    ));
}

#[tokio::test]
async fn proxy_url_schemes_and_system_proxy_variables() {
    let dir = Dir::new();
    for proxy in [
        "http://proxy.test:3128",
        "https://proxy.test:3129",
        "socks5://127.0.0.1:1080",
    ] {
        let path = dir.write("p", &config(&format!("    proxy-url: {proxy}\n"), ""));
        // The proxy-url wins over the system's variables.
        let source = builder(&[("HTTPS_PROXY", "http://system.test:1")])
            .path(&path)
            .build();
        let endpoint = source.endpoint().await.unwrap();
        assert_eq!(
            endpoint.proxy().unwrap().as_str().trim_end_matches('/'),
            proxy
        );
    }
    let path = dir.write(
        "p",
        &config(
            &format!("    proxy-url: ftp://user:{CANARY}@proxy.test\n"),
            "",
        ),
    );
    let message = endpoint_err(&source_for(&path)).await;
    assert!(
        message.contains("is not an http://, https:// or socks5:// URL"),
        "{message}"
    );
    assert!(!message.contains(CANARY), "{message}");

    let path = dir.write("none", &config("", ""));
    assert!(source_for(&path)
        .endpoint()
        .await
        .unwrap()
        .proxy()
        .is_none());
    // Without proxy-url, the system proxy variables, as the env source reads them.
    let with_system = builder(&[("HTTPS_PROXY", "http://system.test:1")])
        .path(&path)
        .build();
    let endpoint = with_system.endpoint().await.unwrap();
    assert_eq!(endpoint.proxy().unwrap().as_str(), "http://system.test:1/");
    let exempt = builder(&[
        ("HTTPS_PROXY", "http://system.test:1"),
        ("NO_PROXY", "api.example.test"),
    ])
    .path(&path)
    .build();
    assert!(exempt.endpoint().await.unwrap().proxy().is_none());
    let broken = builder(&[("HTTPS_PROXY", "ftp://system.test:1")])
        .path(&path)
        .build();
    let err = broken.endpoint().await.unwrap_err();
    assert_eq!(err.variables(), vec!["HTTPS_PROXY"]);
}

#[tokio::test]
async fn impersonation_becomes_headers() {
    let dir = Dir::new();
    let user = "    token: t\n    as: jane\n    as-uid: '42'\n    as-groups: [dev, ops]\n    as-user-extra:\n      reason: [debug, audit]\n      scopes/x: [y]\n";
    let path = dir.write("config", &config("", user));
    let endpoint = source_for(&path).endpoint().await.unwrap();
    let headers: Vec<(&str, &str)> = endpoint
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        vec![
            ("Impersonate-User", "jane"),
            ("Impersonate-Uid", "42"),
            ("Impersonate-Group", "dev"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Extra-reason", "debug"),
            ("Impersonate-Extra-reason", "audit"),
            ("Impersonate-Extra-scopes%2Fx", "y"),
        ]
    );
    let path = dir.write("groups-only", &config("", "    as-groups: [dev]\n"));
    assert!(endpoint_err(&source_for(&path))
        .await
        .contains("without impersonating a user (as)"));
}

#[tokio::test]
async fn token_file_wins_is_relative_and_re_read_after_a_401_and_on_schedule() {
    let dir = Dir::new();
    dir.write("secrets/token", "first\n");
    let path = dir.write(
        "config",
        &config("", "    token: ignored\n    tokenFile: secrets/token\n"),
    );
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let source = builder(&[])
        .clock(Arc::new(clock.clone()))
        .path(&path)
        .build();
    assert!(source.current().is_none(), "nothing read yet");
    let first = source.credentials().await.unwrap();
    assert_eq!(first.token().unwrap().expose_secret(), "first");
    assert!(Arc::ptr_eq(&first, &source.current().unwrap()));

    dir.write("secrets/token", "second\n");
    let second = source.refresh(&first).await.unwrap();
    assert_eq!(second.token().unwrap().expose_secret(), "second");
    // A concurrent 401 with the old value gets the new one without a read.
    assert!(Arc::ptr_eq(&second, &source.refresh(&first).await.unwrap()));

    dir.write("secrets/token", "third\n");
    clock.advance(Duration::from_secs(61));
    assert!(source.current().is_none(), "due");
    let third = source.credentials().await.unwrap();
    assert_eq!(third.token().unwrap().expose_secret(), "third");
    // endpoint() again for the same context and user keeps the cache.
    source.endpoint().await.unwrap();
    assert!(Arc::ptr_eq(&third, &source.current().unwrap()));
}

#[tokio::test]
async fn client_certificate_files_are_a_pair_re_read_and_data_is_parsed() {
    use base64::Engine as _;
    let ca = CertificateAuthority::new("kubeconfig test CA").unwrap();
    let issued = ca.issue_client_certificate("me").unwrap();
    let dir = Dir::new();
    dir.write("me.crt", issued.cert_pem());
    dir.write("me.key", issued.key_pem());
    let path = dir.write(
        "files",
        &config(
            "",
            "    client-certificate: me.crt\n    client-key: me.key\n",
        ),
    );
    let source = source_for(&path);
    let endpoint = source.endpoint().await.unwrap();
    assert!(endpoint
        .provenance()
        .reason
        .contains("(client-certificate)"));
    let first = source.credentials().await.unwrap();
    assert_eq!(first.kind(), CredentialKind::ClientCertificate);
    let again = source.refresh(&first).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &again), "re-read after a 401");
    assert!(again.identity().is_some());

    let b64 = base64::engine::general_purpose::STANDARD;
    let user = format!(
        "    token: {CANARY}\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64.encode(issued.cert_pem()),
        b64.encode(issued.key_pem())
    );
    let path = dir.write("data", &config("", &user));
    let source = source_for(&path);
    assert!(source
        .endpoint()
        .await
        .unwrap()
        .provenance()
        .reason
        .contains("(bearer-token + client-certificate)"));
    let credentials = source.credentials().await.unwrap();
    assert_eq!(credentials.kind(), CredentialKind::BearerToken);
    assert!(credentials.identity().is_some());
    let shown = format!("{source:?} {credentials:?}");
    assert!(
        !shown.contains(CANARY) && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );

    let path = dir.write("no-key", &config("", "    client-certificate: me.crt\n"));
    assert!(endpoint_err(&source_for(&path))
        .await
        .ends_with("has a client certificate without its key (client-key or client-key-data)"));
    let path = dir.write("no-cert", &config("", "    client-key: me.key\n"));
    assert!(endpoint_err(&source_for(&path))
        .await
        .contains("has a client key without its certificate"));
}

#[tokio::test]
async fn basic_auth_and_anonymous_and_conflicts() {
    let dir = Dir::new();
    let path = dir.write(
        "basic",
        &config(
            "",
            &format!("    username: admin\n    password: {CANARY}\n"),
        ),
    );
    let source = source_for(&path);
    let endpoint = source.endpoint().await.unwrap();
    assert!(endpoint.provenance().reason.contains("user \"u\" (basic)"));
    let credentials = source.credentials().await.unwrap();
    assert_eq!(credentials.kind(), CredentialKind::Basic);
    assert_eq!(
        credentials.basic_auth().unwrap().password().expose_secret(),
        CANARY
    );

    let path = dir.write("empty-user", &config("", "    {}\n"));
    let source = source_for(&path);
    assert!(source
        .endpoint()
        .await
        .unwrap()
        .provenance()
        .reason
        .contains("user \"u\" (none)"));
    assert_eq!(
        source.credentials().await.unwrap().kind(),
        CredentialKind::None
    );

    for (user, methods) in [
        (
            "    token: t\n    username: a\n    password: b\n",
            "(token, username/password)",
        ),
        (
            "    token: t\n    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n",
            "(token, exec)",
        ),
        (
            "    tokenFile: t\n    password: b\n",
            "(token, username/password)",
        ),
    ] {
        let path = dir.write("conflict", &config("", user));
        let message = endpoint_err(&source_for(&path)).await;
        assert!(
            message.ends_with(&format!(
                "has more than one authentication method {methods}: keep one"
            )),
            "{message}"
        );
    }
}

#[tokio::test]
async fn auth_providers_are_refused_naming_their_replacement() {
    let dir = Dir::new();
    for (provider, replacement) in [
        ("gcp", "gke-gcloud-auth-plugin"),
        ("azure", "kubelogin"),
        ("oidc", "kubelogin"),
    ] {
        let user = format!("    auth-provider:\n      name: {provider}\n      config: {{access-token: {CANARY}}}\n");
        let path = dir.write("config", &config("", &user));
        let message = endpoint_err(&source_for(&path)).await;
        assert!(
            message.contains(&format!("uses auth-provider \"{provider}\"")),
            "{message}"
        );
        assert!(message.contains(replacement), "{message}");
        assert!(!message.contains(CANARY), "{message}");
    }
}

#[tokio::test]
async fn an_exec_user_is_deferred_for_explain_and_runs_once_when_read() {
    let plugin = ExecPlugin::new(CANARY).unwrap();
    let dir = Dir::new();
    let user = format!(
        "    exec:\n      command: {}\n      apiVersion: {}\n      interactiveMode: Never\n      provideClusterInfo: true\n",
        plugin.command().display(),
        plugin.api_version()
    );
    let path = dir.write(
        "config",
        &config("    tls-server-name: api.internal\n", &user),
    );
    let source = source_for(&path);
    let endpoint = source.endpoint().await.unwrap();
    assert!(
        endpoint.provenance().reason.contains(&format!(
            "user \"u\" (exec: {})",
            plugin.command().display()
        )),
        "{}",
        endpoint.provenance().reason
    );
    let deferred = source.deferred().unwrap();
    assert!(
        deferred.how.contains("explain does not run it"),
        "{deferred:?}"
    );
    assert!(source.current().is_none());
    assert_eq!(
        plugin.runs(),
        0,
        "neither endpoint nor deferred runs the plugin"
    );

    let first = source.credentials().await.unwrap();
    assert_eq!(first.token().unwrap().expose_secret(), CANARY);
    assert!(Arc::ptr_eq(&first, &source.credentials().await.unwrap()));
    assert!(Arc::ptr_eq(&first, &source.current().unwrap()));
    assert_eq!(plugin.runs(), 1);
    let info = &plugin.exec_infos()[0];
    assert_eq!(
        info["spec"]["cluster"]["server"],
        "https://api.example.test:6443/prefix"
    );
    assert_eq!(info["spec"]["cluster"]["tls-server-name"], "api.internal");

    plugin.set_token("rotated");
    let renewed = source.refresh(&first).await.unwrap();
    assert_eq!(renewed.token().unwrap().expose_secret(), "rotated");
    assert_eq!(plugin.runs(), 2, "a 401 re-runs the plugin once");
    assert!(!format!("{source:?}").contains(CANARY));
}

#[tokio::test]
async fn exec_problems_that_need_no_run_fail_the_endpoint() {
    let dir = Dir::new();
    for (exec, expected) in [
        ("{command: kubecred-no-such-plugin, apiVersion: client.authentication.k8s.io/v1beta1, installHint: 'install it with apt'}", "install it with apt"),
        ("{command: /bin/true, apiVersion: client.authentication.k8s.io/v1alpha1}", "1.24"),
        ("{command: /bin/true, apiVersion: client.authentication.k8s.io/v1, env: [{value: x}]}", "a variable without a name"),
    ] {
        let path = dir.write("config", &config("", &format!("    exec: {exec}\n")));
        let source = builder(&[("PATH", "/nonexistent")]).path(&path).build();
        let message = kubecred_core::error_chain(&source.endpoint().await.unwrap_err());
        assert!(message.contains(expected), "{message}");
        assert!(source.deferred().is_none());
    }
}

#[tokio::test]
async fn malformed_yaml_is_failed_with_its_location_not_its_token() {
    let dir = Dir::new();
    let path = dir.write(
        "config",
        &format!("users:\n- name: u\n  user:\n    token: [{CANARY}\n"),
    );
    let source = source_for(&path);
    let err: SourceError = source.endpoint().await.unwrap_err();
    let message = kubecred_core::error_chain(&err);
    assert!(message.contains("is not valid YAML (line "), "{message}");
    assert!(!message.contains(CANARY), "{message}");
}

#[tokio::test]
async fn fifty_contexts_parse() {
    let dir = Dir::new();
    let mut text = String::from("clusters:\n");
    for i in 0..50 {
        text.push_str(&format!("- name: c{i}\n  cluster:\n    server: https://10.0.0.{i}:6443\n    insecure-skip-tls-verify: true\n"));
    }
    text.push_str("users:\n");
    for i in 0..50 {
        text.push_str(&format!("- name: u{i}\n  user:\n    token: token-{i}\n"));
    }
    text.push_str("contexts:\n");
    for i in 0..50 {
        text.push_str(&format!(
            "- name: ctx{i}\n  context: {{cluster: c{i}, user: u{i}, namespace: ns{i}}}\n"
        ));
    }
    text.push_str("current-context: ctx49\n");
    let path = dir.write("config", &text);
    let source = source_for(&path);
    let endpoint = source.endpoint().await.unwrap();
    assert_eq!(endpoint.namespace(), "ns49");
    let chosen = builder(&[]).path(&path).context("ctx7").build();
    assert_eq!(
        chosen.endpoint().await.unwrap().url().as_str(),
        "https://10.0.0.7:6443/"
    );
    assert_eq!(
        chosen
            .credentials()
            .await
            .unwrap()
            .token()
            .unwrap()
            .expose_secret(),
        "token-7"
    );
}

#[tokio::test]
async fn a_server_url_with_a_password_or_a_query_is_failed_without_showing_it() {
    let dir = Dir::new();
    for (file, server, problem) in [
        (
            "pw",
            "https://user:SRVPW-canary@api.example.test",
            "user name or password",
        ),
        (
            "q",
            "https://api.example.test/prefix?x=1",
            "query or a fragment",
        ),
    ] {
        let text = format!("clusters:\n- name: c\n  cluster: {{server: '{server}'}}\ncontexts:\n- name: x\n  context: {{cluster: c}}\ncurrent-context: x\n");
        let path = dir.write(file, &text);
        let message = endpoint_err(&source_for(&path)).await;
        assert!(message.contains(problem), "{message}");
        assert!(!message.contains("SRVPW-canary"), "{message}");
    }
}

#[tokio::test]
async fn impersonation_details_without_a_user_to_impersonate_are_failed() {
    let dir = Dir::new();
    let path = dir.write("uid", &config("", "    token: t\n    as-uid: '1234'\n"));
    let message = endpoint_err(&source_for(&path)).await;
    assert!(
        message.contains("as-uid, as-groups or as-user-extra without impersonating a user"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_context_lists_twenty_contexts_escaped_and_counts_the_rest() {
    let dir = Dir::new();
    let mut text =
        String::from("clusters:\n- name: c\n  cluster: {server: 'https://x.test'}\ncontexts:\n");
    for i in 0..100 {
        text.push_str(&format!("- name: ctx-{i:03}\n  context: {{cluster: c}}\n"));
    }
    text.push_str("- name: \"zz\\nerror: everything is fine\"\n  context: {cluster: c}\n");
    let path = dir.write("many", &text);
    let source = KubeconfigSource::builder()
        .environment(Arc::new(MapEnvironment::default()))
        .path(&path)
        .context("nope")
        .build();
    let message = endpoint_err(&source).await;
    assert!(message.len() < 1024, "{} bytes", message.len());
    assert!(message.ends_with("and 81 more"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}
