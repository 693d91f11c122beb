//! The order desk in a real browser: the wasm bundles (`web/dist`, tiny-skia on a 2D canvas, and
//! `web/dist-webgl`, WebGL2 on SwiftShader; built by `cargo xtask web [--renderer webgl]`)
//! served by a real `lucarne serve --demo`, opened in Debian's headless Chromium, driven over
//! WebDriver by `chromedriver` (Debian `chromium-driver`). The same scenario runs on both, one
//! browser at a time. The service worker (`web/sw.js`) is given pushes through Chromium's
//! DevTools protocol and the notifications it shows are read back; "Notify me" is followed from
//! the click to the notification, through a real server and a Web Push service stand-in.
//!
//! The WebDriver client is the few HTTP requests below over a `std` TCP socket: it adds no crate
//! to Cargo.lock (fantoccini would add hyper's client stack, chromiumoxide a large generated
//! CDP crate), and the W3C protocol's JSON is all this test needs.
//!
//! The page goes through a small proxy of the test's own that can refuse WebSocket upgrades
//! while still serving the page, so the test can take the desk offline, reload it, and see the
//! command it queued meanwhile arrive once the socket is let through again.
//!
//! Skips (with the reason printed) only when Chromium or chromedriver is not installed, unless
//! `LUCARNE_BROWSER_TEST=require` (set by `cargo xtask test`). A bundle is built with
//! `cargo xtask web` when its directory has none.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::support::{Server, bin, changed, found, region_signature, region_stats, settle};
use crate::webdriver::{Driver, Page, chromedriver};

/// The viewport: the desktop window's size, so both lay the desk out alike.
const WIDTH: u32 = 1100;
const HEIGHT: u32 = 700;

/// Where things are on the desk at 1100×700 (iced's layout: 12 px padding, 10 px spacing).
const FILTER_BOX: (u32, u32) = (300, 67);
/// The search box.
const SEARCH_BOX: (u32, u32) = (150, 109);
/// Centre of the "Pay" button of the table's first row; the second row is `ROW` lower.
const FIRST_PAY: (u32, u32) = (634, 175);
const ROW: u32 = 28;
/// "Notify me", at the end of the filter bar (when the server sends Web Push).
const NOTIFY_ME: (u32, u32) = (1040, 67);
/// The first row of the table, and the connection badge (`WxH+X+Y`).
const FIRST_ROW: &str = "560x26+12+162";
const BADGE: &str = "70x30+1022+12";

