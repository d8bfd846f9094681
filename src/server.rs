//! The axum server: a [`Hub`]'s topics over HTTP, Server-Sent Events and
//! WebSocket, in the wire protocol every client of this crate speaks.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /live` | the topics the request may read, with their versions and subscriber counts; the server's counters too with [`Config::show_totals`] |
//! | `GET /live/{topic}` | the snapshot `{"version":17,"data":..}`, `ETag: "17"`, 304 on a matching `If-None-Match` |
//! | `GET /live/{topic}/events[?since=17]` | SSE: `update` events with `id` = `seq`, `resync`, `heartbeat`; `Last-Event-ID` wins over `since` |
//! | `GET /live/ws` | WebSocket, many topics on one connection: `subscribe`, `unsubscribe`; `snapshot`, `update`, `resync`, `heartbeat`, `error` |
//! | `GET /live/sse?topic=a&topic=b&since=a:17` | SSE, many topics on one stream: the WebSocket messages as `data:` events, `id` = every topic's version (see *Many topics over SSE*) |
//! | `GET /live/_admin`, `GET /live/_admin.json` | the admin view, off unless [`Config::admin`] turns it on |
//! | `GET /live/client.js` | the browser client, an ES module: `import { liveResource } from "/live/client.js"` (see the README's *Front ends*) |
//!
//! Topics may contain `/`. An unknown topic is a 404 (an `error` message over
//! WebSocket), a denied one a 403; both with a body `{"error":".."}`. Names
//! that meet a route are still served: a topic `ws` has its snapshot at
//! `GET /live/ws` (a request that is not a WebSocket upgrade), and a topic
//! `x/events` at `GET /live/x/events` (a request that does not accept
//! `text/event-stream`, which is the SSE stream of `x`). The one exception is
//! `client.js`: `GET /live/client.js` is always the browser client, never a
//! topic's data, so that no topic can take the place of code pages load (a
//! topic of that name is still followed over WebSocket and SSE).
//!
//! # Many topics over SSE
//!
//! A browser opens at most six HTTP/1.1 connections to a host, so a page
//! whose WebSockets are blocked follows its topics on one stream,
//! `GET /live/sse`. Its query is form-encoded (as `URLSearchParams` writes
//! it): `topic=<name>` once per topic, in any number up to 64 (or
//! [`Config::max_topics_per_connection`] if lower), and `since=<name>:<version>`
//! for each topic to resume (the version follows the name's last `:`, so
//! names may hold `:`, `/`, `&` and anything else). Other parameters are
//! the application's. Each topic goes through the same subscribe rule as a
//! WebSocket subscription (the [`Authorize`] hook, the topic limit, snapshot
//! or resume); each event's `data` is one message of the
//! [protocol](crate::protocol), with its topic:
//!
//! - a topic the hook refuses, or an unknown one, gets its `error` message
//!   (`forbidden`, `unknown_topic`, ..) and the others flow;
//! - each snapshot and update has an `id` listing the version the client
//!   holds of every topic, in the query's order, `,` between them and
//!   nothing for a topic without one (`17,,4`): an `EventSource` that
//!   reconnects sends it as `Last-Event-ID`, which wins over `since`, and
//!   every topic resumes where it was (at most 64 versions: the `id` stays
//!   bounded);
//! - a `resync` takes its topic off the stream (the client cannot ask on
//!   it): open the stream again without that topic's version, for a
//!   snapshot;
//! - heartbeats name each topic, as over WebSocket.
//!
//! A request that names no topic, too many, or a malformed `since` or
//! `Last-Event-ID` is refused whole with 400; a query longer than 8 KiB with
//! 414. A topic named `sse` keeps its snapshot at `GET /live/sse` for
//! requests that do not accept `text/event-stream`.
//!
//! # Heartbeats
//!
//! Every stream carries a heartbeat each [`Config::heartbeat`] (15 s by
//! default) with the `seq` of the last update sent on it. SSE sends it as a
//! named `heartbeat` event rather than a comment: browsers' `EventSource`
//! ignore it just the same, and a client of this crate learns from it that it
//! missed an update even when no later update comes to show the gap.
//!
//! Over WebSocket each heartbeat also carries a Ping. A client that answers
//! none of three in a row is gone (its host or its link, or it stopped
//! reading) and is let go with its subscriptions; so is one that takes in
//! nothing for two periods while the server has something to send.
//!
//! # Versions
//!
//! [`router`] returns an axum 0.8 [`Router`]; the crate's own
//! axum is re-exported as [`server::axum`](axum), so that an application on
//! another axum version can name the one these routes need
//! (`live_resource::server::axum::Router`). CORS layers come from
//! tower-http 0.6 or later (`tower_http::cors::CorsLayer`), whose layers
//! fit any axum 0.8 router.
//!
//! # Exposing it
//!
//! - Serve it with [`serve`], which bounds the time a client may take to send
//!   its request head and the number of open connections (`axum::serve`
//!   bounds neither), and shuts down gracefully.
//! - Live connections (WebSocket, Socket.IO) from pages of other sites are
//!   refused: list your front ends' origins in [`Config::allowed_origins`].
//!   Snapshots and SSE are read across origins only as a CORS layer
//!   (tower-http's `CorsLayer`) allows: list the same origins there.
//! - Decide who reads what in an [`Authorize`] hook, asked for every snapshot,
//!   SSE stream and subscription.
//!
//! # Examples
//!
//! ```no_run
//! use live_resource::Hub;
//! use serde_json::json;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! hub.set("quotes", json!({"AAPL": 189.5}))?;
//!
//! let app = live_resource::server::router(hub.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // `axum::serve` works too; this one bounds header-read time and connections.
//! live_resource::server::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

