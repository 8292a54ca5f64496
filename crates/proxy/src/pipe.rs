//! Copying bytes both ways between two connections (`tcp_proxy`, upgraded HTTP connections)
//! without holding buffers while idle.
//!
//! A sidecar holds thousands of mostly idle connections, so per-connection memory is what
//! counts. Each direction reads into one scratch buffer per worker thread and writes from it
//! at once; only bytes the destination cannot take yet are copied into a buffer of the
//! connection's own, freed as soon as they are written. An idle connection therefore costs
//! its task and nothing else. Both directions are driven from one task without splitting the
//! streams, and one timer serves the idle timeout however much traffic flows.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most one read moves: the scratch buffer's size.
const CHUNK: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; CHUNK].into_boxed_slice());
}

/// What a finished copy moved and why it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piped {
    /// Bytes from the first stream to the second (downstream to upstream).
    pub received: u64,
    /// Bytes from the second stream to the first.
    pub sent: u64,
    pub end: PipeEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeEnd {
    /// Both sides closed, or a write failed.
    Closed,
    /// No byte either way for the idle timeout.
    Idle,
    /// `drained` resolved first.
    Drained,
}

/// One direction of the copy.
#[derive(Debug, Default)]
struct Direction {
    /// Bytes read but not yet accepted by the destination, and how many were written.
    backlog: Option<(Vec<u8>, usize)>,
    eof: bool,
    /// The destination has been shut down after the source ended.
    done: bool,
    unflushed: bool,
    moved: u64,
}

