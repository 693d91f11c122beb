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
//! to its receipt. A change is identified by its number, carried as its row's customer
//! (`c{seq}`): a Lucarne client is told only its own commands in `acked`.
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

mod clients;
mod report;
mod server;

use clients::*;
use report::*;
use server::*;

pub(crate) use server::serve_child;

type Ws = WebSocketStream<TcpStream>;

/// How long one client may take to connect, say hello, subscribe and read its snapshot.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections per loopback source address (each takes an ephemeral port of that address).
const PER_SOURCE: usize = 8000;
/// Largest number of changes one run may publish.
const MAX_CHANGES: usize = 1 << 20;
/// The publisher's client id (Lucarne).
const PUBLISHER: &str = "bench-pub";

/// Arguments of `fanout`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
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
pub(crate) struct Point {
    clients: usize,
    rate: f64,
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}/s", self.clients, self.rate)
    }
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
pub(crate) enum Kind {
    /// `lucarne-server`'s gateway with the durable store.
    Lucarne,
    /// A bare tokio-tungstenite broadcast.
    Bare,
    /// Debian's `nats-server` over WebSocket.
    Nats,
    /// Two Lucarne nodes on a JetStream stream of a 3-server NATS cluster (3 replicas, every
    /// write synced where the server can): the publisher on one node, the clients on the other.
    Cluster,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Lucarne => "lucarne",
            Kind::Bare => "bare broadcast",
            Kind::Nats => "nats-server",
            Kind::Cluster => "lucarne cluster, node A → node B",
        }
    }

    /// Whether its clients speak Lucarne's protocol.
    pub(super) fn speaks_lucarne(self) -> bool {
        matches!(self, Kind::Lucarne | Kind::Cluster)
    }
}

/// How changes are published.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Rate { rate: f64, seconds: f64 },
    Saturate { seconds: f64, window: usize },
}

async fn measure(kind: Kind, clients: usize, mode: Mode, args: &Args) -> Result<Outcome> {
    let mut server = Server::start(kind).await?;
    let target = Arc::new(Target {
        addr: server.addr,
        sub_url: server.sub_url.clone(),
        pub_url: server.pub_url.clone(),
    });
    let capacity = match mode {
        Mode::Rate { rate, seconds } => {
            #[expect(clippy::cast_possible_truncation, reason = "clamped to MAX_CHANGES; `as` saturates")]
            let changes = (rate * seconds).round() as usize;
            changes.clamp(1, MAX_CHANGES)
        }
        Mode::Saturate { .. } => MAX_CHANGES,
    };
    let run = Arc::new(Run::new(kind, capacity, args.keys));
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
    let publisher_node_before = server.publisher_cpu_ticks();
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
    let publisher_node_after = server.publisher_cpu_ticks();
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
        publisher_node_cpu_s: publisher_node_before
            .zip(publisher_node_after)
            .map(|(b, a)| a.saturating_sub(b) as f64 / clock_ticks()),
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
pub(crate) async fn run(args: Args) -> Result<()> {
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
        let run = Run::new(Kind::Bare, 4, 10);
        run.mark_sent(1);
        run.mark_sent(2);
        let mut tracker = Tracker::new(&run);
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
    fn a_lucarne_row_carries_the_changes_its_commit_folded_into_it() {
        // Keys 0 and 1: changes 1, 3, 5 are on key 1, committed together: the row shows 5.
        let run = Run::new(Kind::Lucarne, 8, 2);
        let mut tracker = Tracker::new(&run);
        let delta = br#"{"type":"delta","sub":1,"from":1,"to":2,"ops":[{"op":"upsert","key":"o-1","row":{"customer":"c5"}}]}"#;
        tracker.on_frame(&run, delta, Instant::now());
        assert_eq!(tracker.stats.changes, 3);
        let later = br#"{"type":"delta","sub":1,"from":2,"to":3,"ops":[{"op":"upsert","key":"o-1","row":{"customer":"c7"}}]}"#;
        tracker.on_frame(&run, later, Instant::now());
        assert_eq!(tracker.stats.changes, 4, "only 7 is new");
    }

    #[test]
    fn a_lucarne_delta_from_the_snapshot_version() {
        let run = Run::new(Kind::Lucarne, 4, 10);
        let mut tracker = Tracker::new(&run);
        let now = Instant::now();
        let begin = br#"{"type":"snapshot_begin","sub":1,"view":"orders","epoch":3,"version":41,"rows":0}"#;
        tracker.on_frame(&run, begin, now);
        let delta = br#"{"type":"delta","sub":1,"from":42,"to":43,"ops":[{"op":"upsert","key":"o-1","row":{"customer":"c1"}},{"op":"upsert","key":"o-2","row":{"customer":"c2"}},{"op":"remove","key":"o-3"}]}"#;
        tracker.on_frame(&run, delta, now);
        assert_eq!((tracker.stats.gaps, tracker.stats.changes), (1, 2));
    }
}
