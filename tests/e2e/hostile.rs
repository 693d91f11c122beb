//! Hostile input against real `lucarne serve` processes: nothing a client sends can stop, freeze
//! or exhaust the server. Each test is one attack found by hand, and what must hold
//! after it: a code and a message (SQL errors with their position), the server alive and quick
//! for everyone else, its memory bounded, nothing acked lost.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use lucarne_protocol::{ErrorCode, ServerMessage};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{
    Server, Socket, client, frames_until, greeted, health, http, next, send_json as send, subscribed, within,
};

/// An `error` (or `reject`): its code and message.
fn refusal(msg: &ServerMessage) -> Option<(ErrorCode, String)> {
    match msg {
        ServerMessage::Error(e) => Some((e.code, e.message.clone())),
        ServerMessage::Reject(r) => Some((r.code, r.message.clone())),
        _ => None,
    }
}

/// Sends a frame and expects a refusal with this code, whose message contains `says`; the
/// connection stays usable.
async fn check(ws: &mut Socket, frame: Value, code: ErrorCode, says: &str) {
    let shown = frame.to_string().chars().take(100).collect::<String>();
    send(ws, frame).await;
    let answer = next(ws).await;
    let Some((got, message)) = refusal(&answer) else { panic!("{shown}… → {answer:?}") };
    assert_eq!(got, code, "{shown}… → {message}");
    assert!(message.contains(says), "{shown}… → {message:?} should say {says:?}");
    send(ws, json!({"type": "ping", "nonce": 5})).await;
    assert!(matches!(next(ws).await, ServerMessage::Pong(h) if h.nonce == 5), "still usable after {shown}");
}

fn subscribe(sub: u64, filter: Option<&str>, order_by: Option<&str>) -> Value {
    let mut frame = json!({"type": "subscribe", "sub": sub, "view": "orders"});
    if let Some(filter) = filter {
        frame["where"] = json!(filter);
    }
    if let Some(order_by) = order_by {
        frame["order_by"] = json!(order_by);
    }
    frame
}

/// Places `n` orders (totals 1..=n), all in flight at once.
async fn seed(server: &Server, n: usize) {
    let writer = client(&server.url());
    let sends = (1..=n).map(|i| {
        writer.send("place_order", json!({"order_id": format!("o-{i}"), "customer": "Ada", "total": i}))
    });
    let acks = within(join_all(sends)).await;
    assert!(acks.iter().all(Result::is_ok), "every order acked");
}

