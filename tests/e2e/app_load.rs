//! The reference app's state (`lucarne_app::Desk`) fed by a real subscription, as iced's
//! `watch` would feed it: it stays equal to the server's view under a burst of changes, and its
//! filter box turns into a live query the server answers.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use lucarne_app::i18n::Locale;
use lucarne_app::{Connection, Desk, Message, update};

use lucarne_runtime::{Query, Subscription, ViewEvent};
use serde_json::{Value, json};

use crate::support::{Server, client, subscribed, within};

/// The demo's server, unseeded; its generator places an order now and then (ids `o-…`), so the
/// tests' own orders are `t-…`.
fn demo_server(dir: &std::path::Path) -> Server {
    let args = ["--demo", "--demo-seed", "0", "--demo-rate", "0.01"].map(String::from).to_vec();
    Server::spawn(dir.to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args)
}

/// What the desk's table shows: (order id, status, total) for every row, in key order (the desk
/// speaks English unless told otherwise: totals grouped as `1,234.50`).
fn shown(desk: &Desk) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = desk
        .table()
        .keys()
        .into_iter()
        .map(|key| {
            let cells = desk.table().get(&key).unwrap_or_default();
            let cell = |i: usize| cells.get(i).map(|c| c.as_str().to_owned()).unwrap_or_default();
            (key, cell(4), cell(3))
        })
        .collect();
    rows.sort();
    rows
}

/// The same triples from the server's rows.
fn truth(rows: &[lucarne_runtime::protocol::Row]) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = rows
        .iter()
        .map(|r| {
            let total = r.row.get("total").and_then(Value::as_f64).unwrap_or_default();
            let status = r.row.get("status").and_then(Value::as_str).unwrap_or_default();
            (r.key.as_str().unwrap_or_default().to_owned(), status.to_owned(), Locale::En.number(total, 2))
        })
        .collect();
    rows.sort();
    rows
}

