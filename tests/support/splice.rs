//! The two ends of a connection a test proxy carries: the client's, accepted,
//! and one to the upstream server, each split in halves.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub(crate) struct Ends {
    pub(crate) from_client: OwnedReadHalf,
    pub(crate) to_client: OwnedWriteHalf,
    pub(crate) from_server: OwnedReadHalf,
    pub(crate) to_server: OwnedWriteHalf,
}

/// Connects `client` to `upstream`; `None` if the server cannot be reached.
/// Nagle's algorithm is off on both, so that small frames (heartbeats,
/// single updates) go through at once.
pub(crate) async fn splice(client: TcpStream, upstream: SocketAddr) -> Option<Ends> {
    let server = TcpStream::connect(upstream).await.ok()?;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (from_client, to_client) = client.into_split();
    let (from_server, to_server) = server.into_split();
    Some(Ends {
        from_client,
        to_client,
        from_server,
        to_server,
    })
}
