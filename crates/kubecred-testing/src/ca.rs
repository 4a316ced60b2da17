//! A throw-away certificate authority (rcgen on `ring`) that issues serving and client
//! certificates, and remembers the common name of every client certificate it issued.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::Error;

/// Client certificates issued by one CA: DER bytes -> common name.
pub(crate) type ClientRegistry = Arc<Mutex<HashMap<Vec<u8>, String>>>;

/// A certificate authority made with rcgen (ECDSA P-256 keys, `ring`), for tests.
///
/// It signs the stand-in [`ApiServer`](crate::ApiServer)'s serving certificate and any client
/// certificates a test needs. Cloning is cheap and the clones share everything, including the
/// record of issued client certificates that lets the server tell a client certificate's
/// common name without parsing X.509.
///
/// ```
/// # fn main() -> Result<(), kubecred_testing::Error> {
/// let ca = kubecred_testing::CertificateAuthority::new("test CA")?;
/// let client = ca.issue_client_certificate("system:admin")?;
/// assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(client.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CertificateAuthority {
    inner: Arc<Inner>,
}

struct Inner {
    common_name: String,
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
    clients: ClientRegistry,
}

impl CertificateAuthority {
    /// A new self-signed CA whose subject is `CN=common_name`.
    pub fn new(common_name: &str) -> Result<Self, Error> {
        let what = || format!("the CA certificate {common_name:?}");
        let key = KeyPair::generate().map_err(|source| Error::Certificate {
            what: what(),
            source,
        })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(|source| Error::Certificate {
                what: what(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                common_name: common_name.to_owned(),
                issuer: Issuer::new(params, key),
                pem: cert.pem(),
                der: cert.der().clone(),
                clients: Arc::default(),
            }),
        })
    }

    /// The CA certificate, PEM (what a service account's `ca.crt` holds).
    pub fn pem(&self) -> String {
        self.inner.pem.clone()
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.inner.der.clone()
    }

    /// The CA's common name, as given to [`CertificateAuthority::new`].
    pub fn common_name(&self) -> &str {
        &self.inner.common_name
    }

    /// A serving certificate (`serverAuth`) for `sans`: each entry is a DNS name or an IP
    /// literal (IPv4 or IPv6, brackets allowed), which becomes an IP subject alternative name.
    /// The subject's common name is the first entry.
    pub fn issue_server_certificate(&self, sans: &[&str]) -> Result<IssuedCertificate, Error> {
        let what = || format!("a server certificate for {sans:?}");
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans
            .iter()
            .map(|san| san_type(san))
            .collect::<Result<_, _>>()
            .map_err(|source| Error::Certificate {
                what: what(),
                source,
            })?;
        params.distinguished_name =
            distinguished_name(sans.first().copied().unwrap_or("kubecred-testing server"));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(&params).map_err(|source| Error::Certificate {
            what: what(),
            source,
        })
    }

    /// A client certificate (`clientAuth`) whose subject is `CN=common_name`: the stand-in
    /// server authenticates it as that user, like kube-apiserver's x509 authenticator.
    pub fn issue_client_certificate(&self, common_name: &str) -> Result<IssuedCertificate, Error> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let issued = self.sign(&params).map_err(|source| Error::Certificate {
            what: format!("a client certificate for {common_name:?}"),
            source,
        })?;
        self.inner
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(issued.der.to_vec(), common_name.to_owned());
        Ok(issued)
    }

    /// The record of issued client certificates, shared with the server.
    pub(crate) fn clients(&self) -> ClientRegistry {
        Arc::clone(&self.inner.clients)
    }

    fn sign(&self, params: &CertificateParams) -> Result<IssuedCertificate, rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.inner.issuer)?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: SecretString::from(key.serialize_pem()),
            key_der: SecretSlice::from(key.serialize_der()),
            der: cert.der().clone(),
        })
    }
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("common_name", &self.inner.common_name)
            .finish_non_exhaustive()
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn san_type(san: &str) -> Result<SanType, rcgen::Error> {
    let unbracketed = san
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(san);
    match unbracketed.parse::<IpAddr>() {
        Ok(ip) => Ok(SanType::IpAddress(ip)),
        Err(_) => Ok(SanType::DnsName(san.try_into()?)),
    }
}

/// A certificate and its private key, issued by a [`CertificateAuthority`].
///
/// `Debug` shows the certificate, never the key.
#[derive(Clone)]
pub struct IssuedCertificate {
    cert_pem: String,
    key_pem: SecretString,
    key_der: SecretSlice<u8>,
    der: CertificateDer<'static>,
}

impl IssuedCertificate {
    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn key_pem(&self) -> &str {
        self.key_pem.expose_secret()
    }

    /// The certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }

    /// The private key, DER (PKCS#8), ready for rustls.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            self.key_der.expose_secret().to_vec(),
        ))
    }
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificate_debug_hides_the_key() {
        let ca = CertificateAuthority::new("test CA").unwrap();
        let cert = ca.issue_client_certificate("alice").unwrap();
        let debug = format!("{cert:?}");
        assert!(!debug.contains(cert.key_pem()));
        assert!(!debug.contains("PRIVATE KEY"));
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn client_certificates_are_registered_by_der() {
        let ca = CertificateAuthority::new("test CA").unwrap();
        let cert = ca.issue_client_certificate("alice").unwrap();
        let clients = ca.clone().clients();
        let clients = clients.lock().unwrap();
        assert_eq!(
            clients.get(cert.der().as_ref()).map(String::as_str),
            Some("alice")
        );
    }

    #[test]
    fn sans_accept_dns_names_and_ip_literals() {
        assert!(matches!(san_type("127.0.0.1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(san_type("::1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(san_type("[::1]"), Ok(SanType::IpAddress(_))));
        assert!(matches!(
            san_type("kubernetes.default.svc"),
            Ok(SanType::DnsName(_))
        ));
    }

    #[test]
    fn a_bad_san_is_an_error_not_a_panic() {
        let ca = CertificateAuthority::new("test CA").unwrap();
        let err = ca.issue_server_certificate(&["bad\u{e9}name"]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot generate a server certificate"));
    }

    #[test]
    fn key_der_parses() {
        let ca = CertificateAuthority::new("test CA").unwrap();
        let cert = ca.issue_server_certificate(&["localhost"]).unwrap();
        assert!(
            matches!(cert.key_der(), PrivateKeyDer::Pkcs8(ref k) if !k.secret_pkcs8_der().is_empty())
        );
    }
}
