//! Faults: a server killed (SIGKILL) while clients send at full speed, sockets dropped at random
//! again and again, and a thousand clients dropped at once. Nothing acked is lost or applied
//! twice, views equal their recomputation from the log, every client resumes or resyncs without
//! an undetected gap and ends equal to a fresh snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lucarne_runtime::{Client, ClientConfig, LiveView, ViewEvent};
use serde_json::{Map, Value, json};

use crate::support::{ORDERS_SQL, Proxy, Server, Tracker, client, place, subscribed, truth, within, writer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_full_load_loses_no_acked_command_and_views_equal_their_recomputation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    let url = server.url();
    let watcher = client(&url);
    let (mut sub, snapshot) = within(subscribed(&watcher, "orders")).await;
    let mut tracker = Tracker::new();
    tracker.apply(&snapshot);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| tokio::spawn(writer(client(&url), format!("w{w}"), stop.clone(), acked.clone())))
        .collect();

    // Let them run at full speed, applying what arrives meanwhile.
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(event)) = tokio::time::timeout_at(until, sub.next()).await {
        tracker.apply(&event);
    }
    let before_kill = acked.load(Ordering::Relaxed);
    assert!(before_kill > 0, "commands were acked before the kill");
    // Kept alive (a `Server` is killed when dropped) until the end of the test.
    let _server = tokio::task::spawn_blocking(move || server.restart()).await.expect("restart");
    let down = acked.load(Ordering::Relaxed);
    // Keep sending on the restarted server for a while, then stop.
    let until = tokio::time::Instant::now() + Duration::from_millis(1000);
    while let Ok(Some(event)) = tokio::time::timeout_at(until, sub.next()).await {
        tracker.apply(&event);
    }
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for w in writers {
        sent.extend(within(w).await.expect("writer"));
    }
    eprintln!(
        "crash: {before_kill} acked before SIGKILL, {} while the server restarted, {} in all; \
         watcher resumed {} / resynced {} times over {} deltas",
        down - before_kill,
        sent.len(),
        tracker.resumed,
        tracker.resynced,
        tracker.deltas
    );

    // Every command sent (all were acked) is in the log exactly once: the view counts events
    // per order, and every order is placed once.
    let (orders, at) = truth(&url, "orders").await;
    let ids: BTreeSet<String> = sent.iter().map(|id| json!(id).to_string()).collect();
    assert_eq!(orders.keys().cloned().collect::<BTreeSet<_>>(), ids, "exactly the commands sent");
    for (key, row) in &orders {
        assert_eq!(row["events"], json!(1), "{key} applied exactly once");
    }

    // The folded view equals its recomputation from the whole log.
    let admin = client(&url);
    let sql = format!("CREATE VIEW orders_recomputed AS {ORDERS_SQL}");
    within(admin.define_view(&sql, |_, _| {})).await.expect("define the recomputation");
    let (recomputed, _) = truth(&url, "orders_recomputed").await;
    assert_eq!(recomputed, orders, "the folded view equals its recomputation from the log");

    // The watcher, connected through the crash, converges to the same rows.
    tracker.converge(&mut sub, at).await;
    assert!(tracker.resumed + tracker.resynced >= 1, "the watcher reconnected");
    assert_eq!(tracker.rows(), orders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_socket_drops_never_leave_a_gap_and_every_copy_converges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let url = server.url();
    let proxy = Proxy::start(server.addr).await;
    let mut watchers = Vec::new();
    for _ in 0..5 {
        let watcher = client(&proxy.url());
        let (sub, snapshot) = within(subscribed(&watcher, "orders")).await;
        let mut tracker = Tracker::new();
        tracker.apply(&snapshot);
        watchers.push((watcher, sub, tracker));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn(writer(client(&url), "soak".to_owned(), stop.clone(), acked.clone()));

    // 30 cuts at pseudo-random intervals of 50–350 ms; the watchers read all along.
    let mut dice = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
    let started = Instant::now();
    for _ in 0..30 {
        let until = tokio::time::Instant::now() + Duration::from_millis(dice.u64(50..350));
        loop {
            let next = futures_util::future::select_all(watchers.iter_mut().map(|(_, sub, _)| sub.next()));
            match tokio::time::timeout_at(until, next).await {
                Ok((Some(event), index, _)) => watchers[index].2.apply(&event),
                Ok((None, _, _)) => panic!("a subscription ended"),
                Err(_) => break,
            }
        }
        proxy.cut();
    }
    stop.store(true, Ordering::Relaxed);
    let sent = within(writer).await.expect("writer");

    let (rows, at) = truth(&url, "orders").await;
    assert_eq!(rows.len(), sent.len(), "every command sent is in the view");
    let (mut resumed, mut resynced) = (0, 0);
    for (_, sub, tracker) in &mut watchers {
        tracker.converge(sub, at).await;
        assert_eq!(tracker.rows(), rows, "each copy equals a fresh snapshot");
        resumed += tracker.resumed;
        resynced += tracker.resynced;
    }
    eprintln!(
        "soak: 30 cuts in {:?}, {} commands, 5 watchers resumed {resumed} and resynced {resynced} times",
        started.elapsed(),
        sent.len()
    );
    assert!(resumed + resynced >= 30, "every cut was noticed by the watchers ({resumed} + {resynced})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_kept_in_an_outbox_file_are_sent_by_the_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let url = server.url();
    let (data, addr, args) = server.kill();
    let outbox = dir.path().join("app-state/outbox.json");
    let kept = || std::fs::read_to_string(&outbox).unwrap_or_default();

    // First run, server down: the command waits in the outbox file; then the app goes away.
    let first = Client::connect(ClientConfig::new(url.clone()).outbox_file(&outbox));
    let id = first.client_id().to_owned();
    let sending = tokio::spawn({
        let first = first.clone();
        async move { first.send("place_order", place("o-kept", 7)).await }
    });
    let started = Instant::now();
    while !kept().contains("o-kept") {
        assert!(started.elapsed() < Duration::from_secs(10), "the command never reached the outbox file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sending.abort();
    drop(first);
    assert!(kept().contains(&id), "the file keeps the client id: {}", kept());
    let_go(&outbox).await;

    // Second run, server back: same client id, the command is sent, applied once, and the file
    // empties; the next command continues the sequence.
    let server = Server::spawn(data, addr, args);
    let second = Client::connect(ClientConfig::new(url.clone()).outbox_file(&outbox));
    assert_eq!(second.client_id(), id);
    let started = Instant::now();
    loop {
        let (orders, _) = truth(&url, "orders").await;
        if let Some(order) = orders.get("\"o-kept\"") {
            assert_eq!(order["events"], json!(1), "applied once: {order:?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the kept command never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    while kept().contains("o-kept") {
        assert!(started.elapsed() < Duration::from_secs(10), "the answered command stays in the file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ack = within(second.send("place_order", place("o-next", 8))).await.expect("ack");
    assert_eq!(ack.seq, 2, "the sequence goes on after the kept command");

    // A second app on the same file while this one runs takes a sibling file and its own
    // client id: its commands are not mistaken for this one's (same id and seq) and dropped.
    let other = Client::connect(ClientConfig::new(url.clone()).outbox_file(&outbox));
    assert_ne!(other.client_id(), id);
    within(other.send("place_order", place("o-other", 9))).await.expect("ack");
    let (orders, _) = truth(&url, "orders").await;
    assert_eq!(orders.get("\"o-other\"").map(|o| o["events"].clone()), Some(json!(1)), "{orders:?}");
    assert!(dir.path().join("app-state/outbox.2.json").is_file(), "the other app's file");
    drop((second, other));
    drop(server);
    let_go(&outbox).await;

    // A file that is not an outbox is set aside, not fatal.
    std::fs::write(&outbox, "garbage").expect("write");
    let third = Client::connect(ClientConfig::new(url).outbox_file(&outbox));
    assert_ne!(third.client_id(), id);
    let bad = dir.path().join("app-state/outbox.json.bad");
    assert_eq!(
        std::fs::read_to_string(bad).ok().as_deref(),
        Some("garbage"),
        "the unreadable file is kept aside"
    );
}

/// Waits until no running client holds `outbox` (a dropped client's task lets it go when it
/// ends): its lock is `FILE.lock`.
async fn let_go(outbox: &std::path::Path) {
    let mut lock = outbox.as_os_str().to_owned();
    lock.push(".lock");
    let lock = std::fs::File::open(lock).expect("the lock file of a used outbox");
    let started = Instant::now();
    while lock.try_lock().is_err() {
        assert!(started.elapsed() < Duration::from_secs(5), "the dropped client still holds its outbox");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lock.unlock().expect("unlock");
}

/// Clients dropped at once by a server crash.
const STORM: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_clients_dropped_at_once_are_all_live_again_within_seconds() {
    // A socket per client here and in the server (which raises its own limit).
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("raise the open files limit");
    assert!(limit > STORM as u64 + 256, "{STORM} clients need more open files than {limit} (ulimit -Hn)");
    let dir = tempfile::tempdir().expect("tempdir");
    // Every client connects from 127.0.0.1.
    let server = Server::start(dir.path(), &["--max-connections-per-address", "100000"]);
    let url = server.url();
    client(&url).send("place_order", place("o-0", 0)).await.expect("ack");

    // Clients with the runtime's default backoff (exponential, full jitter), as users get them.
    let (live_tx, mut live_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut tasks = Vec::new();
    for i in 0..STORM {
        let client = Client::connect(ClientConfig::new(url.clone()));
        let live = live_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut sub = client.subscribe(lucarne_runtime::Query::view("orders"));
            let mut tracker = Tracker::new();
            // Every snapshot or resume is a "live" signal; then the deltas that follow.
            while let Some(event) = sub.next().await {
                tracker.apply(&event);
                if matches!(event, ViewEvent::Snapshot { .. } | ViewEvent::Resumed { .. }) {
                    let _ = live.send((i, Instant::now()));
                }
                if tracker.view.get(&json!("o-1")).is_some() {
                    return tracker;
                }
            }
            panic!("subscription {i} ended");
        }));
    }
    let mut first = BTreeSet::new();
    while first.len() < STORM {
        let (i, _) = within(live_rx.recv()).await.expect("live");
        first.insert(i);
    }

    let down = Instant::now();
    let server = tokio::task::spawn_blocking(move || server.restart()).await.expect("restart");
    let up = Instant::now();
    eprintln!("storm: the server was down for {:?}", up - down);
    let mut again: BTreeMap<usize, Instant> = BTreeMap::new();
    while again.len() < STORM {
        let (i, at) = tokio::time::timeout(Duration::from_secs(30), live_rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {STORM} clients live 30 s after the restart", again.len()))
            .expect("live");
        again.entry(i).or_insert(at);
    }
    let mut delays: Vec<Duration> = again.values().map(|at| at.saturating_duration_since(up)).collect();
    delays.sort();
    let p = |q: f64| delays[lucarne_testing::rank(delays.len(), q)];
    eprintln!(
        "storm: {STORM} clients live again after the restart: p50 {:?}, p99 {:?}, last {:?}",
        p(0.5),
        p(0.99),
        p(1.0)
    );
    assert!(p(1.0) < Duration::from_secs(15), "all live within seconds");

    // And really live: one change reaches every one of them.
    client(&server.url()).send("place_order", place("o-1", 1)).await.expect("ack after the storm");
    for task in tasks {
        let tracker = within(task).await.expect("client task");
        assert!(tracker.resumed + tracker.resynced >= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_given_several_servers_moves_to_the_next_when_one_dies() {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = Server::start(dir_a.path(), &[]);
    let b = Server::start(dir_b.path(), &[]);
    let backoff =
        lucarne_runtime::Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(400) };
    let roaming = Client::connect(ClientConfig::servers([a.url(), b.url()]).backoff(backoff));
    let (mut orders, snapshot) = subscribed(&roaming, "orders").await;
    within(roaming.send("place_order", place("on-a", 1))).await.expect("acked by a");
    let mut view = LiveView::<Map<String, Value>>::new();
    view.apply(&snapshot);
    let holds = |view: &LiveView<Map<String, Value>>, id: &str| view.get(&json!(id)).is_some();
    while !holds(&view, "on-a") {
        view.apply(&within(orders.next()).await.expect("event"));
    }

    // A dies; b has its own orders. The client's subscription lands on b (a resync: b does not
    // know a's positions), and its next command is answered by b.
    within(client(&b.url()).send("place_order", place("on-b", 2))).await.expect("acked by b");
    let started = Instant::now();
    drop(a);
    while !holds(&view, "on-b") {
        view.apply(&within(orders.next()).await.expect("event"));
    }
    println!("failover: the subscription showed b's rows {:?} after a was killed", started.elapsed());
    assert!(!holds(&view, "on-a"), "b's snapshot replaced a's rows");
    let ack = within(roaming.send("place_order", place("moved", 3))).await.expect("acked by b");
    assert_eq!(ack.position, 2, "b's log: on-b, then this one");
    let (rows, _) = truth(&b.url(), "orders").await;
    let ids: Vec<&str> = rows.keys().map(String::as_str).collect();
    assert_eq!(ids, ["\"moved\"", "\"on-b\""], "keys as their JSON text");
}
