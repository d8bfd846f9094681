//! A loopback HTTP server for the client tests: an axum router served on
//! 127.0.0.1 by a runtime of its own, so that stopping it closes every
//! connection it holds, as a crashed server would.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use axum::Router;
use tokio::sync::oneshot;

pub(crate) struct FakeServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Serves `router` on a free loopback port.
    pub(crate) async fn start(router: Router) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), router).await
    }

    /// Serves `router` on `addr`: a port a stopped server used is taken again.
    pub(crate) async fn start_on(addr: SocketAddr, router: Router) -> Self {
        let (bound_tx, bound_rx) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fake server");
            runtime.block_on(async move {
                // tokio sets SO_REUSEADDR: the port of a stopped server is free again.
                let listener = tokio::net::TcpListener::bind(addr).await;
                let listener = match listener {
                    Ok(listener) => {
                        let _ = bound_tx.send(listener.local_addr());
                        listener
                    }
                    Err(error) => {
                        let _ = bound_tx.send(Err(error));
                        return;
                    }
                };
                tokio::select! {
                    served = axum::serve(listener, router).into_future() => {
                        served.expect("the fake server failed");
                    }
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection task with it.
        });
        let addr = bound_rx
            .await
            .expect("the fake server thread reports its address")
            .unwrap_or_else(|error| panic!("binding {addr}: {error}"));
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and closes its connections.
    pub(crate) fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() && !std::thread::panicking() {
                panic!("the fake server thread panicked");
            }
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}
