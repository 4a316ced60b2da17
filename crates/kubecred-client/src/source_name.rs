//! [`SourceName`]: the sources kubecred ships, by the names every message uses.

use std::fmt;
use std::str::FromStr;

/// The sources kubecred ships, as named in every message, in `explain` and on the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceName {
    /// The `KUBE_*` environment variables (crate `kubecred-env`).
    #[cfg(feature = "env")]
    Env,
    /// The user's kubeconfig: `ClientBuilder::kubeconfig`, else `KUBECONFIG`, else
    /// `~/.kube/config`, with exec credential plugins (crate `kubecred-kubeconfig`).
    #[cfg(feature = "kubeconfig")]
    Kubeconfig,
    /// The pod's service account and `KUBERNETES_SERVICE_*` (crate `kubecred-incluster`).
    #[cfg(feature = "incluster")]
    InCluster,
    /// A running `kubectl proxy` (crate `kubecred-proxy`).
    #[cfg(feature = "proxy")]
    Proxy,
}

impl SourceName {
    /// The default chain, in order (only the sources compiled in): env → kubeconfig →
    /// in-cluster → proxy. Explicit beats implicit: variables set for this program, then the
    /// user's kubeconfig (as in kubectl, client-go's deferred loading and kube-rs, a
    /// kubeconfig beats the pod's identity), then the pod's service account, then probing for
    /// `kubectl proxy`.
    pub const DEFAULT_CHAIN: &'static [SourceName] = &[
        #[cfg(feature = "env")]
        SourceName::Env,
        #[cfg(feature = "kubeconfig")]
        SourceName::Kubeconfig,
        #[cfg(feature = "incluster")]
        SourceName::InCluster,
        #[cfg(feature = "proxy")]
        SourceName::Proxy,
    ];

    /// The name: `env`, `kubeconfig`, `in-cluster`, `proxy`.
    pub fn as_str(self) -> &'static str {
        match self {
            #[cfg(feature = "env")]
            SourceName::Env => "env",
            #[cfg(feature = "kubeconfig")]
            SourceName::Kubeconfig => "kubeconfig",
            #[cfg(feature = "incluster")]
            SourceName::InCluster => "in-cluster",
            #[cfg(feature = "proxy")]
            SourceName::Proxy => "proxy",
        }
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceName {
    type Err = String;

    /// Parses a name of [`SourceName::DEFAULT_CHAIN`]; the error lists the known names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceName::DEFAULT_CHAIN
            .iter()
            .copied()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = SourceName::DEFAULT_CHAIN
                    .iter()
                    .map(|n| n.as_str())
                    .collect();
                format!("unknown source {s:?} (known: {})", known.join(", "))
            })
    }
}
