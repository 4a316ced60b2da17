//! The input format of the scenario targets: variables and files, as NUL-separated records.
//!
//! - `NAME=VALUE`: a variable (any bytes, a value that is not UTF-8 included);
//! - `/name=CONTENT`: a file of the temporary directory (the name's characters but
//!   `[A-Za-z0-9._-]` become `_`);
//! - `@option=VALUE`: a setting of the target (which context, how the plugin exits, …).
//!
//! `@fifo=name` makes `name` a FIFO (no writer): what a token swapped for a FIFO looks like.
//!
//! Markers in values: `$DIR` is the temporary directory; `@CA@`, `@CERT@` are the PEM of
//! [`material`]'s CA and client certificate, `@CA64@`, `@CERT64@` their base64, `@CERTLINE@`
//! the certificate on one line (`\n` for each newline) and `@CERTSP@` with spaces. In a
//! secret's place only (a token, key or password variable; a file whose name has `token` or
//! `key`; the option `@stdout`): `@T@` is [`TOKEN_CANARY`], `@PW@`
//! [`PASSWORD_CANARY`], `@KEY@` the private key's PEM, `@KEY64@` its base64, `@KEYLINE@` and
//! `@KEYSP@` its one-line forms; elsewhere they become `@x@`. A token variable or file
//! without `@T@` gets the canary as a prefix and a suffix (before trailing blanks), and a
//! proxy URL's password is replaced by [`PASSWORD_CANARY`], so that every secret carries one.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::oracle::{base64, material, MARK, PASSWORD_CANARY, TOKEN_CANARY};

/// The options that are a secret's place: a plugin's output. (A proxy URL's password is one:
/// the proxy target puts the canary there itself, [`with_password_canary`].)
const SECRET_OPTIONS: &[&str] = &["stdout"];

/// At most this many records are read (the rest are ignored).
pub const MAX_RECORDS: usize = 64;

/// An input's variables, files (written) and options.
#[derive(Debug)]
pub struct Scenario {
    /// The temporary directory the files are in (removed when the scenario drops).
    pub dir: tempfile::TempDir,
    /// The variables, in input order.
    pub vars: Vec<(String, OsString)>,
    /// The files written, by name, in input order.
    pub files: Vec<(String, PathBuf)>,
    /// The target's options, in input order.
    pub options: Vec<(String, Vec<u8>)>,
}

impl Scenario {
    /// Reads `data` (already [`sanitize`]d or not: it is done here) and writes its files.
    pub fn new(data: &[u8]) -> Self {
        Self::parse(data, false)
    }

    /// Like [`Scenario::new`], every file being a secret's place (kubeconfig files, whose
    /// secrets the target finds by parsing).
    pub fn with_secret_files(data: &[u8]) -> Self {
        Self::parse(data, true)
    }

    fn parse(data: &[u8], secret_files: bool) -> Self {
        let data = sanitize(data);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let dir_text = dir.path().as_os_str().as_encoded_bytes().to_vec();
        let mut scenario = Scenario {
            dir,
            vars: Vec::new(),
            files: Vec::new(),
            options: Vec::new(),
        };
        for record in data
            .split(|b| *b == 0)
            .filter(|r| !r.is_empty())
            .take(MAX_RECORDS)
        {
            let (name, value) = match record.iter().position(|b| *b == b'=') {
                Some(at) => (&record[..at], &record[at + 1..]),
                None => (record, &[][..]),
            };
            let name = String::from_utf8_lossy(name).into_owned();
            if let Some(file) = name.strip_prefix('/') {
                let file = file_name(file);
                let lower = file.to_ascii_lowercase();
                let secret = secret_files || lower.contains("token") || lower.contains("key");
                let mut content = expand(value, secret, &dir_text);
                if lower.contains("token") {
                    content = with_token_canary(content);
                }
                let path = scenario.dir.path().join(&file);
                std::fs::write(&path, &content).expect("a file in the temporary directory");
                scenario.files.push((file, path));
            } else if let Some(option) = name.strip_prefix('@') {
                let secret = SECRET_OPTIONS.contains(&option);
                scenario
                    .options
                    .push((option.to_owned(), expand(value, secret, &dir_text)));
            } else {
                let secret = is_secret_variable(&name);
                let mut value = expand(value, secret, &dir_text);
                if is_token_variable(&name) {
                    value = with_token_canary(value);
                }
                if is_proxy_variable(&name) {
                    value = with_password_canary(value);
                }
                scenario.vars.push((name, OsString::from_vec(value)));
            }
        }
        for (option, name) in &scenario.options {
            if option == "fifo" {
                let name = file_name(&String::from_utf8_lossy(name));
                let path = scenario.dir.path().join(&name);
                let _ = std::fs::remove_file(&path);
                let made = std::process::Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .is_ok_and(|status| status.success());
                assert!(made, "mkfifo {}", path.display());
                scenario.files.push((name, path));
            }
        }
        scenario
    }

