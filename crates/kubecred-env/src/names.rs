//! The variable names under a prefix (`KUBE` by default).

/// Every variable of the env source's table, under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) host: String,
    pub(crate) token: String,
    pub(crate) token_file: String,
    pub(crate) ca_data: String,
    pub(crate) ca_file: String,
    pub(crate) cert_data: String,
    pub(crate) cert_file: String,
    pub(crate) key_data: String,
    pub(crate) key_file: String,
    pub(crate) tls_server_name: String,
    pub(crate) insecure: String,
    pub(crate) namespace: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Self {
        let name = |suffix: &str| format!("{prefix}_{suffix}");
        Self {
            host: name("HOST"),
            token: name("TOKEN"),
            token_file: name("TOKEN_FILE"),
            ca_data: name("CLUSTER_CA_CERT_DATA"),
            ca_file: name("CLUSTER_CA_CERT_FILE"),
            cert_data: name("CLIENT_CERT_DATA"),
            cert_file: name("CLIENT_CERT_FILE"),
            key_data: name("CLIENT_KEY_DATA"),
            key_file: name("CLIENT_KEY_FILE"),
            tls_server_name: name("TLS_SERVER_NAME"),
            insecure: name("INSECURE"),
            namespace: name("NAMESPACE"),
        }
    }

    /// The variables that need `_HOST`: all but `_HOST` and `_NAMESPACE`.
    pub(crate) fn needing_host(&self) -> [&str; 10] {
        [
            &self.token,
            &self.token_file,
            &self.ca_data,
            &self.ca_file,
            &self.cert_data,
            &self.cert_file,
            &self.key_data,
            &self.key_file,
            &self.tls_server_name,
            &self.insecure,
        ]
    }

    /// The `_DATA`/`_FILE` (and token/token file) twins: setting both is a conflict.
    pub(crate) fn twins(&self) -> [(&str, &str); 4] {
        [
            (&self.token, &self.token_file),
            (&self.ca_data, &self.ca_file),
            (&self.cert_data, &self.cert_file),
            (&self.key_data, &self.key_file),
        ]
    }
}
