//! The walking skeleton: events in, SQL views updated, every subscriber told.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use lucarne_protocol::{CommandRef, Delta, Op, Position};
use lucarne_runtime::{LiveView, ViewEvent};
use serde_json::{Map, Value, json};

use crate::support::{Proxy, Server, client, next_data, subscribed};

type Rows = Map<String, Value>;

fn order(id: &str, customer: &str, total: f64) -> Value {
    json!({ "order_id": id, "customer": customer, "total": total })
}

/// Reads deltas until the view reaches `version`, checking they are contiguous.
async fn deltas_until(sub: &mut lucarne_runtime::Subscription, mut at: u64, version: u64) -> Vec<Delta> {
    let mut out = Vec::new();
    while at < version {
        match next_data(sub).await {
            ViewEvent::Delta(d) => {
                assert_eq!(d.from, at, "deltas are contiguous");
                assert_eq!(d.to, d.from + 1);
                at = d.to;
                out.push(d);
            }
            ViewEvent::Resumed { at: p } => assert_eq!(p.version, at, "resumed where it stood"),
            other => panic!("expected a delta, got {other:?}"),
        }
    }
    out
}

fn snapshot_at(event: &ViewEvent) -> Position {
    match event {
        ViewEvent::Snapshot { at, .. } => *at,
        other => panic!("not a snapshot: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_acked_and_its_delta_carries_the_ack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let watcher = client(&server.url());
    let (mut orders, snapshot) = subscribed(&watcher, "orders").await;
    let at = snapshot_at(&snapshot);
    assert!(matches!(&snapshot, ViewEvent::Snapshot { rows, .. } if rows.is_empty()));

    let sender = client(&server.url());
    let (mut own, _) = subscribed(&sender, "orders").await;
    let ack = sender.send("place_order", order("o-1", "نور", 42.5)).await.expect("acked");
    assert_eq!((ack.seq, ack.position, ack.events, ack.duplicate), (1, 1, 1, false));
    assert_eq!(ack.client_id, sender.client_id());

    // The sender's delta names its command; another client's names nothing (it learns nothing
    // of other clients' ids or sequence numbers).
    let mine = deltas_until(&mut own, at.version, at.version + 1).await;
    assert_eq!(mine[0].acked, vec![CommandRef { client_id: sender.client_id().into(), seq: 1 }]);
    let deltas = deltas_until(&mut orders, at.version, at.version + 1).await;
    let delta = &deltas[0];
    assert_eq!(delta.acked, vec![]);
    assert_eq!(delta.ops, mine[0].ops);
    match &delta.ops[..] {
        [Op::Upsert { key, row }] => {
            assert_eq!(key, &json!("o-1"));
            assert_eq!(
                Value::Object(row.clone()),
                json!({"order_id": "o-1", "customer": "نور", "total": 42.5, "status": "place_order", "events": 1})
            );
        }
        other => panic!("unexpected ops {other:?}"),
    }

    // The same (client_id, seq) again changes nothing.
    let again = sender.send_with_seq(1, "place_order", order("o-1", "نور", 42.5)).await.expect("acked");
    assert!(again.duplicate);
    assert_eq!(again.position, 1);
    let fresh = client(&server.url());
    let (_, snapshot) = subscribed(&fresh, "orders").await;
    match snapshot {
        ViewEvent::Snapshot { rows, at: now, .. } => {
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].row["total"], json!(42.5), "not applied twice");
            assert_eq!(now.version, at.version + 1);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_the_same_changes_in_the_same_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let (a, b) = (client(&server.url()), client(&server.url()));
    let (mut sub_a, snap_a) = subscribed(&a, "by_customer").await;
    let (mut sub_b, snap_b) = subscribed(&b, "by_customer").await;
    assert_eq!(snapshot_at(&snap_a), snapshot_at(&snap_b));

    // Three writers race; every change must reach both watchers identically.
    let writers: Vec<_> = (0..3).map(|_| client(&server.url())).collect();
    let sends = writers.iter().enumerate().flat_map(|(w, c)| {
        (0..20).map(move |i| {
            let customer = ["Ada", "דנה", "نور"][(w + i) % 3];
            c.send("place_order", order(&format!("o-{w}-{i}"), customer, (i + 1) as f64))
        })
    });
    let acks = join_all(sends).await;
    assert!(acks.iter().all(Result::is_ok), "{acks:?}");

    let head = a
        .list_views()
        .await
        .expect("views")
        .into_iter()
        .find(|v| v.name == "by_customer")
        .expect("view")
        .at
        .version;
    let start = snapshot_at(&snap_a).version;
    let seen_a = deltas_until(&mut sub_a, start, head).await;
    let seen_b = deltas_until(&mut sub_b, start, head).await;
    assert_eq!(seen_a, seen_b);
    let acked: usize = seen_a.iter().map(|d| d.acked.len()).sum();
    assert_eq!(acked, 0, "a watcher is told nothing of other clients' commands");

    let mut view = LiveView::<Rows>::new();
    view.apply(&snap_a);
    for d in seen_a {
        view.apply(&ViewEvent::Delta(d));
    }
    let spent: f64 = view.iter().map(|(_, r)| r["spent"].as_f64().unwrap_or(0.0)).sum();
    assert_eq!(spent, 3.0 * (1..=20).sum::<i32>() as f64);
    assert_eq!(view.iter().map(|(_, r)| r["orders"].as_u64().unwrap_or(0)).sum::<u64>(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_socket_resumes_with_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let proxy = Proxy::start(server.addr).await;
    let watcher = client(&proxy.url());
    let (mut sub, snapshot) = subscribed(&watcher, "orders").await;
    let mut view = LiveView::<Rows>::new();
    view.apply(&snapshot);

    let writer = client(&server.url());
    let mut version = snapshot_at(&snapshot).version;
    let mut resumed = 0;
    for round in 0..4 {
        for i in 0..10 {
            writer.send("place_order", order(&format!("o-{round}-{i}"), "Ada", 1.0)).await.expect("ack");
        }
        if round % 2 == 0 {
            proxy.cut();
        }
        for i in 0..5 {
            writer.send("pay_order", json!({ "order_id": format!("o-{round}-{i}") })).await.expect("ack");
        }
        let target = version + 15;
        while version < target {
            match next_data(&mut sub).await {
                ViewEvent::Delta(d) => {
                    assert_eq!(d.from, version, "no gap, no duplicate");
                    version = d.to;
                    assert!(!view.apply(&ViewEvent::Delta(d)).out_of_order);
                }
                ViewEvent::Resumed { at } => {
                    assert_eq!(at.version, version, "resumes from where it stood");
                    resumed += 1;
                }
                other => panic!("expected deltas or resume, got {other:?}"),
            }
        }
    }
    assert!(resumed >= 1, "the client reconnected and resumed");
    let fresh = client(&server.url());
    let (_, truth) = subscribed(&fresh, "orders").await;
    let mut expected = LiveView::<Rows>::new();
    expected.apply(&truth);
    let rows =
        |v: &LiveView<Rows>| v.iter().map(|(k, r)| (k.to_string(), r.clone())).collect::<BTreeMap<_, _>>();
    assert_eq!(rows(&view), rows(&expected));
    assert_eq!(view.position(), expected.position());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_keeps_every_acked_event_and_clients_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let watcher = client(&server.url());
    let (mut sub, snapshot) = subscribed(&watcher, "orders").await;
    let writer = client(&server.url());
    let acks =
        join_all((0..40).map(|i| writer.send("place_order", order(&format!("o-{i}"), "דנה", i as f64))))
            .await;
    let acked = acks.iter().filter(|a| a.is_ok()).count();
    assert_eq!(acked, 40);
    let views_before = writer.list_views().await.expect("views");
    let before = views_before.iter().find(|v| v.name == "orders").expect("orders").clone();
    // The watcher has seen everything up to here.
    deltas_until(&mut sub, snapshot_at(&snapshot).version, before.at.version).await;

    let server = server.restart();

    // Same rows, same epoch and version: nothing acked was lost, nothing rebuilt.
    let after = client(&server.url());
    let views_after = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(v) = after.list_views().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("server back");
    assert_eq!(views_after, views_before);
    let (_, snap) = subscribed(&after, "orders").await;
    match &snap {
        ViewEvent::Snapshot { rows, .. } => {
            assert_eq!(rows.len(), 40);
            let total: f64 = rows.iter().map(|r| r.row["total"].as_f64().unwrap_or(0.0)).sum();
            assert_eq!(total, (0..40).sum::<i32>() as f64);
        }
        other => panic!("{other:?}"),
    }

    // The old watcher reconnects by itself and resumes (same epoch), then goes on live.
    writer.send("ship_order", json!({"order_id": "o-7"})).await.expect("ack after restart");
    let mut resumed = false;
    loop {
        match next_data(&mut sub).await {
            ViewEvent::Resumed { at } => {
                assert_eq!(at, before.at);
                resumed = true;
            }
            ViewEvent::Delta(d) => {
                assert_eq!(d.from, before.at.version);
                assert!(matches!(&d.ops[..], [Op::Upsert { row, .. }] if row["status"] == "ship_order"));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(resumed);
    // The writer's seq continues; a duplicate from before the crash is still recognised.
    let dup = writer.send_with_seq(1, "place_order", order("o-0", "דנה", 0.0)).await.expect("ack");
    assert!(dup.duplicate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_seeds_and_keeps_moving_in_three_scripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::spawn(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
        vec!["--demo".into(), "--demo-rate".into(), "20".into(), "--demo-seed".into(), "200".into()],
    );
    let watcher = client(&server.url());
    let (mut sub, snapshot) = subscribed(&watcher, "orders").await;
    let ViewEvent::Snapshot { rows, .. } = &snapshot else { unreachable!() };
    assert!(rows.len() >= 50, "seeded: {} orders", rows.len());
    let names: String = rows.iter().filter_map(|r| r.row["customer"].as_str()).collect();
    let has = |range: std::ops::RangeInclusive<char>| names.chars().any(|c| range.contains(&c));
    assert!(
        has('a'..='z') && has('\u{0600}'..='\u{06FF}') && has('\u{05D0}'..='\u{05EA}'),
        "Latin, Arabic and Hebrew names"
    );
    assert!(matches!(next_data(&mut sub).await, ViewEvent::Delta(_)), "live changes keep coming");
}
