//! The order desk's scripted scenario (`tests/fixtures/desk.scenario`, run by the terminal client
//! too: `tui/tests/scenario.rs`) on the iced desk: the server's events fed to `update` as its
//! subscription would deliver them, the row's action pressed as its button sends it, and each
//! order's row as the table shows it.

use lucarne::protocol::{Ack, CommandRef, Delta, Op, Position, Row};
use lucarne::{Answered, Client, ClientConfig, CommandError, ViewEvent};
use lucarne_app::{Action, Desk, Message, update};
use lucarne_testing::scenario::{Order, Step, desk as scenario};
use serde_json::json;

const CLIENT: &str = "c-scenario";

fn row(order: &Order, status: &str) -> Row {
    let row = json!({"order_id": order.id, "customer": order.customer, "region": "eu", "total": order.total, "status": status});
    Row { key: json!(order.id), row: row.as_object().cloned().unwrap_or_default() }
}

/// The status cell of an order's row as the table shows it.
fn shown(desk: &Desk, id: &str) -> String {
    desk.table().get(id).and_then(|cells| cells.get(4)).map(|c| c.as_str().to_owned()).unwrap_or_default()
}

#[test]
fn the_desk_scenario_on_the_iced_desk() {
    let mut desk =
        Desk::with_client(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws").client_id(CLIENT)));
    let mut orders: Vec<Order> = Vec::new();
    let mut sent: Vec<u64> = Vec::new();
    let mut version = 1;
    let feed = |desk: &mut Desk, message: Message| {
        let _task = update(desk, message);
    };
    for step in scenario() {
        match step {
            Step::Snapshot(rows) => {
                let snapshot = rows.iter().map(|o| row(o, &o.status)).collect();
                orders = rows;
                let at = Position { epoch: 1, version };
                feed(&mut desk, Message::Orders(ViewEvent::Snapshot { at, rows: snapshot, resynced: None }));
            }
            Step::Delta { order, status, acked } => {
                let Some(o) = orders.iter().find(|o| o.id == order) else { panic!("no order {order}") };
                let Row { key, row } = row(o, &status);
                let acked = acked
                    .map(|n| CommandRef { client_id: CLIENT.into(), seq: sent[n - 1] })
                    .into_iter()
                    .collect();
                let delta = Delta {
                    sub: 1,
                    from: version,
                    to: version + 1,
                    ops: vec![Op::Upsert { key, row }],
                    acked,
                };
                version += 1;
                feed(&mut desk, Message::Orders(ViewEvent::Delta(delta)));
            }
            Step::Act { order, action } => {
                let index = Action::ALL.iter().position(|a| a.name() == action).expect("pay, ship or cancel");
                feed(&mut desk, Message::Act(order, index));
                sent.push(desk.last_sent().map(|c| c.seq).expect("the action sent a command"));
            }
            Step::Ack { command, position } => {
                let seq = sent[command - 1];
                let ack = Ack { id: 1, client_id: CLIENT.into(), seq, position, events: 1, duplicate: false };
                feed(&mut desk, Message::Answered(Answered { seq, result: Ok(ack) }));
            }
            Step::Reject { command, message } => {
                let seq = sent[command - 1];
                let error = CommandError::Rejected { code: lucarne::protocol::ErrorCode::Rejected, message };
                feed(&mut desk, Message::Answered(Answered { seq, result: Err(error) }));
            }
            Step::Shows { order, status, pending } => {
                // An action on its way reads "paid · sending".
                let expected = if pending { format!("{status} · sending") } else { status };
                assert_eq!(lucarne_app::i18n::strip_isolates(&shown(&desk, &order)), expected, "{order}");
            }
        }
    }
}
