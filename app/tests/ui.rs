//! Headless UI tests of the desk with `iced_test` on tiny-skia: events from the server are fed
//! to `update` as the subscription would deliver them; clicks go through the real widgets.
//!
//! Each test re-runs itself in a child process with `ICED_TEST_BACKEND=tiny-skia` unless that
//! is already set, so that a machine with a Vulkan driver (lavapipe) still renders the
//! reference pictures with the same software renderer.

use lucarne_testing::ui::{settings, tiny_skia};

use iced_test::selector::Candidate;
use iced_test::{Error, Simulator, selector};
use lucarne::iced::Theme;
use lucarne::protocol::Ack;
use lucarne::protocol::{CommandRef, Delta, Op, Position, Row};
use lucarne::{Answered, Client, ClientConfig, CommandError, ViewEvent};
use lucarne_app::i18n::strip_isolates;
use lucarne_app::{Desk, Message, update, view};
use serde_json::json;

fn simulator(desk: &Desk) -> Simulator<'_, Message> {
    Simulator::with_size(settings(), (1100.0, 700.0), view(desk))
}

/// A desk whose client points at a closed port: nothing arrives but what the test feeds it.
fn desk() -> Desk {
    Desk::with_client(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws").client_id("c-test")))
}

fn order(id: &str, customer: &str, region: &str, total: f64, status: &str) -> Row {
    let row = json!({"order_id": id, "customer": customer, "region": region, "total": total, "status": status, "updated_ms": 0});
    Row { key: json!(id), row: row.as_object().cloned().unwrap_or_default() }
}

fn upsert(row: Row) -> Op {
    Op::Upsert { key: row.key, row: row.row }
}

fn region(name: &str, orders: u64, revenue: f64) -> Row {
    let row = json!({"region": name, "orders": orders, "revenue": revenue, "average": revenue / orders as f64, "largest": revenue});
    Row { key: json!(name), row: row.as_object().cloned().unwrap_or_default() }
}

/// A desk that received the first snapshots of both views.
fn loaded() -> Desk {
    loaded_from(desk())
}

/// `desk` once it received the first snapshots of both views.
fn loaded_from(mut desk: Desk) -> Desk {
    let orders = vec![
        order("o-1", "Ada Lovelace", "eu", 42.5, "placed"),
        order("o-2", "نور الهدى", "mena", 310.0, "paid"),
        order("o-3", "דנה כהן", "mena", 18.25, "shipped"),
        order("o-4", "Chidi Okafor", "us", 99.0, "placed"),
        order("o-5", "Sofía García", "apac", 7.0, "cancelled"),
    ];
    let regions = vec![
        region("eu", 12, 1520.5),
        region("mena", 8, 2210.0),
        region("us", 5, 640.0),
        region("apac", 3, 90.0),
    ];
    feed(
        &mut desk,
        Message::Orders(ViewEvent::Snapshot {
            at: Position { epoch: 1, version: 10 },
            rows: orders.into(),
            resynced: None,
        }),
    );
    feed(
        &mut desk,
        Message::Regions(ViewEvent::Snapshot {
            at: Position { epoch: 1, version: 4 },
            rows: regions.into(),
            resynced: None,
        }),
    );
    desk
}

fn feed(desk: &mut Desk, message: Message) {
    let _task = update(desk, message);
}

fn status(desk: &Desk, id: &str) -> String {
    desk.table().get(id).and_then(|cells| cells.get(4)).map(|c| c.as_str().to_owned()).unwrap_or_default()
}

/// Whether a text reading `expected` once Fluent's isolates (around a message's arguments) are
/// removed is on screen.
fn shows(ui: &mut Simulator<'_, Message>, expected: &str) -> bool {
    ui.find(|candidate: Candidate<'_>| match candidate {
        Candidate::Text { content, .. } if strip_isolates(content) == expected => Some(()),
        _ => None,
    })
    .is_ok()
}

/// The server's ack of the desk's command `seq`, applied at log position `position`.
fn accepted(seq: u64, position: u64) -> Message {
    let ack = Ack { id: 1, client_id: "c-test".into(), seq, position, events: 1, duplicate: false };
    Message::Answered(Answered { seq, result: Ok(ack) })
}

fn delta(from: u64, ops: Vec<Op>, acked: Vec<CommandRef>) -> Message {
    Message::Orders(ViewEvent::Delta(Delta { sub: 1, from, to: from + 1, ops, acked }))
}