/// The server's resident memory in KiB.
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// How long a new client takes to open its WebSocket and be welcomed.
async fn welcome_time(server: &Server) -> Duration {
    let started = Instant::now();
    let _ = within(greeted(server, None)).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_expressions_are_refused_with_their_position_and_crash_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    seed(&server, 3).await;
    let mut ws = greeted(&server, None).await;
    let chain = |term: &str, op: &str, n: usize| vec![term; n].join(op);
    let too_deep = ErrorCode::TooComplex;
    // Each of these overflowed a worker's stack and aborted the process.
    let plus = format!("{} > 0", chain("1", "+", 400));
    check(&mut ws, subscribe(1, Some(&plus), None), too_deep, "nests too deeply").await;
    check(&mut ws, subscribe(1, Some(&plus), None), too_deep, "at line 1, column 200").await;
    let and = chain("1=1", " AND ", 300);
    check(&mut ws, subscribe(2, Some(&and), None), too_deep, "at line 1, column").await;
    let concat = format!("{} = 'a'", chain("'a'", "||", 2000));
    check(&mut ws, subscribe(3, Some(&concat), None), too_deep, "nests too deeply").await;
    let order = chain("total", "+", 2000);
    check(&mut ws, subscribe(4, None, Some(&order)), too_deep, "nests too deeply").await;
    let nots = format!("{}total > 0", "NOT ".repeat(200));
    check(&mut ws, subscribe(5, Some(&nots), None), too_deep, "nests too deeply").await;
    let parens = format!("{}total{} > 0", "(".repeat(1000), ")".repeat(1000));
    check(&mut ws, subscribe(6, Some(&parens), None), too_deep, "nests too deeply").await;
    // Found by the deep_expr fuzzer: an unfinished keyword form is parsed again as a name, so
    // each level doubles the work (14 nested POSITION( took 4.4 s of a release build).
    let forms = format!("{}1", "POSITION(".repeat(14));
    check(&mut ws, subscribe(6, Some(&forms), None), too_deep, "too many keyword forms").await;
    let forms = format!("{}1", "CASE WHEN total > 1 THEN ".repeat(25));
    check(&mut ws, subscribe(6, Some(&forms), None), too_deep, "at line 1, column 201").await;
    // 44 NOTs are within the budget (and sqlparser's own limit): answered, on the deep stacks.
    let nots = format!("{}total > 0", "NOT ".repeat(44));
    send(&mut ws, subscribe(7, Some(&nots), None)).await;
    let answer = next(&mut ws).await;
    assert!(matches!(&answer, ServerMessage::SnapshotBegin(b) if b.sub == 7 && b.rows == 3), "{answer:?}");
    assert!(matches!(next(&mut ws).await, ServerMessage::SnapshotRows(_)));
    assert!(matches!(next(&mut ws).await, ServerMessage::SnapshotEnd(_)));
    // The same chains in a definition's WHERE and HAVING.
    let define = |id: u64, sql: String| json!({"type": "define_view", "id": id, "sql": sql});
    let head = "CREATE VIEW deep AS SELECT order_id, COUNT(*) AS n FROM orders";
    let sql = format!("{head} WHERE {} > 0 GROUP BY order_id", chain("total", "+", 400));
    check(&mut ws, define(8, sql), too_deep, "nests too deeply").await;
    let sql = format!("{head} GROUP BY order_id HAVING {}", chain("COUNT(*) > 0", " AND ", 300));
    check(&mut ws, define(9, sql), too_deep, "at line 1, column").await;
    let sql = format!("{head} WHERE {}total > 0 GROUP BY order_id", "NOT ".repeat(300));
    check(&mut ws, define(10, sql), too_deep, "nests too deeply").await;

    // Everyone else is served as before.
    let (_, snapshot) = subscribed(&client(&server.url()), "orders").await;
    assert!(matches!(snapshot, lucarne_runtime::ViewEvent::Snapshot { rows, .. } if rows.len() == 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_queries_are_held_to_budgets_and_the_server_stays_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-live-queries", "8", "--max-live-query-rows", "5000"]);
    seed(&server, 1000).await;
    let mut ws = greeted(&server, None).await;
    let rss_before = rss_kib(&server);

    // Finding 2: an order_by of 3 000 columns grew the server by 900 MiB.
    let order = vec!["total"; 3000].join(", ");
    check(&mut ws, subscribe(1, None, Some(&order)), ErrorCode::TooComplex, "over the limit of 16384 bytes")
        .await;
    let order = vec!["total"; 1000].join(", ");
    check(&mut ws, subscribe(1, None, Some(&order)), ErrorCode::TooComplex, "more than 16 columns").await;
    // Finding 3: a 700 KB IN list took 15 s of the async workers.
    let huge: Vec<String> = (1..=100_000).map(|i| format!("-{i}")).collect();
    let huge = format!("total IN ({})", huge.join(","));
    check(&mut ws, subscribe(2, Some(&huge), None), ErrorCode::TooComplex, "over the limit of 16384 bytes")
        .await;
    let long: Vec<String> = (1..=1500).map(|i| format!("-{i}")).collect();
    let long = format!("total IN ({})", long.join(","));
    check(&mut ws, subscribe(3, Some(&long), None), ErrorCode::TooComplex, "terms").await;

    // Rows held by all live queries: five windows of the 1 000 rows fit in 5 000, a sixth does not.
    for sub in 10..15 {
        send(&mut ws, subscribe(sub, Some(&format!("total >= {}", sub - 10)), None)).await;
        frames_until(&mut ws, |f| f.contains("\"snapshot_end\"")).await;
    }
    check(&mut ws, subscribe(15, Some("total >= 6"), None), ErrorCode::OverBudget, "budget of 5000").await;
    // The same query as a running one shares its window: it costs nothing more.
    send(&mut ws, subscribe(16, Some("total >= 0"), None)).await;
    frames_until(&mut ws, |f| f.contains("\"snapshot_end\"")).await;
    send(&mut ws, json!({"type": "unsubscribe", "sub": 10})).await;
    send(&mut ws, json!({"type": "unsubscribe", "sub": 16})).await;
    frames_until(&mut ws, |f| f.contains("\"unsubscribed\"") && f.contains("16")).await;
    // The window of `total >= 0` goes with its last subscriber: room for another.
    let mut room = false;
    for attempt in 0..100 {
        send(&mut ws, subscribe(100 + attempt, Some("total >= 7"), None)).await;
        match next(&mut ws).await {
            ServerMessage::SnapshotBegin(_) => {
                frames_until(&mut ws, |f| f.contains("\"snapshot_end\"")).await;
                room = true;
                break;
            }
            other => assert_eq!(refusal(&other).map(|r| r.0), Some(ErrorCode::OverBudget)),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(room, "a window's rows are given back when its last subscriber leaves");

    // Live queries per connection: 8, whatever their size.
    let mut other = greeted(&server, None).await;
    for sub in 1..=8 {
        send(&mut other, subscribe(sub, Some(&format!("total < -{sub}")), None)).await;
        frames_until(&mut other, |f| f.contains("\"snapshot_end\"")).await;
    }
    check(&mut other, subscribe(9, Some("total < -9"), None), ErrorCode::OverBudget, "8 live queries").await;
    // A plain subscription is not a live query.
    send(&mut other, subscribe(9, None, None)).await;
    frames_until(&mut other, |f| f.contains("\"snapshot_end\"")).await;

    // Finding 2 again, at scale: 4 connections × 256 subscriptions, each a different where.
    let mut flood = Vec::new();
    for c in 0..4 {
        let mut ws = greeted(&server, None).await;
        for sub in 0..256u64 {
            send(&mut ws, subscribe(sub, Some(&format!("total > {}", c * 1000 + sub)), None)).await;
        }
        let mut answered = 0;
        frames_until(&mut ws, |f| {
            answered += usize::from(f.contains("\"snapshot_end\"") || f.contains("\"error\""));
            answered == 256
        })
        .await;
        flood.push(ws);
    }
    let rss_after = rss_kib(&server);
    println!(
        "live-query budgets: server RSS {} MiB before, {} MiB after 4 × 256 distinct live queries over 1 000 rows",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(rss_after < rss_before + 100 * 1024, "RSS grew from {rss_before} to {rss_after} KiB");
    let (_, snapshot) = subscribed(&client(&server.url()), "orders").await;
    assert!(matches!(snapshot, lucarne_runtime::ViewEvent::Snapshot { rows, .. } if rows.len() == 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_live_queries_do_not_freeze_other_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    seed(&server, 2000).await;
    let idle = welcome_time(&server).await;
    // Two connections send the costliest live queries the budgets let through: IN lists of 990
    // items, each query a new window over the 2 000 rows.
    let attack = |c: u64| {
        let server_url = server.url();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(server_url).await.expect("connect");
            crate::support::hello(&mut ws, None).await;
            next(&mut ws).await;
            for sub in 0..60u64 {
                let list: Vec<String> =
                    (0..990).map(|i| format!("{}", -(i + 1000 * (sub + 100 * c) as i64))).collect();
                send(&mut ws, subscribe(sub, Some(&format!("total IN ({})", list.join(","))), None)).await;
            }
            let mut answered = 0;
            frames_until(&mut ws, |f| {
                answered += usize::from(f.contains("\"snapshot_end\"") || f.contains("\"error\""));
                answered == 60
            })
            .await;
        }
    };
    let attacks = tokio::spawn(join_all([attack(1), attack(2)]));
    let mut worst = Duration::ZERO;
    let mut samples = 0;
    while !attacks.is_finished() || samples < 5 {
        worst = worst.max(welcome_time(&server).await);
        samples += 1;
    }
    within(attacks).await.expect("attacks");
    println!(
        "a new client's welcome: {idle:?} idle, at worst {worst:?} in {samples} tries during the attack"
    );
    assert!(worst < Duration::from_secs(3), "a new client waited {worst:?} for its welcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_server_answers_loopback_host_names_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allowed-origin", "http://desk.lan:7300"]);
    let port = server.addr.port();
    // Finding 4: a page of evil.example, rebound to 127.0.0.1, sends its own host and origin.
    let connect = |host: String, origin: String| {
        let mut request = server.url().into_client_request().expect("request");
        request.headers_mut().insert("host", host.parse().expect("header"));
        request.headers_mut().insert("origin", origin.parse().expect("header"));
        tokio_tungstenite::connect_async(request)
    };
    for (host, origin) in [
        (format!("evil.example:{port}"), format!("http://evil.example:{port}")),
        (format!("127.0.0.1.evil.example:{port}"), format!("http://127.0.0.1.evil.example:{port}")),
    ] {
        match connect(host.clone(), origin).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 403, "{host}");
            }
            Err(e) => panic!("{host}: {e}"),
            Ok(_) => panic!("{host} was let in"),
        }
        let get = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert!(http(&server, get).await.starts_with("http/1.1 403"), "{host}");
    }
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "desk.lan:7300".to_owned()] {
        let origin = format!("http://{host}");
        let (mut ws, _) = connect(host.clone(), origin).await.unwrap_or_else(|e| panic!("{host}: {e}"));
        crate::support::hello(&mut ws, None).await;
        assert!(matches!(next(&mut ws).await, ServerMessage::Welcome(_)), "{host}");
    }

    // A server that requires tokens answers any host: a page without a token gets nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    let guarded = Server::start_with_tokens(dir.path(), &[]);
    let get = format!("GET /healthz HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n");
    assert!(http(&guarded, get).await.starts_with("http/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_requests_time_out_and_one_address_cannot_take_every_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server =
        Server::start(dir.path(), &["--http-header-timeout", "1", "--max-connections-per-address", "50"]);
    // Finding 7: connections that sent part of a request line stayed open for good.
    let mut sockets = Vec::new();
    for _ in 0..60 {
        let mut tcp = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
        let _ = tcp.write_all(b"GET /healthz HT").await;
        sockets.push(tcp);
    }
    let started = Instant::now();
    let closed = join_all(sockets.into_iter().map(|mut tcp| async move {
        let mut buf = [0u8; 256];
        // Read until the server closes (a 408 or nothing, then EOF or a reset).
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => continue,
            }
        }
    }));
    let closed = within(closed).await;
    let mut waits: Vec<Duration> = closed.iter().map(|t| t.duration_since(started)).collect();
    waits.sort();
    println!("half-open requests: 60 closed after {:?} (first) to {:?} (last)", waits[0], waits[59]);
    // The ten over the address's budget were closed at once, the others at the header timeout.
    assert!(waits[9] < Duration::from_millis(900), "{waits:?}");
    assert!(waits[10] >= Duration::from_millis(900), "{waits:?}");
    assert!(waits[59] < Duration::from_secs(5), "{waits:?}");
    // Once they are gone, clients get in again.
    let (_, snapshot) = subscribed(&client(&server.url()), "orders").await;
    assert!(matches!(snapshot, lucarne_runtime::ViewEvent::Snapshot { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_out_of_the_web_directory_are_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("outside-secret.txt"), "the secret").expect("write");
    let web = dir.path().join("web");
    std::fs::create_dir(&web).expect("mkdir");
    std::fs::write(web.join("index.html"), "<p>app</p>").expect("write");
    std::os::unix::fs::symlink("../outside-secret.txt", web.join("secret.txt")).expect("link");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--web-dir", &web.display().to_string()]);
    let get =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr);
    assert!(http(&server, get("/")).await.starts_with("http/1.1 200"));
    // Finding 6: the link was followed and the file served with 200.
    assert!(http(&server, get("/secret.txt")).await.starts_with("http/1.1 404"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_filtered_client_learns_only_its_rows_and_its_own_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with_tokens(dir.path(), &[]);
    let writer = crate::support::admin(&server);
    let place = |id: &str, customer: &str| {
        writer.send("place_order", json!({"order_id": id, "customer": customer, "total": 5}))
    };
    within(place("o-1", "Ada")).await.expect("ack");
    let ada = server.token(&["--views", "orders", "--rows", "orders=customer = 'Ada'"]);
    let mut ws = greeted(&server, Some(&ada)).await;

    // Finding 8: her own where ending in a comment was blamed on the token (`forbidden`).
    send(&mut ws, json!({"type": "subscribe", "sub": 1, "view": "orders", "where": "total > 1 -- mine"}))
        .await;
    let snapshot = frames_until(&mut ws, |f| f.contains("\"snapshot_end\"")).await.join("\n");
    assert!(snapshot.contains("o-1"), "{snapshot}");
    check(&mut ws, subscribe(2, Some("total >"), None), ErrorCode::InvalidSql, "in the live query").await;
    // Nor can her text undo the token's: `) OR (1=1` is her own syntax error.
    check(&mut ws, subscribe(3, Some("1=1) OR (1=1"), None), ErrorCode::InvalidSql, "in the live query")
        .await;

    // Finding 9: versions counted the changes to rows she may not see. Her subscription numbers
    // only her window's changes: three changes to Bob's rows, then one to hers, is one step.
    let begin: Value = serde_json::from_str(
        snapshot.lines().find(|l| l.contains("snapshot_begin")).expect("snapshot_begin"),
    )
    .expect("json");
    let held = begin["version"].as_u64().unwrap_or_else(|| panic!("version in {begin}"));
    for i in 0..3 {
        within(place(&format!("b-{i}"), "Bob")).await.expect("ack");
    }
    within(place("o-2", "Ada")).await.expect("ack");
    let delta = frames_until(&mut ws, |f| f.contains("\"delta\"")).await;
    let delta: Value = serde_json::from_str(delta.last().expect("delta")).expect("json");
    assert_eq!((delta["from"].as_u64(), delta["to"].as_u64()), (Some(held), Some(held + 1)), "{delta}");
    assert!(delta.get("acked").is_none(), "another client's command ids: {delta}");
    send(&mut ws, json!({"type": "list_views", "id": 4})).await;
    let list = frames_until(&mut ws, |f| f.contains("\"view_list\"")).await;
    let list: Value = serde_json::from_str(list.last().expect("view_list")).expect("json");
    assert_eq!((list["views"][0]["rows"].as_u64(), list["views"][0]["version"].as_u64()), (Some(2), Some(0)));
}

/// A tmpfs of `size` mounted at a path, unmounted when dropped.
struct Disk(std::path::PathBuf);

impl Disk {
    fn mount(path: std::path::PathBuf, size: &str) -> Disk {
        std::fs::create_dir_all(&path).expect("mkdir");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "cannot mount a tmpfs at {} ({status:?}): this test needs root, as CI has",
            path.display()
        );
        Disk(path)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_commands_then_recovers_by_itself_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Disk::mount(dir.path().join("disk"), "16m");
    let server = Server::start(&disk.0.join("data"), &[]);
    let order = |i: u64| json!({"order_id": format!("o-{i}"), "customer": "x".repeat(2000), "total": 1});
    let command = |seq: u64| json!({"type": "command", "id": seq, "client_id": "sec", "seq": seq, "name": "place_order", "payload": order(seq)});
    let mut ws = greeted(&server, None).await;
    let mut seq = 0;

    // Fill the disk to the last byte.
    {
        use std::io::Write;
        let mut filler = std::fs::File::create(disk.0.join("filler")).expect("filler");
        let chunk = vec![7u8; 64 * 1024];
        while filler.write_all(&chunk).is_ok() {}
        let small = [7u8; 512];
        while filler.write_all(&small).is_ok() {}
    }
    // The store's file may have room of its own: write until a command is refused.
    let mut acked = 0;
    let refused = loop {
        seq += 1;
        assert!(seq < 20_000, "no command was refused on a full disk");
        send(&mut ws, command(seq)).await;
        match next(&mut ws).await {
            ServerMessage::Ack(_) => acked += 1,
            ServerMessage::Reject(r) => break r,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(refused.code, ErrorCode::Unavailable, "{}", refused.message);
    assert!(health(&server).await.starts_with("http/1.1 503"), "unhealthy while it cannot write");
    // Finding 5: every later command failed, even once space was freed, until a restart.
    seq += 1;
    check(&mut ws, command(seq), ErrorCode::Unavailable, "cannot write").await;
    // Reads go on.
    let (_, snapshot) = subscribed(&client(&server.url()), "orders").await;
    assert!(matches!(snapshot, lucarne_runtime::ViewEvent::Snapshot { rows, .. } if rows.len() == acked));
    // The runtime keeps a command the server could not write, and sends it again.
    let writer = client(&server.url());
    let kept = tokio::spawn(async move {
        let ack = writer.send("place_order", order(1_000_000)).await;
        (ack, writer)
    });

    std::fs::remove_file(disk.0.join("filler")).expect("free the disk");
    let freed = Instant::now();
    while !health(&server).await.starts_with("http/1.1 200") {
        assert!(freed.elapsed() < Duration::from_secs(20), "the store did not recover: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "full disk: {acked} commands acked before the disk was full; writable again {:?} after space was freed",
        freed.elapsed()
    );
    let (ack, _writer) = within(kept).await.expect("task");
    ack.expect("the command refused while the disk was full was acked once it had room");
    seq += 1;
    send(&mut ws, command(seq)).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::Ack(_)), "acked once the disk has room");
    acked += 2;

    // Nothing acked was lost, nothing refused was stored, nothing twice.
    let server = tokio::task::spawn_blocking(move || server.restart()).await.expect("restart");
    let (_, snapshot) = subscribed(&client(&server.url()), "orders").await;
    let lucarne_runtime::ViewEvent::Snapshot { rows, .. } = snapshot else { panic!("snapshot") };
    assert_eq!(rows.len(), acked);
    assert!(rows.iter().all(|r| r.row["events"] == json!(1)), "each acked command once");
    drop(server);
    drop(disk);
}
