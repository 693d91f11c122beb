//! The dashboard headless (iced_test) and as a PDF read back by poppler: the view's rows as a
//! chart and a table, totals exact to the cent, every change shown. The server's side is fed as
//! the subscription would deliver it (a real server runs it in `tests/e2e/examples.rs`).

#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents written units_cents: 1_520_50 is 1,520.50"
)]

use std::process::Command;

use example_dashboard::{App, Message, money};
use iced_test::{Error, Simulator};
use lucarne::protocol::{Delta, Op, Position, Row};
use lucarne::{Client, ClientConfig, ViewEvent};
use lucarne_testing::ui::{settings, tiny_skia};
use serde_json::json;

fn simulator(app: &App) -> Simulator<'_, Message> {
    Simulator::with_size(settings(), (640.0, 560.0), app.view())
}

fn region(name: &str, sales: u64, cents: i64) -> Row {
    let row = json!({ "region": name, "sales": sales, "cents": cents });
    Row { key: json!(name), row: row.as_object().cloned().unwrap_or_default() }
}

fn loaded() -> App {
    let mut app = App::new(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws").client_id("c-test")));
    let rows = vec![region("eu", 3, 1_520_50), region("mena", 2, 2_210_00), region("us", 1, 10)];
    let _ = app.update(Message::Regions(ViewEvent::Snapshot {
        at: Position { epoch: 1, version: 6 },
        rows: rows.into(),
        resynced: None,
    }));
    app
}

/// Whether each of `texts` is on screen.
fn check(app: &App, texts: &[&str]) {
    let mut ui = simulator(app);
    for text in texts {
        assert!(ui.find(*text).is_ok(), "{text:?} is not on screen");
    }
}

#[test]
fn amounts_are_exact_to_the_cent() {
    assert_eq!(money(0), "0.00");
    assert_eq!(money(10), "0.10");
    assert_eq!(money(1_520_50), "1,520.50");
    assert_eq!(money(123_456_789_01), "123,456,789.01");
    assert_eq!(money(-5), "-0.05");
}

#[test]
fn the_table_and_totals_follow_each_sale() -> Result<(), Error> {
    if !tiny_skia("the_table_and_totals_follow_each_sale") {
        return Ok(());
    }
    let mut app = loaded();
    check(&app, &["1,520.50", "2,210.00", "0.10", "All regions: 3,730.60"]);
    // A sale in the US, another in a new region.
    let ops = vec![
        Op::Upsert { key: json!("us"), row: region("us", 2, 20).row },
        Op::Upsert { key: json!("apac"), row: region("apac", 1, 99_99).row },
    ];
    let _ =
        app.update(Message::Regions(ViewEvent::Delta(Delta { sub: 1, from: 6, to: 7, ops, acked: vec![] })));
    check(&app, &["0.20", "99.99", "apac", "All regions: 3,830.69"]);
    Ok(())
}

#[test]
fn the_screen_prints_as_a_vector_pdf_with_its_words_as_text() {
    let app = loaded();
    let pdf = app.pdf().expect("export");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dashboard.pdf");
    std::fs::write(&path, &pdf).expect("write");
    let Ok(out) = Command::new("pdftotext").args(["-layout"]).arg(&path).arg("-").output() else {
        panic!("poppler's pdftotext is needed (cargo xtask setup installs it)");
    };
    let text = String::from_utf8_lossy(&out.stdout);
    for words in ["Sales by region", "mena", "2,210.00", "All regions: 3,730.60", "Record a sale"] {
        assert!(text.contains(words), "{words:?} is not in the PDF's text:\n{text}");
    }
    // One page; the chart's bars are paths (`re` rectangles or path fills), not an image.
    let info = Command::new("pdfinfo").arg(&path).output().expect("pdfinfo");
    assert!(
        String::from_utf8_lossy(&info.stdout).lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 1"))
    );
    let images = Command::new("pdfimages").arg("-list").arg(&path).output().expect("pdfimages");
    assert_eq!(
        String::from_utf8_lossy(&images.stdout).lines().count(),
        2,
        "no image: only pdfimages' header"
    );
}
