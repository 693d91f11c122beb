//! The desk in English, Arabic and Hebrew: the main screen mirrors in Arabic (a
//! snapshot, and the bounds of its parts, which do not depend on the picture), the language
//! switches at runtime, and the PDF export of the Arabic screens holds the Arabic text in logical
//! order (`pdftotext`).
//!
//! Headless on tiny-skia with the bundled fonts loaded explicitly; like `ui.rs`, each UI test
//! re-runs itself in a child process with `ICED_TEST_BACKEND=tiny-skia` unless that is set.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

use lucarne_testing::ui::{Pixels, SNAPSHOT_SCALE, settings, state, tiny_skia};
use std::path::Path;
use std::process::Command;

use iced_test::selector::Candidate;
use iced_test::{Error, Simulator, selector};
use lucarne::iced::{Rectangle, Theme};
use lucarne::protocol::{Position, Row};
use lucarne::widgets::{Direction, Placed};
use lucarne::{Answered, Client, ClientConfig, CommandError, ViewEvent};
use lucarne_app::export::{Screen, export, options};
use lucarne_app::i18n::{Locale, strip_isolates};
use lucarne_app::{Config, Desk, Message, title, update, view};
use serde_json::json;

const WIDTH: f32 = 1100.0;
const HEIGHT: f32 = 700.0;
/// The main screen's padding.
const PADDING: f32 = 12.0;

fn simulator(desk: &Desk) -> Simulator<'_, Message> {
    Simulator::with_size(settings(), (WIDTH, HEIGHT), view(desk))
}

fn feed(desk: &mut Desk, message: Message) {
    let _task = update(desk, message);
}

fn order(id: &str, customer: &str, region: &str, total: f64, status: &str) -> Row {
    let row =
        json!({"order_id": id, "customer": customer, "region": region, "total": total, "status": status});
    Row { key: json!(id), row: row.as_object().cloned().unwrap_or_default() }
}

fn region(name: &str, orders: u64, revenue: f64) -> Row {
    let row = json!({"region": name, "orders": orders, "revenue": revenue});
    Row { key: json!(name), row: row.as_object().cloned().unwrap_or_default() }
}

/// A desk (its client points at a closed port) that received both views' snapshots.
fn loaded(desk: Desk) -> Desk {
    let mut desk = desk;
    let orders = vec![
        order("o-1", "Ada Lovelace", "eu", 42.5, "placed"),
        order("o-2", "نور الهدى", "mena", 310.0, "paid"),
        order("o-3", "דנה כהן", "mena", 18.25, "shipped"),
        order("o-4", "Chidi Okafor", "us", 1099.0, "placed"),
        order("o-5", "مريم العلي", "apac", 7.0, "cancelled"),
    ];
    let regions = vec![
        region("eu", 12, 1520.5),
        region("mena", 8, 2210.0),
        region("us", 5, 640.0),
        region("apac", 3, 90.0),
    ];
    let at = Position { epoch: 1, version: 1 };
    feed(&mut desk, Message::Orders(ViewEvent::Snapshot { at, rows: orders.into(), resynced: None }));
    feed(&mut desk, Message::Regions(ViewEvent::Snapshot { at, rows: regions.into(), resynced: None }));
    desk
}

fn offline_desk() -> Desk {
    Desk::with_client(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws").client_id("c-test")))
}

/// The glyphs of the `bidi_text` with this id.
fn placed(ui: &mut Simulator<'_, Message>, id: &str) -> Placed {
    state(ui, id).unwrap_or_else(|| panic!("{id:?} reports its glyphs"))
}

/// The bounds of the widget with this id.
fn bounds(ui: &mut Simulator<'_, Message>, id: &str) -> Rectangle {
    ui.find(selector::id(id.to_owned())).unwrap_or_else(|_| panic!("no widget {id:?}")).bounds()
}

/// The bounds of the text reading `text` (isolates aside).
fn text_bounds(ui: &mut Simulator<'_, Message>, text: &str) -> Rectangle {
    let everywhere =
        Rectangle { x: f32::MIN / 4.0, y: f32::MIN / 4.0, width: f32::MAX / 2.0, height: f32::MAX / 2.0 };
    text_bounds_in(ui, text, everywhere)
}

/// The bounds of the text reading `text` inside `area` (the summary and the table both have a
/// "Region" title).
fn text_bounds_in(ui: &mut Simulator<'_, Message>, text: &str, area: Rectangle) -> Rectangle {
    ui.find(|candidate: Candidate<'_>| match candidate {
        Candidate::Text { content, bounds, .. }
            if strip_isolates(content) == text && area.contains(bounds.center()) =>
        {
            Some(bounds)
        }
        _ => None,
    })
    .unwrap_or_else(|_| panic!("{text:?} not on screen in {area:?}"))
}

