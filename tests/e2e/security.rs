//! Security and limits against real `lucarne serve` processes: capability tokens checked on every
//! message, row filters that keep other rows on the server, rate and subscription limits
//! answered with codes, origin checks and HTTP headers,
//! and a slow consumer resynced or closed with a reason while other clients keep up.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{ErrorCode, ResyncReason, ServerMessage, decode_server};
use lucarne_runtime::{LiveView, ViewEvent};
use lucarne_server::auth::{Claims, TokenKey, now_secs};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{
    Server, Socket, client, client_with_token, frames_until, greeted, greeted_slow, hello, next, raw,
    send_json as send, subscribed, within,
};

/// The code of an `error` or `reject`.
fn code_of(msg: &ServerMessage) -> Option<ErrorCode> {
    match msg {
        ServerMessage::Error(e) => Some(e.code),
        ServerMessage::Reject(r) => Some(r.code),
        _ => None,
    }
}

/// Sends a frame and expects an `error` or `reject` with this code; the connection stays usable.
async fn check(ws: &mut Socket, frame: Value, code: ErrorCode) {
    send(ws, frame.clone()).await;
    let answer = next(ws).await;
    assert_eq!(code_of(&answer), Some(code), "{frame} → {answer:?}");
    send(ws, json!({"type": "ping", "nonce": 5})).await;
    assert!(matches!(next(ws).await, ServerMessage::Pong(h) if h.nonce == 5), "still usable after {frame}");
}

/// Reads until the socket closes: the last `error` code and the close code.
async fn until_closed(ws: &mut Socket) -> (Option<ErrorCode>, Option<u16>) {
    let (mut code, mut close) = (None, None);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match frame {
            Message::Text(t) => {
                if let Ok(ServerMessage::Error(e)) = decode_server(t.as_str()) {
                    code = Some(e.code);
                }
            }
            Message::Close(c) => close = c.map(|c| u16::from(c.code)),
            _ => {}
        }
    }
    (code, close)
}

/// A `hello` with this token is refused with this code, and the connection closed (1008).
async fn check_hello_refused(server: &Server, token: Option<&str>, code: ErrorCode) {
    let mut ws = raw(server).await;
    hello(&mut ws, token).await;
    assert_eq!(until_closed(&mut ws).await, (Some(code), Some(1008)), "hello with {token:?}");
}

fn key_of(server: &Server) -> TokenKey {
    TokenKey::load(&server.data.join("token.key")).expect("the server's key")
}

fn claims(views: &[&str], commands: &[&str], define: bool, exp: u64) -> Claims {
    Claims {
        sub: Some("test".into()),
        exp,
        iat: None,
        views: views.iter().map(|s| s.to_string()).collect(),
        commands: commands.iter().map(|s| s.to_string()).collect(),
        define,
        rows: Default::default(),
    }
}

