//! The protocol document, executed: every exchange in `docs/protocol.md` (its `→` and `←` lines)
//! is replayed against a real demo server, so the document cannot drift from the server.
//!
//! Rules of the replay:
//! - `→` lines are sent as written, except positions (`epoch`, `version`) and ping `nonce`s,
//!   which take the real values the server gave where the document showed them earlier.
//! - `←` lines between two `→` lines are expected in any order ("either may come first"); a
//!   message the document does not show fails the replay (the server's pings aside, which are
//!   answered).
//! - An expected message matches when it has the same fields, the same values, and the same
//!   rows, except: positions (`epoch`, `version`, `from`, `to`, `position`, `nonce`) are bound to
//!   the server's on first sight and must then stay consistent (the resume asks for the version
//!   the delta moved to); session ids, ping intervals, timestamps (`updated_ms`, `ts`),
//!   row counts and build progress (`rows`, `done`, `total`) are any number or string; `[...]` is
//!   any array; a string with `…` matches any string that starts with what precedes `…`.
//! - A comment that says `connect` opens a new connection; one that says `connection lost`
//!   waits for the answers to the commands sent on it (read, not checked) and closes it.
//!
//! The session of §13 runs first, on a demo server holding the two orders the document shows
//! (`o-7` of Grace Hopper, paid; `o-8` of Alan Turing); the short exchanges of other sections
//! follow, each on a new connection after the small preamble it assumes.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Server, Socket, client, send_text, within};

/// One line of an exchange.
#[derive(Debug)]
enum Line {
    Send(String),
    Expect(String),
    Comment(String),
}

/// A fenced block of the document with at least one `→` line, under its heading.
#[derive(Debug)]
struct Exchange {
    heading: String,
    lines: Vec<Line>,
}

fn exchanges(doc: &str) -> Vec<Exchange> {
    let (mut out, mut heading, mut block): (Vec<Exchange>, String, Option<Vec<Line>>) =
        (Vec::new(), String::new(), None);
    for raw in doc.lines() {
        match (&mut block, raw.trim_start().starts_with("```")) {
            (None, true) => block = Some(Vec::new()),
            (Some(lines), true) => {
                let lines = std::mem::take(lines);
                block = None;
                if lines.iter().any(|l| matches!(l, Line::Send(_))) {
                    out.push(Exchange { heading: heading.clone(), lines });
                }
            }
            (Some(lines), false) => {
                if let Some(rest) = raw.strip_prefix("→ ") {
                    lines.push(Line::Send(rest.to_owned()));
                } else if let Some(rest) = raw.strip_prefix("← ") {
                    lines.push(Line::Expect(rest.to_owned()));
                } else if let Some(rest) = raw.strip_prefix('#') {
                    lines.push(Line::Comment(rest.trim().to_owned()));
                }
            }
            (None, false) => {
                if raw.starts_with('#') {
                    heading = raw.trim_start_matches('#').trim().to_owned();
                }
            }
        }
    }
    out
}

/// A document line as JSON, with `[...]` as a wildcard.
fn parse(line: &str) -> Value {
    serde_json::from_str(&line.replace("[...]", "\"__ANY__\""))
        .unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
}

/// Which binding a field's number belongs to.
fn class(key: &str) -> Option<&'static str> {
    match key {
        "epoch" => Some("epoch"),
        "version" | "from" | "to" => Some("version"),
        "position" => Some("position"),
        "nonce" => Some("nonce"),
        _ => None,
    }
}

/// Fields whose values the document only illustrates.
fn illustrative(key: &str, top: bool) -> bool {
    match key {
        "session" | "ping_interval_ms" | "updated_ms" | "ts" | "rows" => true,
        "done" | "total" => top,
        "epoch" | "version" => !top,
        _ => false,
    }
}

