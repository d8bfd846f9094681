//! A Redis Cluster of the test's own on loopback: three masters, each with a
//! replica, on free ports. Killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster.
pub(crate) struct RedisCluster {
    nodes: Vec<(u16, Option<Child>)>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Three masters and three replicas, or `None` where `redis-server`
    /// is missing (see `RedisServer::start`).
    pub(crate) fn start() -> Option<Self> {
        crate::redis_server::RedisServer::start()?;
        let dir = std::env::temp_dir().join(format!(
            "live-resource-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..6 {
            let port = free_cluster_port();
            let child = cluster.spawn(port);
            cluster.nodes.push((port, Some(child)));
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success(), "redis-cli --cluster create failed");
        cluster.wait_until_ok();
        Some(cluster)
    }

    /// The URLs of its nodes.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(port, _)| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// Kills (SIGKILL) the master that serves `key`'s slot, and waits until
    /// its replica has taken over; the killed node's port.
    pub(crate) fn kill_master_of(&mut self, key: &str) -> u16 {
        let port = self.master_of(key);
        for (node, child) in &mut self.nodes {
            if *node == port {
                if let Some(mut child) = child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        // A master marked failing serves nothing (0) until a replica is
        // promoted.
        while [port, 0].contains(&self.master_of(key)) {
            assert!(
                Instant::now() < deadline,
                "no replica took over:\n{}",
                cli(self.alive(), &["CLUSTER", "NODES"])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.wait_until_ok();
        port
    }

    /// The port of the master that serves `key`'s slot now.
    pub(crate) fn master_of(&self, key: &str) -> u16 {
        let alive = self.alive();
        let slot: u16 = cli(alive, &["CLUSTER", "KEYSLOT", key]).parse().unwrap();
        let nodes = cli(alive, &["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((low, high)) => {
                    (low.parse().unwrap_or(u16::MAX)..=high.parse().unwrap_or(0)).contains(&slot)
                }
                None => range.parse() == Ok(slot),
            });
            if serves {
                let address = fields[1].split('@').next().unwrap();
                return address.rsplit(':').next().unwrap().parse().unwrap();
            }
        }
        0
    }

    fn alive(&self) -> u16 {
        self.nodes
            .iter()
            .find(|(_, child)| child.is_some())
            .map(|(port, _)| *port)
            .unwrap()
    }

    /// Waits until every live node says the cluster is ok, and every live
    /// replica has its master's data.
    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self
                .nodes
                .iter()
                .filter(|(_, child)| child.is_some())
                .all(|(port, _)| {
                    let replication = cli(*port, &["INFO", "replication"]);
                    cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
                        && (replication.contains("role:master")
                            || replication.contains("master_link_status:up"))
                });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster is not ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn spawn(&self, port: u16) -> Child {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .arg("--cluster-config-file")
            .arg(self.dir.join(format!("nodes-{port}.conf")))
            .args(["--save", "", "--appendonly", "no"])
            // Replicas sync at once (not 5 s later), so that one can take
            // over a master killed early.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A free port whose cluster bus port (10,000 above it) is free too.
fn free_cluster_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new();
    for attempt in 0u32..1000 {
        let port = 20_000 + (random.hash_one(attempt) % 25_000) as u16;
        let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
