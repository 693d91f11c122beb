//! `tui`: the terminal client's frames on a 200 × 50 screen, written by `lucarne_tui`'s own
//! `Session` (ratatui's diff of the last frame against this one, between synchronized-output
//! marks) into a writer that counts bytes — next to a full redraw of the same screen, in the same
//! run (the same frame with the session made to forget what the terminal shows).
//!
//! - bytes written per one-row delta (a visible row's total and time change in place);
//! - delta applied + frame written, at 1 000 and at 1 000 000 rows (only the visible window is
//!   laid out: the cost must not grow with the rows);
//! - delta → frame written at 200 deltas/s from a real server (in this process, the demo's
//!   views, a runtime client as `lucarne tui` has): from the delta leaving the client's
//!   subscription to its frame written, and from the command sent to its frame written, next to
//!   command sent → delta at the client.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::{FutureExt, StreamExt};
use lucarne_protocol::{Delta, Op, Position, Row};
use lucarne_runtime::{Client, ClientConfig, Query, ViewEvent};
use lucarne_tui::app::{App, Msg, Options};
use lucarne_tui::driver::Session;
use serde_json::{Map, Value, json};

use crate::search::{ms, pct};

const SIZE: (u16, u16) = (200, 50);

/// A writer that counts what it is given.
#[derive(Clone, Default)]
struct Counted(Arc<AtomicUsize>);

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len(), Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Counted {
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// How a frame is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Redraw {
    /// Only the cells that changed (the client as it runs).
    Diff,
    /// Every cell (the baseline).
    Full,
}

fn order(i: usize, total: f64, now: u64) -> Columns {
    let customers = ["Ada Lovelace", "مريم العلي", "יוסף לוי", "Grace Hopper", "山田太郎"];
    let regions = ["eu", "us", "mena", "apac"];
    let row = json!({
        "order_id": format!("o-{i}"),
        "customer": customers[i % customers.len()],
        "region": regions[i % regions.len()],
        "total": total,
        "status": "placed",
        "updated_ms": now,
    });
    row.as_object().cloned().unwrap_or_default()
}

type Columns = Map<String, Value>;

fn frame(session: &mut Session<Counted>, app: &App, redraw: Redraw) -> Result<()> {
    if redraw == Redraw::Full {
        session.redraw_all(SIZE)?;
    }
    session.frame(app)?;
    Ok(())
}

/// One-row deltas applied to an app of `rows` rows, each followed by a frame: the bytes and
/// the time of each (apply + frame).
fn in_memory(rows: usize, deltas: usize, redraw: Redraw) -> Result<(Vec<usize>, Vec<Duration>)> {
    let mut app = App::new(Options { view: Some("orders".into()), ..Options::default() }, SIZE);
    app.start();
    let snapshot: Vec<Row> =
        (0..rows).map(|i| Row { key: json!(format!("o-{i}")), row: order(i, 10.0, 0) }).collect();
    app.update(Msg::View(ViewEvent::Snapshot {
        at: Position { epoch: 1, version: 1 },
        rows: snapshot.into(),
        resynced: None,
    }));
    let counted = Counted::default();
    let mut session = Session::new(counted.clone(), SIZE)?;
    frame(&mut session, &app, Redraw::Full)?;
    counted.take();
    let mut rng = fastrand::Rng::with_seed(7);
    let page = app.page().min(rows);
    let (mut bytes, mut times) = (Vec::new(), Vec::new());
    for n in 0..deltas {
        // A row on screen: its total and its time change.
        let i = app.top() + rng.usize(0..page);
        let Some(key) = app.rows().key_at(i).cloned() else { bail!("no row {i}") };
        let id: usize = key.trim_matches('"').trim_start_matches("o-").parse()?;
        let op =
            Op::Upsert { key: json!(format!("o-{id}")), row: order(id, 10.0 + n as f64 * 0.25, n as u64) };
        let started = Instant::now();
        app.update(Msg::View(ViewEvent::Delta(Delta {
            sub: 1,
            from: 1,
            to: 2,
            ops: vec![op],
            acked: Vec::new(),
        })));
        frame(&mut session, &app, redraw)?;
        times.push(started.elapsed());
        bytes.push(counted.take());
    }
    Ok((bytes, times))
}

fn mean(values: &[usize]) -> usize {
    values.iter().sum::<usize>() / values.len().max(1)
}

