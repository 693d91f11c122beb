//! The program's transitions, message by message, with a clock of the test's own.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lucarne_protocol::{Delta, ErrorCode, Op, Position, Row, ViewInfo};
use lucarne_runtime::{LinkError, Status};
use serde_json::{Value, json};

use super::*;

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| app.update(key(KeyCode::Char(c)))).collect()
}

fn order(id: &str, status: &str, total: f64) -> Row {
    let row = json!({"order_id": id, "status": status, "total": total});
    Row { key: json!(id), row: row.as_object().cloned().unwrap_or_default() }
}

fn snapshot(rows: Vec<Row>) -> Msg {
    Msg::View(ViewEvent::Snapshot {
        at: Position { epoch: 1, version: 1 },
        rows: rows.into(),
        resynced: None,
    })
}

fn delta(ops: Vec<Op>) -> Msg {
    Msg::View(ViewEvent::Delta(Delta { sub: 1, from: 1, to: 2, ops, acked: Vec::new() }))
}

/// Starts the app: the view asked for is opened once the list says it has `rows` rows.
fn listed(app: &mut App, rows: u64) -> Vec<Effect> {
    assert_eq!(app.start(), vec![Effect::ListViews]);
    let name = app.options().view.clone().unwrap_or_default();
    let info = ViewInfo { name, sql: String::new(), at: Position { epoch: 1, version: 1 }, rows };
    app.update(Msg::Views(Ok(vec![info])))
}

/// An app on the orders view with three rows, `p` paying the selected one.
fn orders() -> App {
    let options = Options {
        view: Some("orders".into()),
        actions: vec!["p=pay_order:order_id>status=paid".parse().expect("an action")],
        client_id: "me".into(),
        ..Options::default()
    };
    let mut app = App::new(options, (80, 12));
    assert_eq!(listed(&mut app, 3), vec![Effect::Subscribe(Query::view("orders"))]);
    app.update(snapshot(vec![
        order("o-10", "placed", 5.0),
        order("o-9", "paid", 7.5),
        order("o-2", "placed", 1.0),
    ]));
    app
}

fn keys(app: &App) -> Vec<String> {
    (0..app.rows().len()).filter_map(|i| app.rows().key_at(i).cloned()).collect()
}

#[test]
fn rows_come_in_natural_key_order_and_the_selection_follows_its_row() {
    let mut app = orders();
    assert_eq!(keys(&app), ["\"o-2\"", "\"o-9\"", "\"o-10\""]);
    app.update(key(KeyCode::Down));
    assert_eq!(app.rows().key_at(app.selected()).map(String::as_str), Some("\"o-9\""));
    // A row put before it moves it down; the selection stays on o-9.
    app.update(delta(vec![Op::Upsert { key: json!("o-1"), row: order("o-1", "placed", 2.0).row }]));
    assert_eq!(app.selected(), 2);
    assert_eq!(app.rows().key_at(2).map(String::as_str), Some("\"o-9\""));
    // Its removal leaves the selection at the same place.
    app.update(delta(vec![Op::Remove { key: json!("o-9") }]));
    assert_eq!(app.rows().key_at(app.selected()).map(String::as_str), Some("\"o-10\""));
}

#[test]
fn sorting_by_a_column_and_again_turns_the_order_round() {
    let mut app = orders();
    app.update(key(KeyCode::Right));
    app.update(key(KeyCode::Right));
    assert_eq!(app.column(), 2);
    app.update(key(KeyCode::Char('s')));
    assert_eq!(keys(&app), ["\"o-2\"", "\"o-10\"", "\"o-9\""]);
    app.update(key(KeyCode::Char('s')));
    assert_eq!(keys(&app), ["\"o-9\"", "\"o-10\"", "\"o-2\""]);
}

fn ack(seq: u64, position: u64) -> Result<Ack, CommandError> {
    Ok(Ack { id: seq, client_id: "me".into(), seq, position, events: 1, duplicate: false })
}

fn status_shown(app: &App, index: usize) -> Option<Value> {
    app.shown_row(index).and_then(|r| r.get("status").cloned())
}

