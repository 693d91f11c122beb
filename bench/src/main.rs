//! Load benchmarks. Each prints its figures next to baselines measured the same way in the same
//! run, on loopback only, bounded in count.
//!
//! `skeleton`: command → ack-carrying delta round trip on the durable store (p50/p99), against a
//! bare WebSocket echo and a bare fsync'd redb commit; and ingest (events/s through the gateway
//! with the demo views), against bare redb appends of the same events.
//!
//! `snapshot`: a whole view of many rows, subscribe → applied in the native runtime, against a
//! bare WebSocket receiving the same frames (see `snapshot.rs`).
//!
//! `push`: commit → a Web Push at a push service stand-in for a client that is away, next to
//! commit → delta at a connected client; ingest while registrations wait (see `push.rs`).
//!
//! `tui`: the terminal client's bytes and frame time per one-row delta, at 1 000 and 1 000 000
//! rows and at 200 deltas/s from a real server, next to a full redraw (see `tui.rs`).
//!
//! `fanout`: one view change to N subscribed WebSocket clients (latency, messages/s, loss, gaps)
//! and memory per idle connection, against a bare tokio-tungstenite broadcast and `nats-server`
//! (see `fanout.rs`).

mod bare;
mod cluster;
mod fanout;
mod nats;
mod push;
mod search;
mod search_live;
mod snapshot;
mod tui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use lucarne_demo as demo;
use lucarne_protocol::CommandRef;
use lucarne_runtime::{Backoff, Client, ClientConfig, Query, ViewEvent};
use lucarne_server::{Engine, GatewayConfig, Store, sql};
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
    /// Folding with many views, backfill of a large log, live-query fan-out cost.
    Views {
        /// Events folded per view count.
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// Events in the log for the backfill figure.
        #[arg(long, default_value_t = 1_000_000)]
        backfill: usize,
        /// Live queries over one view for the fan-out figure.
        #[arg(long, default_value_t = 1000)]
        queries: usize,
        /// The view counts to fold into (the first is the baseline row; 0 is the log alone).
        #[arg(long, value_delimiter = ',', default_value = "0,1,10,100")]
        counts: Vec<usize>,
        /// Commands sent over the wire to a server with each count of views (one client, 512 in
        /// flight; 0 skips the figure).
        #[arg(long, default_value_t = 20_000)]
        wire: usize,
    },
    /// A whole view of many rows: subscribe → applied in the native runtime, against a bare
    /// WebSocket receiving (and one decoding) the same frames.
    Snapshot {
        /// Rows in the view.
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Runs of each reader, alternating.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Also the order desk's page in headless Chromium, from this bundle (`web/dist` after
        /// `cargo xtask web`): from connected to the snapshot applied, as the page logs them.
        #[arg(long)]
        browser: Option<std::path::PathBuf>,
    },
    /// Search: keystroke → hits and three facet counts on a search index, next to SQLite FTS5,
    /// on a seeded corpus and on the Debian package records (`apt-cache dumpavail`).
    Search {
        /// Rows in the seeded corpus.
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Words typed keystroke by keystroke per corpus.
        #[arg(long, default_value_t = 200)]
        words: usize,
    },
    /// One view change to N WebSocket clients, against a bare broadcast and nats-server.
    Fanout {
        #[command(flatten)]
        args: fanout::Args,
        /// Run `skeleton` first (2 000 round trips, 10 000 ingest commands), in the same run.
        #[arg(long)]
        skeleton: bool,
    },
    /// Scale-out: command on node A → delta at node B's clients next to one node, and ingest
    /// into a cluster node next to one node, in the same run.
    Cluster {
        #[command(flatten)]
        args: cluster::Args,
    },
    /// Push: commit → a push at a Web Push service stand-in (the client away), next to commit
    /// → a delta at a connected client; ingest while registrations wait, next to none.
    Push {
        /// Registrations waiting, one row each (0: the ingest baseline).
        #[arg(long, value_delimiter = ',', default_values_t = vec![0, 1, 1000])]
        registrations: Vec<usize>,
        /// Commands timed per row.
        #[arg(long, default_value_t = 100)]
        samples: usize,
    },
    /// The terminal client: bytes per one-row delta, frame cost at 1 000 and 1 000 000 rows,
    /// delta → frame at a rate from a real server; next to a full redraw.
    Tui {
        /// One-row deltas per in-memory figure.
        #[arg(long, default_value_t = 2_000)]
        deltas: usize,
        /// Deltas a second from the server.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// Seconds of deltas from the server.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
    /// The resident memory a search index adds, and a second of the same rows, in a fresh
    /// process (started by `search`).
    #[command(hide = true)]
    SearchMemory {
        /// Rows in the seeded corpus; 0: the package records.
        #[arg(long)]
        rows: usize,
    },
    /// A server for `fanout`, in its own process (started by `fanout`).
    #[command(hide = true)]
    FanoutServer {
        kind: fanout::Kind,
        /// The store's folder (lucarne).
        #[arg(long)]
        data: Option<std::path::PathBuf>,
        /// A cluster node on these NATS servers.
        #[arg(long)]
        nats: Option<String>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().bench {
        Bench::Skeleton { commands, ingest, clients, window } => {
            skeleton(commands, ingest, clients, window).await
        }
        Bench::Views { events, backfill, queries, counts, wire } => {
            views(events, backfill, queries, &counts)?;
            views_over_the_wire(wire, &counts).await
        }
        Bench::Snapshot { rows, runs, browser } => snapshot::run(rows, runs, browser).await,
        Bench::Search { rows, words } => {
            let seeded = search::run(rows, words)?;
            search_live::run(&seeded).await
        }
        Bench::Fanout { args, skeleton: with_skeleton } => {
            if with_skeleton {
                skeleton(2000, 10_000, 8, 64).await?;
                println!();
            }
            fanout::run(args).await
        }
        Bench::Cluster { args } => cluster::run(args).await,
        Bench::Push { registrations, samples } => push::run(&registrations, samples).await,
        Bench::Tui { deltas, rate, seconds } => tui::run(deltas, rate, seconds).await,
        Bench::SearchMemory { rows } => search::memory_child(rows),
        Bench::FanoutServer { kind, data, nats } => fanout::serve_child(kind, data, nats).await,
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
        s.get(lucarne_testing::rank(s.len(), p)).copied().unwrap_or_default()
    }
}

/// Resident memory of a process, from `/proc/<pid>/status`.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// Anonymous resident memory of a process (its heaps, not its program's pages read from disk).
pub(crate) fn anonymous_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "RssAnon:")
}

