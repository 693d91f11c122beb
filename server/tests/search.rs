//! Search indexes over a view, defined through the log and searched through the engine: hits
//! with typos and facet counts, kept current as commands change the view, the caller's filter
//! applied, definitions checked against the view, dropped, and kept across a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lucarne_demo as demo;
use lucarne_protocol::CommandRef;
use lucarne_search::{Found, SearchQuery};
use lucarne_server::engine::{ViewError, ViewPolicy};
use lucarne_server::expr::{Field, Record};
use lucarne_server::search::SearchFailure;
use lucarne_server::{Engine, Store, sql};
use serde_json::{Value, json};

const INDEX: &str =
    "CREATE SEARCH INDEX orders_search ON orders (customer, order_id)\n  FACETS (status, region)";

fn engine(dir: &std::path::Path) -> Arc<Engine> {
    let mut store = Store::open(dir).expect("store");
    store.install_views(sql::parse_views(demo::VIEWS_SQL).expect("views"), |_, _, _| {}).expect("install");
    Engine::with_policy(store, demo::commands(), ViewPolicy { allow_define: true, ..ViewPolicy::default() })
}

async fn send(engine: &Engine, seq: u64, name: &str, payload: Value) {
    let key = CommandRef { client_id: "t".into(), seq };
    engine.execute(key, name, &payload).await.expect("command");
}

fn request(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        facets: vec!["status".into(), "region".into()],
        limit: 50,
        ..Default::default()
    }
}

/// The keys found, in order, and the status counts.
fn seen(found: &Found) -> (Vec<String>, BTreeMap<String, u64>) {
    let keys = found.hits.iter().map(|h| h.key.as_str().unwrap_or("?").to_owned()).collect();
    let status = found
        .facets
        .get("status")
        .map(|c| c.iter().map(|c| (c.value.clone(), c.count)).collect())
        .unwrap_or_default();
    (keys, status)
}

/// Searches until the result is `expected` (the index follows the view's changes as they come).
async fn check(
    engine: &Arc<Engine>,
    text: &str,
    filter: fn(&dyn Record) -> bool,
    expected: (&[&str], &[(&str, u64)]),
) -> Found {
    let want = (
        expected.0.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        expected.1.iter().map(|(v, n)| (v.to_string(), *n)).collect::<BTreeMap<_, _>>(),
    );
    let started = Instant::now();
    loop {
        let found =
            engine.search("orders_search", request(text), std::sync::Arc::new(filter)).await.expect("search");
        if seen(&found) == want {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "searching {text:?}: {:?}, expected {want:?}",
            seen(&found)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn everything(_: &dyn Record) -> bool {
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_index_follows_its_view_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path());
    let order = |id: &str, customer: &str, total: f64, region: &str| json!({ "order_id": id, "customer": customer, "total": total, "region": region });
    send(&engine, 1, "place_order", order("o-1", "Ada Lovelace", 40.0, "eu")).await;
    send(&engine, 2, "place_order", order("o-2", "نُور الهدى", 12.5, "mena")).await;
    send(&engine, 3, "place_order", order("o-3", "Grace Hopper", 7.0, "us")).await;

    // Definitions are checked against the view, with the position of what is wrong.
    assert_eq!(refused(&engine, "CREATE SEARCH INDEX s ON nowhere (customer)").await, ("invalid_sql", 1, 26));
    assert_eq!(
        refused(&engine, "CREATE SEARCH INDEX s ON orders (customer) FACETS (colour)").await,
        ("invalid_sql", 1, 52)
    );
    assert_eq!(refused(&engine, "CREATE SEARCH INDEX s ON orders customer").await, ("invalid_sql", 1, 33));
    assert_eq!(engine.define_search(INDEX).await.expect("define"), "orders_search");

    // Typos by word length, the last word as typed, folded Arabic.
    let found = check(&engine, "lovelcae", everything, (&["o-1"], &[("placed", 1)])).await;
    assert_eq!(found.hits[0].typos, 1);
    check(&engine, "gra", everything, (&["o-3"], &[("placed", 1)])).await;
    check(&engine, "نور", everything, (&["o-2"], &[("placed", 1)])).await;
    check(&engine, "", everything, (&["o-1", "o-2", "o-3"], &[("placed", 3)])).await;
    // The caller's filter applies to the hits and the counts.
    check(
        &engine,
        "",
        |r| r.field(&Field::Path(vec!["total".into()])).as_f64().is_some_and(|t| t > 10.0),
        (&["o-1", "o-2"], &[("placed", 2)]),
    )
    .await;

    // Commands change the view: the index follows.
    send(&engine, 4, "pay_order", json!({ "order_id": "o-1" })).await;
    check(&engine, "", everything, (&["o-1", "o-2", "o-3"], &[("paid", 1), ("placed", 2)])).await;
    send(&engine, 5, "place_order", order("o-4", "Ada Byron", 3.0, "eu")).await;
    check(&engine, "ada", everything, (&["o-1", "o-4"], &[("paid", 1), ("placed", 1)])).await;

    // Kept across a restart: built again from the view.
    drop(engine);
    let engine = engine_after_restart(dir.path());
    check(&engine, "ada", everything, (&["o-1", "o-4"], &[("paid", 1), ("placed", 1)])).await;
    engine.drop_search("orders_search").await.expect("drop");
    let gone = engine.search("orders_search", request("ada"), std::sync::Arc::new(everything)).await;
    assert_eq!(gone.map(|f| f.total), Err(SearchFailure::UnknownIndex("orders_search".into())));
    assert!(matches!(engine.drop_search("orders_search").await, Err(ViewError::UnknownSearch(_))));
}

fn engine_after_restart(dir: &std::path::Path) -> Arc<Engine> {
    // The writer of the engine dropped before closes the database as it stops.
    lucarne_testing::wait_for("the store to be closed", Duration::from_secs(10), || Store::open(dir).is_ok());
    engine(dir)
}

/// The code and position of a definition's refusal.
async fn refused(engine: &Engine, sql: &str) -> (&'static str, u64, u64) {
    match engine.define_search(sql).await {
        Err(ViewError::Sql(e)) => (e.code().as_str(), e.line, e.column),
        other => panic!("expected an SQL error, got {other:?}"),
    }
}