#[test]
fn an_action_is_shown_at_once_held_by_the_ack_carrying_delta_and_rolled_back_when_refused() {
    let mut app = orders();
    let effects = app.update(key(KeyCode::Char('p')));
    let change = RowAction {
        command: "pay_order".into(),
        payload: json!({"order_id": "o-2"}),
        key: json!("o-2"),
        shows: Some(("status".into(), json!("paid"))),
    };
    assert_eq!(effects, vec![Effect::Act(change.clone())]);
    let command = app.begin(7, change);
    assert_eq!((command.seq, command.name.as_str()), (7, "pay_order"));
    // Shown paid at once, in italics (pending).
    assert_eq!(status_shown(&app, 0), Some(json!("paid")));
    assert!(app.is_pending("\"o-2\""));
    // Accepted: still shown paid until the rows hold it.
    app.update(Msg::Delivered(Answered { seq: 7, result: ack(7, 40) }));
    assert!(matches!(app.notice(), Some(Notice::Accepted { position: Some(40), .. })));
    assert!(app.is_pending("\"o-2\""));
    // The delta that carries it: the server's row, no longer pending.
    let paid = Op::Upsert { key: json!("o-2"), row: order("o-2", "paid", 1.0).row };
    app.update(Msg::View(ViewEvent::Delta(Delta {
        sub: 1,
        from: 1,
        to: 2,
        ops: vec![paid],
        acked: vec![lucarne_protocol::CommandRef { client_id: "me".into(), seq: 7 }],
    })));
    assert!(!app.is_pending("\"o-2\""));
    assert_eq!(status_shown(&app, 0), Some(json!("paid")));

    // Refused: rolled back, and the reason shown.
    app.update(key(KeyCode::Down));
    let Some(Effect::Act(change)) = app.update(key(KeyCode::Char('p'))).pop() else { panic!("an action") };
    app.begin(8, change);
    assert_eq!(status_shown(&app, 1), Some(json!("paid")));
    let rejected = CommandError::Rejected { code: ErrorCode::Rejected, message: "it is paid".into() };
    app.update(Msg::Delivered(Answered { seq: 8, result: Err(rejected) }));
    assert_eq!(status_shown(&app, 1), Some(json!("paid")), "o-9 was paid by the server already");
    assert!(!app.is_pending("\"o-9\""));
    assert!(
        matches!(app.notice(), Some(Notice::Rejected { code, message, .. }) if code == "rejected" && message == "it is paid")
    );
}

#[test]
fn a_refused_action_shows_the_row_as_the_server_has_it_again() {
    let mut app = orders();
    let Some(Effect::Act(change)) = app.update(key(KeyCode::Char('p'))).pop() else { panic!("an action") };
    app.begin(3, change);
    assert_eq!(status_shown(&app, 0), Some(json!("paid")));
    let rejected = CommandError::Rejected { code: ErrorCode::Rejected, message: "no".into() };
    app.update(Msg::Delivered(Answered { seq: 3, result: Err(rejected) }));
    assert_eq!(status_shown(&app, 0), Some(json!("placed")));
}

#[test]
fn a_command_typed_at_the_prompt_shows_its_answer() {
    let mut app = orders();
    app.update(key(KeyCode::Char(':')));
    typed(&mut app, "pay_order {\"order_id\": \"o-2\"}");
    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::Send { id: 1, name: "pay_order".into(), payload: json!({"order_id": "o-2"}) }]
    );
    assert_eq!(app.pending().len(), 1);
    app.update(Msg::Answered { id: 1, answer: ack(1, 42) });
    assert!(app.pending().is_empty());
    assert_eq!(app.notice(), Some(&Notice::Accepted { command: "pay_order".into(), position: Some(42) }));
}

#[test]
fn a_refused_query_is_pointed_at_and_the_last_good_one_watched_again() {
    let mut app = orders();
    assert!(app.update(key(KeyCode::Char('/'))).is_empty());
    let effects: Vec<Effect> = typed(&mut app, "total >> 2");
    assert!(effects.is_empty());
    let effects = app.update(key(KeyCode::Enter));
    let tried = Query::view("orders").filter("total >> 2");
    assert_eq!(effects, vec![Effect::Subscribe(tried.clone())]);
    let failed = ViewEvent::Failed {
        code: ErrorCode::InvalidSql,
        message: "expected an expression, found: > at line 1, column 8".into(),
    };
    let effects = app.update(Msg::View(failed));
    assert_eq!(effects, vec![Effect::Subscribe(Query::view("orders"))]);
    assert!(matches!(
        app.notice(),
        Some(Notice::BadQuery { field: Field::Where, column: Some(7), tried: t, .. }) if *t == tried
    ));
    assert_eq!(app.rows().len(), 3, "the rows stay");
    // Editing again starts from the refused text, the caret where the server pointed.
    app.update(key(KeyCode::Char('/')));
    let Mode::Query { fields, focus: Field::Where } = app.mode() else { panic!("editing the where") };
    assert_eq!((fields[0].value(), fields[0].caret()), ("total >> 2", 7));
    app.update(key(KeyCode::Delete));
    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Subscribe(Query::view("orders").filter("total > 2"))]);
    app.update(snapshot(vec![order("o-9", "paid", 7.5)]));
    assert_eq!(app.notice(), None, "a query that gives rows clears the refusal");
}

