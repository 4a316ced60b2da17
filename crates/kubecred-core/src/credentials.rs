//! What a request authenticates with: a bearer token, a client certificate, or nothing.

use std::fmt;
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::{jwt, Origin, SourceError};

/// The kind of credential a [`Credentials`] value carries, as `explain` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialKind {
    /// An `Authorization: Bearer` token (a client certificate may ride along).
    BearerToken,
    /// A TLS client certificate only (mTLS).
    ClientCertificate,
    /// A user name and password sent as `Authorization: Basic` (a kubeconfig's
    /// `username`/`password`; a client certificate may ride along).
    Basic,
    /// No credentials: anonymous, or added by someone else (`kubectl proxy`).
    None,
}

/// A kind equals its name (`bearer-token`, `client-certificate`, `none`), as reports show it.
impl PartialEq<&str> for CredentialKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl CredentialKind {
    /// The name used in `explain` output: `bearer-token`, `client-certificate`, `basic` or
    /// `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::BearerToken => "bearer-token",
            CredentialKind::ClientCertificate => "client-certificate",
            CredentialKind::Basic => "basic",
            CredentialKind::None => "none",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The credentials of one moment: an optional bearer token, an optional client certificate
/// identity and an optional expiry.
///
/// The token lives in a [`SecretString`] from the moment it is read; `Debug` shows only which
/// parts are present. Sources hand these out behind an `Arc`, so reading the current value on
/// the request path copies nothing.
#[derive(Clone, Default)]
pub struct Credentials {
    token: Option<SecretString>,
    basic: Option<BasicAuth>,
    identity: Option<ClientIdentity>,
    expires_at: Option<SystemTime>,
}

/// A user name and password for `Authorization: Basic` (HTTP basic authentication, RFC 7617),
/// the password in a [`SecretString`]. `Debug` shows neither.
#[derive(Clone)]
pub struct BasicAuth {
    username: SecretString,
    password: SecretString,
}

impl BasicAuth {
    /// The user name (kept secret too: with the password it is the credential).
    pub fn username(&self) -> &SecretString {
        &self.username
    }

    /// The password. Expose it only to build an `Authorization` header.
    pub fn password(&self) -> &SecretString {
        &self.password
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth([redacted])")
    }
}

impl Credentials {
    /// No credentials at all (anonymous, or `kubectl proxy`, which adds its own).
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A bearer token. When the token is a JWT with an `exp` claim, that becomes
    /// [`Credentials::expires_at`] (the claim is read, not verified: the API server verifies).
    pub fn bearer(token: SecretString) -> Self {
        let expires_at = jwt::expiry(token.expose_secret());
        Self {
            token: Some(token),
            expires_at,
            ..Self::default()
        }
    }

    /// HTTP basic authentication: `Authorization: Basic base64(username:password)` on every
    /// request (a kubeconfig user's `username` and `password`).
    pub fn basic(username: SecretString, password: SecretString) -> Self {
        Self {
            basic: Some(BasicAuth { username, password }),
            ..Self::default()
        }
    }

    /// A client certificate identity only (mTLS, no token).
    pub fn client_certificate(identity: ClientIdentity) -> Self {
        Self {
            identity: Some(identity),
            ..Self::default()
        }
    }

