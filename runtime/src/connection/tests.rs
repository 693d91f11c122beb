//! The connection machine, step by step and without I/O: each test is a table of what goes in
//! (the app's calls, the link opening or failing, the server's frames, time passing) and the
//! lines that must come out of that step, in order. Time is made up: `after(ms)` moves the
//! clock and ticks, `wait()` jumps to the machine's own next deadline (the reconnect delay is
//! random).

use std::time::Duration;

use lucarne_protocol::{ClientMessage, ResyncReason};
use serde_json::json;

use super::machine::{Answer, Call, Machine, Output, Settings};
use crate::backoff::Backoff;
use crate::event::{Query, SearchEvent, Status, ViewEvent};
use crate::transport::{Instant, LinkError};

/// One step of a script.
enum In {
    /// Nothing: what the machine says on its own (at start).
    Start,
    Call(Call),
    /// The link asked for opened.
    Opened,
    /// The link failed or ended.
    Lost(LinkError),
    /// A text frame from the server.
    Frame(String),
    /// Time moves on by this much, then the machine ticks.
    After(Duration),
    /// Time jumps to the machine's next deadline, then it ticks.
    Wait,
}

fn call(call: Call) -> In {
    In::Call(call)
}

fn frame(value: serde_json::Value) -> In {
    In::Frame(value.to_string())
}

fn after(ms: u64) -> In {
    In::After(Duration::from_millis(ms))
}

fn lost() -> In {
    In::Lost(LinkError::Closed)
}

fn subscribe(id: u64, view: &str) -> Call {
    Call::Subscribe { id, query: Query::view(view) }
}

fn command(seq: u64, name: &str) -> Call {
    Call::Command { seq, name: name.into(), payload: json!({"order_id": "o-1"}) }
}

fn welcome(ping_interval_ms: u64) -> In {
    frame(json!({"type": "welcome", "version": 1, "session": "s", "ping_interval_ms": ping_interval_ms,
        "max_frame_bytes": 1_048_576}))
}

/// A whole snapshot of `keys` at `epoch/version`.
fn snapshot(sub: u64, epoch: u64, version: u64, keys: &[i64]) -> Vec<In> {
    let rows: Vec<_> = keys.iter().map(|k| json!({"key": k, "row": {"n": k}})).collect();
    vec![
        frame(
            json!({"type": "snapshot_begin", "sub": sub, "view": "orders", "epoch": epoch, "version": version,
            "rows": keys.len()}),
        ),
        frame(json!({"type": "snapshot_rows", "sub": sub, "rows": rows})),
        frame(json!({"type": "snapshot_end", "sub": sub})),
    ]
}

fn delta(sub: u64, from: u64, to: u64) -> In {
    frame(json!({"type": "delta", "sub": sub, "from": from, "to": to,
        "ops": [{"op": "upsert", "key": 1, "row": {"n": 1}}]}))
}

fn ack(seq: u64) -> In {
    frame(json!({"type": "ack", "id": seq, "client_id": "c-1", "seq": seq, "position": 9, "events": 1}))
}

fn reject(seq: u64, code: &str) -> In {
    frame(json!({"type": "reject", "id": seq, "client_id": "c-1", "seq": seq, "code": code, "message": "no"}))
}

fn error(code: &str, message: &str) -> serde_json::Value {
    json!({"type": "error", "code": code, "message": message})
}

/// The machine with `servers`, a client id `c-1`, and the commands a previous run left.
fn machine(servers: &[&str], saved: &[(u64, &str)]) -> Machine {
    let settings = Settings {
        client_id: "c-1".into(),
        token: None,
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        backoff: Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(10) },
        greeting_timeout: Duration::from_secs(5),
    };
    let saved = saved.iter().map(|(seq, name)| (*seq, (*name).to_owned(), json!({}))).collect();
    Machine::new(settings, saved, 0, fastrand::Rng::with_seed(7))
}

