//! `snapshot`: a whole view of many rows, from `subscribe` to the rows applied in the native
//! runtime's `LiveView`, against a bare WebSocket client receiving the same frames from the
//! server (and one that also decodes them), and a bare WebSocket server sending the same frames
//! ready-made (the transport's floor), alternating, in the same run.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use lucarne_demo as demo;
use lucarne_protocol::{ClientMessage, CommandRef, Hello, Query, ServerMessage, Subscribe};
use lucarne_runtime::{Client, ClientConfig, LiveView, ViewEvent};
use lucarne_server::log::{Append, NewEvent};
use lucarne_server::{Engine, GatewayConfig, Store, sql};
use serde::Deserialize;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The demo's order row, as an app would type it.
#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "read by serde; the figure is the time to build them")]
struct Order {
    order_id: String,
    customer: Option<String>,
    region: Option<String>,
    total: Option<f64>,
    status: Option<String>,
}

/// How a run receives the snapshot.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// The same frames, ready-made, from a bare WebSocket server (the transport's floor).
    Replayed,
    /// Frames read, nothing decoded.
    Bare,
    /// Frames read and decoded into protocol messages.
    Decoded,
    /// The runtime's `Client`, rows applied into a typed `LiveView`.
    Runtime,
}

pub(crate) async fn run(rows: usize, runs: usize, browser: Option<PathBuf>) -> Result<()> {
    println!("# cargo xtask bench snapshot  ({rows} rows in the demo's `orders` view, {runs} runs each)");
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path())?;
    store.install_views(sql::parse_views(demo::VIEWS_SQL)?, |_, _, _| {})?;
    for start in (0..rows).step_by(5000) {
        let batch: Vec<Append> = (start..(start + 5000).min(rows))
            .map(|i| Append {
                key: CommandRef { client_id: "load".into(), seq: i as u64 + 1 },
                events: vec![NewEvent {
                    stream: demo::STREAM.into(),
                    kind: "place_order".into(),
                    payload: json!({ "order_id": format!("o-{i:06}"), "customer": "Ada Lovelace",
                                     "total": (i % 500) as f64 + 0.25, "region": crate::REGIONS[i % 3] }),
                }],
                guard: None,
            })
            .collect();
        store.commit(&batch)?;
    }
    let engine = Engine::start(store, demo::commands());
    let config = GatewayConfig { web_dir: browser.clone(), ..GatewayConfig::default() };
    let addr = crate::serve_with(engine.clone(), config).await?;
    let url = format!("ws://{addr}/ws");

    let (_, _, frames) = bare(&url, rows, false).await?;
    let replay = replay_server(frames).await?;
    let mut times: Vec<(Reader, Vec<Duration>, usize)> =
        [Reader::Replayed, Reader::Bare, Reader::Decoded, Reader::Runtime]
            .into_iter()
            .map(|r| (r, Vec::new(), 0))
            .collect();
    for _ in 0..runs {
        for (reader, took, bytes) in &mut times {
            let (t, b) = match reader {
                Reader::Replayed => replayed(&replay).await?,
                Reader::Bare | Reader::Decoded => {
                    let (t, b, _) = bare(&url, rows, matches!(reader, Reader::Decoded)).await?;
                    (t, b)
                }
                Reader::Runtime => runtime(&url, rows).await?,
            };
            took.push(t);
            *bytes = b;
        }
    }
    println!("\n| subscribe → {rows} rows | median | best | bytes received |\n|---|---|---|---|");
    for (reader, mut took, bytes) in times {
        took.sort();
        let label = match reader {
            Reader::Replayed => "baseline: a bare WebSocket server sending the same frames ready-made",
            Reader::Bare => "lucarne server, frames read, nothing decoded",
            Reader::Decoded => {
                "lucarne server, frames decoded into protocol messages (each row's columns kept as text)"
            }
            Reader::Runtime => "native runtime: `Client` + typed `LiveView` applied",
        };
        let bytes = if bytes == 0 { "—".to_string() } else { bytes.to_string() };
        println!("| {label} | {} | {} | {bytes} |", crate::ms(took[took.len() / 2]), crate::ms(took[0]));
    }
    if let Some(dist) = browser {
        let url = format!("http://{addr}/?log=debug");
        let mut took = Vec::new();
        for run in 0..runs {
            let page = page(url.clone(), dist.clone()).await?;
            eprintln!("browser run {run}: {page:?}");
            took.push(page);
        }
        took.sort();
        println!(
            "| the order desk's page in headless Chromium: connected → `orders` snapshot applied | {} | {} | — |",
            crate::ms(took[took.len() / 2]),
            crate::ms(took[0])
        );
    }
    drop(engine);
    Ok(())
}

