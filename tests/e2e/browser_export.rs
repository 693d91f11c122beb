//! Export PDF in the browser: the order desk's page (`web/dist`) fetches its PDF module
//! (`pdf/lucarne-web-pdf`) only when "Export PDF" is first pressed; the file is downloaded
//! (captured through Chromium's DevTools protocol) and read back with poppler and qpdf; it is
//! the document `lucarne-desktop --export` writes for the same server, language and window.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser::{ONE_BROWSER, PAGE, browser_available, bundle, server_orders, shots, shows, wait_for};
use crate::support::{Server, desktop_bin};
use crate::webdriver::{Driver, chromedriver};

/// "Export PDF" in the header (left of the "Live" badge), "Export orders" at the end of the
/// filter bar and the filter box, at 1100×700 in English
/// (`app/tests/snapshots/main-screen-tiny-skia.png`).
const EXPORT_PDF: (u32, u32) = (964, 27);
const EXPORT_ORDERS: (u32, u32) = (1026, 67);
const FILTER_BOX: (u32, u32) = (300, 67);
/// The same two buttons in Arabic, the screen mirrored
/// (`app/tests/snapshots/main-screen-ar-tiny-skia.png`).
const EXPORT_PDF_AR: (u32, u32) = (142, 27);
const EXPORT_ORDERS_AR: (u32, u32) = (69, 67);

/// A filter typed into the filter box, then one typed and not applied.
const FILTER: &str = "status = 'shipped' order by total desc";

/// What the page may load before anything is exported (the `.gz` siblings the server sends):
/// the budget, 1.1 MB.
const FIRST_LOAD: u64 = 1_100_000;

