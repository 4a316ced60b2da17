//! The oracle every target checks: no canary, and nothing of the private key, in anything a
//! person or a log could see.

use std::error::Error;
use std::fmt::Debug;
use std::sync::OnceLock;

use base64::Engine as _;
use kubecred_testing::{pem_body, CertificateAuthority, LogCapture};

/// The text every token the input carries holds ([`crate::scenario`]'s `@T@` marker, and the
/// prefix and suffix a token variable or file is given).
pub const TOKEN_CANARY: &str = "CANARY-tok-q7Zx3";

/// The text every password the input carries holds (`@PW@`, and a proxy URL's password).
pub const PASSWORD_CANARY: &str = "CANARY-pw-q7Zx3";

/// What both canaries start with: an input's own `CANARY` is lowercased before a target
/// reads it ([`crate::scenario::sanitize`]), so that only a secret can carry it.
pub const MARK: &str = "CANARY";

/// A secret shown as bytes (`[67, 65, 78, …]`, what a `Debug` of a byte buffer or a PEM
/// parser's message does), and what it would show: an input may not hold these
/// ([`crate::scenario::sanitize`] breaks them up).
pub const BYTE_PATTERNS: &[(&str, &str)] = &[
    ("67, 65, 78, 65, 82, 89", "a canary as decimal bytes"),
    ("67,65,78,65,82,89", "a canary as decimal bytes"),
    ("43414e415259", "a canary as hex"),
    ("43414E415259", "a canary as hex"),
    ("45, 45, 45, 45, 45", "a PEM line as decimal bytes"),
];

/// Key material made once per process (so its key cannot occur in an input): a CA, and a
/// client certificate it issued with its private key.
#[derive(Debug)]
pub struct Material {
    /// The CA's certificate, PEM.
    pub ca_pem: String,
    /// The client certificate, PEM.
    pub cert_pem: String,
    /// The client certificate's private key, PEM: a secret.
    pub key_pem: String,
    /// The key's base64 body, lines joined: what a leak of the key would show.
    pub key_body: String,
    /// Every 16 characters, at every 4th offset, of the key's body and of the base64 of its
    /// PEM (the `-data` form): a text containing one quotes the key.
    pub(crate) key_windows: Vec<String>,
    /// Every 12 characters, at every offset, of the same: what an input may not hold
    /// ([`Material::defuse`]).
    key_pieces: std::collections::HashSet<[u8; PIECE]>,
}

/// The length of the key pieces an input may not hold.
const PIECE: usize = 12;

impl Material {
    /// `data` with every piece of the key overwritten (`#`): libFuzzer learns the key from
    /// the oracle's comparisons and puts it in names, which messages rightly quote.
    pub fn defuse(&self, data: &mut [u8]) {
        let mut hit = vec![false; data.len()];
        for (at, window) in data.windows(PIECE).enumerate() {
            if self.key_pieces.contains(window) {
                hit[at..at + PIECE].iter_mut().for_each(|h| *h = true);
            }
        }
        for (byte, hit) in data.iter_mut().zip(hit) {
            if hit {
                *byte = b'#';
            }
        }
    }
}

/// This process's key material.
pub fn material() -> &'static Material {
    static MATERIAL: OnceLock<Material> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let ca = CertificateAuthority::new("fuzz-ca").expect("rcgen makes a CA");
        let client = ca
            .issue_client_certificate("fuzz-client")
            .expect("rcgen issues a client certificate");
        let public = [
            pem_body(&ca.pem()),
            pem_body(client.cert_pem()),
            base64(ca.pem().as_bytes()),
            base64(client.cert_pem().as_bytes()),
        ];
        let key_body = pem_body(client.key_pem());
        let mut key_windows = Vec::new();
        let mut key_pieces = std::collections::HashSet::new();
        for form in [key_body.clone(), base64(client.key_pem().as_bytes())] {
            for piece in form.as_bytes().windows(PIECE) {
                key_pieces.insert(<[u8; PIECE]>::try_from(piece).expect("PIECE bytes"));
            }
            let chars: Vec<char> = form.chars().collect();
            let mut start = 0;
            while start + 16 <= chars.len() {
                let window: String = chars[start..start + 16].iter().collect();
                // A P-256 key shares its algorithm's identifiers (and its public key) with
                // the certificates, which are no secret: only what is the key's own counts.
                if !public.iter().any(|text| text.contains(&window)) {
                    key_windows.push(window);
                }
                start += 4;
            }
        }
        Material {
            ca_pem: ca.pem(),
            cert_pem: client.cert_pem().to_owned(),
            key_pem: client.key_pem().to_owned(),
            key_body,
            key_windows,
            key_pieces,
        }
    })
}