fn shows(ui: &mut Simulator<'_, Message>, text: &str) -> bool {
    ui.find(|candidate: Candidate<'_>| match candidate {
        Candidate::Text { content, .. } if strip_isolates(content) == text => Some(()),
        _ => None,
    })
    .is_ok()
}

/// The ink of a placed paragraph: (left, right).
fn ink(placed: &Placed) -> (f32, f32) {
    let boxes = placed.line_boxes();
    assert!(!boxes.is_empty(), "no glyphs");
    let left = boxes.iter().map(|b| b.x).fold(f32::INFINITY, f32::min);
    let right = boxes.iter().map(|b| b.x + b.width).fold(f32::NEG_INFINITY, f32::max);
    (left, right)
}

/// Checks the mirrored main screen of a right-to-left locale by the bounds of its parts; returns
/// the table's bounds and its columns' (first to last).
fn check_mirrored(ui: &mut Simulator<'_, Message>, locale: Locale) -> (Rectangle, Vec<Rectangle>) {
    let tr = |key: &str| locale.tr(key);
    // The header: the title's ink ends at the right edge of the screen (its start), the
    // connection badge sits at the left end.
    let title = placed(ui, "title");
    assert_eq!(title.direction, Direction::Rtl);
    let (left, right) = ink(&title);
    assert!((right - (WIDTH - PADDING)).abs() <= 2.0, "title's ink ends at {right}, not at the right edge");
    assert!(left > WIDTH / 2.0, "the title starts on the right: {left}..{right}");
    let badge = bounds(ui, "connection");
    assert!((badge.x - PADDING).abs() <= 1.0, "the badge is at the left end: {badge:?}");

    // The filter box is first, on the right; its button to its left.
    let filter = bounds(ui, "filter");
    let apply = text_bounds(ui, &tr("apply"));
    assert!(filter.x + filter.width > WIDTH - PADDING - 1.0, "the filter box is on the right: {filter:?}");
    assert!(apply.x + apply.width <= filter.x, "Apply is left of the filter box: {apply:?} {filter:?}");

    // The table is on the right, the summary on the left.
    let table = bounds(ui, "orders");
    let summary = placed(ui, "summary-title");
    assert!(table.x + table.width > WIDTH - PADDING - 1.0, "the table is on the right: {table:?}");
    assert!(summary.bounds.x + summary.bounds.width <= table.x, "the summary is left of the table");
    assert!(
        (summary.bounds.x - PADDING).abs() <= 1.0,
        "the summary is at the left edge: {:?}",
        summary.bounds
    );
    // The summary's title starts at the panel's right edge.
    let (_, right) = ink(&summary);
    assert!(
        (right - (summary.bounds.x + summary.bounds.width)).abs() <= 2.0,
        "summary title ends at {right}"
    );

    // The table's columns run from right to left: first column (Order) at the table's right,
    // just left of the scrollbar strip (8 px); the actions at the left.
    let columns: Vec<Rectangle> = [
        "column-order",
        "column-customer",
        "column-region",
        "column-total",
        "column-status",
        "column-actions",
    ]
    .iter()
    .map(|key| text_bounds_in(ui, &tr(key), table))
    .collect();
    let first = columns[0];
    assert!((first.x + first.width - (table.x + table.width - 8.0)).abs() <= 1.0, "first column: {first:?}");
    for pair in columns.windows(2) {
        assert!(pair[1].x + pair[1].width <= pair[0].x + 0.5, "columns right to left: {pair:?}");
    }
    assert!((columns[5].x - table.x).abs() <= 1.0, "the actions are at the table's left: {:?}", columns[5]);
    // A row's cells are in the same columns: o-1's id under "Order", its total under "Total".
    let id = text_bounds_in(ui, "o-1", table);
    assert!(
        id.x >= first.x - 0.5 && id.x + id.width <= first.x + first.width + 0.5,
        "o-1 in the first column"
    );
    let total = text_bounds_in(ui, &locale.number(42.5, 2), table);
    assert!(total.x >= columns[3].x - 0.5 && total.x + total.width <= columns[3].x + columns[3].width + 0.5);

    // The status line starts at the right.
    let status = placed(ui, "status-line");
    let (_, right) = ink(&status);
    assert!((right - (WIDTH - PADDING)).abs() <= 2.0, "status line ends at {right}");
    (table, columns)
}

