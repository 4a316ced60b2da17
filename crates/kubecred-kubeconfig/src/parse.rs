//! Reading and parsing one kubeconfig file, with errors that give the file, line and column
//! and never quote a value.
//!
//! The YAML crate's own messages are never shown: a type error quotes the value it met
//! (`invalid type: string "…"`), and that value may be a token. kubecred says instead whether
//! the file is not YAML at all or holds a value of the wrong type, and where.

use std::path::Path;

use kubecred_core::{read_small_file, SourceError};
use secrecy::zeroize::Zeroize as _;

use crate::model::Kubeconfig;

/// Reads `path` ([`read_small_file`]: a regular file of at most 1 MiB) and parses it; the raw
/// buffer is zeroed afterwards.
///
/// # Errors
///
/// Those of [`read_small_file`] (what: `kubeconfig`); [`SourceError::InvalidFile`] naming the
/// file when it is not UTF-8, not YAML, nests flow collections deeper than
/// [`MAX_FLOW_NESTING`] (with the line), or is not shaped like a kubeconfig (with line and
/// column).
pub(crate) fn read(path: &Path) -> Result<Kubeconfig, SourceError> {
    let raw = read_small_file("kubeconfig", path)?;
    let mut text = match String::from_utf8(raw) {
        Ok(text) => text,
        Err(e) => {
            e.into_bytes().zeroize();
            return Err(invalid(path, "is not UTF-8".to_owned()));
        }
    };
    let parsed = parse(&text).map_err(|problem| invalid(path, problem));
    text.zeroize();
    parsed
}

/// Parses a kubeconfig; the error is the problem as a sentence fragment, never quoting the
/// text.
pub(crate) fn parse(text: &str) -> Result<Kubeconfig, String> {
    if is_blank(text) {
        // An empty file (or only comments): client-go's empty config.
        return Ok(Kubeconfig::default());
    }
    if let Err(line) = check_nesting(text.as_bytes()) {
        return Err(format!(
            "nests flow collections ([ and {{) more than {MAX_FLOW_NESTING} levels deep (line {line})"
        ));
    }
    match serde_norway::from_str::<Kubeconfig>(text) {
        Ok(config) => Ok(config),
        Err(shape) => {
            // Tell a syntax error from a value of the wrong type: the former fails even when
            // every value is ignored.
            let (what, error) = match serde_norway::from_str::<serde::de::IgnoredAny>(text) {
                Err(syntax) => ("is not valid YAML", syntax),
                Ok(_) => (
                    "is not a kubeconfig: a field holds a value of the wrong type",
                    shape,
                ),
            };
            Err(match error.location() {
                Some(at) => format!("{what} (line {}, column {})", at.line(), at.column()),
                None => what.to_owned(),
            })
        }
    }
}

/// The deepest nesting of YAML flow collections (`[…]`, `{…}`) kubecred parses, in kubeconfig
/// files and in exec plugins' output: 64 levels. A kubeconfig nests two or three; the YAML
/// parser's cost grows with the square of the depth (a 40,000-level `[[[…]]]`, 80 KB, took
/// seconds to refuse), so deeper text is refused by [`check_nesting`] before it is parsed.
/// Block nesting (by indentation, or `- - -`) costs linear time and is left to the parser.
pub(crate) const MAX_FLOW_NESTING: usize = 64;

