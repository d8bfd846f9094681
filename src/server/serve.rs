//! [`serve`]: the accept loop a server exposed to the internet needs, with
//! the bounds `axum::serve` does not set.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;

/// Serves `app` on `listener`, with a bound on the time a client may take to
/// send its request head, a bound on open connections, and an optional
/// graceful shutdown.
///
/// `axum::serve` sets neither bound: a client that trickles its headers one
/// byte at a time holds a connection as long as it likes, and nothing stops
/// a crowd of such clients from holding every file descriptor. Here:
///
/// | bound | default | what happens past it |
/// | --- | --- | --- |
/// | [`header_read_timeout`](Serve::header_read_timeout) | 10 s | the connection is closed |
/// | [`write_timeout`](Serve::write_timeout): a write that makes no progress | 30 s | the connection is closed |
/// | [`max_connections`](Serve::max_connections) | 10,000 | new connections wait in the listen backlog until one closes |
/// | [`shutdown_timeout`](Serve::shutdown_timeout) | 10 s | connections still open after a graceful shutdown are dropped |
///
/// A connection counts for as long as its socket is open, WebSocket
/// connections included (the limit holds after the upgrade too). HTTP/1.1
/// only, which every live route speaks (WebSocket over HTTP/2 is not served).
///
/// With [`tls`](Serve::tls) it serves `https://` and `wss://` itself; most
/// deployments leave TLS to a proxy in front instead (see the README).
///
/// # Errors
///
/// None today: the `io::Result` is there so that `serve(..).await?` reads
/// as `axum::serve` does. Accept errors are logged and the loop goes on, at
/// once for those about one connection (it went away), after a pause for the
/// others (the process is out of file descriptors).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use live_resource::Hub;
/// use live_resource::server::{self, Config};
///
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let hub = Hub::builder().versions_from_clock().build();
/// let app = server::router_with(hub, Config::default());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// server::serve(listener, app)
///     .max_connections(20_000)
///     .header_read_timeout(Duration::from_secs(5))
///     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.ok(); })
///     .await
/// # }
/// ```
pub fn serve(listener: TcpListener, app: Router) -> Serve {
    Serve {
        listener,
        app,
        header_read_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(30),
        max_connections: 10_000,
        shutdown_timeout: Duration::from_secs(10),
        shutdown: None,
        tls: None,
    }
}

/// The server [`serve`] builds: set its bounds, then `.await` it.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve {
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
    shutdown_timeout: Duration,
    shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    tls: Option<TlsAcceptor>,
}

