//! The connection manager's timeouts that hyper does not enforce: the connection's
//! `idle_timeout` (no open streams) and `max_connection_duration`, and per stream
//! `stream_idle_timeout` (no bytes either way; a route's `idle_timeout` overrides it) and
//! `request_timeout` (the whole request received).
//!
//! Activity is recorded in atomics by the bodies as frames pass and read by one timer per
//! connection and per stream, so a busy stream costs no timer resets.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `u64::MAX` milliseconds: no stream idle timeout.
const NEVER: u64 = u64::MAX;

/// The open streams of one downstream connection, for its idle timeout.
#[derive(Debug)]
pub struct ConnStreams {
    opened: Instant,
    active: AtomicUsize,
    /// When the last stream ended, in milliseconds since `opened`.
    idle_since_ms: AtomicU64,
}

/// Why a connection is drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnExpiry {
    Idle,
    MaxDuration,
}

impl ConnStreams {
    pub fn new() -> Self {
        Self {
            opened: Instant::now(),
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    pub fn stream_started(&self) {
        self.active.fetch_add(1, Ordering::AcqRel);
    }

    pub fn stream_ended(&self) {
        self.idle_since_ms
            .store(millis_since(self.opened), Ordering::Release);
        self.active.fetch_sub(1, Ordering::AcqRel);
    }

    /// The earliest deadline and what it means, at `now`; `None` when neither applies.
    fn next_deadline(
        &self,
        idle: Option<Duration>,
        max: Option<Duration>,
        now: Instant,
    ) -> Option<(Instant, Option<ConnExpiry>)> {
        let by_max = max.map(|m| (self.opened + m, Some(ConnExpiry::MaxDuration)));
        let by_idle = idle.map(|t| {
            if self.active.load(Ordering::Acquire) > 0 {
                // Busy: nothing can expire before a stream ends; look again one period on.
                (now + t, None)
            } else {
                let since = self.idle_since_ms.load(Ordering::Acquire);
                (
                    self.opened + Duration::from_millis(since) + t,
                    Some(ConnExpiry::Idle),
                )
            }
        });
        [by_max, by_idle].into_iter().flatten().min_by_key(|d| d.0)
    }

    /// Resolves when the connection must be drained; pending forever without timeouts.
    pub async fn expired(&self, idle: Option<Duration>, max: Option<Duration>) -> ConnExpiry {
        loop {
            let now = Instant::now();
            let Some((at, why)) = self.next_deadline(idle, max, now) else {
                return std::future::pending().await;
            };
            if at <= now
                && let Some(why) = why
            {
                return why;
            }
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

/// One stream's activity, shared by its request body, its response body and its timer.
#[derive(Debug)]
pub struct StreamActivity {
    started: Instant,
    /// The last frame either way, in milliseconds since `started`.
    last_ms: AtomicU64,
    idle_timeout_ms: AtomicU64,
    request_timeout: Option<Duration>,
    request_complete: AtomicBool,
    /// 0 until a timeout fires, then [`StreamExpiry::code`].
    fired: AtomicU8,
}

/// Which stream timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamExpiry {
    Idle,
    Request,
}

impl StreamExpiry {
    fn code(self) -> u8 {
        match self {
            StreamExpiry::Idle => 1,
            StreamExpiry::Request => 2,
        }
    }

    /// Envoy's local reply body and `response_code_details`.
    pub fn details(self) -> &'static str {
        match self {
            StreamExpiry::Idle => "stream_idle_timeout",
            StreamExpiry::Request => "request_overall_timeout",
        }
    }

    pub fn body(self) -> &'static str {
        match self {
            StreamExpiry::Idle => "stream timeout",
            StreamExpiry::Request => "request timeout",
        }
    }
}

impl StreamActivity {
    pub fn new(idle: Option<Duration>, request_timeout: Option<Duration>) -> Self {
        Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            idle_timeout_ms: AtomicU64::new(to_ms(idle)),
            request_timeout,
            request_complete: AtomicBool::new(false),
            fired: AtomicU8::new(0),
        }
    }

    /// A frame went through, either way.
    pub fn touch(&self) {
        self.last_ms
            .store(millis_since(self.started), Ordering::Relaxed);
    }

    /// The downstream request has been received whole.
    pub fn request_done(&self) {
        self.request_complete.store(true, Ordering::Relaxed);
    }

    /// A route's `idle_timeout` replaces the manager's.
    pub fn set_idle_timeout(&self, idle: Option<Duration>) {
        self.idle_timeout_ms.store(to_ms(idle), Ordering::Relaxed);
        self.touch();
    }

    /// The timeout that ended the stream, if one did.
    pub fn fired(&self) -> Option<StreamExpiry> {
        match self.fired.load(Ordering::Relaxed) {
            1 => Some(StreamExpiry::Idle),
            2 => Some(StreamExpiry::Request),
            _ => None,
        }
    }

    /// The earliest deadline and what it means.
    fn next_deadline(&self) -> Option<(Instant, StreamExpiry)> {
        let idle = match self.idle_timeout_ms.load(Ordering::Relaxed) {
            NEVER => None,
            t => {
                let last = self.last_ms.load(Ordering::Relaxed);
                let at = self.started + Duration::from_millis(last.saturating_add(t));
                Some((at, StreamExpiry::Idle))
            }
        };
        let request = self
            .request_timeout
            .filter(|_| !self.request_complete.load(Ordering::Relaxed))
            .map(|t| (self.started + t, StreamExpiry::Request));
        [idle, request].into_iter().flatten().min_by_key(|d| d.0)
    }

    /// Checks the deadlines at `now`: the timeout that has passed, or when to look again.
    pub fn check(&self, now: Instant) -> Result<Option<Instant>, StreamExpiry> {
        match self.next_deadline() {
            Some((at, why)) if at <= now => {
                self.fired.store(why.code(), Ordering::Relaxed);
                Err(why)
            }
            Some((at, _)) => Ok(Some(at)),
            None => Ok(None),
        }
    }

    /// Resolves when a stream timeout passes; pending forever without one.
    pub async fn expired(&self) -> StreamExpiry {
        loop {
            match self.check(Instant::now()) {
                Err(why) => return why,
                Ok(Some(at)) => tokio::time::sleep_until(at.into()).await,
                Ok(None) => return std::future::pending().await,
            }
        }
    }
}

fn to_ms(d: Option<Duration>) -> u64 {
    d.map_or(NEVER, |d| u64::try_from(d.as_millis()).unwrap_or(NEVER - 1))
}

fn millis_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_connection_with_open_streams_never_idles_out() {
        let c = ConnStreams::new();
        c.stream_started();
        let now = c.opened + 10 * S;
        let (_, why) = c.next_deadline(Some(S), None, now).unwrap();
        assert_eq!(why, None);
        c.stream_ended();
        let (at, why) = c.next_deadline(Some(S), None, Instant::now()).unwrap();
        assert_eq!(why, Some(ConnExpiry::Idle));
        assert!(at > c.opened);
    }

