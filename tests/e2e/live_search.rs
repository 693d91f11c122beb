//! Live searches against a real server: what each one holds equals a fresh search after every
//! change; on the wire a change that touches nothing found sends nothing and one that does
//! sends only the difference; a token's row filter holds for every answer; the command line's
//! `--watch`; an index being built when the server is killed is built again on restart.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lucarne_protocol::{ErrorCode, Found, SearchQuery, SearchSort, ServerMessage};
use lucarne_runtime::{Client, SearchEvent, Subscription};
use serde_json::json;

use crate::support::{Server, bin, client_with_token, greeted, next, place_many, send_json, truth, within};

const INDEX: &str = "CREATE SEARCH INDEX orders_search ON orders (customer, order_id) FACETS (status)";

fn query(text: &str) -> SearchQuery {
    SearchQuery { text: text.into(), facets: vec!["status".into()], ..Default::default() }
}

/// Waits until what the live search holds equals a fresh search of the same query by the same
/// client (both follow the index as the view's changes reach it).
async fn check(
    client: &Client,
    live: &mut Subscription<SearchEvent>,
    held: &mut Option<Found>,
    q: &SearchQuery,
) {
    let started = Instant::now();
    loop {
        let fresh = client.search("orders_search", q.clone()).await.expect("a fresh search");
        if held.as_ref() == Some(&fresh) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the live search {q:?} holds {held:?}, a fresh search finds {fresh:?}"
        );
        match tokio::time::timeout(Duration::from_millis(200), live.next()).await {
            Ok(Some(SearchEvent::Found(found))) => *held = Some(found),
            Ok(Some(SearchEvent::Failed { code, message })) => panic!("{q:?} ended: {code} {message}"),
            Ok(Some(SearchEvent::Status(_))) | Err(_) => {}
            Ok(None) => panic!("the live search ended"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_search_equals_a_fresh_search_after_every_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with_tokens(dir.path(), &[]);
    let admin =
        client_with_token(&server.url(), &server.token(&["--views", "*", "--commands", "*", "--define"]));
    within(admin.define_search(INDEX)).await.expect("define");
    let ada_only = server.token(&["--views", "orders", "--rows", "orders=customer = 'Ada Lovelace'"]);
    let ada = client_with_token(&server.url(), &ada_only);

    // A page of the best matches of a prefix; a filtered, selected and sorted page; the words
    // of one customer; every row a row-filtered token may see.
    let queries = [
        SearchQuery { limit: 3, ..query("ada") },
        SearchQuery {
            filter: Some("total > 10".into()),
            selected: BTreeMap::from([("status".into(), ["pay_order".to_owned()].into())]),
            sort: vec![SearchSort { column: "total".into(), descending: true }],
            limit: 4,
            ..query("")
        },
        query("lovelcae"),
    ];
    let mut live: Vec<_> =
        queries.iter().map(|q| (admin.watch_search("orders_search", q.clone()), None)).collect();
    let mut mine = (ada.watch_search("orders_search", query("")), None);

    let customers = ["Ada Lovelace", "Adam Smith", "Grace Hopper", "Ada King"];
    let mut dice = fastrand::Rng::with_seed(17);
    for step in 0..30 {
        let id = format!("o-{}", dice.u8(..12));
        let (name, payload) = if step % 3 == 2 {
            ("pay_order", json!({ "order_id": id }))
        } else {
            let customer = customers[dice.usize(..customers.len())];
            ("place_order", json!({ "order_id": id, "customer": customer, "total": dice.u32(0..40) }))
        };
        within(admin.send(name, payload)).await.expect("acked");
        for ((sub, held), q) in live.iter_mut().zip(&queries) {
            within(check(&admin, sub, held, q)).await;
        }
        within(check(&ada, &mut mine.0, &mut mine.1, &query(""))).await;
        let seen = mine.1.as_ref().expect("found");
        assert!(
            seen.hits.iter().all(|h| h.row["customer"] == "Ada Lovelace"),
            "a row-filtered token sees only its rows: {seen:?}"
        );
    }
    let counted: u64 = mine.1.as_ref().expect("found").facets["status"].iter().map(|c| c.count).sum();
    assert_eq!(counted, mine.1.as_ref().expect("found").total, "and counts only them");

    // Dropped: every live search ends, told why.
    within(admin.drop_search("orders_search")).await.expect("drop");
    let ended = within(async {
        loop {
            match live[0].0.next().await {
                Some(SearchEvent::Failed { code, .. }) => return code,
                Some(_) => continue,
                None => panic!("ended without a word"),
            }
        }
    })
    .await;
    assert_eq!(ended, ErrorCode::UnknownSearch);
}

/// The next message for subscription `sub` (others skipped).
async fn next_for(ws: &mut crate::support::Socket, sub: u64) -> ServerMessage {
    loop {
        let msg = next(ws).await;
        let of = match &msg {
            ServerMessage::SearchSnapshot(s) => Some(s.sub),
            ServerMessage::SearchDelta(d) => Some(d.sub),
            ServerMessage::Error(e) => e.sub,
            ServerMessage::Unsubscribed(u) => Some(u.sub),
            _ => None,
        };
        if of == Some(sub) {
            return msg;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_wire_a_live_search_is_sent_only_what_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    let admin = crate::support::client(&server.url());
    within(admin.define_search(INDEX)).await.expect("define");
    within(admin.send("place_order", json!({"order_id": "o-1", "customer": "Ada Lovelace", "total": 5})))
        .await
        .expect("acked");

    let mut ws = greeted(&server, None).await;
    let subscribe = json!({"type": "subscribe_search", "sub": 1, "index": "orders_search", "text": "ada",
                           "facets": ["status"], "limit": 2});
    send_json(&mut ws, subscribe.clone()).await;
    let ServerMessage::SearchSnapshot(first) = next_for(&mut ws, 1).await else { panic!("a snapshot first") };
    assert_eq!((first.version, first.found.total, first.found.hits.len()), (0, 1, 1));
    // The id is taken while it runs; an unknown index is refused with the sub.
    send_json(&mut ws, subscribe).await;
    let ServerMessage::Error(e) = next_for(&mut ws, 1).await else { panic!("refused") };
    assert_eq!(e.code, ErrorCode::DuplicateSubscription);
    send_json(&mut ws, json!({"type": "subscribe_search", "sub": 2, "index": "nope"})).await;
    let ServerMessage::Error(e) = next_for(&mut ws, 2).await else { panic!("refused") };
    assert_eq!(e.code, ErrorCode::UnknownSearch);

    // Grace's order is not found by "ada": nothing is sent; Ada King's is, as one delta from 0.
    for (id, customer) in [("o-2", "Grace Hopper"), ("o-3", "Ada King")] {
        let order = json!({"order_id": id, "customer": customer, "total": 9});
        within(admin.send("place_order", order)).await.expect("acked");
    }
    let ServerMessage::SearchDelta(delta) = next_for(&mut ws, 1).await else { panic!("a delta") };
    assert_eq!((delta.from, delta.to, delta.total), (0, 1, 2));
    assert_eq!(delta.upsert.iter().map(|h| h.key.clone()).collect::<Vec<_>>(), [json!("o-3")]);
    assert!(delta.remove.is_empty() && delta.order.is_none(), "appended: {delta:?}");
    assert_eq!(delta.facets["status"][0].count, 2, "{delta:?}");
    // Paying o-1 changes its row and moves a count; the page stays in its order.
    within(admin.send("pay_order", json!({"order_id": "o-1"}))).await.expect("acked");
    let ServerMessage::SearchDelta(delta) = next_for(&mut ws, 1).await else { panic!("a delta") };
    assert_eq!((delta.from, delta.total, delta.upsert.len()), (1, 2, 1));
    assert_eq!(delta.upsert[0].row["status"], "pay_order");
    let counts: Vec<(String, u64)> =
        delta.facets["status"].iter().map(|c| (c.value.clone(), c.count)).collect();
    assert_eq!(counts, [("pay_order".to_owned(), 1), ("place_order".to_owned(), 1)]);

    send_json(&mut ws, json!({"type": "unsubscribe", "sub": 1})).await;
    assert!(matches!(next_for(&mut ws, 1).await, ServerMessage::Unsubscribed(_)));
}

#[test]
fn the_command_line_watches_a_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    let lucarne = |args: &[&str]| {
        let out = Command::new(bin()).args(args).env("LUCARNE_SERVER", server.url()).output().expect("run");
        assert!(out.status.success(), "{out:?}");
    };
    lucarne(&["search-index", "define", INDEX]);
    lucarne(&["send", "place_order", r#"{"order_id":"o-1","customer":"Ada Lovelace","total":5}"#]);
    let mut watch = Command::new(bin())
        .args(["search", "orders_search", "ada", "--facet", "status", "--json", "--watch"])
        .env("LUCARNE_SERVER", server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lucarne search --watch");
    // Lines are read on a thread, so that a missing one fails the test instead of hanging it.
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_total = || {
        let line = lines.recv_timeout(Duration::from_secs(20)).expect("an answer within 20 s");
        let found: Found = serde_json::from_str(&line).expect("an answer per line");
        found.total
    };
    assert_eq!(next_total(), 1);
    lucarne(&["send", "place_order", r#"{"order_id":"o-2","customer":"Ada King","total":7}"#]);
    assert_eq!(next_total(), 2);
    let _ = watch.kill();
    let _ = watch.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_being_built_when_the_server_is_killed_is_built_again_on_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    let url = server.url();
    let admin = crate::support::client(&url);
    within(place_many(&admin, "k", 3000)).await;
    within(admin.define_search(INDEX)).await.expect("define");
    // The first search starts the build; the server dies under it.
    let search = tokio::spawn({
        let admin = admin.clone();
        async move { admin.search("orders_search", query("")).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let server = server.restart();
    let _ = search.await;
    let (view, _) = truth(&server.url(), "orders").await;
    let admin = crate::support::client(&server.url());
    let found = within(async {
        loop {
            match admin.search("orders_search", SearchQuery { limit: 0, ..query("") }).await {
                Ok(found) => return found,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert_eq!(found.total, view.len() as u64, "the index holds every row of the view");
    let counted: u64 = found.facets["status"].iter().map(|c| c.count).sum();
    assert_eq!(counted, 3000);
}
