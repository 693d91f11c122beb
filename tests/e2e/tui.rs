//! `lucarne tui`, the real binary in a pseudo-terminal (its screen read by a terminal emulator)
//! against a real `lucarne serve --demo`.

use std::time::Duration;

use lucarne_testing::Pty;

use crate::support::{Server, bin, json_lines, lucarne, send};

const WAIT: Duration = Duration::from_secs(20);

/// A demo server whose generator is all but still (one change in a hundred seconds).
fn demo(dir: &std::path::Path) -> Server {
    let args = ["--demo", "--demo-seed", "0", "--demo-rate", "0.01"].map(String::from).to_vec();
    Server::spawn(dir.to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args)
}

/// `lucarne tui ARGS` in a 120 × 30 terminal.
fn tui(server: &Server, args: &[&str]) -> Pty {
    let url = server.url();
    let mut all = vec!["tui", "--server", url.as_str()];
    all.extend(args);
    Pty::spawn(bin(), &all, &[("LANG", "C.UTF-8"), ("NO_COLOR", "1")], (120, 30))
        .expect("lucarne tui in a pty")
}

/// The order's status as the server holds it.
fn status(server: &Server, id: &str) -> String {
    let out = lucarne(server, &["watch", "orders", "--once", "--where", &format!("order_id = '{id}'")]);
    json_lines(&out).first().and_then(|r| r["status"].as_str().map(str::to_owned)).unwrap_or_default()
}

/// The screen line that shows `text`.
fn line_of(screen: &str, text: &str) -> String {
    screen.lines().find(|l| l.contains(text)).unwrap_or_default().to_owned()
}

/// The value at the end of a chart's bar.
fn bar_value(screen: &str, label: &str) -> Option<f64> {
    let line = line_of(screen, &format!("{label} █"));
    let (_, bar) = line.split_once(&format!("{label} █"))?;
    bar.trim_start_matches(['█', '▏', '▎', '▍', '▌', '▋', '▊', '▉']).split_whitespace().next()?.parse().ok()
}