#[test]
fn the_main_screen_mirrors_in_arabic() -> Result<(), Error> {
    if !tiny_skia("the_main_screen_mirrors_in_arabic") {
        return Ok(());
    }
    let mut desk = loaded(offline_desk());
    feed(&mut desk, Message::Locale(Locale::Ar));
    feed(&mut desk, Message::Select("o-2".into()));
    let mut ui = simulator(&desk);
    let (table, columns) = check_mirrored(&mut ui, Locale::Ar);
    // Arabic words and Arabic-Indic digits.
    for text in ["مكتب طلبات لوكارن", "متصل", "مدفوع", "١٬٠٩٩٫٠٠", "٣١٠٫٠٠", "٢٬٢١٠٫٠٠", "دفع", "إلغاء"]
    {
        assert!(shows(&mut ui, text), "{text} on screen");
    }
    assert!(shows(&mut ui, "الطلبات المعروضة: ٥ · الأوامر المعلّقة: ٠ · المؤكَّدة: ٠"));
    let snapshot = ui.snapshot(&Theme::Light)?;
    assert!(
        snapshot.matches_image("tests/snapshots/main-screen-ar")?,
        "the Arabic main screen changed: see tests/snapshots"
    );
    // In the pixels (the PNG is the screen at scale 2): the action buttons' Arabic labels stay
    // in the actions column. In the first row (o-1: not selected, not striped, not glowing) the
    // part of the status column next to the actions holds no ink: the status starts on the right.
    let pixels = Pixels::read("tests/snapshots/main-screen-ar-tiny-skia.png", SNAPSHOT_SCALE);
    let (actions, status) = (columns[5], columns[4]);
    assert!(actions.x + actions.width <= status.x + 0.5, "the status column is right of the actions");
    let at = |x: f32, y: f32| pixels.rgb_at(x, y);
    let row = Rectangle { y: table.y + 28.0, height: 28.0, ..status };
    let background = at(status.x + 2.0, row.y + 2.0);
    let mut y = row.y + 1.0;
    while y < row.y + row.height - 1.0 {
        let mut x = status.x + 1.0;
        while x < status.x + status.width * 0.4 {
            assert_eq!(at(x, y), background, "ink at ({x}, {y}) between the actions and the status of o-1");
            x += 0.5;
        }
        y += 0.5;
    }
    Ok(())
}

#[test]
fn the_main_screen_mirrors_in_hebrew() -> Result<(), Error> {
    if !tiny_skia("the_main_screen_mirrors_in_hebrew") {
        return Ok(());
    }
    let desk = loaded(Desk::new(Config::new("ws://127.0.0.1:9/ws").locale(Locale::He)));
    assert_eq!(desk.locale(), Locale::He);
    let mut ui = simulator(&desk);
    check_mirrored(&mut ui, Locale::He);
    assert!(shows(&mut ui, "דלפק ההזמנות של Lucarne"));
    Ok(())
}

