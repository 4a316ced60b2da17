//! `Body`: a streamed answer's body, chunk by chunk as the server sends it, timed by the
//! client's idle limit.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::{Client, Error};

/// The body of a streamed answer ([`Client::send_streaming`], [`Client::get_streaming`]):
/// the bytes as the server sends them, chunk by chunk (kube-apiserver sends a watch's events
/// one JSON object per line, flushed one by one), never buffered by the client.
///
/// It is both an [`http_body::Body`](https://docs.rs/http-body/1/http_body/trait.Body.html)
/// (`Data = Bytes`, `Error = `[`Error`]) and a
/// [`futures_core::Stream`] of `Result<Bytes, Error>` (data only: trailers are skipped), and
/// [`Body::next_chunk`] reads it without either trait. It ends when the server ends the body.
///
/// Limits: the whole-request limit ([`crate::ClientBuilder::timeout`]) never bounds it (it
/// bounded the head); the idle limit ([`crate::ClientBuilder::idle_timeout`], none by default)
/// does: when nothing arrives for that long after the head or since the last chunk, the next
/// item is an [`Error::Timeout`] of [`crate::TimeLimit::Idle`], and the body ends after it. A
/// connection that fails mid-stream gives an [`Error::Transport`], then the end. Dropping the
/// body closes the stream and its connection.
pub struct Body {
    inner: reqwest::Body,
    /// The idle limit and its timer, restarted by every frame.
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    /// For errors: the source's name and the URL.
    client: Client,
    path: Box<str>,
    /// An error or the end was returned: nothing follows.
    done: bool,
}

impl Body {
    /// The body of the answer to a request for `path`, its idle timer started now (the head
    /// has arrived). Must be called within the tokio runtime, as every send is.
    pub(crate) fn new(
        inner: reqwest::Body,
        client: Client,
        path: &str,
        idle: Option<Duration>,
    ) -> Self {
        Self {
            inner,
            idle: idle.map(|limit| {
                (
                    limit,
                    Box::pin(tokio::time::sleep_until(idle_deadline(limit))),
                )
            }),
            client,
            path: path.into(),
            done: false,
        }
    }

    /// The next chunk of data as it arrives, or `Ok(None)` at the end of the body.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] ([`crate::TimeLimit::Idle`]) after the idle limit's silence;
    /// [`Error::Transport`] when the connection fails. Either ends the body.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        poll_fn(|cx| Pin::new(&mut *self).poll_data(cx))
            .await
            .transpose()
    }

    /// The next data frame's bytes (trailers skipped).
    fn poll_data(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        let this = self.get_mut();
        loop {
            match ready!(Pin::new(&mut *this).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }
}

/// The longest idle limit timed as given: 30 years, the bound tokio puts on its own sleeps
/// (a longer one overflows the monotonic clock on some systems). A longer limit
/// ([`Duration::MAX`], `--idle-timeout 18446744073709551615`) is timed as this: no limit in
/// practice, where `Instant::now() + limit` would panic.
const MAX_IDLE_LIMIT: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// When the idle limit fires if nothing arrives from now on.
fn idle_deadline(limit: Duration) -> Instant {
    Instant::now() + limit.min(MAX_IDLE_LIMIT)
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        // What has arrived wins over a timer that fired meanwhile.
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some((limit, sleep)) = &mut this.idle {
                    sleep.as_mut().reset(idle_deadline(*limit));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.done = true;
                Poll::Ready(Some(Err(this.client.transport_error(error, &this.path))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some((limit, sleep)) = &mut this.idle else {
                    return Poll::Pending;
                };
                ready!(sleep.as_mut().poll(cx));
                this.done = true;
                let limit = crate::TimeLimit::Idle(*limit);
                Poll::Ready(Some(Err(this.client.timeout_error(&this.path, limit))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

impl futures_core::Stream for Body {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_data(cx)
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("source", &self.client.source_name())
            .field("path", &kubecred_core::Shown::text(&self.path).to_string())
            .field("idle_timeout", &self.idle.as_ref().map(|(limit, _)| *limit))
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
