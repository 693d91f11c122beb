//! The servers under test, each in its own process: Lucarne, a bare broadcast, nats-server; their memory and CPU.

use super::*;

/// The hidden `fanout-server` subcommand: serves Lucarne or the bare broadcast on a free
/// loopback port, prints `ready SUB_URL PUB_URL`, and stops when its standard input closes.
pub(crate) async fn serve_child(kind: Kind, data: Option<PathBuf>, nats: Option<String>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    match kind {
        Kind::Lucarne | Kind::Cluster => {
            let data = data.context("--data is required for lucarne")?;
            let mut store = lucarne_server::Store::open(&data)?;
            if nats.is_some() {
                store.set_numbering(lucarne_server::store::Numbering::Log);
            }
            // The demo's `orders` view alone: one view folded per command.
            let views = lucarne_server::sql::parse_views(lucarne_demo::VIEWS_SQL)?
                .into_iter()
                .filter(|v| v.name == "orders")
                .collect();
            store.install_views(views, |_, _, _| {})?;
            // `place_order` routed with no check: the publisher places the same orders again and
            // again (the demo's lifecycle would refuse that); fan-out is what is measured.
            let commands = lucarne_server::Commands::new().route("place_order", lucarne_demo::STREAM);
            let engine = match nats {
                None => lucarne_server::Engine::start(store, commands),
                Some(urls) => {
                    let config = lucarne_server::engine::ClusterConfig {
                        urls,
                        stream: "BENCH".into(),
                        replicas: None,
                        node_id: addr.to_string(),
                        duplicate_window: None,
                    };
                    let policy = lucarne_server::engine::ViewPolicy::default();
                    lucarne_server::Engine::cluster(store, commands, policy, config).await?
                }
            };
            let mut config = lucarne_server::GatewayConfig::default();
            // One publisher sends every change: lift its per-connection message rate limit.
            config.limits.messages_per_second = 1e9;
            config.limits.message_burst = 1e9;
            // Every client connects from 127.0.0.1.
            config.limits.max_connections_per_address = usize::MAX;
            tokio::spawn(async move {
                if let Err(e) = lucarne_server::serve(listener, engine, config, std::future::pending()).await
                {
                    eprintln!("lucarne server stopped: {e}");
                }
            });
            println!("ready ws://{addr}/ws ws://{addr}/ws");
        }
        Kind::Bare => {
            tokio::spawn(crate::bare::serve(listener));
            println!("ready ws://{addr}/ ws://{addr}/pub");
        }
        Kind::Nats => bail!("nats-server is Debian's binary, not served from here"),
    }
    std::io::stdout().flush()?;
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await??;
    Ok(())
}

/// A server in a child process (for a cluster: the node the clients subscribe to, with the
/// publisher's node and the NATS servers beside it).
pub(super) struct Server {
    pub(super) child: Child,
    /// A cluster's other node and its NATS servers.
    pub(super) cluster: Option<(Box<Server>, lucarne_testing::NatsCluster)>,
    /// Closing it stops a `fanout-server`.
    pub(super) _stdin: Option<ChildStdin>,
    pub(super) addr: SocketAddr,
    pub(super) sub_url: String,
    pub(super) pub_url: String,
    pub(super) _dir: tempfile::TempDir,
}

impl Server {
    pub(super) async fn start(kind: Kind) -> Result<Server> {
        if kind == Kind::Cluster {
            let nats = lucarne_testing::NatsCluster::start(3);
            // The publisher's node creates the stream (3 replicas) before the clients' joins.
            let publisher = Box::pin(Self::child(Kind::Cluster, Some(nats.urls()))).await?;
            let mut node = Box::pin(Self::child(Kind::Cluster, Some(nats.urls()))).await?;
            node.pub_url = publisher.pub_url.clone();
            node.cluster = Some((Box::new(publisher), nats));
            return Ok(node);
        }
        Self::child(kind, None).await
    }

    async fn child(kind: Kind, nats: Option<String>) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        match kind {
            Kind::Lucarne | Kind::Bare | Kind::Cluster => {
                let mut command = Command::new(std::env::current_exe()?);
                command
                    .arg("fanout-server")
                    .arg(match kind {
                        Kind::Lucarne => "lucarne",
                        Kind::Cluster => "cluster",
                        _ => "bare",
                    })
                    .arg("--data")
                    .arg(dir.path());
                if let Some(urls) = &nats {
                    command.arg("--nats").arg(urls);
                }
                let mut child = command
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .context("cannot start the fanout-server child")?;
                let stdin = child.stdin.take();
                let stdout = child.stdout.take().context("no stdout")?;
                let line = tokio::time::timeout(
                    Duration::from_secs(30),
                    tokio::task::spawn_blocking(move || {
                        let mut line = String::new();
                        std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
                    }),
                )
                .await
                .context("the server did not start within 30 s")???;
                let mut words = line.split_whitespace().skip(1);
                let (Some(sub_url), Some(pub_url)) = (words.next(), words.next()) else {
                    let _ = child.kill();
                    bail!("the server said {line:?}");
                };
                let addr = url_addr(sub_url)?;
                Ok(Server {
                    child,
                    cluster: None,
                    _stdin: stdin,
                    addr,
                    sub_url: sub_url.to_owned(),
                    pub_url: pub_url.to_owned(),
                    _dir: dir,
                })
            }
            Kind::Nats => {
                let (port, ws_port) = (free_port()?, free_port()?);
                let conf = dir.path().join("nats.conf");
                std::fs::write(&conf, nats::config(port, ws_port))?;
                let log = std::fs::File::create(dir.path().join("nats.log"))?;
                let child = Command::new("nats-server")
                    .arg("-c")
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
                    .context("cannot start nats-server (Debian: apt-get install nats-server)")?;
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ws_port));
                let url = format!("ws://{addr}/");
                let mut server = Server {
                    child,
                    cluster: None,
                    _stdin: None,
                    addr,
                    sub_url: url.clone(),
                    pub_url: url,
                    _dir: dir,
                };
                let deadline = Instant::now() + Duration::from_secs(10);
                while TcpStream::connect(addr).await.is_err() {
                    if Instant::now() > deadline || server.child.try_wait()?.is_some() {
                        let log =
                            std::fs::read_to_string(server._dir.path().join("nats.log")).unwrap_or_default();
                        server.stop();
                        bail!("nats-server did not open its WebSocket port:\n{log}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(server)
            }
        }
    }

    pub(super) fn rss_kib(&self) -> Option<u64> {
        crate::rss_kib(self.child.id())
    }

    pub(super) fn cpu_ticks(&self) -> Option<u64> {
        cpu_ticks(self.child.id())
    }

    /// CPU of the publisher's node of a cluster, in clock ticks.
    pub(super) fn publisher_cpu_ticks(&self) -> Option<u64> {
        self.cluster.as_ref().and_then(|(node, _)| node.cpu_ticks())
    }

    pub(super) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((node, _)) = &mut self.cluster {
            node.stop();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(super) fn url_addr(url: &str) -> Result<SocketAddr> {
    let rest = url.strip_prefix("ws://").with_context(|| format!("not a ws:// URL: {url}"))?;
    let host = rest.split('/').next().unwrap_or_default();
    host.parse().with_context(|| format!("no address in {url}"))
}

/// User and system CPU time of a process, in clock ticks, from `/proc/<pid>/stat`.
pub(super) fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from the `)` that closes it.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise).
pub(super) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
