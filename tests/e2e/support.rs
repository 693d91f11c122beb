//! The harness: real `lucarne` server processes on free loopback ports with temporary data
//! directories, a cuttable TCP proxy, and helpers to read subscription streams.

#![allow(dead_code, reason = "a harness shared by every test file: each uses part of it")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{ErrorCode, ServerMessage, decode_server};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::future::join_all;
use lucarne_protocol::Position;
use lucarne_runtime::{
    Backoff, Client, ClientConfig, CommandError, LiveView, Query, Subscription, ViewEvent,
};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// The `lucarne` binary cargo built for these tests.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lucarne")
}

/// The `lucarne-desktop` binary (`LUCARNE_DESKTOP_BIN`, else built by `cargo build -p lucarne-app`
/// next to the `lucarne` binary).
pub(crate) fn desktop_bin() -> PathBuf {
    if let Ok(path) = std::env::var("LUCARNE_DESKTOP_BIN") {
        return PathBuf::from(path);
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "lucarne-app", "--bin", "lucarne-desktop"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cannot build lucarne-desktop");
    Path::new(bin()).with_file_name("lucarne-desktop")
}

/// The views file the tests serve.
pub(crate) fn views_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/views.sql")
}

/// A running `lucarne serve` process.
pub(crate) struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    log: Arc<Mutex<String>>,
    extra: Vec<String>,
}

impl Server {
    /// Starts a server on a free port with a fresh data directory and the test views, the
    /// `orders` commands routed to the `orders` stream, open to clients without a token
    /// (`--open`, the development policy on loopback).
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["--open"];
        args.extend(extra);
        Self::start_with_tokens(dir, &args)
    }

    /// Like [`Server::start`] but without `--open`: clients need a capability token
    /// ([`Server::token`]).
    pub(crate) fn start_with_tokens(dir: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> = vec![
            "--views".into(),
            views_file().display().to_string(),
            "--command".into(),
            "orders:place_order,pay_order,ship_order".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(dir.to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args)
    }

    /// Starts a server with exactly these arguments after `serve --data DIR --listen ADDR`.
    pub(crate) fn spawn(data: PathBuf, listen: SocketAddr, extra: Vec<String>) -> Server {
        let mut child = Command::new(bin())
            .arg("serve")
            .arg("--data")
            .arg(&data)
            .arg("--listen")
            .arg(listen.to_string())
            .args(&extra)
            .env("RUST_LOG", "info,lucarne_server=debug")
            .env("NO_COLOR", "1")
            .env_remove("LUCARNE_KEY")
            .env_remove("LUCARNE_KEY_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lucarne serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving on http://").nth(1)
                    && let (Some(tx), Some(addr)) = (tx.take(), rest.split_whitespace().next())
                {
                    let _ = tx.send(addr.to_owned());
                }
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("server address"),
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start:\n{}", log.lock().map(|l| l.clone()).unwrap_or_default());
            }
        };
        Server { child, addr, data, log, extra }
    }

    /// A token from `lucarne token --data DIR ARGS…` (the server's own key).
    pub(crate) fn token(&self, args: &[&str]) -> String {
        let out = Command::new(bin())
            .arg("token")
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env_remove("LUCARNE_KEY")
            .env_remove("LUCARNE_KEY_FILE")
            .output()
            .expect("run lucarne token");
        assert!(out.status.success(), "lucarne token failed: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
    }

    /// `ws://ADDR/ws`.
    pub(crate) fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The server process's id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// SIGKILL, no goodbye.
    pub(crate) fn kill(mut self) -> (PathBuf, SocketAddr, Vec<String>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.data.clone(), self.addr, self.extra.clone())
    }

    /// Kills the server and starts it again on the same data directory and port.
    pub(crate) fn restart(self) -> Server {
        Server::again(self.kill())
    }

    /// Starts a server killed by [`Server::kill`] again, on its data directory and port.
    pub(crate) fn again((data, addr, args): (PathBuf, SocketAddr, Vec<String>)) -> Server {
        let started = Instant::now();
        loop {
            // The port may take a moment to be free again.
            if std::net::TcpListener::bind(addr).is_ok() || started.elapsed() > Duration::from_secs(5) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Server::spawn(data, addr, args)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that reconnects fast.
pub(crate) fn client(url: &str) -> Client {
    let backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(400) };
    Client::connect(ClientConfig::new(url).backoff(backoff))
}

/// A client of a server that requires tokens, with every view and command.
pub(crate) fn admin(server: &Server) -> Client {
    client_with_token(&server.url(), &server.token(&["--views", "*", "--commands", "*"]))
}

/// A client with a capability token that reconnects fast.
pub(crate) fn client_with_token(url: &str, token: &str) -> Client {
    let backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(400) };
    Client::connect(ClientConfig::new(url).backoff(backoff).token(Some(token.to_owned())))
}

