//! Scale-out: Lucarne nodes on one NATS JetStream stream, a real NATS cluster of three servers on
//! loopback. Any node serves any view at the same positions, a client moves between nodes and
//! resumes, a command is stored once for good, and nothing acked is lost or doubled when Lucarne
//! nodes or NATS servers are killed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lucarne_protocol::{ErrorCode, Op, Position};
use lucarne_runtime::{Backoff, Client, ClientConfig, ClientError, ViewEvent};
use serde_json::json;

use crate::support::{
    NatsCluster, ORDERS_SQL, Server, Tracker, client, health, place, place_many, subscribed, truth, within,
    writer,
};

/// A client of several nodes that fails over fast.
fn roaming(urls: &[String]) -> Client {
    let backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(400) };
    Client::connect(ClientConfig::servers(urls).backoff(backoff))
}

/// The `orders` view's identity on a node: name, epoch, version and rows of every view.
async fn positions(url: &str) -> Vec<(String, Position, u64)> {
    let views = within(client(url).list_views()).await.expect("list views");
    views.into_iter().map(|v| (v.name, v.at, v.rows)).collect()
}

/// Every acked order is in the view exactly once, and nothing else is.
fn check_exactly_once(orders: &std::collections::BTreeMap<String, crate::support::Rows>, sent: &[String]) {
    let ids: BTreeSet<String> = sent.iter().map(|id| json!(id).to_string()).collect();
    assert_eq!(orders.keys().cloned().collect::<BTreeSet<_>>(), ids, "exactly the commands acked");
    for (key, row) in orders {
        assert_eq!(row["events"], json!(1), "{key} applied exactly once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_sends_the_same_deltas_and_ends_on_the_same_rows() {
    let nats = NatsCluster::start(3);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let nodes: Vec<Server> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| Server::node(d.path(), &nats, &format!("node{i}"), &["--allow-define"]))
        .collect();
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();

    // A subscriber on every node, from the empty view.
    let mut subs = Vec::new();
    for url in &urls {
        let watcher = client(url);
        let (sub, snapshot) = within(subscribed(&watcher, "orders")).await;
        let mut tracker = Tracker::new();
        tracker.apply(&snapshot);
        subs.push((watcher, sub, tracker, Vec::<(u64, u64, Vec<Op>)>::new()));
    }

    // Writers on every node at once.
    let started = Instant::now();
    let writers: Vec<_> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let client = client(url);
            tokio::spawn(async move { place_many(&client, &format!("n{i}"), 150).await })
        })
        .collect();
    let mut sent = Vec::new();
    for w in writers {
        sent.extend(within(w).await.expect("writer"));
    }
    let took = started.elapsed();

    // Every node ends at the same position with the same rows; every subscriber saw the same
    // deltas, whichever node it was on.
    let (rows, at) = truth(&urls[0], "orders").await;
    for url in &urls[1..] {
        // A node acks what it folded; the others fold it a moment later.
        let started = Instant::now();
        while truth(url, "orders").await != (rows.clone(), at) {
            assert!(started.elapsed() < Duration::from_secs(30), "{url} serves the same view");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for (_, sub, tracker, deltas) in &mut subs {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tracker.at != Some(at) {
            let event = tokio::time::timeout_at(deadline, sub.next()).await.expect("deltas").expect("open");
            if let ViewEvent::Delta(d) = &event {
                deltas.push((d.from, d.to, d.ops.clone()));
            }
            tracker.apply(&event);
        }
        assert_eq!(tracker.rows(), rows);
        assert_eq!(tracker.resynced, 0);
    }
    assert_eq!(subs[0].3, subs[1].3, "node0 and node1 sent the same deltas");
    assert_eq!(subs[0].3, subs[2].3, "node0 and node2 sent the same deltas");
    check_exactly_once(&rows, &sent);
    println!(
        "cluster: {} commands through 3 nodes in {took:?} ({:.0}/s); each subscriber got the same {} deltas, view at {at:?}",
        sent.len(),
        sent.len() as f64 / took.as_secs_f64(),
        subs[0].3.len()
    );

    // A view defined on one node is built by every node under the same epoch.
    let admin = client(&urls[1]);
    let sql = format!("CREATE VIEW orders_again AS {ORDERS_SQL}");
    within(admin.define_view(&sql, |_, _| {})).await.expect("define on node1");
    let expected = positions(&urls[1]).await;
    assert!(expected.iter().any(|(name, _, _)| name == "orders_again"));
    for url in [&urls[0], &urls[2]] {
        let started = Instant::now();
        while positions(url).await != expected {
            assert!(started.elapsed() < Duration::from_secs(30), "{url} has the view at the same position");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_node_is_killed_resumes_on_another_and_nothing_acked_is_lost_or_doubled() {
    let nats = NatsCluster::start(3);
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = Server::node(dir_a.path(), &nats, "a", &[]);
    let b = Server::node(dir_b.path(), &nats, "b", &[]);
    let (url_a, url_b) = (a.url(), b.url());
    let both = [url_a.clone(), url_b.clone()];

    let watcher = roaming(&both);
    let (mut sub, snapshot) = within(subscribed(&watcher, "orders")).await;
    let mut tracker = Tracker::new();
    tracker.apply(&snapshot);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..3)
        .map(|w| tokio::spawn(writer(roaming(&both), format!("w{w}"), stop.clone(), acked.clone())))
        .collect();

    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(event)) = tokio::time::timeout_at(until, sub.next()).await {
        tracker.apply(&event);
    }
    let before = acked.load(Ordering::Relaxed);
    assert!(before > 0, "commands were acked before the kill");
    let killed = Instant::now();
    a.kill();
    // Writes go on through b.
    while acked.load(Ordering::Relaxed) < before + 200 {
        assert!(killed.elapsed() < Duration::from_secs(30), "writes go on through b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let moved = killed.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for w in writers {
        sent.extend(within(w).await.expect("writer"));
    }
    let (rows, at) = truth(&url_b, "orders").await;
    tracker.converge(&mut sub, at).await;
    println!(
        "node killed: {before} acked before, {} in all; 200 more acked {moved:?} after the kill; \
         the watcher resumed {} and resynced {} times over {} deltas",
        sent.len(),
        tracker.resumed,
        tracker.resynced,
        tracker.deltas
    );
    check_exactly_once(&rows, &sent);
    assert_eq!(tracker.rows(), rows);
    assert!(tracker.resumed >= 1, "the watcher resumed on b");
    assert_eq!(tracker.resynced, 0, "b knew the watcher's position: no resync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_stored_once_for_good_past_the_duplicate_window() {
    let nats = NatsCluster::start(1);
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = Server::node(dir_a.path(), &nats, "a", &["--duplicate-window", "1"]);
    let b = Server::node(dir_b.path(), &nats, "b", &["--duplicate-window", "1"]);
    let first = Client::connect(ClientConfig::new(a.url()).client_id("twice"));
    let ack = within(first.send_with_seq(1, "place_order", place("once", 1))).await.expect("acked");
    assert!(!ack.duplicate);
    // JetStream forgets message ids after its window (1 s here); the command's own subject
    // does not.
    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_millis(1500)).await;
    let again = Client::connect(ClientConfig::new(b.url()).client_id("twice"));
    let second = within(again.send_with_seq(1, "place_order", place("once", 1))).await.expect("acked");
    assert!(second.duplicate, "the same (client_id, seq) on another node, after the window");
    assert_eq!(second.position, ack.position, "answered with the first append's position");
    let (rows, _) = truth(&b.url(), "orders").await;
    assert_eq!(rows.len(), 1);
    println!("dedup: acked at position {}, the retry 1.5 s later on another node: duplicate", ack.position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_on_while_nats_servers_die_and_everything_restarts_to_the_same_views() {
    let mut nats = NatsCluster::start(3);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let a = Server::node(dirs[0].path(), &nats, "a", &["--allow-define"]);
    let b = Server::node(dirs[1].path(), &nats, "b", &[]);
    let url_a = a.url();

    // Writers on a while each NATS server in turn (so the stream's leader too) is killed and
    // started again; b is down for a while meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..2)
        .map(|w| tokio::spawn(writer(client(&url_a), format!("w{w}"), stop.clone(), acked.clone())))
        .collect();
    let b_stopped = b.kill();
    let mut progress = Vec::new();
    for i in 0..3 {
        let before = acked.load(Ordering::Relaxed);
        nats.kill(i);
        let killed = Instant::now();
        while acked.load(Ordering::Relaxed) < before + 100 {
            if killed.elapsed() > Duration::from_secs(30) {
                let log = a.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!("writes did not go on without NATS server {i}; node a:\n{}", tail.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        progress.push(killed.elapsed());
        nats.restart(i);
    }
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for w in writers {
        sent.extend(within(w).await.expect("writer"));
    }
    println!(
        "NATS servers killed in turn: 100 more commands acked within {progress:?} of each kill; {} in all",
        sent.len()
    );

    // Everything dies at once, then comes back: b after being down, and a new node c.
    let a_stopped = a.kill();
    for i in 0..3 {
        nats.kill(i);
    }
    for i in 0..3 {
        nats.restart(i);
    }
    let a = Server::spawn(a_stopped.0, a_stopped.1, a_stopped.2);
    let b = Server::spawn(b_stopped.0, b_stopped.1, b_stopped.2);
    let c = Server::node(dirs[2].path(), &nats, "c", &[]);
    let (rows, at) = truth(&a.url(), "orders").await;
    check_exactly_once(&rows, &sent);
    for node in [&b, &c] {
        assert_eq!(truth(&node.url(), "orders").await, (rows.clone(), at), "every node has every command");
    }
    assert!(c.log().contains("joined the cluster at stream sequence"), "{}", c.log());

    // The folded view equals its recomputation from the whole stream, built on every node.
    let admin = client(&a.url());
    // Right after NATS came back its streams may still be recovering: the server answers
    // `unavailable` (nothing defined for sure) and the definition is sent again, as an
    // operator's tool would.
    let sql = format!("CREATE VIEW orders_recomputed AS {ORDERS_SQL}");
    let started = Instant::now();
    loop {
        match within(admin.define_view(&sql, |_, _| {})).await {
            Ok(_) => break,
            Err(ClientError::Server { code: ErrorCode::ViewExists, .. }) => break,
            Err(ClientError::Server { code: ErrorCode::Unavailable, message })
                if started.elapsed() < Duration::from_secs(30) =>
            {
                eprintln!("define the recomputation: unavailable ({message}); again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("define the recomputation: {e:?}"),
        }
    }
    // The definition is acked once it is in the stream; every node, this one too, builds the
    // view when it folds it: the positions to wait for include it.
    let started = Instant::now();
    let expected = loop {
        let here = positions(&a.url()).await;
        if here.iter().any(|(name, ..)| name == "orders_recomputed") {
            break here;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{} defined the recomputation", a.url());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for node in [&b, &c] {
        let started = Instant::now();
        while positions(&node.url()).await != expected {
            assert!(started.elapsed() < Duration::from_secs(30), "{} built the recomputation", node.url());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (recomputed, _) = truth(&node.url(), "orders_recomputed").await;
        assert_eq!(recomputed, rows, "the folded view equals its recomputation from the stream");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_its_log_refuses_commands_and_says_so_until_it_is_back() {
    let mut nats = NatsCluster::start(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Server::node(dir.path(), &nats, "a", &[]);
    assert!(health(&node).await.starts_with("http/1.1 200"));
    let c = client(&node.url());
    within(c.send("place_order", place("before", 1))).await.expect("acked");
    nats.kill(0);
    let lost = Instant::now();
    while !health(&node).await.starts_with("http/1.1 503") {
        assert!(lost.elapsed() < Duration::from_secs(30), "/healthz says the log is out of reach");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let told = lost.elapsed();
    // A command sent meanwhile is refused `unavailable`; the runtime sends it again until the
    // log is back, and it is stored once.
    let pending = tokio::spawn({
        let c = c.clone();
        async move { c.send("place_order", place("during", 2)).await }
    });
    nats.restart(0);
    let back = Instant::now();
    while !health(&node).await.starts_with("http/1.1 200") {
        assert!(back.elapsed() < Duration::from_secs(30), "/healthz is ok again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    within(pending).await.expect("task").expect("acked once the log is back");
    let (rows, _) = truth(&node.url(), "orders").await;
    check_exactly_once(&rows, &["before".into(), "during".into()]);
    println!("log lost: /healthz 503 after {told:?}; ok again {:?} after NATS restarted", back.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_index_defined_on_one_node_answers_alike_on_every_node_and_is_dropped_on_all() {
    let nats = NatsCluster::start(3);
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let a = Server::node(dirs[0].path(), &nats, "a", &["--allow-define"]);
    let b = Server::node(dirs[1].path(), &nats, "b", &[]);
    let (on_a, on_b) = (client(&a.url()), client(&b.url()));
    let mut sent = within(place_many(&on_b, "s", 40)).await;
    let index = "CREATE SEARCH INDEX orders_search ON orders (customer, order_id) FACETS (status)";
    within(on_a.define_search(index)).await.expect("define on a");
    let query = lucarne_protocol::SearchQuery {
        text: "ada".into(),
        facets: vec!["status".into()],
        limit: 100,
        ..Default::default()
    };
    // A live search on a; more orders through b; each node folds the stream into its own index.
    let mut live = on_a.watch_search("orders_search", query.clone());
    sent.extend(within(place_many(&on_b, "t", 20)).await);
    let ada = (0..40).chain(0..20).filter(|n| place("x", *n)["customer"] == "Ada").count() as u64;
    let mut held = None;
    let started = Instant::now();
    loop {
        let fresh = within(on_b.search("orders_search", query.clone())).await;
        if let Ok(fresh) = &fresh
            && fresh.total == ada
            && held.as_ref() == Some(fresh)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a's live search {held:?}, b's search {fresh:?}"
        );
        if let Ok(Some(lucarne_runtime::SearchEvent::Found(found))) =
            tokio::time::timeout(Duration::from_millis(200), live.next()).await
        {
            held = Some(found);
        }
    }
    assert_eq!(sent.len(), 60);

    // Dropped on a: a live search on b ends too (each node forgets the index it built when the
    // stream brings the drop).
    let mut on_b_live = on_b.watch_search("orders_search", query);
    within(async {
        while !matches!(on_b_live.next().await, Some(lucarne_runtime::SearchEvent::Found(_))) {}
    })
    .await;
    within(on_a.drop_search("orders_search")).await.expect("drop on a");
    let ended = within(async {
        loop {
            match on_b_live.next().await {
                Some(lucarne_runtime::SearchEvent::Failed { code, .. }) => return code,
                Some(_) => continue,
                None => panic!("ended without a word"),
            }
        }
    })
    .await;
    assert_eq!(ended, ErrorCode::UnknownSearch);
}
