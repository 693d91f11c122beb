//! Two cluster nodes in one process, on a real `nats-server`: commands decided against view rows
//! hold across nodes (two nodes never both accept what only one may), and a message in the
//! stream that is not a Lucarne append is skipped the same way by every node.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use lucarne_demo as demo;
use lucarne_protocol::{CommandRef, ErrorCode};
use lucarne_server::engine::{ClusterConfig, ViewPolicy};
use lucarne_server::store::Numbering;
use lucarne_server::{Engine, Store};
use serde_json::{Value, json};

/// A node of the demo (its views and its order lifecycle) on the stream `stream`.
async fn node(dir: &std::path::Path, urls: &str, stream: &str, id: &str) -> Arc<Engine> {
    let mut store = Store::open(dir).expect("open the store");
    store.set_numbering(Numbering::Log);
    let views = lucarne_server::sql::parse_views(demo::VIEWS_SQL).expect("demo views");
    store.install_views(views, |_, _, _| {}).expect("install the views");
    let config = ClusterConfig {
        urls: urls.into(),
        stream: stream.into(),
        replicas: Some(1),
        node_id: id.into(),
        duplicate_window: None,
    };
    Engine::cluster(store, demo::commands(), ViewPolicy::default(), config).await.expect("join the cluster")
}

fn key(client: &str, seq: u64) -> CommandRef {
    CommandRef { client_id: client.into(), seq }
}

fn place(id: &str) -> Value {
    json!({"order_id": id, "customer": "Ada", "region": "eu", "total": 10.5})
}

