//! Readers for the small files sources share: a token file and a CA bundle file.
//!
//! This is the only I/O core does. Each call reads through the path (following the kubelet's
//! `..data` symlinks anew), so a rotated file is seen on the next call.

use std::path::Path;

use secrecy::zeroize::Zeroize;
use secrecy::SecretString;

use crate::{CaBundle, Origin, SourceError};

/// Reads a bearer token file: surrounding whitespace (a trailing newline) is trimmed and the
/// raw buffer is zeroed.
///
/// # Errors
///
/// [`SourceError::FileNotFound`] or [`SourceError::ReadFile`] (not UTF-8, permissions, ...),
/// and [`SourceError::EmptyFile`] when the file is empty or only whitespace. Each names
/// `path`, never the content.
pub fn read_token_file(path: &Path) -> Result<SecretString, SourceError> {
    let mut raw =
        std::fs::read_to_string(path).map_err(|e| SourceError::from_io("token", path, e))?;
    let token = raw.trim();
    let result = if token.is_empty() {
        Err(SourceError::EmptyFile {
            what: "token",
            path: path.to_owned(),
        })
    } else {
        Ok(SecretString::from(token))
    };
    raw.zeroize();
    result
}

/// Reads a PEM CA bundle file (one or more certificates).
///
/// # Errors
///
/// [`SourceError::FileNotFound`], [`SourceError::ReadFile`], [`SourceError::EmptyFile`], or
/// [`SourceError::InvalidCaBundle`] when the file holds no certificate or malformed PEM.
pub fn read_ca_bundle_file(path: &Path) -> Result<CaBundle, SourceError> {
    let pem = std::fs::read(path).map_err(|e| SourceError::from_io("CA bundle", path, e))?;
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Err(SourceError::EmptyFile {
            what: "CA bundle",
            path: path.to_owned(),
        });
    }
    CaBundle::from_pem(&pem, Origin::File(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn token_is_trimmed_and_empty_is_named() {
        let dir = std::env::temp_dir().join(format!("kubecred-core-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");

        std::fs::write(&path, "abc.def\n").unwrap();
        assert_eq!(read_token_file(&path).unwrap().expose_secret(), "abc.def");

        std::fs::write(&path, " \n").unwrap();
        let err = read_token_file(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("token file {} is empty", path.display())
        );

        std::fs::remove_file(&path).unwrap();
        let err = read_token_file(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("token file {} does not exist", path.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
