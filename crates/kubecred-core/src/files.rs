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
/// The type is checked twice: on the path first (so that a device in the file's place is never
/// opened), then on the opened file itself (`fstat`), which is what is read. On Unix the file
/// is opened with `O_NONBLOCK` (and `O_NOCTTY`), so that a FIFO renamed over the file between
/// the two checks fails at once instead of blocking the open until a writer comes.
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
    let not_regular = || invalid("is not a regular file".to_owned());
    let io_error = |e| SourceError::from_io(what, path, e);
    if !std::fs::metadata(path).map_err(io_error)?.is_file() {
        return Err(not_regular());
    }
    let file = open_without_blocking(path).map_err(io_error)?;
    // The opened file's own type: the path may have been swapped since the check above.
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(not_regular());
    }
    let mut content = Vec::with_capacity(metadata.len().min(MAX_FILE_BYTES) as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut content)
        .map_err(io_error)?;
    if content.len() as u64 > MAX_FILE_BYTES {
        content.zeroize();
        return Err(invalid(format!("is larger than {MAX_FILE_BYTES} bytes")));
    }
    Ok(content)
}

/// Opens `path` for reading without waiting: on Unix with `O_NONBLOCK` (a FIFO opens at once
/// even without a writer; regular files ignore the flag) and `O_NOCTTY` (a terminal swapped
/// in never becomes the process's controlling terminal).
fn open_without_blocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
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
            format!("token file {} is empty", crate::Shown::path(&path))
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
            format!("token file {} does not exist", crate::Shown::path(&path))
        );
        let err = read_token_file(&dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "token file {} is not a regular file",
                crate::Shown::path(&dir)
            )
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
                crate::Shown::path(&big)
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A FIFO renamed over the token between the path check and the open: the open does
    /// not wait for a writer, and the opened file's type is checked, so every read answers at
    /// once (the token, or "not a regular file"). Before `O_NONBLOCK`, one of the first
    /// thousands of reads blocked forever.
    #[cfg(unix)]
    #[test]
    fn a_fifo_swapped_in_under_reads_never_blocks_them() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{mpsc, Arc};
        use std::time::Duration;

        const READS: usize = 5_000;
        const BOUND: Duration = Duration::from_secs(20);
        let dir = tempfile_dir();
        let (token, regular, fifo) = (dir.join("token"), dir.join("regular"), dir.join("fifo"));
        std::fs::write(&regular, "tok\n").unwrap();
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::RUSR).unwrap();
        std::fs::hard_link(&regular, &token).unwrap();

        // Swaps the regular file and the FIFO over `token` (link + atomic rename, as the
        // kubelet swaps its `..data` link) until told to stop.
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, dir, token) = (Arc::clone(&stop), dir.clone(), token.clone());
            std::thread::spawn(move || {
                let staged = dir.join("staged");
                for i in 0u64.. {
                    if stop.load(Ordering::Relaxed) {
                        return i;
                    }
                    let source = if i % 2 == 0 { &fifo } else { &regular };
                    std::fs::hard_link(source, &staged).unwrap();
                    std::fs::rename(&staged, &token).unwrap();
                }
                unreachable!()
            })
        };
        let (done, finished) = mpsc::channel();
        let reader = {
            let token = token.clone();
            std::thread::spawn(move || {
                let refused = format!(
                    "token file {} is not a regular file",
                    crate::Shown::path(&token)
                );
                let mut answers = (0usize, 0usize);
                for _ in 0..READS {
                    match read_token_file(&token) {
                        Ok(value) => {
                            assert_eq!(value.expose_secret(), "tok");
                            answers.0 += 1;
                        }
                        Err(err) => {
                            assert_eq!(err.to_string(), refused);
                            answers.1 += 1;
                        }
                    }
                }
                done.send(answers).unwrap();
            })
        };
        let outcome = finished.recv_timeout(BOUND);
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        let (read, refused) = match outcome {
            Ok(answers) => answers,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("a read blocked: {READS} reads did not finish within {BOUND:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The reader panicked on an answer: show its message.
                std::panic::resume_unwind(reader.join().unwrap_err())
            }
        };
        assert_eq!(read + refused, READS, "{swaps} swaps");
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
