//! The collector: every client's ACKs in one place, the "ready" moment and mark convergence.
//!
//! A mark (`mark LABEL TYPE` on stdin) snapshots, per client, the version of TYPE it has ACKed.
//! The client has converged once it ACKs a TYPE response that it received after the mark and
//! whose version differs from that snapshot; its convergence time is mark → that ACK. The
//! harness sends the mark *before* it changes the configuration, so the figure includes the
//! control plane noticing the change, debouncing, generating and sending, and never less.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Event, Kind};

#[derive(Debug, Default, Clone)]
struct ClientRecord {
    acked: [Option<String>; 4],
    bytes: u64,
    responses: u64,
    synced: bool,
    connected: bool,
    disconnects: u64,
    last_error: String,
}

#[derive(Debug)]
struct Mark {
    label: String,
    kind: Kind,
    at: Instant,
    deadline: Instant,
    baseline: Vec<Option<String>>,
    bytes_at_mark: Vec<u64>,
    converged: Vec<Option<Duration>>,
}

/// All clients' state, fed by [`Event`]s; methods return the JSON lines to print.
#[derive(Debug)]
pub struct Collector {
    started: Instant,
    clients: Vec<ClientRecord>,
    ready_reported: bool,
    mark: Option<Mark>,
}

impl Collector {
    pub fn new(n: usize) -> Self {
        Collector {
            started: Instant::now(),
            clients: vec![ClientRecord::default(); n],
            ready_reported: false,
            mark: None,
        }
    }

    /// Applies one client event; returns a line when it completes "ready" or a mark.
    pub fn on_event(&mut self, ev: Event) -> Option<Value> {
        match ev {
            Event::Acked {
                client,
                kind,
                version,
                received,
                acked,
                bytes,
            } => {
                let rec = &mut self.clients[client];
                rec.bytes += bytes;
                rec.responses += 1;
                rec.connected = true;
                if let Some(m) = self.mark.as_mut()
                    && m.kind == kind
                    && received >= m.at
                    && m.converged[client].is_none()
                    && m.baseline[client].as_deref() != Some(version.as_str())
                {
                    m.converged[client] = Some(acked.saturating_duration_since(m.at));
                }
                rec.acked[kind as usize] = Some(version);
            }
            Event::Synced { client } => self.clients[client].synced = true,
            Event::Disconnected { client, error } => {
                let rec = &mut self.clients[client];
                rec.connected = false;
                rec.synced = false;
                rec.disconnects += 1;
                rec.last_error = error;
            }
        }
        self.check()
    }

    /// "ready" once every client is synced; a mark's report once all converged or it timed out.
    pub fn check(&mut self) -> Option<Value> {
        if !self.ready_reported && self.clients.iter().all(|c| c.synced) {
            self.ready_reported = true;
            return Some(self.stats("ready"));
        }
        let m = self.mark.as_ref()?;
        let done = m.converged.iter().all(Option::is_some);
        if done || Instant::now() >= m.deadline {
            let m = self.mark.take()?;
            return Some(self.mark_report(m));
        }
        None
    }

    /// Starts a mark; an error line if one is already open.
    pub fn mark(&mut self, label: &str, kind: Kind, timeout: Duration) -> Value {
        if let Some(m) = &self.mark {
            return json!({"event": "error", "error": format!("mark {} is still open", m.label)});
        }
        let at = Instant::now();
        self.mark = Some(Mark {
            label: label.to_string(),
            kind,
            at,
            deadline: at + timeout,
            baseline: self
                .clients
                .iter()
                .map(|c| c.acked[kind as usize].clone())
                .collect(),
            bytes_at_mark: self.clients.iter().map(|c| c.bytes).collect(),
            converged: vec![None; self.clients.len()],
        });
        json!({"event": "marked", "label": label, "type": kind.short()})
    }

    /// Counts over all clients, as the `ready` and `stats` lines print them.
    pub fn stats(&self, event: &str) -> Value {
        let n = self.clients.len().max(1) as f64;
        let bytes: u64 = self.clients.iter().map(|c| c.bytes).sum();
        let last_error = self
            .clients
            .iter()
            .rev()
            .find(|c| !c.last_error.is_empty())
            .map(|c| c.last_error.clone());
        json!({
            "event": event,
            "clients": self.clients.len(),
            "connected": self.clients.iter().filter(|c| c.connected).count(),
            "synced": self.clients.iter().filter(|c| c.synced).count(),
            "disconnects": self.clients.iter().map(|c| c.disconnects).sum::<u64>(),
            "responses": self.clients.iter().map(|c| c.responses).sum::<u64>(),
            "bytes_total": bytes,
            "bytes_per_client": bytes as f64 / n,
            "seconds": self.started.elapsed().as_secs_f64(),
            "last_error": last_error,
        })
    }

    fn mark_report(&self, m: Mark) -> Value {
        let mut ms: Vec<f64> = m
            .converged
            .iter()
            .flatten()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let since: u64 = self
            .clients
            .iter()
            .zip(&m.bytes_at_mark)
            .map(|(c, before)| c.bytes - before)
            .sum();
        json!({
            "event": "converged",
            "label": m.label,
            "type": m.kind.short(),
            "clients": m.converged.len(),
            "converged": ms.len(),
            "missing": m.converged.len() - ms.len(),
            "p50_ms": percentile(&ms, 50.0),
            "p99_ms": percentile(&ms, 99.0),
            "max_ms": ms.last(),
            "bytes_per_client": since as f64 / m.converged.len().max(1) as f64,
        })
    }
}

/// Nearest-rank percentile of sorted values; `None` when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(client: usize, kind: Kind, version: &str, received: Instant) -> Event {
        Event::Acked {
            client,
            kind,
            version: version.into(),
            received,
            acked: received + Duration::from_millis(2),
            bytes: 100,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn ready_once_every_client_synced() {
        let mut c = Collector::new(2);
        assert!(c.on_event(Event::Synced { client: 0 }).is_none());
        let line = c.on_event(Event::Synced { client: 1 }).expect("ready");
        assert_eq!(line["event"], "ready");
        assert!(c.check().is_none(), "ready is reported once");
    }

    #[test]
    fn mark_counts_only_new_versions_received_after_it() {
        let mut c = Collector::new(2);
        let before = Instant::now();
        c.on_event(ack(0, Kind::Route, "v1", before));
        c.on_event(ack(1, Kind::Route, "v1", before));
        c.mark("route", Kind::Route, Duration::from_secs(5));
        let after = Instant::now();
        // Same version again, an older response, another type: none of them converge.
        assert!(c.on_event(ack(0, Kind::Route, "v1", after)).is_none());
        assert!(c.on_event(ack(1, Kind::Route, "v2", before)).is_none());
        assert!(c.on_event(ack(0, Kind::Endpoint, "e2", after)).is_none());
        assert!(c.on_event(ack(0, Kind::Route, "v2", after)).is_none());
        let line = c.on_event(ack(1, Kind::Route, "v2", after)).expect("done");
        assert_eq!(line["converged"], 2);
        assert_eq!(line["missing"], 0);
        // Bytes count every response after the mark: 3 for client 0, 2 for client 1.
        assert_eq!(line["bytes_per_client"], 250.0);
    }

    #[test]
    fn mark_times_out_with_missing_clients() {
        let mut c = Collector::new(2);
        c.mark("eds", Kind::Endpoint, Duration::ZERO);
        let line = c.check().expect("timed out");
        assert_eq!(line["missing"], 2);
        assert_eq!(line["p99_ms"], Value::Null);
    }
}
