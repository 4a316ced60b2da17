//! A pod for library tests: the stand-in API server, a kubelet-style service-account
//! directory, and the kubelet's variables in an injected environment.

use std::sync::Arc;

use kubecred_client::{Client, ClientBuilder};
use kubecred_core::MapEnvironment;
use kubecred_testing::ApiServer;

/// The pod's token (opaque, distinctive: the no-secret test searches for it).
pub(crate) const TOKEN: &str = "kubecred-test-token-3f9a0c7e1b";
/// The token after a rotation.
pub(crate) const ROTATED_TOKEN: &str = "kubecred-test-token-rotated-8d2e";

/// A [`kubecred_testing::Pod`] (the server accepts [`TOKEN`], label `pod`; namespace
/// `team-a`) with its kubelet variables as an injected environment, and a client builder for it.
pub(crate) struct Pod {
    pod: kubecred_testing::Pod,
    pub(crate) env: MapEnvironment,
}

impl Pod {
    pub(crate) fn new() -> Self {
        Self::of(kubecred_testing::Pod::builder().token("pod", TOKEN))
    }

    pub(crate) fn with_server(server: ApiServer) -> Self {
        Self::with_server_and_token(server, &format!("{TOKEN}\n"))
    }

    /// A pod whose token file holds `token`.
    pub(crate) fn with_server_and_token(server: ApiServer, token: &str) -> Self {
        Self::of(
            kubecred_testing::Pod::builder()
                .server(server)
                .token_file(token),
        )
    }

    fn of(builder: kubecred_testing::PodBuilder) -> Self {
        let pod = builder.start().unwrap();
        let env = MapEnvironment::new(pod.kubelet_vars());
        Self { pod, env }
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
        self.pod.rotate_token(token).unwrap();
    }
}

/// The server and the directory, as `pod.server` and `pod.dir`.
impl std::ops::Deref for Pod {
    type Target = kubecred_testing::Pod;

    fn deref(&self) -> &kubecred_testing::Pod {
        &self.pod
    }
}

/// A `kubectl proxy` URL where nothing listens, for tests that expect nothing to apply.
pub(crate) fn closed_proxy_url() -> String {
    kubecred_testing::closed_proxy_url().unwrap()
}
