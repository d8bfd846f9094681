//! Integration tests of the servers: the axum router and the Socket.IO layer
//! over real loopback connections, a topic's life while clients follow it,
//! and a real browser.
//!
//! One test binary, so the dependency tree is linked once; each module is
//! compiled under the features it needs, e.g. `cargo test --all-features
//! --test server socketio_server::`.

#[path = "../support/mod.rs"]
mod support;

#[cfg(all(feature = "socketio", feature = "socketio-client"))]
#[path = "../node/peer.rs"]
mod peer;

#[cfg(all(feature = "server", feature = "http"))]
mod admin;
#[cfg(all(feature = "server", feature = "ws", feature = "http"))]
mod browser;
#[cfg(all(feature = "server", feature = "http"))]
mod client_js;
#[cfg(all(
    feature = "server",
    feature = "ws",
    feature = "http",
    feature = "metrics"
))]
mod metrics;
#[cfg(all(feature = "server", feature = "ws"))]
mod serve;
#[cfg(all(feature = "server", feature = "http", feature = "ws"))]
mod server;
#[cfg(all(feature = "socketio", feature = "socketio-client"))]
mod socketio_server;
#[cfg(all(feature = "server", feature = "http"))]
mod sse_topics;
#[cfg(all(feature = "server", feature = "ws", feature = "sse"))]
mod topic_lifecycle;
