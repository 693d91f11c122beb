//! `push`: the wake-up of an app that is away — a command committed (its `execute` returned:
//! durable) until its push arrives, decrypted, at a Web Push service stand-in on loopback
//! (`lucarne_testing::PushService`, which checks each VAPID token) — next to the same command's
//! delta at a client connected to the same server (the baseline, in the same run); and the
//! writer's ingest rate while N registrations wait on the view (each commit plans them), next
//! to none.
//!
//! The server is in this process with the demo's views; registrations are made through the
//! engine (one per away client, each for the orders of one customer); the coalescing window is
//! the default 250 ms, and commands are spaced by more than it so that each push stands for one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{
    CommandRef, NotificationTemplate, Op, PushInterest, PushNotice, PushTarget, ServerMessage, decode_server,
};
use lucarne_push::{Vapid, WebPush};
use lucarne_server::push::{PushConfig, Registration, Stored};
use lucarne_testing::PushService;
use serde_json::json;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use crate::search::{ms, pct};

/// Commands timed per count of registrations.
const SPACING: Duration = Duration::from_millis(300);
/// Commands of the ingest figure.
const INGEST: usize = 10_000;

pub(crate) async fn run(counts: &[usize], samples: usize) -> Result<()> {
    println!(
        "# cargo xtask bench push  ({samples} commands a {} ms apart per row; ingest of {INGEST} commands, 512 in flight)\n",
        SPACING.as_millis()
    );
    println!(
        "| registrations waiting (clients away) | commit → push at the push service p50 / p99 | commit → delta at a connected client p50 / p99 (baseline) | ingest, events/s (no registration matches) |\n|---|---|---|---|"
    );
    for &count in counts {
        let dir = tempfile::tempdir()?;
        let (addr, engine) = crate::start_server(dir.path(), false).await?;
        let service = PushService::start().await;
        let config = PushConfig {
            web: Some(WebPush::new(Vapid::generate("mailto:bench@example.com")?)?),
            endpoints: vec![service.origin()],
            max_per_client: 1,
            max_total: count.max(1),
            ..PushConfig::default()
        };
        engine.enable_push(config).await?;
        let columns = engine.view_columns("orders").await?;
        for i in 0..count {
            let stored = Stored {
                client_id: format!("away-{i}"),
                target: PushTarget::Web(service.subscribe()),
                interest: PushInterest { view: "orders".into(), filter: Some(format!("customer = 'c{i}'")) },
                rows: None,
                notification: Some(NotificationTemplate {
                    title: "Order {order_id}".into(),
                    body: "{customer}".into(),
                }),
            };
            let query = stored.compile(&columns).map_err(anyhow::Error::msg)?;
            engine.register_push(Registration::new(stored, query)).await?;
        }

        // The baseline: a connected client's deltas, by order id.
        let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
        ws.send(Message::Text(
            json!({"type": "hello", "versions": [1], "client_id": "here"}).to_string().into(),
        ))
        .await?;
        ws.send(Message::Text(json!({"type": "subscribe", "sub": 1, "view": "orders"}).to_string().into()))
            .await?;
        let watcher = tokio::spawn({
            let seen = seen.clone();
            async move {
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    let Ok(ServerMessage::Delta(delta)) = decode_server(text.as_str()) else { continue };
                    let now = Instant::now();
                    for op in delta.ops {
                        if let Op::Upsert { key, .. } = op {
                            seen.lock()
                                .await
                                .entry(key.as_str().unwrap_or_default().to_owned())
                                .or_insert(now);
                        }
                    }
                }
            }
        });

        let place = |seq: u64, id: String, customer: String| {
            let engine = engine.clone();
            async move {
                let payload = json!({"order_id": id, "customer": customer, "total": 1});
                engine.execute(CommandRef { client_id: "bench".into(), seq }, "place_order", &payload).await
            }
        };
        let mut committed = Vec::new();
        if count > 0 {
            for s in 0..samples {
                let id = format!("w-{s}");
                place(s as u64 + 1, id.clone(), format!("c{}", s % count))
                    .await
                    .map_err(|r| anyhow::anyhow!("{}", r.message))?;
                committed.push((id, Instant::now()));
                tokio::time::sleep(SPACING).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while service.received().len() < committed.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pushed: HashMap<String, Instant> = service
            .received()
            .iter()
            .filter_map(|r| {
                let notice: PushNotice = serde_json::from_slice(&r.payload).ok()?;
                Some((notice.key.as_str()?.to_owned(), r.at))
            })
            .collect();
        if pushed.len() < committed.len() {
            bail!("{count} registrations: {} of {} pushes arrived", pushed.len(), committed.len());
        }
        let (mut push_lag, mut delta_lag) = (Vec::new(), Vec::new());
        {
            let seen = seen.lock().await;
            for (id, at) in &committed {
                push_lag.push(pushed[id].saturating_duration_since(*at));
                delta_lag.push(seen.get(id).map_or(Duration::ZERO, |t| t.saturating_duration_since(*at)));
            }
        }
        watcher.abort();

        // Ingest while the registrations wait: every commit plans them (none matches).
        let started = Instant::now();
        let seq0 = samples as u64 + 1;
        let mut in_flight = futures_util::stream::iter(0..INGEST)
            .map(|i| place(seq0 + i as u64, format!("i-{i}"), "nobody".into()))
            .buffer_unordered(512);
        while let Some(done) = in_flight.next().await {
            done.map_err(|r| anyhow::anyhow!("{}", r.message))?;
        }
        let rate = INGEST as f64 / started.elapsed().as_secs_f64();
        let lags = |samples: &[Duration]| {
            if samples.is_empty() {
                "—".to_owned()
            } else {
                format!("{} / {}", ms(pct(samples, 50)), ms(pct(samples, 99)))
            }
        };
        println!("| {count} | {} | {} | {rate:.0} |", lags(&push_lag), lags(&delta_lag));
    }
    Ok(())
}