/// Refuses YAML (or JSON) text whose flow collections nest deeper than [`MAX_FLOW_NESTING`],
/// in one linear pass and without parsing: `[` and `{` open a level and `]` and `}` close one,
/// except inside quoted scalars (`'…'` with `''`, `"…"` with `\` escapes), comments, block
/// scalars (`|`, `>` and their more indented lines) and plain scalars of block context (where
/// they are text). A quote opens a scalar only where a token may start (after whitespace, a
/// flow indicator, `:` or `?`), as in the YAML parser, so `don't` quotes nothing.
///
/// # Errors
///
/// The line (from 1) of the `[` or `{` that goes one level too deep.
pub(crate) fn check_nesting(text: &[u8]) -> Result<(), usize> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum State {
        /// Between tokens, or in an indicator.
        Out,
        /// In a plain scalar, an anchor, an alias or a tag; in block context, the scalar goes
        /// on at the next line when that is indented deeper than `parent` columns.
        Plain {
            parent: Option<usize>,
        },
        Single,
        Double,
        Comment,
        /// In the lines of a block scalar whose parent is indented `header` columns.
        Block {
            header: usize,
        },
    }
    let is_blank = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let is_flow = |b: u8| matches!(b, b',' | b'[' | b']' | b'{' | b'}');
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut column = 0usize;
    let mut state = State::Out;
    // Whether a token may start here (after whitespace, a flow indicator, `:`, `?`, a quote).
    let mut token_start = true;
    // The largest column a block token (key, entry, scalar, collection) started at on this line.
    let mut line_token: Option<usize> = None;
    // Up to where a plain scalar is known to go on across line breaks.
    let mut goes_on_until = 0usize;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        let next = text.get(i + 1).copied();
        let blank_next = next.is_none_or(is_blank);
        let mut step = 1;
        match state {
            State::Comment => {
                if b == b'\n' {
                    state = State::Out;
                    token_start = true;
                }
            }
            State::Single => {
                if b == b'\'' {
                    if next == Some(b'\'') {
                        step = 2;
                    } else {
                        state = State::Out;
                        token_start = true;
                    }
                }
            }
            State::Double => {
                if b == b'\\' {
                    step = 2;
                    if next == Some(b'\n') {
                        line += 1;
                        column = 0;
                        line_token = None;
                        i += 2;
                        continue;
                    }
                } else if b == b'"' {
                    state = State::Out;
                    token_start = true;
                }
            }
            State::Block { header } => {
                // At the start of a line: stays in the scalar while the line is blank or
                // indented deeper than the header's parent.
                if column == 0 {
                    let indent = text[i..].iter().take_while(|&&c| c == b' ').count();
                    let rest = text.get(i + indent).copied();
                    let blank_line = matches!(rest, None | Some(b'\n' | b'\r'));
                    if !blank_line && indent <= header {
                        state = State::Out;
                        token_start = true;
                        continue;
                    }
                }
            }
            State::Plain { parent } => {
                let ends = if depth > 0 {
                    is_flow(b) || (b == b':' && (blank_next || next.is_some_and(is_flow)))
                } else {
                    (b == b'\n' && i >= goes_on_until && {
                        // Decided once for a run of blank lines, so that the scan stays linear.
                        let (goes_on, decided_at) = continues(&text[i + 1..], parent);
                        goes_on_until = i + 1 + decided_at;
                        !goes_on
                    }) || (b == b':' && blank_next)
                };
                if ends {
                    state = State::Out;
                    token_start = true;
                    continue;
                }
                if b == b'#' && i > 0 && is_blank(text[i - 1]) {
                    state = State::Comment;
                }
            }
            State::Out => {
                let mut block_token = false;
                match b {
                    _ if is_blank(b) => token_start = true,
                    b'#' if token_start => state = State::Comment,
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > MAX_FLOW_NESTING {
                            return Err(line);
                        }
                        token_start = true;
                        block_token = true;
                    }
                    b']' | b'}' => {
                        depth = depth.saturating_sub(1);
                        token_start = true;
                    }
                    b',' => token_start = true,
                    b'\'' | b'"' if token_start => {
                        state = if b == b'"' {
                            State::Double
                        } else {
                            State::Single
                        };
                        block_token = true;
                    }
                    b':' | b'?' | b'-' if blank_next || (depth > 0 && b != b'-') => {
                        token_start = true;
                        block_token = b != b':';
                    }
                    b'|' | b'>' if depth == 0 && token_start => {
                        state = State::Block {
                            header: line_token.unwrap_or(column),
                        };
                        // The header (`|-`, `>2`, a comment) ends the line.
                        while i + step < text.len() && text[i + step] != b'\n' {
                            step += 1;
                        }
                    }
                    _ => {
                        block_token = !matches!(b, b'&' | b'*' | b'!');
                        state = State::Plain {
                            parent: line_token.or(column.checked_sub(1)),
                        };
                    }
                }
                if block_token && depth <= 1 {
                    line_token = Some(line_token.map_or(column, |c| c.max(column)));
                }
            }
        }
        for &c in &text[i..(i + step).min(text.len())] {
            if c == b'\n' {
                line += 1;
                column = 0;
                line_token = None;
            } else {
                column += 1;
            }
        }
        i += step;
    }
    Ok(())
}

/// Whether a plain scalar of block context whose parent is indented `parent` columns (`None`:
/// the document itself) goes on in `rest`, the text after a line break: the next line that
/// is not blank is indented deeper, and is no comment and no document marker. Also gives the
/// offset in `rest` of that line.
fn continues(rest: &[u8], parent: Option<usize>) -> (bool, usize) {
    let mut offset = 0;
    for line in rest.split(|&b| b == b'\n') {
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let content = line[indent..].trim_ascii();
        if !content.is_empty() {
            let marker =
                indent == 0 && (content.starts_with(b"---") || content.starts_with(b"..."));
            let goes_on =
                parent.is_none_or(|p| indent > p) && !content.starts_with(b"#") && !marker;
            return (goes_on, offset);
        }
        offset += line.len() + 1;
    }
    (false, rest.len())
}

/// Only whitespace and `#` comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    })
}

