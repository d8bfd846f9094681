//! The Node.js peers of the Socket.IO tests: finding Node and the npm
//! packages, running a script with a bounded life, reading what it prints,
//! and a TCP proxy whose connections the test can cut.
//!
//! Declared once in each test binary with Socket.IO tests (`tests/clients/`,
//! `tests/server/`) as `#[path = "../node/peer.rs"] mod peer;`.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::support::STEP;

/// How long a Node peer may live, whatever happens to the test.
const LIFETIME_MS: &str = "90000";

/// Where the peers are: the `node` binary and `tests/node`, with its
/// `node_modules` installed by `npm ci --prefix tests/node`.
#[derive(Clone, Debug)]
pub struct Peers {
    node: PathBuf,
    dir: PathBuf,
}

/// The peers, or `None` with the reason printed when they are missing. With
/// `LIVE_RESOURCE_REQUIRE_PEERS=1` (as in CI) a missing peer fails the test.
pub fn peers() -> Option<Peers> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "node"]
        .iter()
        .collect();
    let node = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("node"))
            .find(|candidate| candidate.is_file())
    });
    let missing = match &node {
        None => Some("node is not installed (Node.js 18 or later)".to_owned()),
        Some(_) if !dir.join("node_modules/socket.io/package.json").is_file() => Some(format!(
            "the npm packages are not installed: run `npm ci --prefix {}`",
            dir.display()
        )),
        Some(_) => None,
    };
    if let Some(reason) = missing {
        if std::env::var_os("LIVE_RESOURCE_REQUIRE_PEERS").is_some_and(|v| v == "1") {
            panic!("LIVE_RESOURCE_REQUIRE_PEERS=1 and {reason}");
        }
        eprintln!("skipped: {reason}");
        return None;
    }
    Some(Peers {
        node: node.expect("checked"),
        dir,
    })
}

/// A running Node script: killed when dropped, and it exits by itself when
/// its stdin closes or its lifetime is over.
pub struct Node {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    _reader: JoinHandle<()>,
}

impl Peers {
    /// Runs `tests/node/{script}` with `args`, then the lifetime.
    pub fn spawn(&self, script: &str, args: &[&str]) -> Node {
        self.spawn_with_env(script, args, &[])
    }

    /// Runs `tests/node/{script}` as [`spawn`](Peers::spawn) does, with
    /// these environment variables too.
    pub fn spawn_with_env(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> Node {
        let mut child = Command::new(&self.node)
            .arg(self.dir.join(script))
            .args(args)
            .arg(LIFETIME_MS)
            .envs(env.iter().copied())
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starting node {script}: {error}"));
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = mpsc::unbounded_channel();
        let script = script.to_owned();
        let reader = tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                match serde_json::from_str(&line) {
                    Ok(value) => {
                        if sender.send(value).is_err() {
                            return;
                        }
                    }
                    Err(_) => eprintln!("{script}: {line}"),
                }
            }
        });
        Node {
            child,
            stdin,
            lines,
            _reader: reader,
        }
    }
}

impl Node {
    /// The next line the script prints that `wanted` accepts; the others are
    /// skipped. Fails the test after [`STEP`].
    pub async fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(STEP, async {
            while let Some(line) = self.lines.recv().await {
                if wanted(&line) {
                    return Some(line);
                }
            }
            None
        });
        match found.await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the node peer exited before {what}"),
            Err(_) => panic!("the node peer printed no {what} within {STEP:?}"),
        }
    }

    /// Every line printed so far, without waiting.
    pub fn drain(&mut self) -> Vec<Value> {
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            lines.push(line);
        }
        lines
    }

    /// Sends a command line and waits for its `{"ok":..}`.
    pub async fn command(&mut self, command: Value) -> Value {
        let op = command["op"].clone();
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        self.wait_for("a command's answer", |line| line["ok"] == op)
            .await
    }

    /// The port the script listens on, from its `{"port":..}` line.
    pub async fn port(&mut self) -> u16 {
        let line = self
            .wait_for("its port", |line| line["port"].is_u64())
            .await;
        u16::try_from(line["port"].as_u64().unwrap()).unwrap()
    }

    /// Kills the process and waits until it is gone, so that its port is
    /// free again.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// Freezes the process (`SIGSTOP`), as a server that hangs: it sends
    /// nothing, answers nothing, and closes nothing.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen process go on (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the process is running");
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }
}

/// A TCP proxy to `upstream` whose connections can all be cut at once, as a
/// network failure would: the listener stays, so clients reconnect.
pub struct Proxy {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accepting: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let held = Arc::clone(&connections);
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut held = held.lock().unwrap();
                held.retain(|pipe| !pipe.is_finished());
                held.push(pipe);
            }
        });
        Self {
            addr,
            connections,
            _accepting: accepting,
        }
    }

    /// Cuts every open connection.
    pub fn cut(&self) {
        for pipe in self.connections.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self._accepting.abort();
    }
}