/// The most resident memory this process has had since [`reset_peak`] (or since it began).
pub(crate) fn peak_kib() -> Option<u64> {
    status_kib(std::process::id(), "VmHWM:")
}

/// Starts this process's peak resident memory again from what it is now (Linux's
/// `clear_refs` 5); false where that is refused.
pub(crate) fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The demo's commands, which check each order against the `orders` view ("validated"), or the
/// same names routed to the stream with no check ("routed").
fn commands(validated: bool) -> lucarne_server::Commands {
    if validated {
        demo::commands()
    } else {
        lucarne_server::Commands::new().route("place_order", demo::STREAM).route("pay_order", demo::STREAM)
    }
}

async fn start_server(dir: &std::path::Path, validated: bool) -> Result<(SocketAddr, Arc<Engine>)> {
    start_node(dir, validated, None).await
}

/// A server with the demo's views, alone or (`nats`: its URLs) a node of a cluster.
pub(crate) async fn start_node(
    dir: &std::path::Path,
    validated: bool,
    nats: Option<&str>,
) -> Result<(SocketAddr, Arc<Engine>)> {
    let mut store = Store::open(dir)?;
    if nats.is_some() {
        store.set_numbering(lucarne_server::store::Numbering::Log);
    }
    store.install_views(sql::parse_views(demo::VIEWS_SQL)?, |_, _, _| {})?;
    let engine = match nats {
        None => Engine::start(store, commands(validated)),
        Some(urls) => {
            let config = lucarne_server::engine::ClusterConfig {
                urls: urls.to_owned(),
                stream: format!("INGEST{}", u8::from(validated)),
                replicas: None,
                node_id: "bench".into(),
                duplicate_window: None,
            };
            let policy = lucarne_server::engine::ViewPolicy::default();
            Engine::cluster(store, commands(validated), policy, config).await?
        }
    };
    Ok((serve(engine.clone()).await?, engine))
}

/// Serves an engine on a loopback port of its own.
pub(crate) async fn serve(engine: Arc<Engine>) -> Result<SocketAddr> {
    serve_with(engine, GatewayConfig::default()).await
}

