//! The two traits every source implements, and a static source.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{Credentials, Endpoint, SourceError};

/// Where the API server is and how to trust it.
///
/// # Contract
///
/// - [`ApiEndpoint::endpoint`] answers [`SourceError::NotApplicable`] when the source does not
///   apply here (its variables are unset, nothing listens at its address): a chain moves on.
///   It answers another [`SourceError`] when the source applies but is broken (one variable
///   without the other, an empty CA file): a chain stops there. The error names the variable
///   or file, never a value.
/// - It may do I/O (read small files, probe a socket with a bounded timeout) and is called
///   while a client is built or explained, never on the request path. Dropping the future
///   cancels the work; nothing is left half-applied.
/// - Calling it twice re-evaluates: the answer reflects the files and variables of that moment.
#[async_trait]
pub trait ApiEndpoint: Send + Sync + Debug {
    /// The source's name in every message: `env`, `in-cluster`, `proxy`, or a user's own.
    fn name(&self) -> &str;

    /// Resolves the endpoint. See the trait's contract for the errors.
    async fn endpoint(&self) -> Result<Endpoint, SourceError>;
}

/// What requests authenticate with.
///
/// # Contract
///
/// - [`CredentialSource::credentials`] returns the current credentials. After the first call
///   it must be cheap: no lock and no file I/O on the request path (a cached `Arc`, refreshed
///   in the background or when due). The first call may read files.
/// - [`CredentialSource::current`] is the synchronous fast path the client asks first on
///   every request: the credentials `credentials()` would return at that moment when the
///   source has them at hand (cached, not due for a re-read), `None` otherwise (the default),
///   and the client then awaits `credentials()`.
/// - [`CredentialSource::refresh`] re-reads now; the client calls it after a `401`, passing
///   the credentials the server refused, so that concurrent `401`s cause one re-read: a
///   source whose current credentials are already newer than `rejected` returns them without
///   reading. A failed re-read returns the error and keeps the last good value; a source may
///   then answer its current value without reading until its back-off has passed (`Cached`:
///   min(period, 10 s)), so that a run of `401`s does not read and warn on every request.
/// - While the credentials do not change, return the same `Arc` (clones of one): the client
///   compares credentials by identity, and builds the `Authorization` value and loads the
///   client certificate again for every new one (a source that makes a new `Arc` per call is
///   correct, only slower, and logs the certificate's re-read each time).
/// - Errors follow the same taxonomy as [`ApiEndpoint`]: *not applicable* or *failed*, naming
///   the variable or file, never the secret.
///
/// # Example: a source of your own
///
/// A token file that another program rotates, re-read every 60 s (and 10 s before a JWT's
/// `exp`, and after a `401`) by [`Cached`](crate::Cached), which gives `credentials`,
/// `current` and `refresh` the semantics above. The trait is `async` through the
/// [`async-trait`](https://docs.rs/async-trait) crate: implement it with `#[async_trait]`. A
/// client takes it with `ClientBuilder::credentials` next to any endpoint (a
/// [`StaticSource`], say), or in a chain when it is an [`ApiEndpoint`] too.
///
/// ```
/// use std::path::PathBuf;
/// use std::sync::Arc;
///
/// use async_trait::async_trait;
/// use kubecred_core::{
///     read_token_file, Cached, CredentialSource, Credentials, RefreshPolicy, SourceError,
///     SystemClock,
/// };
///
/// #[derive(Debug)]
/// struct TokenFile {
///     path: PathBuf,
///     token: Cached<Credentials>,
/// }
///
/// impl TokenFile {
///     fn new(path: PathBuf) -> Self {
///         let what = format!("token file {}", path.display()); // named in warnings
///         let token = Cached::new(what, RefreshPolicy::TOKEN, Arc::new(SystemClock));
///         Self { path, token }
///     }
///
///     fn read(&self) -> Result<Credentials, SourceError> {
///         read_token_file(&self.path).map(Credentials::bearer)
///     }
/// }
///
/// #[async_trait]
/// impl CredentialSource for TokenFile {
///     fn name(&self) -> &str {
///         "token-file"
///     }
///
///     async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
///         self.token.get(|| self.read())
///     }
///
///     fn current(&self) -> Option<Arc<Credentials>> {
///         self.token.current()
///     }
///
///     async fn refresh(&self, rejected: &Arc<Credentials>) -> Result<Arc<Credentials>, SourceError> {
///         self.token.refresh(rejected, || self.read())
///     }
/// }
///
/// # let dir = std::env::temp_dir().join(format!("kubecred-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # std::fs::write(dir.join("token"), "my-token\n").unwrap();
/// let source = TokenFile::new(dir.join("token"));
/// assert!(source.current().is_none(), "nothing read yet: a client awaits credentials()");
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let read = runtime.block_on(source.credentials()).unwrap();
/// // From now on, until the token is due, every request takes it at hand.
/// assert!(Arc::ptr_eq(&read, &source.current().unwrap()));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[async_trait]
pub trait CredentialSource: Send + Sync + Debug {
    /// The source's name in every message.
    fn name(&self) -> &str;