#[derive(Default)]
struct Bindings(HashMap<(&'static str, u64), u64>);

impl Bindings {
    fn bind(&mut self, class: &'static str, doc: u64, real: u64) -> Result<(), String> {
        match self.0.insert((class, doc), real) {
            Some(before) if before != real => {
                Err(format!("the document's {class} {doc} was {before} earlier and is {real} now"))
            }
            _ => Ok(()),
        }
    }

    /// A `→` message with the real positions and nonces for the document's.
    fn substitute(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    match (class(key), v.as_u64()) {
                        (Some(class), Some(doc)) => {
                            if let Some(real) = self.0.get(&(class, doc)) {
                                *v = json!(real);
                            }
                        }
                        _ => self.substitute(v),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.substitute(v)),
            _ => {}
        }
    }
}

/// Whether `actual` is what the document's `expected` shows (see the module's rules).
fn check(expected: &Value, actual: &Value, top: bool, b: &mut Bindings) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(any), _) if any == "__ANY__" => Ok(()),
        (Value::String(e), Value::String(a)) if e.contains('…') => {
            let prefix = e.split('…').next().unwrap_or_default();
            a.starts_with(prefix).then_some(()).ok_or_else(|| format!("{a:?} does not start with {prefix:?}"))
        }
        (Value::Object(e), Value::Object(a)) => {
            let (ek, ak): (BTreeSet<&String>, BTreeSet<&String>) = (e.keys().collect(), a.keys().collect());
            if ek != ak {
                return Err(format!("fields {ek:?} in the document, {ak:?} from the server"));
            }
            for (key, ev) in e {
                let av = &a[key];
                if ev == "__ANY__" {
                    continue;
                }
                // `welcome`'s `version` is the protocol's, not a position.
                let position = top && e.get("type").is_none_or(|t| t != "welcome");
                if position
                    && let (Some(class), Some(doc), Some(real)) = (class(key), ev.as_u64(), av.as_u64())
                {
                    b.bind(class, doc, real)?;
                } else if illustrative(key, top) {
                    if std::mem::discriminant(ev) != std::mem::discriminant(av) {
                        return Err(format!("{key}: {ev} in the document, {av} from the server"));
                    }
                } else {
                    check(ev, av, false, b).map_err(|m| format!("{key}: {m}"))?;
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .try_for_each(|(i, (e, a))| check(e, a, false, b).map_err(|m| format!("[{i}]: {m}"))),
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => Ok(()),
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{e} in the document, {a} from the server")),
    }
}

/// A replay against one server.
struct Replay<'a> {
    server: &'a Server,
    ws: Option<Socket>,
    bindings: Bindings,
    /// `(client_id, seq)` of commands sent and not yet answered on this connection.
    unanswered: BTreeSet<(String, u64)>,
    /// Pings the document expects are not answered by the replay: the document's `→ pong` is.
    expected: Vec<String>,
}