fn order(id: &str) -> Value {
    json!({"order_id": id, "customer": "Ada", "total": 5})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_checked_against_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    // --allow-define only concerns anonymous clients of an open server: here tokens decide.
    let server = Server::start_with_tokens(dir.path(), &["--allow-define", "--max-view-cost", "30"]);
    assert!(server.log().contains("capability tokens required"), "{}", server.log());

    // `lucarne token` output is accepted: a full-rights client writes.
    let admin = server.token(&["--views", "*", "--commands", "*", "--define", "--sub", "admin"]);
    let writer = client_with_token(&server.url(), &admin);
    within(writer.send("place_order", order("o-1"))).await.expect("ack");

    // Refused hellos: each with its code, then closed with 1008.
    check_hello_refused(&server, None, ErrorCode::Unauthorized).await;
    check_hello_refused(&server, Some("not-a-token"), ErrorCode::InvalidToken).await;
    let stranger = TokenKey::from_secret(b"a key that is not the server's key!").expect("key");
    let forged = stranger.issue(&claims(&["*"], &["*"], true, now_secs() + 3600)).expect("token");
    check_hello_refused(&server, Some(&forged), ErrorCode::InvalidToken).await;
    let expired = key_of(&server).issue(&claims(&["*"], &["*"], true, now_secs() - 10)).expect("token");
    check_hello_refused(&server, Some(&expired), ErrorCode::TokenExpired).await;
    // Nothing but hello, ping and pong before a hello.
    let mut ws = raw(&server).await;
    check(&mut ws, json!({"type": "list_views", "id": 1}), ErrorCode::HelloRequired).await;

    // A narrow token: the orders view, pay_* commands, no define.
    let narrow = server.token(&["--views", "orders", "--commands", "pay_*", "--ttl", "1h"]);
    let mut ws = greeted(&server, Some(&narrow)).await;
    let forbidden = ErrorCode::Forbidden;
    check(&mut ws, json!({"type": "subscribe", "sub": 1, "view": "by_customer"}), forbidden).await;
    // A view outside the token is forbidden whether or not it exists.
    check(&mut ws, json!({"type": "subscribe", "sub": 1, "view": "no_such_view"}), forbidden).await;
    let command = |id: u64, name: &str| json!({"type": "command", "id": id, "client_id": "sec", "seq": id, "name": name, "payload": order("o-1")});
    check(&mut ws, command(1, "place_order"), forbidden).await;
    check(&mut ws, command(2, "no_such_command"), forbidden).await;
    let define = |id: u64, sql: &str| json!({"type": "define_view", "id": id, "sql": sql});
    let scratch = "CREATE VIEW scratch_1 AS SELECT customer, COUNT(*) AS n FROM orders GROUP BY customer";
    check(&mut ws, define(3, scratch), forbidden).await;
    check(&mut ws, json!({"type": "drop_view", "id": 4, "name": "orders"}), forbidden).await;
    // What it may do works.
    send(&mut ws, json!({"type": "list_views", "id": 5})).await;
    match next(&mut ws).await {
        ServerMessage::ViewList(l) => {
            assert_eq!(l.views.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["orders"]);
        }
        other => panic!("{other:?}"),
    }
    send(&mut ws, command(6, "pay_order")).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::Ack(a) if a.id == 6));
    send(&mut ws, json!({"type": "subscribe", "sub": 2, "view": "orders"})).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::SnapshotBegin(b) if b.rows == 1));

    // A token that may define views named scratch_*, and nothing else.
    let definer = server.token(&["--views", "scratch_*", "--define"]);
    let mut ws = greeted(&server, Some(&definer)).await;
    check(&mut ws, define(1, &scratch.replace("scratch_1", "other")), forbidden).await;
    check(&mut ws, json!({"type": "drop_view", "id": 2, "name": "orders"}), forbidden).await;
    let wide: Vec<String> = (0..10).map(|i| format!("SUM(total * {i} + {i}) AS s{i}")).collect();
    let costly = format!(
        "CREATE VIEW scratch_2 AS SELECT customer, {} FROM orders GROUP BY customer",
        wide.join(", ")
    );
    check(&mut ws, define(3, &costly), ErrorCode::ViewTooLarge).await;
    send(&mut ws, define(4, scratch)).await;
    loop {
        match next(&mut ws).await {
            ServerMessage::ViewProgress(_) => continue,
            ServerMessage::ViewDefined(d) => {
                assert_eq!((d.id, d.view.name.as_str()), (4, "scratch_1"));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    send(&mut ws, json!({"type": "drop_view", "id": 5, "name": "scratch_1"})).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::ViewDropped(d) if d.id == 5));

    // A token that expires while connected: the next message is answered token_expired, closed.
    let soon = key_of(&server).issue(&claims(&["*"], &[], false, now_secs() + 2)).expect("token");
    let mut ws = greeted(&server, Some(&soon)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    send(&mut ws, json!({"type": "ping", "nonce": 1})).await;
    assert_eq!(until_closed(&mut ws).await, (Some(ErrorCode::TokenExpired), Some(1008)));

    // The command line passes --token (here LUCARNE_TOKEN) and sees only its views.
    let out = std::process::Command::new(crate::support::bin())
        .args(["view", "list", "--json"])
        .env("LUCARNE_SERVER", server.url())
        .env("LUCARNE_TOKEN", &narrow)
        .output()
        .expect("run lucarne");
    assert!(out.status.success(), "{out:?}");
    let names: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["name"].clone())
        .collect();
    assert_eq!(names, [json!("orders")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_a_token_may_not_see_never_leave_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with_tokens(dir.path(), &[]);
    let writer = crate::support::admin(&server);
    let place = |id: &str, customer: &str| {
        writer.send("place_order", json!({"order_id": id, "customer": customer, "total": 5}))
    };
    within(place("o-1", "Ada")).await.expect("ack");
    within(place("o-2", "Bob")).await.expect("ack");

    // Ada's token: the orders view, only her rows.
    let ada = server.token(&["--views", "orders", "--rows", "orders=customer = 'Ada'"]);
    let mut ws = greeted(&server, Some(&ada)).await;
    // Plain, and with a query of the client's own (ANDed to the token's filter).
    send(&mut ws, json!({"type": "subscribe", "sub": 1, "view": "orders"})).await;
    send(&mut ws, json!({"type": "subscribe", "sub": 2, "view": "orders", "where": "total > 1"})).await;
    let mut ends = 0;
    let snapshots = frames_until(&mut ws, |f| {
        ends += usize::from(f.contains("\"snapshot_end\""));
        ends == 2
    })
    .await;
    let joined = snapshots.join("\n");
    assert!(joined.contains("o-1"), "her row is sent: {joined}");
    assert!(!joined.contains("o-2") && !joined.contains("Bob"), "another's row left the server: {joined}");

    // New rows: Bob's first, then Ada's; by the time Ada's reached both subscriptions, Bob's
    // would have too.
    within(place("o-3", "Bob")).await.expect("ack");
    within(place("o-4", "Ada")).await.expect("ack");
    let mut seen = 0;
    let deltas = frames_until(&mut ws, |f| {
        seen += usize::from(f.contains("\"delta\"") && f.contains("o-4"));
        seen == 2
    })
    .await;
    let joined = deltas.join("\n");
    assert!(!joined.contains("o-3") && !joined.contains("Bob"), "another's row left the server: {joined}");

    // The command line with her token sees her rows only.
    let out = std::process::Command::new(crate::support::bin())
        .args(["watch", "orders", "--once"])
        .env("LUCARNE_SERVER", server.url())
        .env("LUCARNE_TOKEN", &ada)
        .output()
        .expect("run lucarne watch");
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("o-1") && printed.contains("o-4"), "{printed}");
    assert!(!printed.contains("Bob"), "{printed}");

    // Listing the views counts her rows only (four orders, two hers).
    send(&mut ws, json!({"type": "list_views", "id": 7})).await;
    let list = frames_until(&mut ws, |f| f.contains("\"view_list\"")).await;
    let list: serde_json::Value = serde_json::from_str(list.last().expect("view_list")).expect("json");
    let views = list["views"].as_array().expect("views");
    assert_eq!(views.len(), 1, "only the orders view: {list}");
    assert_eq!(views[0]["rows"], json!(2), "her rows only: {list}");

    // A filter naming a column the view lacks gives no rows: the subscription is refused.
    let broken = server.token(&["--views", "orders", "--rows", "orders=no_such_column = 1"]);
    let mut ws = greeted(&server, Some(&broken)).await;
    check(&mut ws, json!({"type": "subscribe", "sub": 1, "view": "orders"}), ErrorCode::Forbidden).await;

    // Row filters and the define right exclude each other: `lucarne token` refuses both, and a
    // token carrying both (signed by other means) may not define.
    let out = std::process::Command::new(crate::support::bin())
        .args(["token", "--data"])
        .arg(&server.data)
        .args(["--views", "*", "--define", "--rows", "orders=customer = 'Ada'"])
        .output()
        .expect("run lucarne token");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rows and --define"), "{out:?}");
    let mut both = claims(&["*"], &[], true, now_secs() + 3600);
    both.rows.insert("orders".into(), "customer = 'Ada'".into());
    let both = key_of(&server).issue(&both).expect("token");
    let mut ws = greeted(&server, Some(&both)).await;
    let sql = "CREATE VIEW everything AS SELECT order_id, customer FROM orders";
    check(&mut ws, json!({"type": "define_view", "id": 1, "sql": sql}), ErrorCode::Forbidden).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_and_subscription_limits_answer_with_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &["--max-messages-per-second", "5", "--message-burst", "5", "--rate-limit-close-after", "1"],
    );
    let mut ws = greeted(&server, None).await;
    // Ten pings at once: the burst's four left are answered, the rest refused with a code.
    for nonce in 0..10 {
        send(&mut ws, json!({"type": "ping", "nonce": nonce})).await;
    }
    let (mut pongs, mut limited) = (0, 0);
    for _ in 0..10 {
        match next(&mut ws).await {
            ServerMessage::Pong(_) => pongs += 1,
            ServerMessage::Error(e) if e.code == ErrorCode::RateLimited => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(pongs >= 4 && limited >= 4, "{pongs} pongs, {limited} refused");
    // A refused command is rejected with its id, so the sender knows it was not applied.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for seq in 1..=8u64 {
        let payload = order(&format!("r-{seq}"));
        let c = json!({"type": "command", "id": seq, "client_id": "sec", "seq": seq, "name": "place_order", "payload": payload});
        send(&mut ws, c).await;
    }
    let mut rejected = 0;
    for _ in 0..8 {
        match next(&mut ws).await {
            ServerMessage::Ack(_) => {}
            ServerMessage::Reject(r) if r.code == ErrorCode::RateLimited => rejected += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(rejected >= 2, "{rejected} commands refused");
    // After a pause the connection is served again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    check(&mut ws, json!({"type": "unsubscribe", "sub": 9}), ErrorCode::UnknownSubscription).await;

    // A sustained flood: refused for more than a second, then closed with a reason.
    let (mut sink, mut stream) = greeted(&server, None).await.split();
    let flood = tokio::spawn(async move {
        for nonce in 0..1000 {
            if sink
                .send(Message::Text(json!({"type": "ping", "nonce": nonce}).to_string().into()))
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let (mut last, mut close) = (None, None);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        match frame {
            Message::Text(t) => {
                if let Ok(ServerMessage::Error(e)) = decode_server(t.as_str()) {
                    last = Some((e.code, e.message));
                }
            }
            Message::Close(c) => {
                close = c.map(|c| u16::from(c.code));
                break;
            }
            _ => {}
        }
    }
    flood.abort();
    let (code, message) = last.expect("an error before the close");
    assert_eq!((code, close), (ErrorCode::RateLimited, Some(1008)), "{message}");
    assert!(message.contains("closing"), "{message}");

    // Subscriptions per connection, on a server with the default rate.
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-subscriptions", "2"]);
    let mut ws = greeted(&server, None).await;
    for sub in 1..=2 {
        send(&mut ws, json!({"type": "subscribe", "sub": sub, "view": "orders"})).await;
        assert!(matches!(next(&mut ws).await, ServerMessage::SnapshotBegin(_)));
        assert!(matches!(next(&mut ws).await, ServerMessage::SnapshotEnd(_)));
    }
    check(&mut ws, json!({"type": "subscribe", "sub": 3, "view": "orders"}), ErrorCode::TooManySubscriptions)
        .await;
    send(&mut ws, json!({"type": "unsubscribe", "sub": 1})).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::Unsubscribed(u) if u.sub == 1));
    send(&mut ws, json!({"type": "subscribe", "sub": 3, "view": "orders"})).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::SnapshotBegin(b) if b.sub == 3));
    // Other connections have their own count; the server is fine.
    subscribed(&client(&server.url()), "orders").await;
}

/// One HTTP/1.1 GET: the status line and headers, lower-cased.
async fn http_get(server: &Server, path: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr);
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    within(tcp.read_to_string(&mut response)).await.expect("read");
    response.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_are_checked_and_responses_carry_security_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allowed-origin", "https://desk.example.com"]);

    let head = http_get(&server, "/healthz").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let host = server.addr.to_string();
    for header in [
        "x-content-type-options: nosniff".to_owned(),
        "x-frame-options: deny".to_owned(),
        "referrer-policy: no-referrer".to_owned(),
        "content-security-policy: default-src 'self'; script-src 'self' 'wasm-unsafe-eval'".to_owned(),
        format!("connect-src 'self' ws://{host} wss://{host}"),
        "frame-ancestors 'none'".to_owned(),
    ] {
        assert!(head.contains(&header), "{header} in\n{head}");
    }
    // Also on a path no route serves.
    let missing = http_get(&server, "/no/such/file").await;
    assert!(missing.contains("x-content-type-options: nosniff"), "{missing}");

    let connect = |origin: Option<&str>| {
        let mut request = server.url().into_client_request().expect("request");
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().expect("header"));
        }
        tokio_tungstenite::connect_async(request)
    };
    for allowed in [None, Some(format!("http://{host}")), Some("https://desk.example.com".to_owned())] {
        let (mut ws, _) = connect(allowed.as_deref()).await.unwrap_or_else(|e| panic!("{allowed:?}: {e}"));
        hello(&mut ws, None).await;
        assert!(matches!(next(&mut ws).await, ServerMessage::Welcome(_)), "{allowed:?}");
    }
    for refused in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        match connect(Some(refused)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 403, "{refused}");
            }
            Err(e) => panic!("{refused}: {e}"),
            Ok(_) => panic!("{refused} was let in"),
        }
    }
}

