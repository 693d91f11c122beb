//! Real `nats-server` processes with JetStream on loopback ports, alone or as a routed cluster,
//! their stores in a temporary directory, killed by pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nats-server` the tests run: `$LUCARNE_NATS_SERVER` (`cargo xtask test` sets it to
/// nats-server 2.15 from PyPI, which can sync every write to disk), else the one on the `PATH`
/// (Debian's 2.9).
pub fn nats_server() -> String {
    std::env::var("LUCARNE_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

/// Whether the `nats-server` the tests run takes `sync_interval` (2.10 and later).
fn nats_syncs_always() -> bool {
    let out = Command::new(nats_server()).arg("--version").output().expect("nats-server (cargo xtask setup)");
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.trim().rsplit('v').next().unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A NATS cluster with JetStream on loopback: real `nats-server` processes routed to each
/// other, their stores in a temporary directory (every write synced where the server can),
/// killed by pid.
#[derive(Debug)]
pub struct NatsCluster {
    dir: tempfile::TempDir,
    servers: Vec<NatsServer>,
}

#[derive(Debug)]
struct NatsServer {
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts it and waits until it listens (30 s at most); false when it exited first (its
    /// port was taken meanwhile) or never listened.
    fn spawn(&mut self, log: &Path) -> bool {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("nats log");
        let child = Command::new(nats_server())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server (cargo xtask setup installs it)");
        let child = self.child.insert(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) || child.try_wait().is_ok_and(|s| s.is_some()) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl NatsCluster {
    /// Starts `n` servers (one is a lone server, not a cluster). Free ports are picked by
    /// binding and letting go, so another process may take one before the server binds it: then
    /// the cluster starts again on other ports (five tries).
    pub fn start(n: usize) -> NatsCluster {
        let mut last = String::new();
        for _ in 0..5 {
            let mut cluster = Self::configure(n);
            if (0..n).all(|i| cluster.try_restart(i)) {
                return cluster;
            }
            last = (0..n).map(|i| cluster.log(i)).collect::<Vec<_>>().join("\n");
        }
        panic!("nats-server did not start in five tries; the last logs:\n{last}");
    }

    /// The servers' configurations on fresh ports, none started.
    fn configure(n: usize) -> NatsCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports.iter().map(|(_, r)| format!("nats://127.0.0.1:{r}")).collect();
        let sync = if nats_syncs_always() { "sync_interval: always" } else { "" };
        let mut servers = Vec::new();
        for (i, (port, route)) in ports.iter().enumerate() {
            let store = dir.path().join(format!("js{i}"));
            let mut conf = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\", {sync} }}\n",
                store.display()
            );
            if n > 1 {
                conf.push_str(&format!(
                    "cluster {{ name: lucarne, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                    routes.join(", ")
                ));
            }
            let path = dir.path().join(format!("n{i}.conf"));
            std::fs::write(&path, conf).expect("write nats conf");
            servers.push(NatsServer { conf: path, port: *port, child: None });
        }
        NatsCluster { dir, servers }
    }

    /// `nats://127.0.0.1:P1,nats://127.0.0.1:P2,…`
    pub fn urls(&self) -> String {
        self.servers.iter().map(|s| format!("nats://127.0.0.1:{}", s.port)).collect::<Vec<_>>().join(",")
    }

    /// SIGKILL to server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts server `i` (again) on its store and ports.
    pub fn restart(&mut self, i: usize) {
        assert!(self.try_restart(i), "nats-server {i} did not start again:\n{}", self.log(i));
    }

    fn try_restart(&mut self, i: usize) -> bool {
        self.kill(i);
        let log = self.dir.path().join(format!("n{i}.log"));
        self.servers[i].spawn(&log)
    }

    /// What server `i` logged.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("n{i}.log"))).unwrap_or_default()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}