const MARKS: &str = r#"
window.__marks = {};
const hooks = [
  [WebGL2RenderingContext.prototype, ['drawArrays', 'drawElements', 'drawArraysInstanced', 'drawElementsInstanced']],
  [CanvasRenderingContext2D.prototype, ['putImageData']],
];
for (const [proto, names] of hooks) for (const name of names) {
  const draw = proto[name];
  proto[name] = function (...args) {
    if (window.__marks.draw === undefined) {
      window.__marks.draw = performance.now();
      requestAnimationFrame(() => { window.__marks.frame = performance.now(); });
    }
    return draw.apply(this, args);
  };
}
new MutationObserver((_, observer) => {
  if (document.querySelector('canvas')) { window.__marks.canvas = performance.now(); observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"#;

/// The desk's window, with the first frame's marks recorded.
pub(crate) const PAGE: Page<'static> = Page { width: WIDTH, height: HEIGHT, on_new_document: MARKS };

/// One browser at a time: two headless Chromiums on SwiftShader would starve each other.
pub(crate) static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// The bundle of `renderer` (`tiny-skia` or `webgl`), built by `cargo xtask web` when missing
/// (or without its PDF module).
pub(crate) fn bundle(renderer: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dist = root.join(if renderer == "webgl" { "web/dist-webgl" } else { "web/dist" });
    if !dist.join("lucarne-web_bg.wasm").is_file() || !dist.join("pdf/lucarne-web-pdf_bg.wasm").is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["run", "-q", "-p", "xtask", "--", "web", "--renderer", renderer])
            .current_dir(&root)
            .status()
            .expect("run cargo xtask web");
        assert!(status.success(), "cannot build the browser bundle (cargo xtask web)");
    }
    dist
}

/// The rows of `orders`, read by another client (the CLI).
pub(crate) fn server_orders(server: &Server, filter: Option<&str>) -> Vec<Value> {
    let mut args = vec!["watch", "orders", "--once"];
    args.extend(filter.iter().flat_map(|f| ["--where", f]));
    let out = Command::new(bin())
        .args(args)
        .env("LUCARNE_SERVER", server.url())
        .output()
        .expect("run lucarne watch");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn status_of(server: &Server, order: &str) -> String {
    let rows = server_orders(server, Some(&format!("order_id = '{order}'")));
    rows.first().and_then(|r| r["status"].as_str()).unwrap_or_default().to_owned()
}

fn send(server: &Server, command: &str, payload: &str) {
    let out = Command::new(bin())
        .args(["send", command, payload])
        .env("LUCARNE_SERVER", server.url())
        .output()
        .expect("run lucarne send");
    assert!(out.status.success(), "{out:?}");
}

pub(crate) fn wait_for(
    what: &str,
    timeout: Duration,
    driver: &Driver,
    server: &Server,
    ok: impl FnMut() -> bool,
) {
    if lucarne_testing::poll_until(timeout, ok) {
        return;
    }
    panic!(
        "timed out waiting for {what}; title {:?}; the page's console:\n{}\nthe server's log:\n{}",
        driver.title(),
        driver.console(),
        server.log()
    );
}

/// A TCP proxy in front of the server that can refuse WebSocket upgrades (and cut the open
/// ones) while it still serves the page.
struct Gate {
    addr: SocketAddr,
    closed: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
}

impl Gate {
    async fn start(upstream: SocketAddr) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let addr = listener.local_addr().expect("gate addr");
        let closed = Arc::new(AtomicBool::new(false));
        let (cut, _) = broadcast::channel(4);
        let (shut, cuts) = (closed.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (shut, mut cut) = (shut.clone(), cuts.subscribe());
                tokio::spawn(async move {
                    let mut head = [0u8; 8];
                    let started = Instant::now();
                    let websocket = loop {
                        match inbound.peek(&mut head).await {
                            Ok(n) if n >= 7 => break head.starts_with(b"GET /ws"),
                            Ok(0) | Err(_) => return,
                            Ok(_) if started.elapsed() > Duration::from_secs(5) => return,
                            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    };
                    if websocket && shut.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.recv(), if websocket => {}
                    }
                });
            }
        });
        Gate { addr, closed, cut }
    }

    /// Refuses WebSockets and cuts the open ones.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.cut.send(());
    }

    fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
    }
}

/// Waits until a screenshot's region has more than two colours (text drawn), polling as fast
/// as screenshots allow; returns `performance.now()` read right after that screenshot: an
/// upper bound of the time from navigation to the first painted frame.
fn first_frame(driver: &Driver, shot: &Path) -> f64 {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        // Right after navigating, a screenshot may be refused ("aborted by navigation"): retry.
        if let Err(e) = driver.try_screenshot(shot) {
            eprintln!("browser: no screenshot yet: {e}");
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let now = driver.eval("return performance.now()").as_f64().unwrap_or(f64::NAN);
        if region_stats(shot, "400x40+0+0").1 > 2 {
            return now;
        }
    }
    panic!("no frame within 60 s; console:\n{}", driver.console());
}

/// Whether the browser tests can run: `false` (with the reason printed) when Chromium or
/// chromedriver is missing, unless `LUCARNE_BROWSER_TEST=require`.
pub(crate) fn browser_available() -> bool {
    let required = std::env::var("LUCARNE_BROWSER_TEST").is_ok_and(|v| v == "require");
    for tool in ["chromium", "chromedriver"] {
        if !found(tool) {
            assert!(!required, "{tool} is missing (LUCARNE_BROWSER_TEST=require): run `cargo xtask setup`");
            eprintln!("SKIPPED the browser test: {tool} is not installed (`cargo xtask setup` installs it)");
            return false;
        }
    }
    assert!(found("convert"), "ImageMagick's convert is missing: run `cargo xtask setup`");
    true
}

