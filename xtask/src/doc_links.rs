//! After `cargo doc`: no page of ours shows an intra-doc link to one of our items as plain
//! text (`[ApiEndpoint]`).
//!
//! rustdoc resolves such a link (so it gives no warning) but renders it as its source text
//! when the target crate's documentation was not there yet when it started: with `--no-deps`
//! cargo documents the workspace's crates in any order, so a first build can leave
//! `[ApiEndpoint]` on the env source's front page, and a rebuild hides it. `cargo xtask ci`
//! documents in dependency order, and this check catches a regression.
//!
//! Only links naming one of our crates or items are reported: a link into a third-party crate
//! (`[SecretSlice]`) stays plain text under `--no-deps` by design, and the trait
//! implementations' sections, which repeat other crates' docs, are not searched.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// A link left as text: the page (relative to the doc directory) and the link's text.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Unresolved {
    pub(crate) page: PathBuf,
    pub(crate) link: String,
}

/// Every link to one of our items left as text in the pages of `crates` (crate names as
/// rustdoc writes them: `kubecred_core`) under `doc_dir`.
pub(crate) fn check(doc_dir: &Path, crates: &[String]) -> Result<Vec<Unresolved>, String> {
    let mut pages = Vec::new();
    for name in crates {
        let dir = doc_dir.join(name);
        if !dir.join("index.html").is_file() {
            return Err(format!(
                "{} is missing: was `{name}` documented?",
                dir.join("index.html").display()
            ));
        }
        collect_pages(&dir, &mut pages)?;
    }
    // Our names: the crates, and every item that has a page (`struct.Endpoint.html`).
    let mut ours: BTreeSet<String> = crates.iter().cloned().collect();
    for page in &pages {
        let Some(stem) = page.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if let Some((_kind, item)) = stem.split_once('.') {
            ours.insert(item.to_owned());
        }
    }
    let mut unresolved = Vec::new();
    for page in &pages {
        let html =
            fs::read_to_string(page).map_err(|e| format!("cannot read {}: {e}", page.display()))?;
        let relative = page.strip_prefix(doc_dir).unwrap_or(page).to_owned();
        for link in unresolved_links(&html) {
            let names_ours = link
                .trim_end_matches("()")
                .split("::")
                .any(|segment| ours.contains(segment));
            if names_ours {
                unresolved.push(Unresolved {
                    page: relative.clone(),
                    link,
                });
            }
        }
    }
    unresolved.sort();
    unresolved.dedup();
    Ok(unresolved)
}

fn collect_pages(dir: &Path, pages: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            collect_pages(&path, pages)?;
        } else if path.extension().is_some_and(|ext| ext == "html") {
            pages.push(path);
        }
    }
    Ok(())
}

/// The texts of the `[path]` and `` [`path`] `` links a page shows as text, outside code
/// blocks, code headers and the implementations that repeat other crates' docs.
fn unresolved_links(html: &str) -> Vec<String> {
    // The page's own docs come before the trait implementations.
    let end = [
        "id=\"trait-implementations\"",
        "id=\"synthetic-implementations\"",
        "id=\"blanket-implementations\"",
    ]
    .iter()
    .filter_map(|marker| html.find(marker))
    .min()
    .unwrap_or(html.len());
    let mut text = html[..end].to_owned();
    for (open, close) in [
        // The head's description is the summary line's Markdown source.
        ("<head>", "</head>"),
        ("<!--", "-->"),
        ("<script", "</script>"),
        ("<pre", "</pre>"),
        ("<h3 class=\"code-header\"", "</h3>"),
        ("<h4 class=\"code-header\"", "</h4>"),
    ] {
        text = remove_between(&text, open, close);
    }
    let mut links = Vec::new();
    // [`Name`] renders as [<code>Name</code>].
    let mut rest = text.as_str();
    while let Some(start) = rest.find("[<code>") {
        let after = &rest[start + "[<code>".len()..];
        if let Some(end) = after.find("</code>]") {
            if is_path(&after[..end]) {
                links.push(after[..end].to_owned());
            }
        }
        rest = after;
    }
    // [Name] renders as itself: look outside inline code, where `args[i]` is no link.
    let prose = remove_between(&text, "<code>", "</code>");
    let mut rest = prose.as_str();
    while let Some(start) = rest.find('[') {
        let after = &rest[start + 1..];
        if let Some(end) = after.find(']') {
            if is_path(&after[..end]) {
                links.push(after[..end].to_owned());
            }
        }
        rest = after;
    }
    links
}

/// A Rust path as a link names it: `Endpoint`, `kubecred_core::Cached`, `Client::request()`.
fn is_path(text: &str) -> bool {
    let text = text.strip_suffix("()").unwrap_or(text);
    !text.is_empty()
        && text.split("::").all(|segment| {
            let mut chars = segment.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `text` without every `open`…`close` span (an unclosed one runs to the end).
fn remove_between(text: &str, open: &str, close: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        kept.push_str(&rest[..start]);
        match rest[start..].find(close) {
            Some(end) => rest = &rest[start + end + close.len()..],
            None => rest = "",
        }
    }
    kept.push_str(rest);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_left_as_text_are_found_in_both_forms() {
        let html = "<p>implements [<code>ApiEndpoint</code>] and [kubecred_core::Cached] \
                    ([<code>Client::request()</code>])</p>";
        assert_eq!(
            unresolved_links(html),
            ["ApiEndpoint", "Client::request()", "kubecred_core::Cached"]
        );
    }

    #[test]
    fn code_headers_and_other_crates_docs_are_not_links() {
        let html = "<head><meta name=\"description\" content=\"shows [`Cached`]\"></head>\
                    <pre class=\"rust\">let x = v[i];</pre>\
                    <h3 class=\"code-header\">impl From&lt;&amp;[u8]&gt; for Bytes</h3>\
                    <p>an address <code>[::1]</code>, a slice <code>buf[start]</code>, \
                    a list [1, 2] and a note [see below]</p>\
                    <!--[if lte IE 11]><div>old</div><![endif]-->\
                    <h2 id=\"blanket-implementations\">Blanket</h2><p>[<code>Span</code>]</p>";
        assert_eq!(unresolved_links(html), Vec::<String>::new());
    }

    #[test]
    fn only_links_to_our_items_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("kubecred_env");
        let core = dir.path().join("kubecred_core");
        fs::create_dir_all(&env).unwrap();
        fs::create_dir_all(&core).unwrap();
        fs::write(
            env.join("index.html"),
            "<p>[<code>ApiEndpoint</code>], [<code>SecretSlice</code>], \
             [<code>kubecred_core::Cached</code>]</p>",
        )
        .unwrap();
        fs::write(core.join("index.html"), "<p>core</p>").unwrap();
        fs::write(core.join("trait.ApiEndpoint.html"), "<p>the trait</p>").unwrap();
        let crates = ["kubecred_core".to_owned(), "kubecred_env".to_owned()];
        let found = check(dir.path(), &crates).unwrap();
        let found: Vec<_> = found
            .iter()
            .map(|u| (u.page.to_str().unwrap(), u.link.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("kubecred_env/index.html", "ApiEndpoint"),
                ("kubecred_env/index.html", "kubecred_core::Cached"),
            ]
        );
        let error = check(dir.path(), &["kubecred_proxy".to_owned()]).unwrap_err();
        assert!(error.contains("kubecred_proxy"), "{error}");
    }
}
