//! The exec credential cache: an opt-in directory where a still-valid exec credential outlives
//! the process that ran the plugin, so that the next process (a script's next command, a shell
//! prompt, a CI step) reads it instead of running the plugin again.
//!
//! - **Key**: SHA-256 over a length-prefixed encoding of everything that decides the
//!   credential: the exec `apiVersion`, the program (its resolved path), `args` and `env` (names
//!   and values, in order), with `provideClusterInfo` the cluster's server, CA data,
//!   `tls-server-name` and exec extension, and the variables of [`KEY_VARIABLES`] the plugin
//!   inherits (its profile, region, account, `HOME`). The entry is `<hex of the key>.json`.
//! - **Entry**: an `ExecCredential` holding only the `status` (token, client certificate and
//!   key, `expirationTimestamp`): nothing that names the machine, user or cluster. Only a
//!   credential with an `expirationTimestamp` is written, and it is used until
//!   [`REFRESH_BEFORE_EXPIRY`] before it.
//! - **Safety**: the directory is created `0700`; the directory, the entry and its lock file
//!   must be owned by the effective user and not group- or world-accessible (`mode & 0o077 ==
//!   0`), else the cache is not used (one warning per directory and process) and the plugin
//!   runs as if there were none. Files are opened without following a symbolic link. Writes go
//!   to a temporary file in the same directory, are synced, then renamed over the entry, so a
//!   crash leaves the old entry or the new one, never a torn one; an entry that does not
//!   decode, or has no expiry, is a miss, replaced by the next run.
//! - **Concurrency**: `<hex>.lock` is locked (`flock`, exclusive) while the entry is read and
//!   the plugin runs, so processes with the same key run it once at a time; the kernel
//!   releases a dead process's lock, so none wedges anyone. Waiting for it is bounded by the
//!   exec timeout (then the plugin runs without the cache), polled so that dropping the
//!   future gives up at once.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use kubecred_core::{Credentials, Environment, Shown};
use secrecy::zeroize::Zeroizing;

use super::{wire, ClusterInfo, REFRESH_BEFORE_EXPIRY};
use crate::HOME_VAR;

/// Where exec credentials are cached across processes, if anywhere
/// ([`KubeconfigSourceBuilder::exec_cache`](crate::KubeconfigSourceBuilder::exec_cache)).
///
/// Off by default: a cached credential is a bearer secret on disk, readable by any process
/// of the same user for as long as it is valid, which a program must choose to accept (the
/// plugin's own caches, such as the AWS CLI's, make the same choice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecCache {
    /// No cache: every process runs the plugin (client-go's behaviour).
    #[default]
    Off,
    /// `$XDG_CACHE_HOME/kubecred/exec`, else `$HOME/.cache/kubecred/exec` (both read through
    /// the source's environment; a relative `XDG_CACHE_HOME` is ignored, as the XDG base
    /// directory specification says). With neither, the cache is off, with a warning.
    DefaultDir,
    /// This directory (created `0700` if missing, with its missing parents).
    Dir(PathBuf),
}

/// The variable whose `kubecred/exec` is [`ExecCache::DefaultDir`].
pub const XDG_CACHE_HOME_VAR: &str = "XDG_CACHE_HOME";

/// The default location under `XDG_CACHE_HOME` (or `$HOME/.cache`).
pub const DEFAULT_EXEC_CACHE_SUBDIR: &str = "kubecred/exec";

/// Variables a plugin inherits from the process that are part of the cache key, because the
/// usual plugins (`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`) choose the
/// identity by them: a change of profile, account or home directory misses the cache.
pub const KEY_VARIABLES: &[&str] = &[
    HOME_VAR,
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "CLOUDSDK_CONFIG",
    "CLOUDSDK_CORE_ACCOUNT",
    "CLOUDSDK_ACTIVE_CONFIG_NAME",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_CONFIG_DIR",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AAD_SERVICE_PRINCIPAL_CLIENT_ID",
];

/// The largest entry read: 1 MiB, the limit of every file kubecred reads.
const MAX_ENTRY_BYTES: u64 = kubecred_core::MAX_FILE_BYTES;

/// The longest pause between two attempts at a lock another process holds.
const MAX_LOCK_POLL: Duration = Duration::from_millis(50);