#[test]
fn a_row_action_sends_the_command_and_shows_it_at_once() -> Result<(), Error> {
    if !tiny_skia("a_row_action_sends_the_command_and_shows_it_at_once") {
        return Ok(());
    }
    let mut desk = loaded();
    let messages: Vec<Message> = {
        let mut ui = simulator(&desk);
        ui.click(selector::id("o-1:Pay"))?;
        ui.into_messages().collect()
    };
    assert!(matches!(messages.as_slice(), [Message::Act(key, 0)] if key == "o-1"), "{messages:?}");
    for message in messages {
        feed(&mut desk, message);
    }
    // Sent: in the outgoing log, pending, and shown optimistically.
    let sent = desk.last_sent().cloned().expect("a command was sent");
    assert_eq!((sent.name.as_str(), sent.payload.clone()), ("pay_order", json!({"order_id": "o-1"})));
    assert_eq!(desk.pending().len(), 1);
    assert_eq!(status(&desk, "o-1"), "paid · sending");
    assert_eq!(desk.orders().get(&json!("o-1")).and_then(|o| o.status.clone()).as_deref(), Some("placed"));
    {
        let mut ui = simulator(&desk);
        assert!(ui.find("paid · sending").is_ok(), "the row shows the optimistic status");
        assert!(ui.find("1 order shown").is_err());
        assert!(ui.find("5 orders shown · 1 command pending · 0 confirmed").is_ok());
        // The buttons of a row with a command in flight are disabled: a second click sends nothing.
        ui.click(selector::id("o-1:Cancel"))?;
        assert_eq!(ui.into_messages().count(), 0);
    }

    // A delta from someone else on another row leaves the pending state alone.
    feed(&mut desk, delta(10, vec![upsert(order("o-4", "Chidi Okafor", "us", 99.0, "paid"))], vec![]));
    assert_eq!(desk.pending().len(), 1);
    // The delta carrying our ack: the optimistic state is dropped, exactly once.
    let ours = CommandRef { client_id: "c-test".into(), seq: sent.seq };
    feed(
        &mut desk,
        delta(11, vec![upsert(order("o-1", "Ada Lovelace", "eu", 42.5, "paid"))], vec![ours.clone()]),
    );
    assert!(desk.pending().is_empty());
    assert_eq!(status(&desk, "o-1"), "paid");
    // The server's answer: the notice names the order, the status line counts it confirmed.
    feed(&mut desk, accepted(sent.seq, 12));
    assert_eq!(desk.notice().map(|n| strip_isolates(&n)).as_deref(), Some("o-1 paid"));
    // The same delta again (a duplicate) is refused by version and changes nothing.
    feed(&mut desk, delta(11, vec![upsert(order("o-1", "Ada Lovelace", "eu", 42.5, "placed"))], vec![ours]));
    assert_eq!(status(&desk, "o-1"), "paid");
    let mut ui = simulator(&desk);
    assert!(ui.find("paid · sending").is_err());
    assert!(ui.find("5 orders shown · 0 commands pending · 1 confirmed").is_ok());
    ui.click(selector::id("o-1:Ship"))?;
    assert!(
        matches!(ui.into_messages().collect::<Vec<_>>().as_slice(), [Message::Act(key, 1)] if key == "o-1")
    );
    Ok(())
}

#[test]
fn actions_a_previous_run_left_unanswered_show_again_until_the_rows_hold_them() {
    // What the runtime kept of a previous run that paid o-4 and was closed before the answer.
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = dir.path().join("outbox.json");
    let kept =
        json!({"client_id": "c-test", "last_seq": 7, "commands": [[7, "pay_order", {"order_id": "o-4"}]]});
    std::fs::write(&outbox, kept.to_string()).expect("write the outbox");
    let client = Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws").outbox_file(&outbox));
    assert_eq!(client.client_id(), "c-test", "the kept id");
    let mut desk = loaded_from(Desk::with_client(client));
    assert_eq!(status(&desk, "o-4"), "placed");
    let _answers = desk.resume();
    assert_eq!(status(&desk, "o-4"), "paid · sending");
    assert_eq!(desk.pending().len(), 1);
    // The runtime resent it; the delta carrying it lists it: shown as the server has it.
    let ours = CommandRef { client_id: "c-test".into(), seq: 7 };
    feed(&mut desk, delta(10, vec![upsert(order("o-4", "Chidi Okafor", "us", 99.0, "paid"))], vec![ours]));
    assert_eq!(status(&desk, "o-4"), "paid");
    assert!(desk.pending().is_empty());
    // Its answer still names it.
    feed(&mut desk, accepted(7, 11));
    assert_eq!(desk.notice().map(|n| strip_isolates(&n)).as_deref(), Some("o-4 paid"));
}