/// The next event of a subscription that is not a status change, within 10 s.
pub(crate) async fn next_data(sub: &mut Subscription) -> ViewEvent {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
            Ok(Some(ViewEvent::Status(_))) => continue,
            Ok(Some(event)) => return event,
            Ok(None) => panic!("subscription ended"),
            Err(_) => panic!("no event within 10s"),
        }
    }
}

/// Awaits a future, failing the test after a minute instead of hanging CI.
pub(crate) async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f).await.expect("no answer within 60 s")
}

/// Subscribes and returns the stream after its first snapshot, with that snapshot.
pub(crate) async fn subscribed(client: &Client, view: &str) -> (Subscription, ViewEvent) {
    let mut sub = client.subscribe(Query::view(view));
    let first = next_data(&mut sub).await;
    assert!(matches!(first, ViewEvent::Snapshot { .. }), "expected a snapshot, got {first:?}");
    (sub, first)
}

/// A TCP proxy on loopback whose connections can all be cut at once.
pub(crate) struct Proxy {
    pub addr: SocketAddr,
    cut: broadcast::Sender<()>,
}

impl Proxy {
    /// Forwards a free port to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (cut, _) = broadcast::channel(4);
        let cuts = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        Proxy { addr, cut }
    }

    /// `ws://PROXY/ws`.
    pub(crate) fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Drops every connection through the proxy, mid-stream.
    pub(crate) fn cut(&self) {
        let _ = self.cut.send(());
    }
}

/// A raw WebSocket to a server, without the runtime: to send what a well-behaved client never
/// would, and to read exactly what the server sends.
pub(crate) type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A raw WebSocket to `server`'s `/ws`.
pub(crate) async fn raw(server: &Server) -> Socket {
    tokio_tungstenite::connect_async(server.url()).await.expect("connect").0
}

/// The next message that is not a ping; panics on a close or after 10 s.
pub(crate) async fn next(ws: &mut Socket) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("answer in time");
        match frame.expect("open").expect("frame") {
            Message::Text(t) => match decode_server(t.as_str()).expect("valid server frame") {
                ServerMessage::Ping(_) => continue,
                msg => return msg,
            },
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => continue,
        }
    }
}

/// Sends one text frame.
pub(crate) async fn send_text(ws: &mut Socket, text: impl Into<String>) {
    ws.send(Message::Text(text.into().into())).await.expect("send");
}

/// Sends one JSON frame.
pub(crate) async fn send_json(ws: &mut Socket, frame: serde_json::Value) {
    send_text(ws, frame.to_string()).await;
}

/// Sends `hello` as client `sec`, with a token or without.
pub(crate) async fn hello(ws: &mut Socket, token: Option<&str>) {
    let mut hello = serde_json::json!({"type": "hello", "versions": [1], "client_id": "sec"});
    if let Some(token) = token {
        hello["token"] = serde_json::json!(token);
    }
    send_json(ws, hello).await;
}

/// A greeted raw connection.
pub(crate) async fn greeted(server: &Server, token: Option<&str>) -> Socket {
    let mut ws = raw(server).await;
    hello(&mut ws, token).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::Welcome(_)));
    ws
}

/// A raw connection with a small receive buffer (4 KiB), greeted: once its reader stops
/// reading, the server's queue for it fills after a few frames.
pub(crate) async fn greeted_slow(server: &Server) -> Socket {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = socket.connect(server.addr).await.expect("connect");
    let (mut ws, _) =
        tokio_tungstenite::client_async(server.url(), tokio_tungstenite::MaybeTlsStream::Plain(tcp))
            .await
            .expect("handshake");
    hello(&mut ws, None).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::Welcome(_)));
    ws
}

/// Every text frame until `done` says stop (or 10 s pass), raw: what really left the server.
pub(crate) async fn frames_until(ws: &mut Socket, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
    let mut frames = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("frames in time");
        if let Message::Text(t) = frame.expect("open").expect("frame") {
            frames.push(t.as_str().to_owned());
            if done(t.as_str()) {
                return frames;
            }
        }
    }
}