/// Base64 (standard, padded) of `bytes`: the `-data` fields' encoding.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Collects what one input made visible, then checks it all at [`Oracle::finish`]; captures
/// this thread's `tracing` events (every level) meanwhile.
pub struct Oracle {
    texts: Vec<(String, String)>,
    canary: bool,
    key: bool,
    logs: LogCapture,
}

impl Debug for Oracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oracle")
            .field("texts", &self.texts.len())
            .finish_non_exhaustive()
    }
}

impl Default for Oracle {
    fn default() -> Self {
        Self::start()
    }
}

impl Oracle {
    /// Starts capturing logs; both checks armed.
    pub fn start() -> Self {
        Self {
            texts: Vec::new(),
            canary: true,
            key: true,
            logs: LogCapture::start(),
        }
    }

    /// Disarms the canary check: for an input that put a canary where it is not a secret (a
    /// name, which messages rightly quote).
    pub fn without_canary(&mut self) {
        self.canary = false;
    }

    /// Disarms the key check: for an input that put the key where it is not a secret.
    pub fn without_key(&mut self) {
        self.key = false;
    }

    /// A text someone could see.
    pub fn text(&mut self, what: &str, text: impl Into<String>) {
        self.texts.push((what.to_owned(), text.into()));
    }

    /// `value`'s `Debug`, plain and pretty.
    pub fn debug(&mut self, what: &str, value: &dyn Debug) {
        self.text(what, format!("{value:?}"));
        self.text(what, format!("{value:#?}"));
    }

    /// `error`'s `Display`, its chain and its `Debug`.
    pub fn error(&mut self, what: &str, error: &(dyn Error + 'static)) {
        self.text(what, error.to_string());
        self.text(what, kubecred_core::error_chain(error));
        self.debug(what, &error);
    }

    /// An outcome: the value's `Debug`, or the error's renderings.
    pub fn result<T: Debug, E: Error + 'static>(&mut self, what: &str, result: &Result<T, E>) {
        match result {
            Ok(value) => self.debug(what, value),
            Err(error) => self.error(what, error),
        }
    }

    /// Checks every text and the captured logs; panics naming the first leak.
    pub fn finish(mut self) {
        let logs = self.logs.take();
        self.texts.push(("the logs".to_owned(), logs));
        if show() {
            for (what, text) in &self.texts {
                eprintln!("--- {what}:\n{text}");
            }
        }
        for (what, text) in &self.texts {
            if let Some(leak) = self.leak(text) {
                panic!("{what} shows {leak}:\n{text}");
            }
        }
    }

    fn leak(&self, text: &str) -> Option<&'static str> {
        if self.canary && (text.contains(TOKEN_CANARY) || text.contains(PASSWORD_CANARY)) {
            return Some("a canary");
        }
        // A secret as bytes: decimal (`[67, 65, 78, …]`) or hex.
        for (pattern, what) in BYTE_PATTERNS {
            if (self.canary || !pattern.starts_with('6')) && text.contains(pattern) {
                return Some(what);
            }
        }
        if self.key
            && material()
                .key_windows
                .iter()
                .any(|window| text.contains(window.as_str()))
        {
            return Some("16 characters of the private key");
        }
        None
    }
}

/// Whether `KUBECRED_FUZZ_SHOW` is set: [`Oracle::finish`] then prints every text it checks
/// (to see what a corpus input reaches).
#[allow(clippy::disallowed_methods)] // a switch for a person debugging a target, not a source's input
fn show() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("KUBECRED_FUZZ_SHOW").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(check: impl FnOnce() + std::panic::UnwindSafe) -> bool {
        std::panic::catch_unwind(check).is_err()
    }

    #[test]
    fn the_oracle_finds_each_kind_of_leak_and_passes_clean_text() {
        assert!(!fails(|| {
            let mut oracle = Oracle::start();
            oracle.text(
                "a message",
                "environment variable KUBE_TOKEN is not valid UTF-8",
            );
            oracle.text("a certificate", material().cert_pem.clone());
            oracle.finish();
        }));
        assert!(fails(|| {
            let oracle = Oracle::start();
            kubecred_core::SourceError::not_applicable(format!("token {TOKEN_CANARY}"));
            tracing::debug!("read token {TOKEN_CANARY}");
            oracle.finish();
        }));
        assert!(fails(|| {
            let mut oracle = Oracle::start();
            let piece = &material().key_body[40..60];
            oracle.debug("a parser's message", &format!("bad line {piece}"));
            oracle.finish();
        }));
        assert!(fails(|| {
            let mut oracle = Oracle::start();
            oracle.debug("a buffer", &PASSWORD_CANARY.as_bytes());
            oracle.finish();
        }));
        // Disarmed, a canary in a name passes.
        assert!(!fails(|| {
            let mut oracle = Oracle::start();
            oracle.without_canary();
            oracle.text("a context's name", format!("context {TOKEN_CANARY}"));
            oracle.finish();
        }));
    }
}
