//! Unit tests of the in-cluster source, with an injected environment and a kubelet-style
//! service-account directory.

use super::*;
use std::time::Duration;

use kubecred_core::{ExposeSecret, ManualClock, MapEnvironment};
use kubecred_testing::{ApiServer, CertificateAuthority, LogCapture, Pod, ServiceAccountFiles};

/// A pod whose service-account files are `files(empty, the server's CA PEM)`.
fn pod(files: impl FnOnce(ServiceAccountFiles, &str) -> ServiceAccountFiles) -> Pod {
    let server = ApiServer::start().unwrap();
    let files = files(ServiceAccountFiles::new(), &server.ca_pem());
    Pod::builder().server(server).files(files).start().unwrap()
}

fn complete() -> Pod {
    Pod::builder().token("pod", "tok-1").start().unwrap()
}

fn source(pod: &Pod, vars: &[(&str, &str)]) -> InCluster {
    InCluster::builder()
        .serviceaccount_dir(pod.dir.path())
        .environment(Arc::new(MapEnvironment::new(vars.iter().copied())))
        .build()
}

const IN_POD: &[(&str, &str)] = &[(SERVICE_HOST_VAR, "10.96.0.1"), (SERVICE_PORT_VAR, "443")];

async fn endpoint_error(pod: &Pod, vars: &[(&str, &str)]) -> SourceError {
    source(pod, vars).endpoint().await.unwrap_err()
}

#[tokio::test]
async fn not_applicable_without_either_variable() {
    let pod = complete();
    for vars in [
        &[][..],
        &[(SERVICE_HOST_VAR, " "), (SERVICE_PORT_VAR, "")][..],
    ] {
        let err = endpoint_error(&pod, vars).await;
        assert!(err.is_not_applicable(), "{err:?}");
        assert_eq!(
            err.to_string(),
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
        );
    }
}

#[tokio::test]
async fn one_variable_without_the_other_fails_naming_the_missing_one() {
    let pod = complete();
    let err = endpoint_error(&pod, &[(SERVICE_HOST_VAR, "10.96.0.1")]).await;
    assert!(!err.is_not_applicable());
    assert_eq!(
        err.to_string(),
        "environment variable KUBERNETES_SERVICE_PORT is not set, but KUBERNETES_SERVICE_HOST is"
    );
    let err = endpoint_error(&pod, &[(SERVICE_PORT_VAR, "443")]).await;
    assert_eq!(
        err.to_string(),
        "environment variable KUBERNETES_SERVICE_HOST is not set, but KUBERNETES_SERVICE_PORT is"
    );
}

#[tokio::test]
async fn url_brackets_ipv6_and_keeps_bracketed_hosts() {
    let pod = complete();
    for (host, port, want) in [
        ("10.96.0.1", "443", "https://10.96.0.1:443"),
        ("::1", "6443", "https://[::1]:6443"),
        ("[::1]", "6443", "https://[::1]:6443"),
        ("fd00:10:96::1", "443", "https://[fd00:10:96::1]:443"),
        ("api.cluster.test", "8443", "https://api.cluster.test:8443"),
    ] {
        let e = source(&pod, &[(SERVICE_HOST_VAR, host), (SERVICE_PORT_VAR, port)])
            .endpoint()
            .await
            .unwrap();
        assert_eq!(e.display_url(), want, "host {host}");
    }
}

#[tokio::test]
async fn bad_host_or_port_is_named_and_quoted() {
    let pod = complete();
    for (host, port, variable) in [
        ("10.96.0.1", "abc", SERVICE_PORT_VAR),
        ("10.96.0.1", "https", SERVICE_PORT_VAR),
        ("10.96.0.1", "0", SERVICE_PORT_VAR),
        ("10.96.0.1", "70000", SERVICE_PORT_VAR),
        ("evil.test/x", "443", SERVICE_HOST_VAR),
        ("user@evil.test", "443", SERVICE_HOST_VAR),
        ("[not-ipv6]", "443", SERVICE_HOST_VAR),
        ("1.2.3", "443", SERVICE_HOST_VAR),
        ("0x7f.1", "443", SERVICE_HOST_VAR),
        ("a..b", "443", SERVICE_HOST_VAR),
        ("-x", "443", SERVICE_HOST_VAR),
        ("1.2.3.4:80", "443", SERVICE_HOST_VAR),
        ("10.96.0.1", "+443", SERVICE_PORT_VAR),
    ] {
        let err = endpoint_error(&pod, &[(SERVICE_HOST_VAR, host), (SERVICE_PORT_VAR, port)]).await;
        let SourceError::InvalidVariable { variable: v, .. } = &err else {
            panic!("{host}:{port}: expected InvalidVariable, got {err:?}");
        };
        assert_eq!(v, variable);
        // Neither is a secret: the value at fault is quoted, so `abc` says `abc`.
        let value = if variable == SERVICE_PORT_VAR {
            port
        } else {
            host
        };
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "environment variable {variable} is \"{value}\", not a "
            )),
            "{message}"
        );
    }
}

