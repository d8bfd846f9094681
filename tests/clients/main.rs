//! Integration tests of the clients: the HTTP snapshot, SSE, WebSocket and
//! Socket.IO sources against fake servers, the crate's own server and Node,
//! in the clear and over TLS, and what a resource over them does when the
//! peer falls silent or a state stops decoding.
//!
//! One test binary, so the dependency tree is linked once; each module is
//! compiled under the features it needs, e.g. `cargo test --all-features
//! --test clients ws_client::`.

#[path = "../support/mod.rs"]
mod support;

#[cfg(all(feature = "socketio-client", feature = "http"))]
#[path = "../node/peer.rs"]
mod peer;

#[cfg(all(feature = "http", feature = "server"))]
mod http_client;
#[cfg(all(feature = "ws", feature = "sse", feature = "server"))]
mod silence;
#[cfg(all(feature = "socketio-client", feature = "http"))]
mod socketio_client;
#[cfg(all(feature = "sse", feature = "server"))]
mod sse_client;
#[cfg(all(feature = "server", feature = "ws", feature = "sse"))]
mod tls;
#[cfg(all(feature = "server", feature = "ws", feature = "sse"))]
mod typed_transports;
#[cfg(all(
    feature = "server",
    feature = "ws",
    feature = "sse",
    feature = "socketio",
    feature = "socketio-client"
))]
mod unknown_topic;
#[cfg(all(feature = "ws", feature = "server"))]
mod ws_client;
