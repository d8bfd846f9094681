//! Typed **live resources**: a value that starts from a snapshot and is kept
//! current by a stream of partial updates, merged with JSON Merge Patch
//! semantics, gap-free.
//!
//! This is the crate form of a pattern web apps write by hand again and again,
//! "GET the resource, then merge every socket event into it", without its
//! bugs: updates fold into the *current* state (not the initial one), merges are
//! deep (RFC 7396, `null` deletes), the update stream is opened *before* the
//! snapshot is fetched so nothing falls in between, and every update carries a
//! `seq` so duplicates are dropped and gaps are caught.
//!
//! ```
//! use futures::{StreamExt, stream};
//! use live_resource::{LiveResource, Snapshot, Update};
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! #[derive(Debug, Deserialize, PartialEq)]
//! struct Quote { price: f64, volume: u64 }
//!
//! #[derive(Debug, Deserialize, PartialEq)]
//! struct Board { aapl: Quote, msft: Quote }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), live_resource::Error> {
//! // The snapshot, as a REST endpoint returns it: the state after update 17.
//! let snapshot = async {
//!     Ok::<_, std::io::Error>(Snapshot::new(17, json!({
//!         "aapl": {"price": 189.5, "volume": 1200},
//!         "msft": {"price": 410.0, "volume": 800},
//!     })))
//! };
//! // The updates, as a socket pushes them: 17 was already in the snapshot.
//! let updates = stream::iter([
//!     Ok::<_, std::io::Error>(Update::merge(17, json!({"aapl": {"price": 189.5}}))),
//!     Ok(Update::merge(18, json!({"aapl": {"price": 190.25}}))),
//!     Ok(Update::merge(19, json!({"msft": {"volume": 950}}))),
//! ]);
//!
//! let mut board = LiveResource::<Board>::new(snapshot, updates);
//! let latest = board.next().await.unwrap()?;
//! assert_eq!(latest.aapl, Quote { price: 190.25, volume: 1200 }, "a deep merge keeps siblings");
//! assert_eq!(latest.msft, Quote { price: 410.0, volume: 950 });
//! assert_eq!(board.version(), Some(19));
//! # Ok(())
//! # }
//! ```
//!
//! # The parts
//!
//! - [`Patch`]: a change, as an RFC 7396 merge patch, RFC 6902 operations, or a
//!   replacement; [`Patch::diff`] finds the smallest one between two values.
//! - [`Update`] and [`Snapshot`]: the two messages of the wire protocol.
//! - [`LiveResource`]: the client side, a [`Stream`](futures::Stream) of typed states.
//! - [`Document`]: the JSON state a live resource keeps, read like a
//!   `serde_json::Value`, with objects indexed so that an update costs what it
//!   touches, not the size of the state.
//! - [`Limits`]: the bounds every inbound message is checked against, and the
//!   readers of updates from wire text: [`Limits::parse_update`] checks every
//!   byte first, recording what it found for the merge to walk (what the
//!   transports use for messages up to 16 KB); [`Limits::parse_update_lazy`]
//!   (theirs for longer ones) reads a numbered update only as far as its
//!   patch, which a [`Document`] then merges while reading it (a
//!   [`patch::MergePatch`] kept as its text).
//! - [`protocol`]: the multi-topic wire protocol's messages and its error
//!   codes ([`protocol::ErrorCode`]), which every server and client here speaks.
//! - [`Error`]: everything that can go wrong, by phase.
//! - `client::Tls`: which servers every client trusts over TLS, given to each
//!   with `.tls(..)` (features `http`, `ws`).
//! - [`from_socketio`]: the calls of a Socket.IO gateway, and what each
//!   becomes here.
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! | --- | --- |
//! | *(none)* | the merge engine, the wire types, [`LiveResource`] over any future and stream, the in-process [`Hub`] |
//! | `server` | `server::router`: a hub's topics over HTTP snapshots, SSE and WebSocket (axum); `server::serve`, with TLS if asked (rustls) |
//! | `http` | `client::http::HttpSnapshot`: snapshots from our server or any REST endpoint (reqwest, rustls) |
//! | `sse` | `client::sse::SseSource`: a source over Server-Sent Events (implies `http`) |
//! | `ws` | `client::ws::WsClient`: many topics over one WebSocket connection (tokio-tungstenite; `wss://` on rustls) |
//! | `socketio` | `socketio::layer`: a hub's topics for Socket.IO front ends, beside the axum router (socketioxide; needs Rust 1.94) |
//! | `socketio-client` | `client::socketio::SocketIoClient`: envelope and legacy sources over a Socket.IO server (Engine.IO v4 over tokio-tungstenite; TLS on rustls) |
//! | `redis` | `redis::RedisHub`: one set of topics, one numbering, across any number of server processes on one Redis (redis-rs; needs Rust 1.88) |
//! | `metrics` | the `metrics` module: connections, subscriptions, updates, refusals and bytes sent, recorded through the `metrics` facade for any exporter (Prometheus, OpenTelemetry) |
//! | `full` | every feature above |
#![cfg_attr(docsrs, feature(doc_cfg))]
// The docs link across features (a client's page to the server's, the TLS
// page to every client), as docs.rs builds them, with every feature. Built
// with fewer, some of those links lead nowhere: that is no broken page.
#![cfg_attr(
    not(all(
        feature = "server",
        feature = "http",
        feature = "ws",
        feature = "sse",
        feature = "socketio",
        feature = "socketio-client",
        feature = "redis",
        feature = "metrics"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

mod backoff;
pub mod client;
pub mod collection;
pub mod document;
mod error;
#[doc = include_str!("from_socketio.md")]
pub mod from_socketio {}
#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod fuzzing;
pub mod hub;
mod limits;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
// Without the feature, the same calls doing nothing.
#[cfg(not(feature = "metrics"))]
#[path = "metrics/off.rs"]
mod metrics;
pub mod patch;
pub mod protocol;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod replica;
mod resource;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
#[cfg(feature = "socketio")]
#[cfg_attr(docsrs, doc(cfg(feature = "socketio")))]
pub mod socketio;
pub mod source;
mod status;
#[cfg(test)]
mod testing;
mod text;
mod update;

pub use backoff::Backoff;
pub use document::Document;
pub use error::{BoxError, Error, Result};
pub use hub::Hub;
pub use limits::Limits;
pub use patch::Patch;
pub use resource::{LiveResource, SharedResource, Subscriber, UnknownTopic};
pub use status::Status;
pub use update::{Snapshot, Update};

/// The `json-patch` crate, whose operation types [`Patch::Json`] carries.
pub use json_patch;

/// The `rustls` crate: its `ClientConfig` for
/// [`client::Tls::from_rustls`], its `ServerConfig` for
/// [`server::Serve::tls`].
#[cfg(any(feature = "http", feature = "ws", feature = "server"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "http", feature = "ws", feature = "server")))
)]
pub use rustls;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
