//! The `EventLog` contract, as one suite any backend must pass: the embedded store and the NATS
//! JetStream log (docs/scale-out.md). Positions start at 1 and have no gaps; an append is
//! idempotent by its `(client_id, seq)` for good; a command's events are contiguous, in order;
//! `read_after` pages in order; `head` is the last position; all of it survives a restart.

use std::path::Path;

use lucarne_protocol::CommandRef;
use lucarne_server::Store;
use lucarne_server::log::{Append, Appended, EventLog, NewEvent};
use serde_json::json;

/// An append of `n` events for command `(client, seq)`.
fn append(client: &str, seq: u64, n: usize) -> Append {
    let events = (0..n)
        .map(|i| NewEvent {
            stream: "orders".into(),
            kind: "place_order".into(),
            payload: json!({"order_id": format!("{client}-{seq}-{i}"), "total": 1}),
        })
        .collect();
    Append::new(CommandRef { client_id: client.into(), seq }, events)
}

fn appended(position: u64, events: u32, duplicate: bool) -> Appended {
    Appended { position, events, duplicate }
}

/// The contract, for a backend opened (and reopened) on a directory.
fn check<L: EventLog>(open: impl Fn(&Path) -> L) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    assert_eq!(log.head().expect("head"), 0, "an empty log");
    assert!(log.read_after(0, 10).expect("read").is_empty());

    // Positions from 1, no gaps; a command's events together, in order.
    let out = log.append(&[append("a", 1, 1), append("b", 1, 3), append("a", 2, 0)]).expect("append");
    assert_eq!(out, vec![Ok(appended(1, 1, false)), Ok(appended(4, 3, false)), Ok(appended(0, 0, false))]);
    assert_eq!(log.head().expect("head"), 4);

    // Idempotent by key, within a batch and across batches: nothing appended twice, and the
    // first append's outcome is answered.
    let out = log.append(&[append("b", 1, 3), append("a", 3, 1), append("a", 3, 1)]).expect("append");
    assert_eq!(out, vec![Ok(appended(4, 3, true)), Ok(appended(5, 1, false)), Ok(appended(5, 1, true))]);
    assert_eq!(log.head().expect("head"), 5);

    // Reading after a position pages in order, each event with its command.
    let all = log.read_after(0, 100).expect("read");
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    let ids: Vec<&str> = all.iter().map(|e| e.payload["order_id"].as_str().unwrap_or_default()).collect();
    assert_eq!(ids, ["a-1-0", "b-1-0", "b-1-1", "b-1-2", "a-3-0"]);
    let origins: Vec<(&str, u64)> =
        all.iter().filter_map(|e| e.origin.as_ref()).map(|o| (o.client_id.as_str(), o.seq)).collect();
    assert_eq!(origins, [("a", 1), ("b", 1), ("b", 1), ("b", 1), ("a", 3)]);
    let page = log.read_after(2, 2).expect("read");
    assert_eq!(page.iter().map(|e| e.position).collect::<Vec<_>>(), [3, 4]);
    assert!(log.read_after(5, 10).expect("read").is_empty());

    // A restart keeps everything, the dedup records too.
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.head().expect("head"), 5);
    assert_eq!(log.read_after(0, 100).expect("read"), all);
    let out = log.append(&[append("a", 1, 1), append("c", 1, 1)]).expect("append");
    assert_eq!(out, vec![Ok(appended(1, 1, true)), Ok(appended(6, 1, false))]);
}

#[test]
fn the_embedded_store_keeps_the_event_log_contract() {
    check(|dir| Store::open(dir).expect("open the store"));
}

#[test]
fn the_jetstream_log_keeps_the_event_log_contract() {
    let nats = lucarne_testing::NatsCluster::start(1);
    // Each check opens its own stream (a fresh log); reopening is a new client on the same one.
    let stream = std::sync::atomic::AtomicUsize::new(0);
    let opened = std::sync::Mutex::new(std::collections::HashMap::new());
    check(|dir| {
        let mut opened = opened.lock().expect("lock");
        let n = *opened
            .entry(dir.to_path_buf())
            .or_insert_with(|| stream.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        lucarne_server::jetstream::JetStreamLog::open(&nats.urls(), &format!("lucarne_{n}"), 1)
            .expect("open the stream")
    });
}

#[test]
fn jetstream_dedup_outlives_the_duplicate_window() {
    let nats = lucarne_testing::NatsCluster::start(1);
    let window = std::time::Duration::from_secs(1);
    let open = || {
        lucarne_server::jetstream::JetStreamLog::open_with_window(
            &nats.urls(),
            "lucarne_window",
            1,
            Some(window),
        )
        .expect("open the stream")
    };
    let log = open();
    assert_eq!(log.append(&[append("a", 1, 2)]).expect("append"), vec![Ok(appended(2, 2, false))]);
    // Past JetStream's own window (a retry after a long outage), from another client.
    let since = std::time::Instant::now();
    while since.elapsed() <= window * 2 {
        std::thread::sleep(window / 4);
    }
    let again = open();
    assert_eq!(again.append(&[append("a", 1, 2)]).expect("append"), vec![Ok(appended(2, 2, true))]);
    assert_eq!(again.head().expect("head"), 2, "nothing appended twice");
}
