//! The order desk's scripted scenario (`tests/fixtures/desk.scenario`, run by the iced desk too:
//! `app/tests/scenario.rs`) on the terminal client with the desk's keys (`lucarne tui --desk`):
//! the server's events fed to `update` as the driver delivers them, the row's action pressed as
//! its key, and each order's row as the screen shows it (ratatui's `TestBackend`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lucarne_protocol::{ErrorCode, Position, ViewInfo};
use lucarne_runtime::{Answered, CommandError, ViewEvent};
use lucarne_testing::scenario::{Replay, Served, Step, desk as scenario};
use lucarne_tui::app::{App, Effect, Msg, desk};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const CLIENT: &str = "c-scenario";

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// The screen line that shows an order, as drawn.
fn line_of(app: &App, id: &str) -> String {
    let (width, height) = app.size();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|frame| lucarne_tui::view::view(app, frame)).expect("drawn");
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect::<String>())
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap_or_default()
}

#[test]
fn the_desk_scenario_in_the_terminal() {
    let mut options = desk();
    options.client_id = CLIENT.into();
    // Wide enough for the table and the chart beside it.
    let mut app = App::new(options, (140, 20));
    assert_eq!(app.start().first(), Some(&Effect::ListViews));
    let at = Position { epoch: 1, version: 1 };
    app.update(Msg::Views(Ok(vec![ViewInfo { name: "orders".into(), sql: String::new(), at, rows: 3 }])));
    let mut server = Replay::new(CLIENT);
    let mut sent = 0;
    for step in scenario() {
        let msg = match server.serve(&step) {
            Some(Served::Snapshot { at, rows }) => {
                Msg::View(ViewEvent::Snapshot { at, rows: rows.into(), resynced: None })
            }
            Some(Served::Delta(delta)) => Msg::View(ViewEvent::Delta(delta)),
            Some(Served::Answer { seq, result }) => {
                let result =
                    result.map_err(|message| CommandError::Rejected { code: ErrorCode::Rejected, message });
                Msg::Delivered(Answered { seq, result })
            }
            None => {
                match step {
                    Step::Act { order, action } => {
                        // Select the order's row, then its key (P pay, S ship, C cancel).
                        key(&mut app, KeyCode::Home);
                        while app.key_at(app.selected()).map(String::as_str) != Some(&format!("\"{order}\""))
                        {
                            let before = app.selected();
                            key(&mut app, KeyCode::Down);
                            assert_ne!(app.selected(), before, "no row {order}");
                        }
                        let letter = match action.as_str() {
                            "pay" => 'P',
                            "ship" => 'S',
                            "cancel" => 'C',
                            other => panic!("no action {other}"),
                        };
                        let Some(Effect::Act(change)) = key(&mut app, KeyCode::Char(letter)).pop() else {
                            panic!("{action} sent nothing")
                        };
                        // The driver's part: the client's next seq.
                        let seq = 100 + sent;
                        sent += 1;
                        app.begin(seq, change);
                        server.sent(seq);
                    }
                    Step::Shows { order, status, pending } => {
                        let line = line_of(&app, &order);
                        assert!(
                            line.split_whitespace().any(|w| w == status),
                            "{order} shows {status}: {line:?}"
                        );
                        // An action on its way: the row is drawn in italics until the rows hold it.
                        assert_eq!(app.is_pending(&format!("\"{order}\"")), pending, "{order} pending");
                    }
                    other => panic!("a server's step not served: {other:?}"),
                }
                continue;
            }
        };
        app.update(msg);
    }
}