mod admin;
pub(crate) mod authorize;
mod client_js;
mod config;
mod listing;
mod origin;
mod peer;
mod serve;
mod snapshot;
mod sse;
mod stats;
pub(crate) mod subscribe;
mod ws;

#[cfg(feature = "__fuzz")]
pub(crate) use ws::{check_for_fuzzing, read_for_fuzzing as ws_request_for_fuzzing};

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use admin::basic_auth;
pub use authorize::{Authorize, Denied, OwnedTopics};

/// The axum crate this module is built on (0.8), for naming its types: a
/// [`Router`], the request [`Parts`](axum::http::request::Parts)
/// an [`Authorize`] hook reads.
pub use axum;
pub use config::Config;
pub use serve::{Serve, serve};
use stats::Stats;

use crate::Hub;

/// The routes of this module for `hub`, with the default [`Config`].
///
/// Mount it beside the application's own routes, and add layers (CORS,
/// compression, auth) as for any axum router.
pub fn router(hub: Hub) -> Router {
    router_with(hub, Config::default())
}

/// The routes of this module for `hub`, with `config`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use live_resource::Hub;
/// use live_resource::server::{Config, router_with};
///
/// let config = Config::default()
///     .heartbeat(Duration::from_secs(10))
///     .max_topics_per_connection(64)
///     .authorize(|request: &axum::http::request::Parts, topic: &str| {
///         // Private topics only for the user they belong to.
///         !topic.starts_with("users/") || request.headers.contains_key("authorization")
///     });
/// let app: axum::Router = router_with(Hub::new(), config);
/// ```
pub fn router_with(hub: Hub, config: Config) -> Router {
    let admin = config.admin_hook();
    let state = AppState {
        hub,
        config: Arc::new(config),
        stats: Arc::default(),
    };
    let routes = Router::new()
        .route("/live", get(listing::list))
        .route("/live/ws", get(ws::upgrade))
        .route("/live/sse", get(many_topics))
        .route("/live/client.js", get(client_js::module))
        .route("/live/{*path}", get(by_path))
        .with_state(state.clone());
    match admin {
        Some(allow) => routes.merge(admin::routes(state, allow)),
        None => routes,
    }
}

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    hub: Hub,
    config: Arc<Config>,
    stats: Arc<Stats>,
}

/// `/live/{topic}` is a snapshot, `/live/{topic}/events` its SSE stream: the
/// topic may itself contain `/`, so the suffix decides; but a topic whose own
/// name ends in `/events` is served its snapshot there, unless the request
/// asks for an event stream (as `EventSource` and this crate's client do).
async fn by_path(
    state: axum::extract::State<AppState>,
    axum::extract::Path(path): axum::extract::Path<String>,
    request: axum::http::request::Parts,
) -> Response {
    let Some(topic) = path.strip_suffix("/events") else {
        return snapshot::snapshot(state, path, request).await;
    };
    if wants_events(&request) || !state.hub.follow(&path).await.unwrap_or(false) {
        return sse::events(state, topic.to_owned(), request).await;
    }
    snapshot::snapshot(state, path, request).await
}

/// `GET /live/sse`: many topics on one SSE stream; but the snapshot of a
/// topic named `sse` for a request that does not ask for an event stream.
async fn many_topics(
    state: axum::extract::State<AppState>,
    request: axum::http::request::Parts,
) -> Response {
    if !wants_events(&request) && state.hub.follow("sse").await.unwrap_or(false) {
        return snapshot::snapshot(state, "sse".to_owned(), request).await;
    }
    sse::many_topics(state, request).await
}

/// Whether the request accepts `text/event-stream`.
fn wants_events(request: &axum::http::request::Parts) -> bool {
    request
        .headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|kind| {
            let essence = kind.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("text/event-stream")
        })
}

/// An error response with a body `{"error":".."}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, axum::Json(body)).into_response()
}

/// Whether `topic` exists and `request` may read it: the response to send
/// otherwise (counted as refused, for `transport`).
async fn check_access(
    state: &AppState,
    request: &axum::http::request::Parts,
    topic: &str,
    transport: crate::metrics::Transport,
) -> Result<(), Response> {
    use crate::metrics;
    use crate::protocol::ErrorCode;
    if let Err(denied) = state.config.authorizer().authorize(request, topic).await {
        tracing::debug!(topic, reason = %denied, "access denied");
        metrics::refused(transport, ErrorCode::Forbidden);
        return Err(error(StatusCode::FORBIDDEN, denied.to_string()));
    }
    match state.hub.follow(topic).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            metrics::refused(transport, ErrorCode::UnknownTopic);
            Err(error(
                StatusCode::NOT_FOUND,
                format!("unknown topic `{topic}`"),
            ))
        }
        Err(failed) => {
            tracing::warn!(topic, error = %crate::error::Chain(&failed), "topic unavailable");
            metrics::refused(transport, ErrorCode::Unavailable);
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "topic `{topic}` is unavailable: {}",
                    crate::error::Chain(&failed)
                ),
            ))
        }
    }
}