#[test]
fn the_language_switches_at_runtime() -> Result<(), Error> {
    if !tiny_skia("the_language_switches_at_runtime") {
        return Ok(());
    }
    let mut desk = loaded(offline_desk());
    // A notice, kept as data: it is reworded when the language changes.
    feed(&mut desk, Message::Act("o-2".into(), 2));
    let seq = desk.last_sent().map(|s| s.seq).unwrap();
    let rejection =
        CommandError::Rejected { code: lucarne::protocol::ErrorCode::Rejected, message: "too late".into() };
    feed(&mut desk, Message::Answered(Answered { seq, result: Err(rejection) }));

    // (locale, the button switching to it, title, "Total" header, o-2's status and total,
    // o-1's first action id, the notice)
    let steps = [
        (
            Locale::Ar,
            "locale-ar",
            "مكتب طلبات لوكارن · ٥ طلبات",
            "الإجمالي",
            "مدفوع",
            "٣١٠٫٠٠",
            "o-1:دفع",
            "تعذّر إلغاء الطلب o-2: too late",
        ),
        (
            Locale::He,
            "locale-he",
            "דלפק ההזמנות של Lucarne · 5 הזמנות",
            "סה״כ",
            "שולמה",
            "310.00",
            "o-1:תשלום",
            "לא ניתן לבטל את ההזמנה o-2: too late",
        ),
        (
            Locale::En,
            "locale-en",
            "Lucarne order desk · 5 orders",
            "Total",
            "paid",
            "310.00",
            "o-1:Pay",
            "Could not cancel o-2: too late",
        ),
    ];
    for (locale, button, window, total, status, amount, action, notice) in steps {
        // The switch is a button in the header: clicking it sends the message.
        let messages: Vec<Message> = {
            let mut ui = simulator(&desk);
            ui.click(selector::id(button))?;
            ui.into_messages().collect()
        };
        assert!(matches!(messages.as_slice(), [Message::Locale(l)] if *l == locale), "{messages:?}");
        for message in messages {
            feed(&mut desk, message);
        }
        assert_eq!(desk.locale(), locale);
        assert_eq!(title(&desk), window);
        assert_eq!(strip_isolates(&desk.notice().unwrap_or_default()), notice);
        let cells = desk.table().get("o-2").unwrap();
        assert_eq!((cells[4].as_str(), cells[3].as_str()), (status, amount), "{locale:?}");
        let mut ui = simulator(&desk);
        let (app, sales) = (locale.tr("app-title"), locale.tr("sales-by-region"));
        for text in [total, status, amount, notice, app.as_str(), sales.as_str()] {
            assert!(shows(&mut ui, text), "{locale:?}: {text} on screen");
        }
        assert!(ui.find(selector::id(action)).is_ok(), "{locale:?}: action button {action}");
        // The other languages' words are gone.
        for other in Locale::ALL.into_iter().filter(|l| *l != locale) {
            assert!(!shows(&mut ui, &other.tr("column-customer")), "{locale:?}: {other:?} left over");
        }
        // Every button names its language in that language.
        for l in Locale::ALL {
            assert!(shows(&mut ui, &l.tr("locale-name")));
        }
    }
    // The desk still works the same underneath: commands are protocol names.
    feed(&mut desk, Message::Locale(Locale::Ar));
    feed(&mut desk, Message::Act("o-1".into(), 0));
    assert_eq!(desk.last_sent().map(|s| s.name.as_str()), Some("pay_order"));
    assert_eq!(desk.shown_status("o-1").as_deref(), Some("paid"));
    assert_eq!(desk.table().get("o-1").unwrap()[4].as_str(), "مدفوع · قيد الإرسال");
    Ok(())
}

fn pdftotext(pdf: &Path, args: &[&str]) -> String {
    let out = Command::new("pdftotext").args(args).arg(pdf).arg("-").output();
    let out = out.unwrap_or_else(|e| panic!("pdftotext must be installed (cargo xtask setup): {e}"));
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    // poppler wraps right-to-left lines in U+202B … U+202C and the left-to-right runs inside them
    // in U+202A … U+202C: invisible, and in the way of comparing words.
    String::from_utf8_lossy(&out.stdout).chars().filter(|c| !('\u{202A}'..='\u{202E}').contains(c)).collect()
}

/// Where each of `words` is, from the left, on the first line of page 1 that holds them all,
/// as `pdftotext -layout` lays the page out (left to right, as drawn).
fn columns(pdf: &Path, words: &[&str]) -> Vec<(String, usize)> {
    let text = pdftotext(pdf, &["-layout", "-f", "1", "-l", "1"]);
    let line = text
        .lines()
        .find(|line| words.iter().all(|w| line.contains(w)))
        .unwrap_or_else(|| panic!("no line with {words:?} in\n{text}"));
    words
        .iter()
        .map(|w| (w.to_string(), line.find(w).map(|at| line[..at].chars().count()).unwrap_or_default()))
        .collect()
}

/// Pure Arabic strings (no digits, no Latin) that the Arabic screens show: the column titles
/// (bold on paper), one with a lam-alef ligature.
const ARABIC_HEADERS: [&str; 5] = ["الطلب", "العميل", "المنطقة", "الحالة", "الإجمالي"];

/// Arabic strings of the main screen with a lam-alef ligature or harakat (shadda, fatha): each
/// must come out of `pdftotext` as one line or cell, letter for letter, marks on their letters.
const ARABIC_EXACT: [&str; 5] = ["الأوامر المعلّقة", "المؤكَّدة", "آخر تحديث", "الإجراءات", "الإيرادات"];

