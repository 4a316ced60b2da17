//! The rustls configuration and the reqwest client an endpoint and its credentials call for.
//!
//! One crypto provider, `ring`, built explicitly into every configuration: never
//! `install_default`, never a second provider linked.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use kubecred_core::{
    CaBundle, CaFile, ClientIdentity, Credentials, Endpoint, Origin, SourceError, Trust,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The handshake-signature methods of a `ServerCertVerifier` whose provider is
/// `self.provider()`: the provider's own algorithms, as rustls's webpki verifier does.
macro_rules! handshake_signatures_by_provider {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider().signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider().signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

/// The handshake-signature methods of a verifier that wraps another (`self.inner`): they are
/// the wrapped verifier's, only the certificate check differs.
macro_rules! handshake_signatures_by_inner {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    };
}

/// Why a TLS configuration or an HTTP client could not be made.
#[derive(Debug)]
pub(crate) enum SetupError {
    /// What the source resolved to is unusable (its CA bundle, server name, client
    /// certificate, proxy): the source is *failed*, naming the variable or file.
    Source(SourceError),
    /// kubecred itself could not set up its transport (the crypto provider, reqwest): not the
    /// source's fault, and not a refusal.
    Internal(String),
}

impl From<SourceError> for SetupError {
    fn from(error: SourceError) -> Self {
        SetupError::Source(error)
    }
}

/// The crypto provider of the whole workspace.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS configuration for `endpoint`: its trust, its server name override, and the client
/// certificate of `credentials` if any.
///
/// # Errors
///
/// [`SetupError::Source`] when the endpoint's trust, server name or the credentials' client
/// certificate is unusable; [`SetupError::Internal`] when the crypto provider offers no TLS
/// version.
pub(crate) fn tls_config(
    endpoint: &Endpoint,
    credentials: &Arc<Credentials>,
) -> Result<Tls, SetupError> {
    let provider = provider();
    let mut verifier = server_verifier(endpoint.trust(), &provider)?;
    if let Some(name) = endpoint.tls_server_name() {
        let name = ServerName::try_from(name.to_owned()).map_err(|_| SourceError::Refused {
            reason: "the TLS server name is not a DNS name or an IP address".to_owned(),
        })?;
        verifier = Arc::new(ServerNameOverride {
            inner: verifier,
            name,
        });
    }
    let rejected = Arc::new(Rejected::default());
    let verifier = Arc::new(Recording {
        inner: verifier,
        rejected: Arc::clone(&rejected),
    });
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            SetupError::Internal(format!("the crypto provider supports no TLS version ({e})"))
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match credentials.identity() {
        Some(identity) => {
            let key = certified_key(identity, &provider)?;
            let resolver = Arc::new(IdentityResolver {
                current: ArcSwap::from_pointee((Arc::clone(credentials), Arc::new(key))),
            });
            let config = builder.with_client_cert_resolver(Arc::clone(&resolver) as _);
            Ok(Tls {
                config,
                identity: Some(resolver),
                rejected,
            })
        }
        None => Ok(Tls {
            config: builder.with_no_client_auth(),
            identity: None,
            rejected,
        }),
    }
}

/// What [`tls_config`] makes: the configuration, its client-certificate resolver (when the
/// credentials carry a certificate) and the slot where its verifier leaves the last
/// certificate it refused.
pub(crate) struct Tls {
    pub(crate) config: ClientConfig,
    pub(crate) identity: Option<Arc<IdentityResolver>>,
    pub(crate) rejected: Arc<Rejected>,
}

/// The last server certificate the client's verifier refused, kept so that the error can say
/// in words what it holds (rustls's error does not carry the certificate). Written only when a
/// handshake fails: nothing on a successful one. Concurrent failures of one client are
/// handshakes with the same endpoint; the error names the last one's certificate.
#[derive(Debug, Default)]
pub(crate) struct Rejected(std::sync::Mutex<Option<CertificateDer<'static>>>);

impl Rejected {
    /// The refused certificate, taken (so that a later error never describes an older one).
    pub(crate) fn take(&self) -> Option<CertificateDer<'static>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The outermost verifier of every configuration: the inner one's verdict, and on a refusal
/// the certificate kept in [`Rejected`].
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ServerCertVerifier>,
    rejected: Arc<Rejected>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if verdict.is_err() {
            *self.rejected.0.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(end_entity.clone().into_owned());
        }
        verdict
    }

    handshake_signatures_by_inner!();
}

