//! A merged kubeconfig's context → the [`Endpoint`] (cluster, namespace, impersonation
//! headers) and the user to authenticate as.
//!
//! Where client-go defines the meaning, kubecred follows it (`clientcmd`'s
//! `DirectClientConfig` and `validation.go`); where client-go falls through or says nothing,
//! kubecred fails, naming the file and the entry (never a value).

use std::sync::Arc;

use base64::Engine as _;
use kubecred_core::{
    check_namespace, CaBundle, CaFile, Endpoint, Origin, RedactedUrl, SourceConfig, SourceError,
    Trust,
};
use url::Url;

use crate::exec::ClusterInfo;
use crate::merge::{Defined, Merged};
use crate::model::{Cluster, Context, User};

/// The context chosen, what its cluster resolved to, and its user (if any).
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) context: String,
    pub(crate) cluster: String,
    /// The user's name and definition; `None`: anonymous (no user, or an empty one).
    pub(crate) user: Option<(String, Defined<User>)>,
    /// The endpoint, without provenance (the source adds it).
    pub(crate) endpoint: Endpoint,
    /// The cluster's facts an exec plugin may be given (`provideClusterInfo`).
    pub(crate) cluster_facts: ClusterInfo,
    /// The system proxy variables that decided the proxy (for `explain`).
    pub(crate) proxy_variables: Vec<String>,
}

/// The name of the cluster extension handed to exec plugins as `spec.cluster.config`.
const EXEC_EXTENSION: &str = "client.authentication.k8s.io/exec";

/// Resolves `override_context` (`--context`), else `current-context`.
///
/// # Errors
///
/// *Failed* when no context is chosen or the chosen one, its cluster or its user is not
/// defined (listing the contexts there are), or as [`endpoint`] fails.
pub(crate) fn resolve(
    merged: &Merged,
    override_context: Option<&str>,
    config: &SourceConfig,
) -> Result<Resolved, SourceError> {
    let (name, context) = choose_context(merged, override_context)?;
    let invalid = |problem: String| SourceError::InvalidFile {
        what: "kubeconfig",
        path: context.file.clone(),
        problem,
    };
    let Context {
        cluster: cluster_name,
        user: user_name,
        namespace,
    } = &context.value;
    if cluster_name.is_empty() {
        return Err(invalid(format!(
            "defines context \"{name}\" without a cluster"
        )));
    }
    let cluster = merged.clusters.get(cluster_name).ok_or_else(|| {
        invalid(format!(
            "context \"{name}\" names cluster \"{cluster_name}\", which no kubeconfig file defines"
        ))
    })?;
    // A context without a user is anonymous (kubectl would prompt for one; kubecred never does).
    let user = if user_name.is_empty() {
        None
    } else {
        let user = merged.users.get(user_name).ok_or_else(|| {
            invalid(format!(
                "context \"{name}\" names user \"{user_name}\", which no kubeconfig file defines"
            ))
        })?;
        Some((user_name.clone(), user.clone()))
    };
    let namespace = match namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(namespace) => {
            check_namespace(namespace)
                .map_err(|problem| invalid(format!("context \"{name}\"'s namespace {problem}")))?;
            namespace.to_owned()
        }
        None => "default".to_owned(),
    };
    let (mut endpoint, cluster_facts, proxy_variables) = endpoint(cluster_name, cluster, config)?;
    endpoint = endpoint.with_namespace(namespace);
    if let Some((user_name, user)) = &user {
        endpoint = impersonate(endpoint, user_name, user)?;
    }
    Ok(Resolved {
        context: name.to_owned(),
        cluster: cluster_name.clone(),
        user,
        endpoint,
        cluster_facts,
        proxy_variables,
    })
}

/// The chosen context: the override, else `current-context`.
fn choose_context<'m>(
    merged: &'m Merged,
    override_context: Option<&'m str>,
) -> Result<(&'m str, &'m Defined<Context>), SourceError> {
    let files = files_label(merged);
    let (name, from) = match (override_context, &merged.current_context) {
        (Some(name), _) => (name, "the context asked for".to_owned()),
        (None, Some((name, file))) => (
            name.as_str(),
            format!(
                "the current-context of {}",
                kubecred_core::Shown::path(file)
            ),
        ),
        (None, None) => {
            return Err(SourceError::InvalidSetting {
                setting: format!("kubeconfig {files}"),
                problem: format!(
                    "set no current-context and no context was chosen (--context); {}",
                    merged.context_names()
                ),
            })
        }
    };
    match merged.contexts.get(name) {
        Some(context) => Ok((name, context)),
        None => Err(SourceError::InvalidSetting {
            setting: format!("context \"{}\" ({from})", kubecred_core::Shown::text(name)),
            problem: format!(
                "is not defined in kubeconfig {files}; {}",
                merged.context_names()
            ),
        }),
    }
}

