//! The kubeconfig's shape (client-go's `clientcmd/api/v1` types, the fields kubecred reads):
//! every user secret is a [`SecretString`] from the moment it is parsed.
//!
//! Fields kubecred does not read (`preferences`, `extensions` outside a cluster, `kind`,
//! `apiVersion`, and any unknown field) are accepted and ignored, as client-go's decoder does.
//! A list or map written as `null` (what `kubectl config view` prints for an empty one) is
//! empty.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// One kubeconfig file as written.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Kubeconfig {
    #[serde(default, deserialize_with = "null_is_empty")]
    pub(crate) clusters: Vec<Named<Cluster>>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub(crate) users: Vec<Named<User>>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub(crate) contexts: Vec<Named<Context>>,
    #[serde(default, rename = "current-context")]
    pub(crate) current_context: Option<String>,
}

impl Kubeconfig {
    /// client-go's "empty config" (`IsConfigEmpty`) as far as reaching a server goes: no
    /// cluster, user or context, and no `current-context`.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.clusters.is_empty()
            && self.users.is_empty()
            && self.contexts.is_empty()
            && self.current_context.as_deref().is_none_or(str::is_empty)
    }
}

/// A list entry: `name` and the entry under the kind's own key (`cluster`, `user`, `context`).
#[derive(Debug)]
pub(crate) struct Named<T> {
    pub(crate) name: String,
    pub(crate) value: T,
}

/// `Deserialize` for `Named<$kind>`: the entry sits under the key `$key`.
macro_rules! named {
    ($($kind:ty => $key:literal),*) => {$(
        impl<'de> Deserialize<'de> for Named<$kind> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                struct Raw {
                    #[serde(default)]
                    name: String,
                    #[serde(default, rename = $key)]
                    value: Option<$kind>,
                }
                let raw = Raw::deserialize(deserializer)?;
                Ok(Named {
                    name: raw.name,
                    value: raw.value.unwrap_or_default(),
                })
            }
        }
    )*};
}

named!(Cluster => "cluster", User => "user", Context => "context");

/// The entry kinds of a kubeconfig, for messages.
pub(crate) trait Entry {
    /// `cluster`, `user` or `context`.
    const KIND: &'static str;
}

impl Entry for Cluster {
    const KIND: &'static str = "cluster";
}
impl Entry for User {
    const KIND: &'static str = "user";
}
impl Entry for Context {
    const KIND: &'static str = "context";
}

/// A cluster: where the API server is and how to trust it. `Debug` redacts the proxy URL's
/// password.
#[derive(Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Cluster {
    pub(crate) server: Option<String>,
    pub(crate) tls_server_name: Option<String>,
    #[serde(default)]
    pub(crate) insecure_skip_tls_verify: bool,
    pub(crate) certificate_authority: Option<String>,
    pub(crate) certificate_authority_data: Option<String>,
    pub(crate) proxy_url: Option<String>,
    #[serde(default)]
    pub(crate) disable_compression: bool,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub(crate) extensions: Vec<NamedExtension>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field(
                "server",
                &self
                    .server
                    .as_deref()
                    .map(kubecred_core::RedactedUrl::unparsed),
            )
            .field("tls_server_name", &self.tls_server_name)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("certificate_authority", &self.certificate_authority)
            .field(
                "certificate_authority_data",
                &self.certificate_authority_data.is_some(),
            )
            .field(
                "proxy_url",
                &self
                    .proxy_url
                    .as_deref()
                    .map(kubecred_core::RedactedUrl::unparsed),
            )
            .field("disable_compression", &self.disable_compression)
            .finish_non_exhaustive()
    }
}

/// A cluster's extension (`client.authentication.k8s.io/exec` is handed to exec plugins).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct NamedExtension {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) extension: Option<serde_json::Value>,
}

/// A context: a cluster, a user and a namespace, by name.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct Context {
    #[serde(default)]
    pub(crate) cluster: String,
    #[serde(default)]
    pub(crate) user: String,
    pub(crate) namespace: Option<String>,
}

/// A user (client-go's `AuthInfo`). `Debug` shows which fields are set, never a secret.
#[derive(Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct User {
    pub(crate) client_certificate: Option<String>,
    pub(crate) client_certificate_data: Option<String>,
    pub(crate) client_key: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    pub(crate) client_key_data: Option<SecretString>,
    #[serde(default, deserialize_with = "secret")]
    pub(crate) token: Option<SecretString>,
    #[serde(rename = "tokenFile")]
    pub(crate) token_file: Option<String>,
    #[serde(rename = "as")]
    pub(crate) impersonate: Option<String>,
    #[serde(rename = "as-uid")]
    pub(crate) impersonate_uid: Option<String>,
    #[serde(rename = "as-groups", default, deserialize_with = "null_is_empty")]
    pub(crate) impersonate_groups: Vec<String>,
    #[serde(rename = "as-user-extra", default, deserialize_with = "null_is_empty")]
    pub(crate) impersonate_user_extra: BTreeMap<String, Vec<String>>,
    #[serde(default, deserialize_with = "secret")]
    pub(crate) username: Option<SecretString>,
    #[serde(default, deserialize_with = "secret")]
    pub(crate) password: Option<SecretString>,
    pub(crate) auth_provider: Option<AuthProvider>,
    pub(crate) exec: Option<Exec>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |value: bool| if value { "[set]" } else { "[unset]" };
        f.debug_struct("User")
            .field("client_certificate", &self.client_certificate)
            .field(
                "client_certificate_data",
                &set(self.client_certificate_data.is_some()),
            )
            .field("client_key", &self.client_key)
            .field("client_key_data", &set(self.client_key_data.is_some()))
            .field("token", &set(self.token.is_some()))
            .field("token_file", &self.token_file)
            .field("username", &set(self.username.is_some()))
            .field("password", &set(self.password.is_some()))
            .field(
                "auth_provider",
                &self.auth_provider.as_ref().map(|p| &p.name),
            )
            .field("exec", &self.exec.as_ref().map(|e| &e.command))
            .finish_non_exhaustive()
    }
}

/// A legacy in-tree authentication provider (`gcp`, `azure`, `oidc`): refused, naming its
/// replacement. Its `config` (which holds tokens) is never read.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AuthProvider {
    #[serde(default)]
    pub(crate) name: String,
}

/// An exec credential plugin (`client.authentication.k8s.io/v1` and `v1beta1`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Exec {
    #[serde(default)]
    pub(crate) command: String,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub(crate) args: Vec<String>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub(crate) env: Vec<ExecEnv>,
    #[serde(default)]
    pub(crate) api_version: String,
    pub(crate) install_hint: Option<String>,
    #[serde(default)]
    pub(crate) provide_cluster_info: bool,
    pub(crate) interactive_mode: Option<String>,
}

/// One variable an exec plugin gets on top of the process environment. Its value is not
/// shown by `Debug` (plugins are sometimes handed secrets this way).
#[derive(Clone, Deserialize)]
pub(crate) struct ExecEnv {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) value: String,
}

impl fmt::Debug for ExecEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecEnv")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `null` (or an absent key) is the empty list or map.
fn null_is_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A secret string, held as a [`SecretString`] at once; an empty one is unset.
fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?
        .filter(|value| !value.is_empty())
        .map(SecretString::from))
}
