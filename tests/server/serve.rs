//! `server::serve`: the accept loop's bounds, tried as an attacker would.

use std::net::SocketAddr;
use std::time::Duration;

use live_resource::Hub;
use live_resource::server::{self, Config};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(configure: impl FnOnce(server::Serve) -> server::Serve) -> SocketAddr {
    let hub = Hub::builder().first_version(0).build();
    hub.set("quotes", json!({"AAPL": 1})).unwrap();
    let app = server::router_with(hub, Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(configure(server::serve(listener, app)).into_future());
    addr
}

/// Sends a whole `GET` and reads the status line, if one comes within `wait`.
async fn status_within(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    stream
        .write_all(b"GET /live/quotes HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .ok()?;
    let mut head = [0u8; 12];
    match tokio::time::timeout(wait, stream.read_exact(&mut head)).await {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&head).into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let addr = start(|serve| serve.header_read_timeout(Duration::from_millis(300))).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /live/quotes HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    // One header byte every 50 ms: never the blank line that ends the head.
    let mut closed = false;
    for byte in b"x-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        .iter()
        .cycle()
        .take(60)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                // hyper may answer 408 before closing: never a 200.
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(!text.contains(" 200 "), "{text}");
            }
            Err(_) => {}
        }
    }
    assert!(closed, "the trickling client still holds its connection");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A client that sends its head at once is served as usual.
    let mut quick = TcpStream::connect(addr).await.unwrap();
    let status = status_within(&mut quick, Duration::from_secs(5)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200"));
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    let addr = start(|serve| serve.max_connections(2)).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        status_within(&mut first, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("HTTP/1.1 200")
    );
    // A WebSocket counts too, after its upgrade.
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/live/ws"))
        .await
        .unwrap();
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        status_within(&mut third, Duration::from_millis(500)).await,
        None,
        "a third connection is not served while two are open"
    );
    drop(socket);
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut head))
        .await
        .expect("served once the WebSocket closed")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    drop(first);
}