/// The `orders` view's status of each order on a node.
async fn statuses(engine: &Engine) -> Vec<(String, Value)> {
    let snapshot = engine.snapshot("orders").await.expect("snapshot");
    snapshot.rows.into_iter().map(|r| (r.key.to_string(), r.row["status"].clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_both_accept_a_command_only_one_may() {
    let nats = lucarne_testing::NatsCluster::start(1);
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = node(dir_a.path(), &nats.urls(), "RACE", "a").await;
    let b = node(dir_b.path(), &nats.urls(), "RACE", "b").await;
    const ORDERS: u64 = 30;
    for i in 0..ORDERS {
        a.execute(key("setup", i + 1), "place_order", &place(&format!("o-{i}"))).await.expect("placed");
    }
    // Both nodes try to pay every order at once; then both try to cancel it at once (only a
    // placed or paid order may be cancelled, and only once).
    let mut outcomes = Vec::new();
    for (step, command) in ["pay_order", "cancel_order"].iter().enumerate() {
        let races = (0..ORDERS).map(|i| {
            let payload = json!({"order_id": format!("o-{i}")});
            let (a, b) = (a.clone(), b.clone());
            let seq = step as u64 * ORDERS + i + 1;
            async move {
                let (on_a, on_b) = tokio::join!(
                    a.execute(key("on-a", seq), command, &payload),
                    b.execute(key("on-b", seq), command, &payload)
                );
                (on_a, on_b)
            }
        });
        outcomes.push(join_all(races).await);
    }
    for (command, races) in ["pay_order", "cancel_order"].iter().zip(&outcomes) {
        for (i, (on_a, on_b)) in races.iter().enumerate() {
            assert!(
                on_a.is_ok() != on_b.is_ok(),
                "{command} o-{i}: exactly one node accepts it (a: {on_a:?}, b: {on_b:?})"
            );
            let refused = on_a.as_ref().err().or(on_b.as_ref().err()).expect("one refusal");
            assert_eq!(refused.code, ErrorCode::Rejected, "{command} o-{i}: {}", refused.message);
        }
    }
    let won_by_a = outcomes.iter().flatten().filter(|(on_a, _)| on_a.is_ok()).count();
    println!("racing nodes: {} contested commands, {won_by_a} won by a, the rest by b", 2 * ORDERS);

    // Both nodes hold the same rows: every order cancelled once, after one payment. (Each
    // command is acked once its own node folded it: `a` may still be folding `b`'s.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.head().await.expect("head") < 3 * ORDERS {
        assert!(tokio::time::Instant::now() < deadline, "a folds every accepted command");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let head = a.head().await.expect("head");
    assert_eq!(
        head,
        3 * ORDERS,
        "one place, one pay, one cancel per order: no rejected command left an event"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.head().await.expect("head") < head {
        assert!(tokio::time::Instant::now() < deadline, "b folds everything");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let on_a = statuses(&a).await;
    assert_eq!(on_a, statuses(&b).await);
    assert!(on_a.iter().all(|(_, s)| s == "cancelled"), "{on_a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_is_not_a_lucarne_append_is_skipped_by_every_node() {
    let nats = lucarne_testing::NatsCluster::start(1);
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = node(dir_a.path(), &nats.urls(), "HOSTILE", "a").await;
    a.execute(key("c", 1), "place_order", &place("before")).await.expect("placed");
    // Anyone who may publish to the stream's subjects can put anything there.
    let raw = async_nats::connect(nats.urls()).await.expect("connect");
    let js = async_nats::jetstream::new(raw);
    for junk in [&b"not json"[..], br#"{"client_id": 7}"#, &vec![b'['; 100_000]] {
        js.publish("HOSTILE.junk", junk.to_vec().into()).await.expect("publish").await.expect("stored");
    }
    let ack = a.execute(key("c", 2), "place_order", &place("after")).await.expect("placed after the junk");
    assert_eq!(ack.position, 2, "junk takes no position");
    // A node that joins later folds the same stream to the same place.
    let b = node(dir_b.path(), &nats.urls(), "HOSTILE", "b").await;
    assert_eq!(b.head().await.expect("head"), 2);
    assert_eq!(statuses(&a).await, statuses(&b).await);
    assert_eq!(a.view_infos().await.expect("views"), b.view_infos().await.expect("views"));
}

/// The demo's lifecycle, applied serially: the status an order has after `kind`, or `None` when
/// the command must be refused.
fn lifecycle(status: Option<&str>, kind: &str) -> Option<&'static str> {
    match (kind, status) {
        ("place_order", None) => Some("placed"),
        ("pay_order", Some("placed")) => Some("paid"),
        ("ship_order", Some("paid")) => Some("shipped"),
        ("cancel_order", Some("placed" | "paid")) => Some("cancelled"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_racing_on_two_nodes_get_a_serial_execution_in_log_order() {
    let nats = lucarne_testing::NatsCluster::start(1);
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = node(dir_a.path(), &nats.urls(), "SERIAL", "a").await;
    let b = node(dir_b.path(), &nats.urls(), "SERIAL", "b").await;
    const KINDS: [&str; 4] = ["place_order", "pay_order", "ship_order", "cancel_order"];
    // Eight clients, four on each node, each with 40 random lifecycle commands on twelve orders,
    // all sent at once (so each node decides runs of them together).
    let clients = (0..8u64).map(|c| {
        let engine = if c % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            let mut dice = fastrand::Rng::with_seed(c);
            let sends = (1..=40u64).map(|seq| {
                let kind = KINDS[dice.usize(..KINDS.len())];
                let order = format!("o-{}", dice.u8(..12));
                let payload = if kind == "place_order" { place(&order) } else { json!({"order_id": order}) };
                let engine = engine.clone();
                async move { (kind, engine.execute(key(&format!("c{c}"), seq), kind, &payload).await) }
            });
            join_all(sends).await
        }
    });
    let outcomes: Vec<_> = join_all(clients).await.into_iter().flatten().collect();
    let accepted = outcomes.iter().filter(|(_, o)| o.is_ok()).count();
    for (kind, outcome) in &outcomes {
        if let Err(r) = outcome {
            assert!(
                matches!(r.code, ErrorCode::Rejected | ErrorCode::NotFound),
                "{kind} refused for a lifecycle reason, not {:?}: {}",
                r.code,
                r.message
            );
        }
    }

    // The log, replayed serially with the lifecycle's rules: every event was legal where it
    // stands, and there is one per accepted command. (A command is acked once its own node
    // folded it: `a` may still be folding what `b` accepted.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.head().await.expect("head") < accepted as u64 {
        assert!(tokio::time::Instant::now() < deadline, "a folds every accepted command");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let head = a.head().await.expect("head");
    let log = a.events(0, usize::try_from(head).expect("a small log") + 10).await.expect("the log");
    assert_eq!(log.len(), accepted, "one event per accepted command: no refused command left one");
    let mut serial: std::collections::BTreeMap<String, &str> = Default::default();
    for event in &log {
        let order = event.payload["order_id"].as_str().expect("order id").to_owned();
        let next = lifecycle(serial.get(&order).copied(), &event.kind);
        let next = next.unwrap_or_else(|| {
            panic!("{} at {} is illegal after {:?}", event.kind, event.position, serial.get(&order))
        });
        serial.insert(order, next);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.head().await.expect("head") < head {
        assert!(tokio::time::Instant::now() < deadline, "b folds everything");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let replayed: Vec<(String, Value)> =
        serial.iter().map(|(order, status)| (json!(order).to_string(), json!(status))).collect();
    assert_eq!(statuses(&a).await, replayed, "the view equals the serial execution in log order");
    assert_eq!(statuses(&b).await, replayed);
    println!(
        "serial: {} commands from 8 clients on 2 nodes, {accepted} accepted, {} refused; the log replays legally",
        outcomes.len(),
        outcomes.len() - accepted
    );
}