/// Runs `script` on a machine connected to `ws://a`.
fn check(script: Vec<(In, &[&str])>) {
    check_on(machine(&["ws://a"], &[]), script);
}

/// Runs `script` on `machine`: after each step, exactly the lines given come out.
fn check_on(mut machine: Machine, script: Vec<(In, &[&str])>) {
    let start = Instant::now();
    let mut now = start;
    for (step, (input, expected)) in script.into_iter().enumerate() {
        match input {
            In::Start => {}
            In::Call(call) => machine.call(now, call),
            In::Opened => machine.opened(now),
            In::Lost(reason) => machine.failed(now, reason),
            In::Frame(text) => machine.frame(now, &text),
            In::After(d) => {
                now += d;
                machine.tick(now);
            }
            In::Wait => {
                now = machine
                    .deadline()
                    .unwrap_or_else(|| panic!("step {step}: the machine waits for nothing"));
                machine.tick(now);
            }
        }
        let mut lines = Vec::new();
        while let Some(output) = machine.poll() {
            // Only a server with a push key makes its welcome worth a line.
            if !matches!(output, Output::Welcomed { push_key: None }) {
                lines.push(line(&output, &machine));
            }
        }
        assert_eq!(lines, expected, "step {step} (at {:?})", now - start);
    }
}

fn line(output: &Output, machine: &Machine) -> String {
    match output {
        Output::Connect { url } => format!("connect {url}"),
        Output::Send(message) => format!("send {}", sent(message)),
        Output::Close => "close".into(),
        Output::View { id, event } => format!("view {id} {}", view_event(event)),
        Output::Search { id, event } => format!("search {id} {}", search_event(event)),
        Output::Answered { seq, result: Ok(_) } => format!("answered {seq} ok"),
        Output::Answered { seq, result: Err(e) } => format!("answered {seq} {e}"),
        Output::Answer { id, answer } => format!("answer {id} {}", answer_line(answer)),
        Output::Welcomed { push_key } => {
            format!("welcomed, push key {}", push_key.as_deref().unwrap_or("none"))
        }
        Output::KeepOutbox => {
            let (last_seq, commands) = machine.outbox();
            let seqs: Vec<u64> = commands.map(|(seq, _, _)| seq).collect();
            format!("keep {seqs:?} last {last_seq}")
        }
    }
}

fn sent(message: &ClientMessage) -> String {
    match message {
        ClientMessage::Hello(h) => format!("hello {}", h.client_id),
        ClientMessage::Subscribe(s) => match s.resume {
            Some(at) => format!("subscribe {} {} from {}/{}", s.sub, s.query.view, at.epoch, at.version),
            None => format!("subscribe {} {}", s.sub, s.query.view),
        },
        ClientMessage::Unsubscribe(u) => format!("unsubscribe {}", u.sub),
        ClientMessage::Command(c) => format!("command {} {}", c.seq, c.name),
        ClientMessage::Ping(h) => format!("ping {}", h.nonce),
        ClientMessage::Pong(h) => format!("pong {}", h.nonce),
        ClientMessage::ListViews(l) => format!("list_views {}", l.id),
        ClientMessage::DefineView(d) => format!("define_view {} {}", d.id, d.sql),
        ClientMessage::DropView(d) => format!("drop_view {} {}", d.id, d.name),
        ClientMessage::DefineCommand(d) => format!("define_command {} {}", d.id, d.spec),
        ClientMessage::DropCommand(d) => format!("drop_command {} {}", d.id, d.name),
        ClientMessage::DefineSearch(d) => format!("define_search {} {}", d.id, d.sql),
        ClientMessage::DropSearch(d) => format!("drop_search {} {}", d.id, d.name),
        ClientMessage::Search(s) => format!("search {} {} {:?}", s.id, s.index, s.query.text),
        ClientMessage::SubscribeSearch(s) => {
            format!("subscribe_search {} {} {:?}", s.sub, s.index, s.query.text)
        }
        ClientMessage::RegisterPush(r) => format!("register_push {} {}", r.id, r.interest.view),
        ClientMessage::UnregisterPush(u) => format!("unregister_push {} {}", u.id, u.registration),
        ClientMessage::TestPush(t) => format!("test_push {} {}", t.id, t.client_id),
    }
}

