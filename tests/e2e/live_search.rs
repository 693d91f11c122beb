//! Live searches against a real server: what each one holds equals a fresh search after every
//! change; on the wire a change that touches nothing found sends nothing and one that does
//! sends only the difference, and a redefinition the difference it makes; a token's row filter
//! holds for every answer; a reader that falls behind is sent everything found afresh; live
//! searches count against a connection's live queries; the command line's `--watch`; an index
//! being built when the server is killed is built again on restart.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lucarne_protocol::{ErrorCode, Found, SearchQuery, SearchSort, ServerMessage};
use lucarne_runtime::{Client, SearchEvent, Subscription};
use serde_json::json;

use crate::support::{
    Server, bin, client_with_token, greeted, greeted_slow, next, place_many, send_json, truth, within,
};

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

    // Redefined to search the order ids only, the index goes on under its new definition:
    // "ada" now finds nothing, and the difference comes as the next delta.
    let by_id = "CREATE SEARCH INDEX orders_search ON orders (order_id) FACETS (status)";
    within(admin.define_search(by_id)).await.expect("redefine");
    let ServerMessage::SearchDelta(delta) = next_for(&mut ws, 1).await else { panic!("a delta") };
    assert_eq!((delta.from, delta.total), (2, 0), "{delta:?}");
    let mut removed: Vec<String> = delta.remove.iter().map(ToString::to_string).collect();
    removed.sort();
    assert_eq!(removed, ["\"o-1\"", "\"o-3\""]);
    assert!(delta.facets["status"].is_empty(), "{delta:?}");

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

/// Places orders `from - n + 1 ..= from` of Ada's in falling order (`z-…`, so each new one
/// ranks first and enters a page of hits), each with 8 KB more in its customer, 8 in flight.
async fn place_large(client: &Client, from: usize, n: usize) {
    let customer = format!("Ada {}", "x".repeat(8000));
    let ids: Vec<usize> = (from + 1 - n..=from).rev().collect();
    for chunk in ids.chunks(8) {
        let sends = chunk.iter().map(|i| {
            client.send(
                "place_order",
                json!({"order_id": format!("z-{i:06}"), "customer": customer, "total": 1}),
            )
        });
        for ack in futures_util::future::join_all(sends).await {
            ack.expect("acked");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_search_whose_reader_falls_behind_is_sent_everything_found_afresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server =
        Server::start(dir.path(), &["--allow-define", "--max-queued-bytes", "262144", "--resync-after", "1"]);
    let admin = crate::support::client(&server.url());
    within(admin.define_search(INDEX)).await.expect("define");
    let mut slow = greeted_slow(&server).await;
    let page = json!({"index": "orders_search", "text": "ada", "facets": ["status"], "limit": 40});
    let mut subscribe = json!({"type": "subscribe_search", "sub": 1});
    subscribe.as_object_mut().expect("object").extend(page.as_object().cloned().unwrap_or_default());
    send_json(&mut slow, subscribe).await;
    let ServerMessage::SearchSnapshot(first) = next_for(&mut slow, 1).await else {
        panic!("a snapshot first")
    };
    assert_eq!(first.found.total, 0);

    // The reader stops reading while orders enter its page (an 8 KB hit each), 500 at a time
    // until one of its deltas has waited past --resync-after for room in its queue (how many
    // that takes depends on how much the kernel's socket buffers absorb first).
    let (mut next_id, mut placed) = (999_999, 0);
    let started = Instant::now();
    while !server.log().contains("a live search's deltas skipped") {
        assert!(started.elapsed() < Duration::from_secs(90), "never skipped:\n{}", server.log());
        within(place_large(&admin, next_id, 500)).await;
        (next_id, placed) = (next_id - 500, placed + 500);
    }

    // Reading again: what was queued, then everything found afresh, a version further on; the
    // deltas after it keep it equal to a fresh search.
    let mut last_delta = None;
    let (mut held, mut version) = loop {
        match next_for(&mut slow, 1).await {
            ServerMessage::SearchDelta(d) => last_delta = Some(d.to),
            ServerMessage::SearchSnapshot(s) => break (s.found, s.version),
            other => panic!("{other:?}"),
        }
    };
    let last_delta = last_delta.expect("the deltas queued before the reader stopped");
    assert!(
        version > last_delta,
        "the fresh snapshot (version {version}) follows the deltas (to {last_delta})"
    );
    let mut request = json!({"type": "search", "id": 9});
    request.as_object_mut().expect("object").extend(page.as_object().cloned().unwrap_or_default());
    let started = Instant::now();
    loop {
        send_json(&mut slow, request.clone()).await;
        let fresh = loop {
            match next(&mut slow).await {
                ServerMessage::SearchResult(r) if r.id == 9 => break r.found,
                ServerMessage::SearchDelta(d) if d.sub == 1 => {
                    assert_eq!(d.from, version, "a delta from the version held");
                    held.apply(&d);
                    version = d.to;
                }
                _ => {}
            }
        };
        if fresh == held {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "holds {} found, a fresh search {}",
            held.total,
            fresh.total
        );
    }
    assert_eq!(held.total, placed);
    assert_eq!(held.hits[0].key, json!(format!("z-{:06}", next_id + 1)), "the last order placed ranks first");
    assert!(server.log().contains("slow consumer caught up; searching afresh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_searches_count_against_a_connections_live_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server =
        Server::start(dir.path(), &["--allow-define", "--max-live-queries", "1", "--max-subscriptions", "2"]);
    let admin = crate::support::client(&server.url());
    within(admin.define_search(INDEX)).await.expect("define");
    let mut ws = greeted(&server, None).await;
    let search =
        |sub: u64| json!({"type": "subscribe_search", "sub": sub, "index": "orders_search", "text": "ada"});
    send_json(&mut ws, search(1)).await;
    assert!(matches!(next_for(&mut ws, 1).await, ServerMessage::SearchSnapshot(_)));
    // A second live search, or a live query, finds no room; a whole view (not a live query) does.
    send_json(&mut ws, search(2)).await;
    let ServerMessage::Error(e) = next_for(&mut ws, 2).await else { panic!("refused") };
    assert_eq!(e.code, ErrorCode::OverBudget, "{e:?}");
    send_json(&mut ws, json!({"type": "subscribe", "sub": 3, "view": "orders", "where": "total > 1"})).await;
    let refused = loop {
        match next(&mut ws).await {
            ServerMessage::Error(e) if e.sub == Some(3) => break e.code,
            _ => {}
        }
    };
    assert_eq!(refused, ErrorCode::OverBudget);
    send_json(&mut ws, json!({"type": "subscribe", "sub": 4, "view": "orders"})).await;
    loop {
        match next(&mut ws).await {
            ServerMessage::SnapshotEnd(end) if end.sub == 4 => break,
            ServerMessage::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }
    // Two subscriptions held: a third of any kind is too many.
    send_json(&mut ws, json!({"type": "subscribe", "sub": 5, "view": "orders"})).await;
    let refused = loop {
        match next(&mut ws).await {
            ServerMessage::Error(e) if e.sub == Some(5) => break e.code,
            _ => {}
        }
    };
    assert_eq!(refused, ErrorCode::TooManySubscriptions);
    // The live search ended, its room is given back.
    send_json(&mut ws, json!({"type": "unsubscribe", "sub": 1})).await;
    assert!(matches!(next_for(&mut ws, 1).await, ServerMessage::Unsubscribed(_)));
    send_json(&mut ws, search(6)).await;
    assert!(matches!(next_for(&mut ws, 6).await, ServerMessage::SearchSnapshot(_)));
}