impl ExecCache {
    /// The directory this setting names, reading `XDG_CACHE_HOME` and `HOME` through `env`
    /// for [`ExecCache::DefaultDir`], with where it came from for messages (`origin` is the
    /// setting that turned the cache on: `--exec-cache`, `KUBECRED_EXEC_CACHE`, …); `None`
    /// when off, or when the default location cannot be found (warned).
    pub(crate) fn dir(&self, env: &dyn Environment, origin: &str) -> Option<(PathBuf, String)> {
        match self {
            ExecCache::Off => None,
            ExecCache::Dir(dir) => Some((dir.clone(), format!("cache directory set by {origin}"))),
            ExecCache::DefaultDir => {
                let absolute = |name: &str| {
                    env.path_var(name)
                        .ok()
                        .flatten()
                        .filter(|p| p.is_absolute())
                };
                let located = absolute(XDG_CACHE_HOME_VAR)
                    .map(|base| (base, XDG_CACHE_HOME_VAR))
                    .or_else(|| absolute(HOME_VAR).map(|home| (home.join(".cache"), HOME_VAR)))
                    .map(|(base, from)| {
                        (
                            base.join(DEFAULT_EXEC_CACHE_SUBDIR),
                            format!("cache directory: the default location under {from}, turned on by {origin}"),
                        )
                    });
                if located.is_none() {
                    tracing::warn!(
                        "the exec credential cache is off: its default location needs {XDG_CACHE_HOME_VAR} or {HOME_VAR} set to an absolute path"
                    );
                }
                located
            }
        }
    }
}

/// The cache key of a plugin: see the module's documentation.
pub(super) fn key(
    api_version: &str,
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    cluster: Option<&ClusterInfo>,
    inherited: &dyn Environment,
) -> [u8; 32] {
    let mut key = Key(ring::digest::Context::new(&ring::digest::SHA256));
    key.field(b"kubecred exec credential cache, key v1");
    key.field(api_version.as_bytes());
    key.field(program.as_os_str().as_bytes());
    key.count(args.len());
    for arg in args {
        key.field(arg.as_bytes());
    }
    key.count(env.len());
    for (name, value) in env {
        key.field(name.as_bytes());
        key.field(value.as_bytes());
    }
    match cluster {
        None => key.count(0),
        Some(cluster) => {
            key.count(1);
            key.field(cluster.server.as_bytes());
            key.optional(cluster.certificate_authority_data.as_deref());
            key.optional(cluster.tls_server_name.as_deref());
            // serde_json's maps are sorted: the same extension always encodes the same.
            let config = cluster.config.as_ref().map(|c| c.to_string());
            key.optional(config.as_deref());
        }
    }
    for name in KEY_VARIABLES {
        let value: Option<OsString> = inherited.raw_var_os(name);
        key.field(name.as_bytes());
        key.optional(value.as_deref().map(|v| v.as_bytes()));
    }
    let digest = key.0.finish();
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// A SHA-256 over fields each prefixed with its length, so no two encodings collide.
struct Key(ring::digest::Context);

impl Key {
    fn field(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.update(bytes);
    }

    fn count(&mut self, n: usize) {
        self.0.update(&(n as u64).to_le_bytes());
    }

    fn optional<B: AsRef<[u8]> + ?Sized>(&mut self, value: Option<&B>) {
        match value {
            None => self.count(0),
            Some(value) => {
                self.count(1);
                self.field(value.as_ref());
            }
        }
    }
}

/// One plugin's place in a cache directory.
pub(super) struct Cache {
    dir: PathBuf,
    /// Where the directory came from, for messages ("cache directory set by --exec-cache").
    origin: String,
    name: String,
}

/// Why the cache is not used for a run (its directory or a file of it is unsafe, or I/O
/// failed): names paths, never a value.
#[derive(Debug)]
pub(super) struct Unusable {
    path: PathBuf,
    problem: String,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", Shown::path(&self.path), self.problem)
    }
}

impl Unusable {
    fn io(path: &Path, what: &str, error: &io::Error) -> Self {
        Self {
            path: path.to_owned(),
            problem: format!("could not be {what}: {error}"),
        }
    }

    /// A file of the cache that could not be opened: a symbolic link (refused by
    /// `O_NOFOLLOW`) said in words, else the I/O error.
    fn open(path: &Path, error: &io::Error) -> Self {
        let symlink = error.raw_os_error() == Some(libc::ELOOP)
            && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if symlink {
            Self {
                path: path.to_owned(),
                problem: "is a symbolic link: not followed".to_owned(),
            }
        } else {
            Self::io(path, "opened", error)
        }
    }

    /// Warns, once per cache directory and process, that the cache is not used, saying
    /// where the directory came from.
    pub(super) fn warn_once(&self, cache: &Cache) {
        static WARNED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        if warned.contains(&cache.dir) {
            tracing::debug!(problem = %self, "exec credential cache not used");
            return;
        }
        warned.push(cache.dir.clone());
        tracing::warn!(
            "the exec credential cache is not used (the plugin runs as if there were none): {self} ({})",
            cache.origin
        );
    }
}

