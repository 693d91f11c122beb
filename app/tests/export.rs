//! The desk on paper: "Export orders" prints every row of the table (not only the visible
//! ones), in the table's order, paginated without splitting a row; "Export PDF" prints the main
//! screen on one page. Read back with poppler (`pdftotext`, `pdffonts`) and `qpdf --check`.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

use std::path::Path;
use std::process::Command;

use lucarne::protocol::{Position, Row};
use lucarne::{Client, ClientConfig, ViewEvent};
use lucarne_app::export::{Screen, export, options};
use lucarne_app::i18n::{Locale, strip_isolates};
use lucarne_app::{Config, Desk, Message, update};
use serde_json::json;

const CUSTOMERS: [&str; 4] = ["Ada Lovelace", "مريم العلي", "יוסף לוי", "Grace Hopper"];

/// A desk holding `n` orders `o-0000…`, whose totals run backwards so that sorting by total
/// reverses the key order.
fn desk_with(n: usize, desk: Desk) -> Desk {
    let mut desk = desk;
    let rows = (0..n)
        .map(|i| {
            let region = ["eu", "us", "mena"][i % 3];
            Row {
                key: json!(format!("o-{i:04}")),
                row: json!({
                    "order_id": format!("o-{i:04}"),
                    "customer": CUSTOMERS[i % CUSTOMERS.len()],
                    "region": region,
                    "total": (n - i) as f64 + 0.25,
                    "status": "paid",
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            }
        })
        .collect();
    let snapshot = ViewEvent::Snapshot { at: Position { epoch: 1, version: 1 }, rows, resynced: None };
    let _ = update(&mut desk, Message::Orders(snapshot));
    desk
}

fn offline_desk() -> Desk {
    Desk::with_client(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws")))
}

fn tool(program: &str, args: &[&str], pdf: &Path) -> String {
    let out = Command::new(program).args(args).arg(pdf).arg("-").output();
    let out = out.unwrap_or_else(|e| panic!("{program} must be installed (cargo xtask setup): {e}"));
    assert!(out.status.success(), "{program} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn page_text(pdf: &Path, page: usize) -> String {
    let p = page.to_string();
    tool("pdftotext", &["-layout", "-f", &p, "-l", &p], pdf)
}

fn check_file(pdf: &Path) {
    let out = Command::new("qpdf").arg("--check").arg(pdf).output().expect("qpdf must be installed");
    assert!(out.status.success(), "qpdf --check: {}", String::from_utf8_lossy(&out.stdout));
    let fonts = Command::new("pdffonts").arg(pdf).output().expect("pdffonts");
    let fonts = String::from_utf8_lossy(&fonts.stdout).into_owned();
    for line in fonts.lines().skip(2) {
        // name type encoding emb sub uni …
        let cols: Vec<&str> = line.split_whitespace().collect();
        let n = cols.len();
        assert_eq!(&cols[n - 5..n - 2], ["yes", "yes", "yes"], "embedded, subset, ToUnicode: {line}");
    }
}

/// Exports every order; checks pages, order, completeness and that no row is cut.
fn check_orders(n: usize, sort_by_total: bool) {
    let mut desk = desk_with(n, offline_desk());
    if sort_by_total {
        let _ = update(&mut desk, Message::Sort(3));
    }
    let exported = export(&desk, Screen::Orders, &options(&desk, Screen::Orders), &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("orders.pdf");
    std::fs::write(&pdf, &exported.pdf).unwrap();
    check_file(&pdf);

    assert!(n < 40 || exported.pages > 1, "{n} rows on {} page(s)", exported.pages);

    let mut seen = Vec::new();
    for page in 1..=exported.pages {
        let text = page_text(&pdf, page);
        assert!(text.contains(&format!("Page {page} of {}", exported.pages)), "page number on page {page}");
        let header = format!("Lucarne order desk · {} orders", Locale::En.number(n as f64, 0));
        assert!(text.contains(&header), "header on page {page}");
        // The table's header row heads every page, once, above its rows.
        let titles = text.lines().position(|l| l.contains("Customer") && l.contains("Status"));
        let first_row = text.lines().position(|l| l.split_whitespace().any(|w| w.starts_with("o-")));
        assert!(titles.is_some_and(|t| first_row.is_none_or(|r| t < r)), "header row on page {page}: {text}");
        assert_eq!(text.matches("Customer").count(), 1, "page {page}");
        for line in text.lines() {
            let Some(id) = line.split_whitespace().find(|w| w.starts_with("o-")) else { continue };
            let i: usize = id[2..].parse().unwrap();
            // The whole row is on this line of this page: its total and status with it.
            let total = Locale::En.number((n - i) as f64 + 0.25, 2);
            assert!(line.contains(&total), "row {id} whole: {line:?}");
            assert!(line.contains("paid"), "row {id} whole: {line:?}");
            seen.push(i);
        }
    }
    let mut expected: Vec<usize> = (0..n).collect();
    if sort_by_total {
        expected.reverse();
    }
    assert_eq!(seen, expected, "every row exactly once, in the table's order");
    let all = tool("pdftotext", &[], &pdf);
    assert!(all.contains("Customer") && all.contains("Status"), "the table's header row");
    for customer in CUSTOMERS.iter().take(n) {
        assert!(all.contains(customer), "{customer} extracted in logical order");
    }
}

#[test]
fn export_orders_prints_every_row_once_in_table_order_on_numbered_pages() {
    check_orders(1_000, true);
}

#[test]
fn an_arabic_export_numbers_its_pages_in_the_digits_of_its_text() {
    let mut desk = desk_with(60, offline_desk());
    let _ = update(&mut desk, Message::Locale(Locale::Ar));
    let exported = export(&desk, Screen::Orders, &options(&desk, Screen::Orders), &mut |_| {}).unwrap();
    assert!(exported.pages >= 2, "several pages: {}", exported.pages);
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("orders.pdf");
    std::fs::write(&pdf, &exported.pdf).unwrap();
    let pages = lucarne::pdf::Numerals::ArabicIndic.format(exported.pages);
    for page in 1..=exported.pages {
        let text = page_text(&pdf, page);
        let footer = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        let number = lucarne::pdf::Numerals::ArabicIndic.format(page);
        assert!(footer.contains(&number) && footer.contains(&pages), "page {page}'s footer: {footer:?}");
        assert!(!footer.chars().any(|c| c.is_ascii_digit()), "no Western digit in {footer:?}");
    }
}

#[test]
fn export_orders_of_an_empty_table_is_one_page_with_the_header() {
    check_orders(0, false);
}

#[test]
fn export_pdf_prints_the_main_screen_on_one_page() {
    let desk = desk_with(50, offline_desk());
    let exported = export(&desk, Screen::Main, &options(&desk, Screen::Main), &mut |_| {}).unwrap();
    assert_eq!(exported.pages, 1);
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("main.pdf");
    std::fs::write(&pdf, &exported.pdf).unwrap();
    check_file(&pdf);
    let text = tool("pdftotext", &[], &pdf);
    for visible in
        ["Lucarne order desk", "Sales by region", "Export orders", "o-0000", "Ada Lovelace", "مريم العلي"]
    {
        assert!(text.contains(visible), "{visible:?} in {text}");
    }
    // Only the rows the window shows: the table is virtualized on screen and on paper alike.
    assert!(!text.contains("o-0049"), "a row below the fold is not on the screen's page");
    // The title is the page's heading and its bookmark; "Sales by region" a section's.
    let tree = Command::new("pdfinfo").arg("-struct-text").arg(&pdf).output().unwrap();
    let tree = String::from_utf8_lossy(&tree.stdout);
    let headings: Vec<&str> = tree
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("H1 "))
        .filter(|l| l.starts_with('"'))
        .take(1)
        .collect();
    assert_eq!(headings, ["\"Lucarne order desk\""], "{tree}");
    assert!(tree.lines().any(|l| l.trim().starts_with("H2 ")), "a section heading: {tree}");
    let outline = Command::new("qpdf").args(["--json", "--json-key=outlines"]).arg(&pdf).output().unwrap();
    let outline = String::from_utf8_lossy(&outline.stdout);
    assert!(outline.contains("\"title\": \"Lucarne order desk\""), "the title bookmarked: {outline}");
}

#[test]
fn the_main_screen_text_layer_holds_what_the_window_shows_and_nothing_else() {
    // Window heights that cut the table's last laid-out row partly or wholly, in both directions.
    for (locale, height) in
        [(Locale::En, 700.0), (Locale::En, 655.0), (Locale::Ar, 700.0), (Locale::Ar, 640.0)]
    {
        let mut desk = desk_with(50, offline_desk());
        let _ = update(&mut desk, Message::Locale(locale));
        let _ = update(&mut desk, Message::Resized(lucarne::iced::Size::new(1100.0, height)));
        let exported = export(&desk, Screen::Main, &options(&desk, Screen::Main), &mut |_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pdf = dir.path().join("main.pdf");
        std::fs::write(&pdf, &exported.pdf).unwrap();
        // Every word of the text layer is drawn where it says it is: none is clipped away.
        let unseen = words_without_ink(&pdf);
        assert!(
            unseen.is_empty(),
            "{locale:?} {height}: words in the text layer, not on the page: {unseen:?}"
        );
        // The rows in sight, each once, in the table's order.
        // (poppler wraps runs in bidi embedding controls: not text.)
        let text: String =
            tool("pdftotext", &[], &pdf).chars().filter(|c| !('\u{202A}'..='\u{202E}').contains(c)).collect();
        let ids: Vec<&str> = text.split_whitespace().filter(|w| w.starts_with("o-00")).collect();
        let expected: Vec<String> = (0..ids.len()).map(|i| format!("o-{i:04}")).collect();
        assert!(ids.len() >= 5, "{locale:?} {height}: rows shown: {ids:?}");
        assert_eq!(ids, expected, "{locale:?} {height}");
    }
}

/// The words of page 1's text layer (`pdftotext -bbox`) whose box shows no ink on the page
/// drawn by `pdftoppm` (at 144 dpi): no two pixels in it differ by a sixth of full contrast.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "word boxes lie on the page: small non-negative numbers of points"
)]
fn words_without_ink(pdf: &Path) -> Vec<String> {
    let out = Command::new("pdftoppm").args(["-r", "144", "-gray", "-f", "1", "-l", "1"]).arg(pdf).output();
    let out = out.expect("pdftoppm must be installed (cargo xtask setup)");
    assert!(out.status.success(), "pdftoppm failed");
    // Binary PGM: "P5\n<w> <h>\n255\n" then one byte per pixel.
    let header: Vec<&[u8]> = out.stdout.splitn(5, |b| b.is_ascii_whitespace()).collect();
    let (w, h): (usize, usize) = (
        std::str::from_utf8(header[1]).unwrap().parse().unwrap(),
        std::str::from_utf8(header[2]).unwrap().parse().unwrap(),
    );
    let pixels = &out.stdout[out.stdout.len() - w * h..];
    let mut unseen = Vec::new();
    for word in words(pdf, 1) {
        // Points to pixels: 2 at 144 dpi.
        let (x0, y0) = ((word.x0 * 2.0).floor() as usize, (word.y0 * 2.0).floor() as usize);
        let (x1, y1) = (((word.x1 * 2.0).ceil() as usize).min(w), ((word.y1 * 2.0).ceil() as usize).min(h));
        let values = (y0..y1).flat_map(|y| (x0..x1).map(move |x| pixels[y * w + x]));
        let (lo, hi) = values.fold((255u8, 0u8), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if hi.saturating_sub(lo) < 42 {
            unseen.push(word.text);
        }
    }
    unseen
}

/// A word of a page's text layer and its box, in points from the top left.
#[derive(Debug)]
struct Word {
    text: String,
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

impl Word {
    fn middle(&self) -> (f32, f32) {
        (f32::midpoint(self.x0, self.x1), f32::midpoint(self.y0, self.y1))
    }
}

/// The words of a page (`pdftotext -bbox`).
fn words(pdf: &Path, page: usize) -> Vec<Word> {
    let p = page.to_string();
    let html = tool("pdftotext", &["-bbox", "-f", &p, "-l", &p], pdf);
    let attr = |l: &str, name: &str| -> f32 {
        let at = l.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        l[at..at + l[at..].find('"').unwrap()].parse().unwrap()
    };
    html.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("<word "))
        .map(|l| Word {
            text: l[l.find('>').unwrap() + 1..l.find("</word>").unwrap()]
                .replace("&apos;", "'")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
            x0: attr(l, "xMin"),
            y0: attr(l, "yMin"),
            x1: attr(l, "xMax"),
            y1: attr(l, "yMax"),
        })
        .collect()
}

/// Exports the orders of a desk in `locale` with a filter applied, and checks every page's
/// margins: the title and order count at the start of the top one (the left, or the right in
/// a right-to-left language), the filter in force and the day printed at its end, "page N of
/// M" in the bottom one, in the language's digits.
fn check_page_furniture(locale: Locale, footer: &dyn Fn(usize, usize) -> String) {
    let mut desk = offline_desk();
    let _ = update(&mut desk, Message::Locale(locale));
    let _ = update(&mut desk, Message::FilterChanged("status = 'paid' order by total desc".to_owned()));
    let _ = update(&mut desk, Message::ApplyFilter);
    // Typed, not applied: not what the pages say.
    let _ = update(&mut desk, Message::FilterChanged("region = 'eu'".to_owned()));
    let desk = desk_with(60, desk);
    let options = options(&desk, Screen::Orders);
    let exported = export(&desk, Screen::Orders, &options, &mut |_| {}).unwrap();
    assert!(exported.pages >= 2, "several pages: {}", exported.pages);
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("orders.pdf");
    std::fs::write(&pdf, &exported.pdf).unwrap();
    check_file(&pdf);
    let (_, page_h) = options.page_points();
    let (top, bottom) = (options.margins.top, page_h - options.margins.bottom);
    let count = locale.number(60.0, 0);
    for page in 1..=exported.pages {
        let words = words(&pdf, page);
        let head: Vec<&Word> = words.iter().filter(|w| w.middle().1 < top).collect();
        // `-bbox` gives a right-to-left word's letters as they stand on the line, and the words
        // from the left: read back in logical order within each word.
        let logical = |w: &Word| {
            if w.text.chars().any(|c| matches!(c, '\u{0590}'..='\u{05FF}' | '\u{0620}'..='\u{064A}')) {
                w.text.chars().rev().collect()
            } else {
                w.text.clone()
            }
        };
        let foot: Vec<String> = words.iter().filter(|w| w.middle().1 > bottom).map(logical).collect();
        let texts: Vec<&str> = head.iter().map(|w| w.text.as_str()).collect();
        let find = |what: &dyn Fn(&str) -> bool| head.iter().find(|w| what(&w.text)).map(|w| w.middle().0);
        let counted =
            find(&|w| w == count).unwrap_or_else(|| panic!("{locale:?} page {page}: {count} in {texts:?}"));
        // The day printed: eight digits of the language and two hyphens.
        let day = |w: &str| w.chars().filter(|c| c.is_numeric()).count() == 8 && w.matches('-').count() == 2;
        let printed = find(&day).unwrap_or_else(|| panic!("{locale:?} page {page}: a date in {texts:?}"));
        let filtered = find(&|w| w == "'paid'")
            .unwrap_or_else(|| panic!("{locale:?} page {page}: the filter in {texts:?}"));
        assert!(!texts.contains(&"'eu'"), "only the filter in force: {texts:?}");
        if locale.direction() == lucarne::widgets::Direction::Rtl {
            assert!(
                counted > filtered && filtered > printed,
                "{locale:?} page {page}, from the right: {texts:?}"
            );
        } else {
            assert!(
                counted < filtered && filtered < printed,
                "{locale:?} page {page}, from the left: {texts:?}"
            );
        }
        assert_eq!(foot.join(" "), footer(page, exported.pages), "{locale:?} page {page}'s footer");
    }
}

#[test]
fn the_orders_pages_are_headed_and_footed_in_the_desks_language() {
    check_page_furniture(Locale::En, &|page, pages| format!("Page {page} of {pages}"));
    let arabic = |n| lucarne::pdf::Numerals::ArabicIndic.format(n);
    check_page_furniture(Locale::Ar, &|page, pages| format!("{} من {} الصفحة", arabic(pages), arabic(page)));
    check_page_furniture(Locale::He, &|page, pages| format!("{pages} מתוך {page} עמוד"));
}

#[test]
fn the_export_buttons_write_files_and_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new("ws://127.0.0.1:9/ws").export_dir(dir.path());
    let mut desk = desk_with(120, Desk::new(config));
    let mut written = std::collections::BTreeSet::new();
    // Each screen twice in a row (the same second, most likely): two files, none overwritten.
    for screen in [Screen::Main, Screen::Orders, Screen::Main, Screen::Orders] {
        let _ = update(&mut desk, Message::Export(screen));
        // The path is an isolated argument of the sentence: compare without the isolates.
        let notice = strip_isolates(&desk.notice().unwrap_or_default());
        assert!(notice.starts_with("Saved "), "{notice}");
        let path = notice["Saved ".len()..].split(" (").next().unwrap();
        assert!(path.contains(screen.name()), "{path}");
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        assert!(written.insert(path.to_owned()), "{path} written twice");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4, "{written:?}");
    // An unwritable directory is said, not a panic.
    let mut desk = desk_with(3, Desk::new(Config::new("ws://127.0.0.1:9/ws").export_dir("/nonexistent/dir")));
    let _ = update(&mut desk, Message::Export(Screen::Orders));
    assert!(
        strip_isolates(&desk.notice().unwrap_or_default()).starts_with("Could not save /nonexistent/dir/"),
        "{:?}",
        desk.notice()
    );
}

#[test]
fn no_value_is_cut_a_long_one_wraps_in_its_cell() {
    let mut desk = offline_desk();
    let long = "Quentin de la Fontaine-Marchand, Établissements Quentin & Fils (succursale de Lyon)";
    let row = json!({"order_id": "pb25686r2134-100", "customer": long, "region": "eu", "total": 1234567.89, "status": "paid"});
    let rows =
        vec![Row { key: json!("pb25686r2134-100"), row: row.as_object().cloned().unwrap_or_default() }];
    let snapshot =
        ViewEvent::Snapshot { at: Position { epoch: 1, version: 1 }, rows: rows.into(), resynced: None };
    let _ = update(&mut desk, Message::Orders(snapshot));
    let exported = export(&desk, Screen::Orders, &options(&desk, Screen::Orders), &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("orders.pdf");
    std::fs::write(&pdf, &exported.pdf).unwrap();
    check_file(&pdf);
    let text = tool("pdftotext", &["-raw"], &pdf);
    let words: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // Found by a new user: the id printed clipped to `pb25686r2134-10`, its text layer run into
    // the next cell (`pb25686r2134-100Quentin`).
    assert!(words.contains("pb25686r2134-100"), "{words}");
    assert!(!words.contains("pb25686r2134-100Quentin"), "{words}");
    for word in long.split_whitespace() {
        assert!(words.contains(word), "{word:?} printed: {words}");
    }
    assert!(words.contains(&Locale::En.number(1234567.89, 2)), "{words}");
}
