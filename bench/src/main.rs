//! Load benchmarks. Each prints its figures next to baselines measured the same way in the same
//! run, on loopback only, bounded in count.
//!
//! `skeleton`: command → ack-carrying delta round trip on the durable store (p50/p99), against a
//! bare WebSocket echo and a bare fsync'd redb commit; and ingest (events/s through the gateway
//! with the demo views), against bare redb appends of the same events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::CommandRef;
use lucarne_runtime::{Backoff, Client, ClientConfig, Query, ViewEvent};
use lucarne_server::{Engine, GatewayConfig, Store, demo, sql};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Round trip and ingest of the walking skeleton.
    Skeleton {
        /// Commands timed one at a time for the round trip.
        #[arg(long, default_value_t = 10_000)]
        commands: usize,
        /// Commands sent for the ingest figure.
        #[arg(long, default_value_t = 40_000)]
        ingest: usize,
        /// Concurrent clients for ingest.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Commands in flight per ingest client.
        #[arg(long, default_value_t = 64)]
        window: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().bench {
        Bench::Skeleton { commands, ingest, clients, window } => {
            skeleton(commands, ingest, clients, window).await
        }
    }
}

struct Stats {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Stats {
    fn pct(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        s.get(((s.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

async fn start_server(dir: &std::path::Path) -> Result<(SocketAddr, Arc<Engine>)> {
    let mut store = Store::open(dir)?;
    store.install_views(sql::parse_views(demo::VIEWS_SQL)?, |_, _, _| {})?;
    let engine = Engine::start(store, demo::commands());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let served = engine.clone();
    tokio::spawn(async move {
        if let Err(e) =
            lucarne_server::serve(listener, served, GatewayConfig::default(), std::future::pending()).await
        {
            eprintln!("server stopped: {e}");
        }
    });
    Ok((addr, engine))
}

fn order(i: usize) -> serde_json::Value {
    json!({ "order_id": format!("o-{i}"), "customer": "Ada Lovelace", "total": (i % 500) as f64 + 0.5, "region": "eu" })
}

async fn skeleton(commands: usize, ingest: usize, clients: usize, window: usize) -> Result<()> {
    println!(
        "# cargo xtask bench skeleton  ({commands} round trips, {ingest} ingest commands, {clients}×{window} in flight)"
    );
    println!(
        "# machine: {} cores; store on {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::temp_dir().display()
    );

    // Round trip through Lucarne: send a command, wait for the delta that carries its ack.
    let dir = tempfile::tempdir()?;
    let (addr, _engine) = start_server(dir.path()).await?;
    let url = format!("ws://{addr}/ws");
    let client = Client::connect(ClientConfig::new(&url).backoff(Backoff::default()));
    let mut sub = client.subscribe(Query::view("orders"));
    loop {
        match sub.next().await.context("subscription ended")? {
            ViewEvent::Snapshot { .. } => break,
            ViewEvent::Failed { message, .. } => bail!(message),
            _ => {}
        }
    }
    let mut lucarne =
        Stats { name: "lucarne: command → delta with ack", samples: Vec::with_capacity(commands) };
    for i in 0..commands {
        let started = Instant::now();
        let seq = client.last_seq() + 1;
        let c = client.clone();
        let ack = tokio::spawn(async move { c.send("place_order", order(i)).await });
        let me = CommandRef { client_id: client.client_id().to_owned(), seq };
        loop {
            if let ViewEvent::Delta(d) = sub.next().await.context("subscription ended")?
                && d.acked.contains(&me)
            {
                break;
            }
        }
        lucarne.samples.push(started.elapsed());
        ack.await??;
    }

    // Baseline 1: a bare WebSocket echo on loopback (tokio-tungstenite both ends).
    let echo = echo_server().await?;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{echo}/")).await?;
    let frame = serde_json::to_string(
        &json!({"type":"command","id":1,"client_id":"c","seq":1,"name":"place_order","payload":order(1)}),
    )?;
    let mut bare_ws = Stats { name: "baseline: bare WebSocket echo", samples: Vec::with_capacity(commands) };
    for _ in 0..commands {
        let started = Instant::now();
        ws.send(Message::Text(frame.clone().into())).await?;
        ws.next().await.context("echo closed")??;
        bare_ws.samples.push(started.elapsed());
    }

    // Baseline 2: one fsync'd redb commit of one small record.
    let raw_dir = tempfile::tempdir()?;
    let db = redb::Database::create(raw_dir.path().join("raw.redb"))?;
    const LOG: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("log");
    let payload = serde_json::to_vec(&order(1))?;
    let mut fsync =
        Stats { name: "baseline: bare redb commit (fsync)", samples: Vec::with_capacity(commands) };
    for i in 0..commands as u64 {
        let started = Instant::now();
        let mut txn = db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate)?;
        txn.open_table(LOG)?.insert(i, payload.as_slice())?;
        txn.commit()?;
        fsync.samples.push(started.elapsed());
    }

    // Breakdown: the store's commit alone (log + dedup + 3 views + changelogs, one fsync'd txn).
    let store_dir = tempfile::tempdir()?;
    let mut store = Store::open(store_dir.path())?;
    store.install_views(sql::parse_views(demo::VIEWS_SQL)?, |_, _, _| {})?;
    let mut commit = Stats {
        name: "part: store commit (log + 3 views + changelog)",
        samples: Vec::with_capacity(commands),
    };
    for i in 0..commands {
        let append = lucarne_server::log::Append {
            key: CommandRef { client_id: "bench".into(), seq: i as u64 + 1 },
            events: demo::commands().decide("place_order", &order(i))?,
        };
        let started = Instant::now();
        store.commit(&[append])?;
        commit.samples.push(started.elapsed());
    }

    println!("\n| round trip ({commands} sequential) | p50 | p99 |\n|---|---|---|");
    for s in [&lucarne, &commit, &bare_ws, &fsync] {
        println!("| {} | {} | {} |", s.name, ms(s.pct(0.5)), ms(s.pct(0.99)));
    }
    let floor = bare_ws.pct(0.5) + fsync.pct(0.5);
    println!(
        "| lucarne p50 ÷ (echo p50 + fsync p50) | {:.2}× | |",
        lucarne.pct(0.5).as_secs_f64() / floor.as_secs_f64()
    );

    // Ingest: many clients, many commands in flight, group commit.
    let dir = tempfile::tempdir()?;
    let (addr, engine) = start_server(dir.path()).await?;
    let url = format!("ws://{addr}/ws");
    let per_client = ingest / clients.max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = Client::connect(ClientConfig::new(&url));
        tasks.push(tokio::spawn(async move {
            let mut inflight = futures_util::stream::FuturesUnordered::new();
            for i in 0..per_client {
                if inflight.len() >= window
                    && let Some(r) = inflight.next().await
                {
                    r?;
                }
                let client = client.clone();
                inflight.push(async move { client.send("place_order", order(c * per_client + i)).await });
            }
            while let Some(r) = inflight.next().await {
                r?;
            }
            Ok::<_, lucarne_runtime::CommandError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let took = started.elapsed();
    let events = engine.head().await?;
    let lucarne_rate = events as f64 / took.as_secs_f64();

    let raw_dir = tempfile::tempdir()?;
    let db = redb::Database::create(raw_dir.path().join("raw.redb"))?;
    let started = Instant::now();
    let batch = 256;
    let mut position = 0u64;
    while position < events {
        let mut txn = db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate)?;
        {
            let mut log = txn.open_table(LOG)?;
            for _ in 0..batch.min(events - position) {
                position += 1;
                log.insert(position, serde_json::to_vec(&order(position as usize))?.as_slice())?;
            }
        }
        txn.commit()?;
    }
    let raw_rate = events as f64 / started.elapsed().as_secs_f64();
    println!("\n| ingest ({events} events) | events/s |\n|---|---|");
    println!("| lucarne: {clients} clients × {window} in flight, 3 demo views | {lucarne_rate:.0} |");
    println!("| baseline: bare redb appends, {batch} per fsync'd commit, no views | {raw_rate:.0} |");
    println!("| lucarne ÷ baseline | {:.2}× |", lucarne_rate / raw_rate);
    Ok(())
}

async fn echo_server() -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}
