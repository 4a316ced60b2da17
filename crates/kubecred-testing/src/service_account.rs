//! A service-account directory laid out the way the kubelet's `AtomicWriter` lays out a
//! projected volume, with the same atomic `..data` symlink swap on update.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use secrecy::{ExposeSecret, SecretSlice};
use tempfile::TempDir;

/// The symlink to the current timestamped directory.
const DATA: &str = "..data";
/// The symlink made next to `..data` and renamed over it.
const DATA_TMP: &str = "..data_tmp";

/// The files of a service account, as bytes written verbatim: a builder for
/// [`ServiceAccountDir`].
///
/// A file not given is not created, so a test can make `token` or `ca.crt` missing; an empty
/// or malformed one is written as given. `Debug` never shows the token.
///
/// ```
/// use kubecred_testing::ServiceAccountFiles;
///
/// let files = ServiceAccountFiles::new()
///     .token("a-token\n")
///     .ca_crt("-----BEGIN CERTIFICATE-----\n...")
///     .namespace("team-a");
/// assert!(!format!("{files:?}").contains("a-token"));
/// ```
#[derive(Default, Clone)]
pub struct ServiceAccountFiles {
    token: Option<SecretSlice<u8>>,
    ca_crt: Option<Vec<u8>>,
    namespace: Option<Vec<u8>>,
}

impl ServiceAccountFiles {
    /// No files at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `token` file's contents, verbatim (a trailing newline stays).
    pub fn token(mut self, token: impl AsRef<[u8]>) -> Self {
        self.token = Some(SecretSlice::from(token.as_ref().to_vec()));
        self
    }

    /// The `ca.crt` file's contents, verbatim (usually PEM, e.g. [`ApiServer::ca_pem`]).
    ///
    /// [`ApiServer::ca_pem`]: crate::ApiServer::ca_pem
    pub fn ca_crt(mut self, ca_crt: impl AsRef<[u8]>) -> Self {
        self.ca_crt = Some(ca_crt.as_ref().to_vec());
        self
    }

    /// The `namespace` file's contents, verbatim.
    pub fn namespace(mut self, namespace: impl AsRef<[u8]>) -> Self {
        self.namespace = Some(namespace.as_ref().to_vec());
        self
    }

    /// The files given, by name.
    fn entries(&self) -> Vec<(&'static str, &[u8])> {
        let mut entries = Vec::with_capacity(3);
        if let Some(token) = &self.token {
            entries.push(("token", token.expose_secret()));
        }
        if let Some(ca_crt) = &self.ca_crt {
            entries.push(("ca.crt", ca_crt.as_slice()));
        }
        if let Some(namespace) = &self.namespace {
            entries.push(("namespace", namespace.as_slice()));
        }
        entries
    }
}

impl fmt::Debug for ServiceAccountFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountFiles")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "ca_crt",
                &self
                    .ca_crt
                    .as_ref()
                    .map(|bytes| format!("{} bytes", bytes.len())),
            )
            .field(
                "namespace",
                &self
                    .namespace
                    .as_ref()
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned()),
            )
            .finish()
    }
}

/// A service-account directory in a fresh temporary directory, removed on drop.
///
/// The layout is the kubelet's (its `AtomicWriter`, used for projected and secret volumes):
///
/// ```text
/// DIR/..2026_11_29_11_37_18.123456789/{token,ca.crt,namespace}   the files
/// DIR/..data -> ..2026_11_29_11_37_18.123456789                  relative symlink
/// DIR/token -> ..data/token                                       one per file ever written
/// DIR/ca.crt -> ..data/ca.crt
/// DIR/namespace -> ..data/namespace
/// ```
///
/// [`ServiceAccountDir::update`] rotates the files the way the kubelet does: a new timestamped
/// directory, a `..data_tmp` symlink to it renamed over `..data` (atomic), then the old
/// directory removed. A reader that opens `DIR/token` sees either the old or the new token,
/// never a mix. A file absent from an update is absent afterwards (its `DIR/NAME` symlink
/// dangles).
///
/// Unix only (symlinks).
///
/// ```
/// use kubecred_testing::{ServiceAccountDir, ServiceAccountFiles};
///
/// # fn main() -> std::io::Result<()> {
/// let dir = ServiceAccountDir::new(&ServiceAccountFiles::new().token("one").namespace("ns"))?;
/// assert_eq!(std::fs::read(dir.token_path())?, b"one");
/// dir.update(&ServiceAccountFiles::new().token("two").namespace("ns"))?;
/// assert_eq!(std::fs::read(dir.token_path())?, b"two");
/// assert!(!dir.ca_path().exists());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ServiceAccountDir {
    dir: TempDir,
}

