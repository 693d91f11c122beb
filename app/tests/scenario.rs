//! The order desk's scripted scenario (`tests/fixtures/desk.scenario`, run by the terminal client
//! too: `tui/tests/scenario.rs`) on the iced desk: the server's events fed to `update` as its
//! subscription would deliver them, the row's action pressed as its button sends it, and each
//! order's row as the table shows it.

use lucarne::{Answered, Client, ClientConfig, CommandError, ViewEvent};
use lucarne_app::{Action, Desk, Message, update};
use lucarne_testing::scenario::{Replay, Served, Step, desk as scenario};

const CLIENT: &str = "c-scenario";

/// The status cell of an order's row as the table shows it.
fn shown(desk: &Desk, id: &str) -> String {
    desk.table().get(id).and_then(|cells| cells.get(4)).map(|c| c.as_str().to_owned()).unwrap_or_default()
}

#[test]
fn the_desk_scenario_on_the_iced_desk() {
    let mut desk =
        Desk::with_client(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws").client_id(CLIENT)));
    let mut server = Replay::new(CLIENT);
    let feed = |desk: &mut Desk, message: Message| {
        let _task = update(desk, message);
    };
    for step in scenario() {
        let message = match server.serve(&step) {
            Some(Served::Snapshot { at, rows }) => {
                Message::Orders(ViewEvent::Snapshot { at, rows: rows.into(), resynced: None })
            }
            Some(Served::Delta(delta)) => Message::Orders(ViewEvent::Delta(delta)),
            Some(Served::Answer { seq, result }) => {
                let result = result.map_err(|message| CommandError::Rejected {
                    code: lucarne::protocol::ErrorCode::Rejected,
                    message,
                });
                Message::Answered(Answered { seq, result })
            }
            None => match step {
                Step::Act { order, action } => {
                    let index =
                        Action::ALL.iter().position(|a| a.name() == action).expect("pay, ship or cancel");
                    feed(&mut desk, Message::Act(order, index));
                    server.sent(desk.last_sent().map(|c| c.seq).expect("the action sent a command"));
                    continue;
                }
                Step::Shows { order, status, pending } => {
                    // An action on its way reads "paid · sending".
                    let expected = if pending { format!("{status} · sending") } else { status };
                    assert_eq!(lucarne_app::i18n::strip_isolates(&shown(&desk, &order)), expected, "{order}");
                    continue;
                }
                other => panic!("a server's step not served: {other:?}"),
            },
        };
        feed(&mut desk, message);
    }
}