/// The client certificate and its signing key, checked to match. Each failure gets its own
/// message, naming the certificate or the key at fault, in kubecred's words: rustls's
/// messages are never shown (a key's never holds key material today, but nothing promises
/// it).
fn certified_key(
    identity: &ClientIdentity,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, SourceError> {
    let key_problem = |problem: String| SourceError::InvalidClientIdentity {
        origin: identity.key_origin().clone(),
        problem,
    };
    let signing_key = provider
        .key_provider
        .load_private_key(identity.private_key())
        .map_err(|_| {
            key_problem(
                "is a private key that does not parse as one rustls can sign with (RSA, ECDSA P-256 or P-384, or Ed25519)"
                    .to_owned(),
            )
        })?;
    let key = CertifiedKey::new(identity.certificates().to_vec(), signing_key);
    // `CertifiedKey::from_der`'s check, step by step so that each failure is told apart.
    match key.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(key),
        Err(rustls::Error::InconsistentKeys(_)) => Err(key_problem(format!(
            "is a private key that does not match the certificate from {}",
            identity.certificate_origin()
        ))),
        Err(_) => Err(SourceError::InvalidClientIdentity {
            origin: identity.certificate_origin().clone(),
            problem: "holds a certificate that rustls cannot use as a client certificate (it does not parse as an X.509 v3 end-entity certificate)".to_owned(),
        }),
    }
}

/// The client certificate of the current credentials, for new connections: the client tells
/// it each set of credentials it reads ([`IdentityResolver::follow`]), so a certificate and
/// key re-read as a pair (`KUBE_CLIENT_CERT_FILE`/`_KEY_FILE`) are presented by the next
/// handshake, through the `ClientConfig` handed to frameworks too.
#[derive(Debug)]
pub(crate) struct IdentityResolver {
    /// The credentials the key was made from, and the key.
    current: ArcSwap<(Arc<Credentials>, Arc<CertifiedKey>)>,
}

impl IdentityResolver {
    /// Adopts the identity of `credentials` when they are new; a pair that does not match
    /// (caught mid-rotation) keeps the previous identity and warns.
    pub(crate) fn follow(&self, credentials: &Arc<Credentials>) {
        let current = self.current.load();
        if Arc::ptr_eq(&current.0, credentials) {
            return;
        }
        let key = match credentials
            .identity()
            .map(|id| certified_key(id, &provider()))
        {
            Some(Ok(key)) => {
                tracing::info!("client certificate re-read: new connections present it");
                Arc::new(key)
            }
            Some(Err(error)) => {
                tracing::warn!(
                    error = %kubecred_core::error_chain(&error),
                    "the re-read client certificate is unusable; keeping the previous one"
                );
                Arc::clone(&current.1)
            }
            // Credentials without an identity now: keep presenting the last one.
            None => Arc::clone(&current.1),
        };
        self.current.store(Arc::new((Arc::clone(credentials), key)));
    }
}

impl ResolvesClientCert for IdentityResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.load().1))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn webpki(
    roots: RootCertStore,
    origin: Origin,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, SourceError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map(|v| v as Arc<dyn ServerCertVerifier>)
        .map_err(|e| SourceError::InvalidCaBundle {
            origin,
            // In kubecred's words, never the verifier's.
            problem: match e {
                rustls::client::VerifierBuilderError::NoRootAnchors => {
                    "holds no certificate usable as a trust anchor".to_owned()
                }
                _ => "cannot verify servers".to_owned(),
            },
        })
}

