//! The server's counters, shown by `GET /live`, and recorded as metrics
//! (feature `metrics`) by transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::{self, Kind, Transport};
use crate::protocol::ErrorCode;

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

/// The counters now, as the admin view reads them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Totals {
    pub(super) clients: u64,
    pub(super) subscriptions: u64,
    pub(super) updates_sent: u64,
    pub(super) resyncs: u64,
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
    Refused(ErrorCode),
}

/// Counts one open client or subscription for as long as it lives.
#[derive(Debug)]
pub(super) struct Guard {
    stats: Arc<Stats>,
    gauge: Gauge,
    _metered: metrics::Open,
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

    pub(super) fn open(self: &Arc<Self>, gauge: Gauge, transport: Transport) -> Guard {
        self.gauge(gauge).fetch_add(1, Ordering::Relaxed);
        let kind = match gauge {
            Gauge::Clients => Kind::Connection,
            Gauge::Subscriptions => Kind::Subscription,
        };
        Guard {
            stats: Arc::clone(self),
            gauge,
            _metered: metrics::open(kind, transport),
        }
    }

    pub(super) fn count(&self, counter: Counter, transport: Transport) {
        let total = match counter {
            Counter::UpdatesSent => {
                metrics::delivered(transport);
                &self.updates_sent
            }
            Counter::Resyncs => {
                metrics::resync(transport);
                &self.resyncs
            }
            Counter::Refused(code) => {
                metrics::refused(transport, code);
                &self.refused
            }
        };
        total.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn totals(&self) -> Totals {
        Totals {
            clients: self.clients.load(Ordering::Relaxed),
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
            updates_sent: self.updates_sent.load(Ordering::Relaxed),
            resyncs: self.resyncs.load(Ordering::Relaxed),
        }
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
