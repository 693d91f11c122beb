//! The chat room headless (iced_test): messages in Arabic, Hebrew and English, each laid out
//! from its own side; a message posted shows at once and settles when the server's window
//! holds it. The server's side is fed as the live query would deliver it (a real server runs
//! it in `tests/e2e/examples.rs`).

use example_chat::{App, Message};
use iced_test::{Error, Simulator, selector};
use lucarne::iced::keyboard::{Key, key::Named};
use lucarne::protocol::{CommandRef, Delta, Op, Position, Row};
use lucarne::widgets::{Direction, Placed};
use lucarne::{Client, ClientConfig, ViewEvent};
use lucarne_testing::ui::{settings, state, tiny_skia};
use serde_json::json;

fn simulator(app: &App) -> Simulator<'_, Message> {
    Simulator::with_size(settings(), (520.0, 640.0), app.view())
}

fn post(position: u64, author: &str, text: &str) -> Row {
    let row = json!({ "author": author, "text": text, "ts": position as f64 });
    Row { key: json!(position), row: row.as_object().cloned().unwrap_or_default() }
}

/// The room as the live query's first window left it.
fn loaded() -> App {
    let client = Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws").client_id("c-test"));
    let mut app = App::new(client, "Dana");
    let rows =
        vec![post(1, "Nour", "مرحبا بالجميع"), post(2, "Dana", "שלום לכולם"), post(3, "Ada", "Hello, room")];
    let _ = app.update(Message::Posts(ViewEvent::Snapshot {
        at: Position { epoch: 1, version: 3 },
        rows: rows.into(),
        resynced: None,
    }));
    app
}

/// Where a message's glyphs are against its box: (direction, space left of the ink, right of it).
fn check(ui: &mut Simulator<'_, Message>, id: &str, direction: Direction) {
    let placed: Placed = state(ui, id).unwrap_or_else(|| panic!("no message {id}"));
    assert_eq!(placed.direction, direction, "{id}");
    let boxes = placed.boxes();
    let left = boxes.iter().map(|b| b.x).fold(f32::MAX, f32::min) - placed.bounds.x;
    let right =
        placed.bounds.x + placed.bounds.width - boxes.iter().map(|b| b.x + b.width).fold(f32::MIN, f32::max);
    match direction {
        Direction::Rtl => {
            assert!(right < 2.0 && left > 100.0, "{id} starts from the right: {left} / {right}")
        }
        Direction::Ltr => assert!(left < 2.0 && right > 100.0, "{id} starts from the left: {left} / {right}"),
    }
}

#[test]
fn each_message_reads_from_its_own_side_and_a_post_settles() -> Result<(), Error> {
    if !tiny_skia("each_message_reads_from_its_own_side_and_a_post_settles") {
        return Ok(());
    }
    let mut app = loaded();
    {
        let mut ui = simulator(&app);
        check(&mut ui, "post:1", Direction::Rtl);
        check(&mut ui, "post:2", Direction::Rtl);
        check(&mut ui, "post:3", Direction::Ltr);
    }
    // Dana writes in Hebrew with a Latin word inside, and presses Enter.
    let messages: Vec<Message> = {
        let mut ui = simulator(&app);
        ui.click(selector::id("message"))?;
        let _ = ui.typewrite("נתראה ב-Lucarne");
        let _ = ui.tap_key(Key::Named(Named::Enter));
        ui.into_messages().collect()
    };
    for message in messages {
        let _ = app.update(message);
    }
    let shown = app.shown();
    let last = shown.last().expect("a message");
    assert_eq!((last.1, last.2.text.as_str()), (true, "נתראה ב-Lucarne"), "shown at once, last, on its way");
    assert!(simulator(&app).find("נתראה ב-Lucarne …").is_ok());
    // The server's window takes it in (and lets the oldest go, as the limit says).
    let seq = app.posts().pending().map(|(seq, _)| seq).next().expect("pending");
    let ops = vec![
        Op::Upsert { key: json!(4), row: post(4, "Dana", "נתראה ב-Lucarne").row },
        Op::Remove { key: json!(1) },
    ];
    let acked = vec![CommandRef { client_id: "c-test".into(), seq }];
    let _ = app.update(Message::Posts(ViewEvent::Delta(Delta { sub: 1, from: 3, to: 4, ops, acked })));
    let texts: Vec<(bool, String)> =
        app.shown().into_iter().map(|(_, pending, p)| (pending, p.text)).collect();
    assert_eq!(
        texts,
        [(false, "שלום לכולם".to_owned()), (false, "Hello, room".into()), (false, "נתראה ב-Lucarne".into())]
    );
    let mut ui = simulator(&app);
    check(&mut ui, "post:4", Direction::Rtl);
    assert!(ui.find("مرحبا بالجميع").is_err(), "out of the window");
    Ok(())
}
