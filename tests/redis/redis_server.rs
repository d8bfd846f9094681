//! A `redis-server` of the test's own on a free loopback port, so that the
//! test may stop, restart or flush it. Killed when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
    /// Whether it writes every change to its append-only file (and reads it
    /// back when restarted).
    persistent: bool,
}

impl RedisServer {
    /// A new server, or `None` with the reason printed when `redis-server`
    /// is not installed. With `LIVE_RESOURCE_REQUIRE_PEERS=1` (as in CI) a
    /// missing server fails the test.
    pub(crate) fn start() -> Option<Self> {
        Self::launch(false)
    }

    /// A new server that keeps every change on disk (`appendfsync always`):
    /// restarted, it has them all.
    pub(crate) fn start_persistent() -> Option<Self> {
        Self::launch(true)
    }

    fn launch(persistent: bool) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            let reason = "redis-server is not installed (Debian: apt-get install redis-server)";
            if std::env::var_os("LIVE_RESOURCE_REQUIRE_PEERS").is_some_and(|v| v == "1") {
                panic!("LIVE_RESOURCE_REQUIRE_PEERS=1 and {reason}");
            }
            eprintln!("skipped: {reason}");
            return None;
        }
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("live-resource-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
            persistent,
        };
        server.run();
        Some(server)
    }

    /// `redis://127.0.0.1:port`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (its data is lost: it keeps nothing on disk).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port: empty, unless persistent.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Kills every pub/sub connection of the server (`CLIENT KILL TYPE
    /// pubsub`) `times` times, `every` apart, in a task of its own.
    pub(crate) fn kill_pubsub_repeatedly(
        &self,
        times: usize,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let port = self.port.to_string();
        tokio::spawn(async move {
            for _ in 0..times {
                tokio::time::sleep(every).await;
                let _ = tokio::process::Command::new("redis-cli")
                    .args(["-p", &port, "CLIENT", "KILL", "TYPE", "pubsub"])
                    .output()
                    .await;
            }
        })
    }

    /// A node on this server: a `RedisHub` of its own, whose commands time
    /// out after 500 ms.
    pub(crate) async fn node(&self) -> live_resource::redis::RedisHub {
        live_resource::redis::RedisHub::builder(self.url())
            .timeout(Duration::from_millis(500))
            .connect()
            .await
            .unwrap()
    }

    /// Runs `redis-cli` against the server with `args`; its output.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", ""])
            .args(if self.persistent {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "no"]
            })
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