/// A verifier that trusts exactly the certificates of `bundle`: as CAs (rustls's webpki
/// verifier), and a server certificate the bundle holds byte for byte as itself
/// ([`Pinning`]).
fn bundle_verifier(
    bundle: &CaBundle,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, SourceError> {
    let mut roots = RootCertStore::empty();
    for cert in bundle.certificates() {
        roots
            .add(cert.clone())
            .map_err(|_| SourceError::InvalidCaBundle {
                origin: bundle.origin().clone(),
                // In kubecred's words: webpki's error is not shown.
                problem: "holds a certificate that does not parse as an X.509 v3 CA certificate"
                    .to_owned(),
            })?;
    }
    Ok(Arc::new(Pinning {
        inner: webpki(roots, bundle.origin().clone(), provider)?,
        bundle: bundle.certificates().to_vec(),
    }))
}

/// kubectl's rule for a bundle that holds the server's own certificate (client-go hands the
/// bundle to Go's `x509.Certificate.Verify`, which accepts a certificate byte-identical to one
/// of its roots, still checking its name and validity period): a certificate the webpki
/// verifier refuses is accepted when the bundle holds it byte for byte and it passes
/// [`crate::certificate::verify_pinned`]. Nothing changes for any other certificate, and
/// nothing is added to a handshake the webpki verifier accepts.
#[derive(Debug)]
struct Pinning {
    inner: Arc<dyn ServerCertVerifier>,
    bundle: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Pinning {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(_))
                if self
                    .bundle
                    .iter()
                    .any(|pinned| pinned.as_ref() == end_entity.as_ref()) =>
            {
                crate::certificate::verify_pinned(end_entity, server_name, now)
                    .map(|()| ServerCertVerified::assertion())
            }
            verdict => verdict,
        }
    }

    handshake_signatures_by_inner!();
}

fn server_verifier(
    trust: &Trust,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, SetupError> {
    match trust {
        Trust::CaBundle(bundle) => Ok(bundle_verifier(bundle, provider)?),
        Trust::CaFile(file) => Ok(Arc::new(RotatingRoots::new(
            Arc::clone(file),
            Arc::clone(provider),
        )?)),
        Trust::SystemRoots => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            Ok(webpki(roots, Origin::Code, provider).map_err(|_| SourceError::NoSystemRoots)?)
        }
        Trust::InsecureSkipVerify => Ok(Arc::new(Unverified::Insecure(Arc::clone(provider)))),
        Trust::PlainHttp => Ok(Arc::new(Unverified::PlainHttp(Arc::clone(provider)))),
        // `Trust` is non-exhaustive: a variant added to core without a verifier here fails
        // every resolution that meets it (and the test that builds every variant), never
        // silently falls back to another way of trusting.
        other => Err(SetupError::Internal(format!(
            "the client has no verifier for this kind of trust ({other})"
        ))),
    }
}

/// The reqwest client for `endpoint`: the given TLS configuration, the system proxies never
/// consulted (an explicit proxy of the endpoint only), no redirect followed, and the timeouts.
///
/// No redirect: an API server sends none, and kube-rs (hyper) follows none; reqwest's default
/// policy would send the request to wherever a
/// `Location` points, another origin included, with the original `Host` header, a `Referer`,
/// and a handshake presenting the client certificate (only `Authorization` is dropped). A
/// `3xx` is the answer, returned as it is.
///
/// # Errors
///
/// [`SetupError::Source`] when the endpoint's unix socket or proxy cannot be used;
/// [`SetupError::Internal`] when reqwest cannot build its client.
pub(crate) fn http_client(
    endpoint: &Endpoint,
    tls: ClientConfig,
    sni: Option<&SniRoute>,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, SetupError> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(timeout);
    if let Some(route) = sni {
        builder = builder.dns_resolver(Arc::new(SniResolver {
            name: route.name.clone(),
            host: route.host.clone(),
        }));
    }
    #[cfg(unix)]
    if let Some(path) = endpoint.unix_socket() {
        builder = builder.unix_socket(path.to_owned());
    }
    #[cfg(not(unix))]
    if endpoint.unix_socket().is_some() {
        return Err(SetupError::Source(SourceError::Refused {
            reason: "unix sockets are not available on this platform".to_owned(),
        }));
    }
    if let Some(proxy) = endpoint.proxy() {
        let proxy = reqwest::Proxy::all(proxy.as_str()).map_err(|_| SourceError::Refused {
            reason: "the HTTP proxy URL is not usable".to_owned(),
        })?;
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| SetupError::Internal(format!("cannot build the HTTP client ({e})")))
}