/// Deltas from a real server at `rate` a second, each drawn as `lucarne tui`'s driver does
/// (everything waiting applied, then one frame): delta → frame, command → frame, command →
/// delta, and the bytes per frame.
async fn live(rate: u32, seconds: u32, redraw: Redraw) -> Result<[Vec<Duration>; 3]> {
    let dir = tempfile::tempdir()?;
    let (addr, _engine) = crate::start_server(dir.path(), false).await?;
    let client = Client::connect(ClientConfig::new(format!("ws://{addr}/ws")));
    let page = usize::from(SIZE.1) - 5;
    for i in 0..page {
        let payload = json!({"order_id": format!("o-{i}"), "customer": "Ada", "total": 1.0, "region": "eu"});
        if let Err(e) = client.send("place_order", payload).await {
            bail!("seeding: {e}");
        }
    }
    let mut app = App::new(Options { view: Some("orders".into()), ..Options::default() }, SIZE);
    app.start();
    let mut subscription = client.subscribe(Query::view("orders"));
    let counted = Counted::default();
    let mut session = Session::new(counted.clone(), SIZE)?;
    // Until the snapshot is on screen.
    while app.rows().len() < page {
        let Some(event) = subscription.next().await else { bail!("the subscription ended") };
        app.update(Msg::View(event));
    }
    frame(&mut session, &app, Redraw::Full)?;

    let sent: Arc<std::sync::Mutex<std::collections::HashMap<u64, Instant>>> = Arc::default();
    let total = (rate * seconds) as usize;
    let loader = tokio::spawn({
        let (client, sent) = (client.clone(), sent.clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
            let mut rng = fastrand::Rng::with_seed(11);
            for _ in 0..total {
                tick.tick().await;
                let payload = json!({"order_id": format!("o-{}", rng.usize(0..page)), "customer": "Ada", "total": 0.25, "region": "eu"});
                let seq = client.next_seq();
                if let Ok(mut sent) = sent.lock() {
                    sent.insert(seq, Instant::now());
                }
                let client = client.clone();
                tokio::spawn(async move { client.send_with_seq(seq, "place_order", payload).await });
            }
        }
    });
    let me = client.client_id().to_owned();
    let (mut to_frame, mut sent_to_frame, mut sent_to_delta) = (Vec::new(), Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 20);
    while sent_to_frame.len() < total && Instant::now() < deadline {
        let Ok(Some(first)) = tokio::time::timeout(Duration::from_secs(5), subscription.next()).await else {
            break;
        };
        // The driver's loop: everything waiting, then one frame.
        let mut arrived = Vec::new();
        let mut next = Some(first);
        while let Some(event) = next {
            let at = Instant::now();
            if let ViewEvent::Delta(delta) = &event {
                for acked in delta.acked.iter().filter(|a| a.client_id == me) {
                    if let Some(sent_at) = sent.lock().ok().and_then(|s| s.get(&acked.seq).copied()) {
                        sent_to_delta.push(at - sent_at);
                        arrived.push((at, Some(sent_at)));
                    }
                }
                if delta.acked.is_empty() {
                    arrived.push((at, None));
                }
            }
            app.update(Msg::View(event));
            next = subscription.next().now_or_never().flatten();
        }
        frame(&mut session, &app, redraw)?;
        let done = Instant::now();
        for (at, sent_at) in arrived {
            to_frame.push(done - at);
            if let Some(sent_at) = sent_at {
                sent_to_frame.push(done - sent_at);
            }
        }
    }
    loader.abort();
    if sent_to_frame.len() < total * 9 / 10 {
        bail!("only {} of {total} commands came back as deltas", sent_to_frame.len());
    }
    Ok([to_frame, sent_to_frame, sent_to_delta])
}

pub(crate) async fn run(deltas: usize, rate: u32, seconds: u32) -> Result<()> {
    println!(
        "# cargo xtask bench tui  ({}×{} screen; {deltas} one-row deltas per in-memory row; {rate} deltas/s for {seconds} s from a real server)\n",
        SIZE.0, SIZE.1
    );
    println!(
        "| figure | frames as the client writes them (diff) | full redraw of the same screen (baseline) |\n|---|---|---|"
    );
    let (diff_bytes, diff_1k) = in_memory(1_000, deltas, Redraw::Diff)?;
    let (full_bytes, full_1k) = in_memory(1_000, deltas, Redraw::Full)?;
    println!(
        "| bytes written per one-row delta, mean / max | {} / {} B | {} / {} B |",
        mean(&diff_bytes),
        diff_bytes.iter().max().unwrap_or(&0),
        mean(&full_bytes),
        full_bytes.iter().max().unwrap_or(&0)
    );
    println!(
        "| delta applied + frame written, 1 000 rows, p50 / p99 | {} / {} | {} / {} |",
        ms(pct(&diff_1k, 50)),
        ms(pct(&diff_1k, 99)),
        ms(pct(&full_1k, 50)),
        ms(pct(&full_1k, 99))
    );
    let (_, diff_1m) = in_memory(1_000_000, deltas, Redraw::Diff)?;
    let (_, full_1m) = in_memory(1_000_000, deltas, Redraw::Full)?;
    println!(
        "| delta applied + frame written, 1 000 000 rows, p50 / p99 | {} / {} | {} / {} |",
        ms(pct(&diff_1m, 50)),
        ms(pct(&diff_1m, 99)),
        ms(pct(&full_1m, 50)),
        ms(pct(&full_1m, 99))
    );
    let [diff_frame, diff_sent, diff_delta] = live(rate, seconds, Redraw::Diff).await?;
    let [full_frame, full_sent, full_delta] = live(rate, seconds, Redraw::Full).await?;
    println!(
        "| delta at the client → frame written, {rate}/s, p50 / p99 | {} / {} | {} / {} |",
        ms(pct(&diff_frame, 50)),
        ms(pct(&diff_frame, 99)),
        ms(pct(&full_frame, 50)),
        ms(pct(&full_frame, 99))
    );
    println!(
        "| command sent → frame written, {rate}/s, p50 / p99 | {} / {} | {} / {} |",
        ms(pct(&diff_sent, 50)),
        ms(pct(&diff_sent, 99)),
        ms(pct(&full_sent, 50)),
        ms(pct(&full_sent, 99))
    );
    println!(
        "| command sent → delta at the client (no terminal), p50 / p99 | {} / {} | {} / {} |",
        ms(pct(&diff_delta, 50)),
        ms(pct(&diff_delta, 99)),
        ms(pct(&full_delta, 50)),
        ms(pct(&full_delta, 99))
    );
    Ok(())
}
