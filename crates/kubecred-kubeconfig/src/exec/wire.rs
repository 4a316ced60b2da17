//! The `ExecCredential` wire format: the request kubecred hands a plugin in
//! `KUBERNETES_EXEC_INFO`, and the credential the plugin prints on stdout.
//!
//! The shapes are client-go's `client.authentication.k8s.io` types (`ExecCredential`,
//! `ExecCredentialSpec`, `Cluster`, `ExecCredentialStatus`), identical in `v1` and `v1beta1`.

use std::time::{Duration, SystemTime};

use kubecred_core::{check_token, ClientIdentity, Credentials, Origin, Shown, SourceError};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

use super::{ClusterInfo, Failure};

/// The `kind` of both the request and the response.
const KIND: &str = "ExecCredential";

/// The request, as JSON: `apiVersion`, `kind`, `spec.interactive`, and `spec.cluster` only
/// when `cluster` is given (a kubeconfig's `provideClusterInfo: true`). Field names are
/// client-go's JSON tags; empty optional fields are left out, as Go's `omitempty` does.
pub(super) fn request_json(
    api_version: &str,
    interactive: bool,
    cluster: Option<&ClusterInfo>,
) -> String {
    let mut spec = serde_json::Map::new();
    if let Some(cluster) = cluster {
        let mut c = serde_json::Map::new();
        c.insert("server".into(), cluster.server.clone().into());
        if let Some(name) = &cluster.tls_server_name {
            c.insert("tls-server-name".into(), name.clone().into());
        }
        if cluster.insecure_skip_tls_verify {
            c.insert("insecure-skip-tls-verify".into(), true.into());
        }
        if let Some(ca) = &cluster.certificate_authority_data {
            c.insert("certificate-authority-data".into(), ca.clone().into());
        }
        if let Some(proxy) = &cluster.proxy_url {
            c.insert("proxy-url".into(), proxy.clone().into());
        }
        if cluster.disable_compression {
            c.insert("disable-compression".into(), true.into());
        }
        if let Some(config) = &cluster.config {
            c.insert("config".into(), config.clone());
        }
        spec.insert("cluster".into(), c.into());
    }
    spec.insert("interactive".into(), interactive.into());
    serde_json::json!({ "apiVersion": api_version, "kind": KIND, "spec": spec }).to_string()
}

/// What a plugin printed.
#[derive(Deserialize)]
struct Response {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    expiration_timestamp: Option<String>,
    token: Option<Secret>,
    client_certificate_data: Option<String>,
    client_key_data: Option<Secret>,
}

/// A string that is a [`SecretString`] from the moment it is decoded.
struct Secret(SecretString);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Secret(SecretString::from(s)))
    }
}

impl Secret {
    /// `None` for an empty value, as client-go treats `""`.
    fn non_empty(self) -> Option<SecretString> {
        (!self.0.expose_secret().is_empty()).then_some(self.0)
    }
}

/// What [`parse_output`] decoded: the credentials, and the `status` fields they came from
/// (for the exec cache, which stores them as an `ExecCredential` of its own).
pub(super) struct Decoded {
    pub(super) credentials: Credentials,
    pub(super) status: StatusFields,
}

/// The `status` fields of a decoded `ExecCredential` that make up its credential (the expiry
/// is the credentials'): what a cache entry holds. No `Debug`: it holds secrets.
pub(super) struct StatusFields {
    token: Option<SecretString>,
    certificate: Option<String>,
    key: Option<SecretString>,
}