/// How a TLS server-name override (`KUBE_TLS_SERVER_NAME`, a kubeconfig's `tls-server-name`)
/// is also sent as SNI, as kubectl sends it (Go's `tls.Config.ServerName` is both the name
/// checked and the SNI): reqwest sends the request URL's host as SNI and offers no hook for
/// another, so the client asks reqwest for a URL whose host is the override (`name`), tells
/// reqwest's resolver that `name` is the endpoint's real `host`, and sends the real URL's
/// authority as `Host` (`authority`), which is what kubectl sends. The connection is the same
/// (same address, same port); only the SNI changes.
///
/// Not made (the override is then only the name checked, as before) when the override is an
/// IP address (TLS sends no SNI for one, Go neither), is the URL's host already, or the
/// endpoint goes through a proxy (the proxy would be asked to reach the override name) or a
/// unix socket, or is not `https`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SniRoute {
    /// The override: the URL host reqwest is given, so the SNI it sends.
    pub(crate) name: String,
    /// The endpoint URL's real host (an IP address without brackets, or a DNS name).
    pub(crate) host: String,
    /// The endpoint URL's authority (`host:port`, the port only when the URL has one): the
    /// `Host` header.
    pub(crate) authority: String,
}

impl SniRoute {
    /// The route for `endpoint`, when its override should be sent as SNI (above).
    pub(crate) fn of(endpoint: &Endpoint) -> Option<SniRoute> {
        let name = endpoint.tls_server_name()?;
        let url = endpoint.url();
        if url.scheme() != "https"
            || endpoint.proxy().is_some()
            || endpoint.unix_socket().is_some()
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok()
        {
            return None;
        }
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.eq_ignore_ascii_case(name) {
            return None;
        }
        // The override must be a host a URL can carry, else the route is not made.
        let mut probe = url.clone();
        probe.set_host(Some(name)).ok()?;
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str()?),
            None => url.host_str()?.to_owned(),
        };
        Some(SniRoute {
            name: name.to_owned(),
            host,
            authority,
        })
    }

    /// `url` (the endpoint's URL for a path) with the override as its host: what reqwest is
    /// given.
    pub(crate) fn rewrite(&self, mut url: reqwest::Url) -> reqwest::Url {
        // `of` checked that the name is a host a URL can carry.
        let _ = url.set_host(Some(&self.name));
        url
    }
}

/// reqwest's resolver for an endpoint with an [`SniRoute`]: the override name resolves to the
/// endpoint's real host (an IP address as itself, a DNS name through the system resolver, as
/// reqwest's own resolver does); any other name resolves as usual.
struct SniResolver {
    name: String,
    host: String,
}

impl reqwest::dns::Resolve for SniResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let target = if name.as_str().eq_ignore_ascii_case(&self.name) {
            self.host.clone()
        } else {
            name.as_str().to_owned()
        };
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = match target.parse::<std::net::IpAddr>() {
                Ok(ip) => Box::new(std::iter::once(std::net::SocketAddr::new(ip, 0))),
                Err(_) => Box::new(
                    tokio::net::lookup_host((target.as_str(), 0))
                        .await?
                        .collect::<Vec<_>>()
                        .into_iter(),
                ),
            };
            Ok(addrs)
        })
    }
}

/// Verifies against the current roots of a [`CaFile`]: each handshake asks the file for its
/// current bundle (re-read when due, the old one kept if the new one is bad) and rebuilds the
/// webpki verifier only when the bundle changed. Verification itself is rustls's, unchanged.
#[derive(Debug)]
struct RotatingRoots {
    file: Arc<CaFile>,
    provider: Arc<CryptoProvider>,
    /// The bundle the verifier was built from, and the verifier.
    current: ArcSwap<(Arc<CaBundle>, Arc<dyn ServerCertVerifier>)>,
}