#[tokio::test]
async fn dns_name_is_an_opt_in() {
    let pod = complete();
    let e = InCluster::builder()
        .serviceaccount_dir(pod.dir.path())
        .environment(Arc::new(MapEnvironment::new(IN_POD.iter().copied())))
        .use_dns_name(true)
        .build()
        .endpoint()
        .await
        .unwrap();
    assert_eq!(e.display_url(), "https://kubernetes.default.svc:443");
}

#[tokio::test]
async fn endpoint_trusts_only_ca_crt_and_reports_what_it_read() {
    let pod = complete();
    let e = source(&pod, IN_POD).endpoint().await.unwrap();
    let Trust::CaFile(file) = e.trust() else {
        panic!("expected the CA file, got {:?}", e.trust());
    };
    assert_eq!(file.path(), pod.dir.ca_path());
    assert_eq!(file.read_current().certificates().len(), 1);
    assert!(pod.server.ca_pem().contains("BEGIN CERTIFICATE"));
    let p = e.provenance();
    assert_eq!(p.reason, "KUBERNETES_SERVICE_HOST and _PORT are set");
    assert_eq!(p.variables, [SERVICE_HOST_VAR, SERVICE_PORT_VAR]);
    assert_eq!(
        p.files,
        [
            pod.dir.token_path(),
            pod.dir.ca_path(),
            pod.dir.namespace_path()
        ]
    );
    assert!(e.accepts_credentials());
}

#[tokio::test]
async fn namespace_comes_from_pod_namespace_then_file_then_default() {
    let with_file = complete();
    let mut vars = IN_POD.to_vec();
    assert_eq!(
        source(&with_file, &vars)
            .endpoint()
            .await
            .unwrap()
            .namespace(),
        "team-a"
    );
    vars.push((POD_NAMESPACE_VAR, "from-env"));
    let e = source(&with_file, &vars).endpoint().await.unwrap();
    assert_eq!(e.namespace(), "from-env");
    assert!(e
        .provenance()
        .variables
        .contains(&POD_NAMESPACE_VAR.to_owned()));

    let no_file = pod(|f, ca| f.token("t").ca_crt(ca));
    assert_eq!(
        source(&no_file, IN_POD)
            .endpoint()
            .await
            .unwrap()
            .namespace(),
        "default"
    );
}

#[tokio::test]
async fn broken_ca_crt_fails_naming_the_file() {
    let missing = pod(|f, _| f.token("t"));
    let err = endpoint_error(&missing, IN_POD).await;
    assert_eq!(
        err.to_string(),
        format!(
            "CA bundle file {} does not exist",
            missing.dir.ca_path().display()
        )
    );
    let empty = pod(|f, _| f.token("t").ca_crt(""));
    let err = endpoint_error(&empty, IN_POD).await;
    assert_eq!(
        err.to_string(),
        format!("CA bundle file {} is empty", empty.dir.ca_path().display())
    );
    let garbage = pod(|f, _| f.token("t").ca_crt("not a certificate"));
    let err = endpoint_error(&garbage, IN_POD).await;
    assert!(
        matches!(err, SourceError::InvalidCaBundle { .. }),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains(&garbage.dir.ca_path().display().to_string()));
}

fn token_of(credentials: &Credentials) -> String {
    credentials.token().unwrap().expose_secret().to_owned()
}

fn clocked(pod: &Pod, clock: &ManualClock) -> InCluster {
    InCluster::builder()
        .serviceaccount_dir(pod.dir.path())
        .environment(Arc::new(MapEnvironment::new(IN_POD.iter().copied())))
        .clock(Arc::new(clock.clone()))
        .build()
}