/// Whether `word` is one of the words of `text` or, for a phrase, in one line of it (so that a
/// word split in two or a mark moved does not count). Words are separated by white space,
/// punctuation and numbers: poppler's reordering of a right-to-left line glues a number cell to
/// the word beside it (`٣٥٢٫٢٣مدفوع`), although they stand a column apart on the page.
fn whole(text: &str, word: &str) -> bool {
    if word.contains(' ') {
        text.lines().any(|l| l.contains(word))
    } else {
        let separator = |c: char| c.is_whitespace() || c.is_numeric() || ":·٫٬".contains(c);
        text.split(separator).any(|w| w == word)
    }
}

#[test]
fn the_arabic_main_screen_and_orders_export_with_arabic_text_in_logical_order() {
    let mut desk = loaded(offline_desk());
    feed(&mut desk, Message::Locale(Locale::Ar));
    let dir = tempfile::tempdir().unwrap();

    let main = dir.path().join("main-ar.pdf");
    let exported = export(&desk, Screen::Main, &options(&desk, Screen::Main), &mut |_| {}).unwrap();
    assert_eq!(exported.pages, 1);
    std::fs::write(&main, &exported.pdf).unwrap();
    let text = pdftotext(&main, &[]);
    for visible in [
        "مكتب طلبات لوكارن",
        "المبيعات حسب المنطقة",
        "تصدير الطلبات",
        "متصل",
        "مدفوع",
        "نور الهدى",
        "مريم العلي",
    ]
    .iter()
    .chain(&ARABIC_HEADERS)
    .chain(&ARABIC_EXACT)
    {
        assert!(whole(&text, visible), "{visible:?} whole in the Arabic main screen's PDF:\n{text}");
    }
    // Mirrored on paper too: the first column's title is right of the last's, the summary
    // (its title) left of the table.
    let x = columns(&main, &["الطلب", "الحالة", "المبيعات"]);
    assert!(at_in(&x, "الطلب") > at_in(&x, "الحالة"), "columns right to left on paper: {x:?}");
    assert!(at_in(&x, "المبيعات") < at_in(&x, "الحالة"), "the summary left of the table on paper: {x:?}");

    let orders = dir.path().join("orders-ar.pdf");
    let exported = export(&desk, Screen::Orders, &options(&desk, Screen::Orders), &mut |_| {}).unwrap();
    assert_eq!(exported.pages, 1);
    std::fs::write(&orders, &exported.pdf).unwrap();
    let text = pdftotext(&orders, &[]);
    for visible in [
        "مكتب طلبات لوكارن",
        "الصفحة",
        "مقدم",
        "مدفوع",
        "مشحون",
        "ملغى",
        "نور الهدى",
        "مريم العلي",
        "العميل",
        "المنطقة",
        "الحالة",
    ] {
        assert!(text.contains(visible), "{visible:?} in the Arabic orders PDF:\n{text}");
    }
    // The bold column titles come out whole (they once came out as "ال ط ل ب" and "اإلجمالي").
    for header in ARABIC_HEADERS {
        assert!(whole(&text, header), "{header:?} whole in the Arabic orders PDF:\n{text}");
    }
    for id in ["o-1", "o-2", "o-3", "o-4", "o-5"] {
        assert_eq!(text.split_whitespace().filter(|w| *w == id).count(), 1, "{id} once:\n{text}");
    }
    let x = columns(&orders, &["العميل", "المنطقة", "الحالة"]);
    assert!(at_in(&x, "العميل") > at_in(&x, "المنطقة"), "printed columns right to left: {x:?}");
    assert!(at_in(&x, "المنطقة") > at_in(&x, "الحالة"), "printed columns right to left: {x:?}");
    let x = columns(&orders, &["o-2", "mena", "مدفوع"]);
    assert!(at_in(&x, "o-2") > at_in(&x, "mena"), "order ids in the rightmost column: {x:?}");
    assert!(at_in(&x, "mena") > at_in(&x, "مدفوع"), "the status left of the region: {x:?}");
}

fn at_in(found: &[(String, usize)], word: &str) -> usize {
    found.iter().find(|(w, _)| w == word).map(|(_, x)| *x).unwrap_or_else(|| panic!("{word} in {found:?}"))
}