impl RotatingRoots {
    fn new(file: Arc<CaFile>, provider: Arc<CryptoProvider>) -> Result<Self, SourceError> {
        let bundle = file.read_current();
        let verifier = bundle_verifier(&bundle, &provider)?;
        Ok(Self {
            file,
            provider,
            current: ArcSwap::from_pointee((bundle, verifier)),
        })
    }

    fn verifier(&self) -> Arc<dyn ServerCertVerifier> {
        let bundle = self.file.read_current();
        let current = self.current.load();
        if Arc::ptr_eq(&current.0, &bundle) {
            return Arc::clone(&current.1);
        }
        match bundle_verifier(&bundle, &self.provider) {
            Ok(verifier) => {
                tracing::info!(file = %kubecred_core::Shown::path(self.file.path()), "CA bundle rotated: new connections use the new roots");
                self.current
                    .store(Arc::new((bundle, Arc::clone(&verifier))));
                verifier
            }
            Err(error) => {
                tracing::warn!(
                    error = %kubecred_core::error_chain(&error),
                    "the rotated CA bundle is unusable; keeping the old roots"
                );
                // Remember the bad bundle with the old verifier: one warning, not one per
                // handshake, until the file changes again.
                let old = Arc::clone(&current.1);
                self.current.store(Arc::new((bundle, Arc::clone(&old))));
                old
            }
        }
    }
}

impl ServerCertVerifier for RotatingRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier().verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    handshake_signatures_by_provider!();
}

/// Verifies the certificate against a fixed name instead of the URL's host
/// (`KUBE_TLS_SERVER_NAME`), still fully verifying it.
#[derive(Debug)]
struct ServerNameOverride {
    inner: Arc<dyn ServerCertVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for ServerNameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    handshake_signatures_by_inner!();
}

/// A verifier that checks no certificate chain: [`Unverified::Insecure`] accepts any
/// certificate (`KUBE_INSECURE=true`; handshake signatures are still checked so the connection
/// is at least to the holder of the presented key), [`Unverified::PlainHttp`] refuses every
/// handshake (a plain-`http://` endpoint has no certificate to trust).
#[derive(Debug)]
enum Unverified {
    Insecure(Arc<CryptoProvider>),
    PlainHttp(Arc<CryptoProvider>),
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self {
            Unverified::Insecure(_) => Ok(ServerCertVerified::assertion()),
            Unverified::PlainHttp(_) => Err(rustls::Error::General(
                "this endpoint is plain http: it has no certificate to trust".to_owned(),
            )),
        }
    }

    handshake_signatures_by_provider!();
}

/// What a TLS failure was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The server's certificate did not verify here.
    ServerCertificate,
    /// The server refused our client certificate.
    ClientCertificateRejected,
    /// The server requires a client certificate and none was presented.
    ClientCertificateRequired,
}

/// Classifies a transport error by the rustls error in its chain, if any. `presented` says
/// whether a client certificate was offered: only then is an alert about certificates (or a
/// `decrypt_error`, what a rustls server answers a certificate whose signature does not
/// verify) the server refusing ours.
pub(crate) fn tls_failure(
    error: &(dyn std::error::Error + 'static),
    presented: bool,
) -> Option<TlsFailure> {
    use rustls::AlertDescription as Alert;
    fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        // An `io::Error`'s `source()` skips its payload, and the TLS layers nest them: look
        // through every payload.
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(payload) => rustls_error(payload),
            None => e.downcast_ref::<rustls::Error>(),
        }
    }
    let mut next = Some(error);
    while let Some(e) = next {
        match rustls_error(e) {
            Some(rustls::Error::InvalidCertificate(_)) | Some(rustls::Error::General(_)) => {
                return Some(TlsFailure::ServerCertificate)
            }
            Some(rustls::Error::AlertReceived(
                Alert::BadCertificate
                | Alert::UnknownCA
                | Alert::CertificateRequired
                | Alert::CertificateUnknown
                | Alert::CertificateExpired
                | Alert::CertificateRevoked
                | Alert::UnsupportedCertificate
                | Alert::AccessDenied
                | Alert::DecryptError,
            )) if presented => return Some(TlsFailure::ClientCertificateRejected),
            Some(rustls::Error::AlertReceived(Alert::CertificateRequired)) => {
                return Some(TlsFailure::ClientCertificateRequired)
            }
            _ => {}
        }
        next = e.source();
    }
    None
}

