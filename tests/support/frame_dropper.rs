//! A TCP proxy in front of a server that drops chosen WebSocket messages on
//! their way to the client: the loss a client must detect and repair
//! (a gap, or a last update that never arrives).
//!
//! Plain HTTP passes through untouched. On a WebSocket connection the
//! server's frames are read one by one (they are never masked); a complete
//! text frame whose payload `drop` says yes to is not passed on, the others
//! are, byte for byte. The client's side is copied as it is.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::splice::{Ends, splice};

/// Whether to drop a text message, by its payload.
pub(crate) type Rule = dyn FnMut(&str) -> bool + Send;

/// The largest request or response head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// Proxies 127.0.0.1 on a free port to `upstream`, until the test's runtime
/// ends; returns its address.
pub(crate) async fn start(upstream: SocketAddr, rule: Box<Rule>) -> SocketAddr {
    listen(upstream, Some(Arc::new(Mutex::new(rule)))).await
}

/// Proxies as [`start`] does, but refuses every WebSocket upgrade with a 403,
/// as a proxy that does not carry WebSockets does; plain HTTP (snapshots,
/// SSE) passes.
pub(crate) async fn start_blocking_websockets(upstream: SocketAddr) -> SocketAddr {
    listen(upstream, None).await
}

async fn listen(upstream: SocketAddr, rule: Option<Arc<Mutex<Box<Rule>>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let rule = rule.clone();
            tokio::spawn(async move {
                if let Some(ends) = splice(client, upstream).await {
                    let _ = carry(ends, rule).await;
                }
            });
        }
    });
    addr
}

/// Carries one connection; with no rule, a WebSocket upgrade is refused.
async fn carry(ends: Ends, rule: Option<Arc<Mutex<Box<Rule>>>>) -> std::io::Result<()> {
    let Ends {
        mut from_client,
        mut to_client,
        mut from_server,
        mut to_server,
    } = ends;
    let head = read_head(&mut from_client).await?;
    let upgrade = String::from_utf8_lossy(&head)
        .to_ascii_lowercase()
        .contains("upgrade: websocket");
    let rule = match (upgrade, rule) {
        (true, None) => {
            let refusal =
                b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            to_client.write_all(refusal).await?;
            return to_client.shutdown().await;
        }
        (_, rule) => rule,
    };
    to_server.write_all(&head).await?;
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
        let _ = to_server.shutdown().await;
    });
    let result = if upgrade {
        let head = read_head(&mut from_server).await?;
        to_client.write_all(&head).await?;
        let rule = rule.expect("upgrades without a rule are refused above");
        frames(&mut from_server, &mut to_client, &rule).await
    } else {
        tokio::io::copy(&mut from_server, &mut to_client)
            .await
            .map(drop)
    };
    upstream.abort();
    result
}

/// Reads up to the blank line that ends an HTTP head, one byte at a time so
/// as to read nothing after it.
async fn read_head(from: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::other("head too large"));
        }
        head.push(from.read_u8().await?);
    }
    Ok(head)
}

/// Passes the server's frames on, but those the rule drops.
async fn frames(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    rule: &Mutex<Box<Rule>>,
) -> std::io::Result<()> {
    loop {
        let mut frame = vec![0; 2];
        from.read_exact(&mut frame).await?;
        let (fin, opcode) = (frame[0] & 0x80 != 0, frame[0] & 0x0f);
        let masked = frame[1] & 0x80 != 0;
        let len = match frame[1] & 0x7f {
            126 => {
                let extended = from.read_u16().await?;
                frame.extend_from_slice(&extended.to_be_bytes());
                u64::from(extended)
            }
            127 => {
                let extended = from.read_u64().await?;
                frame.extend_from_slice(&extended.to_be_bytes());
                extended
            }
            short => u64::from(short),
        };
        // The mask key, if any, then the payload.
        let rest = frame.len();
        let payload = rest + if masked { 4 } else { 0 };
        frame.resize(payload + usize::try_from(len).unwrap(), 0);
        from.read_exact(&mut frame[rest..]).await?;
        let whole_text = fin && opcode == 1 && !masked;
        if whole_text {
            let payload = String::from_utf8_lossy(&frame[payload..]).into_owned();
            if (rule.lock().unwrap())(&payload) {
                continue;
            }
        }
        to.write_all(&frame).await?;
    }
}