/// Serves an engine on a loopback port of its own, with this gateway configuration.
pub(crate) async fn serve_with(engine: Arc<Engine>, config: GatewayConfig) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = lucarne_server::serve(listener, engine, config, std::future::pending()).await {
            eprintln!("server stopped: {e}");
        }
    });
    Ok(addr)
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

    // Round trip through Lucarne: send a command, wait for the delta that carries its ack; with
    // the demo's commands (each checked against the order's row in the `orders` view, on the
    // writer) and with the same command routed unchecked, alternating runs of 100.
    let mut lucarne = Stats {
        name: "lucarne: command → delta with ack (validated against the view row)",
        samples: Vec::with_capacity(commands),
    };
    let mut routed = Stats {
        name: "lucarne: command → delta with ack (routed, no check)",
        samples: Vec::with_capacity(commands),
    };
    let (checked_dir, routed_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (checked_addr, _checked) = start_server(checked_dir.path(), true).await?;
    let (routed_addr, _routed) = start_server(routed_dir.path(), false).await?;
    let mut sessions = Vec::new();
    for addr in [checked_addr, routed_addr] {
        let client =
            Client::connect(ClientConfig::new(format!("ws://{addr}/ws")).backoff(Backoff::default()));
        let mut sub = client.subscribe(Query::view("orders"));
        loop {
            match sub.next().await.context("subscription ended")? {
                ViewEvent::Snapshot { .. } => break,
                ViewEvent::Failed { message, .. } => bail!(message),
                _ => {}
            }
        }
        sessions.push((client, sub));
    }
    for round in 0..commands.div_ceil(100) {
        for (which, (client, sub)) in sessions.iter_mut().enumerate() {
            let stats = if which == 0 { &mut lucarne } else { &mut routed };
            for i in round * 100..((round + 1) * 100).min(commands) {
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
                stats.samples.push(started.elapsed());
                ack.await??;
            }
        }
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
            guard: None,
        };
        let started = Instant::now();
        store.commit(&[append])?;
        commit.samples.push(started.elapsed());
    }

    println!("\n| round trip ({commands} sequential) | p50 | p99 |\n|---|---|---|");
    for s in [&lucarne, &routed, &commit, &bare_ws, &fsync] {
        println!("| {} | {} | {} |", s.name, ms(s.pct(0.5)), ms(s.pct(0.99)));
    }
    let floor = bare_ws.pct(0.5) + fsync.pct(0.5);
    println!(
        "| lucarne p50 ÷ (echo p50 + fsync p50) | {:.2}× | |",
        lucarne.pct(0.5).as_secs_f64() / floor.as_secs_f64()
    );

    // Ingest: many clients, many commands in flight, group commit; validated, then routed.
    let lucarne_rate = ingest_rate(true, ingest, clients, window).await?;
    let routed_rate = ingest_rate(false, ingest, clients, window).await?;
    let events = (ingest / clients.max(1) * clients) as u64;

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
                log.insert(position, serde_json::to_vec(&order(usize::try_from(position)?))?.as_slice())?;
            }
        }
        txn.commit()?;
    }
    let raw_rate = events as f64 / started.elapsed().as_secs_f64();
    println!("\n| ingest ({events} events) | events/s |\n|---|---|");
    println!(
        "| lucarne: {clients} clients × {window} in flight, 3 demo views, each command checked against its order's row | {lucarne_rate:.0} |"
    );
    println!("| lucarne: the same, routed with no check | {routed_rate:.0} |");
    println!("| baseline: bare redb appends, {batch} per fsync'd commit, no views | {raw_rate:.0} |");
    println!("| lucarne ÷ baseline | {:.2}× |", lucarne_rate / raw_rate);
    Ok(())
}

/// Events a second through one server: `clients` clients, `window` commands in flight each.
async fn ingest_rate(validated: bool, ingest: usize, clients: usize, window: usize) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let (addr, engine) = start_server(dir.path(), validated).await?;
    ingest_into(addr, &engine, ingest, clients, window).await
}

/// Events a second into a running server, from every command sent to every one acked.
pub(crate) async fn ingest_into(
    addr: SocketAddr,
    engine: &Engine,
    ingest: usize,
    clients: usize,
    window: usize,
) -> Result<f64> {
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
    Ok(events as f64 / took.as_secs_f64())
}