impl Direction {
    /// Copies until the source or the destination is pending, or the source has ended and
    /// the destination is shut down. An error ends the direction (a read error counts as
    /// the end of the source).
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        src: &mut R,
        dst: &mut W,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        while !self.done {
            ready!(self.poll_backlog(cx, dst))?;
            if self.eof {
                ready!(Pin::new(&mut *dst).poll_shutdown(cx)).ok();
                self.done = true;
                break;
            }
            let polled =
                SCRATCH.with_borrow_mut(|scratch| self.poll_read_write(cx, src, dst, scratch));
            if ready!(self.flush_when_pending(cx, dst, polled))? {
                continue;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes what the destination did not take before.
    fn poll_backlog<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut W,
    ) -> Poll<io::Result<()>> {
        while let Some((data, written)) = &mut self.backlog {
            let n = ready!(Pin::new(&mut *dst).poll_write(cx, &data[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
            self.moved += n as u64;
            self.unflushed = true;
            if *written == data.len() {
                self.backlog = None;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// One read into `scratch`, written on at once; what the destination cannot take yet
    /// becomes the backlog.
    fn poll_read_write<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        src: &mut R,
        dst: &mut W,
        scratch: &mut [u8],
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = ReadBuf::new(scratch);
        if ready!(Pin::new(&mut *src).poll_read(cx, &mut buf)).is_err() || buf.filled().is_empty() {
            self.eof = true;
            return Poll::Ready(Ok(()));
        }
        let filled = buf.filled();
        let mut written = 0;
        while written < filled.len() {
            match Pin::new(&mut *dst).poll_write(cx, &filled[written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        self.moved += written as u64;
        self.unflushed |= written > 0;
        if written < filled.len() {
            self.backlog = Some((filled[written..].to_vec(), 0));
        }
        Poll::Ready(Ok(()))
    }

    /// When the source has nothing more for now, flushes what was written (TLS may hold
    /// records back until then). `Ready(true)`: go on copying.
    fn flush_when_pending<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut W,
        polled: Poll<io::Result<()>>,
    ) -> Poll<io::Result<bool>> {
        match polled {
            Poll::Ready(r) => Poll::Ready(r.map(|()| true)),
            Poll::Pending => {
                if self.unflushed {
                    ready!(Pin::new(&mut *dst).poll_flush(cx))?;
                    self.unflushed = false;
                }
                Poll::Pending
            }
        }
    }
}

/// Copies both ways until both sides closed, a write failed, no byte moved for `idle`, or
/// `drained` resolved.
pub async fn pipe<A, B>(
    mut a: A,
    mut b: B,
    idle: Option<Duration>,
    drained: impl Future<Output = ()>,
) -> Piped
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut a_to_b, mut b_to_a) = (Direction::default(), Direction::default());
    let mut drained = std::pin::pin!(drained);
    let mut idle_timer = idle.map(|t| (t, Box::pin(tokio::time::sleep(t))));
    let mut last_moved = (0u64, Instant::now());
    let end = std::future::poll_fn(|cx| {
        let forward = a_to_b.poll_copy(cx, &mut a, &mut b);
        let backward = b_to_a.poll_copy(cx, &mut b, &mut a);
        if matches!(forward, Poll::Ready(Err(_))) || matches!(backward, Poll::Ready(Err(_))) {
            return Poll::Ready(PipeEnd::Closed);
        }
        if a_to_b.done && b_to_a.done {
            return Poll::Ready(PipeEnd::Closed);
        }
        if drained.as_mut().poll(cx).is_ready() {
            return Poll::Ready(PipeEnd::Drained);
        }
        let moved = a_to_b.moved + b_to_a.moved;
        if moved != last_moved.0 {
            last_moved = (moved, Instant::now());
        }
        match &mut idle_timer {
            Some((t, sleep)) => poll_idle(cx, *t, sleep.as_mut(), last_moved.1),
            None => Poll::Pending,
        }
    })
    .await;
    Piped {
        received: a_to_b.moved,
        sent: b_to_a.moved,
        end,
    }
}

/// A tunnel after an HTTP upgrade or CONNECT: copies until either side closes (no idle
/// timeout, no drain), then logs what moved as `what`.
pub async fn tunnel<A, B>(a: A, b: B, what: &'static str)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let piped = pipe(a, b, None, std::future::pending()).await;
    tracing::debug!(received = piped.received, sent = piped.sent, "{what} ended");
}

/// The idle timer fires once per period at most: if bytes moved since it was armed, it is
/// re-armed for a period after the last of them instead.
fn poll_idle(
    cx: &mut Context<'_>,
    idle: Duration,
    mut sleep: Pin<&mut tokio::time::Sleep>,
    last_activity: Instant,
) -> Poll<PipeEnd> {
    loop {
        ready!(sleep.as_mut().poll(cx));
        let deadline = last_activity + idle;
        if deadline <= Instant::now() {
            return Poll::Ready(PipeEnd::Idle);
        }
        sleep.as_mut().reset(deadline.into());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    #[tokio::test]
    async fn copies_both_ways_and_counts_bytes() {
        let (mut client, a) = duplex(64);
        let (b, mut server) = duplex(64);
        let task = tokio::spawn(pipe(a, b, None, std::future::pending()));
        // More than the duplex buffers hold, so the backlog path is taken.
        let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let sent = payload.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.unwrap();
            client.shutdown().await.unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
            back
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, payload);
        server.write_all(b"reply").await.unwrap();
        server.shutdown().await.unwrap();
        drop(server);
        assert_eq!(writer.await.unwrap(), b"reply");
        let piped = task.await.unwrap();
        assert_eq!((piped.received, piped.sent), (100_000, 5));
        assert_eq!(piped.end, PipeEnd::Closed);
    }

    #[tokio::test]
    async fn traffic_defers_the_idle_timeout() {
        let (mut client, a) = duplex(1024);
        let (b, mut server) = duplex(1024);
        let started = Instant::now();
        let idle = Duration::from_millis(300);
        let task = tokio::spawn(pipe(a, b, Some(idle), std::future::pending()));
        // A byte every 200 ms: never idle for 300 ms, though the copy outlives it 3 times.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            client.write_all(b"x").await.unwrap();
            let mut one = [0u8; 1];
            server.read_exact(&mut one).await.unwrap();
        }
        let piped = task.await.unwrap();
        assert_eq!(piped.end, PipeEnd::Idle);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1100), "{took:?}");
        assert_eq!(piped.received, 4);
    }

    #[tokio::test]
    async fn drained_ends_the_copy() {
        let (_client, a) = duplex(64);
        let (b, _server) = duplex(64);
        let piped = pipe(a, b, None, async {}).await;
        assert_eq!(piped.end, PipeEnd::Drained);
    }
}