impl ServiceAccountDir {
    /// A fresh temporary directory holding `files`.
    pub fn new(files: &ServiceAccountFiles) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kubecred-serviceaccount-")
            .tempdir()?;
        let this = Self { dir };
        this.update(files)?;
        Ok(this)
    }

    /// A fresh directory holding `files`, made inside `parent` (named
    /// `kubecred-serviceaccount-XXXXXX`, removed on drop): for a layout that must sit beside
    /// another file, e.g. a kubeconfig whose relative `tokenFile` points into it.
    pub fn new_in(parent: &Path, files: &ServiceAccountFiles) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kubecred-serviceaccount-")
            .tempdir_in(parent)
            .map_err(|e| context(e, "create a directory in", parent))?;
        let this = Self { dir };
        this.update(files)?;
        Ok(this)
    }

    /// The directory (what `/var/run/secrets/kubernetes.io/serviceaccount` is in a pod).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `DIR/token`.
    pub fn token_path(&self) -> PathBuf {
        self.path().join("token")
    }

    /// `DIR/ca.crt`.
    pub fn ca_path(&self) -> PathBuf {
        self.path().join("ca.crt")
    }

    /// `DIR/namespace`.
    pub fn namespace_path(&self) -> PathBuf {
        self.path().join("namespace")
    }

    /// Replaces the files atomically, as the kubelet does when it rotates a token: writes a
    /// new timestamped directory, points `..data_tmp` at it, renames `..data_tmp` over
    /// `..data`, adds `DIR/NAME -> ..data/NAME` for any file not seen before, and removes the
    /// previous timestamped directory.
    pub fn update(&self, files: &ServiceAccountFiles) -> io::Result<()> {
        let root = self.path();
        let data = root.join(DATA);
        let previous = match fs::read_link(&data) {
            Ok(target) => Some(target),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(context(e, "read the symlink", &data)),
        };

        let entries = files.entries();
        let name = create_timestamped_dir(root)?;
        for (file, contents) in &entries {
            let path = root.join(&name).join(file);
            fs::write(&path, contents).map_err(|e| context(e, "write", &path))?;
        }

        let tmp = root.join(DATA_TMP);
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(context(e, "remove the stale symlink", &tmp)),
        }
        symlink(&name, &tmp).map_err(|e| context(e, "create the symlink", &tmp))?;
        fs::rename(&tmp, &data).map_err(|e| context(e, "rename the symlink over", &data))?;

        for (file, _) in &entries {
            let user_visible = root.join(file);
            match fs::symlink_metadata(&user_visible) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    symlink(Path::new(DATA).join(file), &user_visible)
                        .map_err(|e| context(e, "create the symlink", &user_visible))?;
                }
                Err(e) => return Err(context(e, "inspect", &user_visible)),
            }
        }

        // Only ever remove a sibling timestamped directory we made, whatever `..data` held.
        if let Some(previous) = previous.filter(|p| is_timestamped_name(p) && *p != name) {
            let path = root.join(previous);
            fs::remove_dir_all(&path).map_err(|e| context(e, "remove the old directory", &path))?;
        }
        Ok(())
    }
}

/// Creates `DIR/..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN` (UTC, the kubelet's format), adding a
/// `_N` suffix when that name is taken (two updates in the same nanosecond). Returns the
/// relative name.
fn create_timestamped_dir(root: &Path) -> io::Result<PathBuf> {
    // "2026-11-29T11:37:18.123456789Z" -> "..2026_11_29_11_37_18.123456789"
    #[allow(clippy::disallowed_methods)] // named after the real time, as the kubelet does
    let rfc3339 = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
    let stamp: String = rfc3339
        .trim_end_matches('Z')
        .chars()
        .map(|c| if matches!(c, '-' | 'T' | ':') { '_' } else { c })
        .collect();
    let base = format!("..{stamp}");
    for attempt in 0u32..1000 {
        let name = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}_{attempt}")
        };
        let path = root.join(&name);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(PathBuf::from(name)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(context(e, "create the directory", &path)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "cannot create a timestamped directory {base}_N in {}: every name is taken",
            root.display()
        ),
    ))
}

/// `true` for a single relative component `..<something>` other than `..data`/`..data_tmp`.
fn is_timestamped_name(name: &Path) -> bool {
    let mut components = name.components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(single)), None) => single
            .to_str()
            .is_some_and(|s| s.starts_with("..") && s.len() > 2 && s != DATA && s != DATA_TMP),
        _ => false,
    }
}