/// A live search's event: what it found as `total: keys in order`.
fn search_event(event: &SearchEvent) -> String {
    match event {
        SearchEvent::Status(Status::Connecting) => "connecting".into(),
        SearchEvent::Status(Status::Live) => "live".into(),
        SearchEvent::Status(Status::Resyncing(r)) => format!("resyncing {}", reason(*r)),
        SearchEvent::Status(Status::Offline { reason, .. }) => format!("offline: {reason}"),
        SearchEvent::Found(found) => {
            let keys: Vec<String> = found.hits.iter().map(|h| h.key.to_string()).collect();
            let counts: Vec<String> = found
                .facets
                .iter()
                .flat_map(|(f, counts)| counts.iter().map(move |c| format!("{f}={}:{}", c.value, c.count)))
                .collect();
            format!("found {}: {} {}", found.total, keys.join(","), counts.join(","))
        }
        SearchEvent::Failed { code, .. } => format!("failed {code}"),
    }
}

fn reason(r: ResyncReason) -> String {
    serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn view_event(event: &ViewEvent) -> String {
    match event {
        ViewEvent::Status(Status::Connecting) => "connecting".into(),
        ViewEvent::Status(Status::Live) => "live".into(),
        ViewEvent::Status(Status::Resyncing(r)) => format!("resyncing {}", reason(*r)),
        ViewEvent::Status(Status::Offline { reason, .. }) => format!("offline: {reason}"),
        ViewEvent::Snapshot { at, rows, resynced } => {
            let why = resynced.map(|r| format!(" (resynced {})", reason(r))).unwrap_or_default();
            format!("snapshot {}/{} rows {}{why}", at.epoch, at.version, rows.len())
        }
        ViewEvent::Resumed { at } => format!("resumed {}/{}", at.epoch, at.version),
        ViewEvent::Delta(d) => format!("delta {}→{}", d.from, d.to),
        ViewEvent::Failed { code, .. } => format!("failed {code}"),
    }
}

fn answer_line(answer: &Answer) -> String {
    match answer {
        Answer::Views(views) => format!("views {}", views.len()),
        Answer::Progress { done, total } => format!("progress {done}/{total}"),
        Answer::Defined(view) => format!("defined {}", view.name),
        Answer::Dropped => "dropped".into(),
        Answer::Named(name) => format!("named {name}"),
        Answer::Found(found) => format!("found {} ({} on the page)", found.total, found.hits.len()),
        Answer::Names(names) => format!("names {}", names.join(",")),
        Answer::Failed(e) => format!("failed: {e}"),
    }
}

/// Connects, subscribes `orders` as subscription 1 (wire 1) and takes a snapshot at 1/3.
fn live_on_orders() -> Vec<(In, &'static [&'static str])> {
    let mut script: Vec<(In, &[&str])> = vec![
        (In::Start, &["connect ws://a"]),
        (call(subscribe(1, "orders")), &["view 1 connecting"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(1000), &["send subscribe 1 orders"]),
    ];
    let [begin, rows, end] = <[In; 3]>::try_from(snapshot(1, 1, 3, &[1, 2])).ok().expect("three frames");
    script.extend([(begin, &[][..]), (rows, &[]), (end, &["view 1 snapshot 1/3 rows 2", "view 1 live"])]);
    script
}

fn then(
    mut script: Vec<(In, &'static [&'static str])>,
    more: Vec<(In, &'static [&'static str])>,
) -> Vec<(In, &'static [&'static str])> {
    script.extend(more);
    script
}

