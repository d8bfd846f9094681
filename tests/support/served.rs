//! The crate's own server for a hub, on a free loopback port.

use std::net::SocketAddr;

use live_resource::Hub;

/// Serves `live_resource::server::router(hub)` on 127.0.0.1 and a free port,
/// until the test's runtime ends.
pub(crate) async fn serve(hub: &Hub) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = live_resource::server::router(hub.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