#[test]
fn the_desk_an_order_appears_a_key_pays_it_and_an_action_queued_offline_lands_once_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo(dir.path());
    let mut pty = tui(&server, &["--desk"]);
    pty.wait_for_text("● live", WAIT);

    // An order sent by the CLI appears; natural order puts `a-…` before the demo's `o-…`.
    let order = r#"{"order_id":"a-tui-1","customer":"Ada Lovelace","total":12.5}"#;
    send(&server, "place_order", order).expect("placed");
    pty.wait_for_text("a-tui-1", WAIT);
    pty.keys("g");
    pty.keys("P");
    pty.wait_for_text(r#"pay_order "a-tui-1": accepted at"#, WAIT);
    lucarne_testing::wait_for("the server's row paid", WAIT, || status(&server, "a-tui-1") == "paid");
    pty.wait_until("the row shown paid", WAIT, |s| line_of(s, "a-tui-1").contains("paid"));

    // The server killed: the badge counts down; a key pressed meanwhile waits in the outbox.
    let killed = server.kill();
    pty.wait_for_text("✕ offline", WAIT);
    pty.keys("S");
    pty.wait_for_text(r#"ship_order "a-tui-1": sending"#, WAIT);
    // Shown shipped at once, while the command waits for the server.
    assert!(line_of(&pty.screen(), "a-tui-1").contains("shipped"), "{}", pty.screen());
    let server = Server::again(killed);
    pty.wait_for_text(r#"ship_order "a-tui-1": accepted at"#, WAIT);
    pty.wait_for_text("● live", WAIT);
    // Once: a second ship of a shipped order would be refused, and the notice would say so.
    assert_eq!(status(&server, "a-tui-1"), "shipped");
    pty.wait_until("the row shown shipped", WAIT, |s| line_of(s, "a-tui-1").contains("shipped"));
    assert!(!pty.screen().contains("rejected"), "{}", pty.screen());
}

#[test]
fn the_view_list_a_refused_query_pointed_at_then_a_live_filter_and_quit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo(dir.path());
    for (id, customer, total) in [("a-1", "Ada Lovelace", 5), ("a-2", "מרים כהן", 50), ("a-3", "فاطمة", 500)]
    {
        let order = format!(r#"{{"order_id":"{id}","customer":"{customer}","total":{total}}}"#);
        send(&server, "place_order", &order).expect("placed");
    }
    let mut pty = tui(&server, &[]);
    pty.wait_for_text("orders  (", WAIT);
    for _ in 0..20 {
        if pty.screen().contains("› orders  (") {
            break;
        }
        let before = pty.screen();
        pty.keys("j");
        pty.wait_until("the next view chosen", WAIT, |s| s != before);
    }
    pty.keys("\r");
    pty.wait_for_text("a-3", WAIT);
    // The Hebrew and Arabic names are written in visual order (this terminal does no bidi).
    pty.wait_for_text("ןהכ םירמ", WAIT);
    pty.wait_for_text("ةمطاف", WAIT);

    // A query the server refuses: its message, and the refused text kept for editing.
    pty.keys("/total >> 10\r");
    pty.wait_for_text("invalid_sql", WAIT);
    assert!(line_of(&pty.screen(), "where:").contains("total >> 10"), "{}", pty.screen());
    // Edited (Ctrl-U empties the field) into one it takes: the rows narrow, live.
    pty.keys("/\x15total > 10\r");
    pty.wait_until("only the two larger orders", WAIT, |s| !s.contains("a-1 ") && s.contains("a-3"));
    send(&server, "place_order", r#"{"order_id":"a-4","customer":"Grace","total":70}"#).expect("placed");
    pty.wait_for_text("a-4", WAIT);
    send(&server, "place_order", r#"{"order_id":"a-5","customer":"Alan","total":7}"#).expect("placed");

    // A smaller terminal: the screen is laid out again for it (the keys on its new last line).
    pty.resize((70, 12)).expect("resized");
    pty.wait_until("the keys on line 12", WAIT, |s| {
        s.lines().nth(11).is_some_and(|l| l.starts_with("↑↓ rows"))
    });

    // q: back to the list; q again: the program ends and leaves the terminal as it was.
    pty.keys("q");
    pty.wait_for_text("orders  (", WAIT);
    assert!(!pty.screen().contains("a-5"));
    pty.keys("q");
    lucarne_testing::wait_for("lucarne tui to exit", WAIT, || !pty.running());
    // The alternate screen left: the terminal shows what it showed before (here: nothing).
    pty.wait_until("the screen as it was", WAIT, |s| !s.contains("lucarne ·"));
}

#[test]
fn the_desk_rolls_a_refused_action_back_and_charts_sales_by_region() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo(dir.path());
    let order = r#"{"order_id":"a-1","customer":"Ada Lovelace","total":120,"region":"mena"}"#;
    send(&server, "place_order", order).expect("placed");
    let mut pty = tui(&server, &["--desk"]);
    pty.wait_for_text("a-1", WAIT);
    // Sales by region beside the table, from the second view.
    pty.wait_for_text("sales_by_region · revenue", WAIT);
    // (The demo's generator may have placed an order of its own by then.)
    pty.wait_until("a bar for mena", WAIT, |s| bar_value(s, "mena").is_some_and(|v| v >= 120.0));
    // Shipping a placed order: refused by the demo's lifecycle; the row goes back to placed.
    pty.keys("g");
    pty.keys("S");
    pty.wait_for_text(r#"ship_order "a-1": rejected"#, WAIT);
    pty.wait_until("the row placed again", WAIT, |s| line_of(s, "a-1 ").contains("placed"));
    assert_eq!(status(&server, "a-1"), "placed");
    // A second order moves the chart.
    let before = bar_value(&pty.screen(), "mena").unwrap_or_default();
    send(&server, "place_order", r#"{"order_id":"a-2","customer":"Grace","total":80,"region":"mena"}"#)
        .expect("placed");
    pty.wait_until("mena's bar grown by 80", WAIT, |s| {
        bar_value(s, "mena").is_some_and(|v| v >= before + 80.0)
    });
}

#[test]
fn a_view_larger_than_the_bound_is_browsed_a_window_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--demo", "--demo-seed", "3000", "--demo-rate", "0.01"].map(String::from).to_vec();
    let server = Server::spawn(dir.path().to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args);
    // The seed is placed while the server serves: wait for all of it, then count the orders.
    lucarne_testing::wait_for("the seed", Duration::from_secs(60), || server.log().contains("demo: seeded"));
    let out = lucarne(&server, &["view", "list", "--json"]);
    let count = json_lines(&out)
        .iter()
        .find(|v| v["name"] == "orders")
        .and_then(|v| v["rows"].as_u64())
        .expect("the orders' count");
    assert!(count > 1000, "{count} orders");
    let log = dir.path().join("tui.log");
    let log_arg = log.display().to_string();
    let mut pty = Pty::spawn(
        bin(),
        &["tui", "orders", "--server", &server.url(), "--window-above", "1000", "--log", &log_arg],
        &[("LANG", "C.UTF-8"), ("RUST_LOG", "lucarne_tui=debug")],
        (120, 30),
    )
    .expect("lucarne tui in a pty");
    pty.wait_for_text("● live", WAIT);
    let rows = |s: &str| -> u64 {
        let title = line_of(s, "lucarne · orders · ");
        title.split(" · ").nth(2).and_then(|t| t.split_whitespace().next()?.parse().ok()).unwrap_or_default()
    };
    pty.wait_until("the view's size in the title", WAIT, |s| rows(s) >= count);
    // The server's last order in key order, as `lucarne watch` gives it.
    let out = lucarne(&server, &["watch", "orders", "--once", "--order-by", "order_id DESC", "--limit", "1"]);
    let last =
        json_lines(&out).first().and_then(|r| r["order_id"].as_str().map(str::to_owned)).expect("an order");
    pty.keys("G");
    pty.wait_until("the last order on screen", WAIT, |s| {
        s.lines().any(|l| l.starts_with(&format!("{last} ")))
    });
    // Only windows were asked for: the first one, then one around the end.
    let asked = std::fs::read_to_string(&log).unwrap_or_default();
    let windows: Vec<&str> = asked.lines().filter(|l| l.contains("subscribe")).collect();
    assert!(windows.len() >= 2, "{asked}");
    assert!(windows.iter().all(|l| l.contains("limit: Some(600)")), "{asked}");
    let offsets: Vec<u64> = windows
        .iter()
        .filter_map(|l| l.split("offset: Some(").nth(1)?.split(')').next()?.parse().ok())
        .collect();
    assert_eq!(offsets.first(), Some(&0), "{asked}");
    assert!(offsets.iter().any(|o| *o + 600 >= count && *o > 0), "a window around the end: {asked}");
}