#[test]
fn connects_greets_subscribes_and_applies_deltas_in_order() {
    check(then(
        live_on_orders(),
        vec![
            (delta(1, 3, 4), &["view 1 delta 3→4"]),
            (delta(1, 4, 6), &["view 1 delta 4→6"]),
            // The server's ping is answered with its nonce.
            (frame(json!({"type": "ping", "nonce": 7})), &["send pong 7"]),
        ],
    ));
}

#[test]
fn a_lost_link_resumes_each_subscription_from_the_version_it_reached() {
    check(then(
        live_on_orders(),
        vec![
            (delta(1, 3, 4), &["view 1 delta 3→4"]),
            (lost(), &["close", "view 1 offline: connection closed"]),
            (In::Wait, &["view 1 connecting", "connect ws://a"]),
            (In::Opened, &["send hello c-1"]),
            (welcome(1000), &["send subscribe 2 orders from 1/4"]),
            (
                frame(json!({"type": "resumed", "sub": 2, "epoch": 1, "version": 4})),
                &["view 1 resumed 1/4", "view 1 live"],
            ),
            (delta(2, 4, 5), &["view 1 delta 4→5"]),
            // A frame for the old link's subscription id is not this subscription's any more.
            (delta(1, 5, 6), &[]),
        ],
    ));
}

#[test]
fn a_resync_replaces_the_rows_with_the_fresh_snapshot_and_says_why() {
    let mut script = then(
        live_on_orders(),
        vec![
            (lost(), &["close", "view 1 offline: connection closed"]),
            (In::Wait, &["view 1 connecting", "connect ws://a"]),
            (In::Opened, &["send hello c-1"]),
            (welcome(1000), &["send subscribe 2 orders from 1/3"]),
            (
                frame(json!({"type": "resync", "sub": 2, "reason": "epoch_changed"})),
                &["view 1 resyncing epoch_changed"],
            ),
        ],
    );
    let [begin, rows, end] = <[In; 3]>::try_from(snapshot(2, 2, 1, &[5])).ok().expect("three frames");
    script.extend([
        (begin, &[][..]),
        (rows, &[]),
        (end, &["view 1 snapshot 2/1 rows 1 (resynced epoch_changed)", "view 1 live"]),
        (delta(2, 1, 2), &["view 1 delta 1→2"]),
    ]);
    check(script);
}

#[test]
fn a_delta_that_does_not_follow_is_never_applied_the_view_starts_over() {
    check(then(
        live_on_orders(),
        vec![
            // At 1/3, a delta from 4 leaves a gap: resubscribe from nothing.
            (
                delta(1, 4, 5),
                &["view 1 resyncing too_far_behind", "send unsubscribe 1", "send subscribe 2 orders"],
            ),
            // What still arrives for the old id is dropped.
            (delta(1, 5, 6), &[]),
            // A delta for the new id before its snapshot is a gap too.
            (
                delta(2, 5, 6),
                &["view 1 resyncing too_far_behind", "send unsubscribe 2", "send subscribe 3 orders"],
            ),
        ],
    ));
}