/// Whether `tool` is on the `PATH`.
pub(crate) fn found(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

/// Mean brightness of a region (`WxH+X+Y`) of a screenshot, and the number of distinct colours
/// in it (ImageMagick's `convert`).
pub(crate) fn region_stats(path: &Path, geometry: &str) -> (f64, u64) {
    let out = Command::new("convert")
        .arg(path)
        .args(["-crop", geometry, "+repage", "-format", "%[fx:mean] %k", "info:"])
        .output()
        .expect("run convert");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let mean = parts.next().and_then(|s| s.parse().ok()).unwrap_or(-1.0);
    let colours = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (mean, colours)
}

/// Takes screenshots into `path` with `take` until `region` of it looks the same twice in a row
/// (what was drawn there has settled); fails after `timeout`.
pub(crate) fn settle(what: &str, timeout: Duration, path: &Path, region: &str, mut take: impl FnMut(&Path)) {
    take(path);
    let mut last = region_stats(path, region);
    lucarne_testing::wait_for(what, timeout, || {
        take(path);
        let now = region_stats(path, region);
        std::mem::replace(&mut last, now) == now
    });
}

/// A hash of the pixels of a region (`WxH+X+Y`) of a screenshot (ImageMagick's signature).
pub(crate) fn region_signature(path: &Path, geometry: &str) -> String {
    let out = Command::new("convert")
        .arg(path)
        .args(["-crop", geometry, "+repage", "-format", "%#", "info:"])
        .output()
        .expect("run convert");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Takes screenshots into `path` with `take` until the pixels of `region` differ from those
/// whose signature is `from` (what was drawn there changed; two rows of text can have the same
/// mean brightness); fails after `timeout`. Returns the region's stats then.
pub(crate) fn changed(
    what: &str,
    timeout: Duration,
    path: &Path,
    region: &str,
    from: &str,
    mut take: impl FnMut(&Path),
) -> (f64, u64) {
    lucarne_testing::wait_for(what, timeout, || {
        take(path);
        region_signature(path, region) != from
    });
    region_stats(path, region)
}

/// A view row as the tests read it.
pub(crate) type Rows = Map<String, Value>;

/// The `orders` view of the test views, to be defined again under another name: built from
/// the whole log, it is the recomputation the incrementally folded view must equal.
pub(crate) const ORDERS_SQL: &str = "SELECT order_id, LAST(customer) AS customer, SUM(total) AS total, \
                          LAST(type) AS status, COUNT(*) AS events FROM orders GROUP BY order_id";

/// A subscriber's copy of a view, checking every event as it applies it: deltas follow each
/// other with no gap and no duplicate, a resume continues exactly where the copy stood, and a
/// fresh snapshot (a resync) is the only other way forward.
pub(crate) struct Tracker {
    pub view: LiveView<Rows>,
    pub at: Option<Position>,
    pub resumed: usize,
    pub resynced: usize,
    pub deltas: usize,
}

impl Tracker {
    pub(crate) fn new() -> Self {
        Tracker { view: LiveView::new(), at: None, resumed: 0, resynced: 0, deltas: 0 }
    }

    pub(crate) fn apply(&mut self, event: &ViewEvent) {
        match event {
            ViewEvent::Snapshot { at, .. } => {
                if self.at.is_some() {
                    self.resynced += 1;
                }
                self.at = Some(*at);
            }
            ViewEvent::Resumed { at } => {
                assert_eq!(Some(*at), self.at, "a resume continues where the copy stood");
                self.resumed += 1;
            }
            ViewEvent::Delta(delta) => {
                let version = self.at.map(|p| p.version);
                assert_eq!(Some(delta.from), version, "no gap, no duplicate");
                if let Some(at) = &mut self.at {
                    at.version = delta.to;
                }
                self.deltas += 1;
            }
            ViewEvent::Failed { code, message } => panic!("subscription failed: {code}: {message}"),
            ViewEvent::Status(_) => {}
        }
        assert!(!self.view.apply(event).out_of_order, "the runtime never hands out a delta it cannot apply");
    }

    pub(crate) fn rows(&self) -> BTreeMap<String, Rows> {
        self.view.iter().map(|(k, r)| (k.to_string(), r.clone())).collect()
    }

    /// Applies the subscription's events until the copy stands at `at`.
    pub(crate) async fn converge(&mut self, sub: &mut Subscription, at: Position) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.at != Some(at) {
            let event = tokio::time::timeout_at(deadline, sub.next())
                .await
                .unwrap_or_else(|_| panic!("not at {at:?} within 30 s (at {:?})", self.at))
                .expect("subscription ended");
            self.apply(&event);
        }
    }
}

/// The view's rows and position as a fresh subscriber gets them.
pub(crate) async fn truth(url: &str, view: &str) -> (BTreeMap<String, Rows>, Position) {
    let fresh = client(url);
    let (_, snapshot) = within(subscribed(&fresh, view)).await;
    let mut tracker = Tracker::new();
    tracker.apply(&snapshot);
    (tracker.rows(), tracker.at.expect("snapshot position"))
}

pub(crate) fn place(id: &str, n: usize) -> Value {
    let customer = ["Ada", "مريم", "יוסף"][n % 3];
    json!({ "order_id": id, "customer": customer, "total": (n % 97) as f64 + 0.5 })
}

/// Sends `place_order` commands as fast as the client is answered, 16 in flight, until `stop`;
/// returns the ids sent. Every command must be answered `ack` (possibly `duplicate` after a
/// resend), through any crash: the runtime keeps it in its outbox and resends it. A command
/// refused `rate_limited` (a fast machine outruns the server's 2 000 messages a second; it was
/// not handled) is sent again a moment later, as a client would.
pub(crate) async fn writer(
    client: Client,
    name: String,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut sent = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let batch: Vec<String> = (n..n + 16).map(|i| format!("{name}-{i}")).collect();
        let answers =
            join_all(batch.iter().enumerate().map(|(i, id)| client.send("place_order", place(id, n + i))))
                .await;
        for (i, (id, mut answer)) in batch.into_iter().zip(answers).enumerate() {
            while let Err(CommandError::Rejected { code: ErrorCode::RateLimited, .. }) = answer {
                tokio::time::sleep(Duration::from_millis(100)).await;
                answer = client.send("place_order", place(&id, n + i)).await;
            }
            if let Err(e) = answer {
                panic!("{id} not acked: {e:?}");
            }
            acked.fetch_add(1, Ordering::Relaxed);
            sent.push(id);
        }
        n += 16;
    }
    sent
}

