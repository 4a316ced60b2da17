//! [`Shown`]: how any text that came from outside (a path, a URL, a server's message) goes
//! into a message — control characters escaped and long text cut to a bounded prefix — so
//! that no variable, file name or server can send escape sequences to a terminal or fill a
//! log with its input.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// The most characters of one input a message quotes; a longer one is cut, and the message
/// says how long it was.
pub const MAX_SHOWN_CHARS: usize = 256;

/// Text from outside as a message shows it: control characters (C0, DEL, C1: escape
/// sequences, carriage returns, newlines) written as `\u{..}`, as JSON escapes them, and at
/// most [`MAX_SHOWN_CHARS`] characters, followed by `… (N bytes)` when cut. Paths that are not
/// UTF-8 show U+FFFD for the bytes that are not.
///
/// ```
/// use kubecred_core::Shown;
/// assert_eq!(Shown::text("/tmp/\u{1b}[31mred").to_string(), "/tmp/\\u{1b}[31mred");
/// let long = "a".repeat(1000);
/// let shown = Shown::text(&long).to_string();
/// assert!(shown.len() < 300 && shown.ends_with("… (1000 bytes)"));
/// assert_eq!(Shown::text("plain").to_string(), "plain");
/// ```
#[derive(Clone, Copy)]
pub struct Shown<'a> {
    text: &'a str,
}

impl<'a> Shown<'a> {
    /// `text`, shown.
    pub fn text(text: &'a str) -> Self {
        Self { text }
    }

    /// `path`, shown (lossily when it is not UTF-8).
    pub fn path(path: &'a Path) -> ShownPath<'a> {
        ShownPath(path)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_shown(self.text, f)
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A path as a message shows it: see [`Shown`].
#[derive(Clone, Copy)]
pub struct ShownPath<'a>(&'a Path);

impl fmt::Display for ShownPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_shown(&self.0.to_string_lossy(), f)
    }
}

impl fmt::Debug for ShownPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

fn write_shown(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (shown, c) in text.chars().enumerate() {
        if shown == MAX_SHOWN_CHARS {
            return write!(f, "… ({} bytes)", text.len());
        }
        if c.is_control() {
            write!(f, "\\u{{{:x}}}", u32::from(c))?;
        } else {
            fmt::Write::write_char(f, c)?;
        }
    }
    Ok(())
}

/// `text` with its control characters escaped as [`Shown`] escapes them (without the length
/// bound), but for those in `keep` (an error paragraph keeps its newlines): for renderings
/// made of parts that may not all have been shown, such as a report line or an error chain.
pub fn escape_controls<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    let escaped = |c: char| c.is_control() && !keep.contains(&c);
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_is_cut() {
        assert_eq!(
            Shown::text("a\u{7}b\u{9b}c\nd").to_string(),
            "a\\u{7}b\\u{9b}c\\u{a}d"
        );
        let long = "é".repeat(300);
        let shown = Shown::text(&long).to_string();
        assert_eq!(shown.chars().filter(|&c| c == 'é').count(), MAX_SHOWN_CHARS);
        assert!(shown.ends_with("… (600 bytes)"), "{shown}");
        assert_eq!(
            Shown::text(&"x".repeat(MAX_SHOWN_CHARS)).to_string().len(),
            MAX_SHOWN_CHARS
        );
    }

    #[test]
    fn a_path_that_is_not_utf8_is_shown_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff\x1b"));
        assert_eq!(Shown::path(path).to_string(), "/tmp/\u{fffd}\\u{1b}");
        assert_eq!(escape_controls("ok", &[]), "ok");
        assert_eq!(escape_controls("\u{1b}[2J\n", &[]), "\\u{1b}[2J\\u{a}");
        assert_eq!(escape_controls("\u{1b}[2J\n", &['\n']), "\\u{1b}[2J\n");
    }
}
