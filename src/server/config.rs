//! The server's settings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Authorize;
use crate::Limits;

/// How the server behaves: heartbeats, bounds and authorization.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use live_resource::Limits;
/// use live_resource::server::Config;
///
/// let config = Config::default()
///     .heartbeat(Duration::from_secs(5))
///     .max_topics_per_connection(16)
///     .limits(Limits::default().max_message_bytes(16 * 1024).max_depth(8));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct Config {
    heartbeat: Duration,
    max_topics_per_connection: usize,
    limits: Limits,
    authorize: Arc<dyn Authorize>,
}

impl Default for Config {
    /// Heartbeats every 15 s, 256 topics per WebSocket connection, 64 KiB
    /// client messages at most 16 levels deep, everyone allowed.
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            max_topics_per_connection: 256,
            limits: Limits::default().max_message_bytes(64 * 1024).max_depth(16),
            authorize: Arc::new(|_: &axum::http::request::Parts, _: &str| true),
        }
    }
}

impl Config {
    /// How often every stream carries a heartbeat (15 s by default). A
    /// WebSocket client that takes in nothing for two periods while the
    /// server has something to send is disconnected, and so is one that
    /// answers none of three heartbeats' Pings in a row (a client that reads
    /// answers each with a Pong): a client that stopped reading, or whose
    /// host or link is gone, cannot hold its connection's task and
    /// subscriptions for ever.
    pub fn heartbeat(mut self, period: Duration) -> Self {
        self.heartbeat = period;
        self
    }

    /// How many topics one WebSocket connection may follow at once.
    pub fn max_topics_per_connection(mut self, topics: usize) -> Self {
        self.max_topics_per_connection = topics;
        self
    }

    /// The bounds on messages *from clients* (WebSocket frames): size and depth.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Who may read which topic (default: everyone).
    pub fn authorize(mut self, authorize: impl Authorize) -> Self {
        self.authorize = Arc::new(authorize);
        self
    }

    pub(crate) fn heartbeat_period(&self) -> Duration {
        self.heartbeat
    }

    pub(crate) fn topics_per_connection(&self) -> usize {
        self.max_topics_per_connection
    }

    pub(crate) fn client_limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn authorizer(&self) -> &dyn Authorize {
        &*self.authorize
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("heartbeat", &self.heartbeat)
            .field("max_topics_per_connection", &self.max_topics_per_connection)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