    /// The last value of option `name`.
    pub fn option(&self, name: &str) -> Option<&[u8]> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The last value of option `name` as text (lossy).
    pub fn option_text(&self, name: &str) -> Option<String> {
        self.option(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Whether variable `name` is set (to anything).
    pub fn has_var(&self, name: &str) -> bool {
        self.vars.iter().any(|(n, _)| n == name)
    }

    /// Whether a file named like a token file (which holds the canary) is read as a
    /// kubeconfig (`KUBECONFIG` or `@path` names it), whose names messages rightly quote.
    pub fn reads_a_token_file_as_kubeconfig(&self) -> bool {
        let names_token = |value: &[u8]| {
            String::from_utf8_lossy(value)
                .to_ascii_lowercase()
                .contains("token")
        };
        self.vars
            .iter()
            .any(|(n, v)| n == "KUBECONFIG" && names_token(v.as_encoded_bytes()))
            || self.option("path").is_some_and(names_token)
    }

    /// The variables as an environment.
    pub fn environment(&self) -> std::sync::Arc<kubecred_core::MapEnvironment> {
        std::sync::Arc::new(kubecred_core::MapEnvironment::new(
            self.vars.iter().cloned(),
        ))
    }
}

/// `data` with every `CANARY` lowercased and every piece of the key overwritten: only a
/// secret's place may carry a canary or the key.
pub fn sanitize(data: &[u8]) -> Vec<u8> {
    let mut data = replace(data, MARK.as_bytes(), b"canary");
    for (pattern, _) in crate::oracle::BYTE_PATTERNS {
        // Its first digit becomes `x`: the pattern cannot be formed again.
        let mut broken = pattern.as_bytes().to_vec();
        broken[0] = b'x';
        // Again until none is left: overlapping repeats (`45, 45, 45, 45, 45, 45`) form
        // the pattern again after one is broken.
        while data.windows(pattern.len()).any(|w| w == pattern.as_bytes()) {
            data = replace(&data, pattern.as_bytes(), &broken);
        }
    }
    material().defuse(&mut data);
    data
}

/// Every occurrence of `from` in `data` replaced by `to`.
pub fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() || data.len() < from.len() {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// The markers of the module documentation expanded; the secret ones only when `secret`.
pub fn expand(value: &[u8], secret: bool, dir: &[u8]) -> Vec<u8> {
    let m = material();
    let mut value = replace(value, b"$DIR", dir);
    for (marker, with) in [
        ("@CA64@", base64(m.ca_pem.as_bytes())),
        ("@CA@", m.ca_pem.clone()),
        ("@CERT64@", base64(m.cert_pem.as_bytes())),
        ("@CERT@", m.cert_pem.clone()),
        ("@CERTLINE@", m.cert_pem.replace('\n', "\\n")),
        ("@CERTSP@", m.cert_pem.replace('\n', " ")),
    ] {
        value = replace(&value, marker.as_bytes(), with.as_bytes());
    }
    for (marker, with) in [
        ("@KEY64@", base64(m.key_pem.as_bytes())),
        ("@KEY@", m.key_pem.clone()),
        ("@KEYLINE@", m.key_pem.replace('\n', "\\n")),
        ("@KEYSP@", m.key_pem.replace('\n', " ")),
        ("@T@", TOKEN_CANARY.to_owned()),
        ("@PW@", PASSWORD_CANARY.to_owned()),
    ] {
        let with = if secret { with.as_str() } else { "@x@" };
        value = replace(&value, marker.as_bytes(), with.as_bytes());
    }
    value
}

/// `token` with the canary before and after (before trailing blanks), unless it has one.
pub fn with_token_canary(token: Vec<u8>) -> Vec<u8> {
    if token.windows(MARK.len()).any(|w| w == MARK.as_bytes()) {
        return token;
    }
    let end = token
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |at| at + 1);
    let mut out = TOKEN_CANARY.as_bytes().to_vec();
    out.extend_from_slice(&token[..end]);
    out.extend_from_slice(TOKEN_CANARY.as_bytes());
    out.extend_from_slice(&token[end..]);
    out
}

/// A URL's password (in `user:password@`) replaced by the password canary; a canary
/// anywhere else in the URL (a path: no secret, rightly shown) removed. The URL is read as
/// the sources read a proxy URL: `http://` is prepended when it has no `://`.
pub fn with_password_canary(value: Vec<u8>) -> Vec<u8> {
    password_canary(value, true)
}

/// Like [`with_password_canary`] for a URL read as written (a `kubectl proxy` URL: no
/// `http://` is prepended, so `http:t@h` has the user `t`, as `url` reads it).
pub fn with_url_password_canary(value: Vec<u8>) -> Vec<u8> {
    password_canary(value, false)
}

fn password_canary(value: Vec<u8>, prefix: bool) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(&value) else {
        return value;
    };
    let with_scheme = if text.contains("://") || !prefix {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let parsed = url::Url::parse(&with_scheme).ok();
    let password = parsed.as_ref().and_then(|u| u.password());
    let defused = text
        .replace(PASSWORD_CANARY, "pw")
        .replace(TOKEN_CANARY, "tok");
    match password {
        // The canary is the password, and nowhere else.
        Some(password)
            if password.contains(MARK)
                && text.matches(MARK).count() == password.matches(MARK).count() =>
        {
            value
        }
        // Another password: the canary replaces it where it is written, in the authority
        // (before the first `/` after the scheme), if it is written as the URL reads it.
        Some(password) if !password.contains(MARK) => {
            // As `url` reads a special scheme: the authority starts after the scheme's `:`
            // and any slashes (`http:u:p@h` has one too), not at a later `://`.
            let scheme_end = defused.find(':').map_or(0, |at| {
                at + 1 + defused[at + 1..].bytes().take_while(|b| *b == b'/').count()
            });
            let authority_end = defused[scheme_end..]
                .find(['/', '?', '#'])
                .map_or(defused.len(), |at| scheme_end + at);
            let (authority, rest) = defused.split_at(authority_end);
            let needle = format!(":{password}@");
            match authority.rfind(&needle) {
                Some(at) => format!(
                    "{}:{PASSWORD_CANARY}@{}{rest}",
                    &authority[..at],
                    &authority[at + needle.len()..]
                )
                .into_bytes(),
                None => defused.into_bytes(),
            }
        }
        _ => defused.into_bytes(),
    }
}

/// A variable that holds a secret: a token, key data, a password. (A proxy URL holds one in
/// its password only, which [`with_password_canary`] puts the canary in: no marker is.)
pub fn is_secret_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !is_proxy_variable(name)
        && (is_token_variable(name) || upper.contains("KEY_DATA") || upper.contains("PASSWORD"))
}

fn is_token_variable(name: &str) -> bool {
    name.to_ascii_uppercase().ends_with("TOKEN")
}

fn is_proxy_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.ends_with("_PROXY") && upper != "NO_PROXY"
}

