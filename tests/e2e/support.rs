//! The harness: real `lucarne` server processes on free loopback ports with temporary data
//! directories, a cuttable TCP proxy, and helpers to read subscription streams.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{ServerMessage, decode_server};
use lucarne_runtime::{Backoff, Client, ClientConfig, Query, Subscription, ViewEvent};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// The `lucarne` binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lucarne")
}

/// The views file the tests serve.
pub fn views_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/views.sql")
}

/// A running `lucarne serve` process.
pub struct Server {
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
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["--open"];
        args.extend(extra);
        Self::start_with_tokens(dir, &args)
    }

    /// Like [`Server::start`] but without `--open`: clients need a capability token
    /// ([`Server::token`]).
    pub fn start_with_tokens(dir: &Path, extra: &[&str]) -> Server {
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
    pub fn spawn(data: PathBuf, listen: SocketAddr, extra: Vec<String>) -> Server {
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
    pub fn token(&self, args: &[&str]) -> String {
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
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// SIGKILL, no goodbye.
    pub fn kill(mut self) -> (PathBuf, SocketAddr, Vec<String>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.data.clone(), self.addr, self.extra.clone())
    }

    /// Kills the server and starts it again on the same data directory and port.
    pub fn restart(self) -> Server {
        let (data, addr, args) = self.kill();
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
pub fn client(url: &str) -> Client {
    let backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(400) };
    Client::connect(ClientConfig::new(url).backoff(backoff))
}

/// A client of a server that requires tokens, with every view and command.
pub fn admin(server: &Server) -> Client {
    client_with_token(&server.url(), &server.token(&["--views", "*", "--commands", "*"]))
}

/// A client with a capability token that reconnects fast.
pub fn client_with_token(url: &str, token: &str) -> Client {
    let backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(400) };
    Client::connect(ClientConfig::new(url).backoff(backoff).token(Some(token.to_owned())))
}

/// The next event of a subscription that is not a status change, within 10 s.
pub async fn next_data(sub: &mut Subscription) -> ViewEvent {
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
pub async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f).await.expect("no answer within 60 s")
}

/// Subscribes and returns the stream after its first snapshot, with that snapshot.
pub async fn subscribed(client: &Client, view: &str) -> (Subscription, ViewEvent) {
    let mut sub = client.subscribe(Query::view(view));
    let first = next_data(&mut sub).await;
    assert!(matches!(first, ViewEvent::Snapshot { .. }), "expected a snapshot, got {first:?}");
    (sub, first)
}

/// A TCP proxy on loopback whose connections can all be cut at once.
pub struct Proxy {
    pub addr: SocketAddr,
    cut: broadcast::Sender<()>,
}

impl Proxy {
    /// Forwards a free port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
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
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Drops every connection through the proxy, mid-stream.
    pub fn cut(&self) {
        let _ = self.cut.send(());
    }
}

/// A raw WebSocket to a server, without the runtime: to send what a well-behaved client never
/// would, and to read exactly what the server sends.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A raw WebSocket to `server`'s `/ws`.
pub async fn raw(server: &Server) -> Socket {
    tokio_tungstenite::connect_async(server.url()).await.expect("connect").0
}

/// The next message that is not a ping; panics on a close or after 10 s.
pub async fn next(ws: &mut Socket) -> ServerMessage {
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
pub async fn send_text(ws: &mut Socket, text: impl Into<String>) {
    ws.send(Message::Text(text.into().into())).await.expect("send");
}

/// Sends one JSON frame.
pub async fn send_json(ws: &mut Socket, frame: serde_json::Value) {
    send_text(ws, frame.to_string()).await;
}

/// Sends `hello` as client `sec`, with a token or without.
pub async fn hello(ws: &mut Socket, token: Option<&str>) {
    let mut hello = serde_json::json!({"type": "hello", "versions": [1], "client_id": "sec"});
    if let Some(token) = token {
        hello["token"] = serde_json::json!(token);
    }
    send_json(ws, hello).await;
}

/// A greeted raw connection.
pub async fn greeted(server: &Server, token: Option<&str>) -> Socket {
    let mut ws = raw(server).await;
    hello(&mut ws, token).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::Welcome(_)));
    ws
}

/// Every text frame until `done` says stop (or 10 s pass), raw: what really left the server.
pub async fn frames_until(ws: &mut Socket, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
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
pub fn found(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

/// Mean brightness of a region (`WxH+X+Y`) of a screenshot, and the number of distinct colours
/// in it (ImageMagick's `convert`).
pub fn region_stats(path: &Path, geometry: &str) -> (f64, u64) {
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