#[test]
fn commands_wait_in_the_outbox_and_are_resent_with_their_seq_until_answered() {
    check(vec![
        (In::Start, &["connect ws://a"]),
        // Sent while connecting: kept, not yet sent.
        (call(command(1, "pay_order")), &["keep [1] last 1"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(1000), &["send command 1 pay_order"]),
        (call(command(2, "ship_order")), &["keep [1, 2] last 2", "send command 2 ship_order"]),
        (ack(2), &["keep [1] last 2", "answered 2 ok"]),
        // The link drops before 1 is answered: it is sent again, with the same seq.
        (lost(), &["close"]),
        (In::Wait, &["connect ws://a"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(1000), &["send command 1 pay_order"]),
        (ack(1), &["keep [] last 2", "answered 1 ok"]),
        // An answer given twice is taken once.
        (ack(1), &[]),
        (reject(3, "invalid_payload"), &[]),
    ]);
}

#[test]
fn commands_a_previous_run_left_are_sent_on_connect() {
    let saved = machine(&["ws://a"], &[(7, "ship_order"), (9, "pay_order")]);
    check_on(
        saved,
        vec![
            (In::Start, &["connect ws://a"]),
            (In::Opened, &["send hello c-1"]),
            (welcome(1000), &["send command 7 ship_order", "send command 9 pay_order"]),
            (reject(7, "rejected"), &["keep [9] last 9", "answered 7 rejected (rejected): no"]),
            // The app awaits one of them again (it shows it again at start): sent once only.
            (call(command(9, "pay_order")), &[]),
            (ack(9), &["keep [] last 9", "answered 9 ok"]),
        ],
    );
}

#[test]
fn a_command_the_server_could_not_write_is_sent_again_a_second_later() {
    check(vec![
        (In::Start, &["connect ws://a"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &[]),
        (call(command(1, "pay_order")), &["keep [1] last 1", "send command 1 pay_order"]),
        (reject(1, "unavailable"), &[]),
        (after(999), &[]),
        (after(1), &["send command 1 pay_order"]),
        (ack(1), &["keep [] last 1", "answered 1 ok"]),
    ]);
}

#[test]
fn a_silent_server_is_left_after_twice_its_heartbeat_interval() {
    check(then(
        live_on_orders(),
        vec![
            (after(1000), &["send ping 1"]),
            (after(1000), &["send ping 2"]),
            (after(1000), &["close", "view 1 offline: no message from the server for 2s"]),
            (In::Wait, &["view 1 connecting", "connect ws://a"]),
        ],
    ));
    // Any frame counts as a sign of life.
    check(then(
        live_on_orders(),
        vec![
            (after(1000), &["send ping 1"]),
            (after(500), &[]),
            (frame(json!({"type": "pong", "nonce": 1})), &[]),
            (after(500), &["send ping 2"]),
            (after(1000), &["send ping 3"]),
            (after(1000), &["close", "view 1 offline: no message from the server for 2s"]),
        ],
    ));
}

#[test]
fn no_welcome_in_time_or_a_failed_connect_moves_to_the_next_server() {
    check_on(
        machine(&["ws://a", "ws://b"], &[]),
        vec![
            (In::Start, &["connect ws://a"]),
            (call(subscribe(1, "orders")), &["view 1 connecting"]),
            (In::Opened, &["send hello c-1"]),
            (after(4999), &[]),
            (after(1), &["close", "view 1 offline: no welcome in time"]),
            (In::Wait, &["view 1 connecting", "connect ws://b"]),
            (
                In::Lost(LinkError::Connect { url: "ws://b".into(), detail: "refused".into() }),
                &["close", "view 1 offline: cannot connect to ws://b: refused"],
            ),
            (In::Wait, &["view 1 connecting", "connect ws://a"]),
            (In::Opened, &["send hello c-1"]),
            (
                frame(error("unavailable", "starting")),
                &["close", "view 1 offline: refused (unavailable): starting"],
            ),
            (In::Wait, &["view 1 connecting", "connect ws://b"]),
            (In::Opened, &["send hello c-1"]),
            (welcome(1000), &["send subscribe 1 orders"]),
        ],
    );
}

#[test]
fn a_refused_token_fails_everything_and_stops_retrying() {
    check(vec![
        (In::Start, &["connect ws://a"]),
        (call(subscribe(1, "orders")), &["view 1 connecting"]),
        (call(command(1, "pay_order")), &["keep [1] last 1"]),
        (call(Call::ListViews { id: 1 }), &[]),
        (In::Opened, &["send hello c-1"]),
        (
            frame(error("invalid_token", "bad signature")),
            &[
                "close",
                "answer 1 failed: not connected: refused (invalid_token): bad signature",
                "view 1 failed invalid_token",
                "answered 1 rejected (invalid_token): bad signature",
                "keep [] last 1",
            ][..],
        ),
        // Nothing more is tried; every later call gets the same answer.
        (call(subscribe(2, "orders")), &["view 2 failed invalid_token"]),
        (call(command(2, "pay_order")), &["answered 2 rejected (invalid_token): bad signature"]),
        (
            call(Call::DropView { id: 2, name: "orders".into() }),
            &["answer 2 failed: server error (invalid_token): bad signature"],
        ),
        (after(60_000), &[]),
    ]);
}

#[test]
fn requests_wait_for_welcome_fail_offline_and_are_answered_by_id() {
    check(vec![
        (In::Start, &["connect ws://a"]),
        // Made while connecting: sent after welcome.
        (call(Call::ListViews { id: 1 }), &[]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &["send list_views 1"]),
        (frame(json!({"type": "view_list", "id": 1, "views": []})), &["answer 1 views 0"]),
        (
            call(Call::DefineView { id: 2, sql: "CREATE VIEW v AS …".into() }),
            &["send define_view 2 CREATE VIEW v AS …"],
        ),
        (
            frame(json!({"type": "view_progress", "id": 2, "view": "v", "done": 5, "total": 10})),
            &["answer 2 progress 5/10"],
        ),
        // An answer of another kind for that id is not its answer.
        (frame(json!({"type": "view_dropped", "id": 2, "name": "v"})), &[]),
        (
            frame(json!({"type": "error", "code": "invalid_sql", "message": "at 7: expected AS", "id": 2})),
            &["answer 2 failed: server error (invalid_sql): at 7: expected AS"],
        ),
        // Waiting when the link drops: answered at once, as possibly done.
        (call(Call::DropCommand { id: 3, name: "pay_order".into() }), &["send drop_command 3 pay_order"]),
        (
            lost(),
            &[
                "close",
                "answer 3 failed: not connected: connection closed (the server may still complete the request)",
            ],
        ),
        // Made while offline: answered at once.
        (call(Call::ListViews { id: 4 }), &["answer 4 failed: not connected: connection closed"]),
    ]);
}

#[test]
fn search_requests_are_answered_by_id_and_fail_offline_as_reads() {
    let query = |text: &str| lucarne_protocol::SearchQuery { text: text.into(), ..Default::default() };
    check(vec![
        (In::Start, &["connect ws://a"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &[]),
        (
            call(Call::DefineSearch { id: 1, sql: "CREATE SEARCH INDEX s ON orders (customer)".into() }),
            &["send define_search 1 CREATE SEARCH INDEX s ON orders (customer)"],
        ),
        (frame(json!({"type": "search_defined", "id": 1, "name": "s"})), &["answer 1 named s"]),
        (call(Call::Search { id: 2, index: "s".into(), query: query("ada") }), &["send search 2 s \"ada\""]),
        // Another request's answer, or another kind of answer, is not this one's.
        (frame(json!({"type": "search_dropped", "id": 2, "name": "s"})), &[]),
        (
            frame(json!({"type": "search_result", "id": 2, "total": 3, "facets": {},
                         "hits": [{"key": "o-1", "row": {"customer": "Ada"}, "typos": 0}]})),
            &["answer 2 found 3 (1 on the page)"],
        ),
        (call(Call::DropSearch { id: 3, name: "s".into() }), &["send drop_search 3 s"]),
        (frame(json!({"type": "search_dropped", "id": 3, "name": "s"})), &["answer 3 dropped"]),
        (call(Call::Search { id: 4, index: "s".into(), query: query("") }), &["send search 4 s \"\""]),
        (
            frame(
                json!({"type": "error", "code": "unknown_search", "message": "no search index named \"s\"", "id": 4}),
            ),
            &["answer 4 failed: server error (unknown_search): no search index named \"s\""],
        ),
        // A search waiting when the link drops failed as a read: nothing was changed.
        (call(Call::Search { id: 5, index: "s".into(), query: query("x") }), &["send search 5 s \"x\""]),
        (lost(), &["close", "answer 5 failed: not connected: connection closed"]),
    ]);
}

#[test]
fn a_servers_push_key_is_handed_on_with_each_welcome() {
    let welcome = |key: Option<&str>| {
        let mut welcome = json!({"type": "welcome", "version": 1, "session": "s1", "ping_interval_ms": 60_000,
                                 "max_frame_bytes": 1_048_576});
        if let Some(key) = key {
            welcome["push_key"] = json!(key);
        }
        frame(welcome)
    };
    check_on(
        machine(&["ws://a", "ws://b"], &[]),
        vec![
            (In::Start, &["connect ws://a"]),
            (In::Opened, &["send hello c-1"]),
            (welcome(Some("BKey")), &["welcomed, push key BKey"]),
            (lost(), &["close"]),
            (In::Wait, &["connect ws://b"]),
            (In::Opened, &["send hello c-1"]),
            // Another server of the cluster without Web Push: handed on as none.
            (welcome(None), &[]),
        ],
    );
}

#[test]
fn push_registrations_are_answered_by_id_and_may_complete_after_a_lost_link() {
    let register = |id: u64| Call::RegisterPush {
        id,
        register: Box::new(lucarne_protocol::RegisterPush {
            id: 0,
            target: lucarne_protocol::PushTarget::Fcm { token: "t".into() },
            interest: lucarne_protocol::PushInterest { view: "orders".into(), filter: None },
            notification: None,
        }),
    };
    check(vec![
        (In::Start, &["connect ws://a"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &[]),
        (call(register(1)), &["send register_push 1 orders"]),
        // Another request's answer is not this one's.
        (frame(json!({"type": "push_registered", "id": 9, "registration": "p1"})), &[]),
        (frame(json!({"type": "push_registered", "id": 1, "registration": "p1"})), &["answer 1 named p1"]),
        (call(Call::UnregisterPush { id: 2, registration: "p1".into() }), &["send unregister_push 2 p1"]),
        (frame(json!({"type": "push_unregistered", "id": 2, "registration": "p1"})), &["answer 2 dropped"]),
        (
            call(Call::TestPush { id: 5, client_id: "phone".into(), title: "Test".into() }),
            &["send test_push 5 phone"],
        ),
        (
            frame(json!({"type": "push_tested", "id": 5, "registrations": ["p1", "p2"]})),
            &["answer 5 names p1,p2"],
        ),
        (call(register(3)), &["send register_push 3 orders"]),
        (
            frame(json!({"type": "error", "code": "unsupported", "message": "no FCM", "id": 3})),
            &["answer 3 failed: server error (unsupported): no FCM"],
        ),
        // Waiting when the link drops: the server may have kept it.
        (call(register(4)), &["send register_push 4 orders"]),
        (
            lost(),
            &[
                "close",
                "answer 4 failed: not connected: connection closed (the server may still complete the request)",
            ],
        ),
    ]);
}

#[test]
fn a_refused_subscription_is_not_tried_again_after_a_reconnect() {
    check(vec![
        (In::Start, &["connect ws://a"]),
        (call(subscribe(1, "ordres")), &["view 1 connecting"]),
        (call(subscribe(2, "orders")), &["view 2 connecting"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &["send subscribe 1 ordres", "send subscribe 2 orders"]),
        (
            frame(json!({"type": "error", "code": "unknown_view", "message": "no view ordres", "sub": 1})),
            &["view 1 failed unknown_view"],
        ),
        // The server holds no subscription it refused: dropping it sends nothing.
        (call(Call::Unsubscribe { id: 1 }), &[]),
        (lost(), &["close", "view 2 offline: connection closed"]),
        (In::Wait, &["view 2 connecting", "connect ws://a"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &["send subscribe 3 orders"]),
        // Unsubscribing tells the server; a subscription made while live goes out at once.
        (call(Call::Unsubscribe { id: 2 }), &["send unsubscribe 3"]),
        (call(subscribe(4, "orders")), &["view 4 connecting", "send subscribe 4 orders"]),
    ]);
}

/// A server that fails while sending a snapshot (its reading stopped midway) says so for the
/// subscription: the rows that came are never handed out as the view.
#[test]
fn a_snapshot_cut_short_by_an_error_is_not_handed_out() {
    let mut first = snapshot(1, 7, 3, &[1, 2]);
    first.truncate(2);
    let mut script: Vec<(In, &[&str])> = vec![
        (In::Start, &["connect ws://a"]),
        (call(subscribe(1, "orders")), &["view 1 connecting"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &["send subscribe 1 orders"]),
    ];
    script.extend(first.into_iter().map(|f| (f, &[][..])));
    script.push((
        frame(json!({"type": "error", "code": "internal", "message": "the snapshot's reading stopped", "sub": 1})),
        &["view 1 failed internal"],
    ));
    script.push((frame(json!({"type": "snapshot_end", "sub": 1})), &[]));
    check(script);
}

#[test]
fn a_live_search_applies_its_deltas_in_order_and_starts_afresh_after_a_gap_or_a_reconnect() {
    let query = lucarne_protocol::SearchQuery { text: "ada".into(), ..Default::default() };
    let hit = |key: &str| json!({"key": key, "row": {"customer": "Ada"}, "typos": 0});
    let watch = || call(Call::WatchSearch { id: 1, index: "s".into(), query: query.clone() });
    check(vec![
        (In::Start, &["connect ws://a"]),
        (watch(), &["search 1 connecting"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &["send subscribe_search 1 s \"ada\""]),
        (
            frame(
                json!({"type": "search_snapshot", "sub": 1, "version": 0, "total": 1, "hits": [hit("o-1")],
                         "facets": {"status": [{"value": "placed", "count": 1}]}}),
            ),
            &["search 1 found 1: \"o-1\" status=placed:1", "search 1 live"],
        ),
        // A new order first, the counts moved.
        (
            frame(
                json!({"type": "search_delta", "sub": 1, "from": 0, "to": 1, "total": 2, "upsert": [hit("o-2")],
                         "order": ["o-2", "o-1"], "facets": {"status": [{"value": "placed", "count": 2}]}}),
            ),
            &["search 1 found 2: \"o-2\",\"o-1\" status=placed:2"],
        ),
        // o-1 left.
        (
            frame(
                json!({"type": "search_delta", "sub": 1, "from": 1, "to": 2, "total": 1, "remove": ["o-1"],
                         "facets": {"status": [{"value": "placed", "count": 1}]}}),
            ),
            &["search 1 found 1: \"o-2\" status=placed:1"],
        ),
        // A delta that does not follow is never applied: the search starts afresh.
        (
            frame(
                json!({"type": "search_delta", "sub": 1, "from": 7, "to": 8, "total": 0, "remove": ["o-2"]}),
            ),
            &["search 1 resyncing too_far_behind", "send unsubscribe 1", "send subscribe_search 2 s \"ada\""],
        ),
        // Late deltas of the old subscription are ignored.
        (
            frame(
                json!({"type": "search_delta", "sub": 1, "from": 2, "to": 3, "total": 0, "remove": ["o-2"]}),
            ),
            &[],
        ),
        (
            frame(
                json!({"type": "search_snapshot", "sub": 2, "version": 0, "total": 0, "hits": [], "facets": {}}),
            ),
            &["search 1 found 0:  ", "search 1 live"],
        ),
        // After a reconnect it is asked for again, from nothing.
        (lost(), &["close", "search 1 offline: connection closed"]),
        (In::Wait, &["search 1 connecting", "connect ws://a"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &["send subscribe_search 3 s \"ada\""]),
        // Ended by the server (the index dropped): not asked for again.
        (
            frame(json!({"type": "error", "code": "unknown_search", "message": "dropped", "sub": 3})),
            &["search 1 failed unknown_search"],
        ),
        (lost(), &["close"]),
        (In::Wait, &["connect ws://a"]),
        (In::Opened, &["send hello c-1"]),
        (welcome(60_000), &[]),
    ]);
}
