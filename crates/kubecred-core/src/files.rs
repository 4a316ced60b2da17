//! Readers for the small files sources share (a token, a CA bundle, a namespace, a client
//! certificate or key), and the checks on what they hold.
//!
//! This is the only I/O core does. Each call reads through the path (following the kubelet's
//! `..data` symlinks anew), so a rotated file is seen on the next call. Only regular files of
//! at most [`MAX_FILE_BYTES`] are read: a FIFO or `/dev/zero` in a token's place fails at once
//! instead of hanging or exhausting memory.

use std::io::Read;
use std::path::Path;

use secrecy::zeroize::Zeroize;
use secrecy::SecretString;

use crate::{CaBundle, Origin, SourceError};

/// The largest file a source reads: 1 MiB (a CA bundle of a few hundred certificates).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a regular file of at most [`MAX_FILE_BYTES`].
///
/// # Errors
///
/// [`SourceError::FileNotFound`], [`SourceError::ReadFile`] (permissions, I/O), or
/// [`SourceError::InvalidFile`] for something that is not a regular file or is too large;
/// each names `what` and `path`.
pub fn read_small_file(what: &'static str, path: &Path) -> Result<Vec<u8>, SourceError> {
    let invalid = |problem: String| SourceError::InvalidFile {
        what,
        path: path.to_owned(),
        problem,
    };
    let metadata = std::fs::metadata(path).map_err(|e| SourceError::from_io(what, path, e))?;
    if !metadata.is_file() {
        return Err(invalid("is not a regular file".to_owned()));
    }
    let file = std::fs::File::open(path).map_err(|e| SourceError::from_io(what, path, e))?;
    let mut content = Vec::with_capacity(metadata.len().min(MAX_FILE_BYTES) as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut content)
        .map_err(|e| SourceError::from_io(what, path, e))?;
    if content.len() as u64 > MAX_FILE_BYTES {
        content.zeroize();
        return Err(invalid(format!("is larger than {MAX_FILE_BYTES} bytes")));
    }
    Ok(content)
}

/// Reads a bearer token file: surrounding whitespace (a trailing newline) is trimmed, the
/// token is checked with [`check_token`], and the raw buffer is zeroed.
///
/// # Errors
///
/// Those of [`read_small_file`]; [`SourceError::EmptyFile`] when the file is empty or only
/// whitespace; [`SourceError::InvalidToken`] when it is not UTF-8 or holds characters an
/// HTTP header cannot carry. Each names `path`, never the content.
pub fn read_token_file(path: &Path) -> Result<SecretString, SourceError> {
    let mut raw = read_small_file("token", path)?;
    let origin = || Origin::File(path.to_owned());
    let result = match std::str::from_utf8(&raw).map(str::trim) {
        Err(_) => Err(SourceError::InvalidToken {
            origin: origin(),
            problem: "is not UTF-8".to_owned(),
        }),
        Ok("") => Err(SourceError::EmptyFile {
            what: "token",
            path: path.to_owned(),
        }),
        Ok(token) => check_token(token, origin()).map(|()| SecretString::from(token)),
    };
    raw.zeroize();
    result
}

/// Checks that `token` can go in an `Authorization: Bearer` header: visible ASCII only, no
/// spaces (RFC 6750's `b64token` and every JWT fit).
///
/// # Errors
///
/// [`SourceError::InvalidToken`] naming `origin`, never quoting the token.
pub fn check_token(token: &str, origin: Origin) -> Result<(), SourceError> {
    if token.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(SourceError::InvalidToken {
            origin,
            problem: "holds characters an HTTP Authorization header cannot carry (spaces, control characters or non-ASCII)".to_owned(),
        })
    }
}

/// Reads a PEM CA bundle file (one or more certificates).
///
/// # Errors
///
/// Those of [`read_small_file`], [`SourceError::EmptyFile`], or
/// [`SourceError::InvalidCaBundle`] when the file holds no certificate or malformed PEM.
pub fn read_ca_bundle_file(path: &Path) -> Result<CaBundle, SourceError> {
    let pem = read_small_file("CA bundle", path)?;
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Err(SourceError::EmptyFile {
            what: "CA bundle",
            path: path.to_owned(),
        });
    }
    CaBundle::from_pem(&pem, Origin::File(path.to_owned()))
}

/// Checks that `namespace` is a Kubernetes namespace name: an RFC 1123 label (at most 63
/// characters of `a-z`, `0-9` and `-`, starting and ending with a letter or digit), so that
/// it can go in a request path as it is.
///
/// # Errors
///
/// The problem, as a sentence fragment that does not quote the value.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = namespace.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|&b| alnum(b) || b == b'-')
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1]);
    if valid {
        Ok(())
    } else {
        Err("is not a namespace name (at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn token_is_trimmed_checked_and_empty_is_named() {
        let dir = tempfile_dir();
        let path = dir.join("token");

        std::fs::write(&path, "abc.def\n").unwrap();
        assert_eq!(read_token_file(&path).unwrap().expose_secret(), "abc.def");

        std::fs::write(&path, " \n").unwrap();
        let err = read_token_file(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("token file {} is empty", path.display())
        );

        std::fs::write(&path, "first\nsecond-line\n").unwrap();
        let err = read_token_file(&path).unwrap_err();
        assert!(matches!(err, SourceError::InvalidToken { .. }), "{err:?}");
        assert!(!err.to_string().contains("second-line"));

        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_token_file(&path)
            .unwrap_err()
            .to_string()
            .ends_with("is not UTF-8"));

        std::fs::remove_file(&path).unwrap();
        let err = read_token_file(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("token file {} does not exist", path.display())
        );
        let err = read_token_file(&dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("token file {} is not a regular file", dir.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_huge_files_are_refused_without_reading_them() {
        let err = read_token_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "token file /dev/zero is not a regular file"
        );
        let dir = tempfile_dir();
        let big = dir.join("ca.crt");
        std::fs::write(&big, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = read_ca_bundle_file(&big).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "CA bundle file {} is larger than 1048576 bytes",
                big.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn namespaces_are_dns_labels() {
        for ok in ["default", "team-a", "a", "kube-system", &"a".repeat(63)] {
            assert_eq!(check_namespace(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Team",
            "-a",
            "a-",
            "../x",
            "a b",
            "a/b",
            &"a".repeat(64),
        ] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
    }

    fn tempfile_dir() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kubecred-core-files-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
