//! The todo list headless (iced_test), as a user sees it: todos added and ticked show at once,
//! settle when the server's rows hold them, and roll back with the reason when refused. The
//! server's side is fed as the subscription would deliver it (a real server runs the same
//! scenario in the end-to-end tests: `tests/e2e/examples.rs`).

use example_todo::{App, Edit, Message};
use iced_test::{Error, Simulator, selector};
use lucarne::iced::keyboard::{Key, key::Named};
use lucarne::protocol::{Ack, CommandRef, Delta, ErrorCode, Op, Position, Row};
use lucarne::{Answered, Client, ClientConfig, CommandError, ViewEvent};
use lucarne_testing::ui::{settings, tiny_skia};
use serde_json::json;

fn simulator(app: &App) -> Simulator<'_, Message> {
    Simulator::with_size(settings(), (480.0, 600.0), app.view())
}

/// The app as the server's snapshot left it: two todos, one of them done.
fn loaded() -> App {
    // A client of a closed port: nothing arrives but what the test feeds.
    let (mut app, _) =
        App::new(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws").client_id("c-test")));
    let rows = vec![todo("t-1", "Buy milk", false, 1.0), todo("t-2", "شراء الخبز", true, 2.0)];
    feed(
        &mut app,
        Message::Todos(ViewEvent::Snapshot {
            at: Position { epoch: 1, version: 2 },
            rows: rows.into(),
            resynced: None,
        }),
    );
    app
}

fn todo(id: &str, title: &str, done: bool, created: f64) -> Row {
    let row = json!({ "id": id, "title": title, "done": done, "created_ms": created });
    Row { key: json!(id), row: row.as_object().cloned().unwrap_or_default() }
}

fn feed(app: &mut App, message: Message) {
    let _task = app.update(message);
}

/// Clicks, types and keys through the real widgets; their messages go to `update`.
fn act(
    app: &mut App,
    steps: impl FnOnce(&mut Simulator<'_, Message>) -> Result<(), Error>,
) -> Result<(), Error> {
    let messages: Vec<Message> = {
        let mut ui = simulator(app);
        steps(&mut ui)?;
        ui.into_messages().collect()
    };
    for message in messages {
        feed(app, message);
    }
    Ok(())
}

/// Whether each of `texts` is on screen.
fn check(app: &App, texts: &[&str]) {
    let mut ui = simulator(app);
    for text in texts {
        assert!(ui.find(*text).is_ok(), "{text:?} is not on screen");
    }
}

#[test]
fn a_todo_added_shows_at_once_then_as_the_server_has_it() -> Result<(), Error> {
    if !tiny_skia("a_todo_added_shows_at_once_then_as_the_server_has_it") {
        return Ok(());
    }
    let mut app = loaded();
    check(&app, &["Buy milk", "شراء الخبز", "1 left"]);
    act(&mut app, |ui| {
        ui.click(selector::id("title"))?;
        let _ = ui.typewrite("Call Ada");
        let _ = ui.tap_key(Key::Named(Named::Enter));
        Ok(())
    })?;
    // Shown at once, marked as on its way.
    let pending: Vec<(u64, Edit)> = app.todos().pending().map(|(seq, e)| (seq, e.clone())).collect();
    let [(seq, Edit::Add { id, title })] = pending.as_slice() else { panic!("one add pending: {pending:?}") };
    assert_eq!(title, "Call Ada");
    check(&app, &["Call Ada …", "2 left"]);
    // The delta carrying it: shown as the server has it.
    let ops = vec![Op::Upsert { key: json!(id), row: todo(id, "Call Ada", false, 3.0).row }];
    let acked = vec![CommandRef { client_id: "c-test".into(), seq: *seq }];
    feed(&mut app, Message::Todos(ViewEvent::Delta(Delta { sub: 1, from: 2, to: 3, ops, acked })));
    assert_eq!(app.todos().pending().count(), 0);
    check(&app, &["Call Ada", "2 left"]);
    assert!(simulator(&app).find("Call Ada …").is_err(), "no longer marked");
    Ok(())
}

#[test]
fn a_tick_refused_rolls_back_with_the_reason() -> Result<(), Error> {
    if !tiny_skia("a_tick_refused_rolls_back_with_the_reason") {
        return Ok(());
    }
    let mut app = loaded();
    act(&mut app, |ui| ui.click("Buy milk").map(|_| ()))?;
    assert_eq!(app.todos().get(&json!("t-1")).map(|t| t.done), Some(true), "ticked at once");
    check(&app, &["Buy milk …", "0 left"]);
    // Someone ticked it first: the route's `WHEN done = false` refuses it.
    let seq = app.todos().pending().map(|(seq, _)| seq).next().expect("pending");
    let refused =
        CommandError::Rejected { code: ErrorCode::Rejected, message: "t-1: done = false is false".into() };
    feed(&mut app, Message::Answered(Answered { seq, result: Err(refused) }));
    assert_eq!(app.todos().get(&json!("t-1")).map(|t| t.done), Some(false), "rolled back");
    check(&app, &["Buy milk", "1 left"]);
    assert_eq!(app.error(), Some("Could not change t-1: rejected (rejected): t-1: done = false is false"));
    // An accepted tick whose ack comes before its delta stays shown until the rows hold it.
    act(&mut app, |ui| ui.click("Buy milk").map(|_| ()))?;
    let seq = app.todos().pending().map(|(seq, _)| seq).next().expect("pending");
    let ack = Ack { id: 1, client_id: "c-test".into(), seq, position: 3, events: 1, duplicate: false };
    feed(&mut app, Message::Answered(Answered { seq, result: Ok(ack) }));
    check(&app, &["Buy milk …", "0 left"]);
    let ops = vec![Op::Upsert { key: json!("t-1"), row: todo("t-1", "Buy milk", true, 1.0).row }];
    feed(&mut app, Message::Todos(ViewEvent::Delta(Delta { sub: 1, from: 2, to: 3, ops, acked: vec![] })));
    check(&app, &["Buy milk", "0 left"]);
    assert_eq!(app.todos().pending().count(), 0, "the rows reached the ack's position");
    Ok(())
}