    /// The current credentials.
    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError>;

    /// The current credentials when the source has them at hand, without waiting, locking or
    /// reading a file: a cached value that is not due for a re-read. `None` when the caller
    /// must await [`CredentialSource::credentials`] (the cache is empty, or due); the default
    /// answers `None` always, which is correct for every source, only slower.
    ///
    /// The client asks this first on every request: a call of an `async` trait method costs
    /// an allocated future, about 1% of a request's time on loopback (BENCHMARKS.md, figure
    /// 3). A source that answers `Some` answers what `credentials()` would at that moment.
    fn current(&self) -> Option<Arc<Credentials>> {
        None
    }

    /// For a source whose read runs something that `explain` must not run (an exec
    /// credential plugin: it may prompt, take seconds, or cost money), what obtains the
    /// credentials: `explain` then reports this instead of calling
    /// [`CredentialSource::credentials`], and treats the credentials as secret for the
    /// composition checks. `None` (the default): `explain` reads the credentials as `build()`
    /// does. `build()` always reads them.
    fn deferred(&self) -> Option<Deferred> {
        None
    }

    /// Re-reads the credentials now, after the API server refused `rejected` with a `401`.
    /// The default returns [`CredentialSource::credentials`], for sources whose credentials
    /// never change.
    async fn refresh(&self, rejected: &Arc<Credentials>) -> Result<Arc<Credentials>, SourceError> {
        let _ = rejected;
        self.credentials().await
    }
}

/// What obtains a source's credentials when reading them would run something `explain` must
/// not run ([`CredentialSource::deferred`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deferred {
    /// For the report, never holding a secret: e.g. `exec plugin aws (run when a client is
    /// built; explain does not run it)`.
    pub how: String,
}

impl Deferred {
    /// Credentials obtained by `how`.
    pub fn new(how: impl Into<String>) -> Self {
        Self { how: how.into() }
    }
}

#[cfg(feature = "mock")]
mockall::mock! {
    /// A `mockall` mock of [`ApiEndpoint`] (feature `mock`): expectations for `name` and
    /// `endpoint`. Compose it with any credentials (`ClientBuilder::endpoint` and
    /// `::credentials` in `kubecred-client`) to test what a program does with an endpoint
    /// that is broken, or not there.
    ///
    /// ```
    /// use kubecred_core::{ApiEndpoint, Endpoint, MockApiEndpoint, SourceError, Trust};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut endpoint = MockApiEndpoint::new();
    /// endpoint.expect_name().return_const("mocked".to_owned());
    /// endpoint.expect_endpoint().times(1).returning(|| {
    ///     let url = "https://10.96.0.1:443".parse().unwrap();
    ///     Ok(Endpoint::new(url, Trust::SystemRoots))
    /// });
    ///
    /// let resolved = endpoint.endpoint().await.unwrap();
    /// assert_eq!(resolved.url().as_str(), "https://10.96.0.1/");
    /// assert_eq!(endpoint.name(), "mocked");
    ///
    /// // Not there: a chain would move on to its next source.
    /// let mut absent = MockApiEndpoint::new();
    /// absent
    ///     .expect_endpoint()
    ///     .returning(|| Err(SourceError::not_applicable("nothing here")));
    /// assert!(absent.endpoint().await.unwrap_err().is_not_applicable());
    /// # }
    /// ```
    pub ApiEndpoint {}

    #[async_trait]
    impl ApiEndpoint for ApiEndpoint {
        fn name(&self) -> &str;
        async fn endpoint(&self) -> Result<Endpoint, SourceError>;
    }
}