/// What an entry held, read under the lock or peeked at by `explain`.
pub(super) enum Lookup {
    /// A credential valid for at least [`REFRESH_BEFORE_EXPIRY`] more.
    Hit(Credentials),
    /// Nothing usable: why, for `explain`.
    Miss(&'static str),
}

/// What `explain` says of the cache, without running the plugin or taking the lock.
pub(super) enum Peek {
    /// A cached credential would be used, until this time (its expiry less the margin).
    Hit {
        kind: &'static str,
        until: SystemTime,
    },
    /// The plugin would run: why.
    Miss(&'static str),
    /// The cache would not be used.
    Unusable(Unusable),
}

impl Cache {
    /// `key`'s entry in `dir`, which came from `origin` (see [`ExecCache::dir`]).
    pub(super) fn new(dir: PathBuf, origin: String, key: [u8; 32]) -> Self {
        let name = key.iter().map(|b| format!("{b:02x}")).collect();
        Self { dir, origin, name }
    }

    /// The directory (for warnings and `explain`).
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the directory came from, for messages: "cache directory set by --exec-cache".
    pub(super) fn origin(&self) -> &str {
        &self.origin
    }

    fn entry_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.name))
    }

    /// Creates the directory (`0700`) when missing, checks it, and takes the entry's lock,
    /// waiting at most `patience` for another process that holds it.
    ///
    /// # Errors
    ///
    /// [`Unusable`] when the directory or lock file is unsafe or cannot be made, or the lock
    /// was not had within `patience`.
    pub(super) async fn lock(&self, patience: Duration) -> Result<Locked<'_>, Unusable> {
        if let Err(e) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
        {
            return Err(not_a_directory(&self.dir)
                .unwrap_or_else(|| Unusable::io(&self.dir, "created", &e)));
        }
        check_dir(&self.dir)?;
        let path = self.dir.join(format!("{}.lock", self.name));
        let file = open_private(&path, true).map_err(|e| Unusable::open(&path, &e))?;
        check_file(&path, &file)?;
        // A patience too long for the clock (`--exec-timeout 18446744073709551615`) is none.
        let deadline = Instant::now().checked_add(patience);
        let mut pause = Duration::from_millis(2);
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    return Ok(Locked {
                        cache: self,
                        _lock: file,
                    })
                }
                Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {}
                Err(e) => return Err(Unusable::io(&path, "locked", &e.into())),
            }
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => pause,
            };
            if left.is_zero() {
                return Err(Unusable {
                    path,
                    problem: format!(
                        "is held by another process for longer than the exec timeout of {}",
                        humantime::format_duration(patience)
                    ),
                });
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(MAX_LOCK_POLL);
        }
    }

    /// What `explain` would say: the entry read without the lock, nothing created, nothing
    /// run.
    pub(super) fn peek(&self, api_version: &str, command: &str, now: SystemTime) -> Peek {
        match fs::metadata(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Peek::Miss("the cache directory does not exist yet")
            }
            Err(e) => {
                return Peek::Unusable(
                    not_a_directory(&self.dir)
                        .unwrap_or_else(|| Unusable::io(&self.dir, "read", &e)),
                )
            }
            Ok(_) => {}
        }
        if let Err(unusable) = check_dir(&self.dir) {
            return Peek::Unusable(unusable);
        }
        match self.read(api_version, command, now) {
            Ok(Lookup::Hit(credentials)) => Peek::Hit {
                kind: credentials.kind().as_str(),
                until: due(&credentials).unwrap_or(now),
            },
            Ok(Lookup::Miss(why)) => Peek::Miss(why),
            Err(unusable) => Peek::Unusable(unusable),
        }
    }

    /// Reads the entry: a hit when it decodes as an `ExecCredential` of `api_version` whose
    /// expiry is more than [`REFRESH_BEFORE_EXPIRY`] after `now`.
    fn read(&self, api_version: &str, command: &str, now: SystemTime) -> Result<Lookup, Unusable> {
        let path = self.entry_path();
        let mut file = match open_private(&path, false) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Miss("no entry")),
            Err(e) => return Err(Unusable::open(&path, &e)),
        };
        check_file(&path, &file)?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(8192));
        if let Err(e) = (&mut file)
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
        {
            return Err(Unusable::io(&path, "read", &e));
        }
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return Ok(Lookup::Miss(
                "an entry over 1 MiB (replaced at the next run)",
            ));
        }
        let Ok(decoded) = wire::parse_output(&bytes, api_version, command) else {
            return Ok(Lookup::Miss(
                "an entry that does not decode (replaced at the next run)",
            ));
        };
        match due(&decoded.credentials) {
            None => Ok(Lookup::Miss(
                "an entry without an expiry (replaced at the next run)",
            )),
            Some(due) if now >= due => Ok(Lookup::Miss(
                "an entry within 10 s of its expiry, or past it",
            )),
            Some(_) => Ok(Lookup::Hit(decoded.credentials)),
        }
    }
}

