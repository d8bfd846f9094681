//! The crate's own server for a hub, or any axum app, on a free loopback
//! port.

use std::net::SocketAddr;

use axum::Router;
use live_resource::Hub;
use live_resource::server::{Config, router, router_with};

/// Serves `live_resource::server::router(hub)` on 127.0.0.1 and a free port,
/// until the test's runtime ends.
pub(crate) async fn serve(hub: &Hub) -> SocketAddr {
    serve_app(router(hub.clone())).await
}

/// Serves `live_resource::server::router_with(hub, config)` as [`serve`] does.
pub(crate) async fn serve_with(hub: &Hub, config: Config) -> SocketAddr {
    serve_app(router_with(hub.clone(), config)).await
}

/// Serves `app` on 127.0.0.1 and a free port, until the test's runtime ends.
pub(crate) async fn serve_app(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