/// The demo with a small seed and (almost) no live traffic, serving the bundle.
fn demo_server(data: &Path, dist: &Path) -> Server {
    let args = ["--demo", "--demo-seed", "40", "--demo-rate", "0.01", "--web-dir"].map(String::from);
    let mut args = args.to_vec();
    args.push(dist.display().to_string());
    Server::spawn(data.to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args)
}

pub(crate) fn shots() -> PathBuf {
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-browser");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    shots
}

/// The first frame's marks of the page in `driver`, once it has painted: (wasm loaded, canvas
/// appended, first WebGL draw, the animation frame after it), in ms from navigation.
fn marks(driver: &Driver) -> [f64; 4] {
    let started = Instant::now();
    loop {
        let marks = driver.eval(
            "const r = performance.getEntriesByType('resource').find(e => e.name.endsWith('.wasm')); \
             return Object.assign({ wasm: r && r.responseEnd }, window.__marks)",
        );
        let get = |name: &str| marks[name].as_f64().unwrap_or(f64::NAN);
        if !get("frame").is_nan() {
            return [get("wasm"), get("canvas"), get("draw"), get("frame")];
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no frame within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `cargo xtask web --measure`: time from navigation to the first painted frame, five fresh
/// navigations (the first one cold: no HTTP or code cache). Not run by `cargo test`.
#[test]
#[ignore = "a measurement: cargo xtask web --measure"]
fn first_frame_in_headless_chromium() {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let renderer = std::env::var("LUCARNE_WEB_RENDERER").unwrap_or_else(|_| "tiny-skia".into());
    let dist = bundle(&renderer);
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = tempfile::tempdir().expect("browser profile");
    let server = demo_server(dir.path(), &dist);
    let (_chromedriver, driver_addr) = chromedriver(&shots().join("chromedriver-measure.log"));
    let driver = Driver::start(driver_addr, profile.path(), &PAGE);
    let mut frames = Vec::new();
    for run in 0..5 {
        driver.go("about:blank");
        driver.go(&format!("http://{}/", server.addr));
        let [wasm, canvas, draw, frame] = marks(&driver);
        eprintln!(
            "first frame ({renderer}, run {run}): wasm loaded {wasm:.0} ms, canvas {canvas:.0} ms, first draw \
             {draw:.0} ms, frame presented {frame:.0} ms after navigation"
        );
        frames.push(frame);
        if std::env::var_os("LUCARNE_BROWSER_TIMING").is_some() {
            let entries = driver.eval(
                "return performance.getEntries().map(e => [e.entryType, e.name.split('/').pop(), \
                 Math.round(e.startTime), Math.round(e.responseStart || 0), Math.round(e.responseEnd || e.duration || 0)])",
            );
            eprintln!("  entries: {entries}");
        }
    }
    let cold = frames[0];
    frames.sort_by(f64::total_cmp);
    eprintln!(
        "FIRST FRAME ({renderer}): {cold:.0} ms cold; median of 5 navigations {:.0} ms (min {:.0}, max {:.0})",
        frames[2], frames[0], frames[4]
    );
}

#[test]
fn the_browser_app_shows_changes_sends_commands_survives_restarts_and_reloads() {
    check_the_desk_in_the_browser("tiny-skia");
}

#[test]
fn the_webgl_build_does_the_same() {
    check_the_desk_in_the_browser("webgl");
}

/// The scenario, on the bundle of `renderer`.
fn check_the_desk_in_the_browser(renderer: &str) {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dist = bundle(renderer);
    let shots = shots().join(renderer);
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let shot = |name: &str| shots.join(name);
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = tempfile::tempdir().expect("browser profile");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut server = demo_server(dir.path(), &dist);
    let gate = runtime.block_on(Gate::start(server.addr));
    let (_chromedriver, driver_addr) = chromedriver(&shot("chromedriver.log"));
    let driver = Driver::start(driver_addr, profile.path(), &PAGE);
    let viewport = driver.eval("return [window.innerWidth, window.innerHeight, window.devicePixelRatio]");
    assert_eq!(viewport, json!([WIDTH, HEIGHT, 1]), "the viewport");

    // 1. The first frame, then every order the server has.
    // `?log=debug`: the runtime's story (connected, offline and why, resyncs) in the console,
    // printed when a step times out.
    let page = format!("http://{}/?log=debug", gate.addr);
    driver.go(&page);
    let painted = first_frame(&driver, &shot("first-frame.png"));
    let [wasm, canvas, draw, frame] = marks(&driver);
    eprintln!(
        "browser ({renderer}): first frame: wasm loaded {wasm:.0} ms, canvas {canvas:.0} ms, first draw {draw:.0} ms, \
         frame presented {frame:.0} ms after navigation; first screenshot showing it {painted:.0} ms"
    );
    let all = server_orders(&server, None).len();
    assert!(all > 0);
    wait_for("every order in the page", Duration::from_secs(30), &driver, &server, || {
        driver.title() == shows(all)
    });
    let full = performance_now(&driver);
    eprintln!("browser ({renderer}): {all} orders shown {full:.0} ms after navigation");

    // 2. Typing into the filter makes it the live query: only orders over 90 000 (the demo
    // makes none), largest first. Part of it is typed key by key, part arrives as one insertion
    // (an input method's composition, committed), part as dictation would insert it.
    driver.click(FILTER_BOX);
    // Each part is needed: without the composition the filter is invalid, without the bare
    // insertion it is `total > 9` (every order), doubled it is invalid again.
    driver.type_keys("total ");
    driver.insert_text("> 9", Some("> "));
    driver.insert_text("0000 order by total desc", None);
    driver.type_keys("\u{E007}");
    wait_for("the filtered (empty) table", Duration::from_secs(20), &driver, &server, || {
        driver.title() == shows(0)
    });
    settle("the filtered table drawn", Duration::from_secs(20), &shot("before.png"), FIRST_ROW, |p| {
        driver.screenshot(p);
    });

    // 3. Another client (the CLI) places such an order: the page shows it.
    send(
        &server,
        "place_order",
        r#"{"order_id":"o-web1","customer":"Wanda Web","total":99999,"region":"eu"}"#,
    );
    wait_for("the other client's order in the page", Duration::from_secs(20), &driver, &server, || {
        driver.title() == shows(1)
    });
    let before = region_signature(&shot("before.png"), FIRST_ROW);
    let (_, colours) = changed(
        "the order in the first row",
        Duration::from_secs(20),
        &shot("after.png"),
        FIRST_ROW,
        &before,
        |p| {
            driver.screenshot(p);
        },
    );
    assert!(colours > 2, "the first row has text in it");

    // 4. "Pay" on that row: the command reaches the server (seen by the CLI).
    driver.click(FIRST_PAY);
    wait_for("o-web1 paid on the server", Duration::from_secs(20), &driver, &server, || {
        status_of(&server, "o-web1") == "paid"
    });
    driver.screenshot(&shot("paid.png"));

    // 5. Kill the server: the badge goes offline; restart it: the page reconnects and resumes,
    // and shows an order placed after the restart.
    let live = region_signature(&shot("paid.png"), BADGE);
    let (data, addr, args) = server.kill();
    changed("the badge to leave Live", Duration::from_secs(20), &shot("offline.png"), BADGE, &live, |p| {
        driver.screenshot(p);
    });
    server = Server::spawn(data, addr, args);
    send(
        &server,
        "place_order",
        r#"{"order_id":"o-web2","customer":"Walter Web","total":99998,"region":"us"}"#,
    );
    wait_for("the order placed after the restart", Duration::from_secs(30), &driver, &server, || {
        driver.title() == shows(2)
    });
    let offline = region_signature(&shot("offline.png"), BADGE);
    changed(
        "the badge to leave Offline",
        Duration::from_secs(20),
        &shot("resumed.png"),
        BADGE,
        &offline,
        |p| {
            driver.screenshot(p);
        },
    );

    // 6. Offline (WebSockets refused, the page still served), "Pay" on the second row queues
    // the command in the outbox, kept in the tab's sessionStorage; a reload keeps it, and it is
    // sent once the socket is let through again.
    gate.close();
    changed(
        "the badge to go offline",
        Duration::from_secs(20),
        &shot("gated.png"),
        BADGE,
        &region_signature(&shot("resumed.png"), BADGE),
        |p| {
            driver.screenshot(p);
        },
    );
    let second_pay = (FIRST_PAY.0, FIRST_PAY.1 + ROW);
    driver.click(second_pay);
    wait_for("the command kept in sessionStorage", Duration::from_secs(10), &driver, &server, || {
        driver
            .eval("return JSON.stringify(Object.entries(sessionStorage))")
            .as_str()
            .unwrap_or("")
            .contains("pay_order")
    });
    assert_eq!(status_of(&server, "o-web2"), "placed", "the command cannot have left");
    driver.call("POST", "/refresh", Some(json!({})));
    // The reloaded page is up (its wasm started: it titles the page) and still cannot send.
    wait_for("the reloaded page", Duration::from_secs(30), &driver, &server, || {
        driver.eval("return document.readyState").as_str() == Some("complete")
            && driver.title().starts_with("Lucarne")
    });
    assert_eq!(status_of(&server, "o-web2"), "placed");
    gate.open();
    wait_for(
        "the reloaded page's queued command on the server",
        Duration::from_secs(30),
        &driver,
        &server,
        || status_of(&server, "o-web2") == "paid",
    );
    let paid = server_orders(&server, Some("order_id = 'o-web2'"));
    eprintln!("browser ({renderer}): the queued command arrived after the reload: {paid:?}");
    driver.screenshot(&shot("reloaded.png"));

    // 7. Search as typed: the server's live search narrows the table to Walter's order (a typo
    // allowed); the title counts it.
    driver.click(SEARCH_BOX);
    driver.type_keys("waltr");
    wait_for("the table narrowed to the order found", Duration::from_secs(20), &driver, &server, || {
        driver.title() == shows(1)
    });
    driver.screenshot(&shot("searched.png"));
    eprintln!("browser ({renderer}): console:\n{}", driver.console());

    // The address chooses the language: the desk in Arabic, its count of orders in
    // Arabic-Indic digits.
    driver.go(&format!("http://{}/?locale=ar", gate.addr));
    wait_for("the desk in Arabic", Duration::from_secs(30), &driver, &server, || {
        let title = driver.title();
        title.starts_with("مكتب طلبات لوكارن · ") && title.chars().any(|c| ('٠'..='٩').contains(&c))
    });
    // The tab's title follows the desk's, in its language.
    wait_for("the tab titled in Arabic", Duration::from_secs(10), &driver, &server, || {
        driver.eval("return document.title").as_str() == Some(driver.title().as_str())
    });
    eprintln!("browser ({renderer}): ?locale=ar: {}", driver.title());
    driver.screenshot(&shot("arabic.png"));
}

/// The desk's title when it shows `n` orders (English: the page's locale here).
pub(crate) fn shows(n: usize) -> String {
    format!("Lucarne order desk · {n} order{}", if n == 1 { "" } else { "s" })
}

fn performance_now(driver: &Driver) -> f64 {
    driver.eval("return performance.now()").as_f64().unwrap_or(f64::NAN)
}

/// The service worker (`web/sw.js`) shows each push as a notification: the text the server
/// rendered, laid out from its own direction, one per registration; a push without text in the
/// browser's language. Pushes are delivered to it through the DevTools protocol
/// (`ServiceWorker.deliverPushMessage`): no browser can subscribe to a push service offline.
#[test]
fn the_service_worker_shows_each_push_as_a_notification() {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dist = bundle("tiny-skia");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = tempfile::tempdir().expect("browser profile");
    let server = demo_server(dir.path(), &dist);
    let (_chromedriver, driver_addr) = chromedriver(&shots().join("chromedriver-push.log"));
    let driver = Driver::start(driver_addr, profile.path(), &PAGE);
    let origin = format!("http://{}", server.addr);
    let mut devtools = driver.devtools();
    devtools.call("ServiceWorker.enable", json!({}));
    driver.go(&format!("{origin}/"));
    let registration = devtools.event("ServiceWorker.workerRegistrationUpdated", |p| {
        p["registrations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["scopeURL"] == format!("{origin}/") && r["isDeleted"] == false)
    });
    let id = registration["registrations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["scopeURL"] == format!("{origin}/"))
        .and_then(|r| r["registrationId"].as_str())
        .expect("the service worker's registration")
        .to_owned();
    wait_for("the service worker to be active", Duration::from_secs(30), &driver, &server, || {
        driver.eval("return navigator.serviceWorker.ready.then(r => r.active && r.active.state)")
            == "activated"
    });
    // Allowed from the browser's start (its profile's preferences, see `webdriver.rs`).
    assert_eq!(driver.eval("return Notification.permission"), "granted");
    let notices = [
        json!({"registration": "p1", "view": "orders", "key": "o-7", "version": 3, "changes": 2,
               "title": "طلب o-7 مدفوع", "body": "نور: ٤٢٫٥"}),
        json!({"registration": "p2", "view": "orders", "key": "o-8", "version": 4, "changes": 1,
               "title": "Order o-8 paid", "body": "Grace: 12"}),
        // A newer push of the same registration takes the place of the one shown.
        json!({"registration": "p2", "view": "orders", "key": "o-9", "version": 5, "changes": 1,
               "title": "Order o-9 paid", "body": "Alan: 7"}),
        json!({"registration": "p3", "view": "orders", "key": null, "version": 0, "changes": 0}),
    ];
    let mut deliver = || {
        for notice in &notices {
            let params = json!({ "origin": origin, "registrationId": id, "data": notice.to_string() });
            devtools.call("ServiceWorker.deliverPushMessage", params);
        }
    };
    deliver();
    let shown = || {
        driver.eval(
            "return navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => \
             ns.map(n => [n.tag, n.title, n.body, n.dir]).sort())",
        )
    };
    // A push handed over through DevTools is at times not dispatched under load (see the test
    // below): all are handed over again, in order, after 5 s without them.
    let started = Instant::now();
    let mut delivered = Instant::now();
    while !shown().as_array().is_some_and(|n| n.len() == 3 && n.iter().any(|n| n[1] == "Order o-9 paid")) {
        if delivered.elapsed() > Duration::from_secs(5) {
            deliver();
            delivered = Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "three notifications, not {}; the page's console:\n{}\nDevTools: {:?}",
            shown(),
            driver.console(),
            devtools.pending()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        shown(),
        json!([
            ["p1", "طلب o-7 مدفوع", "نور: ٤٢٫٥", "auto"],
            ["p2", "Order o-9 paid", "Alan: 7", "auto"],
            ["p3", "Something changed", "", "auto"],
        ])
    );
}

/// "Notify me" in the browser, end to end: the desk subscribes with the server's key (the
/// browser's own push service cannot be reached offline, so its subscription is a Web Push
/// stand-in's, handed to the page by a script in place of `PushManager.subscribe`) and registers
/// the filter's orders; once the desk is closed, a new order is pushed to the stand-in, which
/// decrypts it; the service worker, given that push, shows the notification in the desk's words.
#[test]
fn notify_me_turns_new_orders_into_notifications_while_the_desk_is_closed() {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dist = bundle("tiny-skia");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = tempfile::tempdir().expect("browser profile");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let service = runtime.block_on(lucarne_testing::PushService::start());
    let subscription = service.subscribe();
    let vapid = dir.path().join("vapid.key");
    let out =
        Command::new(bin()).args(["push", "vapid-key", "--out"]).arg(&vapid).output().expect("vapid-key");
    assert!(out.status.success(), "{out:?}");
    let public_key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let args = [
        "--demo",
        "--demo-seed",
        "5",
        "--demo-rate",
        "0",
        "--web-dir",
        &dist.display().to_string(),
        "--vapid-key",
        &vapid.display().to_string(),
        "--push-endpoints",
        &service.origin(),
    ]
    .map(String::from);
    let server = Server::spawn(dir.path().join("data"), "127.0.0.1:0".parse().expect("addr"), args.to_vec());
    let (_chromedriver, driver_addr) = chromedriver(&shots().join("chromedriver-notify.log"));
    let driver = Driver::start(driver_addr, profile.path(), &PAGE);
    let fake = format!(
        "PushManager.prototype.subscribe = async function (options) {{ \
           window.__pushKey = options.applicationServerKey; \
           const json = {}; return {{ toJSON: () => json }}; }};",
        serde_json::to_string(&subscription).expect("json")
    );
    driver.call(
        "POST",
        "/goog/cdp/execute",
        Some(json!({ "cmd": "Page.addScriptToEvaluateOnNewDocument", "params": { "source": fake } })),
    );
    let origin = format!("http://{}", server.addr);
    driver.go(&format!("{origin}/"));
    first_frame(&driver, &shots().join("notify-first-frame.png"));
    let all = server_orders(&server, None).len();
    wait_for("the orders", Duration::from_secs(30), &driver, &server, || driver.title() == shows(all));

    driver.click(NOTIFY_ME);
    wait_for("the registration", Duration::from_secs(30), &driver, &server, || {
        server.log().contains("push registered")
    });
    assert_eq!(driver.eval("return window.__pushKey"), json!(public_key), "subscribed with the server's key");

    // The desk closed (its connection's end seen), a new order is pushed.
    let gone = server.log().matches("disconnected session=").count();
    driver.go("about:blank");
    wait_for("the desk to close", Duration::from_secs(30), &driver, &server, || {
        server.log().matches("disconnected session=").count() > gone
    });
    send(&server, "place_order", r#"{"order_id":"o-900","customer":"Nour","region":"mena","total":42}"#);
    wait_for("the push", Duration::from_secs(30), &driver, &server, || !service.received().is_empty());
    let payload = String::from_utf8(service.received()[0].payload.clone()).expect("utf-8");
    let notice: Value = serde_json::from_str(&payload).expect("a push notice");
    assert_eq!(notice["key"], "o-900");
    // The desk's words, each value isolated (U+2068 … U+2069) so that it keeps its own direction
    // in an Arabic or Hebrew sentence, the columns filled in by the server.
    let title = "Order \u{2068}o-900\u{2069}: \u{2068}placed\u{2069}";
    assert_eq!(notice["title"], title, "{notice}");

    // The service worker shows it.
    let mut devtools = driver.devtools();
    devtools.call("ServiceWorker.enable", json!({}));
    driver.go(&format!("{origin}/"));
    wait_for("the service worker", Duration::from_secs(30), &driver, &server, || {
        driver.eval("return navigator.serviceWorker.ready.then(r => r.active && r.active.state)")
            == "activated"
    });
    let registration = devtools.event("ServiceWorker.workerRegistrationUpdated", |p| {
        p["registrations"].as_array().into_iter().flatten().any(|r| r["scopeURL"] == format!("{origin}/"))
    });
    let id = registration["registrations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["scopeURL"] == format!("{origin}/"))
        .and_then(|r| r["registrationId"].as_str())
        .expect("the service worker's registration")
        .to_owned();
    let shown = || {
        driver.eval("return navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => n.title))")
    };
    // Under load a push handed over through DevTools right after the page came back is at times
    // not dispatched (two runs in four with both cores busy, the worker "running"): it is
    // handed over again every 5 s — one notification per registration, so never two shown.
    let started = Instant::now();
    let mut delivered: Option<Instant> = None;
    while shown() != json!([title]) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the notification, not {} (permission {}); DevTools: {:?}",
            shown(),
            driver.eval("return Notification.permission"),
            devtools.pending()
        );
        if delivered.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
            let push = json!({ "origin": origin, "registrationId": id, "data": payload });
            devtools.call("ServiceWorker.deliverPushMessage", push);
            delivered = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