#[test]
fn a_rejected_command_rolls_the_row_back_and_says_why() -> Result<(), Error> {
    if !tiny_skia("a_rejected_command_rolls_the_row_back_and_says_why") {
        return Ok(());
    }
    let mut desk = loaded();
    feed(&mut desk, Message::Act("o-2".into(), 2));
    assert_eq!(status(&desk, "o-2"), "cancelled · sending");
    let seq = desk.last_sent().map(|s| s.seq).expect("sent");
    let rejection = CommandError::Rejected {
        code: lucarne::protocol::ErrorCode::Rejected,
        message: "too late to cancel".into(),
    };
    feed(&mut desk, Message::Answered(Answered { seq, result: Err(rejection) }));
    assert_eq!(status(&desk, "o-2"), "paid");
    assert!(desk.pending().is_empty());
    let mut ui = simulator(&desk);
    assert!(shows(&mut ui, "Could not cancel o-2: too late to cancel"));
    // The order id and the server's reason are isolated inside the sentence.
    assert!(desk.notice().unwrap_or_default().contains("\u{2068}o-2\u{2069}"));
    assert!(ui.find("cancelled · sending").is_err());
    ui.click("Dismiss")?;
    for message in ui.into_messages() {
        feed(&mut desk, message);
    }
    assert_eq!(desk.notice(), None);
    Ok(())
}

#[test]
fn deltas_update_the_table_and_headers_sort_it() -> Result<(), Error> {
    if !tiny_skia("deltas_update_the_table_and_headers_sort_it") {
        return Ok(());
    }
    let mut desk = loaded();
    feed(
        &mut desk,
        delta(
            10,
            vec![
                upsert(order("o-6", "Grace Hopper", "us", 1234.0, "placed")),
                upsert(order("o-3", "דנה כהן", "mena", 18.25, "cancelled")),
                Op::Remove { key: json!("o-5") },
            ],
            vec![],
        ),
    );
    assert_eq!(desk.table().len(), 5);
    assert_eq!(status(&desk, "o-3"), "cancelled");
    assert!(desk.table().get("o-5").is_none());
    let mut ui = simulator(&desk);
    assert!(ui.find("Grace Hopper").is_ok());
    assert!(ui.find("1,234.00").is_ok(), "totals are grouped the English way");
    assert!(ui.find("Sofía García").is_err());
    // Sort by total, descending after a second click.
    ui.click("Total")?;
    for message in ui.into_messages() {
        feed(&mut desk, message);
    }
    let mut ui = simulator(&desk);
    ui.click("Total")?;
    for message in ui.into_messages() {
        feed(&mut desk, message);
    }
    assert_eq!(desk.table().keys(), ["o-6", "o-2", "o-4", "o-1", "o-3"]);
    // The actions' header sorts nothing: the sort stays by total.
    let sorted = desk.table().sort();
    let mut ui = simulator(&desk);
    ui.click("Actions")?;
    let messages: Vec<Message> = ui.into_messages().collect();
    assert!(!messages.iter().any(|m| matches!(m, Message::Sort(_))), "no sort from Actions: {messages:?}");
    assert_eq!(desk.table().sort(), sorted);
    // A gap in versions is not applied (the runtime resubscribes).
    feed(&mut desk, delta(99, vec![Op::Remove { key: json!("o-6") }], vec![]));
    assert!(desk.table().get("o-6").is_some());
    Ok(())
}