#[test]
fn the_offline_badge_counts_down_and_live_comes_back() {
    let mut app = orders();
    let t0 = Instant::now();
    let offline = Status::Offline { retry_in: Duration::from_millis(2500), reason: LinkError::Closed };
    app.update_at(Msg::View(ViewEvent::Status(offline)), t0);
    assert!(app.ticking());
    let Link::Offline { retry_at, .. } = app.link().clone() else { panic!("offline") };
    assert_eq!(seconds_left(retry_at, t0), 3);
    app.update_at(Msg::Tick(t0), t0 + Duration::from_millis(1600));
    assert_eq!(seconds_left(retry_at, app.now()), 1);
    app.update(Msg::View(ViewEvent::Status(Status::Live)));
    assert!(!app.ticking());
}

#[test]
fn a_command_typed_is_sent_with_its_payload_or_its_json_error_shown() {
    let mut app = orders();
    app.update(key(KeyCode::Char(':')));
    typed(&mut app, "place_order {\"order_id\": \"o-3\"");
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert!(matches!(app.notice(), Some(Notice::Error(e)) if e.starts_with("payload")));
    app.update(key(KeyCode::Char('}')));
    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::Send { id: 1, name: "place_order".into(), payload: json!({"order_id": "o-3"}) }]
    );
}

#[test]
fn an_unknown_view_goes_back_to_the_list() {
    let mut app = App::new(Options { view: Some("nope".into()), ..Options::default() }, (80, 12));
    assert_eq!(app.start(), vec![Effect::ListViews]);
    // Not in the list: subscribed to all the same (the server says why not).
    assert_eq!(app.update(Msg::Views(Ok(Vec::new()))), vec![Effect::Subscribe(Query::view("nope"))]);
    let failed = ViewEvent::Failed { code: ErrorCode::UnknownView, message: "no view nope".into() };
    assert_eq!(app.update(Msg::View(failed)), vec![Effect::Unsubscribe, Effect::ListViews]);
    assert_eq!(app.screen(), Screen::Views);
}

#[test]
fn actions_are_read_from_text() {
    let action: Action = "p=pay_order:order_id,region".parse().expect("an action");
    assert_eq!(action.columns, ["order_id", "region"]);
    assert_eq!(action.shows, None);
    let action: Action = "x=ship_order:order_id>status=shipped".parse().expect("an action");
    assert_eq!(action.shows, Some(("status".into(), json!("shipped"))));
    let action: Action = "f=flag:id>flagged=true".parse().expect("an action");
    assert_eq!(action.shows, Some(("flagged".into(), json!(true))));
    assert!("s=ship_order".parse::<Action>().is_err(), "s sorts");
    assert!("pay_order".parse::<Action>().is_err());
}

#[test]
fn the_page_follows_the_selection() {
    let mut app = App::new(Options { view: Some("orders".into()), ..Options::default() }, (80, 10));
    listed(&mut app, 100);
    let rows: Vec<Row> = (0..100).map(|i| order(&format!("o-{i}"), "placed", f64::from(i))).collect();
    app.update(snapshot(rows));
    assert_eq!(app.page(), 5);
    app.update(key(KeyCode::PageDown));
    app.update(key(KeyCode::PageDown));
    assert_eq!((app.selected(), app.top()), (10, 6));
    app.update(key(KeyCode::End));
    assert_eq!((app.selected(), app.top()), (99, 95));
    app.update(Msg::Resize(80, 20));
    assert_eq!(app.top(), 85, "a taller screen shows more rows above");
}

fn click(app: &mut App, column: u16, row: u16) {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let kind = MouseEventKind::Down(MouseButton::Left);
    app.update(Msg::Mouse(MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE }));
}

#[test]
fn the_mouse_selects_a_row_and_a_header_click_sorts() {
    let mut app = orders();
    // Lines: title, query bar, header, then rows o-2, o-9, o-10.
    click(&mut app, 2, 5);
    assert_eq!(app.rows().key_at(app.selected()).map(String::as_str), Some("\"o-10\""));
    // Columns: order_id (0–9), customer… here order_id, status, total: "total" is the third.
    let total = crate::view::table::layout(&app, 80).into_iter().find(|c| c.index == 2).expect("total shown");
    click(&mut app, total.x + 1, 2);
    assert_eq!(app.column(), 2);
    assert_eq!(keys(&app), ["\"o-2\"", "\"o-10\"", "\"o-9\""]);
    assert_eq!(
        app.rows().key_at(app.selected()).map(String::as_str),
        Some("\"o-10\""),
        "the selection stays"
    );
}