impl Replay<'_> {
    async fn connect(&mut self) {
        self.ws = Some(tokio_tungstenite::connect_async(self.server.url()).await.expect("connect").0);
        self.unanswered.clear();
    }

    async fn next(&mut self) -> Option<Value> {
        let ws = self.ws.as_mut().expect("connected");
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.ok()??.ok()?;
        match frame {
            Message::Text(t) => serde_json::from_str(t.as_str()).ok(),
            _ => Some(Value::Null),
        }
    }

    fn answered(&mut self, message: &Value) {
        if matches!(message["type"].as_str(), Some("ack" | "reject"))
            && let (Some(client), Some(seq)) = (message["client_id"].as_str(), message["seq"].as_u64())
        {
            self.unanswered.remove(&(client.to_owned(), seq));
        }
    }

    /// Receives until every expected message came, in any order.
    async fn satisfy(&mut self, at: &str) {
        let mut waiting: Vec<Value> = self.expected.drain(..).map(|l| parse(&l)).collect();
        let mut seen = Vec::new();
        // The server's pings keep the socket busy: the whole exchange has a deadline of its own.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !waiting.is_empty() {
            let next = tokio::time::timeout_at(deadline, self.next()).await.ok().flatten();
            let Some(message) = next else {
                panic!("{at}: still expected {waiting:#?}\nreceived {seen:#?}");
            };
            self.answered(&message);
            let mut failures = Vec::new();
            let found = waiting.iter().position(|expected| {
                let mut trial = Bindings(self.bindings.0.clone());
                match check(expected, &message, true, &mut trial) {
                    Ok(()) => {
                        self.bindings = trial;
                        true
                    }
                    Err(why) => {
                        failures.push(why);
                        false
                    }
                }
            });
            match found {
                Some(i) => {
                    waiting.remove(i);
                }
                None if message["type"] == "ping" => {
                    let pong = json!({"type": "pong", "nonce": message["nonce"]});
                    send_text(self.ws.as_mut().expect("connected"), pong.to_string()).await;
                }
                None => panic!(
                    "{at}: the server sent {message}, which the document does not show here; \
                     expected one of {waiting:#?}: {failures:#?}"
                ),
            }
            seen.push(message);
        }
    }

    async fn send(&mut self, line: &str) {
        let mut message = parse(line);
        self.bindings.substitute(&mut message);
        if message["type"] == "hello" && self.ws.is_none() {
            self.connect().await;
        }
        if message["type"] == "command"
            && let (Some(client), Some(seq)) = (message["client_id"].as_str(), message["seq"].as_u64())
        {
            self.unanswered.insert((client.to_owned(), seq));
        }
        send_text(self.ws.as_mut().expect("connected"), message.to_string()).await;
    }

    /// The connection is lost once the server answered what was sent on it.
    async fn lose(&mut self) {
        while !self.unanswered.is_empty() {
            let Some(message) = self.next().await else { panic!("no answer to {:?}", self.unanswered) };
            self.answered(&message);
        }
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
        }
    }

    async fn run(&mut self, exchange: &Exchange) {
        let at = exchange.heading.as_str();
        for line in &exchange.lines {
            match line {
                Line::Comment(c) if c.contains("connection lost") => {
                    self.satisfy(at).await;
                    self.lose().await;
                }
                Line::Comment(c) if c.starts_with("connect") => {
                    self.satisfy(at).await;
                    self.connect().await;
                }
                Line::Comment(_) => {}
                Line::Expect(e) => self.expected.push(e.clone()),
                Line::Send(s) => {
                    self.satisfy(at).await;
                    self.send(s).await;
                }
            }
        }
        self.satisfy(at).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exchange_in_the_protocol_document_happens_as_written() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .expect("the document");
    let exchanges = exchanges(&doc);
    let dir = tempfile::tempdir().expect("tempdir");
    // Push on (§17), to a push service that is never reached (the doc's client stays connected).
    let vapid = dir.path().join("vapid.key");
    let key = lucarne_push::Vapid::generate("mailto:doc@example.com").expect("a VAPID key").private_key();
    std::fs::write(&vapid, key).expect("write the VAPID key");
    let mut args =
        ["--demo", "--demo-seed", "0", "--demo-rate", "0", "--ping-interval", "1"].map(String::from).to_vec();
    args.extend([
        "--vapid-key".into(),
        vapid.display().to_string(),
        "--push-endpoints".into(),
        "https://push.example".into(),
    ]);
    let server = Server::spawn(dir.path().to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args);
    // The state §13 starts from.
    let setup = client(&server.url());
    for (command, payload) in [
        (
            "place_order",
            json!({"order_id": "o-7", "customer": "Grace Hopper", "region": "us", "total": 120.5}),
        ),
        ("pay_order", json!({"order_id": "o-7"})),
        (
            "place_order",
            json!({"order_id": "o-8", "customer": "Alan Turing", "region": "eu", "total": 17.25}),
        ),
    ] {
        within(setup.send(command, payload)).await.expect("set up §13's orders");
    }
    let mut replay = Replay {
        server: &server,
        ws: None,
        bindings: Bindings::default(),
        unanswered: BTreeSet::new(),
        expected: Vec::new(),
    };
    let (session, others): (Vec<&Exchange>, Vec<&Exchange>) =
        exchanges.iter().partition(|e| e.heading.starts_with("13."));
    assert!(session.len() >= 4, "§13's exchanges: {session:#?}");
    for exchange in &session {
        replay.run(exchange).await;
    }
    // The other sections' exchanges, each on a connection of its own with what it assumes.
    for exchange in &others {
        replay.ws = None;
        replay.bindings = Bindings::default();
        replay.send(r#"{"type":"hello","versions":[1],"client_id":"doc"}"#).await;
        replay.expected.push(
            r#"{"type":"welcome","version":1,"session":"s","ping_interval_ms":1,"max_frame_bytes":1048576,"push_key":"B…"}"#
                .into(),
        );
        replay.satisfy("preamble").await;
        let first = exchange.lines.iter().find_map(|l| match l {
            Line::Send(s) => Some(parse(s)),
            _ => None,
        });
        let first = first.expect("a → line");
        if first["type"] == "unsubscribe" {
            replay
                .send(&json!({"type": "subscribe", "sub": first["sub"], "view": "orders"}).to_string())
                .await;
            for (i, expected) in [
                r#"{"type":"snapshot_begin","sub":1,"view":"orders","epoch":1,"version":1,"rows":1}"#,
                r#"{"type":"snapshot_rows","sub":1,"rows":[...]}"#,
                r#"{"type":"snapshot_end","sub":1}"#,
            ]
            .iter()
            .enumerate()
            {
                let _ = i;
                replay.expected.push((*expected).into());
            }
            replay.satisfy("preamble: subscribe").await;
        }
        if first["type"] == "drop_view" {
            let name = first["name"].as_str().expect("name");
            let sql = format!(
                "CREATE VIEW {name} AS SELECT customer, COUNT(*) AS orders FROM orders GROUP BY customer"
            );
            within(setup.define_view(&sql, |_, _| {})).await.expect("preamble: the view to drop");
        }
        replay.run(exchange).await;
    }
    println!(
        "protocol.md: {} exchanges replayed ({} in §13's session), {} lines",
        exchanges.len(),
        session.len(),
        exchanges.iter().map(|e| e.lines.len()).sum::<usize>()
    );
}