#[test]
fn the_main_screen_matches_its_snapshot() -> Result<(), Error> {
    if !tiny_skia("the_main_screen_matches_its_snapshot") {
        return Ok(());
    }
    let mut desk = loaded();
    feed(&mut desk, Message::Select("o-2".into()));
    let mut ui = simulator(&desk);
    assert!(ui.find("Live").is_ok(), "the badge says live after the snapshot");
    // Where tests/e2e/desktop.rs clicks in the real window (same layout, 1100×700): the "Total"
    // header at (333, 146), the first row's "Pay" at (634, 174), the search box at (150, 109).
    let total = ui.find("Total")?.bounds();
    assert!(total.contains(lucarne::iced::Point::new(333.0, 146.0)), "Total header at {total:?}");
    let search = ui.find(selector::id("search"))?.bounds();
    assert!(search.contains(lucarne::iced::Point::new(150.0, 109.0)), "search box at {search:?}");
    let first = desk.table().row(0).map(|r| r.key.to_owned()).unwrap_or_default();
    let pay = ui.find(selector::id(format!("{first}:Pay")))?.bounds();
    assert!(pay.contains(lucarne::iced::Point::new(634.0, 174.0)), "Pay of the first row at {pay:?}");
    let snapshot = ui.snapshot(&Theme::Light)?;
    assert!(
        snapshot.matches_image("tests/snapshots/main-screen")?,
        "the main screen changed: see tests/snapshots"
    );
    Ok(())
}

#[test]
fn the_filter_box_changes_the_live_query() -> Result<(), Error> {
    if !tiny_skia("the_filter_box_changes_the_live_query") {
        return Ok(());
    }
    let mut desk = loaded();
    let messages: Vec<Message> = {
        let mut ui = simulator(&desk);
        ui.click(selector::id("filter"))?;
        let _ = ui.typewrite("region = 'eu' order by total desc");
        ui.into_messages().collect()
    };
    for message in messages {
        feed(&mut desk, message);
    }
    let mut ui = simulator(&desk);
    ui.click("Apply")?;
    for message in ui.into_messages() {
        feed(&mut desk, message);
    }
    assert_eq!(desk.query(), &lucarne::Query::view("orders").filter("region = 'eu'").order_by("total desc"));
    Ok(())
}

/// The bounds of the widget or text `selector` finds, which must lie inside a `width` × `height`
/// screen, at least `min_width` wide.
fn reachable(
    ui: &mut Simulator<'_, Message>,
    what: &str,
    (width, height): (f32, f32),
    min_width: f32,
) -> lucarne::iced::Rectangle {
    let bounds = ui
        .find(|candidate: Candidate<'_>| match candidate {
            Candidate::Text { content, bounds, .. } if strip_isolates(content) == what => Some(bounds),
            Candidate::Container { id: Some(id), bounds, .. }
                if *id == lucarne::iced::widget::Id::from(what.to_owned()) =>
            {
                Some(bounds)
            }
            _ => None,
        })
        .unwrap_or_else(|_| panic!("{what:?} is not on screen"));
    assert!(
        bounds.x >= 0.0
            && bounds.y >= 0.0
            && bounds.x + bounds.width <= width
            && bounds.y + bounds.height <= height,
        "{what:?} at {bounds:?} is off a {width}×{height} screen"
    );
    assert!(bounds.width >= min_width, "{what:?} is {} wide", bounds.width);
    bounds
}

#[test]
fn a_small_window_keeps_every_column_and_every_action_in_reach() -> Result<(), Error> {
    if !tiny_skia("a_small_window_keeps_every_column_and_every_action_in_reach") {
        return Ok(());
    }
    for locale in lucarne_app::i18n::Locale::ALL {
        for size in [(800.0, 600.0), (640.0, 480.0)] {
            let mut desk = loaded();
            feed(&mut desk, Message::Locale(locale));
            let mut ui = Simulator::with_size(settings(), size, view(&desk));
            for column in
                ["column-order", "column-customer", "column-region", "column-total", "column-status"]
            {
                reachable(&mut ui, &locale.tr(column), size, 40.0);
            }
            reachable(&mut ui, &locale.tr("column-updated"), size, 40.0);
            // Every action of a row, wide enough to read and to hit.
            for action in lucarne_app::Action::ALL {
                let id = format!("o-1:{}", action.label_in(locale));
                let button = ui.find(selector::id(id.clone()))?.bounds();
                assert!(
                    button.x >= 0.0 && button.x + button.width <= size.0 && button.width >= 44.0,
                    "{locale:?} {size:?}: {id} at {button:?}"
                );
            }
            // The summary moved below the table.
            let table = reachable(&mut ui, "orders", size, 300.0);
            let summary = reachable(&mut ui, &locale.tr("sales-by-region"), size, 10.0);
            assert!(
                summary.y >= table.y + table.height,
                "{locale:?} {size:?}: the summary is below the table"
            );
            if size == (800.0, 600.0) {
                let name = format!("tests/snapshots/small-window-{}", locale.code());
                let snapshot = ui.snapshot(&Theme::Light)?;
                assert!(snapshot.matches_image(&name)?, "the small window changed: see {name}");
            }
        }
    }
    Ok(())
}