/// Ingest over the wire into a server with each count of `views_sql` views: one client, 512
/// commands in flight, each command routed (no check) to one event of a new order.
async fn views_over_the_wire(sent: usize, counts: &[usize]) -> Result<()> {
    if sent == 0 {
        return Ok(());
    }
    println!(
        "\n| views defined (over the wire: {sent} commands, 1 client × 512 in flight, routed) | events/s | ÷ first row |\n|---|---|---|"
    );
    let mut first = None;
    for &n in counts {
        let dir = tempfile::tempdir()?;
        let mut store = Store::open(dir.path())?;
        store.install_views(sql::parse_views(&views_sql(n))?, |_, _, _| {})?;
        let engine = Engine::start(store, commands(false));
        let mut config = GatewayConfig::default();
        // One loader sends every command: lift its connection's message rate limit.
        config.limits.messages_per_second = 1e9;
        config.limits.message_burst = 1e9;
        let addr = serve_with(engine.clone(), config).await?;
        let rate = ingest_into(addr, &engine, sent, 1, 512).await?;
        let base = *first.get_or_insert(rate);
        let label = if n == 0 { "0 (log only)".to_string() } else { n.to_string() };
        println!("| {label} | {rate:.0} | {:.2}× |", rate / base);
    }
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

pub(crate) const REGIONS: [&str; 3] = ["eu", "us", "mena"];

/// One batch of `n` demo-like events, keys spread over `orders` order ids.
fn event_batch(start: usize, n: usize, orders: usize) -> Vec<lucarne_server::log::Append> {
    (start..start + n)
        .map(|i| lucarne_server::log::Append {
            key: CommandRef { client_id: "bench".into(), seq: i as u64 },
            events: vec![lucarne_server::log::NewEvent {
                stream: "orders".into(),
                kind: if i % 3 == 0 { "pay_order" } else { "place_order" }.into(),
                payload: json!({ "order_id": format!("o-{}", i % orders), "customer": "Ada", "total": (i % 97) as f64, "region": REGIONS[i % 3] }),
            }],
            guard: None,
        })
        .collect()
}

fn views_sql(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "CREATE VIEW v{i} AS SELECT order_id, LAST(customer) AS customer, SUM(total) AS total, \
                 COUNT(*) AS n, LAST(type) AS status FROM orders WHERE total >= {} GROUP BY order_id;",
                i % 5
            )
        })
        .collect()
}

/// The totals of the views benchmark's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Totals {
    /// Whole numbers (0–96).
    Whole,
    /// Amounts with cents: every `SUM` adds decimals.
    Cents,
}