#[tokio::test]
async fn a_graceful_shutdown_ends_the_server() {
    let hub = Hub::builder().first_version(0).build();
    let app = server::router_with(hub, Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        server::serve(listener, app)
            .shutdown_timeout(Duration::from_millis(500))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(
        status_within(&mut idle, Duration::from_secs(5))
            .await
            .is_some()
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server ends within its shutdown timeout")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// Serves `hub` on `listener` until `stop` is sent; its live connections are
/// dropped 100 ms after that.
fn serve_until(
    listener: tokio::net::TcpListener,
    hub: &Hub,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = server::router_with(hub.clone(), Config::default());
    let server = tokio::spawn(async move {
        server::serve(listener, app)
            .shutdown_timeout(Duration::from_millis(100))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (stop, server)
}

/// Follows `jobs/1` over WebSocket across a restart of the server on the
/// same address, with `next` as the new server's hub, which then publishes
/// `{"done": 2}`: the statuses seen from just before the restart until the
/// resource shows that, live.
async fn across_a_restart(first: &Hub, next: &Hub) -> Vec<live_resource::Status> {
    use futures::StreamExt;
    use live_resource::{Backoff, LiveResource, Status};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = serve_until(listener, first);
    let client = live_resource::client::ws::WsClient::new(format!("ws://{addr}/live/ws"));
    let mut resource = LiveResource::<serde_json::Value>::connect(client.source("jobs/1")).backoff(
        Backoff::default()
            .initial(Duration::from_millis(20))
            .max(Duration::from_millis(100)),
    );
    assert_eq!(resource.next().await.unwrap().unwrap(), json!({"done": 1}));
    assert_eq!(*resource.status().borrow(), Status::Live);
    let seen = crate::support::statuses(&resource);

    stop.send(()).unwrap();
    server.await.unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (_stop, _server) = serve_until(listener, next);
    next.merge("jobs/1", json!({"done": 2})).unwrap();
    let expected = next.snapshot("jobs/1").unwrap().data;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Ok(state)) = resource.next().await {
                if state == expected && *resource.status().borrow() == Status::Live {
                    return;
                }
            }
        }
    })
    .await
    .expect("the resource reaches the new server's state");
    tokio::time::sleep(Duration::from_millis(20)).await;
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn across_a_restart_into_a_new_history_the_client_is_never_live_over_the_old_state() {
    let first = Hub::builder().versions_from_clock().build();
    first.set("jobs/1", json!({"done": 1})).unwrap();
    // A new process: a new hub, its versions above the old ones.
    std::thread::sleep(Duration::from_millis(2));
    let next = Hub::builder().versions_from_clock().build();
    next.set("jobs/1", json!({"done": 100, "new": true}))
        .unwrap();
    let seen = across_a_restart(&first, &next).await;
    use live_resource::Status;
    let resynced = seen
        .iter()
        .position(|status| *status == Status::Resyncing)
        .unwrap_or_else(|| panic!("a resync: {seen:?}"));
    // The first is the state before the restart.
    assert!(
        !seen[1..resynced].contains(&Status::Live),
        "Live before the resync, over the old history: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&Status::Live), "{seen:?}");
}

#[tokio::test]
async fn across_a_restart_with_the_same_hub_the_client_resumes_and_is_live_again() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("jobs/1", json!({"done": 1})).unwrap();
    let seen = across_a_restart(&hub, &hub).await;
    use live_resource::Status;
    assert!(
        matches!(seen.as_slice(), [Status::Live, .., Status::Live]),
        "{seen:?}"
    );
    assert!(
        !seen.contains(&Status::Resyncing),
        "nothing lost, nothing to resync: {seen:?}"
    );
}

#[tokio::test]
async fn an_sse_client_that_stops_reading_is_let_go_and_a_slow_one_is_not() {
    use tokio::io::AsyncReadExt;
    let hub = Hub::builder().first_version(0).build();
    hub.set("big", json!({"n": 0})).unwrap();
    let app = server::router_with(hub.clone(), Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        server::serve(listener, app)
            .write_timeout(Duration::from_millis(500))
            .into_future(),
    );
    let open = |addr| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /live/big/events HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        stream
    };
    let mut stuck = open(addr).await;
    let mut slow = open(addr).await;
    // Let both streams start, then send far more than the socket buffers hold.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hub.subscribers("big"), 2);
    let publisher = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for n in 1..=400u64 {
                let note = "x".repeat(32 * 1024);
                hub.merge("big", json!({"n": n, "note": note})).unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // The slow client takes in 64 KiB every 20 ms (about 3 MB/s): steady
    // progress, never cut off while the stuck one is let go.
    let mut read = 0usize;
    let mut buffer = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while hub.subscribers("big") > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stuck client is still held"
        );
        let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buffer))
            .await
            .expect("the slow client is served")
            .unwrap();
        assert!(n > 0, "the slow client was cut off after {read} bytes");
        read += n;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(read > 0);
    // The stuck client's connection was closed: what it had in its buffers,
    // then the end.
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            match stuck.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stuck client's connection ends");
    publisher.abort();
}

/// Where a test's subscriber writes the log.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_live_connection_logs_its_id_and_peer_from_connect_to_disconnect() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let hub = Hub::new();
    hub.set("quotes", json!({"AAPL": 1})).unwrap();
    let app = server::router_with(hub, Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, app).into_future());

    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/live/ws"))
        .await
        .unwrap();
    let ws_peer = match socket.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(stream) => stream.local_addr().unwrap(),
        _ => unreachable!("a plain connection"),
    };
    drop(socket);
    let mut sse = TcpStream::connect(addr).await.unwrap();
    let sse_peer = sse.local_addr().unwrap();
    sse.write_all(b"GET /live/quotes/events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    sse.read_exact(&mut head).await.unwrap();
    drop(sse);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    for (transport, peer, connected, disconnected) in [
        (
            "websocket",
            ws_peer,
            "websocket connected",
            "websocket disconnected",
        ),
        ("sse", sse_peer, "sse connected", "sse disconnected"),
    ] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| {
                line.contains(&format!("transport=\"{transport}\""))
                    || line.contains(&format!("transport={transport}"))
            })
            .filter(|line| line.contains(&format!("peer={peer}")))
            .collect();
        assert!(
            lines.iter().any(|line| line.contains(connected))
                && lines.iter().any(|line| line.contains(disconnected)),
            "{transport} from {peer}:\n{log}"
        );
        let ids: std::collections::BTreeSet<&str> = lines
            .iter()
            .filter_map(|line| line.split("connection=").nth(1))
            .filter_map(|rest| rest.split([' ', '}']).next())
            .collect();
        assert_eq!(ids.len(), 1, "one connection id for {transport}: {lines:?}");
    }
}
