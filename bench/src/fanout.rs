//! `fanout`: one view change delivered to N subscribed WebSocket clients on loopback, against a
//! bare tokio-tungstenite broadcast of the same payload and Debian's `nats-server` over its
//! WebSocket listener, run the same way in the same run; and each server's memory per idle
//! subscribed connection.
//!
//! Each server runs in a child process (this binary's hidden `fanout-server`, or
//! `nats-server`), so its resident memory (`VmRSS`) can be read before and after the clients
//! connect. The clients and the publisher run in this process: raw tokio-tungstenite
//! connections, spread over the source addresses 127.0.0.2… so that ephemeral ports last.
//! Lucarne's clients speak its protocol (`hello`, `subscribe`, snapshot, then deltas, answering
//! pings); its publisher sends `place_order` commands whose `orders` row the clients subscribe
//! to (the durable store: each command is fsync'd before its delta leaves). The baselines
//! publish a delta-shaped JSON frame of the same size. Every client parses each frame the same
//! way, counts a gap when a delta's `from` is not the previous `to`, and times each change from
//! the moment the publisher sent it (for Lucarne: sent the command, so the commit is included)
//! to its receipt. A change is identified by the `seq` in the delta's `acked`.
//!
//! Points: a number of clients and a rate of changes per second, for some seconds; and a
//! saturation run that publishes as fast as the clients take the changes, with at most
//! `window` changes not yet delivered to every client.

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::nats;

type Ws = WebSocketStream<TcpStream>;

/// How long one client may take to connect, say hello, subscribe and read its snapshot.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections per loopback source address (each takes an ephemeral port of that address).
const PER_SOURCE: usize = 8000;
/// Largest number of changes one run may publish.
const MAX_CHANGES: usize = 1 << 20;
/// The publisher's client id (Lucarne) and the `acked` entry of every change.
const PUBLISHER: &str = "bench-pub";

/// Arguments of `fanout`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Points measured, comma separated: CLIENTS@CHANGES_PER_SECOND.
    #[arg(long, value_delimiter = ',', default_value = "10000@10,1000@100")]
    pub points: Vec<Point>,
    /// Seconds of changes at each point.
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Clients of the saturation run (0: no saturation run).
    #[arg(long, default_value_t = 1000)]
    pub saturation_clients: usize,
    /// Seconds of the saturation run.
    #[arg(long, default_value_t = 3.0)]
    pub saturation_seconds: f64,
    /// Saturation: changes published and not yet delivered to every client, at most.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Servers measured, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "lucarne,bare,nats")]
    pub servers: Vec<Kind>,
    /// Distinct `order_id`s the changes cycle through (rows of the subscribed view).
    #[arg(long, default_value_t = 10)]
    pub keys: usize,
    /// Clients connecting at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
}

/// A fan-out point: clients and changes per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    clients: usize,
    rate: f64,
}

impl FromStr for Point {
    type Err = String;
    fn from_str(s: &str) -> Result<Point, String> {
        let (clients, rate) = s.split_once('@').ok_or_else(|| format!("{s:?} is not CLIENTS@RATE"))?;
        let clients = clients.trim().parse().map_err(|e| format!("clients in {s:?}: {e}"))?;
        let rate: f64 = rate.trim().parse().map_err(|e| format!("rate in {s:?}: {e}"))?;
        if clients == 0 || !(rate > 0.0 && rate.is_finite()) {
            return Err(format!("{s:?}: clients and rate must be positive"));
        }
        Ok(Point { clients, rate })
    }
}

/// A server measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// `lucarne-server`'s gateway with the durable store.
    Lucarne,
    /// A bare tokio-tungstenite broadcast.
    Bare,
    /// Debian's `nats-server` over WebSocket.
    Nats,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Lucarne => "lucarne",
            Kind::Bare => "bare broadcast",
            Kind::Nats => "nats-server",
        }
    }
}

/// How changes are published.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Rate { rate: f64, seconds: f64 },
    Saturate { seconds: f64, window: usize },
}