/// Subscribes over a bare WebSocket and reads until the snapshot ends; returns the time, the
/// bytes of the frames and the frames.
async fn bare(url: &str, rows: usize, decode: bool) -> Result<(Duration, usize, Vec<String>)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let hello = Hello {
        versions: lucarne_protocol::SUPPORTED_VERSIONS.to_vec(),
        token: None,
        client_id: format!("bench-{}", rand_id()),
        features: Vec::new(),
    };
    ws.send(Message::text(lucarne_protocol::encode(&ClientMessage::Hello(hello)))).await?;
    // The welcome.
    ws.next().await.context("closed before the welcome")??;
    let started = Instant::now();
    let subscribe = Subscribe { sub: 1, query: Query::view("orders"), resume: None };
    ws.send(Message::text(lucarne_protocol::encode(&ClientMessage::Subscribe(subscribe)))).await?;
    let (mut bytes, mut received, mut frames) = (0, 0, Vec::new());
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame? else { continue };
        bytes += text.len();
        if frames.len() < 1_000_000 {
            frames.push(text.to_string());
        }
        if decode {
            match lucarne_protocol::decode_server(&text)? {
                ServerMessage::SnapshotRows(r) => received += r.rows.len(),
                ServerMessage::SnapshotEnd(_) => break,
                _ => {}
            }
        } else if is_end(&text) {
            break;
        }
    }
    let took = started.elapsed();
    if decode && received != rows {
        bail!("decoded {received} rows, expected {rows}");
    }
    Ok((took, bytes, frames))
}

/// `{"type":"snapshot_end","sub":1}`: the only frame this short here.
fn is_end(text: &str) -> bool {
    text.len() < 64 && text.contains("\"snapshot_end\"")
}

/// A bare WebSocket server that answers any first frame with `frames`.
async fn replay_server(frames: Vec<String>) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}", listener.local_addr()?);
    let frames = std::sync::Arc::new(frames);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let frames = frames.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                if ws.next().await.is_none() {
                    return;
                }
                for frame in frames.iter() {
                    if ws.feed(Message::text(frame.as_str())).await.is_err() {
                        return;
                    }
                }
                let _ = ws.flush().await;
                while ws.next().await.is_some() {}
            });
        }
    });
    Ok(url)
}

/// The ready-made frames from [`replay_server`], from the first frame sent to the last read.
async fn replayed(url: &str) -> Result<(Duration, usize)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let started = Instant::now();
    ws.send(Message::text("{}")).await?;
    let mut bytes = 0;
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame? else { continue };
        bytes += text.len();
        if is_end(&text) {
            return Ok((started.elapsed(), bytes));
        }
    }
    bail!("the replay ended before the snapshot did")
}

/// Subscribes through the runtime and applies the snapshot into a typed `LiveView`.
async fn runtime(url: &str, rows: usize) -> Result<(Duration, usize)> {
    let client = Client::connect(ClientConfig::new(url).client_id(format!("bench-{}", rand_id())));
    // Connected first (a view list round trip), so that the figure is the snapshot's alone.
    client.list_views().await?;
    let started = Instant::now();
    let mut events = client.subscribe(Query::view("orders"));
    let mut view: LiveView<Order> = LiveView::new();
    while let Some(event) = events.next().await {
        let snapshot = matches!(event, ViewEvent::Snapshot { .. });
        view.apply(&event);
        if snapshot {
            break;
        }
    }
    let took = started.elapsed();
    if view.len() != rows {
        bail!("the live view holds {} rows, expected {rows}", view.len());
    }
    Ok((took, 0))
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The order desk's page opened in a fresh headless Chromium: the time from the runtime's
/// "connected" to the desk's "orders snapshot applied", both read from the page's console log
/// (`?log=debug`) with the timestamps Chromium writes beside each line.
async fn page(url: String, dist: PathBuf) -> Result<Duration> {
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir()?;
        let mut chromium = Command::new("chromium")
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("chromium (cargo xtask setup installs it)")?;
        let stderr = chromium.stderr.take().context("chromium's log")?;
        // A page that never logs its snapshot would keep the browser (and this loop) running:
        // it is killed after a minute, which ends its log.
        let pid = chromium.id().to_string();
        let (done, watched) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if watched.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = Command::new("kill").arg(&pid).status();
            }
        });
        let (mut connected, mut applied) = (None, None);
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line?;
            if !line.contains(":CONSOLE") {
                continue;
            }
            if connected.is_none() && line.contains("connected session=") {
                connected = logged_at(&line);
            } else if line.contains("orders snapshot applied") {
                applied = logged_at(&line);
                break;
            } else if line.contains("ERROR") || line.contains("WARN") {
                eprintln!("page: {line}");
            }
        }
        let _ = done.send(());
        let _ = watchdog.join();
        let _ = chromium.kill();
        let _ = chromium.wait();
        let (Some(connected), Some(applied)) = (connected, applied) else {
            bail!(
                "the page did not log its snapshot within a minute (is {} a current bundle?)",
                dist.display()
            )
        };
        if applied < connected {
            bail!("the run crossed midnight: its times of day do not subtract");
        }
        Ok(Duration::from_secs_f64(applied - connected))
    })
    .await?
}

/// The time of day, in seconds, of a Chromium log line (`[pid:tid:MMDD/HHMMSS.micros:…`).
fn logged_at(line: &str) -> Option<f64> {
    let stamp = line.split(':').find_map(|part| part.split_once('/').map(|(_, time)| time))?;
    let (hms, micros) = stamp.split_once('.')?;
    let hms: u32 = hms.parse().ok()?;
    let seconds = f64::from(hms / 10_000 * 3600 + hms / 100 % 100 * 60 + hms % 100);
    Some(seconds + micros.parse::<f64>().ok()? / 1e6)
}
