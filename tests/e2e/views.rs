//! Views defined, replaced and dropped at runtime, over the protocol and the CLI.

use std::collections::BTreeMap;
use std::time::Duration;

use lucarne_protocol::{ErrorCode, Op, ResyncReason};
use lucarne_runtime::{ClientError, LiveView, Status, ViewEvent};
use serde_json::{Map, Value, json};

use crate::support::{Server, client, next_data, subscribed, within};

type Rows = Map<String, Value>;

fn order(id: &str, customer: &str, total: f64) -> Value {
    json!({ "order_id": id, "customer": customer, "total": total })
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> (ErrorCode, String) {
    match result {
        Err(ClientError::Server { code, message }) => (code, message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_defined_at_runtime_is_built_from_the_log_and_then_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    let c = client(&server.url());
    for i in 0..30 {
        let customer = ["Ada", "نور", "דנה"][i % 3];
        c.send("place_order", order(&format!("o-{i}"), customer, i as f64)).await.expect("ack");
    }
    let mut progress = Vec::new();
    let sql = "CREATE VIEW big_spenders AS SELECT customer, COUNT(*) AS n, SUM(total) AS spent \
               FROM orders WHERE total > 10 GROUP BY customer HAVING COUNT(*) > 5";
    let info = within(c.define_view(sql, |done, total| progress.push((done, total)))).await.expect("defined");
    assert_eq!((info.name.as_str(), info.rows), ("big_spenders", 3));
    let (mut sub, snapshot) = subscribed(&c, "big_spenders").await;
    let mut view = LiveView::<Rows>::new();
    view.apply(&snapshot);
    let spent =
        |v: &LiveView<Rows>, who: &str| v.get(&json!(who)).map(|r| (r["n"].clone(), r["spent"].clone()));
    // Totals 11..29 over three customers: i % 3 == 0 → Ada: 12,15,…,27 (6 orders).
    assert_eq!(spent(&view, "Ada"), Some((json!(6), json!(117.0))));

    // Live from now on.
    c.send("place_order", order("o-x", "Ada", 100.0)).await.expect("ack");
    match next_data(&mut sub).await {
        ViewEvent::Delta(d) => {
            view.apply(&ViewEvent::Delta(d));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(spent(&view, "Ada"), Some((json!(7), json!(217.0))));

    // It survives a restart without being rebuilt.
    let server = server.restart();
    let c = client(&server.url());
    let (_, again) = subscribed(&c, "big_spenders").await;
    let ViewEvent::Snapshot { at, rows, .. } = again else { unreachable!() };
    assert_eq!(at, view.position().expect("position"));
    assert_eq!(rows.len(), 3);

    // Dropping tells the subscribers and frees the name.
    let (mut sub, _) = subscribed(&c, "big_spenders").await;
    within(c.drop_view("big_spenders")).await.expect("dropped");
    assert!(matches!(next_data(&mut sub).await, ViewEvent::Failed { code: ErrorCode::UnknownView, .. }));
    assert_eq!(code(within(c.drop_view("big_spenders")).await).0, ErrorCode::UnknownView);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_get_clear_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define", "--max-backfill-events", "5"]);
    let c = client(&server.url());
    let check = |(code, message): (ErrorCode, String), want: ErrorCode, text: &str| {
        assert_eq!(code, want, "{message}");
        assert!(message.contains(text), "{message:?} should contain {text:?}");
    };
    check(
        code(within(c.define_view("CREATE VIEW v AS SELEC x FROM orders", |_, _| {})).await),
        ErrorCode::InvalidSql,
        "line 1, column 18",
    );
    check(
        code(
            within(c.define_view(
                "CREATE VIEW v AS SELECT a, COUNT(*) AS n FROM orders JOIN x ON a = b GROUP BY a",
                |_, _| {},
            ))
            .await,
        ),
        ErrorCode::InvalidSql,
        "JOIN is not supported",
    );
    check(
        code(
            within(c.define_view("CREATE VIEW orders AS SELECT COUNT(*) AS n FROM orders", |_, _| {})).await,
        ),
        ErrorCode::ViewExists,
        "CREATE OR REPLACE",
    );
    for i in 0..6 {
        c.send("place_order", order(&format!("o-{i}"), "Ada", 1.0)).await.expect("ack");
    }
    check(
        code(within(c.define_view("CREATE VIEW n AS SELECT COUNT(*) AS n FROM orders", |_, _| {})).await),
        ErrorCode::ViewTooLarge,
        "over the limit of 5",
    );
    check(
        code(within(c.define_view("CREATE VIEW n AS SELECT COUNT(*) AS n FROM nowhere", |_, _| {})).await),
        ErrorCode::InvalidSql,
        "unknown stream \"nowhere\" (streams: orders) at line 1, column 44",
    );
    check(
        code(
            within(c.define_view(
                "CREATE VIEW n AS SELECT order_id, SUM(price) AS p FROM orders GROUP BY order_id",
                |_, _| {},
            ))
            .await,
        ),
        ErrorCode::InvalidSql,
        "unknown field \"price\": no event of orders has it",
    );
    let names: Vec<_> = c.list_views().await.expect("still serving").into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["by_customer", "orders"]);

    // Without --allow-define the capability is missing.
    let dir = tempfile::tempdir().expect("tempdir");
    let locked = Server::start(dir.path(), &[]);
    let c = client(&locked.url());
    check(
        code(within(c.define_view("CREATE VIEW n AS SELECT COUNT(*) AS n FROM orders", |_, _| {})).await),
        ErrorCode::Unauthorized,
        "--allow-define",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_under_load_never_mixes_epochs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    let writer = client(&server.url());
    for i in 0..200 {
        writer.send("place_order", order(&format!("o-{}", i % 50), "Ada", 1.0)).await.expect("ack");
    }
    let watcher = client(&server.url());
    let (mut sub, snapshot) = subscribed(&watcher, "orders").await;
    let old_epoch = match &snapshot {
        ViewEvent::Snapshot { at, .. } => at.epoch,
        _ => unreachable!(),
    };
    let mut view = LiveView::<Rows>::new();
    view.apply(&snapshot);

    // Keep writing while the view is replaced.
    let load = tokio::spawn({
        let writer = writer.clone();
        async move {
            for i in 0..150 {
                writer.send("pay_order", json!({ "order_id": format!("o-{}", i % 60) })).await.expect("ack");
            }
        }
    });
    let definer = client(&server.url());
    let sql = "CREATE OR REPLACE VIEW orders AS SELECT order_id, COUNT(*) AS events, LAST(type) AS last_type \
               FROM orders GROUP BY order_id";
    let info = within(definer.define_view(sql, |_, _| {})).await.expect("replaced");
    assert_ne!(info.at.epoch, old_epoch);
    load.await.expect("load");

    // The watcher: old-epoch rows, then a resync and only new-epoch rows.
    let mut resynced = false;
    let old_columns = ["order_id", "customer", "total", "status", "events"];
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut sub))
            .await
            .expect("event in time")
            .expect("stream");
        match &event {
            ViewEvent::Status(Status::Resyncing(reason)) => {
                assert_eq!(*reason, ResyncReason::EpochChanged);
                continue;
            }
            ViewEvent::Status(_) => continue,
            ViewEvent::Snapshot { at, resynced: why, .. } => {
                assert_eq!((at.epoch, *why), (info.at.epoch, Some(ResyncReason::EpochChanged)));
                resynced = true;
            }
            ViewEvent::Delta(d) => {
                for op in &d.ops {
                    if let Op::Upsert { row, .. } = op {
                        let columns: Vec<&str> = row.keys().map(String::as_str).collect();
                        if resynced {
                            assert_eq!(columns, ["order_id", "events", "last_type"], "new-epoch rows only");
                        } else {
                            assert_eq!(columns, old_columns, "old-epoch rows only");
                        }
                    }
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!view.apply(&event).out_of_order);
        let caught_up = resynced && view.position().is_some_and(|p| p.epoch == info.at.epoch);
        if caught_up {
            let now = watcher.list_views().await.expect("views");
            let head = now.iter().find(|v| v.name == "orders").expect("orders").at;
            if view.position() == Some(head) {
                break;
            }
        }
    }
    let (_, fresh) = subscribed(&client(&server.url()), "orders").await;
    let mut expected = LiveView::<Rows>::new();
    expected.apply(&fresh);
    let rows =
        |v: &LiveView<Rows>| v.iter().map(|(k, r)| (k.to_string(), r.clone())).collect::<BTreeMap<_, _>>();
    assert_eq!(rows(&view), rows(&expected));
    assert_eq!(expected.len(), 60);
}

/// Two definitions of one name at once, over a log long enough that the first may still be
/// building when the second lands (protocol §10.3): the newest definition is answered
/// `view_defined` and is the one live; the other was either live first or is told it was
/// superseded — never an `internal` error for the newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_that_supersedes_a_build_in_progress_is_answered_and_goes_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    let c = client(&server.url());
    crate::support::place_many(&c, "o", 3000).await;
    let mut superseded = 0;
    for round in 0..3 {
        let sqls = [0, 1].map(|n| {
            format!(
                "CREATE OR REPLACE VIEW racing AS SELECT order_id, SUM(total) AS total_{round}_{n} FROM orders GROUP BY order_id"
            )
        });
        let (first, second) =
            tokio::join!(c.define_view(&sqls[0], |_, _| {}), c.define_view(&sqls[1], |_, _| {}));
        let views = within(c.list_views()).await.expect("list");
        let live = views.iter().find(|v| v.name == "racing").expect("racing is live");
        let answers = [first, second];
        let newest = answers
            .iter()
            .position(|a| a.as_ref().is_ok_and(|info| info.at.epoch == live.at.epoch))
            .unwrap_or_else(|| {
                panic!("the live definition's request was answered view_defined: {answers:?}")
            });
        match &answers[1 - newest] {
            Ok(info) => assert_ne!(info.at.epoch, live.at.epoch, "the other went live first"),
            Err(ClientError::Server { message, .. }) if message.contains("superseded") => superseded += 1,
            Err(e) => panic!("the superseded request is told so: {e:?}"),
        }
        assert_eq!(live.sql, sqls[newest].replace("CREATE OR REPLACE VIEW", "CREATE VIEW"), "round {round}");
    }
    println!("supersede: 3 rounds of two definitions at once, {superseded} superseded a build in progress");
}

/// Money adds up as written: amounts with cents summed by a view give the exact sum of the
/// cents (binary floating point made 0.1 + 0.2 read 0.30000000000000004), as the CLI prints it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sums_of_amounts_are_exact_to_the_cent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let c = client(&server.url());
    // Added as binary numbers, in this order: 0.30000000000000004 and 17893.359999999997.
    let amounts =
        [("Ada", 0.1), ("Ada", 0.2), ("Cents", 17_893.05), ("Cents", 0.1), ("Cents", 0.2), ("Cents", 0.01)];
    for (i, (customer, amount)) in amounts.iter().enumerate() {
        c.send("place_order", order(&format!("m-{i}"), customer, *amount)).await.expect("ack");
    }
    let out = std::process::Command::new(crate::support::bin())
        .args(["watch", "by_customer", "--once"])
        .env("LUCARNE_SERVER", server.url())
        .output()
        .expect("run lucarne watch");
    let printed = String::from_utf8_lossy(&out.stdout);
    let row = |who: &str| printed.lines().find(|l| l.contains(who)).unwrap_or_default().to_owned();
    assert!(row("Ada").contains(r#""spent":0.3"#) && !row("Ada").contains("0.30"), "{printed}");
    assert!(row("Cents").contains(r#""spent":17893.36"#), "{printed}");
}