/// The hidden `fanout-server` subcommand: serves Lucarne or the bare broadcast on a free
/// loopback port, prints `ready SUB_URL PUB_URL`, and stops when its standard input closes.
pub async fn serve_child(kind: Kind, data: Option<PathBuf>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    match kind {
        Kind::Lucarne => {
            let data = data.context("--data is required for lucarne")?;
            let mut store = lucarne_server::Store::open(&data)?;
            // The demo's `orders` view alone: one view folded per command.
            let views = lucarne_server::sql::parse_views(lucarne_server::demo::VIEWS_SQL)?
                .into_iter()
                .filter(|v| v.name == "orders")
                .collect();
            store.install_views(views, |_, _, _| {})?;
            let engine = lucarne_server::Engine::start(store, lucarne_server::demo::commands());
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

/// A server in a child process.
struct Server {
    child: Child,
    /// Closing it stops a `fanout-server`.
    _stdin: Option<ChildStdin>,
    addr: SocketAddr,
    sub_url: String,
    pub_url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(kind: Kind) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        match kind {
            Kind::Lucarne | Kind::Bare => {
                let mut child = Command::new(std::env::current_exe()?)
                    .arg("fanout-server")
                    .arg(match kind {
                        Kind::Lucarne => "lucarne",
                        _ => "bare",
                    })
                    .arg("--data")
                    .arg(dir.path())
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
                let mut server =
                    Server { child, _stdin: None, addr, sub_url: url.clone(), pub_url: url, _dir: dir };
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

    fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.child.id())
    }

    fn cpu_ticks(&self) -> Option<u64> {
        cpu_ticks(self.child.id())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn url_addr(url: &str) -> Result<SocketAddr> {
    let rest = url.strip_prefix("ws://").with_context(|| format!("not a ws:// URL: {url}"))?;
    let host = rest.split('/').next().unwrap_or_default();
    host.parse().with_context(|| format!("no address in {url}"))
}

/// Resident memory of a process, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User and system CPU time of a process, in clock ticks, from `/proc/<pid>/stat`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from the `)` that closes it.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// What one measurement shares between its publisher and its clients.
struct Run {
    kind: Kind,
    epoch: Instant,
    /// When change `seq` was sent: nanoseconds since `epoch`, plus one (0: not sent).
    sent: Vec<AtomicU64>,
    /// Changes delivered, summed over clients.
    delivered: AtomicU64,
    /// The publisher is woken once `delivered` reaches this.
    wake_at: AtomicU64,
    wake: Notify,
    ready: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
    /// The run is over: the server is stopped, its connections end.
    stopping: AtomicBool,
}

impl Run {
    fn new(kind: Kind, changes: usize) -> Run {
        Run {
            kind,
            epoch: Instant::now(),
            sent: (0..changes + 1).map(|_| AtomicU64::new(0)).collect(),
            delivered: AtomicU64::new(0),
            wake_at: AtomicU64::new(u64::MAX),
            wake: Notify::new(),
            ready: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            first_error: Mutex::new(None),
            stopping: AtomicBool::new(false),
        }
    }

    fn since_epoch(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn mark_sent(&self, seq: usize) {
        if let Some(slot) = self.sent.get(seq) {
            slot.store(self.since_epoch(Instant::now()) + 1, Ordering::Release);
        }
    }

    /// Microseconds from the send of change `seq` to `now`.
    fn latency_us(&self, seq: u64, now: Instant) -> Option<u32> {
        let sent = self.sent.get(usize::try_from(seq).ok()?)?.load(Ordering::Acquire).checked_sub(1)?;
        Some((self.since_epoch(now).saturating_sub(sent) / 1000).min(u64::from(u32::MAX)) as u32)
    }

    fn delivered(&self, n: u64) {
        let total = self.delivered.fetch_add(n, Ordering::AcqRel) + n;
        if total >= self.wake_at.load(Ordering::Acquire) {
            self.wake.notify_one();
        }
    }

    /// Waits until `needed` changes were delivered in all, or `patience` passed without it.
    async fn wait_delivered(&self, needed: u64, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            self.wake_at.store(needed, Ordering::Release);
            if self.delivered.load(Ordering::Acquire) >= needed {
                self.wake_at.store(u64::MAX, Ordering::Release);
                return true;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                self.wake_at.store(u64::MAX, Ordering::Release);
                return self.delivered.load(Ordering::Acquire) >= needed;
            }
        }
    }

    fn fail(&self, e: &anyhow::Error) {
        self.failed.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(|| format!("{e:#}"));
        }
    }
}

/// The fields of a server frame the clients look at (all kinds: the baselines send
/// delta-shaped frames). Everything else is skipped by the parser.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    from: Option<u64>,
    to: Option<u64>,
    version: Option<u64>,
    nonce: Option<u64>,
    seq: Option<u64>,
    #[serde(default)]
    acked: Vec<Acked>,
}

#[derive(Deserialize)]
struct Acked {
    seq: u64,
}

/// One client's figures.
#[derive(Debug, Default)]
struct ClientStats {
    connected: bool,
    latencies_us: Vec<u32>,
    changes: u64,
    frames: u64,
    bytes: u64,
    gaps: u64,
    errors: u64,
    closed_early: bool,
    last: Option<Instant>,
}

/// What a client does with each change frame.
struct Tracker {
    prev_to: Option<u64>,
    stats: ClientStats,
}

impl Tracker {
    /// Takes one JSON frame; returns the nonce of a Lucarne `ping` to answer.
    fn on_frame(&mut self, run: &Run, bytes: &[u8], now: Instant) -> Option<u64> {
        let Ok(frame) = serde_json::from_slice::<Frame<'_>>(bytes) else {
            self.stats.errors += 1;
            return None;
        };
        match frame.kind {
            "delta" => {
                let stats = &mut self.stats;
                stats.frames += 1;
                stats.bytes += bytes.len() as u64;
                if let (Some(prev), Some(from)) = (self.prev_to, frame.from)
                    && prev != from
                {
                    stats.gaps += 1;
                }
                self.prev_to = frame.to;
                for acked in &frame.acked {
                    if let Some(us) = run.latency_us(acked.seq, now) {
                        stats.latencies_us.push(us);
                    }
                }
                let n = frame.acked.len() as u64;
                stats.changes += n;
                stats.last = Some(now);
                run.delivered(n);
            }
            "snapshot_begin" => self.prev_to = frame.version,
            "resync" => self.stats.gaps += 1,
            "ping" => return frame.nonce.or(Some(0)),
            "error" => self.stats.errors += 1,
            _ => {}
        }
        None
    }
}

static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// A WebSocket to `addr` from the next loopback source address in turn.
async fn dial(addr: SocketAddr, url: &str) -> Result<Ws> {
    let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let source = Ipv4Addr::new(127, 0, 0, 2 + ((n / PER_SOURCE) % 250) as u8);
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0))).with_context(|| format!("bind {source}"))?;
    let tcp = socket.connect(addr).await.with_context(|| format!("connect {addr} from {source}"))?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await?;
    Ok(ws)
}