    #[test]
    fn max_duration_applies_while_streams_are_open() {
        let c = ConnStreams::new();
        c.stream_started();
        let (at, why) = c.next_deadline(Some(10 * S), Some(S), c.opened).unwrap();
        assert_eq!((at, why), (c.opened + S, Some(ConnExpiry::MaxDuration)));
        assert!(c.next_deadline(None, None, c.opened).is_none());
    }

    #[test]
    fn activity_pushes_the_stream_idle_deadline() {
        let a = StreamActivity::new(Some(S), None);
        assert_eq!(a.check(a.started + 2 * S), Err(StreamExpiry::Idle));
        let a = StreamActivity::new(Some(S), None);
        a.last_ms.store(1500, Ordering::Relaxed);
        assert_eq!(
            a.check(a.started + 2 * S),
            Ok(Some(a.started + Duration::from_millis(2500)))
        );
        assert_eq!(a.fired(), None);
    }

    #[test]
    fn the_request_timeout_stops_once_the_request_is_complete() {
        let a = StreamActivity::new(None, Some(S));
        assert_eq!(a.check(a.started + 2 * S), Err(StreamExpiry::Request));
        assert_eq!(a.fired(), Some(StreamExpiry::Request));
        let a = StreamActivity::new(None, Some(S));
        a.request_done();
        assert_eq!(a.check(a.started + 2 * S), Ok(None));
    }

    #[test]
    fn a_route_can_disable_the_stream_idle_timeout() {
        let a = StreamActivity::new(Some(S), None);
        a.set_idle_timeout(None);
        assert_eq!(a.check(a.started + 100 * S), Ok(None));
    }
}
