//! The client against a server that sends deltas out of order, twice, or not at all: a real
//! WebSocket peer on loopback that speaks the protocol and perturbs the delta stream as a
//! property test asks. A delta that does not follow the client's version is never applied:
//! the client resubscribes and takes a fresh snapshot, so the rows it hands out are always the
//! server's rows at some version, and in the end the server's current rows.

#![cfg(not(target_arch = "wasm32"))]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{
    ClientMessage, Delta, Op, Position, Row, ServerMessage, SnapshotBegin, SnapshotEnd, SnapshotRows,
    Welcome, decode_client, encode,
};
use lucarne_runtime::{Backoff, Client, ClientConfig, LiveView, Query, ViewEvent};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

type Rows = Map<String, Value>;
type State = std::collections::BTreeMap<String, Rows>;

fn row(n: i64) -> Rows {
    json!({ "n": n }).as_object().cloned().unwrap_or_default()
}

/// The server's history: the deltas, and the rows after each version.
struct History {
    deltas: Vec<Vec<Op>>,
    states: Vec<State>,
}

impl History {
    fn new(ops: &[(i64, Option<i64>)]) -> History {
        let mut state = State::new();
        let mut states = vec![state.clone()];
        let mut deltas = Vec::new();
        for (k, n) in ops {
            let key = json!(k);
            let op = match n {
                Some(n) => {
                    state.insert(key.to_string(), row(*n));
                    Op::Upsert { key, row: row(*n) }
                }
                None => {
                    state.remove(&key.to_string());
                    Op::Remove { key }
                }
            };
            deltas.push(vec![op]);
            states.push(state.clone());
        }
        History { deltas, states }
    }

    fn snapshot(&self, sub: u64, version: usize) -> Vec<ServerMessage> {
        let at = Position { epoch: 1, version: version as u64 };
        let rows: Vec<Row> = self.states[version]
            .iter()
            .map(|(k, r)| Row { key: serde_json::from_str(k).unwrap_or(Value::Null), row: r.clone() })
            .collect();
        vec![
            ServerMessage::SnapshotBegin(SnapshotBegin {
                sub,
                view: "v".into(),
                at,
                rows: rows.len() as u64,
            }),
            ServerMessage::SnapshotRows(SnapshotRows { sub, rows: rows.into() }),
            ServerMessage::SnapshotEnd(SnapshotEnd { sub }),
        ]
    }
}

/// Serves one client: the first subscription gets the empty snapshot and then the deltas in
/// the order `plan` says (indices into the history; repeats and omissions allowed); every
/// later subscription gets a snapshot of the last version. Returns how many subscriptions
/// it served.
async fn serve(
    listener: TcpListener,
    history: &History,
    plan: &[usize],
    done: tokio::sync::oneshot::Receiver<()>,
) -> usize {
    let (socket, _) = listener.accept().await.expect("accept");
    let mut ws = tokio_tungstenite::accept_async(socket).await.expect("handshake");
    let mut subscribes = 0;
    let mut done = done;
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            _ = &mut done => return subscribes,
        };
        let Some(Ok(Message::Text(text))) = frame else { return subscribes };
        let mut replies = Vec::new();
        match decode_client(&text).expect("the client speaks the protocol") {
            ClientMessage::Hello(_) => replies.push(ServerMessage::Welcome(Welcome {
                version: 1,
                session: "s".into(),
                ping_interval_ms: 60_000,
                max_frame_bytes: 1 << 20,
                push_key: None,
            })),
            ClientMessage::Subscribe(s) => {
                subscribes += 1;
                if subscribes == 1 {
                    replies.extend(history.snapshot(s.sub, 0));
                    for &i in plan {
                        let d = Delta {
                            sub: s.sub,
                            from: i as u64,
                            to: i as u64 + 1,
                            ops: history.deltas[i].clone(),
                            acked: vec![],
                        };
                        replies.push(ServerMessage::Delta(d));
                    }
                } else {
                    replies.extend(history.snapshot(s.sub, history.deltas.len()));
                }
            }
            _ => {}
        }
        for reply in replies {
            ws.send(Message::text(encode(&reply))).await.expect("send");
        }
    }
}

/// What the client must end with: the version the plan reaches by contiguous deltas, or — at
/// the first delta that does not follow — a resync to the last version.
fn expected(plan: &[usize], last: usize) -> (usize, bool) {
    let mut version = 0;
    for &i in plan {
        if i != version {
            return (last, true);
        }
        version += 1;
    }
    (version, false)
}

fn check(ops: Vec<(i64, Option<i64>)>, plan: Vec<usize>) -> Result<(), TestCaseError> {
    let history = History::new(&ops);
    let plan: Vec<usize> = plan.into_iter().filter(|&i| i < history.deltas.len()).collect();
    let (version, resyncs) = expected(&plan, history.deltas.len());
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}/ws", listener.local_addr().expect("addr"));
        let (stop, done) = tokio::sync::oneshot::channel();
        let client = Client::connect(
            ClientConfig::new(url)
                .backoff(Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(50) }),
        );
        let mut sub = client.subscribe(Query::view("v"));
        let consumer = async {
            let mut view = LiveView::<Rows>::new();
            let mut snapshots = 0;
            loop {
                let at = view.position().and_then(|p| usize::try_from(p.version).ok());
                if at == Some(version) && snapshots == 1 + usize::from(resyncs) {
                    // Nothing more may come: wait a moment to see that nothing does.
                    if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await
                    {
                        prop_assert!(matches!(event, ViewEvent::Status(_)), "unexpected {:?}", event);
                        continue;
                    }
                    return Ok(view);
                }
                let event = tokio::time::timeout(Duration::from_secs(5), sub.next())
                    .await
                    .map_err(|_| TestCaseError::fail(format!("stuck at {at:?}, expected {version}")))?
                    .ok_or_else(|| TestCaseError::fail("subscription ended"))?;
                snapshots += usize::from(matches!(event, ViewEvent::Snapshot { .. }));
                prop_assert!(
                    !view.apply(&event).out_of_order,
                    "the runtime handed out a delta that does not follow"
                );
                if let Some(p) = view.position() {
                    let rows: State = view.iter().map(|(k, r)| (k.to_string(), r.clone())).collect();
                    prop_assert_eq!(
                        &rows,
                        &history.states[usize::try_from(p.version).unwrap_or(usize::MAX)],
                        "rows at version {}",
                        p.version
                    );
                }
            }
        };
        let server = serve(listener, &history, &plan, done);
        tokio::pin!(server);
        let result = tokio::select! {
            result = consumer => result,
            _ = &mut server => Err(TestCaseError::fail("the server stopped first")),
        };
        let view = result?;
        let _ = stop.send(());
        let subscribes = server.await;
        prop_assert_eq!(subscribes, 1 + usize::from(resyncs), "one resubscription per detected gap");
        prop_assert_eq!(view.position().and_then(|p| usize::try_from(p.version).ok()), Some(version));
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Reordered, duplicated and missing deltas are detected and resynced, never applied.
    #[test]
    fn gapped_duplicated_or_reordered_deltas_are_resynced_never_applied(
        ops in prop::collection::vec((0i64..6, prop::option::of(0i64..100)), 1..20),
        plan in prop::collection::vec(0usize..20, 0..30),
    ) {
        check(ops, plan)?;
    }

    /// The stream as a good server sends it: every delta once, in order; no resync.
    #[test]
    fn in_order_deltas_are_all_applied(ops in prop::collection::vec((0i64..6, prop::option::of(0i64..100)), 1..20)) {
        let plan: Vec<usize> = (0..ops.len()).collect();
        check(ops, plan)?;
    }
}