#[test]
fn the_browser_exports_both_screens_with_a_module_fetched_when_first_asked() {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dist = bundle("tiny-skia");
    let (first, later) = first_load(&dist);
    eprintln!(
        "browser export: first load {first} B gzip; the PDF module, fetched when first used: {later} B gzip"
    );
    assert!(later > 0, "the bundle carries its PDF module in pdf/");
    assert!(first <= FIRST_LOAD, "the page's first load is {first} B gzip, over {FIRST_LOAD}");

    let dir = tempfile::tempdir().expect("tempdir");
    let downloads = tempfile::tempdir().expect("downloads");
    let profile = tempfile::tempdir().expect("browser profile");
    // No live traffic: the browser's export and the desktop's see the same rows.
    let args = ["--demo", "--demo-seed", "40", "--demo-rate", "0", "--web-dir"].map(String::from).to_vec();
    let mut args = args;
    args.push(dist.display().to_string());
    let server = Server::spawn(dir.path().to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args);
    let (_chromedriver, driver_addr) = chromedriver(&shots().join("export-chromedriver.log"));
    let driver = Driver::start(driver_addr, profile.path(), &PAGE);
    driver.go(&format!("http://{}/?locale=en", server.addr));
    let all = server_orders(&server, None).len();
    wait_for("every order in the page", Duration::from_secs(60), &driver, &server, || {
        driver.title() == shows(all)
    });
    // Headless Chromium saves downloads only where it is told to. Told once the page has
    // loaded: while it navigates, DevTools answers "Not attached to an active page".
    let mut devtools = driver.devtools();
    let _ = devtools.call(
        "Page.setDownloadBehavior",
        json!({ "behavior": "allow", "downloadPath": downloads.path().display().to_string() }),
    );
    assert!(!fetched(&driver).iter().any(|r| r.contains("lucarne-web-pdf")), "nothing of the PDF module yet");

    // Export PDF: the module comes, the main screen is downloaded.
    let pressed = Instant::now();
    driver.click(EXPORT_PDF);
    let main = downloaded(&driver, &server, downloads.path(), 1);
    let first_export = pressed.elapsed();
    let modules: Vec<String> = fetched(&driver).into_iter().filter(|r| r.contains("/pdf/")).collect();
    assert!(
        modules.iter().any(|r| r.ends_with("pdf/lucarne-web-pdf_bg.wasm")),
        "the module was fetched on the first export: {modules:?}"
    );
    check_against_the_desktop(&main, &server, "main", None, "en");

    // Export orders: the module is already there.
    let pressed = Instant::now();
    driver.click(EXPORT_ORDERS);
    let orders = downloaded(&driver, &server, downloads.path(), 2);
    let second_export = pressed.elapsed();
    let again = fetched(&driver).into_iter().filter(|r| r.contains("/pdf/")).count();
    assert_eq!(again, modules.len(), "the module is fetched once");
    check_against_the_desktop(&orders, &server, "orders", None, "en");

    // The filter in force is what the export prints, not text typed and not applied.
    driver.click(FILTER_BOX);
    driver.type_keys(FILTER);
    driver.type_keys("\u{E007}");
    let shipped = server_orders(&server, Some("status = 'shipped'")).len();
    assert!(shipped > 0 && shipped < all, "{shipped} of {all} orders shipped");
    wait_for("the filtered table", Duration::from_secs(30), &driver, &server, || {
        driver.title() == shows(shipped)
    });
    driver.type_keys(" limit");
    driver.click(EXPORT_ORDERS);
    let filtered = downloaded(&driver, &server, downloads.path(), 3);
    check_against_the_desktop(&filtered, &server, "orders", Some(FILTER), "en");
    assert!(
        !tool("pdftotext", &[], &filtered).contains("placed"),
        "only shipped orders: the filter in force reached the module"
    );
    eprintln!(
        "browser export: press → file {:.0} ms the first time (module fetched and compiled), {:.0} ms the second",
        first_export.as_secs_f64() * 1000.0,
        second_export.as_secs_f64() * 1000.0
    );

    // The page in Arabic, mirrored: both screens print as the desktop prints them in Arabic.
    driver.go(&format!("http://{}/?locale=ar", server.addr));
    let title = lucarne_app::i18n::strip_isolates(
        &lucarne_app::i18n::Locale::Ar.tr_args("window-title", &[("orders", all.into())]),
    );
    wait_for("every order in the Arabic page", Duration::from_secs(60), &driver, &server, || {
        driver.title() == title
    });
    // Told again for the new document, on the same DevTools session (closing it would undo it).
    let _ = devtools.call(
        "Page.setDownloadBehavior",
        json!({ "behavior": "allow", "downloadPath": downloads.path().display().to_string() }),
    );
    driver.click(EXPORT_PDF_AR);
    let main = downloaded(&driver, &server, downloads.path(), 4);
    check_against_the_desktop(&main, &server, "main", None, "ar");
    driver.click(EXPORT_ORDERS_AR);
    let orders = downloaded(&driver, &server, downloads.path(), 5);
    check_against_the_desktop(&orders, &server, "orders", None, "ar");
}

/// The `.gz` bytes of the bundle's files: what the page loads first, and what `pdf/` adds.
fn first_load(dist: &Path) -> (u64, u64) {
    let (mut first, mut later) = (0, 0);
    let mut dirs = vec![dist.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("the bundle").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "gz") {
                let size = entry.metadata().map_or(0, |m| m.len());
                if path.starts_with(dist.join("pdf")) {
                    later += size;
                } else {
                    first += size;
                }
            }
        }
    }
    (first, later)
}

/// The addresses the page has fetched (the Resource Timing entries).
fn fetched(driver: &Driver) -> Vec<String> {
    let names = driver.eval("return performance.getEntriesByType('resource').map(e => e.name)");
    names.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// Waits for the `n`th PDF file in `dir` to be complete; its path.
fn downloaded(driver: &Driver, server: &Server, dir: &Path, n: usize) -> PathBuf {
    let pdfs = || -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("downloads")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
            .collect();
        found.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        found
    };
    let complete = |p: &Path| {
        std::fs::read(p).is_ok_and(|b| b.starts_with(b"%PDF-") && b.trim_ascii_end().ends_with(b"%%EOF"))
    };
    wait_for(&format!("download {n}"), Duration::from_secs(120), driver, server, || {
        pdfs().len() >= n && pdfs().iter().all(|p| complete(p))
    });
    pdfs().pop().expect("a download")
}