fn views(events: usize, backfill: usize, queries: usize, counts: &[usize]) -> Result<()> {
    use lucarne_server::log::EventLog;
    use lucarne_server::query::{LiveQuery, Window};
    println!(
        "# cargo xtask bench views  ({events} events per view count, {backfill}-event backfill, {queries} live queries)"
    );

    println!(
        "\n| views defined | events/s folded (batches of 512, fsync per batch) | ÷ first row (log only by default) |\n|---|---|---|"
    );
    let mut baseline = 0.0;
    // Each count with whole totals, then 10 views with totals in cents (every `SUM` exact on
    // decimals).
    let runs = counts.iter().map(|&n| (n, Totals::Whole)).chain([(10, Totals::Cents)]);
    for (i, (n, totals)) in runs.enumerate() {
        let dir = tempfile::tempdir()?;
        let mut store = Store::open(dir.path())?;
        store.install_views(sql::parse_views(&views_sql(n))?, |_, _, _| {})?;
        let started = Instant::now();
        for start in (0..events).step_by(512) {
            let mut batch = event_batch(start, 512.min(events - start), 5000);
            if totals == Totals::Cents {
                for (j, append) in (start..).zip(&mut batch) {
                    append.events[0].payload["total"] = json!((j % 9_700) as f64 / 100.0);
                }
            }
            store.commit(&batch)?;
        }
        let rate = events as f64 / started.elapsed().as_secs_f64();
        if i == 0 {
            baseline = rate;
        }
        let label = match (n, totals) {
            (0, _) => "0 (baseline: log only)".to_string(),
            (n, Totals::Whole) => n.to_string(),
            (n, Totals::Cents) => format!("{n}, totals in cents (0.00–96.99)"),
        };
        println!("| {label} | {rate:.0} | {:.2}× |", rate / baseline);
    }

    // Backfill: a log of `backfill` events, then a GROUP BY view defined over it.
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let started = Instant::now();
    for start in (0..backfill).step_by(5000) {
        store.commit(&event_batch(start, 5000.min(backfill - start), 50_000))?;
    }
    let appended = started.elapsed();
    let define = lucarne_server::log::Append {
        key: CommandRef { client_id: "$views".into(), seq: 1 },
        events: vec![lucarne_server::log::NewEvent {
            stream: lucarne_server::store::VIEWS_STREAM.into(),
            kind: "define_view".into(),
            payload: json!({ "sql": "CREATE VIEW big AS SELECT order_id, SUM(total) AS total, COUNT(*) AS n, LAST(type) AS status FROM orders GROUP BY order_id" }),
        }],
        guard: None,
    };
    let committed = store.commit(&[define])?;
    let started = Instant::now();
    for change in committed.views {
        if let lucarne_server::store::ViewChange::Building { name, epoch, .. } = change {
            let slot = Store::slot(&name, epoch);
            while !store.build_step(&slot)?.finished {}
        }
    }
    let built = started.elapsed();
    let rows = store.view_infos()?.into_iter().find(|v| v.name == "big").map_or(0, |v| v.rows);
    println!("\n| backfill | time | events/s |\n|---|---|---|");
    println!(
        "| baseline: appending {backfill} events (5 000 per commit) | {:.1} s | {:.0} |",
        appended.as_secs_f64(),
        backfill as f64 / appended.as_secs_f64()
    );
    println!(
        "| building a GROUP BY view over them ({rows} rows) | {:.1} s | {:.0} |",
        built.as_secs_f64(),
        store.head()? as f64 / built.as_secs_f64()
    );

    // Snapshot of the built view: decoded rows, against the bare iteration of its stored bytes;
    // then again after commits whose rows stay in memory (the journal laid over the rows table).
    let started = Instant::now();
    let whole = store.snapshot("big")?;
    let snapshot_time = started.elapsed();
    let started = Instant::now();
    let stored_bytes = store.stored_row_bytes("big")?;
    let bare_time = started.elapsed();
    for start in (0..20_000).step_by(500) {
        store.commit(&event_batch(backfill + start, 500, 50_000))?;
    }
    let started = Instant::now();
    let overlaid = store.snapshot("big")?;
    let overlaid_time = started.elapsed();
    println!("\n| snapshot of the built view (store only) | rows | time |\n|---|---|---|");
    println!("| snapshot, rows table current | {} | {} |", whole.rows.len(), ms(snapshot_time));
    println!(
        "| snapshot after 40 commits of 500 events kept in memory (journal laid over) | {} | {} |",
        overlaid.rows.len(),
        ms(overlaid_time)
    );
    println!(
        "| baseline: iterating the stored rows' bytes ({stored_bytes} B), no decoding | {} | {} |",
        whole.rows.len(),
        ms(bare_time)
    );

    // Fan-out: one change to a view with `queries` different live queries over it.
    let columns: Vec<String> =
        ["order_id", "customer", "total", "n", "status"].iter().map(|s| s.to_string()).collect();
    // Each live query keeps its matching rows (O(rows) memory per subscriber), so the fan-out
    // figure uses the first 2 000 rows of the view rather than all of it.
    let mut snapshot = store.snapshot("big")?;
    snapshot.rows.truncate(2000);
    let mut windows: Vec<Window> = (0..queries)
        .map(|i| {
            let q = match i % 3 {
                0 => LiveQuery::parse(Some(&format!("total > {}", i % 500)), None, None, &columns),
                1 => LiveQuery::parse(None, Some("total DESC"), Some(10 + (i % 20) as u64), &columns),
                _ => LiveQuery::parse(Some(&format!("n >= {}", i % 30)), Some("total"), Some(50), &columns),
            };
            q.map(Window::new)
        })
        .collect::<Result<_, _>>()?;
    for w in &mut windows {
        w.reset(snapshot.rows.clone());
    }
    let changes: Vec<Vec<lucarne_protocol::Op>> = snapshot
        .rows
        .iter()
        .take(200)
        .map(|r| {
            let mut row = r.row.clone();
            let total = row.get("total").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
            row.insert("total".into(), json!(total + 1000.0));
            vec![lucarne_protocol::Op::Upsert { key: r.key.clone(), row }]
        })
        .collect();
    let started = Instant::now();
    let mut sent = 0usize;
    for ops in &changes {
        for w in &mut windows {
            sent += w.apply(ops).len();
        }
    }
    let per = started.elapsed().as_secs_f64() / (changes.len() * windows.len()) as f64;
    // Baseline: cloning the change for every subscriber, what a plain fan-out pays anyway.
    let started = Instant::now();
    let mut cloned = 0usize;
    for ops in &changes {
        for _ in 0..windows.len() {
            cloned += ops.clone().len();
        }
    }
    let base = started.elapsed().as_secs_f64() / (changes.len() * windows.len()) as f64;
    println!(
        "\n| fan-out over {} rows, {queries} live queries, {} changes | per subscriber per change |\n|---|---|",
        snapshot.rows.len(),
        changes.len()
    );
    println!("| live-query window update ({sent} ops sent) | {:.2} µs |", per * 1e6);
    println!("| baseline: cloning the change per subscriber ({cloned} ops) | {:.2} µs |", base * 1e6);
    Ok(())
}