fn invalid(path: &Path, problem: String) -> SourceError {
    SourceError::InvalidFile {
        what: "kubeconfig",
        path: path.to_owned(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    const CANARY: &str = "canary-token-8f3a1c";

    #[test]
    fn malformed_yaml_on_a_token_line_gives_file_line_and_column_not_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let text = format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: \"{CANARY}\n    username: x: y\n"
        );
        std::fs::write(&path, &text).unwrap();
        let err = read(&path).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(
            err.to_string().starts_with(&format!(
                "kubeconfig file {} is not valid YAML (line ",
                path.display()
            )),
            "{err}"
        );
        assert!(err.to_string().contains(", column "), "{err}");
        assert_eq!(err.files(), vec![path]);
    }

    #[test]
    fn a_token_where_a_map_belongs_is_located_not_quoted() {
        // A plain scalar where client-go expects a bool: the YAML crate's own message would
        // quote it.
        let text = format!(
            "clusters:\n- name: c\n  cluster:\n    server: https://x\n    insecure-skip-tls-verify: {CANARY}\n"
        );
        let problem = parse(&text).unwrap_err();
        assert!(!problem.contains(CANARY), "{problem}");
        assert_eq!(
            problem,
            "is not a kubeconfig: a field holds a value of the wrong type (line 5, column 31)"
        );
    }

    #[test]
    fn blank_and_null_lists_are_empty() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# nothing\n\n").unwrap().is_empty());
        let printed = "apiVersion: v1\nclusters: null\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n";
        assert!(parse(printed).unwrap().is_empty());
        assert!(!parse("current-context: x\n").unwrap().is_empty());
    }

    #[test]
    fn secrets_are_parsed_into_secret_strings_and_debug_hides_them() {
        let text = format!(
            "users:\n- name: u\n  user:\n    token: {CANARY}\n    password: {CANARY}-p\n    username: admin\n    client-key-data: {CANARY}-k\n    exec:\n      command: aws\n      apiVersion: client.authentication.k8s.io/v1\n      env:\n      - name: SECRET\n        value: {CANARY}-e\n"
        );
        let config = parse(&text).unwrap();
        let user = &config.users[0].value;
        assert_eq!(user.token.as_ref().unwrap().expose_secret(), CANARY);
        let debug = format!("{config:?}");
        assert!(!debug.contains(CANARY), "{debug}");
        assert!(!debug.contains("admin"), "{debug}");
    }

    #[test]
    fn unknown_fields_preferences_and_extensions_are_accepted() {
        let text = "apiVersion: v1\nkind: Config\npreferences:\n  colors: true\nextensions:\n- name: x\n  extension: {a: 1}\nclusters:\n- name: c\n  cluster:\n    server: https://x\n    disable-compression: true\n    something-new: 1\n    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension: {audience: a}\n";
        let config = parse(text).unwrap();
        let cluster = &config.clusters[0].value;
        assert!(cluster.disable_compression);
        assert_eq!(
            cluster.extensions[0].name,
            "client.authentication.k8s.io/exec"
        );
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing_naming_the_line() {
        let deep = format!("apiVersion: v1\nx: {}\n", "[".repeat(200_000));
        let started = std::time::Instant::now();
        assert_eq!(
            parse(&deep).unwrap_err(),
            "nests flow collections ([ and {) more than 64 levels deep (line 2)"
        );
        // A hang guard only: the YAML parser took minutes on this.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let maps = format!("x:\n  y: {}", "{a: ".repeat(200_000));
        assert!(parse(&maps).unwrap_err().contains("(line 2)"));
        // Through the file: named, no value quoted.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, format!("token: {CANARY}\n{deep}")).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "kubeconfig file {} nests flow collections ([ and {{) more than 64 levels deep (line 3)",
                path.display()
            )
        );
    }

    #[test]
    fn the_nesting_scan_counts_only_real_flow_collections() {
        let ok = |text: &str| check_nesting(text.as_bytes()).is_ok();
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(ok(&deep(64)));
        assert!(!ok(&deep(65)));
        // Quoted, commented, block-scalar and block plain text is not nesting.
        let brackets = "[".repeat(100);
        for text in [
            format!("a: '{brackets}'\n"),
            format!("a: 'it''s {brackets}'\n"),
            format!("a: \"\\\" {brackets}\"\n"),
            format!("{{\"a\": \"{brackets}\"}}\n"),
            format!("a: b # {brackets}\n"),
            format!("a: x{brackets}\n"),
            format!("a: |\n  {brackets}\n  more\nb: 1\n"),
            format!("- k: >-\n    {brackets}\n- 1\n"),
            format!("a: don't\nb: x\n  {brackets}\n"),
            format!(
                "args: [eks, \"get-token\", 'x,y', it's]\n{}",
                "p: {}\n".repeat(100)
            ),
        ] {
            assert!(ok(&text), "{text}");
        }
        // A quote inside a plain scalar opens nothing: the brackets after it count.
        for text in [
            format!("a: don't\nb: {}", deep(65)),
            format!("a: x 'y\nb: {}", deep(65)),
            format!("[a 'b, 'c]'] {}", deep(65)),
            format!("- k: |\n    text\n  other: {}", deep(65)),
            format!("a: \"x\\\"\" {}", deep(65)),
        ] {
            assert!(!ok(&text), "{text}");
        }
    }

    #[test]
    fn json_is_yaml() {
        let config = parse(r#"{"contexts":[{"name":"a","context":{"cluster":"c","user":"u"}}],"current-context":"a"}"#).unwrap();
        assert_eq!(config.contexts[0].value.cluster, "c");
        assert_eq!(config.current_context.as_deref(), Some("a"));
    }
}