/// The browser's file is valid, embeds its fonts, and reads as the desktop's export of `screen`
/// from the same server, in `locale` at 1100×700 with `filter`: the same pages, the same text.
fn check_against_the_desktop(
    browser: &Path,
    server: &Server,
    screen: &str,
    filter: Option<&str>,
    locale: &str,
) {
    let name = browser.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    assert!(name.starts_with(&format!("lucarne-{screen}-")), "{name}");
    let check = tool("qpdf", &["--check"], browser);
    assert!(check.contains("No syntax or stream encoding errors"), "{check}");
    for line in tool("pdffonts", &[], browser).lines().skip(2) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let n = cols.len();
        assert_eq!(&cols[n - 5..n - 2], ["yes", "yes", "yes"], "embedded, subset, ToUnicode: {line}");
    }
    let theirs = tempfile::tempdir().expect("tempdir");
    let desk = theirs.path().join(format!("desktop-{screen}.pdf"));
    let mut desktop = Command::new(desktop_bin());
    desktop
        .args(["--export", screen, "--locale", locale, "--window", "1100x700", "--server"])
        .arg(server.url());
    if let Some(filter) = filter {
        desktop.args(["--filter", filter]);
    }
    let out = desktop.arg("--out").arg(&desk).output().expect("run lucarne-desktop --export");
    assert!(out.status.success(), "lucarne-desktop --export: {}", String::from_utf8_lossy(&out.stderr));
    let pages = |pdf: &Path| {
        let info = tool("pdfinfo", &[], pdf);
        info.lines().find_map(|l| l.strip_prefix("Pages:")).map(|p| p.trim().to_owned()).unwrap_or_default()
    };
    assert_eq!(pages(browser), pages(&desk), "{screen}: the same pages");
    let (ours, theirs) = (tool("pdftotext", &["-layout"], browser), tool("pdftotext", &["-layout"], &desk));
    // The desk's title, and the orders' page header saying when they were printed.
    let (title, printed) =
        if locale == "ar" { ("لوكارن", "طُبع") } else { ("Lucarne order desk", "Printed ") };
    assert!(ours.contains("o-1") && ours.contains(title), "{screen}: the desk's text:\n{ours}");
    if screen == "orders" {
        assert!(ours.contains(printed), "the orders' page header says when:\n{ours}");
    }
    // Each says the day it was printed: the two may straddle midnight.
    let (ours, theirs) = (undated(&ours), undated(&theirs));
    if locale == "en" {
        assert_eq!(ours, theirs, "{screen}: the browser's PDF reads as the desktop's");
    } else {
        // The same words on the same lines; the spaces between may differ: natively the desk
        // also finds the system's fonts (here Noto Sans Arabic Bold, for bold headings), the
        // page has only the bundled faces (Arabic in one weight), so a bold heading is set a
        // little wider on one side and `-layout` pads its columns differently.
        let words = |text: &str| -> Vec<String> {
            text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
        };
        assert_eq!(
            words(&ours),
            words(&theirs),
            "{screen} ({locale}): the browser's PDF reads as the desktop's"
        );
    }
}

/// `text` with every date made `DATE`: `YYYY-MM-DD` in any digits, or as poppler gives it in a
/// right-to-left line, `DD-MM-YYYY`.
fn undated(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_date = |w: &[char]| {
        let shape = |dashes: [usize; 2]| {
            w.iter().enumerate().all(|(i, c)| if dashes.contains(&i) { *c == '-' } else { c.is_numeric() })
        };
        shape([4, 7]) || shape([2, 5])
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if i + 10 <= chars.len() && is_date(&chars[i..i + 10]) {
            out.push_str("DATE");
            i += 10;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Runs a poppler or qpdf tool on `pdf`; its standard output.
fn tool(program: &str, args: &[&str], pdf: &Path) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).arg(pdf);
    if program == "pdftotext" {
        cmd.arg("-");
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{program} must be installed (cargo xtask setup): {e}"));
    assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
