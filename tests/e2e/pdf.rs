//! PDF from a running server, read back with poppler and qpdf: any view as a table
//! (`lucarne pdf VIEW`), and the reference app's screens (`lucarne-desktop --export`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{Server, bin, desktop_bin};

fn demo_server(dir: &Path) -> Server {
    // 150 seeded commands, then almost no traffic (one command every 100 s).
    let args = ["--demo", "--demo-seed", "150", "--demo-rate", "0.01"].map(String::from).to_vec();
    Server::spawn(dir.to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args)
}

fn lucarne(server: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("LUCARNE_SERVER", server)
        .env("NO_COLOR", "1")
        .output()
        .expect("run lucarne")
}

fn pdftotext(pdf: &Path) -> String {
    let out = Command::new("pdftotext").arg("-layout").arg(pdf).arg("-").output().expect("pdftotext");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The order ids `lucarne watch orders --once [--where …]` prints.
fn order_ids(server: &str, filter: Option<&str>) -> Vec<String> {
    let mut args = vec!["watch", "orders", "--once"];
    if let Some(filter) = filter {
        args.extend(["--where", filter]);
    }
    let out = lucarne(server, &args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|row| row["order_id"].as_str().map(str::to_owned))
        .collect()
}

/// `lucarne-desktop ARGS` (no window: `--export`) against the server.
fn desktop(server: &str, args: &[&str]) -> Output {
    Command::new(desktop_bin())
        .args(args)
        .env("LUCARNE_SERVER", server)
        .env("LUCARNE_LOCALE", "en")
        .env("NO_COLOR", "1")
        .output()
        .expect("run lucarne-desktop")
}

/// Exports the orders screen and checks that the PDF holds exactly the orders `lucarne watch`
/// sees (each once); the demo's rate is low enough that nothing changes in between.
fn check_orders(server: &str, dir: &Path, filter: Option<&str>) {
    let out_file = dir.join("orders.pdf");
    let mut args = vec!["--export", "orders", "--out", out_file.to_str().expect("utf-8 path")];
    if let Some(filter) = filter {
        args.extend(["--filter", filter]);
    }
    let out = desktop(server, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let expected = order_ids(server, filter);
    assert!(!expected.is_empty());
    assert!(said.contains(&format!("{} orders", expected.len())), "{said}");
    let text = pdftotext(&out_file);
    for id in &expected {
        let found = text.split_whitespace().filter(|w| w == id).count();
        assert_eq!(found, 1, "{id} once in the PDF");
    }
    let printed = text.split_whitespace().filter(|w| w.starts_with("o-")).count();
    assert_eq!(printed, expected.len(), "no other order printed");
}

#[test]
fn the_desktop_app_exports_its_screens_without_a_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir.path().join("data"));
    let url = server.url();
    // One paid order at least, whatever the demo's random seed did with its own.
    for (command, payload) in [
        ("place_order", r#"{"order_id":"o-paid","customer":"Ada","region":"eu","total":12.5}"#),
        ("pay_order", r#"{"order_id":"o-paid"}"#),
    ] {
        let out = lucarne(&url, &["send", command, payload]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    check_orders(&url, dir.path(), None);
    check_orders(&url, dir.path(), Some("status = 'paid'"));

    let main = dir.path().join("main.pdf");
    let out = desktop(&url, &["--export", "main", "--out", main.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(": 1 page,"));
    let text = pdftotext(&main);
    for visible in ["Lucarne order desk", "Sales by region", "Live"] {
        assert!(text.contains(visible), "{visible} in the main screen's PDF");
    }

    // A query the server refuses is an error with the server's code; no file is written.
    let refused = dir.path().join("refused.pdf");
    let out = desktop(
        &url,
        &["--export", "orders", "--out", refused.to_str().expect("utf-8"), "--filter", "nope = 1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"), "{out:?}");
    assert!(!refused.exists());
}

#[test]
fn lucarne_pdf_without_a_server_gives_up_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("x.pdf");
    let out = lucarne(
        "ws://127.0.0.1:9/ws",
        &["pdf", "orders", "--out", out_file.to_str().expect("utf-8"), "--timeout", "1"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("orders did not load within 1s"), "{err}");
    assert!(!out_file.exists());
    let out = desktop(
        "ws://127.0.0.1:9/ws",
        &["--export", "orders", "--out", out_file.to_str().expect("utf-8"), "--timeout", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not load within 1s"), "{err}");
    assert!(!out_file.exists());
}

/// The text of one page.
fn page_text(pdf: &Path, page: usize) -> String {
    let page = page.to_string();
    let out = Command::new("pdftotext")
        .args(["-layout", "-f", &page, "-l", &page])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pages(pdf: &Path) -> usize {
    let out = Command::new("pdfinfo").arg(pdf).output().expect("pdfinfo");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").and_then(|n| n.trim().parse().ok()))
        .unwrap_or_default()
}

#[test]
fn lucarne_pdf_prints_any_view_as_a_table_with_its_header_on_every_page_and_nothing_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(dir.path());
    let url = server.url();
    // Found by a new user: a 16-character id printed clipped (`pb25686r2134-10`) and run into the
    // next cell in the text layer (`pb25686r2134-100Quentin`).
    let long = "Quentin de la Fontaine-Marchand, Établissements Quentin & Fils (succursale de Lyon)";
    let order =
        serde_json::json!({"order_id": "pb25686r2134-100", "customer": long, "total": 7, "region": "eu"});
    let out = lucarne(&url, &["send", "place_order", &order.to_string()]);
    assert!(out.status.success(), "{out:?}");
    let file = dir.path().join("orders.pdf");
    let file_arg = file.to_str().expect("utf-8 path");
    let args =
        ["pdf", "orders", "--order-by", "order_id", "--columns", "order_id,customer,total,status", "--out"];
    let out = lucarne(&url, &[&args[..], &[file_arg]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let qpdf = Command::new("qpdf").arg("--check").arg(&file).output().expect("qpdf");
    assert!(qpdf.status.success(), "{}", String::from_utf8_lossy(&qpdf.stdout));

    // Every order once, the header row heading every page, the page numbers in the footer.
    let mut expected = order_ids(&url, None);
    expected.sort();
    let count = pages(&file);
    assert!(count >= 2, "{count} pages");
    let mut printed = Vec::new();
    for page in 1..=count {
        let text = page_text(&file, page);
        let header = text.lines().position(|l| l.contains("order_id") && l.contains("customer"));
        let first = text.lines().position(|l| l.split_whitespace().any(|w| w.starts_with("o-")));
        assert!(header.is_some_and(|h| first.is_none_or(|f| h < f)), "page {page}: {text}");
        assert!(text.contains(&format!("Page {page} of {count}")), "page {page}");
        assert!(!text.contains("region"), "only the columns asked for");
        printed.extend(
            text.split_whitespace().filter(|w| w.starts_with("o-") || w.starts_with("pb")).map(str::to_owned),
        );
    }
    printed.sort();
    assert_eq!(printed, expected, "every order exactly once");
    let all: String = pdftotext(&file).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!all.contains("pb25686r2134-100Quentin"), "{all}");
    for word in long.split_whitespace() {
        assert!(all.contains(word), "{word:?} printed whole");
    }
}

#[test]
fn lucarne_pdf_prints_a_view_right_to_left_in_arabic_digits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(dir.path());
    let file = dir.path().join("regions.pdf");
    let args = [
        "pdf",
        "sales_by_region",
        "--locale",
        "ar",
        "--title",
        "المبيعات",
        "--out",
        file.to_str().expect("path"),
    ];
    let out = lucarne(&server.url(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = pdftotext(&file);
    assert!(text.contains("المبيعات"), "{text}");
    // The footer (poppler wraps right-to-left runs in embedding marks; they are left out here).
    let footer = text.lines().rev().find(|l| l.contains("صفحة")).unwrap_or_default();
    let words: Vec<String> = footer
        .split_whitespace()
        .map(|w| w.replace(['\u{202B}', '\u{202C}'], ""))
        .filter(|w| !w.is_empty())
        .collect();
    assert!(
        words.iter().any(|w| w.contains("من")) && words.iter().filter(|w| w.contains('١')).count() == 2,
        "{footer:?}"
    );
    // Numbers in Arabic-Indic digits, nothing in Western ones but the column names' none.
    assert!(text.chars().any(|c| ('\u{0660}'..='\u{0669}').contains(&c)), "{text}");
    let body: String = text.lines().filter(|l| !l.contains("region")).collect();
    assert!(!body.chars().any(|c| c.is_ascii_digit()), "{text}");
    // The first column (region) is on the right: on its header line it comes last.
    let header = text.lines().find(|l| l.contains("region")).unwrap_or_default();
    assert!(header.trim_end().ends_with("region"), "{header:?}");
    // Tagged, in Arabic, as a table read from the right: its first header cell is `region`.
    let info = Command::new("pdfinfo").arg("-struct-text").arg(&file).output().expect("pdfinfo");
    let tree = String::from_utf8_lossy(&info.stdout).into_owned();
    let texts: Vec<&str> = tree.lines().map(str::trim).filter(|l| l.starts_with('"')).collect();
    assert_eq!(texts.first(), Some(&"\"region\""), "{tree}");
    assert!(tree.contains("Table") && tree.contains("TH") && tree.contains("TD"), "{tree}");
    let out = Command::new("qpdf").args(["--show-object=trailer"]).arg(&file).output().expect("qpdf");
    let trailer = String::from_utf8_lossy(&out.stdout).into_owned();
    let root = trailer
        .split("/Root ")
        .nth(1)
        .and_then(|r| r.split(" R").next())
        .unwrap_or_default()
        .replace(' ', ",");
    let out = Command::new("qpdf").arg(format!("--show-object={root}")).arg(&file).output().expect("qpdf");
    let catalog = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(catalog.contains("/Lang (ar)") && catalog.contains("/Marked true"), "{catalog}");
}
