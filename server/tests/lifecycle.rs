//! Commands that respect the state: many clients race random lifecycle commands on a few orders
//! of the demo, through one engine. Whatever the interleaving, no rejected command left an
//! event, every accepted one was legal where it stands in the log (the outcome is the serial
//! execution of the accepted commands in log order), every delta clients saw moved an order
//! along its lifecycle only, and the view ends where the log says.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lucarne_demo as demo;
use lucarne_protocol::{CommandRef, ErrorCode, Op};
use lucarne_server::{Engine, Store, sql};
use proptest::prelude::*;
use serde_json::json;

const NAMES: [&str; 4] = ["place_order", "pay_order", "ship_order", "cancel_order"];
const ORDERS: usize = 3;

/// The lifecycle: the status after `command` on an order in `status` (`None`: no such order),
/// or `None` when the command is not allowed there.
fn next(status: Option<&str>, command: &str) -> Option<&'static str> {
    match (status, command) {
        (None, "place_order") => Some("placed"),
        (Some("placed"), "pay_order") => Some("paid"),
        (Some("paid"), "ship_order") => Some("shipped"),
        (Some("placed" | "paid"), "cancel_order") => Some("cancelled"),
        _ => None,
    }
}

/// Whether `to` follows `from` after one or more lifecycle steps.
fn reachable(from: Option<&str>, to: &str) -> bool {
    let mut frontier = vec![from];
    for _ in 0..3 {
        let mut after = Vec::new();
        for status in frontier {
            for name in NAMES {
                if let Some(s) = next(status, name) {
                    if s == to {
                        return true;
                    }
                    after.push(Some(s));
                }
            }
        }
        frontier = after;
    }
    false
}

/// Runs the scripts (one per client: command and order index), all clients at once.
async fn race(scripts: Vec<Vec<(usize, usize)>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("store");
    store.install_views(sql::parse_views(demo::VIEWS_SQL).expect("views"), |_, _, _| {}).expect("install");
    let engine = Engine::start(store, demo::commands());
    let mut changes = engine.changes("orders").expect("orders view");

    let tasks: Vec<_> = scripts
        .into_iter()
        .enumerate()
        .map(|(c, script)| {
            let engine: Arc<Engine> = engine.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for (seq, (name, order)) in script.into_iter().enumerate() {
                    let key = CommandRef { client_id: format!("c{c}"), seq: seq as u64 + 1 };
                    let payload = json!({"order_id": format!("o-{order}"), "customer": "Ada", "total": 5});
                    let outcome = engine.execute(key.clone(), NAMES[name], &payload).await;
                    outcomes.push((key, outcome.map_err(|r| r.code)));
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = BTreeMap::new();
    for task in tasks {
        outcomes.extend(task.await.expect("client"));
    }
    for (key, outcome) in &outcomes {
        if let Err(code) = outcome {
            assert!(matches!(code, ErrorCode::Rejected | ErrorCode::NotFound), "{key:?}: {code}");
        }
    }

    // The log holds exactly the accepted commands; replayed serially, each was legal.
    let log = engine.events(0, usize::MAX).await.expect("log");
    let origins: BTreeSet<CommandRef> = log.iter().filter_map(|e| e.origin.clone()).collect();
    let accepted: BTreeSet<CommandRef> =
        outcomes.iter().filter(|(_, o)| o.is_ok()).map(|(k, _)| k.clone()).collect();
    assert_eq!(origins, accepted, "the log holds the accepted commands and no rejected one");
    let mut model: BTreeMap<String, &str> = BTreeMap::new();
    for event in &log {
        let id = event.payload["order_id"].as_str().expect("order_id").to_owned();
        let now = model.get(&id).copied();
        let after = next(now, &event.kind)
            .unwrap_or_else(|| panic!("{} on {id} was accepted while it was {now:?}", event.kind));
        model.insert(id, after);
    }

    // Every delta moved orders along their lifecycle (one delta may carry several steps of a
    // batch: placed and paid in one commit).
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    while let Ok(change) = changes.try_recv() {
        for op in change.ops().expect("ops") {
            let Op::Upsert { key, row } = op else { panic!("an order was removed: {op:?}") };
            let id = key.as_str().expect("key").to_owned();
            let status = row["status"].as_str().expect("status");
            let before = seen.get(&id).map(String::as_str);
            assert!(reachable(before, status), "order {id} went from {before:?} to {status} in a delta");
            seen.insert(id, status.to_owned());
        }
    }
    // The view ends where the log says.
    let snapshot = engine.snapshot("orders").await.expect("snapshot");
    let view: BTreeMap<String, String> = snapshot
        .rows
        .iter()
        .map(|r| {
            (
                r.key.as_str().unwrap_or_default().to_owned(),
                r.row["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = model.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
    assert_eq!(view, expected);
    assert_eq!(seen.len(), expected.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn racing_clients_never_break_the_lifecycle(
        scripts in proptest::collection::vec(
            proptest::collection::vec((0..NAMES.len(), 0..ORDERS), 1..25),
            2..8,
        )
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(race(scripts));
    }
}
