//! A pod for library tests: the stand-in API server, a kubelet-style service-account
//! directory, and the kubelet's variables in an injected environment.

use std::sync::Arc;

use kubecred_client::{Client, ClientBuilder};
use kubecred_core::MapEnvironment;
use kubecred_testing::{ApiServer, ServiceAccountDir, ServiceAccountFiles};

/// The pod's token (opaque, distinctive: the no-secret test searches for it).
pub(crate) const TOKEN: &str = "kubecred-test-token-3f9a0c7e1b";
/// The token after a rotation.
pub(crate) const ROTATED_TOKEN: &str = "kubecred-test-token-rotated-8d2e";

pub(crate) struct Pod {
    pub(crate) server: ApiServer,
    pub(crate) dir: ServiceAccountDir,
    pub(crate) env: MapEnvironment,
}

impl Pod {
    pub(crate) fn new() -> Self {
        Self::with_server(ApiServer::builder().token("pod", TOKEN).start().unwrap())
    }

    pub(crate) fn with_server(server: ApiServer) -> Self {
        Self::with_server_and_token(server, &format!("{TOKEN}\n"))
    }

    /// A pod whose token file holds `token`.
    pub(crate) fn with_server_and_token(server: ApiServer, token: &str) -> Self {
        let dir = ServiceAccountDir::new(
            &ServiceAccountFiles::new()
                .token(token)
                .ca_crt(server.ca_pem())
                .namespace("team-a"),
        )
        .unwrap();
        let env = MapEnvironment::new([
            ("KUBERNETES_SERVICE_HOST", server.host()),
            ("KUBERNETES_SERVICE_PORT", server.port().to_string()),
        ]);
        Self { server, dir, env }
    }

    pub(crate) fn builder(&self) -> ClientBuilder {
        Client::builder()
            .environment(Arc::new(self.env.clone()))
            .serviceaccount_dir(self.dir.path())
    }

    pub(crate) async fn client(&self) -> Client {
        self.builder().build().await.unwrap()
    }

    /// Rotates the token as the kubelet does (atomic `..data` swap).
    pub(crate) fn rotate_token(&self, token: &str) {
        self.dir
            .update(
                &ServiceAccountFiles::new()
                    .token(token)
                    .ca_crt(self.server.ca_pem())
                    .namespace("team-a"),
            )
            .unwrap();
    }
}

/// A `kubectl proxy` URL where nothing listens, for tests that expect nothing to apply.
pub(crate) fn closed_proxy_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}
