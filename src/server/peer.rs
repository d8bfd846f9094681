//! Who a connection is, for the logs: an id of its own, and the peer's
//! address where the server knows it, so that a connect pairs with its
//! disconnect.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

/// A span for one live connection (`websocket` or `sse`): its id, and the
/// peer's address as [`serve`](super::serve) or axum's
/// `into_make_service_with_connect_info` records it.
pub(super) fn span(transport: &'static str, request: &Parts) -> tracing::Span {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let peer = request
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| tracing::field::display(*peer));
    tracing::info_span!("live", transport, connection = id, peer)
}