fn start() -> ManualClock {
    ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

#[tokio::test]
async fn a_token_rotated_by_a_data_swap_is_used_after_the_period() {
    let pod = complete();
    let clock = start();
    let s = clocked(&pod, &clock);
    assert_eq!(token_of(&s.credentials().await.unwrap()), "tok-1");

    pod.dir
        .update(
            &ServiceAccountFiles::new()
                .token("tok-2")
                .ca_crt(pod.server.ca_pem()),
        )
        .unwrap();
    clock.advance(Duration::from_secs(59));
    // Cached until due: no file I/O on the request path.
    assert_eq!(token_of(&s.credentials().await.unwrap()), "tok-1");
    assert_eq!(s.token_reads(), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(token_of(&s.credentials().await.unwrap()), "tok-2");
    assert_eq!(s.token_reads(), 2);
}

#[tokio::test]
async fn refresh_after_a_401_re_reads_once_for_concurrent_callers() {
    let pod = complete();
    let s = source(&pod, IN_POD);
    let rejected = s.credentials().await.unwrap();
    pod.dir
        .update(
            &ServiceAccountFiles::new()
                .token("tok-2")
                .ca_crt(pod.server.ca_pem()),
        )
        .unwrap();
    let (a, b) = tokio::join!(s.refresh(&rejected), s.refresh(&rejected));
    assert_eq!(token_of(&a.unwrap()), "tok-2");
    assert_eq!(token_of(&b.unwrap()), "tok-2");
    assert_eq!(s.token_reads(), 2, "the first read and one re-read");
}

#[tokio::test]
async fn a_deleted_token_file_keeps_the_last_good_token_and_warns() {
    let pod = complete();
    let clock = start();
    let s = clocked(&pod, &clock);
    s.credentials().await.unwrap();
    std::fs::remove_file(pod.dir.token_path()).unwrap();
    clock.advance(Duration::from_secs(60));
    let logs = LogCapture::start();
    assert_eq!(token_of(&s.credentials().await.unwrap()), "tok-1");
    let warned = logs.take();
    assert!(warned.contains("WARN"), "{warned}");
    assert!(warned.contains("keeping the last good value"), "{warned}");
    assert!(
        warned.contains(&pod.dir.token_path().display().to_string()),
        "{warned}"
    );

    // The next attempt comes no sooner than 10 s: no re-read and no warning on every request.
    for _ in 0..3 {
        assert_eq!(token_of(&s.credentials().await.unwrap()), "tok-1");
    }
    assert_eq!(logs.take(), "");
    assert_eq!(s.token_reads(), 2);

    // A 401 within those 10 s does not re-read either: it gets the last good token back.
    let stale = s.credentials().await.unwrap();
    assert!(Arc::ptr_eq(&s.refresh(&stale).await.unwrap(), &stale));
    assert_eq!(s.token_reads(), 2);
    // After them, it re-reads, and the error names the file.
    clock.advance(Duration::from_secs(10));
    let err = s.refresh(&stale).await.unwrap_err();
    assert!(
        matches!(err, SourceError::FileNotFound { what: "token", .. }),
        "{err:?}"
    );
    assert_eq!(s.token_reads(), 3);
}

#[tokio::test]
async fn a_jwt_expiring_before_the_period_is_re_read_before_its_exp() {
    use base64::Engine as _;
    let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwt = |exp: u64| {
        format!(
            "{}.{}.c2ln",
            enc.encode(r#"{"alg":"RS256"}"#),
            enc.encode(format!(r#"{{"exp":{exp}}}"#))
        )
    };
    let pod = complete();
    let clock = start();
    let short = jwt(1_800_000_030);
    pod.dir
        .update(
            &ServiceAccountFiles::new()
                .token(&short)
                .ca_crt(pod.server.ca_pem()),
        )
        .unwrap();
    let s = clocked(&pod, &clock);
    assert_eq!(token_of(&s.credentials().await.unwrap()), short);
    pod.dir
        .update(
            &ServiceAccountFiles::new()
                .token("tok-next")
                .ca_crt(pod.server.ca_pem()),
        )
        .unwrap();
    clock.advance(Duration::from_secs(19));
    assert_eq!(token_of(&s.credentials().await.unwrap()), short);
    clock.advance(Duration::from_secs(1));
    assert_eq!(token_of(&s.credentials().await.unwrap()), "tok-next");
}

#[tokio::test]
async fn failed_refresh_keeps_the_last_good_token() {
    let pod = complete();
    let s = source(&pod, IN_POD);
    let first = s.credentials().await.unwrap();
    pod.dir
        .update(&ServiceAccountFiles::new().token("  \n"))
        .unwrap();
    let err = s.refresh(&first).await.unwrap_err();
    assert!(
        matches!(err, SourceError::EmptyFile { what: "token", .. }),
        "{err:?}"
    );
    assert_eq!(token_of(&s.credentials().await.unwrap()), "tok-1");
}

#[tokio::test]
async fn ca_crt_is_re_read_after_its_period_and_garbage_keeps_the_old_roots() {
    let pod = complete();
    let clock = start();
    let s = clocked(&pod, &clock);
    let e = s.endpoint().await.unwrap();
    let Trust::CaFile(file) = e.trust() else {
        panic!("expected the CA file, got {:?}", e.trust());
    };
    let first = file.read_current();
    let other = CertificateAuthority::new("rotated-ca").unwrap();
    pod.dir
        .update(&ServiceAccountFiles::new().token("tok-1").ca_crt(format!(
            "{}{}",
            pod.server.ca_pem(),
            other.pem()
        )))
        .unwrap();
    clock.advance(Duration::from_secs(299));
    assert_eq!(file.read_current().certificates().len(), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(file.read_current().certificates().len(), 2);

    pod.dir
        .update(&ServiceAccountFiles::new().token("tok-1").ca_crt("garbage"))
        .unwrap();
    clock.advance(Duration::from_secs(300));
    let logs = LogCapture::start();
    let kept = file.read_current();
    assert_eq!(kept.certificates().len(), 2);
    let warned = logs.take();
    assert!(warned.contains("keeping the last good value"), "{warned}");
    assert!(!Arc::ptr_eq(&first, &kept));
}

#[tokio::test]
async fn missing_or_empty_token_fails_naming_the_file() {
    let missing = pod(|f, ca| f.ca_crt(ca));
    let err = source(&missing, IN_POD).credentials().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "token file {} does not exist",
            missing.dir.token_path().display()
        )
    );
    let empty = pod(|f, ca| f.ca_crt(ca).token(""));
    let err = source(&empty, IN_POD).credentials().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("token file {} is empty", empty.dir.token_path().display())
    );
}

#[tokio::test]
async fn a_missing_or_non_directory_serviceaccount_dir_is_named_with_its_origin() {
    let pod = complete();
    let missing = pod.dir.path().join("nonexistent").join("sa");
    // A regular file (the kubelet's `ca.crt` link to one) where the directory should be.
    let regular = pod.dir.ca_path();
    // A path through a regular file (`/etc/passwd/sub`): the open fails with ENOTDIR.
    let under_a_file = regular.join("sub");
    let env = || Arc::new(MapEnvironment::new(IN_POD.iter().copied()));
    for (dir, problem) in [
        (&missing, "does not exist"),
        (&regular, "is not a directory"),
        (&under_a_file, "is not a directory"),
    ] {
        let from_flag = InCluster::builder()
            .serviceaccount_dir_from(dir, "--serviceaccount-dir")
            .environment(env())
            .build();
        let err = from_flag.endpoint().await.unwrap_err();
        assert!(!err.is_not_applicable(), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "service-account directory {} (from --serviceaccount-dir) {problem}",
                dir.display()
            )
        );
        // The file that could not be read is the cause, and both are named for explain.
        let ca = dir.join(CA_FILE);
        assert!(
            kubecred_core::error_chain(&err).contains(&format!("CA bundle file {}", ca.display())),
            "{}",
            kubecred_core::error_chain(&err)
        );
        assert_eq!(err.files(), [dir.clone(), ca]);
        let err = from_flag.credentials().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "service-account directory {} (from --serviceaccount-dir) {problem}",
                dir.display()
            )
        );

        // Without an origin, the directory alone is named.
        let in_code = InCluster::builder()
            .serviceaccount_dir(dir)
            .environment(env())
            .build();
        assert_eq!(
            in_code.endpoint().await.unwrap_err().to_string(),
            format!("service-account directory {} {problem}", dir.display())
        );
    }

    // Files moved out of the directory are not its fault; outside a pod nothing is read.
    let elsewhere = InCluster::builder()
        .serviceaccount_dir_from(&missing, "KUBECRED_SERVICEACCOUNT_DIR")
        .token_path(pod.dir.token_path())
        .ca_path(pod.dir.ca_path())
        .namespace_path(pod.dir.path().join(NAMESPACE_FILE))
        .environment(env())
        .build();
    assert!(elsewhere.endpoint().await.is_ok());
    assert!(elsewhere.credentials().await.is_ok());
    let outside = InCluster::builder()
        .serviceaccount_dir_from(&missing, "--serviceaccount-dir")
        .environment(Arc::new(MapEnvironment::default()))
        .build();
    assert!(outside.endpoint().await.unwrap_err().is_not_applicable());
}

#[tokio::test]
async fn the_default_serviceaccount_dir_is_called_the_default() {
    let result = InCluster::builder()
        .environment(Arc::new(MapEnvironment::new(IN_POD.iter().copied())))
        .build()
        .endpoint()
        .await;
    if Path::new(DEFAULT_SERVICEACCOUNT_DIR).is_dir() {
        // Inside a real pod the directory is there: whatever happens, it is not blamed.
        assert!(
            !matches!(result, Err(SourceError::InvalidDirectory { .. })),
            "{result:?}"
        );
    } else {
        assert_eq!(
            result.unwrap_err().to_string(),
            format!(
                "default service-account directory {DEFAULT_SERVICEACCOUNT_DIR} does not exist"
            )
        );
    }
}