/// The desk on a user interface that keeps its widgets' state from frame to frame (as a
/// window does), driven by raw mouse events; returns the messages of each frame.
struct Window {
    cache: iced_runtime::user_interface::Cache,
    renderer: lucarne::iced::Renderer,
    pointer: lucarne::iced::Point,
}

impl Window {
    fn new() -> Window {
        let renderer = lucarne::iced::Renderer::Secondary(iced_tiny_skia::Renderer::new(
            lucarne_app::DEFAULT_FONT,
            lucarne::iced::Pixels(16.0),
        ));
        Window {
            cache: iced_runtime::user_interface::Cache::default(),
            renderer,
            pointer: lucarne::iced::Point::ORIGIN,
        }
    }

    /// One frame: `events` with the pointer where it is, then a redraw.
    fn frame(&mut self, desk: &Desk, events: &[lucarne::iced::Event]) -> Vec<Message> {
        use iced_runtime::user_interface::UserInterface;
        let cache = std::mem::take(&mut self.cache);
        let mut ui = UserInterface::build(
            view(desk),
            lucarne::iced::Size::new(1100.0, 700.0),
            cache,
            &mut self.renderer,
        );
        let cursor = lucarne::iced::mouse::Cursor::Available(self.pointer);
        let mut messages = Vec::new();
        let _ = ui.update(
            events,
            cursor,
            &mut self.renderer,
            &mut lucarne::iced::advanced::clipboard::Null,
            &mut messages,
        );
        let style = lucarne::iced::advanced::renderer::Style { text_color: lucarne::iced::Color::BLACK };
        ui.draw(&mut self.renderer, &Theme::Light, &style, cursor);
        self.cache = ui.into_cache();
        messages
    }

    fn move_to(&mut self, desk: &Desk, to: lucarne::iced::Point) -> Vec<Message> {
        self.pointer = to;
        self.frame(
            desk,
            &[lucarne::iced::Event::Mouse(lucarne::iced::mouse::Event::CursorMoved { position: to })],
        )
    }

    fn click(&mut self, desk: &Desk) -> Vec<Message> {
        let left = lucarne::iced::mouse::Button::Left;
        self.frame(
            desk,
            &[
                lucarne::iced::Event::Mouse(lucarne::iced::mouse::Event::ButtonPressed(left)),
                lucarne::iced::Event::Mouse(lucarne::iced::mouse::Event::ButtonReleased(left)),
            ],
        )
    }
}

#[test]
fn a_row_that_slides_under_a_still_pointer_is_not_clicked_by_the_second_click() -> Result<(), Error> {
    if !tiny_skia("a_row_that_slides_under_a_still_pointer_is_not_clicked_by_the_second_click") {
        return Ok(());
    }
    let mut desk = loaded();
    let pay = simulator(&desk).find(selector::id("o-1:Pay"))?.bounds().center();
    let mut window = Window::new();
    let _ = window.frame(&desk, &[]);
    assert!(window.move_to(&desk, pay).is_empty());
    let first = window.click(&desk);
    assert!(matches!(first.as_slice(), [Message::Act(key, 0)] if key == "o-1"), "{first:?}");
    for message in first {
        feed(&mut desk, message);
    }
    // The server's delta takes o-1 out of the view (as a filter on `placed` would) and brings
    // o-0, placed: the first row now, its Pay under the pointer.
    let ops = vec![Op::Remove { key: json!("o-1") }, upsert(order("o-0", "Zoe", "eu", 1.0, "placed"))];
    feed(&mut desk, delta(10, ops, vec![]));
    assert_eq!(desk.table().row(0).map(|r| r.key.to_owned()).as_deref(), Some("o-0"));
    // The row that slid under the still pointer is drawn, and the second click of a double
    // click lands on it: nothing is sent.
    let _ = window.frame(&desk, &[]);
    let second = window.click(&desk);
    assert!(second.is_empty(), "the second click acted on the row that slid in: {second:?}");
    // Once the pointer moves onto it, it is aimed at.
    assert!(window.move_to(&desk, lucarne::iced::Point::new(pay.x + 1.0, pay.y)).is_empty());
    let third = window.click(&desk);
    assert!(matches!(third.as_slice(), [Message::Act(key, 0)] if key == "o-0"), "{third:?}");
    Ok(())
}

