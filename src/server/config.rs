//! The server's settings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Authorize;
use super::origin::Origins;
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
    origins: Origins,
    show_totals: bool,
    recheck: Option<Duration>,
    admin: Option<Arc<super::admin::AdminHook>>,
}

impl Default for Config {
    /// Heartbeats every 15 s, 256 topics per WebSocket connection, 64 KiB
    /// client messages at most 16 levels deep, everyone allowed, and live
    /// connections from pages of the server's own origin only.
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            max_topics_per_connection: 256,
            limits: Limits::default().max_message_bytes(64 * 1024).max_depth(16),
            authorize: Arc::new(|_: &axum::http::request::Parts, _: &str| true),
            origins: Origins::default(),
            show_totals: false,
            recheck: None,
            admin: None,
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

    /// Who may read which topic (default: everyone): a hook of one's own
    /// (one that awaits a session store, say), or [`OwnedTopics`](super::OwnedTopics).
    pub fn authorize(mut self, authorize: impl Authorize) -> Self {
        self.authorize = Arc::new(authorize);
        self
    }

    /// Who may read which topic, as a closure of the request head and the
    /// topic, whose parameter types need no annotation.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::server::Config;
    ///
    /// let config = Config::default().allow_if(|request, topic| {
    ///     !topic.starts_with("admin/") || request.headers.contains_key("x-admin")
    /// });
    /// # let _ = config;
    /// ```
    pub fn allow_if<F>(self, rule: F) -> Self
    where
        F: Fn(&axum::http::request::Parts, &str) -> bool + Send + Sync + 'static,
    {
        self.authorize(rule)
    }

    /// Lets pages from `origins` (such as `https://app.example.com`, as
    /// browsers send them: scheme, host and any port) open WebSocket and
    /// Socket.IO connections, besides pages of the server's own origin.
    ///
    /// CORS does not cover WebSockets: a browser opens one from any page
    /// with the user's cookies. So a live connection whose upgrade or
    /// handshake carries an `Origin` header is refused (403 for a WebSocket,
    /// a `connect_error` for Socket.IO) unless that origin is the server's
    /// own (its `Host`) or listed here. Requests without an `Origin` come
    /// from programs, not pages, and pass; the [`authorize`](Config::authorize)
    /// hook decides for them as for everyone. HTTP snapshots and SSE are
    /// read across origins only as a CORS layer allows (tower-http's
    /// `CorsLayer`): list the same origins there.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::server::Config;
    ///
    /// let config = Config::default().allowed_origins(["https://app.example.com"]);
    /// # let _ = config;
    /// ```
    pub fn allowed_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let listed = origins
            .into_iter()
            .map(|origin| origin.into().trim_end_matches('/').to_owned());
        match &mut self.origins {
            Origins::Listed(origins) => origins.extend(listed),
            Origins::Any => {}
        }
        self
    }

    /// Whether `GET /live` shows, beside the topics the request may read, the
    /// hub's totals and the server's counters (connections, subscriptions,
    /// updates sent, refusals): off by default, as they speak of every
    /// client. Turn it on where the route is for operators only (behind an
    /// authorization layer of the application's).
    pub fn show_totals(mut self, show: bool) -> Self {
        self.show_totals = show;
        self
    }

    /// Asks the [`authorize`](Config::authorize) hook again, every `period`,
    /// for each live subscription (WebSocket, Socket.IO, SSE), with the
    /// request that opened it: a subscription that lost access ends, with a
    /// `forbidden` error over WebSocket and Socket.IO, and the end of the
    /// stream over SSE (whose reconnect is then refused with 403). Off by
    /// default: access is checked when a subscription is made.
    ///
    /// Revoking a session or a token takes effect within `period`, at the
    /// cost of one hook call per subscription per period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use live_resource::server::Config;
    ///
    /// let config = Config::default().recheck_access(Duration::from_secs(30));
    /// # let _ = config;
    /// ```
    pub fn recheck_access(mut self, period: Duration) -> Self {
        self.recheck = Some(period);
        self
    }

    /// Turns on the admin view, for the requests `allow` lets in: a page at
    /// `GET /live/_admin` and its JSON at `GET /live/_admin.json`
    /// (connections, subscriptions, topics with their versions and
    /// subscribers, update, delivery and resync rates, and the totals). Off
    /// by default; with it on, topics named `_admin` and `_admin.json` have
    /// no HTTP snapshot.
    ///
    /// Requests `allow` refuses are answered 401 with a
    /// `WWW-Authenticate: Basic` challenge, so that a browser asks for the
    /// credentials [`basic_auth`](super::basic_auth) checks; a hook that
    /// reads what an authenticating proxy in front sets, or a session,
    /// works as well. There is no default password: pass one from the
    /// environment or a secret store.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::server::{Config, basic_auth};
    ///
    /// // Operators only: a header the company's authenticating proxy sets
    /// // (and strips from what clients send).
    /// let config = Config::default().admin(|request: &axum::http::request::Parts| {
    ///     request.headers.get("x-auth-groups").is_some_and(|groups| {
    ///         groups.to_str().is_ok_and(|groups| groups.split(',').any(|g| g == "ops"))
    ///     })
    /// });
    /// # let _ = config;
    /// ```
    pub fn admin<F>(mut self, allow: F) -> Self
    where
        F: Fn(&axum::http::request::Parts) -> bool + Send + Sync + 'static,
    {
        self.admin = Some(Arc::new(allow));
        self
    }

    pub(crate) fn admin_hook(&self) -> Option<Arc<super::admin::AdminHook>> {
        self.admin.clone()
    }

    /// A timer for [`Config::recheck_access`], or one that never fires.
    pub(crate) fn recheck_timer(&self) -> Recheck {
        Recheck(self.recheck.map(|period| {
            let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer
        }))
    }

    pub(crate) fn totals_shown(&self) -> bool {
        self.show_totals
    }

    /// Lets pages from every origin open live connections.
    ///
    /// Safe only where authorization takes no credentials a browser adds by
    /// itself: a token the page passes in its Socket.IO `auth` payload or
    /// its URL, never a cookie or HTTP authentication. See
    /// [`allowed_origins`](Config::allowed_origins).
    pub fn any_origin(mut self) -> Self {
        self.origins = Origins::Any;
        self
    }

    /// Whether a live connection with these request headers may be opened:
    /// `Err` says why not.
    pub(crate) fn check_origin(&self, headers: &axum::http::HeaderMap) -> Result<(), String> {
        self.origins.check(headers)
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
            .field("origins", &self.origins)
            .field("show_totals", &self.show_totals)
            .field("recheck", &self.recheck)
            .field("admin", &self.admin.is_some())
            .finish_non_exhaustive()
    }
}

/// When to ask the hook again: never, or each period.
#[derive(Debug)]
pub(crate) struct Recheck(Option<tokio::time::Interval>);

impl Recheck {
    /// Waits for the next recheck; never, when they are off.
    pub(crate) async fn tick(&mut self) {
        match &mut self.0 {
            Some(timer) => {
                timer.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}