/// Feeds the desk every event of `sub` until `done` holds.
async fn feed_until(desk: &mut Desk, sub: &mut Subscription, mut done: impl FnMut(&Desk) -> bool) -> usize {
    let mut deltas = 0;
    while !done(desk) {
        let event = within(sub.next()).await.expect("subscription ended");
        deltas += usize::from(matches!(event, ViewEvent::Delta(_)));
        let _ = update(desk, Message::Orders(event));
    }
    deltas
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_matches_the_server_after_a_thousand_changes_in_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(dir.path());
    let reader = client(&server.url());
    let mut desk = Desk::with_client(reader.clone());
    let mut sub = reader.subscribe(desk.query().clone());
    feed_until(&mut desk, &mut sub, |d| d.orders().position().is_some()).await;

    // Another client sends 1 000 commands within a second: 500 orders placed, then 500 status
    // changes on them, 10 every 10 ms. The demo enforces the order lifecycle: a change an order's
    // status does not allow (ship a placed order, pay a cancelled one) is rejected, never applied.
    let writer = client(&server.url());
    let sending = tokio::spawn(async move {
        let started = Instant::now();
        let mut answers = Vec::new();
        for i in 0..1_000u64 {
            let (name, payload) = if i < 500 {
                let region = ["eu", "us", "mena", "apac"][(i % 4) as usize];
                (
                    "place_order",
                    json!({"order_id": format!("t-{i}"), "customer": format!("c{}", i % 17), "total": (i % 97) as f64 + 0.5, "region": region}),
                )
            } else {
                let name = ["pay_order", "ship_order", "cancel_order"][(i % 3) as usize];
                (name, json!({"order_id": format!("t-{}", (i * 7) % 500)}))
            };
            let writer = writer.clone();
            answers.push(tokio::spawn(async move { writer.send(name, payload).await }));
            if i % 10 == 9 {
                tokio::time::sleep_until((started + Duration::from_millis((i + 1) / 10 * 10)).into()).await;
            }
        }
        let sent_in = started.elapsed();
        let mut refused = 0;
        for answer in join_all(answers).await {
            match answer {
                Ok(Ok(_)) => {}
                Ok(Err(lucarne_runtime::CommandError::Rejected {
                    code: lucarne_runtime::protocol::ErrorCode::Rejected,
                    ..
                })) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        (sent_in, started.elapsed(), refused)
    });

    // The desk keeps applying while the burst lasts.
    let mut deltas = 0;
    let started = Instant::now();
    while !sending.is_finished() {
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
            deltas += usize::from(matches!(event, ViewEvent::Delta(_)));
            let _ = update(&mut desk, Message::Orders(event));
        }
    }
    let (sent_in, acked_in, refused) = sending.await.expect("sender");

    // The server's view now, read by a third client; the desk catches up to its version.
    let (_check, snapshot) = subscribed(&client(&server.url()), "orders").await;
    let ViewEvent::Snapshot { at, rows, .. } = snapshot else {
        unreachable!("subscribed returns a snapshot")
    };
    deltas +=
        feed_until(&mut desk, &mut sub, |d| d.orders().position().is_some_and(|p| p.version >= at.version))
            .await;
    eprintln!(
        "1 000 commands sent in {sent_in:?} (all answered in {acked_in:?}, {refused} refused by the lifecycle); the desk applied {deltas} deltas in {:?}; {} rows",
        started.elapsed(),
        rows.len()
    );
    assert_eq!(desk.orders().position().map(|p| p.version), Some(at.version));
    assert_eq!(rows.iter().filter(|r| r.key.as_str().is_some_and(|k| k.starts_with("t-"))).count(), 500);
    assert!(refused > 0 && refused < 500, "{refused} status changes refused");
    assert_eq!(desk.table().len(), rows.len(), "no lost or duplicate rows");
    assert_eq!(shown(&desk), truth(&rows), "the table shows exactly the server's rows");
    assert!(desk.pending().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_box_becomes_a_live_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(dir.path());
    let writer = client(&server.url());
    for (i, total) in [10.0, 250.0, 40.0, 990.0].iter().enumerate() {
        let order = json!({"order_id": format!("t-{i}"), "customer": "Ada", "total": total, "region": "eu"});
        within(writer.send("place_order", order)).await.expect("placed");
    }
    within(writer.send("pay_order", json!({"order_id": "t-1"}))).await.expect("paid");
    within(writer.send("pay_order", json!({"order_id": "t-3"}))).await.expect("paid");

    let reader = client(&server.url());
    let mut desk = Desk::with_client(reader.clone());
    let _ = update(&mut desk, Message::FilterChanged("status = 'paid' ORDER BY total DESC".into()));
    let _ = update(&mut desk, Message::ApplyFilter);
    assert_eq!(desk.query(), &Query::view("orders").filter("status = 'paid'").order_by("total DESC"));

    // What iced's `watch` does with the desk's query.
    let mut sub = reader.subscribe(desk.query().clone());
    feed_until(&mut desk, &mut sub, |d| d.orders().position().is_some() || d.notice().is_some()).await;
    assert_eq!(desk.notice(), None, "the server accepted the query");
    assert_eq!(desk.table().keys(), ["t-3", "t-1"], "in the query's order: total descending");

    // The window follows changes: t-0 gets paid and enters it, at its place in that order.
    within(writer.send("pay_order", json!({"order_id": "t-0"}))).await.expect("paid");
    feed_until(&mut desk, &mut sub, |d| d.table().len() == 3).await;
    assert_eq!(desk.table().keys(), ["t-3", "t-1", "t-0"]);

    // A click on a header wins over the query's order: Order, ascending.
    let _ = update(&mut desk, Message::Sort(0));
    assert_eq!(desk.table().keys(), ["t-0", "t-1", "t-3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_ids_sort_as_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(dir.path());
    let writer = client(&server.url());
    for i in [9, 10, 89, 90, 100] {
        let order = json!({"order_id": format!("t-{i}"), "customer": "Ada", "total": 1.0, "region": "eu"});
        within(writer.send("place_order", order)).await.expect("placed");
    }
    let reader = client(&server.url());
    let mut desk = Desk::with_client(reader.clone());
    let _ = update(&mut desk, Message::FilterChanged("order_id >= 't-'".into()));
    let _ = update(&mut desk, Message::ApplyFilter);
    let mut sub = reader.subscribe(desk.query().clone());
    feed_until(&mut desk, &mut sub, |d| d.table().len() == 5).await;
    assert_eq!(desk.table().keys(), ["t-9", "t-10", "t-89", "t-90", "t-100"], "not t-10, t-100, t-89…");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_the_desk_keeps_its_rows_and_its_command_is_applied_once_on_reconnect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(dir.path());
    let order = json!({"order_id": "t-1", "customer": "Ada", "total": 12.5, "region": "eu"});
    within(client(&server.url()).send("place_order", order)).await.expect("placed");

    let reader = client(&server.url());
    let mut desk = Desk::with_client(reader.clone());
    let mut sub = reader.subscribe(desk.query().clone());
    feed_until(&mut desk, &mut sub, |d| d.table().keys().iter().any(|k| k == "t-1")).await;
    let rows = desk.table().len();

    // The server goes away: the desk says offline and keeps what it shows.
    let (data, addr, args) = server.kill();
    feed_until(&mut desk, &mut sub, |d| matches!(d.connection(), Connection::Offline { .. })).await;
    assert_eq!(desk.table().len(), rows);

    // An action while offline: shown at once, its command waits in the runtime's outbox.
    let _ = update(&mut desk, Message::Act("t-1".into(), 0));
    assert_eq!(desk.shown_status("t-1").as_deref(), Some("paid"));
    let sent = desk.last_sent().cloned().expect("sent");
    let mut answer = tokio::spawn(sent.deliver(reader.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!answer.is_finished(), "no answer while the server is down");

    // The server comes back on the same port and data: the subscription resumes, the command
    // is resent and applied; the delta carrying its ack drops the optimistic state.
    let started = Instant::now();
    while std::net::TcpListener::bind(addr).is_err() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let server = Server::spawn(data, addr, args);
    let mut answered = false;
    while !(answered && desk.pending().is_empty()) {
        tokio::select! {
            event = sub.next() => {
                let _ = update(&mut desk, Message::Orders(within(async { event }).await.expect("subscription ended")));
            }
            message = &mut answer, if !answered => {
                let answer = message.expect("deliver task");
                assert!(answer.result.is_ok(), "{answer:?}");
                let _ = update(&mut desk, Message::Answered(answer));
                answered = true;
            }
            _ = tokio::time::sleep(Duration::from_secs(30)) => panic!("the desk did not reconcile"),
        }
    }
    assert_eq!(desk.orders().get(&json!("t-1")).and_then(|o| o.status.clone()).as_deref(), Some("paid"));
    assert_eq!(desk.connection(), &Connection::Live);

    // Applied once: one pay_order event for t-1 in the activity feed.
    let (_sub, snapshot) = subscribed(&client(&server.url()), "activity").await;
    let ViewEvent::Snapshot { rows, .. } = snapshot else { unreachable!("subscribed returns a snapshot") };
    let pays = rows.iter().filter(|r| {
        r.row.get("type") == Some(&json!("pay_order")) && r.row.get("order_id") == Some(&json!("t-1"))
    });
    assert_eq!(pays.count(), 1, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_filter_is_an_error_on_the_filter_not_a_lost_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(dir.path());
    let writer = client(&server.url());
    for i in 0..3 {
        let order = json!({"order_id": format!("t-{i}"), "customer": "Ada", "total": 5.0, "region": "eu"});
        within(writer.send("place_order", order)).await.expect("placed");
    }
    let reader = client(&server.url());
    let mut desk = Desk::with_client(reader.clone());
    let mut sub = reader.subscribe(desk.query().clone());
    feed_until(&mut desk, &mut sub, |d| d.table().len() >= 3).await;
    assert_eq!(desk.connection(), &Connection::Live);
    let rows = desk.table().keys();

    // A mistyped filter: the server refuses the query.
    let _ = update(&mut desk, Message::FilterChanged("stauts = 'paid'".into()));
    let _ = update(&mut desk, Message::ApplyFilter);
    let refused = desk.query().clone();
    let mut sub = reader.subscribe(refused.clone());
    feed_until(&mut desk, &mut sub, |d| d.notice().is_some()).await;
    let notice = desk.notice().unwrap_or_default();
    assert!(notice.contains("stauts"), "the notice names the problem: {notice}");
    assert_eq!(desk.connection(), &Connection::Live, "the connection is fine: the badge stays live");
    assert_eq!(desk.table().keys(), rows, "the rows stay");
    assert_eq!(desk.query(), &Query::view("orders"), "back to the last query the server answered");
    assert_ne!(desk.query(), &refused);

    // iced subscribes to it again: the same rows, live.
    let mut sub = reader.subscribe(desk.query().clone());
    feed_until(&mut desk, &mut sub, |d| d.orders().position().is_some()).await;
    assert_eq!(desk.table().keys(), rows);
    assert_eq!(desk.connection(), &Connection::Live);
}