/// A file name of the temporary directory: `[A-Za-z0-9._-]`, at most 64 characters, never
/// `.` or `..`.
fn file_name(name: &str) -> String {
    let name: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "_".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_variables_files_and_options() {
        let s = Scenario::new(
            b"KUBE_HOST=https://h\0/token=abc\n\0@context=dev\0KUBE_TOKEN=@T@\0A_FILE=$DIR/token",
        );
        assert_eq!(s.vars[0], ("KUBE_HOST".to_owned(), "https://h".into()));
        assert_eq!(s.vars[1].1, OsString::from(TOKEN_CANARY));
        assert_eq!(
            s.vars[2].1,
            s.dir.path().join("token").into_os_string(),
            "{s:?}"
        );
        let token = std::fs::read_to_string(&s.files[0].1).unwrap();
        assert_eq!(token, format!("{TOKEN_CANARY}abc{TOKEN_CANARY}\n"));
        assert_eq!(s.option_text("context").as_deref(), Some("dev"));
    }

    #[test]
    fn a_canary_is_a_proxy_urls_password_or_nowhere() {
        let url = |text: &str| String::from_utf8(with_password_canary(text.into())).unwrap();
        assert_eq!(
            url("http://u:pw@h:1/p"),
            format!("http://u:{PASSWORD_CANARY}@h:1/p")
        );
        assert_eq!(url("h:3128"), "h:3128");
        // What the proxy_url target's long run found: a password the URL reads as `%40`
        // (written `@`), and the canary in the path.
        let found = format!("http://usePrW@:@@prox/y.test:://user:{PASSWORD_CANARY}@proxy.test");
        assert!(!url(&found).contains(MARK), "{}", url(&found));
        let found = format!("http://u:pw@h/:pw@{PASSWORD_CANARY}");
        assert_eq!(url(&found), format!("http://u:{PASSWORD_CANARY}@h/:pw@pw"));
    }

    #[test]
    fn a_kubectl_proxy_url_is_read_as_written() {
        // What the proxy_url target's third long run found: `http:t@h` is the user `t`.
        let url = |text: &str| String::from_utf8(with_url_password_canary(text.into())).unwrap();
        assert_eq!(url("http:t@127.0.0.1:8001"), "http:t@127.0.0.1:8001");
        // And its fourth: the authority is `t@0:t@306.https`, not what follows a later `://`.
        let found = "http:t@0:t@306.https://api.exam:tG3:t@306.0.0`,";
        assert_eq!(
            url(found),
            format!("http:t@0:{PASSWORD_CANARY}@306.https://api.exam:tG3:t@306.0.0`,")
        );
        assert_eq!(
            url("http://u:t@127.0.0.1:8001"),
            format!("http://u:{PASSWORD_CANARY}@127.0.0.1:8001")
        );
    }

    #[test]
    fn an_inputs_own_byte_list_is_broken_up() {
        // What the kubeconfig target's first long run found in a variable's name.
        let s = Scenario::new(b"c45, 45, 45, 45, 45]piV@");
        assert_eq!(s.vars[0].0, "cx5, 45, 45, 45, 45]piV@");
        let s = Scenario::new(b"45, 45, 45, 45, 45, 45, 45");
        assert_eq!(s.vars[0].0, "x5, x5, x5, 45, 45, 45, 45");
    }

    #[test]
    fn an_inputs_piece_of_the_key_is_overwritten() {
        // What libFuzzer learnt from the oracle's comparisons, in a variable's name: the
        // builder's Debug rightly shows names.
        let piece = &material().key_body[20..40];
        let data = format!("KUBE_IN{piece}SECURE=1");
        let s = Scenario::new(data.as_bytes());
        assert!(!s.vars[0].0.contains(&piece[..12]), "{s:?}");
        assert!(s.vars[0].0.starts_with("KUBE_IN#"), "{s:?}");
    }

    #[test]
    fn an_inputs_own_canary_and_secret_markers_outside_secrets_are_defused() {
        let s = Scenario::new(b"KUBE_HOST=CANARY-@T@-@KEY@\0HTTPS_PROXY=http://u:pw@127.0.0.1:1");
        assert_eq!(s.vars[0].1, OsString::from("canary-@x@-@x@"));
        assert_eq!(
            s.vars[1].1,
            OsString::from(format!("http://u:{PASSWORD_CANARY}@127.0.0.1:1"))
        );
    }
}