/// The I/O error with what was being done and the path in its message.
fn context(error: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot {doing} {}: {error}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamped_dirs(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(root)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| is_timestamped_name(Path::new(name)))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn layout_matches_the_kubelet() {
        let files = ServiceAccountFiles::new()
            .token("tok\n")
            .ca_crt("garbage")
            .namespace("team-a");
        let dir = ServiceAccountDir::new(&files).unwrap();
        let root = dir.path();

        let data = root.join(DATA);
        assert!(fs::symlink_metadata(&data)
            .unwrap()
            .file_type()
            .is_symlink());
        let target = fs::read_link(&data).unwrap();
        assert!(target.is_relative());
        assert_eq!(
            timestamped_dirs(root),
            vec![target.to_string_lossy().into_owned()]
        );
        // ..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN
        let stamp = target.to_string_lossy().into_owned();
        assert_eq!(
            stamp.len(),
            "..2026_11_29_11_37_18.123456789".len(),
            "{stamp}"
        );
        assert_eq!(stamp.as_bytes()[6], b'_');
        assert_eq!(stamp.as_bytes()[21], b'.');

        for (name, path) in [
            ("token", dir.token_path()),
            ("ca.crt", dir.ca_path()),
            ("namespace", dir.namespace_path()),
        ] {
            assert!(fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(fs::read_link(&path).unwrap(), Path::new(DATA).join(name));
            assert!(fs::metadata(root.join(&target).join(name))
                .unwrap()
                .is_file());
        }
        assert_eq!(fs::read(dir.token_path()).unwrap(), b"tok\n");
        assert_eq!(fs::read(dir.ca_path()).unwrap(), b"garbage");
        assert_eq!(fs::read(dir.namespace_path()).unwrap(), b"team-a");
        assert!(!root.join(DATA_TMP).exists());
    }

    #[test]
    fn update_swaps_contents_and_removes_the_old_dir() {
        let dir =
            ServiceAccountDir::new(&ServiceAccountFiles::new().token("one").ca_crt("ca")).unwrap();
        let root = dir.path();
        let before = fs::read_link(root.join(DATA)).unwrap();

        dir.update(&ServiceAccountFiles::new().token("two").ca_crt("ca"))
            .unwrap();
        let after = fs::read_link(root.join(DATA)).unwrap();
        assert_ne!(before, after);
        assert!(!root.join(&before).exists());
        assert_eq!(
            timestamped_dirs(root),
            vec![after.to_string_lossy().into_owned()]
        );
        assert_eq!(fs::read(dir.token_path()).unwrap(), b"two");
        assert!(!root.join(DATA_TMP).exists());
    }

    #[test]
    fn many_quick_updates_get_unique_dirs() {
        let dir = ServiceAccountDir::new(&ServiceAccountFiles::new().token("0")).unwrap();
        for i in 1..50 {
            dir.update(&ServiceAccountFiles::new().token(i.to_string()))
                .unwrap();
            assert_eq!(fs::read_to_string(dir.token_path()).unwrap(), i.to_string());
            assert_eq!(timestamped_dirs(dir.path()).len(), 1);
        }
    }

    #[test]
    fn a_file_not_given_is_absent() {
        let dir = ServiceAccountDir::new(&ServiceAccountFiles::new().ca_crt("ca")).unwrap();
        assert!(!dir.token_path().exists());
        assert!(fs::symlink_metadata(dir.token_path()).is_err());
        assert_eq!(
            fs::read(dir.token_path()).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );

        // A file dropped by an update is gone too; its symlink dangles.
        let dir =
            ServiceAccountDir::new(&ServiceAccountFiles::new().token("t").ca_crt("ca")).unwrap();
        dir.update(&ServiceAccountFiles::new().ca_crt("ca"))
            .unwrap();
        assert!(!dir.token_path().exists());
        assert_eq!(
            fs::read(dir.token_path()).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(fs::read(dir.ca_path()).unwrap(), b"ca");

        // ... and comes back when a later update brings it.
        dir.update(&ServiceAccountFiles::new().token("back").ca_crt("ca"))
            .unwrap();
        assert_eq!(fs::read(dir.token_path()).unwrap(), b"back");
    }

    #[test]
    fn an_empty_file_is_written() {
        let dir = ServiceAccountDir::new(&ServiceAccountFiles::new().token("")).unwrap();
        assert_eq!(fs::read(dir.token_path()).unwrap(), b"");
    }

    #[test]
    fn debug_hides_the_token() {
        let files = ServiceAccountFiles::new().token("sekrit").namespace("ns");
        let debug = format!("{files:?}");
        assert!(!debug.contains("sekrit"), "{debug}");
        assert!(debug.contains("ns"));
    }

    #[test]
    fn the_directory_is_removed_on_drop() {
        let dir = ServiceAccountDir::new(&ServiceAccountFiles::new().token("t")).unwrap();
        let path = dir.path().to_owned();
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn only_timestamped_names_are_removed() {
        assert!(is_timestamped_name(Path::new(
            "..2026_11_29_11_37_18.123456789"
        )));
        assert!(!is_timestamped_name(Path::new("..data")));
        assert!(!is_timestamped_name(Path::new("/etc")));
        assert!(!is_timestamped_name(Path::new("../x")));
        assert!(!is_timestamped_name(Path::new("..")));
    }
}