/// Decodes a plugin's stdout into credentials: an `ExecCredential` of `api_version`, JSON or
/// (as client-go's decoder accepts) YAML, holding `status.token`, or
/// `status.clientCertificateData` with `status.clientKeyData`, or all three;
/// `status.expirationTimestamp` (RFC 3339) becomes [`Credentials::expires_at`] (`None`
/// without it, even for a JWT with an `exp`: client-go uses only the timestamp).
///
/// # Errors
///
/// A [`Failure`] naming the plugin's `command` and what is wrong: output that does not
/// decode (with line and column, never quoting it) or nests `[`/`{` deeper than
/// [`MAX_FLOW_NESTING`](crate::parse::MAX_FLOW_NESTING) (refused before it is decoded), another `apiVersion` (naming both) or
/// `kind`, no `status`, neither a token nor a certificate and key, one of the pair without
/// the other, an unusable token, certificate or key, a timestamp that is not RFC 3339. No
/// message quotes a value the plugin printed but its `apiVersion` (bounded and escaped,
/// as [`Shown`] does).
pub(super) fn parse_output(
    stdout: &[u8],
    api_version: &str,
    command: &str,
) -> Result<Decoded, Failure> {
    let fail = |problem: String| Failure::new(command, problem);
    let response = decode(stdout).map_err(fail)?;
    match response.api_version.as_deref() {
        Some(got) if got == api_version => {}
        Some(got) => {
            return Err(fail(format!(
                "printed an ExecCredential of apiVersion {}, but the kubeconfig asks for {api_version}",
                Shown::text(got)
            )))
        }
        None => {
            return Err(fail(format!(
                "printed output without an apiVersion (the kubeconfig asks for an ExecCredential of {api_version})"
            )))
        }
    }
    if response.kind.as_deref() != Some(KIND) {
        return Err(fail(format!(
            "printed a {api_version} object whose kind is not ExecCredential"
        )));
    }
    let status = response.status.ok_or_else(|| {
        fail("printed an ExecCredential without a status (no token, no certificate)".to_owned())
    })?;
    let token = status.token.and_then(Secret::non_empty);
    let certificate = status.client_certificate_data.filter(|c| !c.is_empty());
    let key = status.client_key_data.and_then(Secret::non_empty);
    let fields = StatusFields {
        token: token.clone(),
        certificate: certificate.clone(),
        key: key.clone(),
    };
    let identity = match (certificate, key) {
        (Some(certificate), Some(key)) => Some(
            ClientIdentity::from_pem(
                certificate.as_bytes(),
                Origin::Code,
                key.expose_secret().as_bytes(),
                Origin::Code,
            )
            .map_err(|e| fail(identity_problem(&e)))?,
        ),
        (Some(_), None) => return Err(fail(
            "printed status.clientCertificateData without status.clientKeyData (both or neither)"
                .to_owned(),
        )),
        (None, Some(_)) => return Err(fail(
            "printed status.clientKeyData without status.clientCertificateData (both or neither)"
                .to_owned(),
        )),
        (None, None) => None,
    };
    let expires_at = match status.expiration_timestamp.as_deref() {
        Some(text) if !text.trim().is_empty() => Some(parse_rfc3339(text).ok_or_else(|| {
            fail("printed a status.expirationTimestamp that is not an RFC 3339 time".to_owned())
        })?),
        _ => None,
    };
    let credentials = match (token, identity) {
        (Some(token), identity) => {
            check_token(token.expose_secret(), Origin::Code).map_err(|_| {
                fail("printed a status.token that an HTTP Authorization header cannot carry (spaces, control characters or non-ASCII)".to_owned())
            })?;
            let credentials = Credentials::bearer(token);
            match identity {
                Some(identity) => credentials.with_identity(identity),
                None => credentials,
            }
        }
        (None, Some(identity)) => Credentials::client_certificate(identity),
        (None, None) => {
            return Err(fail(
                "printed an ExecCredential with neither status.token nor status.clientCertificateData and clientKeyData"
                    .to_owned(),
            ))
        }
    };
    Ok(Decoded {
        credentials: credentials.with_expiry(expires_at),
        status: fields,
    })
}

/// An `ExecCredential` of `api_version` holding `status` and `expires_at` as its
/// `expirationTimestamp` (RFC 3339, UTC, with a fraction of a second only when it has one), as JSON in a buffer that is
/// zeroed when dropped: an exec cache entry, which [`parse_output`] reads back. Nothing else
/// goes in (no `spec`, nothing naming the machine).
pub(super) fn entry_json(
    api_version: &str,
    status: &StatusFields,
    expires_at: SystemTime,
) -> Zeroizing<Vec<u8>> {
    #[derive(Serialize)]
    struct Entry<'a> {
        #[serde(rename = "apiVersion")]
        api_version: &'a str,
        kind: &'static str,
        status: Fields<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Fields<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_certificate_data: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_key_data: Option<&'a str>,
        expiration_timestamp: String,
    }
    let token = status.token.as_ref().map(|t| t.expose_secret());
    let key = status.key.as_ref().map(|k| k.expose_secret());
    let certificate = status.certificate.as_deref();
    let entry = Entry {
        api_version,
        kind: KIND,
        status: Fields {
            token,
            client_certificate_data: certificate,
            client_key_data: key,
            expiration_timestamp: humantime::format_rfc3339(expires_at).to_string(),
        },
    };
    // Room for every escape JSON may add to PEM's newlines, so that the buffer never grows:
    // a grown buffer would leave an unzeroed copy of the secrets behind.
    let secrets = [token, key, certificate]
        .iter()
        .flatten()
        .map(|s| s.len())
        .sum::<usize>();
    let mut buffer = Zeroizing::new(Vec::with_capacity(2 * secrets + 512 + api_version.len()));
    serde_json::to_writer(&mut *buffer, &entry).expect("writing JSON to a Vec cannot fail");
    buffer
}

