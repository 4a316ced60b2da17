//! The real `kubectl proxy`, pointed at a stand-in API server.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{kubeconfig_yaml, ApiServer, Error};

/// Where `kubectl proxy` listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyListen {
    /// `127.0.0.1`, on an ephemeral port (`--port=0`).
    Loopback,
    /// `[::1]`, on an ephemeral port (`--address=[::1] --port=0`).
    LoopbackIpv6,
    /// `127.0.0.1:8001`, kubectl's default address.
    DefaultPort,
    /// A unix socket in the proxy's temporary directory (`--unix-socket`).
    UnixSocket,
}

/// A running `kubectl proxy` (the real binary, from `PATH`) whose kubeconfig points at an
/// [`ApiServer`] with a token of its own, so that tests can tell its requests from theirs.
///
/// It is ready when [`KubectlProxy::start`] returns: kubectl has printed its "Starting to
/// serve on" line. Dropping it kills the process and removes its kubeconfig.
#[derive(Debug)]
pub struct KubectlProxy {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl KubectlProxy {
    /// Starts `kubectl proxy` for `server`, authenticating upstream with `token` (register it
    /// on the server first, e.g. with [`ApiServer::add_token`]).
    ///
    /// # Errors
    ///
    /// [`Error::Kubectl`] when kubectl is not on `PATH`, or exits before serving (its stderr
    /// is in the message: e.g. the port is in use).
    pub fn start(server: &ApiServer, token: &str, listen: ProxyListen) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("kubecred-kubectl-proxy-")
            .tempdir()
            .map_err(|e| kubectl_error(format!("cannot make a temporary directory: {e}")))?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(server, token))
            .map_err(|e| kubectl_error(format!("cannot write the kubeconfig: {e}")))?;
        let socket = dir.path().join("proxy.sock");
        let mut command = Command::new("kubectl");
        #[allow(clippy::disallowed_methods)] // kubectl gets our PATH, and no other variable
        command
            .arg("proxy")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match listen {
            ProxyListen::Loopback => command.arg("--port=0"),
            ProxyListen::LoopbackIpv6 => command.args(["--address=[::1]", "--port=0"]),
            ProxyListen::DefaultPort => command.arg("--port=8001"),
            ProxyListen::UnixSocket => command.arg(format!("--unix-socket={}", socket.display())),
        };
        let mut child = command.spawn().map_err(|e| {
            kubectl_error(format!(
                "cannot run kubectl (is it installed and on PATH? Debian: apt-get install kubernetes-client): {e}"
            ))
        })?;
        // Drain both pipes for the process's life, so kubectl never blocks on a full pipe.
        let stderr = child.stderr.take().map(|pipe| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = BufReader::new(pipe).read_to_string(&mut text);
                text
            })
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let served = line
            .trim()
            .strip_prefix("Starting to serve on ")
            .map(str::to_owned);
        let Some(address) = served.filter(|_| read.is_ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
            return Err(kubectl_error(format!(
                "it did not start serving (stdout {:?}, stderr {:?})",
                line.trim(),
                stderr.trim()
            )));
        };
        let url = match listen {
            ProxyListen::UnixSocket => format!("unix://{}", socket.display()),
            ProxyListen::LoopbackIpv6 => format!("http://[::1]:{}", port_of(&address)?),
            _ => format!("http://127.0.0.1:{}", port_of(&address)?),
        };
        Ok(Self { child, url, dir })
    }

    /// Where it serves, as kubecred's `--proxy-url` takes it: `http://127.0.0.1:PORT`,
    /// `http://[::1]:PORT` or `unix:///…/proxy.sock`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig kubectl was given.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The temporary directory holding the kubeconfig (and the unix socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for KubectlProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kubectl_error(problem: String) -> Error {
    Error::Kubectl { problem }
}

/// The port of kubectl's "Starting to serve on 127.0.0.1:PORT" (or `[::1]:PORT`).
fn port_of(address: &str) -> Result<u16, Error> {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .ok_or_else(|| kubectl_error(format!("cannot read a port from {address:?}")))
}
