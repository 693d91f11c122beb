//! The desktop app in a real window: `lucarne-desktop` under Xvfb, rendering with wgpu on
//! Mesa's lavapipe (software Vulkan), against a real `lucarne serve --demo`, driven with
//! xdotool and photographed with ImageMagick's `import`.
//!
//! The binary is built by `cargo build -p lucarne-app --bin lucarne-desktop` from the test
//! (cargo cannot give one package's tests another package's binary); set
//! `LUCARNE_DESKTOP_BIN` to use a prebuilt one. Needs `xvfb`, `xdotool`, `imagemagick`,
//! `mesa-vulkan-drivers` (`cargo xtask setup` installs them).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Server, bin, changed, desktop_bin, found, region_signature, settle};
use lucarne_testing::wait_for;

/// Kills a child process when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGTERM first, so that Xvfb removes its lock and socket files (SIGKILL leaves them,
        // and the display number stays taken for every later run).
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if self.0.try_wait().is_ok_and(|s| s.is_some()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether display `n` is taken by a running X server; the files of one that died are removed.
fn display_taken(n: u32) -> bool {
    let (lock, socket) = (format!("/tmp/.X{n}-lock"), format!("/tmp/.X11-unix/X{n}"));
    let pid = std::fs::read_to_string(&lock).ok().and_then(|p| p.trim().parse::<u32>().ok());
    match pid {
        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => true,
        Some(_) => {
            let _ = std::fs::remove_file(&lock);
            let _ = std::fs::remove_file(&socket);
            false
        }
        None => Path::new(&socket).exists() || Path::new(&lock).exists(),
    }
}

pub(crate) fn need(tool: &str) {
    assert!(found(tool), "{tool} is missing: run `cargo xtask setup`");
}

/// Starts Xvfb on a free display number.
pub(crate) fn xvfb() -> (Guard, String) {
    // Each call of this process starts from another number: two tests starting at once do not
    // race for one display (and then share a server).
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let first = NEXT.fetch_add(7, std::sync::atomic::Ordering::Relaxed);
    for n in (0..50).map(|i| 90 + (first + i) % 50) {
        if display_taken(n) {
            continue;
        }
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            // `-noreset`: an X server resets when its last client leaves, and the readiness probe
            // below is a client; a window opened during that reset fails (XOpenDisplay).
            .args([display.as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let guard = Guard(child);
        let started = Instant::now();
        // Ready when a client gets an answer from it (its socket file comes before that).
        while started.elapsed() < Duration::from_secs(10) {
            let answers = Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && Command::new("xdotool")
                    .arg("getdisplaygeometry")
                    .env("DISPLAY", &display)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
            if answers {
                return (guard, display);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("no free X display");
}

pub(crate) fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool").args(args).env("DISPLAY", display).output().expect("run xdotool");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn screenshot(display: &str, path: &Path) {
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(path)
        .env("DISPLAY", display)
        .status()
        .expect("run import");
    assert!(status.success(), "screenshot failed");
}

/// The current rows of `orders`, read by another client (the CLI).
fn server_orders(server: &Server) -> Vec<Value> {
    let out = Command::new(bin())
        .args(["watch", "orders", "--once"])
        .env("LUCARNE_SERVER", server.url())
        .output()
        .expect("run lucarne watch");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn the_desktop_app_shows_an_order_sent_by_another_client_and_sends_commands() {
    for tool in ["Xvfb", "xdotool", "import", "convert"] {
        need(tool);
    }
    let desktop = desktop_bin();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-desktop");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let dir = tempfile::tempdir().expect("tempdir");
    // The demo with a small seed and (almost) no live traffic, so counts are predictable.
    let args = ["--demo", "--demo-seed", "40", "--demo-rate", "0.01"].map(String::from).to_vec();
    let server = Server::spawn(dir.path().to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args);
    let (_xvfb, display) = xvfb();

    let started = Instant::now();
    let log = std::fs::File::create(shots.join("desktop.log")).expect("log file");
    // The outbox in the test's directory, not the user's state directory.
    let outbox = tempfile::tempdir().expect("outbox dir");
    let app = Command::new(&desktop)
        .env("DISPLAY", &display)
        .env("LUCARNE_SERVER", server.url())
        .env("LUCARNE_OUTBOX", outbox.path().join("outbox.json"))
        // English whatever the machine's LANG: the title and the click positions are English.
        .env("LUCARNE_LOCALE", "en")
        .env("WGPU_BACKEND", "vulkan")
        .env("RUST_LOG", "wgpu_core=warn,iced_wgpu=info")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start lucarne-desktop");
    let _app = Guard(app);

    // The window appears; its title (rendered from the app's state) counts the orders shown.
    let mut window = String::new();
    // A debug build drawing with lavapipe, next to other e2e tests (a storm of 2 000 clients)
    // on 2 cores: the first frame can take a minute.
    wait_for("the window", Duration::from_secs(180), || {
        window = xdotool(&display, &["search", "--name", "Lucarne order desk"]);
        !window.is_empty()
    });
    let window = window.lines().next().unwrap_or_default().to_owned();
    let shows = |expected: usize| {
        xdotool(&display, &["getwindowname", &window]) == format!("Lucarne order desk · {expected} orders")
    };
    let mut before = 0;
    wait_for("the app to show every order", Duration::from_secs(60), || {
        before = server_orders(&server).len();
        before > 0 && shows(before)
    });
    let first_frame = started.elapsed();
    eprintln!("desktop: window + first full table after {first_frame:?} ({before} orders)");

    // Sort by total, largest first: two clicks on the "Total" header (window at 0,0; layout in
    // logical pixels, scale factor 1 under Xvfb).
    xdotool(&display, &["windowmove", &window, "0", "0"]);
    let first_row = "560x26+12+161";
    let before_png = shots.join("before.png");
    screenshot(&display, &before_png);
    let unsorted = region_signature(&before_png, first_row);
    // (no `--sync` on mousemove: it waits forever when the pointer is already there)
    xdotool(&display, &["mousemove", "333", "146", "click", "1", "click", "1"]);
    // The largest order comes first: the first row changes, then stays.
    changed("the table sorted by total", Duration::from_secs(20), &before_png, first_row, &unsorted, |p| {
        screenshot(&display, p);
    });
    settle("the sorted table", Duration::from_secs(20), &before_png, first_row, |p| screenshot(&display, p));

    // Another client places an order larger than any the demo makes.
    let order = r#"{"order_id":"o-e2e","customer":"Xavier Xvfb","total":99999,"region":"eu"}"#;
    let sent = Command::new(bin())
        .args(["send", "place_order", order])
        .env("LUCARNE_SERVER", server.url())
        .output()
        .expect("run lucarne send");
    assert!(sent.status.success(), "{sent:?}");
    let after_count = server_orders(&server).len();
    assert_eq!(after_count, before + 1);
    wait_for("the new order in the window title", Duration::from_secs(20), || shows(after_count));
    let after_png = shots.join("after.png");

    // The first row changes (it is now the new order): its pixels differ.
    let before = region_signature(&before_png, first_row);
    let (_, colours) = changed(
        "the new order in the first row",
        Duration::from_secs(20),
        &after_png,
        first_row,
        &before,
        |p| {
            screenshot(&display, p);
        },
    );
    assert!(colours > 2, "the first row has text in it");

    // Press "Pay" on that row: the command reaches the server through the real window.
    // The title counts pending commands: the optimistic state shows, then the delta carrying
    // the ack drops it.
    let pending = format!("Lucarne order desk · {after_count} orders · 1 pending");
    let mut seen_pending = false;
    xdotool(&display, &["mousemove", "634", "174", "click", "1"]);
    wait_for("o-e2e paid on the server and in the window", Duration::from_secs(20), || {
        seen_pending |= xdotool(&display, &["getwindowname", &window]) == pending;
        shows(after_count)
            && server_orders(&server).iter().any(|r| r["order_id"] == "o-e2e" && r["status"] == "paid")
    });
    screenshot(&display, &shots.join("paid.png"));
    eprintln!("desktop: pending state seen in the title: {seen_pending}; total {:?}", started.elapsed());

    // Search as typed: the server's live search of `order_search` narrows the table to Xavier's
    // order (a typo allowed), the title counts it.
    // No window manager under Xvfb: the keyboard goes to the window once it is given the focus.
    xdotool(&display, &["windowfocus", "--sync", &window]);
    xdotool(&display, &["mousemove", "150", "109", "click", "1"]);
    xdotool(&display, &["type", "--delay", "30", "xaveir"]);
    wait_for("the table narrowed to the order found", Duration::from_secs(20), || {
        xdotool(&display, &["getwindowname", &window]) == "Lucarne order desk · 1 order"
    });
    screenshot(&display, &shots.join("searched.png"));
}