/// JSON when the output starts with `{`, else YAML (of which JSON is a subset, so client-go's
/// YAML-or-JSON decoder reads both). The decoders' own messages may quote the input: only
/// their line and column are kept.
fn decode(stdout: &[u8]) -> Result<Response, String> {
    let start = stdout
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(stdout.len());
    if start == stdout.len() {
        return Err("printed nothing on stdout (an ExecCredential was expected)".to_owned());
    }
    let not_credential = |at: Option<(usize, usize)>| {
        let at = at
            .map(|(line, column)| format!(" (at line {line}, column {column})"))
            .unwrap_or_default();
        format!("printed output that is not an ExecCredential in JSON or YAML{at}")
    };
    if let Err(line) = crate::parse::check_nesting(stdout) {
        return Err(format!(
            "printed output that nests flow collections ([ and {{) more than {} levels deep (at line {line})",
            crate::parse::MAX_FLOW_NESTING
        ));
    }
    if stdout[start] == b'{' {
        serde_json::from_slice(stdout).map_err(|e| not_credential(Some((e.line(), e.column()))))
    } else {
        serde_norway::from_slice(stdout)
            .map_err(|e| not_credential(e.location().map(|l| (l.line(), l.column()))))
    }
}

/// The problem of a certificate or key [`ClientIdentity::from_pem`] refused, without the
/// "from value given in code" of its message.
fn identity_problem(error: &SourceError) -> String {
    match error {
        SourceError::InvalidClientIdentity { problem, .. } => {
            format!("printed an unusable client certificate and key: one {problem}")
        }
        _ => "printed an unusable client certificate and key".to_owned(),
    }
}

/// An RFC 3339 time (`2026-01-02T03:04:05Z`, fractions of a second and a `+hh:mm`/`-hh:mm`
/// offset allowed, `t` and `z` in either case), as Go's `time.RFC3339` reads it; `None` for
/// anything else or a time before 1970.
pub(super) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim().to_ascii_uppercase();
    let (utc, offset_secs) = if let Some(local) = text.strip_suffix('Z') {
        (format!("{local}Z"), 0i64)
    } else {
        let split = text.len().checked_sub(6)?;
        let (local, offset) = (text.get(..split)?, text.get(split..)?);
        let b = offset.as_bytes();
        let sign = match b[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        if b[3] != b':' || !b[1..3].iter().chain(&b[4..6]).all(u8::is_ascii_digit) {
            return None;
        }
        let hours = i64::from(b[1] - b'0') * 10 + i64::from(b[2] - b'0');
        let minutes = i64::from(b[4] - b'0') * 10 + i64::from(b[5] - b'0');
        if hours > 23 || minutes > 59 {
            return None;
        }
        (format!("{local}Z"), sign * (hours * 3600 + minutes * 60))
    };
    if utc.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let local = humantime::parse_rfc3339(&utc).ok()?;
    // Local time = UTC + offset, so UTC = local - offset.
    let shift = Duration::from_secs(offset_secs.unsigned_abs());
    if offset_secs >= 0 {
        local.checked_sub(shift)
    } else {
        local.checked_add(shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn rfc3339_times_with_offsets_and_fractions() {
        let t = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
        let base = Duration::from_secs(1_800_000_000);
        assert_eq!(t("2027-01-15T08:00:00Z"), Some(base));
        assert_eq!(t("2027-01-15t08:00:00z"), Some(base));
        assert_eq!(t("2027-01-15T10:30:00+02:30"), Some(base));
        assert_eq!(t("2027-01-15T07:00:00-01:00"), Some(base));
        assert_eq!(
            t("2027-01-15T08:00:00.25Z"),
            Some(base + Duration::from_millis(250))
        );
        for bad in [
            "",
            "2027-01-15",
            "2027-01-15 08:00:00Z",
            "2027-01-15T08:00:00",
            "2027-01-15T08:00:00+2:00",
            "2027-01-15T08:00:00+24:00",
            "tomorrow",
            "2027-13-15T08:00:00Z",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_request_has_the_cluster_only_when_given() {
        let cluster = ClusterInfo {
            server: "https://127.0.0.1:6443/prefix".to_owned(),
            tls_server_name: None,
            insecure_skip_tls_verify: false,
            certificate_authority_data: Some("Q0E=".to_owned()),
            proxy_url: None,
            disable_compression: false,
            config: None,
        };
        let with: serde_json::Value =
            serde_json::from_str(&request_json("v", true, Some(&cluster))).unwrap();
        assert_eq!(
            with,
            serde_json::json!({"apiVersion": "v", "kind": "ExecCredential", "spec": {
                "interactive": true,
                "cluster": {"server": "https://127.0.0.1:6443/prefix", "certificate-authority-data": "Q0E="}
            }})
        );
        let without: serde_json::Value =
            serde_json::from_str(&request_json("v", false, None)).unwrap();
        assert_eq!(
            without,
            serde_json::json!({"apiVersion": "v", "kind": "ExecCredential", "spec": {"interactive": false}})
        );
    }
}
