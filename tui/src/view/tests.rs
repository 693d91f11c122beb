//! Each screen state drawn into ratatui's `TestBackend`, its text held in a snapshot file
//! (`src/view/snapshots/`; `INSTA_UPDATE=always` rewrites them after a deliberate change).

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lucarne_protocol::{Position, Row, ViewInfo};
use lucarne_runtime::{LinkError, Status, ViewEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use unicode_width::UnicodeWidthStr;

use crate::app::{App, Msg, Options};
use crate::bidi::Bidi;
use crate::locale::Locale;

/// The screen's text, line by line (a wide character's second cell left out).
fn screen(app: &App) -> String {
    let (width, height) = app.size();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|frame| super::view(app, frame)).expect("drawn");
    let buffer = terminal.backend().buffer();
    let mut lines = Vec::new();
    for y in 0..height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let symbol = buffer[(x, y)].symbol();
            skip = symbol.width().saturating_sub(1);
            line.push_str(symbol);
        }
        lines.push(line.trim_end().to_owned());
    }
    lines.join("\n")
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn orders(locale: Locale, rows: &[(&str, &str, &str, f64)]) -> App {
    let options = Options { view: Some("orders".into()), locale, ..Options::default() };
    opened(options, (72, 9), rows)
}

/// An app of `size` on the orders view, once the list and the snapshot of `rows` came.
fn opened(options: Options, size: (u16, u16), rows: &[(&str, &str, &str, f64)]) -> App {
    let mut app = App::new(options, size);
    app.start();
    app.update(Msg::Views(Ok(vec![orders_info(rows.len() as u64)])));
    let rows = rows
        .iter()
        .map(|(id, customer, status, total)| {
            let row = json!({"order_id": id, "customer": customer, "status": status, "total": total});
            Row { key: json!(id), row: row.as_object().cloned().unwrap_or_default() }
        })
        .collect();
    app.update(Msg::View(ViewEvent::Snapshot {
        at: Position { epoch: 1, version: 3 },
        rows,
        resynced: None,
    }));
    app
}

const ROWS: &[(&str, &str, &str, f64)] = &[
    ("o-1", "Ada Lovelace", "placed", 12.5),
    ("o-2", "מרים כהן", "paid", 7.0),
    ("o-10", "فاطمة الزهراء", "shipped", 130.25),
    ("o-3", "山田太郎 🚀", "placed", 3.0),
];

/// The orders view as the server lists it.
fn orders_info(rows: u64) -> ViewInfo {
    ViewInfo { name: "orders".into(), sql: String::new(), at: Position { epoch: 1, version: 3 }, rows }
}

/// Draws the state and compares it with its snapshot.
fn check(name: &str, app: &App) {
    insta::assert_snapshot!(name, screen(app));
}

#[test]
fn the_view_list() {
    let mut app = App::new(Options::default(), (72, 7));
    app.start();
    let view = |name: &str, rows: u64, sql: &str| ViewInfo {
        name: name.into(),
        sql: sql.into(),
        at: Position { epoch: 1, version: 9 },
        rows,
    };
    app.update(Msg::Views(Ok(vec![
        view("orders", 1200, "SELECT order_id, status FROM events GROUP BY order_id"),
        view("sales_by_region", 4, "SELECT region, sum(total) FROM events GROUP BY region"),
    ])));
    key(&mut app, KeyCode::Down);
    check("view_list", &app);
}

#[test]
fn a_table_in_english_with_rtl_and_wide_cells() {
    check("table_en", &orders(Locale::En, ROWS));
}

#[test]
fn the_cells_as_stored_for_terminals_that_reorder() {
    let mut app = orders(Locale::En, ROWS);
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(app.options().bidi, Bidi::Terminal);
    check("table_en_bidi_terminal", &app);
}

#[test]
fn a_table_in_arabic_runs_from_the_right() {
    check("table_ar", &orders(Locale::Ar, ROWS));
}

#[test]
fn a_table_in_hebrew_sorted_by_total_descending() {
    let mut app = orders(Locale::He, ROWS);
    for _ in 0..3 {
        key(&mut app, KeyCode::Left);
    }
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    check("table_he_sorted", &app);
}

#[test]
fn the_row_detail_shows_every_value_whole() {
    let mut app =
        orders(Locale::En, &[("pb25686r2134-100", "Quentin de la Fontaine-Marchand", "placed", 1.0)]);
    key(&mut app, KeyCode::Enter);
    check("detail", &app);
}

#[test]
fn a_refused_query_marked_where_the_server_pointed() {
    let mut app = orders(Locale::En, ROWS);
    key(&mut app, KeyCode::Char('/'));
    for c in "total >> 2".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    let failed = ViewEvent::Failed {
        code: lucarne_protocol::ErrorCode::InvalidSql,
        message: "expected an expression, found: > at line 1, column 8".into(),
    };
    app.update(Msg::View(failed));
    check("bad_query", &app);
}

#[test]
fn offline_with_its_countdown() {
    let mut app = orders(Locale::En, ROWS);
    let now = Instant::now();
    let offline = Status::Offline { retry_in: Duration::from_millis(4200), reason: LinkError::Closed };
    app.update_at(Msg::View(ViewEvent::Status(offline)), now);
    check("offline", &app);
}

#[test]
fn a_command_being_typed() {
    let mut app = orders(Locale::En, ROWS);
    key(&mut app, KeyCode::Char(':'));
    for c in "pay_order {\"order_id\":\"o-1\"}".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    check("command", &app);
}

fn with_chart(locale: Locale) -> App {
    let chart = Some("sales_by_region:region:revenue".parse().expect("a chart"));
    let options = Options { view: Some("orders".into()), locale, chart, ..Options::default() };
    let mut app = opened(options, (110, 9), ROWS);
    let regions = [("eu", 1520.5), ("mena", 2210.0), ("us", 640.0), ("apac", 90.0)]
        .iter()
        .map(|(region, revenue)| {
            let row = json!({"region": region, "revenue": revenue});
            Row { key: json!(region), row: row.as_object().cloned().unwrap_or_default() }
        })
        .collect();
    app.update(Msg::Chart(ViewEvent::Snapshot {
        at: Position { epoch: 1, version: 2 },
        rows: regions,
        resynced: None,
    }));
    app
}

#[test]
fn a_chart_beside_the_table() {
    check("chart_en", &with_chart(Locale::En));
}

#[test]
fn a_chart_beside_the_table_from_the_right() {
    check("chart_ar", &with_chart(Locale::Ar));
}