#[test]
fn the_updated_column_shows_when_each_order_changed_and_sorts_by_it() {
    let mut desk = desk();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let at = |id: &str, ms: i64| {
        let row = json!({"order_id": id, "customer": "Ada", "region": "eu", "total": 1.0, "status": "placed", "updated_ms": ms});
        Row { key: json!(id), row: row.as_object().cloned().unwrap_or_default() }
    };
    let rows = vec![at("o-1", now - 3 * 86_400_000), at("o-2", now), at("o-3", now - 60_000)];
    feed(
        &mut desk,
        Message::Orders(ViewEvent::Snapshot {
            at: Position { epoch: 1, version: 1 },
            rows: rows.into(),
            resynced: None,
        }),
    );
    let updated = |desk: &Desk, id: &str| {
        desk.table().get(id).map(|cells| cells[5].as_str().to_owned()).unwrap_or_default()
    };
    // Today: the time of day; three days ago: the date.
    let today = updated(&desk, "o-2");
    assert!(today.len() == 8 && today.as_bytes()[2] == b':' && today.as_bytes()[5] == b':', "{today:?}");
    let earlier = updated(&desk, "o-1");
    assert!(
        earlier.len() == 10 && earlier.as_bytes()[4] == b'-' && earlier.as_bytes()[7] == b'-',
        "{earlier:?}"
    );
    // The query's order by the time: the newest first.
    feed(&mut desk, Message::FilterChanged("order by updated_ms desc".into()));
    feed(&mut desk, Message::ApplyFilter);
    assert_eq!(desk.table().keys(), ["o-2", "o-3", "o-1"]);
}

#[test]
fn a_notice_never_moves_the_rows_under_the_pointer() -> Result<(), Error> {
    if !tiny_skia("a_notice_never_moves_the_rows_under_the_pointer") {
        return Ok(());
    }
    let mut desk = loaded();
    let before = simulator(&desk).find(selector::id("o-4:Pay"))?.bounds();
    feed(&mut desk, Message::Act("o-1".into(), 0));
    let seq = desk.last_sent().map(|s| s.seq).expect("sent");
    feed(&mut desk, accepted(seq, 99));
    let mut ui = simulator(&desk);
    assert!(shows(&mut ui, "o-1 paid"), "the notice names the order");
    assert_eq!(ui.find(selector::id("o-4:Pay"))?.bounds(), before, "the rows stayed where they were");
    Ok(())
}

/// What the server's live search would send: the orders `keys` found, with the counts given.
fn found(keys: &[&str], status: &[(&str, u64)], region: &[(&str, u64)]) -> Message {
    let hit = |key: &&str| lucarne::SearchHit {
        key: json!(key),
        row: serde_json::Map::new(),
        typos: 0,
        highlights: Default::default(),
    };
    let counts = |c: &[(&str, u64)]| {
        c.iter()
            .map(|(value, count)| lucarne::FacetCount { value: (*value).to_owned(), count: *count })
            .collect()
    };
    let facets = [("status".to_owned(), counts(status)), ("region".to_owned(), counts(region))].into();
    Message::Found(lucarne::SearchEvent::Found(lucarne::Found {
        total: keys.len() as u64,
        hits: keys.iter().map(hit).collect(),
        facets,
    }))
}

/// The ids of the table's rows, sorted.
fn rows_shown(desk: &Desk) -> Vec<String> {
    let mut ids = desk.table().keys();
    ids.sort();
    ids
}