/// The rustls error in `error`'s chain, if any (through every `io::Error` payload: the TLS
/// layers nest them, and an `io::Error`'s `source()` skips its payload).
fn rustls_error_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    fn this<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(payload) => this(payload),
            None => e.downcast_ref::<rustls::Error>(),
        }
    }
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = this(e) {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// What was wrong with the server's certificate, in words, for the certificate problems
/// rustls's own words leave a person to decode: a name mismatch says which names the
/// certificate (`rejected`, the one the verifier refused) holds, and an IP address it lists
/// only as a DNS name or common name; an unknown issuer says whom it was issued by and, where
/// the endpoint knows ([`Endpoint::ca_hint`]), where to give its CA. `None` for any other
/// failure (an expired certificate, say), which rustls's message already says plainly.
pub(crate) fn certificate_problem(
    error: &(dyn std::error::Error + 'static),
    endpoint: &Endpoint,
    rejected: Option<CertificateDer<'static>>,
) -> Option<String> {
    use rustls::CertificateError as E;
    let rustls::Error::InvalidCertificate(problem) = rustls_error_in(error)? else {
        return None;
    };
    let names = rejected.and_then(|der| crate::certificate::Names::of(der.as_ref()));
    match problem {
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            let expected = match endpoint.tls_server_name() {
                Some(name) => name.to_owned(),
                None => endpoint.url().host_str()?.to_owned(),
            };
            let words = names?.mismatch(&expected);
            Some(match endpoint.tls_server_name() {
                Some(_) => format!("{words} (the name checked is the endpoint's TLS server name)"),
                None => words,
            })
        }
        E::UnknownIssuer => {
            let issuer = names
                .and_then(|n| n.issuer)
                .map(|issuer| format!(" (issued by \"{}\")", kubecred_core::Shown::text(&issuer)))
                .unwrap_or_default();
            let hint = endpoint
                .ca_hint()
                .map(|hint| format!(": {hint}"))
                .unwrap_or_default();
            Some(match endpoint.trust() {
                Trust::SystemRoots => format!(
                    "the certificate{issuer} was not issued by a CA among the system root certificates{hint}"
                ),
                _ => format!(
                    "the certificate{issuer} was not issued by a CA of the bundle, nor is it a certificate the bundle holds{hint}"
                ),
            })
        }
        E::ExpiredContext { time, not_after } => Some(format!(
            "the certificate expired at {} (the time here is {})",
            unix_time(*not_after),
            unix_time(*time)
        )),
        E::NotValidYetContext { time, not_before } => Some(format!(
            "the certificate is not valid before {} (the time here is {}: check this machine's clock)",
            unix_time(*not_before),
            unix_time(*time)
        )),
        // webpki's `CaUsedAsEndEntity`, which rustls carries as `Other`: the server presents
        // a CA certificate (a self-signed one made with `openssl req -x509`, say) as its own.
        E::Other(_) if names.as_ref().is_some_and(|n| n.is_ca) => {
            let hint = endpoint
                .ca_hint()
                .map(|hint| format!(", then {hint}"))
                .unwrap_or_default();
            Some(format!(
                "the server presents a CA certificate (basicConstraints CA:true) as its own \
                 serving certificate, which rustls refuses: give the server a certificate that \
                 a CA issued{hint}"
            ))
        }
        _ => None,
    }
}

/// `t` in RFC 3339 (UTC, seconds), or in seconds since the Unix epoch where RFC 3339 cannot
/// write it.
fn unix_time(t: UnixTime) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(t.as_secs());
    crate::explain::rfc3339(at).unwrap_or_else(|| format!("{} s after the Unix epoch", t.as_secs()))
}

