//! The server's counters, shown by `GET /live`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Connections open now: WebSocket connections and SSE streams.
    clients: AtomicU64,
    /// Subscriptions open now, over every connection.
    subscriptions: AtomicU64,
    /// Updates written to clients.
    updates_sent: AtomicU64,
    /// Resyncs told to clients.
    resyncs: AtomicU64,
    /// Client messages refused (malformed, too large, too deep, too many topics).
    refused: AtomicU64,
}

/// What a [`Guard`] counts while it lives.
#[derive(Clone, Copy, Debug)]
pub(super) enum Gauge {
    Clients,
    Subscriptions,
}

/// What [`Stats::count`] adds one to.
#[derive(Clone, Copy, Debug)]
pub(super) enum Counter {
    UpdatesSent,
    Resyncs,
    Refused,
}

/// Counts one open client or subscription for as long as it lives.
#[derive(Debug)]
pub(super) struct Guard {
    stats: Arc<Stats>,
    gauge: Gauge,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stats.gauge(self.gauge).fetch_sub(1, Ordering::Relaxed);
    }
}

impl Stats {
    fn gauge(&self, gauge: Gauge) -> &AtomicU64 {
        match gauge {
            Gauge::Clients => &self.clients,
            Gauge::Subscriptions => &self.subscriptions,
        }
    }

    pub(super) fn open(self: &Arc<Self>, gauge: Gauge) -> Guard {
        self.gauge(gauge).fetch_add(1, Ordering::Relaxed);
        Guard {
            stats: Arc::clone(self),
            gauge,
        }
    }

    pub(super) fn count(&self, counter: Counter) {
        let counter = match counter {
            Counter::UpdatesSent => &self.updates_sent,
            Counter::Resyncs => &self.resyncs,
            Counter::Refused => &self.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "clients": self.clients.load(Ordering::Relaxed),
            "subscriptions": self.subscriptions.load(Ordering::Relaxed),
            "updates_sent": self.updates_sent.load(Ordering::Relaxed),
            "resyncs": self.resyncs.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
        })
    }
}