#[test]
fn the_search_box_narrows_the_table_and_facet_values_narrow_it_further() -> Result<(), Error> {
    if !tiny_skia("the_search_box_narrows_the_table_and_facet_values_narrow_it_further") {
        return Ok(());
    }
    let mut desk = loaded();
    // The box shows at once (no answer yet, no count); a server without the index takes it away.
    {
        let mut ui = simulator(&desk);
        assert!(ui.find(selector::id("search")).is_ok() && ui.find(selector::id("search-found")).is_err());
    }
    let mut without = loaded();
    let refused = lucarne::SearchEvent::Failed {
        code: lucarne::protocol::ErrorCode::UnknownSearch,
        message: "no search index named \"order_search\"".into(),
    };
    feed(&mut without, Message::Found(refused));
    assert!(simulator(&without).find(selector::id("search")).is_err());
    assert_eq!(without.table().len(), 5);
    let all = ["o-1", "o-2", "o-3", "o-4", "o-5"];
    let every_status = [("placed", 2), ("cancelled", 1), ("paid", 1), ("shipped", 1)];
    feed(&mut desk, found(&all, &every_status, &[("mena", 2), ("apac", 1), ("eu", 1), ("us", 1)]));
    assert_eq!(rows_shown(&desk), all, "nothing typed, nothing picked: every order");
    {
        let mut ui = simulator(&desk);
        assert!(shows(&mut ui, "5 found"));
        assert!(shows(&mut ui, "placed 2") && shows(&mut ui, "mena 2"), "each value with its count");
    }

    // Typing searches as typed: each key a new live search.
    let messages: Vec<Message> = {
        let mut ui = simulator(&desk);
        ui.click(selector::id("search"))?;
        let _ = ui.typewrite("ada");
        ui.into_messages().collect()
    };
    for message in messages {
        feed(&mut desk, message);
    }
    assert_eq!(desk.search_query().text, "ada");
    feed(&mut desk, found(&["o-1", "o-4"], &[("placed", 2)], &[("eu", 1), ("us", 1)]));
    assert_eq!(rows_shown(&desk), ["o-1", "o-4"], "the table shows the orders found");

    // Picking a region narrows further; the region's other value keeps its count.
    let messages: Vec<Message> = {
        let mut ui = simulator(&desk);
        assert!(shows(&mut ui, "2 found") && shows(&mut ui, "us 1"));
        ui.click(selector::id("facet-region-eu"))?;
        ui.into_messages().collect()
    };
    for message in messages {
        feed(&mut desk, message);
    }
    assert_eq!(desk.search_query().selected["region"], ["eu".to_owned()].into());
    feed(&mut desk, found(&["o-1"], &[("placed", 1)], &[("eu", 1), ("us", 1)]));
    assert_eq!(rows_shown(&desk), ["o-1"]);
    // A change the server pushes (o-4 found no more) follows at once, and Clear brings all back.
    let messages: Vec<Message> = {
        let mut ui = simulator(&desk);
        ui.click("Clear")?;
        ui.into_messages().collect()
    };
    for message in messages {
        feed(&mut desk, message);
    }
    assert_eq!(desk.search_query().text, "");
    assert!(desk.search_query().selected.is_empty());
    assert_eq!(rows_shown(&desk), all);

    // In Arabic the bar reads right to left: the box at the right, the counts in Arabic digits.
    feed(&mut desk, Message::Locale(lucarne_app::i18n::Locale::Ar));
    feed(&mut desk, found(&all, &every_status, &[("mena", 2)]));
    let mut ui = simulator(&desk);
    assert!(shows(&mut ui, "النتائج: ٥"), "the count in the locale's digits");
    let search = ui.find(selector::id("search"))?.bounds();
    let chip = ui.find(selector::id("facet-region-mena"))?.bounds();
    assert!(search.x > chip.x, "the search box starts the line on the right: {search:?} {chip:?}");
    let snapshot = ui.snapshot(&Theme::Light)?;
    assert!(
        snapshot.matches_image("tests/snapshots/search-bar-ar")?,
        "the Arabic search bar changed: see tests/snapshots"
    );
    Ok(())
}

#[test]
fn the_status_line_ends_with_the_version_it_is_given() -> Result<(), Error> {
    if !tiny_skia("the_status_line_ends_with_the_version_it_is_given") {
        return Ok(());
    }
    let about = "Lucarne 0.1.0 (commit 0123456789ab)";
    let config = lucarne_app::Config::new("ws://127.0.0.1:9/ws").about(about);
    let desk = loaded_from(Desk::new(config));
    let mut ui = simulator(&desk);
    let line = ui.find(selector::id("about-line"))?.bounds();
    let counts = ui.find(selector::id("status-line"))?.bounds();
    assert!(shows(&mut ui, about), "the version is on screen");
    assert!(
        line.x > counts.x && (line.y - counts.y).abs() < 1.0,
        "at the line's end: {line:?} after {counts:?}"
    );
    // Without one (the browser build, the tests), nothing is added.
    let plain = loaded();
    let mut ui = simulator(&plain);
    assert!(ui.find(selector::id("about-line")).is_err());
    Ok(())
}
