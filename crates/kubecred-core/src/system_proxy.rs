//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`, read as kubectl (Go's `httpproxy`) reads them and
//! turned into an explicit proxy of the endpoint: the one reading the env and kubeconfig
//! sources share. `ALL_PROXY` is ignored.

use std::net::IpAddr;

use crate::{is_loopback, Environment, SourceError};
use url::{Host, Url};

/// The system proxy to reach `target` through, read through `env` as kubectl reads it, and
/// the names of the variables that decided it (for `explain`): `HTTPS_PROXY` (else
/// `https_proxy`) for an `https://` target, `HTTP_PROXY` (else `http_proxy`) for `http://`;
/// `NO_PROXY` (else `no_proxy`) exempts hosts — `*`, a domain with or without a leading dot
/// (its subdomains too), an IP address or CIDR block, each optionally with `:port`. Never for a
/// loopback `target` (`None`, no variables). A proxy value without a scheme gets `http://`.
///
/// # Errors
///
/// [`SourceError::InvalidVariable`] naming the variable when a proxy value is not an
/// `http://` or `https://` URL with a host, or a variable cannot be read (not UTF-8).
pub fn system_proxy(
    env: &dyn Environment,
    target: &Url,
) -> Result<(Option<Url>, Vec<String>), SourceError> {
    if is_loopback(target) {
        return Ok((None, Vec::new()));
    }
    let names: [&str; 2] = if target.scheme() == "https" {
        ["HTTPS_PROXY", "https_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy"]
    };
    let Some((variable, value)) = first_set(env, &names)? else {
        return Ok((None, Vec::new()));
    };
    let mut used = vec![variable.to_owned()];
    if let Some((no_proxy_name, no_proxy)) = first_set(env, &["NO_PROXY", "no_proxy"])? {
        used.push(no_proxy_name.to_owned());
        if bypasses(&no_proxy, target) {
            return Ok((None, used));
        }
    }
    let with_scheme = if value.contains("://") {
        value
    } else {
        format!("http://{value}")
    };
    let invalid = |problem: &str| SourceError::InvalidVariable {
        variable: variable.to_owned(),
        problem: problem.to_owned(),
    };
    let url = Url::parse(&with_scheme).map_err(|_| invalid("is not a proxy URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            "is not an http:// or https:// proxy URL with a host",
        ));
    }
    Ok((Some(url), used))
}

/// The first of `names` that is set, with its value.
///
/// # Errors
///
/// The variable's own error when the first one set cannot be read (not UTF-8, too long).
fn first_set<'a>(
    env: &dyn Environment,
    names: &[&'a str],
) -> Result<Option<(&'a str, String)>, SourceError> {
    for name in names {
        if let Some(value) = env.var(name)? {
            return Ok(Some((name, value)));
        }
    }
    Ok(None)
}

/// Whether a `NO_PROXY` list exempts `target`: `*`, a host or domain (with or without a
/// leading dot, matching subdomains), optionally with `:port`, an IP address or a CIDR block.
fn bypasses(no_proxy: &str, target: &Url) -> bool {
    let Some(host) = target.host() else {
        return false;
    };
    let port = target.port_or_known_default();
    no_proxy
        .split(',')
        .map(|entry| entry.trim().to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (pattern, entry_port) = split_port(&entry);
            if entry_port.is_some() && entry_port != port {
                return false;
            }
            match &host {
                Host::Domain(name) => {
                    let name = name.to_ascii_lowercase();
                    let domain = pattern.trim_start_matches('.');
                    name == domain || name.ends_with(&format!(".{domain}"))
                }
                Host::Ipv4(ip) => ip_matches(pattern, IpAddr::V4(*ip)),
                Host::Ipv6(ip) => ip_matches(pattern, IpAddr::V6(*ip)),
            }
        })
}

/// `host:port` → (`host`, port); `[v6]:port` and a bare IPv6 address are handled.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((ip, after)) = rest.split_once(']') {
            return (ip, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    if entry.matches(':').count() == 1 {
        if let Some((host, port)) = entry.split_once(':') {
            if let Ok(port) = port.parse() {
                return (host, Some(port));
            }
        }
    }
    (entry, None)
}

/// Whether `pattern` (an IP address, or a CIDR block as `ipnet` parses it) covers `ip`; an
/// IPv4 block never covers an IPv6 address, nor the other way round.
fn ip_matches(pattern: &str, ip: IpAddr) -> bool {
    if pattern.contains('/') {
        pattern
            .parse::<ipnet::IpNet>()
            .is_ok_and(|network| network.contains(&ip))
    } else {
        pattern.parse::<IpAddr>() == Ok(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapEnvironment;

    fn proxy_for(vars: &[(&str, &str)], target: &str) -> Option<String> {
        let env = MapEnvironment::new(vars.iter().copied());
        system_proxy(&env, &target.parse().unwrap())
            .unwrap()
            .0
            .map(|u| u.to_string())
    }

    #[test]
    fn https_proxy_applies_to_https_and_uppercase_wins() {
        let vars = [
            ("HTTPS_PROXY", "proxy.test:3128"),
            ("https_proxy", "http://lower.test:1"),
            ("HTTP_PROXY", "http://plain.test:80"),
            ("ALL_PROXY", "http://all.test:1"),
        ];
        assert_eq!(
            proxy_for(&vars, "https://api.example.test:6443").as_deref(),
            Some("http://proxy.test:3128/")
        );
        assert_eq!(
            proxy_for(&vars, "http://api.example.test").as_deref(),
            Some("http://plain.test/")
        );
        assert_eq!(
            proxy_for(&[("ALL_PROXY", "http://all.test:1")], "https://a.test"),
            None
        );
    }

    #[test]
    fn never_for_loopback() {
        let vars = [
            ("HTTPS_PROXY", "http://proxy.test:3128"),
            ("HTTP_PROXY", "http://p.test"),
        ];
        for target in [
            "https://127.0.0.1:6443",
            "https://[::1]:6443",
            "http://localhost:8001",
        ] {
            assert_eq!(proxy_for(&vars, target), None, "{target}");
        }
    }

    #[test]
    fn no_proxy_matches_domains_ports_ips_and_cidrs() {
        let proxy = ("https_proxy", "http://proxy.test:3128");
        let cases = [
            ("example.test", "https://api.example.test", None),
            (".example.test", "https://example.test", None),
            ("other.test", "https://api.example.test", Some(())),
            (
                "api.example.test:6443",
                "https://api.example.test:6443",
                None,
            ),
            (
                "api.example.test:443",
                "https://api.example.test:6443",
                Some(()),
            ),
            ("10.0.0.0/8, foo", "https://10.96.0.1", None),
            ("10.0.0.1", "https://10.96.0.1", Some(())),
            ("fd00::/8", "https://[fd00::1]", None),
            ("*", "https://anything.test", None),
        ];
        for (no_proxy, target, proxied) in cases {
            let got = proxy_for(&[proxy, ("NO_PROXY", no_proxy)], target);
            assert_eq!(
                got.is_some(),
                proxied.is_some(),
                "NO_PROXY={no_proxy} {target}"
            );
        }
    }

    #[test]
    fn a_bad_proxy_url_names_the_variable() {
        let env = MapEnvironment::new([("HTTPS_PROXY", "socks5://proxy.test:1080")]);
        let err = system_proxy(&env, &"https://a.test".parse().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable HTTPS_PROXY is not an http:// or https:// proxy URL with a host"
        );
    }
}