pub(crate) use lucarne_testing::NatsCluster;

impl Server {
    /// A Lucarne node of the cluster on `nats` (the test views and commands, open), named `id`.
    pub(crate) fn node(dir: &Path, nats: &NatsCluster, id: &str, extra: &[&str]) -> Server {
        let urls = nats.urls();
        let mut args = vec!["--nats", urls.as_str(), "--node-id", id];
        args.extend(extra);
        Server::start(dir, &args)
    }
}

/// Places `n` orders `{name}-{i}` through `client`, 16 in flight; every one must be acked.
pub(crate) async fn place_many(client: &Client, name: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{name}-{i}")).collect();
    for (chunk, at) in ids.chunks(16).zip((0..).step_by(16)) {
        let answers =
            join_all(chunk.iter().enumerate().map(|(i, id)| client.send("place_order", place(id, at + i))))
                .await;
        for (id, answer) in chunk.iter().zip(answers) {
            answer.unwrap_or_else(|e| panic!("{id} not acked: {e:?}"));
        }
    }
    ids
}

/// Sends a raw HTTP request and returns the status line and headers (lower-cased), or what came
/// before the connection closed.
pub(crate) async fn http(server: &Server, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = within(tcp.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase()
}

/// `GET /healthz`: the status line and headers.
pub(crate) async fn health(server: &Server) -> String {
    http(server, format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr)).await
}

/// Runs `lucarne ARGS` against the server (`LUCARNE_SERVER`).
pub(crate) fn lucarne(server: &Server, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("LUCARNE_SERVER", server.url())
        .env("NO_COLOR", "1")
        .output()
        .expect("run lucarne")
}

/// The JSON lines a command printed.
pub(crate) fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// Sends one command with `lucarne send`: `Ok(ack)` or `Err((code, message))`.
pub(crate) fn send(server: &Server, name: &str, payload: &str) -> Result<Value, (String, String)> {
    let out = lucarne(server, &["send", name, payload]);
    let answer = json_lines(&out).into_iter().next().unwrap_or_else(|| panic!("no answer: {out:?}"));
    match out.status.code() {
        Some(0) => Ok(answer),
        Some(1) => Err((
            answer["code"].as_str().unwrap_or_default().to_owned(),
            answer["message"].as_str().unwrap_or_default().to_owned(),
        )),
        _ => panic!("{out:?}"),
    }
}