/// When a cached credential stops being used: [`REFRESH_BEFORE_EXPIRY`] before its expiry
/// (`None` without one).
fn due(credentials: &Credentials) -> Option<SystemTime> {
    credentials.expires_at().map(|expires_at| {
        expires_at
            .checked_sub(REFRESH_BEFORE_EXPIRY)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    })
}

/// An entry's lock, held: reads and writes of the entry. Dropping it releases the lock.
pub(super) struct Locked<'a> {
    cache: &'a Cache,
    _lock: File,
}

impl Locked<'_> {
    /// The entry, as [`Cache::peek`] reads it but under the lock.
    ///
    /// # Errors
    ///
    /// [`Unusable`] when the entry is unsafe (another owner, group or world access, not a
    /// regular file) or cannot be read.
    pub(super) fn read(
        &self,
        api_version: &str,
        command: &str,
        now: SystemTime,
    ) -> Result<Lookup, Unusable> {
        self.cache.read(api_version, command, now)
    }

    /// Replaces the entry with `contents`, atomically: a temporary file (`0600`) in the same
    /// directory, synced, renamed over the entry, and the directory synced.
    ///
    /// # Errors
    ///
    /// [`Unusable`] naming the file that could not be written (the temporary file is removed).
    pub(super) fn write(&self, contents: &[u8]) -> Result<(), Unusable> {
        let dir = &self.cache.dir;
        let temporary = dir.join(format!("{}.tmp", self.cache.name));
        let result = (|| {
            remove_if_present(&temporary)?;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temporary)?;
            file.write_all(contents)?;
            file.sync_all()?;
            fs::rename(&temporary, self.cache.entry_path())?;
            File::open(dir)?.sync_all()
        })();
        result.map_err(|e| {
            let _ = remove_if_present(&temporary);
            Unusable::io(&temporary, "written", &e)
        })
    }

    /// Removes the entry (a credential the server refused, or one that has no business
    /// there); a missing entry is fine.
    pub(super) fn remove(&self) {
        let path = self.cache.entry_path();
        if let Err(e) = remove_if_present(&path) {
            tracing::debug!(path = %Shown::path(&path), error = %e, "could not remove an exec cache entry");
        }
    }
}

/// Opens `path` (read-only, or read-write and created `0600` with `create`) without following
/// a symbolic link, and without blocking on a FIFO.
fn open_private(path: &Path, create: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    if create {
        options.write(true).create(true).mode(0o600);
    }
    options.open(path)
}

/// A file where `dir` or one of its parents should be (the deepest path that exists is not
/// a directory): said in words, where the I/O error would say "File exists" or "Not a
/// directory".
fn not_a_directory(dir: &Path) -> Option<Unusable> {
    let existing = dir.ancestors().find(|p| fs::metadata(p).is_ok())?;
    (!existing.is_dir()).then(|| Unusable {
        path: existing.to_owned(),
        problem: "is not a directory".to_owned(),
    })
}

/// The directory must be a directory owned by the effective user, without group or world
/// access.
fn check_dir(dir: &Path) -> Result<(), Unusable> {
    let metadata = fs::metadata(dir).map_err(|e| Unusable::io(dir, "read", &e))?;
    if !metadata.is_dir() {
        return Err(Unusable {
            path: dir.to_owned(),
            problem: "is not a directory".to_owned(),
        });
    }
    check_owner_and_mode(dir, &metadata, "directory", "0700")
}

/// An open file of the cache must be a regular file owned by the effective user, without
/// group or world access.
fn check_file(path: &Path, file: &File) -> Result<(), Unusable> {
    let metadata = file
        .metadata()
        .map_err(|e| Unusable::io(path, "read", &e))?;
    if !metadata.is_file() {
        return Err(Unusable {
            path: path.to_owned(),
            problem: "is not a regular file".to_owned(),
        });
    }
    check_owner_and_mode(path, &metadata, "file", "0600")
}

fn check_owner_and_mode(
    path: &Path,
    metadata: &fs::Metadata,
    what: &str,
    wanted: &str,
) -> Result<(), Unusable> {
    let euid = rustix::process::geteuid().as_raw();
    let problem = if metadata.uid() != euid {
        format!(
            "is a {what} owned by user {}, not by this process's user {euid}",
            metadata.uid()
        )
    } else if metadata.mode() & 0o077 != 0 {
        format!(
            "is a {what} with mode {:04o}, open to its group or others (it must be {wanted})",
            metadata.mode() & 0o7777
        )
    } else {
        return Ok(());
    };
    Err(Unusable {
        path: path.to_owned(),
        problem,
    })
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
