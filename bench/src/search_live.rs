//! `search`, over the wire: a server holding a view of `rows` seeded documents with a search
//! index over it, while 200 updates a second are committed in the background:
//!
//! - keystroke → `search_result` (hits and three facet distributions) round trips on a WebSocket,
//!   one search at a time, the words typed keystroke by keystroke;
//! - commit → visible: a new document committed (its `execute` returned: durable) until a live
//!   search (`subscribe_search`) receives it in a `search_delta`, next to a live query over the
//!   same view (`subscribe … where`) receiving the same document in its `delta`, in the same run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{CommandRef, ServerMessage, decode_server};
use lucarne_server::engine::ViewPolicy;
use lucarne_server::{Engine, GatewayConfig, Store, sql};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use crate::search::{Corpus, keystrokes, ms, pct};

const VIEW: &str = "CREATE VIEW docs AS SELECT id, LAST(customer) AS customer, LAST(note) AS note, \
    LAST(status) AS status, LAST(region) AS region, LAST(kind) AS kind FROM docs GROUP BY id";
const INDEX: &str = "CREATE SEARCH INDEX docs_search ON docs (customer, note) FACETS (status, region, kind)";
/// Background updates a second while measuring.
const RATE: u64 = 200;
/// New documents timed from commit to their delta.
const FRESH: usize = 100;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Runs the over-the-wire figures on `corpus`.
pub(crate) async fn run(corpus: &Corpus) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path())?;
    store.install_views(sql::parse_views(VIEW)?, |_, _, _| {})?;
    let commands = lucarne_server::Commands::new().route("put_doc", "docs");
    let engine =
        Engine::with_policy(store, commands, ViewPolicy { allow_define: true, ..ViewPolicy::default() });
    let seq = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let put = {
        let (engine, seq) = (engine.clone(), seq.clone());
        move |id: String, row: Value| {
            let (engine, seq) = (engine.clone(), seq.clone());
            async move {
                let n = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let mut payload = row;
                payload["id"] = json!(id);
                engine.execute(CommandRef { client_id: "bench".into(), seq: n }, "put_doc", &payload).await
            }
        }
    };
    let started = Instant::now();
    for chunk in corpus.docs.chunks(512) {
        let puts = chunk
            .iter()
            .map(|(key, row)| put(key.as_str().unwrap_or("?").to_owned(), Value::Object(row.clone())));
        for done in futures_util::future::join_all(puts).await {
            done.map_err(|e| anyhow::anyhow!("seeding: {e:?}"))?;
        }
    }
    let seeded = started.elapsed();
    engine.define_search(INDEX).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = GatewayConfig::default();
    // One client types every keystroke: lift its connection's message rate limit.
    config.limits.messages_per_second = 1e9;
    config.limits.message_burst = 1e9;
    let addr = crate::serve_with(engine.clone(), config).await?;

    // The first search builds the index.
    let mut ws = greeted(addr).await?;
    let resident = || crate::anonymous_kib(std::process::id()).unwrap_or(0);
    // The index's share of the server's heaps: what seeding freed handed back first, and the
    // view read once whole before (a first read leaves memory in the store, ~38 MB here,
    // that a second does not: measured apart), then what building the index from the view's
    // rows adds, its memory freed handed back as the server's build does.
    let _handed_back = lucarne_search::release::freed_memory();
    let cold = resident();
    drop(engine.snapshot("docs").await?);
    let _handed_back = lucarne_search::release::freed_memory();
    let before = resident();
    let first_read = before.saturating_sub(cold) * 1024;
    // And the most it took on the way (all resident memory, the peak started again here).
    let total_before = crate::rss_kib(std::process::id()).filter(|_| crate::reset_peak());
    let built = Instant::now();
    search(&mut ws, 0, "", 0).await?;
    let build = built.elapsed();
    // The server's heaps, this process's: what building the index from the view's rows
    // added, before any update.
    let added = resident().saturating_sub(before) * 1024;
    let peak = match (total_before, crate::peak_kib()) {
        (Some(before), Some(peak)) => format!("{:.1} MB", peak.saturating_sub(before) as f64 * 1024.0 / 1e6),
        _ => "— (the peak cannot be reset here)".to_owned(),
    };

    // 200 updates a second in the background: a document's status and region change.
    let updating = tokio::spawn({
        let put = put.clone();
        let docs: Vec<(String, Value)> = corpus
            .docs
            .iter()
            .map(|(k, row)| (k.as_str().unwrap_or("?").to_owned(), Value::Object(row.clone())))
            .collect();
        async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
            let mut rng = fastrand::Rng::with_seed(11);
            loop {
                tick.tick().await;
                let (id, mut row) = docs[rng.usize(..docs.len())].clone();
                row["status"] = json!(["placed", "paid", "shipped", "cancelled"][rng.usize(..4)]);
                tokio::spawn(put(id, row));
            }
        }
    });

    let mut keystroke = Vec::new();
    for (i, text) in keystrokes(corpus).into_iter().enumerate() {
        let sent = Instant::now();
        search(&mut ws, i as u64 + 1, &text, 20).await?;
        keystroke.push(sent.elapsed());
    }

    // Commit → visible: a live search and a live query, each on its own connection, watch for
    // documents of a word nobody else has; each new one is timed from its commit to each delta.
    let seen: Arc<Mutex<HashMap<(String, &'static str), Instant>>> = Arc::default();
    let mut watchers = Vec::new();
    for (kind, subscribe) in [
        (
            "search",
            json!({"type": "subscribe_search", "sub": 1, "index": "docs_search", "text": "zebrafresh",
                           "facets": ["status"], "limit": 1000}),
        ),
        ("view", json!({"type": "subscribe", "sub": 1, "view": "docs", "where": "kind = 'fresh'"})),
    ] {
        let mut ws = greeted(addr).await?;
        ws.send(Message::Text(subscribe.to_string().into())).await?;
        let seen = seen.clone();
        watchers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let Message::Text(text) = frame else { continue };
                let keys: Vec<Value> = match decode_server(text.as_str()) {
                    Ok(ServerMessage::SearchDelta(d)) => d.upsert.into_iter().map(|h| h.key).collect(),
                    Ok(ServerMessage::Delta(d)) => d
                        .ops
                        .into_iter()
                        .filter_map(|op| match op {
                            lucarne_protocol::Op::Upsert { key, .. } => Some(key),
                            lucarne_protocol::Op::Remove { .. } => None,
                        })
                        .collect(),
                    _ => continue,
                };
                let now = Instant::now();
                let mut seen = seen.lock().await;
                for key in keys {
                    seen.entry((key.as_str().unwrap_or("?").to_owned(), kind)).or_insert(now);
                }
            }
        }));
    }
    // Both subscriptions hold their first answer before the first document.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut committed = Vec::new();
    for i in 0..FRESH {
        let id = format!("fresh-{i}");
        let row = json!({"customer": format!("Zebrafresh {i}"), "note": "", "status": "placed", "region": "eu", "kind": "fresh"});
        put(id.clone(), row).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        committed.push((id, Instant::now()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut search_lag, mut view_lag) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        let seen = seen.lock().await;
        if seen.len() >= 2 * FRESH {
            for (id, at) in &committed {
                for (kind, lags) in [("search", &mut search_lag), ("view", &mut view_lag)] {
                    let visible = seen.get(&(id.clone(), kind)).copied().unwrap_or(*at);
                    lags.push(visible.saturating_duration_since(*at));
                }
            }
            break;
        }
        drop(seen);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    updating.abort();
    for w in watchers {
        w.abort();
    }
    if search_lag.len() < FRESH {
        bail!("only {} of {FRESH} new documents reached both subscriptions", seen.lock().await.len() / 2);
    }
    let raw = crate::search::raw_json(corpus);
    println!(
        "\n{}, over the wire (seeded in {:.1} s; index built on the first search in {:.2} s, adding {:.1} MB ({:.2}× the raw JSON) to the server's anonymous resident memory, at most {peak} more while it was built, after a first whole read of the view left {:.1} MB in the store; {RATE} updates/s committed meanwhile):\n",
        corpus.name,
        seeded.as_secs_f64(),
        build.as_secs_f64(),
        added as f64 / 1e6,
        added as f64 / raw.max(1) as f64,
        first_read as f64 / 1e6,
    );
    println!("| measure | p50 | p99 | samples |\n|---|---|---|---|");
    let line = |what: &str, samples: &[Duration]| {
        println!("| {what} | {} | {} | {} |", ms(pct(samples, 50)), ms(pct(samples, 99)), samples.len());
    };
    line("keystroke → `search_result` (20 hits, 3 facets), WebSocket round trip", &keystroke);
    line("commit → `search_delta` of a live search", &search_lag);
    line("commit → `delta` of a live query on the same view (baseline)", &view_lag);
    Ok(())
}

/// A connection that said hello.
async fn greeted(addr: SocketAddr) -> Result<Socket> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
    let hello =
        json!({"type": "hello", "versions": [1], "client_id": format!("bench-{}", fastrand::u64(..))});
    ws.send(Message::Text(hello.to_string().into())).await?;
    loop {
        let frame = ws.next().await.context("closed before welcome")??;
        if let Message::Text(text) = frame
            && let Ok(ServerMessage::Welcome(_)) = decode_server(text.as_str())
        {
            return Ok(ws);
        }
    }
}

/// One search, answered.
async fn search(ws: &mut Socket, id: u64, text: &str, limit: u64) -> Result<()> {
    let request = json!({"type": "search", "id": id, "index": "docs_search", "text": text,
                         "facets": ["status", "region", "kind"], "limit": limit});
    ws.send(Message::Text(request.to_string().into())).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .context("no answer in 60 s")?
            .context("closed")??;
        let Message::Text(text) = frame else { continue };
        match decode_server(text.as_str()) {
            Ok(ServerMessage::SearchResult(r)) if r.id == id => return Ok(()),
            Ok(ServerMessage::Error(e)) if e.id == Some(id) => bail!("search refused: {}", e.message),
            Ok(ServerMessage::Ping(h)) => {
                ws.send(Message::Text(json!({"type": "pong", "nonce": h.nonce}).to_string().into())).await?;
            }
            _ => {}
        }
    }
}