impl Serve {
    /// How long a client may take to send a request's head, from the first
    /// byte of it (or from connecting) to the blank line that ends it
    /// (default 10 s).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a write may make no progress, the client taking in nothing,
    /// before the connection is closed (default 30 s). It bounds progress,
    /// not a whole response: a slow client that reads steadily is never cut
    /// off, however large the snapshot or the stream. This is what ends an
    /// SSE stream, or any response, whose client stopped reading.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// How many connections may be open at once (default 10,000). Past it,
    /// new connections are not accepted until one closes.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// Stops accepting when `signal` completes, asks every open HTTP
    /// connection to finish its request and close, and ends once they have,
    /// or after [`shutdown_timeout`](Serve::shutdown_timeout).
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// How long a graceful shutdown waits for open connections (default
    /// 10 s): live streams (SSE, WebSocket) never finish on their own, and
    /// are dropped then.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Serves over TLS with `config`: its certificate and key (see
    /// [`rustls::ServerConfig`]); its ALPN protocols are set to `http/1.1`,
    /// the one protocol served. The TLS handshake must end within the
    /// [`header_read_timeout`](Serve::header_read_timeout), and a client
    /// that fails it is closed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use live_resource::Hub;
    /// use live_resource::rustls::ServerConfig;
    /// use live_resource::rustls::pki_types::pem::PemObject;
    /// use live_resource::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    /// use live_resource::server;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let chain = CertificateDer::pem_file_iter("cert.pem")?.collect::<Result<Vec<_>, _>>()?;
    /// let key = PrivateKeyDer::from_pem_file("key.pem")?;
    /// let config = ServerConfig::builder()
    ///     .with_no_client_auth()
    ///     .with_single_cert(chain, key)?;
    ///
    /// let app = server::router(Hub::new());
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
    /// // https://HOST:8443/live/{topic}, wss://HOST:8443/live/ws
    /// server::serve(listener, app).tls(Arc::new(config)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls(mut self, mut config: Arc<rustls::ServerConfig>) -> Self {
        let alpn = vec![b"http/1.1".to_vec()];
        if config.alpn_protocols != alpn {
            Arc::make_mut(&mut config).alpn_protocols = alpn;
        }
        self.tls = Some(TlsAcceptor::from(config));
        self
    }

    async fn run(self) -> io::Result<()> {
        let Self {
            listener,
            app,
            header_read_timeout,
            write_timeout,
            max_connections,
            shutdown_timeout,
            shutdown,
            tls,
        } = self;
        let mut shutdown = shutdown.unwrap_or_else(|| Box::pin(std::future::pending()));
        let slots = Arc::new(Semaphore::new(max_connections));
        let (stop, stopping) = watch::channel(false);
        let (drop_all, dropping) = watch::channel(false);
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        loop {
            // A slot first: past the limit, connections wait in the backlog.
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) if is_per_connection(&error) => {
                        tracing::debug!(%error, "accept failed");
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accept failed: pausing");
                        tokio::time::sleep(ACCEPT_PAUSE).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let io = Counted::new(stream, slot, dropping.clone(), write_timeout);
            // The peer's address, for the logs, as axum's
            // `into_make_service_with_connect_info` would record it.
            let app = app.clone().layer(axum::Extension(ConnectInfo(peer)));
            let http = http.clone();
            let stopping = stopping.clone();
            match &tls {
                None => {
                    tokio::spawn(serve_connection(http, io, app, stopping, peer));
                }
                Some(acceptor) => {
                    let handshake = acceptor.accept(io);
                    tokio::spawn(async move {
                        match tokio::time::timeout(header_read_timeout, handshake).await {
                            Ok(Ok(io)) => serve_connection(http, io, app, stopping, peer).await,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
        drop(listener);
        let _ = stop.send(true);
        // Every slot back means every connection (and upgraded socket) closed.
        let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(shutdown_timeout, slots.acquire_many(all)).await;
        if drained.is_err() {
            tracing::info!(
                open = max_connections - slots.available_permits(),
                "shutdown timed out: dropping the connections still open"
            );
            // Live streams (SSE, WebSocket) never end by themselves: their
            // sockets now read as closed, and fail to write, so that the
            // tasks serving them end.
            let _ = drop_all.send(true);
        }
        Ok(())
    }
}

/// Serves HTTP/1.1 on one connection until it ends, or until `stopping`
/// says to finish its request and close.
async fn serve_connection<I>(
    http: http1::Builder,
    io: I,
    app: Router,
    mut stopping: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let connection = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let stop = async move {
        // The guard `wait_for` gives is dropped here, not held across the
        // rest of the connection.
        let _ = stopping.wait_for(|stop| *stop).await.map(drop);
    };
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("header_read_timeout", &self.header_read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_connections", &self.max_connections)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("graceful_shutdown", &self.shutdown.is_some())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// How long the loop pauses after an accept error that is not about one
/// connection, such as running out of file descriptors: retrying at once
/// would only spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Whether an `accept` error is about the one connection being accepted
/// (it went away before it was accepted): the loop goes on at once.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// A client's socket that holds a connection slot until it is dropped, which
/// for a WebSocket is when the upgraded connection ends; whose writes fail
/// once they have made no progress for the write timeout; and that reads as
/// closed, and fails to write, once the server drops its connections.
struct Counted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    dropped: Pin<Box<dyn Future<Output = ()> + Send>>,
    write_timeout: Duration,
    /// Since a write was first refused (the client's window full): the
    /// write fails when it fires.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Counted {
    fn new(
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        mut dropping: watch::Receiver<bool>,
        write_timeout: Duration,
    ) -> Self {
        let dropped = Box::pin(async move {
            let _ = dropping.wait_for(|dropped| *dropped).await.map(drop);
        });
        Self {
            stream,
            _slot: slot,
            dropped,
            write_timeout,
            stalled: None,
        }
    }

    /// Whether the server has dropped its connections.
    fn is_dropped(&mut self, cx: &mut Context<'_>) -> bool {
        self.dropped.as_mut().poll(cx).is_ready()
    }

    /// A write's outcome, with the stall clock started or stopped by it.
    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if write.is_ready() {
            self.stalled = None;
            return write;
        }
        let timeout = self.write_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stalled.as_mut().poll(cx).is_ready() {
            crate::metrics::write_timeout(crate::metrics::Transport::Serve);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took in nothing for {timeout:?}"),
            )));
        }
        Poll::Pending
    }
}

fn dropped() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the server shut down")
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_dropped(cx) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_dropped(cx) {
            return Poll::Ready(Err(dropped()));
        }
        let write = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.progress(cx, write)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_dropped(cx) {
            return Poll::Ready(Err(dropped()));
        }
        let write = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.progress(cx, write)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_dropped(cx) {
            return Poll::Ready(Err(dropped()));
        }
        let flush = Pin::new(&mut self.stream).poll_flush(cx);
        self.progress(cx, flush)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