#[cfg(feature = "mock")]
impl Debug for MockApiEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockApiEndpoint")
    }
}

#[cfg(feature = "mock")]
mockall::mock! {
    /// A `mockall` mock of [`CredentialSource`] (feature `mock`): expectations for `name`,
    /// `credentials` and `refresh`. Its `current` is the trait's default (`None`), so a client
    /// asks the mock's `credentials` on every request, where the expectations are. Hand it to
    /// `ClientBuilder::credentials` (in `kubecred-client`) next to an endpoint.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use kubecred_core::{CredentialKind, CredentialSource, Credentials, MockCredentialSource};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut source = MockCredentialSource::new();
    /// source.expect_name().return_const("mocked".to_owned());
    /// // A stale token, then a new one when the client re-reads after a `401`.
    /// source
    ///     .expect_credentials()
    ///     .returning(|| Ok(Arc::new(Credentials::bearer("stale".to_owned().into()))));
    /// source
    ///     .expect_refresh()
    ///     .times(1)
    ///     .returning(|_rejected| Ok(Arc::new(Credentials::bearer("new".to_owned().into()))));
    ///
    /// let first = source.credentials().await.unwrap();
    /// assert_eq!(first.kind(), CredentialKind::BearerToken);
    /// assert!(source.current().is_none(), "the mock keeps the trait's default");
    /// let renewed = source.refresh(&first).await.unwrap();
    /// assert!(!Arc::ptr_eq(&first, &renewed));
    /// # }
    /// ```
    pub CredentialSource {}

    #[async_trait]
    impl CredentialSource for CredentialSource {
        fn name(&self) -> &str;
        async fn credentials(&self) -> Result<Arc<Credentials>, SourceError>;
        async fn refresh(&self, rejected: &Arc<Credentials>) -> Result<Arc<Credentials>, SourceError>;
    }
}

#[cfg(feature = "mock")]
impl Debug for MockCredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockCredentialSource")
    }
}

/// A source that is both an [`ApiEndpoint`] and a [`CredentialSource`]: what a chain is made
/// of. A chain takes the endpoint and the credentials from the same source.
pub trait Source: ApiEndpoint + CredentialSource {}

impl<T: ApiEndpoint + CredentialSource + ?Sized> Source for T {}

macro_rules! forward {
    ($($ptr:ident),*) => {$(
        #[async_trait]
        impl<T: ApiEndpoint + ?Sized> ApiEndpoint for $ptr<T> {
            fn name(&self) -> &str {
                (**self).name()
            }
            async fn endpoint(&self) -> Result<Endpoint, SourceError> {
                (**self).endpoint().await
            }
        }

        #[async_trait]
        impl<T: CredentialSource + ?Sized> CredentialSource for $ptr<T> {
            fn name(&self) -> &str {
                (**self).name()
            }
            async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
                (**self).credentials().await
            }
            fn current(&self) -> Option<Arc<Credentials>> {
                (**self).current()
            }
            fn deferred(&self) -> Option<Deferred> {
                (**self).deferred()
            }
            async fn refresh(&self, rejected: &Arc<Credentials>) -> Result<Arc<Credentials>, SourceError> {
                (**self).refresh(rejected).await
            }
        }
    )*};
}

forward!(Arc, Box);

/// A source built from values in code: a fixed endpoint and fixed credentials. For tests and
/// for programs that get their configuration elsewhere.
#[derive(Debug, Clone)]
pub struct StaticSource {
    name: String,
    endpoint: Endpoint,
    credentials: Arc<Credentials>,
}

impl StaticSource {
    /// A source named `static` that always answers `endpoint` and `credentials`.
    pub fn new(endpoint: Endpoint, credentials: Credentials) -> Self {
        Self {
            name: "static".to_owned(),
            endpoint,
            credentials: Arc::new(credentials),
        }
    }

    /// Renames the source (the name appears in every message).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

#[async_trait]
impl ApiEndpoint for StaticSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn endpoint(&self) -> Result<Endpoint, SourceError> {
        Ok(self.endpoint.clone())
    }
}

#[async_trait]
impl CredentialSource for StaticSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SourceError> {
        Ok(Arc::clone(&self.credentials))
    }

    fn current(&self) -> Option<Arc<Credentials>> {
        Some(Arc::clone(&self.credentials))
    }
}