    /// Adds a client certificate identity to these credentials.
    pub fn with_identity(mut self, identity: ClientIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Replaces the expiry (`None`: unknown).
    pub fn with_expiry(mut self, expires_at: Option<SystemTime>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// The bearer token, if any. Expose it only to build an `Authorization` header.
    pub fn token(&self) -> Option<&SecretString> {
        self.token.as_ref()
    }

    /// The user name and password of basic authentication, if any.
    pub fn basic_auth(&self) -> Option<&BasicAuth> {
        self.basic.as_ref()
    }

    /// `true` when these credentials make an `Authorization` header (a bearer token or basic
    /// authentication).
    pub fn authorizes(&self) -> bool {
        self.token.is_some() || self.basic.is_some()
    }

    /// The client certificate identity, if any.
    pub fn identity(&self) -> Option<&ClientIdentity> {
        self.identity.as_ref()
    }

    /// When these credentials stop working, if known (for a JWT, its `exp` claim; note that
    /// bound service-account tokens may claim a year while the kubelet rotates them hourly).
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// What these credentials are: a token wins over a certificate, since a token is what the
    /// API server authenticates first when both are present.
    pub fn kind(&self) -> CredentialKind {
        if self.token.is_some() {
            CredentialKind::BearerToken
        } else if self.basic.is_some() {
            CredentialKind::Basic
        } else if self.identity.is_some() {
            CredentialKind::ClientCertificate
        } else {
            CredentialKind::None
        }
    }

    /// `true` when these credentials carry anything secret (a token, a password or a private
    /// key).
    pub fn is_secret(&self) -> bool {
        self.kind() != CredentialKind::None
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("kind", &self.kind())
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("basic", &self.basic)
            .field("identity", &self.identity)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A TLS client certificate chain and its private key (mTLS).
///
/// The key's DER bytes live in a [`SecretSlice`]; `Debug` shows the number of certificates
/// only.
#[derive(Clone)]
pub struct ClientIdentity {
    certificates: Vec<CertificateDer<'static>>,
    key: SecretSlice<u8>,
    key_format: KeyFormat,
    certificate_origin: Origin,
    key_origin: Origin,
}

#[derive(Clone, Copy)]
enum KeyFormat {
    Pkcs1,
    Pkcs8,
    Sec1,
}

impl ClientIdentity {
    /// Parses a PEM certificate chain (leaf first) and a PEM private key (PKCS#1, PKCS#8 or
    /// SEC1).
    ///
    /// # Errors
    ///
    /// [`SourceError::InvalidClientIdentity`] naming `cert_origin` when the certificate PEM
    /// holds no certificate or is malformed, or `key_origin` when the key PEM holds no private
    /// key. Whether the key matches the certificate is checked by the client, which owns the
    /// crypto provider.
    pub fn from_pem(
        cert_pem: &[u8],
        cert_origin: Origin,
        key_pem: &[u8],
        key_origin: Origin,
    ) -> Result<Self, SourceError> {
        let certificates = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SourceError::InvalidClientIdentity {
                origin: cert_origin.clone(),
                problem: crate::endpoint::pem_problem(&e).to_owned(),
            })?;
        if certificates.is_empty() {
            return Err(SourceError::InvalidClientIdentity {
                origin: cert_origin,
                problem: "holds no PEM certificate".to_owned(),
            });
        }
        match x509_version(&certificates[0]) {
            Some(3) => {}
            Some(version) => {
                return Err(SourceError::InvalidClientIdentity {
                    origin: cert_origin,
                    problem: format!(
                        "holds an X.509 v{version} certificate: a TLS client certificate must be X.509 v3"
                    ),
                })
            }
            None => {
                return Err(SourceError::InvalidClientIdentity {
                    origin: cert_origin,
                    problem: "holds a CERTIFICATE block whose content does not parse as an X.509 certificate (it is not DER)".to_owned(),
                })
            }
        }
        // The parse error of a key may quote key material: never show it.
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
            SourceError::InvalidClientIdentity {
                origin: key_origin.clone(),
                problem: "holds no PEM private key (PKCS#1, PKCS#8 or SEC1)".to_owned(),
            }
        })?;
        let (key_format, mut der) = match key {
            PrivateKeyDer::Pkcs1(k) => (KeyFormat::Pkcs1, k.secret_pkcs1_der().to_vec()),
            PrivateKeyDer::Sec1(k) => (KeyFormat::Sec1, k.secret_sec1_der().to_vec()),
            PrivateKeyDer::Pkcs8(k) => (KeyFormat::Pkcs8, k.secret_pkcs8_der().to_vec()),
            _ => {
                return Err(SourceError::InvalidClientIdentity {
                    origin: key_origin,
                    problem: "holds a private key format kubecred does not support".to_owned(),
                })
            }
        };
        if !is_one_der_sequence(&der) {
            der.zeroize();
            return Err(SourceError::InvalidClientIdentity {
                origin: key_origin,
                problem:
                    "holds a PRIVATE KEY block whose content does not parse as a private key (it is not DER)"
                        .to_owned(),
            });
        }
        Ok(Self {
            certificates,
            key: der.into(),
            key_format,
            certificate_origin: cert_origin,
            key_origin,
        })
    }

    /// Where the certificate came from (named in errors).
    pub fn certificate_origin(&self) -> &Origin {
        &self.certificate_origin
    }

    /// Where the private key came from (named in errors).
    pub fn key_origin(&self) -> &Origin {
        &self.key_origin
    }

    /// The certificate chain, leaf first.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// A copy of the private key in the form rustls takes. The copy is not zeroed on drop:
    /// hand it straight to rustls.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        let der = self.key.expose_secret().to_vec();
        match self.key_format {
            KeyFormat::Pkcs1 => PrivatePkcs1KeyDer::from(der).into(),
            KeyFormat::Pkcs8 => PrivatePkcs8KeyDer::from(der).into(),
            KeyFormat::Sec1 => PrivateSec1KeyDer::from(der).into(),
        }
    }
}

/// The first DER element of `der`: its tag, its content and what follows it; `None` when it
/// is not well-formed (a definite length of at most 4 bytes that fits in `der`).
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (len, rest) = rest.split_at(octets);
        (len.iter().fold(0, |n, &b| n << 8 | usize::from(b)), rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `true` when `der` is exactly one DER `SEQUENCE`, as every private key format (PKCS#1,
/// PKCS#8, SEC1) is; garbage between a key's PEM lines is not.
fn is_one_der_sequence(der: &[u8]) -> bool {
    matches!(der_element(der), Some((0x30, _, [])))
}

/// The X.509 version (1, 2 or 3) of a DER certificate, from its `tbsCertificate`'s version
/// field (RFC 5280 4.1: absent means v1); `None` when the structure is not DER.
fn x509_version(certificate: &[u8]) -> Option<u8> {
    let (0x30, certificate, []) = der_element(certificate)? else {
        return None;
    };
    let (0x30, tbs, _) = der_element(certificate)? else {
        return None;
    };
    match der_element(tbs)? {
        // [0] EXPLICIT Version: an INTEGER of one byte, 0 for v1 to 2 for v3.
        (0xa0, version, _) => match der_element(version)? {
            (0x02, &[n], []) if n <= 2 => Some(n + 1),
            _ => None,
        },
        _ => Some(1),
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.certificates.len())
            .field("certificate_origin", &self.certificate_origin)
            .field("key", &"[redacted]")
            .field("key_origin", &self.key_origin)
            .finish()
    }
}