/// "file /a" or "files /a, /b".
pub(crate) fn files_label(merged: &Merged) -> String {
    let shown: Vec<String> = merged
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    match shown.len() {
        1 => format!("file {}", shown[0]),
        _ => format!("files {}", shown.join(", ")),
    }
}

/// A cluster → its endpoint (trust, server name, proxy), what an exec plugin may be told of
/// it, and the proxy variables that were read.
///
/// # Errors
///
/// *Failed*, naming the cluster and its file: no `server`, a server that is not an
/// `https://` or `http://` URL, `insecure-skip-tls-verify` with a CA, a CA file and
/// `-data` both, a CA that does not load, a `proxy-url` that is not `http`, `https` or
/// `socks5`.
fn endpoint(
    name: &str,
    cluster: &Defined<Cluster>,
    config: &SourceConfig,
) -> Result<(Endpoint, ClusterInfo, Vec<String>), SourceError> {
    let file = &cluster.file;
    let c = &cluster.value;
    let invalid = |problem: String| SourceError::InvalidFile {
        what: "kubeconfig",
        path: file.clone(),
        problem: format!("cluster \"{}\" {problem}", kubecred_core::Shown::text(name)),
    };
    let server = c
        .server
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("has no server".to_owned()))?;
    let url =
        Url::parse(server).map_err(|_| invalid("has a server that is not a URL".to_owned()))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(invalid(
            "has a server that is not an https:// (or http://) URL with a host".to_owned(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // It would travel in every message and log that names the URL: credentials belong in
        // the user (as the env source refuses them in KUBE_HOST).
        return Err(invalid(
            "has a server URL that carries a user name or password (put credentials in the user)"
                .to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "has a server URL with a query or a fragment, which requests cannot keep".to_owned(),
        ));
    }
    let ca_file = c.certificate_authority.as_deref().filter(|p| !p.is_empty());
    let ca_data = c
        .certificate_authority_data
        .as_deref()
        .filter(|d| !d.trim().is_empty());
    // Settings of a file, not variables: an `InvalidFile` (explain lists the file), never a
    // `Conflict`, whose names `explain` would list as variables.
    let conflict = |first: &str, second: &str, problem: &str| {
        invalid(format!("sets both {first} and {second}: {problem}"))
    };
    if c.insecure_skip_tls_verify && (ca_file.is_some() || ca_data.is_some()) {
        let which = if ca_file.is_some() {
            "certificate-authority"
        } else {
            "certificate-authority-data"
        };
        return Err(conflict(
            "insecure-skip-tls-verify",
            which,
            "a cluster either skips TLS verification or verifies with a CA, not both (client-go refuses it too)",
        ));
    }
    if ca_file.is_some() && ca_data.is_some() {
        return Err(conflict(
            "certificate-authority",
            "certificate-authority-data",
            "give one (client-go refuses both too)",
        ));
    }
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut facts = ClusterInfo {
        server: url.to_string(),
        tls_server_name: c.tls_server_name.clone().filter(|n| !n.is_empty()),
        insecure_skip_tls_verify: c.insecure_skip_tls_verify,
        certificate_authority_data: None,
        proxy_url: c.proxy_url.clone().filter(|p| !p.is_empty()),
        disable_compression: c.disable_compression,
        config: c
            .extensions
            .iter()
            .find(|e| e.name == EXEC_EXTENSION)
            .and_then(|e| e.extension.clone()),
    };
    let trust = if url.scheme() == "http" {
        Trust::PlainHttp
    } else if c.insecure_skip_tls_verify {
        Trust::InsecureSkipVerify
    } else if let Some(path) = ca_file {
        let ca = CaFile::open(path, config.ca_refresh(), Arc::clone(config.clock()))?;
        facts.certificate_authority_data = Some(base64.encode(pem_of(&ca.read_current())));
        Trust::CaFile(Arc::new(ca))
    } else if let Some(data) = ca_data {
        let pem = kubecred_core::decode_base64(data).ok_or_else(|| {
            invalid("has a certificate-authority-data that is not base64".to_owned())
        })?;
        let bundle = CaBundle::from_pem(&pem, Origin::File(file.clone()))?;
        facts.certificate_authority_data = Some(base64.encode(&pem));
        Trust::CaBundle(bundle)
    } else {
        Trust::SystemRoots
    };
    let system_roots = matches!(trust, Trust::SystemRoots);
    let mut endpoint = Endpoint::new(url.clone(), trust);
    if system_roots {
        endpoint = endpoint.with_ca_hint(format!(
            "set certificate-authority or certificate-authority-data of cluster \"{}\" in {} to the CA that issued it",
            kubecred_core::Shown::text(name),
            kubecred_core::Shown::path(file)
        ));
    }
    if let Some(name) = &facts.tls_server_name {
        endpoint = endpoint.with_tls_server_name(name.clone());
    }
    let mut proxy_variables = Vec::new();
    if let Some(proxy) = &facts.proxy_url {
        let proxy = Url::parse(proxy)
            .ok()
            .filter(|p| matches!(p.scheme(), "http" | "https" | "socks5") && p.host().is_some())
            .ok_or_else(|| {
                invalid(format!(
                    "has a proxy-url ({}) that is not an http://, https:// or socks5:// URL with a host",
                    RedactedUrl::unparsed(proxy)
                ))
            })?;
        endpoint = endpoint.with_proxy(proxy);
    } else {
        let (proxy, variables) = kubecred_core::system_proxy(&**config.environment(), &url)?;
        proxy_variables = variables;
        if let Some(proxy) = proxy {
            endpoint = endpoint.with_proxy(proxy);
        }
    }
    Ok((endpoint, facts, proxy_variables))
}

/// The PEM text of a bundle (for `provideClusterInfo`'s `certificate-authority-data`).
fn pem_of(bundle: &CaBundle) -> Vec<u8> {
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut pem = Vec::new();
    for certificate in bundle.certificates() {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let body = base64.encode(certificate.as_ref());
        for line in body.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

/// The user's impersonation (`as`, `as-uid`, `as-groups`, `as-user-extra`) as the
/// `Impersonate-*` headers client-go sends (`transport.ImpersonationConfig`).
///
/// # Errors
///
/// *Failed* when groups or extras are asked for without `as` (client-go refuses it too).
fn impersonate(
    mut endpoint: Endpoint,
    name: &str,
    user: &Defined<User>,
) -> Result<Endpoint, SourceError> {
    let u = &user.value;
    let impersonated = u.impersonate.as_deref().filter(|s| !s.is_empty());
    let Some(impersonated) = impersonated else {
        let uid = u.impersonate_uid.as_deref().is_some_and(|s| !s.is_empty());
        if uid || !u.impersonate_groups.is_empty() || !u.impersonate_user_extra.is_empty() {
            // client-go: "requesting uid, groups or user-extra for … without impersonating a user".
            return Err(SourceError::InvalidFile {
                what: "kubeconfig",
                path: user.file.clone(),
                problem: format!(
                    "user \"{}\" asks for as-uid, as-groups or as-user-extra without impersonating a user (as)",
                    kubecred_core::Shown::text(name)
                ),
            });
        }
        return Ok(endpoint);
    };
    endpoint = endpoint.with_header("Impersonate-User", impersonated);
    if let Some(uid) = u.impersonate_uid.as_deref().filter(|s| !s.is_empty()) {
        endpoint = endpoint.with_header("Impersonate-Uid", uid);
    }
    for group in &u.impersonate_groups {
        endpoint = endpoint.with_header("Impersonate-Group", group.as_str());
    }
    for (key, values) in &u.impersonate_user_extra {
        let header = format!("Impersonate-Extra-{}", escape_header_key(key));
        for value in values {
            endpoint = endpoint.with_header(header.clone(), value.as_str());
        }
    }
    Ok(endpoint)
}

/// An extra's key as a header name: the bytes a header token cannot carry (and `%`) are
/// percent-encoded, as client-go's `headerKeyEscape` does.
fn escape_header_key(key: &str) -> String {
    let mut escaped = String::with_capacity(key.len());
    for byte in key.bytes() {
        let legal = byte.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&byte);
        if legal {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}