fn text(s: String) -> Message {
    Message::Text(s.into())
}

/// The bytes of a frame (text or binary), or `None` for control frames.
fn payload(msg: &Message) -> Option<&[u8]> {
    match msg {
        Message::Text(t) => Some(t.as_bytes()),
        Message::Binary(b) => Some(b),
        _ => None,
    }
}

/// A subscribed client, set up.
struct Subscriber {
    ws: Ws,
    tracker: Tracker,
    parser: nats::Parser,
}

impl Subscriber {
    async fn connect(run: &Run, server: &Target, i: usize) -> Result<Subscriber> {
        let mut ws = dial(server.addr, &server.sub_url).await?;
        let mut tracker = Tracker { prev_to: None, stats: ClientStats::default() };
        let mut parser = nats::Parser::default();
        match run.kind {
            Kind::Lucarne => {
                ws.send(text(format!(r#"{{"type":"hello","versions":[1],"client_id":"fan-{i}"}}"#))).await?;
                ws.send(text(r#"{"type":"subscribe","sub":1,"view":"orders"}"#.to_owned())).await?;
                loop {
                    let msg = ws.next().await.context("closed during the snapshot")??;
                    let Some(bytes) = payload(&msg) else { continue };
                    let frame: Frame<'_> = serde_json::from_slice(bytes)?;
                    match frame.kind {
                        "snapshot_begin" => tracker.prev_to = frame.version,
                        "snapshot_end" => break,
                        "error" => bail!("the server said {}", String::from_utf8_lossy(bytes)),
                        _ => {}
                    }
                }
            }
            Kind::Bare => {}
            Kind::Nats => {
                let mut state = 0; // 0: waiting for INFO, 1: for PONG, 2: subscribed
                while state < 2 {
                    let msg = ws.next().await.context("closed during the handshake")??;
                    let Some(bytes) = payload(&msg) else { continue };
                    let mut info = false;
                    let mut error = None;
                    parser.feed(bytes, |op| match op {
                        nats::Op::Info => info = true,
                        nats::Op::Pong if state == 1 => state = 2,
                        nats::Op::Err(e) => error = Some(e),
                        _ => {}
                    })?;
                    if let Some(e) = error {
                        bail!("nats-server said {e}");
                    }
                    if info && state == 0 {
                        ws.send(Message::Binary(nats::connect(true).into())).await?;
                        state = 1;
                    }
                }
            }
        }
        Ok(Subscriber { ws, tracker, parser })
    }

    /// Handles one frame; false when the connection is unusable.
    async fn on_message(&mut self, run: &Run, msg: Message, now: Instant) -> bool {
        let Some(bytes) = payload(&msg) else { return true };
        match run.kind {
            Kind::Lucarne | Kind::Bare => {
                if let Some(nonce) = self.tracker.on_frame(run, bytes, now) {
                    let pong = format!(r#"{{"type":"pong","nonce":{nonce}}}"#);
                    return self.ws.send(text(pong)).await.is_ok();
                }
            }
            Kind::Nats => {
                let (tracker, mut ping) = (&mut self.tracker, false);
                let parsed = self.parser.feed(bytes, |op| match op {
                    nats::Op::Msg(body) => {
                        tracker.on_frame(run, body, now);
                    }
                    nats::Op::Ping => ping = true,
                    nats::Op::Err(_) => tracker.stats.errors += 1,
                    _ => {}
                });
                if parsed.is_err() {
                    return false;
                }
                if ping {
                    return self.ws.send(Message::Binary("PONG\r\n".into())).await.is_ok();
                }
            }
        }
        true
    }
}

/// Where clients and the publisher connect.
#[derive(Debug, Clone)]
struct Target {
    addr: SocketAddr,
    sub_url: String,
    pub_url: String,
}

/// One subscribed client, until its connection ends (the server is stopped at the end of a run).
async fn client(run: Arc<Run>, target: Arc<Target>, i: usize, gate: Arc<Semaphore>) -> ClientStats {
    let permit = gate.acquire_owned().await;
    let setup = tokio::time::timeout(SETUP_TIMEOUT, Subscriber::connect(&run, &target, i)).await;
    drop(permit);
    let mut sub = match setup {
        Ok(Ok(sub)) => sub,
        Ok(Err(e)) => {
            run.fail(&e);
            return ClientStats::default();
        }
        Err(_) => {
            run.fail(&anyhow::anyhow!("no snapshot within {SETUP_TIMEOUT:?}"));
            return ClientStats::default();
        }
    };
    sub.tracker.stats.connected = true;
    run.ready.fetch_add(1, Ordering::AcqRel);
    loop {
        let frame = sub.ws.next().await;
        let now = Instant::now();
        let usable = match frame {
            Some(Ok(msg)) => sub.on_message(&run, msg, now).await,
            _ => false,
        };
        if !usable {
            sub.tracker.stats.closed_early = !run.stopping.load(Ordering::Acquire);
            break;
        }
    }
    sub.tracker.stats
}

/// The publisher's connection.
struct Publisher {
    kind: Kind,
    sink: SplitSink<Ws, Message>,
    /// Answers to the server's pings, written between changes.
    answers: mpsc::UnboundedReceiver<Message>,
    reader: tokio::task::JoinHandle<PublisherReport>,
    keys: usize,
}

/// What the publisher's reader saw: Lucarne's command → ack round trips, refusals.
#[derive(Debug, Default)]
struct PublisherReport {
    acks_us: Vec<u32>,
    refused: u64,
    first_refusal: Option<String>,
}

impl Publisher {
    async fn connect(run: &Arc<Run>, target: &Target, keys: usize) -> Result<Publisher> {
        let mut ws = dial(target.addr, &target.pub_url).await?;
        match run.kind {
            Kind::Lucarne => {
                let hello = format!(r#"{{"type":"hello","versions":[1],"client_id":"{PUBLISHER}"}}"#);
                ws.send(text(hello)).await?;
                let msg = ws.next().await.context("closed before welcome")??;
                if !payload(&msg).is_some_and(|b| b.starts_with(br#"{"type":"welcome""#)) {
                    bail!("expected welcome, got {msg:?}");
                }
            }
            Kind::Bare => {}
            Kind::Nats => {
                let mut parser = nats::Parser::default();
                let mut state = 0;
                while state < 2 {
                    let msg = ws.next().await.context("closed during the handshake")??;
                    let Some(bytes) = payload(&msg) else { continue };
                    let mut info = false;
                    parser.feed(bytes, |op| match op {
                        nats::Op::Info => info = true,
                        nats::Op::Pong if state == 1 => state = 2,
                        _ => {}
                    })?;
                    if info && state == 0 {
                        ws.send(Message::Binary(nats::connect(false).into())).await?;
                        state = 1;
                    }
                }
            }
        }
        let (sink, mut stream) = ws.split();
        let (answer, answers) = mpsc::unbounded_channel();
        let (kind, run) = (run.kind, run.clone());
        let reader = tokio::spawn(async move {
            let mut report = PublisherReport::default();
            let mut parser = nats::Parser::default();
            while let Some(Ok(msg)) = stream.next().await {
                let now = Instant::now();
                let Some(bytes) = payload(&msg) else { continue };
                match kind {
                    Kind::Lucarne => {
                        let Ok(frame) = serde_json::from_slice::<Frame<'_>>(bytes) else { continue };
                        match frame.kind {
                            "ack" => {
                                if let Some(us) = frame.seq.and_then(|seq| run.latency_us(seq, now)) {
                                    report.acks_us.push(us);
                                }
                            }
                            "reject" | "error" => {
                                report.refused += 1;
                                report
                                    .first_refusal
                                    .get_or_insert_with(|| String::from_utf8_lossy(bytes).into_owned());
                            }
                            "ping" => {
                                let pong =
                                    format!(r#"{{"type":"pong","nonce":{}}}"#, frame.nonce.unwrap_or(0));
                                let _ = answer.send(text(pong));
                            }
                            _ => {}
                        }
                    }
                    Kind::Bare => {}
                    Kind::Nats => {
                        let mut ping = false;
                        let parsed = parser.feed(bytes, |op| match op {
                            nats::Op::Ping => ping = true,
                            nats::Op::Err(e) => {
                                report.refused += 1;
                                report.first_refusal.get_or_insert(e);
                            }
                            _ => {}
                        });
                        if parsed.is_err() {
                            break;
                        }
                        if ping {
                            let _ = answer.send(Message::Binary("PONG\r\n".into()));
                        }
                    }
                }
            }
            report
        });
        Ok(Publisher { kind, sink, answers, reader, keys })
    }

    /// Sends change `seq`, marking its send time.
    async fn publish(&mut self, run: &Run, seq: usize) -> Result<()> {
        while let Ok(answer) = self.answers.try_recv() {
            self.sink.send(answer).await?;
        }
        let key = seq % self.keys.max(1);
        let total = (seq % 500) as f64 + 0.5;
        let msg = match self.kind {
            Kind::Lucarne => text(format!(
                r#"{{"type":"command","id":{seq},"client_id":"{PUBLISHER}","seq":{seq},"name":"place_order","payload":{{"order_id":"o-{key}","customer":"Ada Lovelace","total":{total},"region":"eu"}}}}"#
            )),
            Kind::Bare => text(delta_frame(seq, key, total)),
            Kind::Nats => Message::Binary(nats::publish(&delta_frame(seq, key, total)).into()),
        };
        run.mark_sent(seq);
        self.sink.send(msg).await?;
        Ok(())
    }

    async fn finish(mut self) -> PublisherReport {
        let _ = self.sink.close().await;
        match tokio::time::timeout(Duration::from_secs(2), &mut self.reader).await {
            Ok(Ok(report)) => report,
            _ => {
                self.reader.abort();
                PublisherReport::default()
            }
        }
    }
}

/// A frame shaped and sized like the Lucarne delta of the same change (the baselines' payload).
fn delta_frame(seq: usize, key: usize, total: f64) -> String {
    let ms = 1_767_225_600_000u64 + seq as u64;
    format!(
        r#"{{"type":"delta","sub":1,"from":{},"to":{seq},"ops":[{{"op":"upsert","key":"o-{key}","row":{{"order_id":"o-{key}","customer":"Ada Lovelace","region":"eu","total":{total},"status":"placed","updated_ms":{ms}}}}}],"acked":[{{"client_id":"{PUBLISHER}","seq":{seq}}}]}}"#,
        seq - 1
    )
}

/// The figures of one server at one point.
#[derive(Debug)]
struct Outcome {
    kind: Kind,
    clients: usize,
    ready: usize,
    failed: usize,
    first_error: Option<String>,
    published: usize,
    /// Sorted.
    latencies_us: Vec<u32>,
    changes: u64,
    frames: u64,
    bytes: u64,
    gaps: u64,
    lost: u64,
    errors: u64,
    closed_early: usize,
    /// From the first send to the last receipt.
    elapsed: Duration,
    rss_before_kib: Option<u64>,
    rss_idle_kib: Option<u64>,
    /// CPU seconds the server spent from the first send to the end of the drain.
    server_cpu_s: Option<f64>,
    /// CPU seconds this process (clients and publisher) spent meanwhile.
    clients_cpu_s: Option<f64>,
    publisher: PublisherReport,
}

impl Outcome {
    fn pct(&self, p: f64) -> Option<f64> {
        let n = self.latencies_us.len();
        (n > 0).then(|| {
            f64::from(self.latencies_us[((n as f64 - 1.0) * p).round() as usize]) / 1000.0 // ms
        })
    }

    fn per_s(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn per_connection_kib(&self) -> Option<f64> {
        let (before, idle) = (self.rss_before_kib?, self.rss_idle_kib?);
        (self.ready > 0).then(|| (idle as f64 - before as f64) / self.ready as f64)
    }
}

async fn measure(kind: Kind, clients: usize, mode: Mode, args: &Args) -> Result<Outcome> {
    let mut server = Server::start(kind).await?;
    let target = Arc::new(Target {
        addr: server.addr,
        sub_url: server.sub_url.clone(),
        pub_url: server.pub_url.clone(),
    });
    let capacity = match mode {
        Mode::Rate { rate, seconds } => ((rate * seconds).round() as usize).clamp(1, MAX_CHANGES),
        Mode::Saturate { .. } => MAX_CHANGES,
    };
    let run = Arc::new(Run::new(kind, capacity));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before_kib = server.rss_kib();

    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let connecting = Instant::now();
    let tasks: Vec<_> =
        (0..clients).map(|i| tokio::spawn(client(run.clone(), target.clone(), i, gate.clone()))).collect();
    let deadline = Instant::now() + SETUP_TIMEOUT * 2;
    while run.ready.load(Ordering::Acquire) + run.failed.load(Ordering::Acquire) < clients {
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = run.ready.load(Ordering::Acquire);
    eprintln!(
        "  {}: {ready} of {clients} clients subscribed in {:.1} s",
        kind.label(),
        connecting.elapsed().as_secs_f64()
    );
    // Idle, then the memory of the idle subscribed connections.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle_kib = server.rss_kib();

    let mut publisher = Publisher::connect(&run, &target, args.keys).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu_before = server.cpu_ticks();
    let own_before = cpu_ticks(std::process::id());
    let started = Instant::now();
    let mut published = 0usize;
    match mode {
        Mode::Rate { rate, .. } => {
            for seq in 1..=capacity {
                tokio::time::sleep_until(started + Duration::from_secs_f64((seq - 1) as f64 / rate)).await;
                publisher.publish(&run, seq).await?;
                published = seq;
            }
        }
        Mode::Saturate { seconds, window } => {
            let until = started + Duration::from_secs_f64(seconds);
            while Instant::now() < until && published + 1 < capacity {
                let seq = published + 1;
                if seq > window {
                    let needed = (seq - window) as u64 * ready as u64;
                    run.wait_delivered(needed, Duration::from_millis(500)).await;
                }
                publisher.publish(&run, seq).await?;
                published = seq;
            }
        }
    }
    // Drain: wait while deliveries still progress.
    let needed = published as u64 * ready as u64;
    let drain_until = Instant::now() + Duration::from_secs(20);
    loop {
        let before = run.delivered.load(Ordering::Acquire);
        if run.wait_delivered(needed, Duration::from_secs(2)).await
            || run.delivered.load(Ordering::Acquire) == before
            || Instant::now() > drain_until
        {
            break;
        }
    }
    let cpu_after = server.cpu_ticks();
    let own_after = cpu_ticks(std::process::id());
    let publisher = publisher.finish().await;
    // Stopping the server ends every client's connection.
    run.stopping.store(true, Ordering::Release);
    server.stop();
    let mut stats = Vec::with_capacity(clients);
    for task in tasks {
        stats.push(task.await.unwrap_or_default());
    }

    let mut latencies_us = Vec::new();
    let (mut changes, mut frames, mut bytes, mut gaps, mut lost, mut errors, mut closed_early) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut last = started;
    for s in stats.iter().filter(|s| s.connected) {
        latencies_us.extend_from_slice(&s.latencies_us);
        changes += s.changes;
        frames += s.frames;
        bytes += s.bytes;
        gaps += s.gaps;
        errors += s.errors;
        lost += (published as u64).saturating_sub(s.changes);
        closed_early += usize::from(s.closed_early);
        if let Some(at) = s.last {
            last = last.max(at);
        }
    }
    latencies_us.sort_unstable();
    let first_error = run.first_error.lock().ok().and_then(|e| e.clone());
    Ok(Outcome {
        kind,
        clients,
        ready,
        failed: run.failed.load(Ordering::Acquire),
        first_error,
        published,
        latencies_us,
        changes,
        frames,
        bytes,
        gaps,
        lost,
        errors,
        closed_early,
        elapsed: last.saturating_duration_since(started),
        rss_before_kib,
        rss_idle_kib,
        server_cpu_s: cpu_before.zip(cpu_after).map(|(b, a)| a.saturating_sub(b) as f64 / clock_ticks()),
        clients_cpu_s: own_before.zip(own_after).map(|(b, a)| a.saturating_sub(b) as f64 / clock_ticks()),
        publisher,
    })
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let ram = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or_else(|| "? GiB".into(), |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0));
    format!("{cores} cores ({cpu}), {ram} RAM")
}

/// Raises the soft limit of open files to the hard one (the server children inherit it).
fn raise_fd_limit(needed: u64) -> Result<()> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("cannot raise the open files limit")?;
    if limit < needed {
        bail!(
            "{needed} connections need about {needed} open files, the limit is {limit} (raise `ulimit -Hn`)"
        );
    }
    Ok(())
}

/// Runs every point and the saturation run on each server, then prints the tables.
pub async fn run(args: Args) -> Result<()> {
    let most = args.points.iter().map(|p| p.clients).chain([args.saturation_clients]).max().unwrap_or(0);
    raise_fd_limit(most as u64 + 256)?;
    let has_nats = Command::new("nats-server").arg("--version").output().is_ok_and(|o| o.status.success());
    let servers: Vec<Kind> = args.servers.iter().copied().filter(|k| *k != Kind::Nats || has_nats).collect();
    println!(
        "# cargo xtask bench fanout  (points {}, {} s each; saturation {} clients for {} s, window {})",
        args.points.iter().map(|p| format!("{}@{}/s", p.clients, p.rate)).collect::<Vec<_>>().join(", "),
        args.seconds,
        args.saturation_clients,
        args.saturation_seconds,
        args.window
    );
    println!("# machine: {}; loopback; each server in its own process, clients in this one", machine());
    if !has_nats && args.servers.contains(&Kind::Nats) {
        println!("# nats-server is not installed (`apt-get install nats-server`): its rows are left out");
    }
    let started = Instant::now();
    let mut points: Vec<(String, Vec<Outcome>)> = Vec::new();
    for point in &args.points {
        let label = format!("{} clients @ {}/s", point.clients, point.rate);
        eprintln!("{label}");
        let mut outcomes = Vec::new();
        for &kind in &servers {
            let mode = Mode::Rate { rate: point.rate, seconds: args.seconds };
            outcomes.push(measure(kind, point.clients, mode, &args).await?);
        }
        points.push((label, outcomes));
    }
    if args.saturation_clients > 0 {
        let label = format!("saturation, {} clients", args.saturation_clients);
        eprintln!("{label}");
        let mut outcomes = Vec::new();
        for &kind in &servers {
            let mode = Mode::Saturate { seconds: args.saturation_seconds, window: args.window };
            outcomes.push(measure(kind, args.saturation_clients, mode, &args).await?);
        }
        points.push((label, outcomes));
    }
    print_tables(&points);
    println!(
        "\n(command round trip p50/p99 on the durable store and ingest events/s: `cargo xtask bench skeleton`; \
         this run took {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// CPU time per change delivered: the server's, and this process's (clients and publisher).
fn cpu_per_msg(o: &Outcome) -> String {
    let per = |s: Option<f64>| {
        s.map_or_else(|| "–".into(), |s| format!("{:.1}", s * 1e6 / o.changes.max(1) as f64))
    };
    format!("{}, {}", per(o.server_cpu_s), per(o.clients_cpu_s))
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.2} ms"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}×"))
}

fn print_tables(points: &[(String, Vec<Outcome>)]) {
    println!(
        "\n| point | server | p50 | p99 | max | msgs/s | frames/s | bytes/frame | lost | gaps | CPU µs/msg server, clients | p99 ÷ bare | p99 ÷ nats | msgs/s ÷ bare |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut goals: Vec<String> = Vec::new();
    for (label, outcomes) in points {
        let find = |kind: Kind| outcomes.iter().find(|o| o.kind == kind);
        let bare = find(Kind::Bare);
        let nats = find(Kind::Nats);
        let saturation = label.starts_with("saturation");
        for o in outcomes {
            let p99 = o.pct(0.99);
            let vs_bare = ratio(p99, bare.and_then(|b| b.pct(0.99)));
            let vs_nats = ratio(p99, nats.and_then(|n| n.pct(0.99)));
            let rate_vs_bare = ratio(Some(o.per_s(o.changes)), bare.map(|b| b.per_s(b.changes)));
            println!(
                "| {label} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} |",
                o.kind.label(),
                fmt_ms(o.pct(0.5)),
                fmt_ms(p99),
                fmt_ms(o.pct(1.0)),
                o.per_s(o.changes),
                o.per_s(o.frames),
                o.bytes as f64 / o.frames.max(1) as f64,
                o.lost,
                o.gaps,
                cpu_per_msg(o),
                fmt_ratio(vs_bare),
                fmt_ratio(vs_nats),
                fmt_ratio(rate_vs_bare),
            );
            if o.kind == Kind::Lucarne {
                if saturation {
                    goals.push(goal(&format!("{label}: msgs/s ≥ 0.7× bare"), rate_vs_bare, |r| r >= 0.7));
                } else {
                    goals.push(goal(&format!("{label}: p99 ≤ 1.2× bare"), vs_bare, |r| r <= 1.2));
                    goals.push(goal(&format!("{label}: p99 ≤ 0.6× nats-server"), vs_nats, |r| r <= 0.6));
                }
                goals.push(format!(
                    "{label}: lucarne lost {} and gaps {} (goal: none) — {}",
                    o.lost,
                    o.gaps,
                    if o.lost == 0 && o.gaps == 0 { "met" } else { "MISSED" }
                ));
            }
        }
    }
    println!(
        "\nmsgs/s: changes delivered per second, summed over clients (a Lucarne delta may carry several \
         commands' changes when they share a commit: frames/s counts frames); latency from the \
         publisher's send (Lucarne: of the command, so the fsync'd commit is included) to the client's receipt; \
         CPU: user + system time of the server process, and of this one (clients, publisher), while changes \
         flowed, per change delivered."
    );
    for (label, outcomes) in points {
        for o in outcomes {
            let mut notes = Vec::new();
            if o.failed > 0 {
                notes.push(format!(
                    "{} of {} clients failed to subscribe ({})",
                    o.failed,
                    o.clients,
                    o.first_error.as_deref().unwrap_or("?")
                ));
            }
            if o.closed_early > 0 {
                notes.push(format!("{} connections closed by the server", o.closed_early));
            }
            if o.errors > 0 {
                notes.push(format!("{} error frames", o.errors));
            }
            if o.publisher.refused > 0 {
                notes.push(format!(
                    "{} refusals to the publisher, first: {}",
                    o.publisher.refused,
                    o.publisher.first_refusal.as_deref().unwrap_or("?")
                ));
            }
            if o.kind == Kind::Lucarne && !o.publisher.acks_us.is_empty() {
                let mut acks = o.publisher.acks_us.clone();
                acks.sort_unstable();
                let at = |p: f64| f64::from(acks[((acks.len() as f64 - 1.0) * p).round() as usize]) / 1000.0;
                notes.push(format!(
                    "publisher's command → ack p50 {:.2} ms, p99 {:.2} ms",
                    at(0.5),
                    at(0.99)
                ));
            }
            if !notes.is_empty() {
                println!(
                    "- {label}, {}: {} changes published; {}",
                    o.kind.label(),
                    o.published,
                    notes.join("; ")
                );
            }
        }
    }

    if let Some((label, outcomes)) = points.iter().max_by_key(|(_, o)| o.first().map_or(0, |o| o.ready)) {
        println!(
            "\n| memory per idle subscribed connection ({label}) | RSS before | RSS with the clients idle | per connection |"
        );
        println!("|---|---|---|---|");
        for o in outcomes {
            let kib =
                |v: Option<u64>| v.map_or_else(|| "–".into(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
            println!(
                "| {} ({} connections) | {} | {} | {} |",
                o.kind.label(),
                o.ready,
                kib(o.rss_before_kib),
                kib(o.rss_idle_kib),
                o.per_connection_kib().map_or_else(|| "–".into(), |k| format!("{k:.1} KiB"))
            );
            if o.kind == Kind::Lucarne {
                goals.push(goal(
                    &format!("{label}: memory per idle connection ≤ 12 KB (KiB here)"),
                    o.per_connection_kib(),
                    |k| k <= 12.0,
                ));
            }
        }
    }
    println!("\nGoals (lucarne):");
    for g in goals {
        println!("- {g}");
    }
}

fn goal(what: &str, value: Option<f64>, met: impl Fn(f64) -> bool) -> String {
    match value {
        Some(v) => format!("{what}: {v:.2} — {}", if met(v) { "met" } else { "MISSED" }),
        None => format!("{what}: not measured"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse() {
        assert_eq!("10000@10".parse::<Point>(), Ok(Point { clients: 10_000, rate: 10.0 }));
        assert_eq!(" 1000 @ 2.5".parse::<Point>(), Ok(Point { clients: 1000, rate: 2.5 }));
        for bad in ["10", "0@1", "5@0", "x@1", "5@inf"] {
            assert!(bad.parse::<Point>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_baseline_frame_is_a_delta_the_clients_track() {
        let run = Run::new(Kind::Bare, 4);
        run.mark_sent(1);
        run.mark_sent(2);
        let mut tracker = Tracker { prev_to: None, stats: ClientStats::default() };
        let now = Instant::now();
        for seq in [1, 2, 4] {
            assert_eq!(tracker.on_frame(&run, delta_frame(seq, seq % 10, 1.5).as_bytes(), now), None);
        }
        assert_eq!(tracker.stats.changes, 3);
        assert_eq!(tracker.stats.gaps, 1, "3 was skipped");
        assert_eq!(tracker.stats.latencies_us.len(), 2, "4 was never sent");
        assert_eq!(run.delivered.load(Ordering::Acquire), 3);
        let ping = tracker.on_frame(&run, br#"{"type":"ping","nonce":7}"#, now);
        assert_eq!(ping, Some(7));
        assert_eq!(tracker.on_frame(&run, b"not json", now), None);
        assert_eq!(tracker.stats.errors, 1);
    }

    #[test]
    fn a_lucarne_delta_from_the_snapshot_version() {
        let run = Run::new(Kind::Lucarne, 4);
        let mut tracker = Tracker { prev_to: None, stats: ClientStats::default() };
        let now = Instant::now();
        let begin = br#"{"type":"snapshot_begin","sub":1,"view":"orders","epoch":3,"version":41,"rows":0}"#;
        tracker.on_frame(&run, begin, now);
        let delta = br#"{"type":"delta","sub":1,"from":42,"to":43,"ops":[],"acked":[{"client_id":"a","seq":1},{"client_id":"a","seq":2}]}"#;
        tracker.on_frame(&run, delta, now);
        assert_eq!((tracker.stats.gaps, tracker.stats.changes), (1, 2));
    }
}
