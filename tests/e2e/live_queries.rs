//! Live queries: `where`, `order_by` and `limit` on subscribe, kept current under random updates.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use lucarne_protocol::Op;
use lucarne_runtime::{LiveView, Query, Subscription, ViewEvent};
use serde_json::{Map, Value, json};

use crate::support::{Server, client, subscribed};

type Rows = Map<String, Value>;

async fn random_commands(c: &lucarne_runtime::Client, dice: &mut fastrand::Rng, n: usize) {
    let mut sends = Vec::new();
    for _ in 0..n {
        let id = format!("o-{}", dice.u8(..40));
        let (name, payload) = match dice.u8(..3) {
            0 => ("pay_order", json!({ "order_id": id })),
            _ => {
                let customer = ["Ada", "نور", "דנה"][dice.usize(..3)];
                ("place_order", json!({ "order_id": id, "customer": customer, "total": dice.i64(0..30) }))
            }
        };
        sends.push(c.send(name, payload));
    }
    assert!(join_all(sends).await.iter().all(Result::is_ok));
}

/// Applies events until none arrives for a while; checks every remove hits a held row.
async fn drain(sub: &mut Subscription, view: &mut LiveView<Rows>) {
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(700), sub.next()).await {
        let removes = match &event {
            ViewEvent::Delta(d) => d.ops.iter().filter(|op| matches!(op, Op::Remove { .. })).count(),
            _ => 0,
        };
        let changes = view.apply(&event);
        assert!(!changes.out_of_order, "deltas follow each other");
        assert_eq!(changes.removed.len(), removes, "every remove was of a row the client held");
    }
}

/// The query evaluated on the whole view, in the test's own terms.
fn evaluate(
    all: &[Rows],
    keep: impl Fn(&Rows) -> bool,
    by_total_desc: bool,
    limit: Option<usize>,
) -> Vec<Rows> {
    let mut rows: Vec<Rows> = all.iter().filter(|r| keep(r)).cloned().collect();
    let total = |r: &Rows| r["total"].as_f64().unwrap_or(f64::NEG_INFINITY);
    let key = |r: &Rows| format!("\"{}\"", r["order_id"].as_str().unwrap_or_default());
    rows.sort_by(|a, b| {
        let o = total(a).total_cmp(&total(b));
        let o = if by_total_desc { o.reverse() } else { o };
        o.then_with(|| key(a).cmp(&key(b)))
    });
    rows.truncate(limit.unwrap_or(usize::MAX));
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_ends_with_its_query_over_the_final_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let writer = client(&server.url());
    let mut dice = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
    random_commands(&writer, &mut dice, 80).await;

    let queries = [
        Query::view("orders").filter("status = 'pay_order'"),
        Query::view("orders").order_by("total DESC").limit(5),
        Query::view("orders").filter("customer = 'Ada'").order_by("total").limit(3),
        Query::view("orders").filter("total > 20 AND events >= 2"),
    ];
    let watcher = client(&server.url());
    let mut subs = Vec::new();
    for q in &queries {
        let (sub, snapshot) = subscribed(&watcher, &q.view).await;
        drop(sub);
        let _ = snapshot;
        let mut sub = watcher.subscribe(q.clone());
        let mut view = LiveView::<Rows>::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .expect("event")
                .expect("open");
            let snapshot = matches!(event, ViewEvent::Snapshot { .. });
            view.apply(&event);
            if snapshot {
                break;
            }
        }
        subs.push((sub, view));
    }
    random_commands(&writer, &mut dice, 150).await;

    let fresh = client(&server.url());
    let (_, all) = subscribed(&fresh, "orders").await;
    let ViewEvent::Snapshot { rows, .. } = all else { unreachable!() };
    let all: Vec<Rows> = rows.into_iter().map(|r| r.row).collect();
    let expected = [
        evaluate(&all, |r| r["status"] == "pay_order", false, None),
        evaluate(&all, |_| true, true, Some(5)),
        evaluate(&all, |r| r["customer"] == "Ada", false, Some(3)),
        evaluate(
            &all,
            |r| r["total"].as_f64().is_some_and(|t| t > 20.0) && r["events"].as_u64().is_some_and(|e| e >= 2),
            false,
            None,
        ),
    ];
    for (i, ((sub, view), want)) in subs.iter_mut().zip(expected).enumerate() {
        let want: BTreeMap<String, Rows> =
            want.into_iter().map(|r| (json!(r["order_id"]).to_string(), r)).collect();
        let rows = |v: &LiveView<Rows>| {
            v.iter().map(|(k, r)| (k.to_string(), r.clone())).collect::<BTreeMap<_, _>>()
        };
        // Deltas may still be on their way on a loaded machine: drain until equal, or 10 s.
        for _ in 0..20 {
            if rows(view) == want {
                break;
            }
            drain(sub, view).await;
        }
        let got = rows(view);
        assert_eq!(got, want, "query {i}: {:?}", queries[i]);
        assert!(!got.is_empty() || i == 0, "query {i} should hold rows");
    }
}

#[test]
fn watch_takes_where_order_by_and_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let run = |args: &[&str]| {
        std::process::Command::new(crate::support::bin())
            .args(args)
            .env("LUCARNE_SERVER", server.url())
            .output()
            .expect("run lucarne")
    };
    for (id, total) in [("o-1", 5), ("o-2", 50), ("o-3", 20), ("o-4", 40)] {
        let payload = json!({ "order_id": id, "customer": "Ada", "total": total }).to_string();
        assert!(run(&["send", "place_order", &payload]).status.success());
    }
    let out = run(&[
        "watch",
        "orders",
        "--where",
        "total > 10",
        "--order-by",
        "total DESC",
        "--limit",
        "2",
        "--once",
    ]);
    assert!(out.status.success(), "{out:?}");
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["order_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, ["o-2", "o-4"], "filtered, ordered, limited");
    let out = run(&["watch", "orders", "--where", "price > 1", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown column \"price\""), "{out:?}");
}

/// A command that changes a view outside a client's live-query window still tells that client
/// its command is in: a delta from the version it holds to the same, without ops, listing it
/// (else a client showing the command optimistically would wait for it forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_outside_the_window_is_still_acked_to_its_sender() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let (me, other) = (client(&server.url()), client(&server.url()));
    let small = Query::view("orders").filter("total < 10");
    let mut mine = me.subscribe(small.clone());
    let mut theirs = other.subscribe(small);
    let snapshot = |event: &ViewEvent| matches!(event, ViewEvent::Snapshot { .. });
    for sub in [&mut mine, &mut theirs] {
        while !snapshot(
            &tokio::time::timeout(Duration::from_secs(20), sub.next()).await.expect("event").expect("open"),
        ) {}
    }
    let ack = me.send("place_order", json!({ "order_id": "o-big", "customer": "Ada", "total": 500 })).await;
    let ack = ack.expect("acked");
    // Mine: the ack-carrying delta with no ops, from and to the version held.
    let delta = loop {
        if let ViewEvent::Delta(d) =
            tokio::time::timeout(Duration::from_secs(20), mine.next()).await.expect("a delta").expect("open")
        {
            break d;
        }
    };
    assert_eq!((delta.from, delta.ops.len()), (delta.to, 0), "{delta:?}");
    assert_eq!(delta.acked.iter().map(|c| c.seq).collect::<Vec<_>>(), [ack.seq]);
    // Theirs: nothing (another client's command touching no row of the window).
    let next = tokio::time::timeout(Duration::from_millis(500), theirs.next()).await;
    assert!(!matches!(next, Ok(Some(ViewEvent::Delta(_)))), "{next:?}");
}