/// A raw connection with a small receive buffer, greeted and subscribed to `orders`, snapshot
/// read: the caller then stops reading.
async fn slow_reader(server: &Server) -> Socket {
    let mut ws = greeted_slow(server).await;
    send(&mut ws, json!({"type": "subscribe", "sub": 1, "view": "orders"})).await;
    loop {
        if let ServerMessage::SnapshotEnd(_) = next(&mut ws).await {
            return ws;
        }
    }
}

/// Sends `n` orders of about 4 KB each, 200 in flight; returns when all are acked.
async fn write_orders(server: &Server, n: usize) -> Instant {
    let writer = client(&server.url());
    let customer = "A".repeat(4000);
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let sends = chunk.iter().map(|i| {
            writer
                .send("place_order", json!({"order_id": format!("o-{i}"), "customer": customer, "total": 1}))
        });
        for ack in futures_util::future::join_all(sends).await {
            ack.expect("ack");
        }
    }
    Instant::now()
}

/// The last `n` lines of a log.
fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

type Rows = serde_json::Map<String, Value>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_resynced_while_others_keep_up() {
    const ORDERS: usize = 3000;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-queued-bytes", "262144", "--resync-after", "2"]);
    let mut slow = slow_reader(&server).await;
    let fast = client(&server.url());
    let (mut sub, snapshot) = subscribed(&fast, "orders").await;
    let watcher = tokio::spawn(async move {
        let mut view = LiveView::<Rows>::new();
        view.apply(&snapshot);
        while view.len() < ORDERS {
            let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(60), sub.next()).await else {
                panic!("the fast client stalled at {} rows", view.len());
            };
            if let ViewEvent::Snapshot { resynced: Some(why), .. } = &event {
                panic!("the fast client was resynced ({why:?})");
            }
            view.apply(&event);
        }
        Instant::now()
    });
    let rss_before = rss_kb(server.pid());
    let Ok(acked) = tokio::time::timeout(Duration::from_secs(60), write_orders(&server, ORDERS)).await else {
        panic!("writing stalled:\n{}", tail(&server.log(), 60));
    };
    let Ok(caught_up) = tokio::time::timeout(Duration::from_secs(60), watcher).await else {
        panic!("the fast client did not catch up:\n{}", tail(&server.log(), 60));
    };
    let caught_up = caught_up.expect("fast client");
    let lag = caught_up.saturating_duration_since(acked);
    let rss_after = rss_kb(server.pid());
    println!(
        "fast client: all {ORDERS} orders {lag:?} after the last ack; server RSS {rss_before:?} → {rss_after:?} kB \
         with a stalled reader"
    );
    assert!(lag < Duration::from_secs(5), "the fast client lagged {lag:?}");

    // Stalled long enough for its waiting delta to give up (--resync-after 2), the slow reader
    // reads again: what was queued, then a resync and a fresh, complete snapshot.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut resynced = false;
    loop {
        match next(&mut slow).await {
            ServerMessage::Resync(r) => {
                assert_eq!((r.sub, r.reason), (1, ResyncReason::SlowConsumer));
                resynced = true;
            }
            ServerMessage::SnapshotBegin(b) if resynced => {
                if usize::try_from(b.rows) == Ok(ORDERS) {
                    break;
                }
            }
            ServerMessage::Delta(_) | ServerMessage::SnapshotRows(_) | ServerMessage::SnapshotEnd(_) => {}
            ServerMessage::SnapshotBegin(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(resynced);
    assert!(server.log().contains("slow consumer caught up"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_is_closed_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-queued-bytes", "65536", "--slow-consumer-timeout", "1"]);
    let mut slow = slow_reader(&server).await;
    let other = client(&server.url());
    if tokio::time::timeout(Duration::from_secs(60), write_orders(&server, 1500)).await.is_err() {
        panic!("writing stalled:\n{}", tail(&server.log(), 60));
    }
    let started = Instant::now();
    while !server.log().contains("closing a slow consumer") {
        assert!(started.elapsed() < Duration::from_secs(30), "not closed:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What had reached the socket, then the reason and the close frame (within the grace).
    let mut code = None;
    let mut close = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(10), slow.next()).await {
        match frame {
            Message::Text(t) => {
                if let Ok(ServerMessage::Error(e)) = decode_server(t.as_str()) {
                    code = Some(e.code);
                }
            }
            Message::Close(c) => {
                close = c.map(|c| u16::from(c.code));
                break;
            }
            _ => {}
        }
    }
    assert_eq!((code, close), (Some(ErrorCode::SlowConsumer), Some(1008)));
    // Everyone else is served.
    let (_, snapshot) = subscribed(&other, "orders").await;
    assert!(matches!(snapshot, ViewEvent::Snapshot { rows, .. } if rows.len() == 1500));
}

/// What the runtime tells an app whose token the server refuses: the code, at once — not an
/// endless reconnect.
async fn check_runtime_refused(client: lucarne_runtime::Client, code: ErrorCode) {
    let mut sub = client.subscribe(lucarne_runtime::Query::view("orders"));
    loop {
        match within(sub.next()).await.expect("an event") {
            ViewEvent::Status(_) => continue,
            ViewEvent::Failed { code: got, .. } => {
                assert_eq!(got, code);
                break;
            }
            other => panic!("expected Failed({code}), got {other:?}"),
        }
    }
    match within(client.send("place_order", order("o-9"))).await {
        Err(lucarne_runtime::CommandError::Rejected { code: got, .. }) => assert_eq!(got, code),
        other => panic!("expected a rejection with {code}, got {other:?}"),
    }
    match within(client.list_views()).await {
        Err(lucarne_runtime::ClientError::Server { code: got, .. }) => assert_eq!(got, code),
        other => panic!("expected {code}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_reports_a_refused_token_with_its_code_and_stops_retrying() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with_tokens(dir.path(), &[]);
    check_runtime_refused(client(&server.url()), ErrorCode::Unauthorized).await;
    check_runtime_refused(client_with_token(&server.url(), "not-a-token"), ErrorCode::InvalidToken).await;
    let expired = key_of(&server).issue(&claims(&["*"], &["*"], false, now_secs() - 10)).expect("token");
    check_runtime_refused(client_with_token(&server.url(), &expired), ErrorCode::TokenExpired).await;
}
