//! Checks that a text quotes nothing of a secret: for tests that a parser's message (which
//! may quote its input, a private key included) never reaches an error, a report or a `Debug`.

/// The base64 body of a PEM block, its lines joined (the `-----BEGIN`/`END` lines dropped):
/// what a leak of the key would show.
///
/// ```
/// let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\nBBBB\n-----END PRIVATE KEY-----\n";
/// assert_eq!(kubecred_testing::pem_body(pem), "AAAABBBB");
/// ```
pub fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|line| !line.starts_with("-----"))
        .collect()
}

/// Panics when `text` quotes any 16 consecutive characters of `body`, or lists bytes as
/// decimal numbers (`[45, 45, 45, …]`: what rustls-pki-types' message does with a PEM line).
///
/// ```
/// use kubecred_testing::assert_quotes_nothing_of;
/// assert_quotes_nothing_of("is not valid PEM: a block has no END line", "MIIEvQIBADANBgkqhkiG9w0B");
/// let leaked = std::panic::catch_unwind(|| {
///     assert_quotes_nothing_of("illegal section start: [45, 45, 45, 45]", "MIIE");
/// });
/// assert!(leaked.is_err());
/// ```
#[track_caller]
pub fn assert_quotes_nothing_of(text: &str, body: &str) {
    for window in body.as_bytes().windows(16) {
        let window = String::from_utf8_lossy(window);
        assert!(!text.contains(&*window), "quotes {window:?}: {text}");
    }
    let parts: Vec<&str> = text.split(", ").collect();
    let lists_bytes = parts.windows(3).any(|w| {
        w[0].ends_with(|c: char| c.is_ascii_digit())
            && !w[1].is_empty()
            && w[1].bytes().all(|b| b.is_ascii_digit())
            && w[2].starts_with(|c: char| c.is_ascii_digit())
    });
    assert!(!lists_bytes, "lists bytes: {text}");
}