#[test]
fn charts_are_read_from_text() {
    let chart: ChartSpec = "sales_by_region:region:revenue".parse().expect("a chart");
    assert_eq!(
        (chart.view.as_str(), chart.label.as_str(), chart.value.as_str()),
        ("sales_by_region", "region", "revenue")
    );
    assert!("sales_by_region:region".parse::<ChartSpec>().is_err());
    let mut app = App::new(Options { chart: Some(chart), ..Options::default() }, (120, 20));
    assert_eq!(app.start(), vec![Effect::ListViews, Effect::WatchChart(Query::view("sales_by_region"))]);
}

/// The rows the server would send for a window of `total` orders `o-0`… in its order (by key
/// text): `limit` rows from `offset`.
fn window_of(total: usize, offset: u64, limit: u64) -> Vec<Row> {
    let mut keys: Vec<String> = (0..total).map(|i| format!("o-{i}")).collect();
    keys.sort_by_key(|k| json!(k).to_string());
    let start = usize::try_from(offset).expect("small");
    let end = (start + usize::try_from(limit).expect("small")).min(total);
    keys[start.min(end)..end].iter().map(|k| order(k, "placed", 1.0)).collect()
}

#[test]
fn a_large_view_is_watched_a_window_at_a_time_around_the_rows_on_screen() {
    let options = Options { view: Some("orders".into()), window_above: Some(1_000), ..Options::default() };
    let mut app = App::new(options, (80, 30));
    let total = 5_000;
    let effects = listed(&mut app, total as u64);
    assert_eq!(effects, vec![Effect::Subscribe(Query::view("orders").limit(WINDOW_ROWS).offset(0))]);
    app.update(snapshot(window_of(total, 0, WINDOW_ROWS)));
    assert_eq!(app.len(), total, "the view's rows, as listed");
    assert_eq!(app.rows().len(), usize::try_from(WINDOW_ROWS).expect("small"), "only the window held");
    // Rows in the server's order: o-0, o-1, o-10, o-100, …
    assert_eq!(app.key_at(2).map(String::as_str), Some("\"o-10\""));
    // Moving within the window asks for nothing.
    assert!(app.update(key(KeyCode::PageDown)).is_empty());
    // The end: a window around it, the rows blank until it comes.
    let effects = app.update(key(KeyCode::End));
    let asked = (total as u64 - 25).saturating_sub(WINDOW_ROWS / 3);
    assert_eq!(effects, vec![Effect::Subscribe(Query::view("orders").limit(WINDOW_ROWS).offset(asked))]);
    assert_eq!(app.key_at(total - 1), None);
    app.update(snapshot(window_of(total, asked, WINDOW_ROWS)));
    let last = window_of(total, total as u64 - 1, 1).pop().expect("a row").key.to_string();
    assert_eq!(app.key_at(total - 1), Some(&last));
    assert_eq!(app.selected(), total - 1);
    // Pressing End again, or a delta in the window, asks for nothing more.
    assert!(app.update(key(KeyCode::End)).is_empty());
}

#[test]
fn a_window_sorted_by_a_column_is_sorted_by_the_server() {
    let options = Options { view: Some("orders".into()), window_above: Some(10), ..Options::default() };
    let mut app = App::new(options, (80, 12));
    listed(&mut app, 50);
    app.update(snapshot(window_of(50, 0, 50)));
    assert_eq!(app.len(), 50, "a window short of its rows ends the view");
    app.update(key(KeyCode::Right));
    app.update(key(KeyCode::Right));
    let effects = app.update(key(KeyCode::Char('s')));
    let by_total = Query::view("orders").order_by("total").limit(WINDOW_ROWS).offset(0);
    assert_eq!(effects, vec![Effect::Subscribe(by_total)]);
    let effects = app.update(key(KeyCode::Char('s')));
    let by_total = Query::view("orders").order_by("total DESC").limit(WINDOW_ROWS).offset(0);
    assert_eq!(effects, vec![Effect::Subscribe(by_total)]);
}

#[test]
fn a_view_under_the_bound_is_watched_whole() {
    let options = Options { view: Some("orders".into()), window_above: Some(1_000), ..Options::default() };
    let mut app = App::new(options, (80, 12));
    assert_eq!(listed(&mut app, 1_000), vec![Effect::Subscribe(Query::view("orders"))]);
    assert!(app.windowed().is_none());
}
