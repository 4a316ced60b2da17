//! What a server certificate says, for the verifier and for errors: the names it holds (in
//! words, bounded and escaped: they are outside text, not secrets), and the checks of a
//! certificate pinned by a CA bundle that holds it (kubectl's rule, below).
//!
//! Certificates are parsed with `x509-parser` (no features: parsing only). rustls's own
//! error for a name mismatch lists the subject alternative names but not the subject's common
//! name, and says nothing of a pinned certificate's validity period or key usage.

use std::net::IpAddr;

use kubecred_core::Shown;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::CertificateError;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// The most names of one kind listed in an error; the rest are counted.
const MAX_LISTED_NAMES: usize = 8;

/// The names a certificate holds: its subject alternative names (DNS and IP) and its subject's
/// common names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) dns: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) common_names: Vec<String>,
    /// The issuer's distinguished name (`CN=…`), if it parses.
    pub(crate) issuer: Option<String>,
    /// Whether it says it is a CA (`basicConstraints CA:true`).
    pub(crate) is_ca: bool,
}

impl Names {
    /// The names of the DER certificate `der`; `None` when it does not parse.
    pub(crate) fn of(der: &[u8]) -> Option<Names> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut names = Names::default();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.dns.push((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_of(bytes) {
                            names.ips.push(ip);
                        }
                    }
                    _ => {}
                }
            }
        }
        names.common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        names.issuer = Some(cert.issuer().to_string()).filter(|i| !i.is_empty());
        names.is_ca = cert.is_ca();
        Some(names)
    }

    /// Why a certificate holding these names is not valid for `expected`, in words: which
    /// names it holds, and when `expected` is an IP address that it lists only as a DNS name
    /// or a common name, that it has no IP SAN for it.
    pub(crate) fn mismatch(&self, expected: &str) -> String {
        let shown = Shown::text(expected);
        let bare = expected.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            let as_text = |n: &String| n.trim_start_matches('[').trim_end_matches(']') == bare;
            if self.dns.iter().any(as_text) {
                return format!(
                    "the certificate lists {shown} only as a DNS name, and has no IP SAN for it (an IP address is matched only by an IP address SAN); it holds {}",
                    self.listing()
                );
            }
            if self.common_names.iter().any(as_text) {
                return format!(
                    "the certificate names {shown} only in its common name, and has no IP SAN for it; it holds {}",
                    self.listing()
                );
            }
            if self.ips.is_empty() {
                return format!(
                    "the certificate has no IP SAN, so it is not valid for the IP address {shown}; it holds {}",
                    self.listing()
                );
            }
        }
        if self.dns.is_empty() && self.ips.is_empty() {
            return format!(
                "the certificate is not valid for {shown}: it has no subject alternative names, only {}, and a common name is not matched (kubectl does not either: the certificate must be reissued with a SAN)",
                self.common_name_listing()
            );
        }
        format!(
            "the certificate is not valid for {shown}: it holds {}",
            self.listing()
        )
    }

    /// `the DNS names "a", "b", the IP addresses 10.0.0.1 and the common name "a"`.
    fn listing(&self) -> String {
        let mut parts = Vec::new();
        if !self.dns.is_empty() {
            parts.push(format!(
                "the DNS {} {}",
                plural(self.dns.len(), "name", "names"),
                quoted(&self.dns)
            ));
        } else {
            parts.push("no DNS name".to_owned());
        }
        if !self.ips.is_empty() {
            let ips: Vec<String> = self.ips.iter().map(IpAddr::to_string).collect();
            parts.push(format!(
                "the IP {} {}",
                plural(ips.len(), "address", "addresses"),
                list(&ips)
            ));
        } else {
            parts.push("no IP address".to_owned());
        }
        parts.push(self.common_name_listing());
        format!("{}, {} and {}", parts[0], parts[1], parts[2])
    }

    fn common_name_listing(&self) -> String {
        match self.common_names.len() {
            0 => "no common name".to_owned(),
            n => format!(
                "the common {} {}",
                plural(n, "name", "names"),
                quoted(&self.common_names)
            ),
        }
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Each name quoted, bounded and escaped, at most [`MAX_LISTED_NAMES`] of them.
fn quoted(names: &[String]) -> String {
    let shown: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", Shown::text(n)))
        .collect();
    list(&shown)
}

fn list(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(MAX_LISTED_NAMES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED_NAMES {
        text.push_str(&format!(" and {} more", items.len() - MAX_LISTED_NAMES));
    }
    text
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// Checks a server certificate that a CA bundle holds byte for byte (the server's own
/// certificate given as its CA), as Go's `x509.Certificate.Verify` (and so kubectl) accepts
/// it: the certificate is its own chain, so what is checked is what a chain's end entity gets
/// checked for — the name (rustls's own check), the validity period at `now`, and an extended
/// key usage that allows serving (none, `serverAuth` or `anyExtendedKeyUsage`). Its issuer and
/// signature are not checked: the bundle names this very certificate.
///
/// # Errors
///
/// rustls's errors, so that alerts and callers see what the webpki verifier would say:
/// `NotValidForName…`, `Expired…`, `NotValidYet…`, `InvalidPurpose`, `BadEncoding`.
pub(crate) fn verify_pinned(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    let (_, cert) = X509Certificate::from_der(end_entity.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let validity = cert.validity();
    let seconds =
        |t: i64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.max(0) as u64));
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    let at = now.as_secs() as i64;
    if at < not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYetContext {
                time: now,
                not_before: seconds(not_before),
            },
        ));
    }
    if at > not_after {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredContext {
                time: now,
                not_after: seconds(not_after),
            },
        ));
    }
    match cert.extended_key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(eku)) if eku.value.any || eku.value.server_auth => Ok(()),
        Ok(Some(_)) => Err(rustls::Error::InvalidCertificate(
            CertificateError::InvalidPurpose,
        )),
        Err(_) => Err(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dns: &[&str], ips: &[&str], cns: &[&str]) -> Names {
        Names {
            dns: dns.iter().map(|s| (*s).to_owned()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            common_names: cns.iter().map(|s| (*s).to_owned()).collect(),
            issuer: None,
            is_ca: false,
        }
    }

    #[test]
    fn a_mismatch_lists_every_kind_of_name() {
        let n = names(
            &["api.example", "other.example"],
            &["10.0.0.1"],
            &["api.example"],
        );
        assert_eq!(
            n.mismatch("wrong.example"),
            "the certificate is not valid for wrong.example: it holds the DNS names \"api.example\", \"other.example\", the IP address 10.0.0.1 and the common name \"api.example\""
        );
    }

    #[test]
    fn an_ip_listed_as_a_dns_name_or_a_common_name_has_no_ip_san() {
        let n = names(&["10.0.0.1"], &[], &["x"]);
        let m = n.mismatch("10.0.0.1");
        assert!(
            m.starts_with(
                "the certificate lists 10.0.0.1 only as a DNS name, and has no IP SAN for it"
            ),
            "{m}"
        );
        let n = names(&[], &[], &["10.0.0.1"]);
        let m = n.mismatch("10.0.0.1");
        assert!(
            m.starts_with(
                "the certificate names 10.0.0.1 only in its common name, and has no IP SAN for it"
            ),
            "{m}"
        );
        let n = names(&["api.example"], &[], &[]);
        let m = n.mismatch("::1");
        assert!(m.starts_with("the certificate has no IP SAN, so it is not valid for the IP address ::1; it holds the DNS name \"api.example\", no IP address and no common name"), "{m}");
    }

    #[test]
    fn only_a_common_name_is_said_so() {
        let m = names(&[], &[], &["api.example"]).mismatch("api.example");
        assert!(
            m.contains("it has no subject alternative names, only the common name \"api.example\""),
            "{m}"
        );
    }

    /// The checks of a pinned certificate are an end entity's: name, validity period, key
    /// usage (its issuer is not consulted: the bundle names it).
    #[test]
    fn a_pinned_certificate_is_checked_for_name_validity_and_purpose() {
        let ca = kubecred_testing::CertificateAuthority::new("pinning-test-ca").unwrap();
        let serving = ca.issue_server_certificate(&["api.example"]).unwrap().der();
        let name = ServerName::try_from("api.example").unwrap();
        let now = UnixTime::now();
        verify_pinned(&serving, &name, now).unwrap();

        let other = ServerName::try_from("other.example").unwrap();
        assert!(matches!(
            verify_pinned(&serving, &other, now),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForNameContext { .. }
            ))
        ));
        // rcgen's certificates last until 4096: the year 5138 is past it.
        let far = UnixTime::since_unix_epoch(std::time::Duration::from_secs(100_000_000_000));
        assert!(matches!(
            verify_pinned(&serving, &name, far),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ExpiredContext { .. }
            ))
        ));
        let epoch = UnixTime::since_unix_epoch(std::time::Duration::from_secs(0));
        assert!(matches!(
            verify_pinned(&serving, &name, epoch),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYetContext { .. }
            ))
        ));
        // A client certificate (clientAuth only) cannot serve, pinned or not.
        let client = ca.issue_client_certificate("api.example").unwrap().der();
        assert!(verify_pinned(&client, &name, now).is_err());
    }

    #[test]
    fn the_names_of_a_certificate_are_read_from_it() {
        let ca = kubecred_testing::CertificateAuthority::new("names-test-ca").unwrap();
        let der = ca
            .issue_server_certificate(&["api.example", "10.0.0.1", "::1"])
            .unwrap()
            .der();
        let names = Names::of(der.as_ref()).unwrap();
        assert_eq!(names.dns, ["api.example"]);
        assert_eq!(
            names.ips,
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(names.common_names, ["api.example"]);
        assert_eq!(names.issuer.as_deref(), Some("CN=names-test-ca"));
        assert_eq!(Names::of(b"not a certificate"), None);
    }

    #[test]
    fn names_are_bounded_escaped_and_counted() {
        let many: Vec<String> = (0..20).map(|i| format!("n{i}.example")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let evil = format!("\u{1b}[31m{}", "x".repeat(10_000));
        let mut dns = many.clone();
        dns.insert(0, &evil);
        let m = names(&dns, &[], &[]).mismatch("wrong.example");
        assert!(m.contains("and 13 more"), "{m}");
        assert!(!m.chars().any(char::is_control), "{m}");
        assert!(m.len() < 1_000, "{} bytes", m.len());
    }
}