/// `true` when `error` is a certificate not valid for the name checked: rustls's message then
/// lists every name the certificate holds (hundreds for some), which
/// [`certificate_problem`]'s words say bounded, so the error shows those words instead.
pub(crate) fn is_name_mismatch(error: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        rustls_error_in(error),
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. }
        ))
    )
}

/// `true` when `error` says the server closed a connection before answering the request on
/// it: hyper's incomplete message, or a reset or broken pipe.
pub(crate) fn closed_under_request(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() {
                return true;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ) {
                return true;
            }
        }
        next = e.source();
    }
    false
}

impl RotatingRoots {
    fn provider(&self) -> &CryptoProvider {
        &self.provider
    }
}

impl Unverified {
    fn provider(&self) -> &CryptoProvider {
        match self {
            Unverified::Insecure(provider) | Unverified::PlainHttp(provider) => provider,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kubecred_core::{CaBundle, CaFile, Origin, RefreshPolicy, SystemClock};
    use kubecred_testing::CertificateAuthority;

    use super::*;

    /// Every kind of trust the client knows gets its own verifier: none reaches the arm that
    /// fails a `Trust` variant added to core without one (`SetupError::Internal`).
    #[test]
    fn every_known_trust_has_a_verifier() {
        let ca = CertificateAuthority::new("transport-test-ca").unwrap();
        let dir = std::env::temp_dir().join(format!("kubecred-transport-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        let file = CaFile::open(&ca_path, RefreshPolicy::CA_BUNDLE, Arc::new(SystemClock)).unwrap();
        let trusts = [
            Trust::CaBundle(CaBundle::from_pem(ca.pem().as_bytes(), Origin::Code).unwrap()),
            Trust::CaFile(Arc::new(file)),
            Trust::SystemRoots,
            Trust::InsecureSkipVerify,
            Trust::PlainHttp,
        ];
        let provider = provider();
        for trust in &trusts {
            match server_verifier(trust, &provider) {
                Ok(_) => {}
                // A machine without system roots: a source problem, said as such.
                Err(SetupError::Source(SourceError::NoSystemRoots))
                    if matches!(trust, Trust::SystemRoots) => {}
                Err(other) => panic!("{trust}: {other:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A server-name override is sent as SNI only where it can be and means something: a
    /// DNS name other than the URL's host, on a direct `https` connection.
    #[test]
    fn a_server_name_override_is_routed_as_sni_only_where_it_can_be() {
        let endpoint = |url: &str, name: &str| {
            Endpoint::new(url.parse().unwrap(), Trust::SystemRoots).with_tls_server_name(name)
        };
        let route = SniRoute::of(&endpoint("https://10.0.0.1:6443", "api.example")).unwrap();
        assert_eq!(
            route,
            SniRoute {
                name: "api.example".to_owned(),
                host: "10.0.0.1".to_owned(),
                authority: "10.0.0.1:6443".to_owned(),
            }
        );
        assert_eq!(
            route
                .rewrite("https://10.0.0.1:6443/api?x=1".parse().unwrap())
                .as_str(),
            "https://api.example:6443/api?x=1"
        );
        let v6 = SniRoute::of(&endpoint("https://[::1]", "api.example")).unwrap();
        assert_eq!((v6.host.as_str(), v6.authority.as_str()), ("::1", "[::1]"));
        for (url, name) in [
            // TLS sends no SNI for an IP address.
            ("https://10.0.0.1:6443", "10.0.0.2"),
            ("https://10.0.0.1:6443", "[::1]"),
            // Already the URL's host.
            ("https://API.example:6443", "api.example"),
            // Plain http has no TLS.
            ("http://127.0.0.1:8001", "api.example"),
        ] {
            assert_eq!(SniRoute::of(&endpoint(url, name)), None, "{url} {name}");
        }
        let proxied = endpoint("https://10.0.0.1:6443", "api.example")
            .with_proxy("http://proxy.example:3128".parse().unwrap());
        assert_eq!(
            SniRoute::of(&proxied),
            None,
            "a proxy would be asked for the name"
        );
    }
}
