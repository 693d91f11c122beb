//! The `lucarne` command as scripts use it.

use std::process::Command;

use serde_json::Value;

use crate::support::{Server, bin, json_lines, lucarne, send, views_file};

#[test]
fn send_watch_once_and_view_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);

    let out = lucarne(
        &server,
        &["send", "place_order", r#"{"order_id":"o-1","customer":"Ada","total":42.5,"region":"eu"}"#],
    );
    assert!(out.status.success(), "{out:?}");
    let ack = &json_lines(&out)[0];
    assert_eq!((ack["position"].as_u64(), ack["duplicate"].as_bool()), (Some(1), Some(false)));

    let out = lucarne(&server, &["send", "refund_everything", "{}"]);
    assert_eq!(out.status.code(), Some(1), "a rejection exits 1");
    assert_eq!(json_lines(&out)[0]["code"], "unknown_command");

    let out = lucarne(&server, &["send", "place_order", "{not json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));

    lucarne(&server, &["send", "place_order", r#"{"order_id":"o-2","customer":"יוסף","total":7}"#]);
    let out = lucarne(&server, &["watch", "orders", "--once"]);
    assert!(out.status.success(), "{out:?}");
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["order_id"], "o-1");
    assert_eq!(rows[0]["total"], 42.5);
    assert_eq!(rows[1]["customer"], "יוסף");

    let out = lucarne(&server, &["view", "list", "--json"]);
    let views = json_lines(&out);
    let names: Vec<_> = views.iter().map(|v| v["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["by_customer", "orders"]);
    assert!(views[1]["sql"].as_str().unwrap_or_default().starts_with("CREATE VIEW orders AS SELECT"));

    let out = lucarne(&server, &["watch", "no_such_view", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_view"));
}

#[test]
fn watch_streams_changes_as_json_lines() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    lucarne(&server, &["send", "place_order", r#"{"order_id":"o-1","customer":"Ada","total":1}"#]);
    let mut watch = Command::new(bin())
        .args(["watch", "orders"])
        .env("LUCARNE_SERVER", server.url())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let first: Value =
        serde_json::from_str(&lines.next().expect("snapshot line").expect("read")).expect("json");
    assert_eq!(first["order_id"], "o-1");
    lucarne(&server, &["send", "pay_order", r#"{"order_id":"o-1"}"#]);
    let change: Value =
        serde_json::from_str(&lines.next().expect("change line").expect("read")).expect("json");
    assert_eq!(change["op"], "upsert");
    assert_eq!(change["row"]["status"], "pay_order");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn a_row_cache_smaller_than_the_views_keeps_every_row_through_a_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Four rows in memory, two of them dirty: the rows are written back and forgotten all along.
    let server = Server::start(dir.path(), &["--row-cache", "4", "--row-cache-dirty", "2"]);
    for i in 0..12 {
        let order = format!(r#"{{"order_id":"o-{}","customer":"c-{}","total":{i}}}"#, i % 6, i % 4);
        let out = lucarne(&server, &["send", "place_order", &order]);
        assert!(out.status.success(), "{out:?}");
    }
    let check = |server: &Server| {
        let rows = json_lines(&lucarne(server, &["watch", "orders", "--once"]));
        let totals: Vec<(String, f64)> = rows
            .iter()
            .map(|r| (r["order_id"].as_str().unwrap_or("?").to_owned(), r["total"].as_f64().unwrap_or(-1.0)))
            .collect();
        let expected: Vec<(String, f64)> = (0..6).map(|k| (format!("o-{k}"), (2 * k + 6) as f64)).collect();
        assert_eq!(totals, expected);
        let spent = json_lines(&lucarne(server, &["watch", "by_customer", "--once"]));
        let spent: Vec<f64> = spent.iter().map(|r| r["spent"].as_f64().unwrap_or(-1.0)).collect();
        assert_eq!(spent, [12.0, 15.0, 18.0, 21.0], "c-0: 0+4+8, c-1: 1+5+9, …");
    };
    check(&server);
    check(&server.restart());

    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--row-cache", "10", "--row-cache-dirty", "11", "--data"])
        .arg(dir.path().join("other"))
        .arg("--views")
        .arg(views_file())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--row-cache-dirty (11) cannot exceed --row-cache (10)")
    );
}

#[test]
fn serve_refuses_bad_views_with_a_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let views = dir.path().join("bad.sql");
    std::fs::write(&views, "CREATE VIEW ok AS SELECT COUNT(*) AS n FROM s;\nCREATE VIEW bad AS SELECT a, COUNT(*) FROM s\n  JOIN t ON a = b GROUP BY a;").expect("write");
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--views")
        .arg(&views)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("JOIN is not supported in a view") && err.contains("at line 3, column 8"), "{err}");
}

#[test]
fn view_define_and_drop_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    lucarne(&server, &["send", "place_order", r#"{"order_id":"o-1","customer":"Ada","total":120}"#]);
    let out = lucarne(&server, &["view", "define", "CREATE VIEW n AS SELECT COUNT(*) AS orders FROM orders"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("n is live"));
    let rows = json_lines(&lucarne(&server, &["watch", "n", "--once"]));
    assert_eq!(rows, vec![serde_json::json!({"orders": 1})]);
    let out = lucarne(&server, &["view", "define", "CREATE VIEW n AS SELECT x FROM"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_sql"), "{out:?}");
    let out = lucarne(&server, &["view", "drop", "n"]);
    assert!(out.status.success(), "{out:?}");
    let out = lucarne(&server, &["watch", "n", "--once"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_demo_enforces_the_order_lifecycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::spawn(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
        vec!["--demo".into(), "--demo-seed".into(), "0".into(), "--demo-rate".into(), "0.01".into()],
    );
    let order = |id: &str| format!(r#"{{"order_id":"{id}","customer":"Ada","total":5}}"#);
    let id = |id: &str| format!(r#"{{"order_id":"{id}"}}"#);
    send(&server, "place_order", &order("t-1")).expect("placed");
    // Found by a new user: paying an unknown order made a ghost row; a shipped order could be
    // paid, and a cancelled one shipped.
    let (code, message) = send(&server, "pay_order", &id("t-nonexistent")).expect_err("unknown order");
    assert_eq!((code.as_str(), message.as_str()), ("not_found", "there is no order t-nonexistent"));
    assert_eq!(send(&server, "ship_order", &id("t-1")).map_err(|e| e.0), Err("rejected".into()));
    send(&server, "pay_order", &id("t-1")).expect("paid");
    send(&server, "ship_order", &id("t-1")).expect("shipped");
    let (code, message) = send(&server, "pay_order", &id("t-1")).expect_err("paying a shipped order");
    assert_eq!(code, "rejected");
    assert!(message.contains("it is shipped (only a placed order can be)"), "{message}");
    assert_eq!(send(&server, "cancel_order", &id("t-1")).map_err(|e| e.0), Err("rejected".into()));
    send(&server, "place_order", &order("t-2")).expect("placed");
    send(&server, "cancel_order", &id("t-2")).expect("cancelled");
    assert_eq!(send(&server, "ship_order", &id("t-2")).map_err(|e| e.0), Err("rejected".into()));
    assert_eq!(send(&server, "place_order", &order("t-2")).map_err(|e| e.0), Err("rejected".into()));

    let out = lucarne(&server, &["watch", "orders", "--once", "--where", "order_id LIKE 't-%'"]);
    let rows = json_lines(&out);
    let statuses: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["order_id"].as_str().unwrap_or_default(), r["status"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(statuses, [("t-1", "shipped"), ("t-2", "cancelled")], "no ghost row, no illegal step");
}

#[test]
fn a_routed_command_can_require_a_view_row_without_rust() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &[
            "--command",
            "orders:pay_order ON orders(order_id) WHEN status = 'place_order'",
            "--command",
            "orders:ship_order ON orders(order_id) WHEN status = 'pay_order' AND total > 0",
        ],
    );
    send(&server, "place_order", r#"{"order_id":"o-1","customer":"Ada","total":5}"#).expect("placed");
    let (code, message) = send(&server, "ship_order", r#"{"order_id":"o-1"}"#).expect_err("not paid");
    assert_eq!(code, "rejected");
    assert!(
        message.contains("ship_order needs status = 'pay_order' AND total > 0 on orders \"o-1\""),
        "{message}"
    );
    assert!(message.contains("status is \"place_order\""), "{message}");
    assert_eq!(send(&server, "pay_order", r#"{"order_id":"o-9"}"#).map_err(|e| e.0), Err("not_found".into()));
    send(&server, "pay_order", r#"{"order_id":"o-1"}"#).expect("paid");
    send(&server, "ship_order", r#"{"order_id":"o-1"}"#).expect("shipped");

    // A precondition naming a column the view lacks is refused when the server starts.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .arg("--views")
        .arg(crate::support::views_file())
        .args(["--command", "orders:pay_order ON orders(order_id) WHEN colour = 'red'"])
        .output()
        .expect("run lucarne serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the view has no column \"colour\""), "{stderr}");
}

#[test]
fn commands_defined_at_runtime_are_recorded_checked_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--allow-define"]);
    let define = |server: &Server, spec: &str| lucarne(server, &["command", "define", spec]);
    let out = define(&server, "orders:pay_order ON orders(order_id) WHEN status = 'place_order'");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "command pay_order defined");
    send(&server, "place_order", r#"{"order_id":"o-1","customer":"Ada","total":5}"#).expect("placed");
    assert_eq!(send(&server, "pay_order", r#"{"order_id":"o-9"}"#).map_err(|e| e.0), Err("not_found".into()));
    send(&server, "pay_order", r#"{"order_id":"o-1"}"#).expect("paid");
    assert_eq!(send(&server, "pay_order", r#"{"order_id":"o-1"}"#).map_err(|e| e.0), Err("rejected".into()));

    // Refused definitions say where.
    let out = define(&server, "orders:ship_order ON orders(order_id) WHEN colour = 'red'");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid_sql")
            && stderr.contains("no column \"colour\"")
            && stderr.contains("line 1, column 44"),
        "{stderr}"
    );
    let out = define(&server, "orders:ship_order ON nope(order_id)");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no view named \"nope\""), "{out:?}");

    // Recorded in the log: the rule holds after a restart.
    let server = server.restart();
    assert_eq!(send(&server, "pay_order", r#"{"order_id":"o-1"}"#).map_err(|e| e.0), Err("rejected".into()));
    let out = lucarne(&server, &["command", "drop", "pay_order"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        send(&server, "pay_order", r#"{"order_id":"o-1"}"#).map_err(|e| e.0),
        Err("unknown_command".into())
    );
    let server = server.restart();
    assert_eq!(
        send(&server, "pay_order", r#"{"order_id":"o-1"}"#).map_err(|e| e.0),
        Err("unknown_command".into())
    );

    // With tokens: the define right, and the command's name among the token's commands.
    let dir = tempfile::tempdir().expect("tempdir");
    let guarded = Server::start_with_tokens(dir.path(), &[]);
    let with_token = |token: &str, spec: &str| {
        Command::new(bin())
            .args(["command", "define", spec])
            .env("LUCARNE_SERVER", guarded.url())
            .env("LUCARNE_TOKEN", token)
            .output()
            .expect("run lucarne")
    };
    let spec = "orders:pay_order ON orders(order_id)";
    for token in [
        guarded.token(&["--commands", "*"]),
        guarded.token(&["--define", "--views", "*", "--commands", "ship_*"]),
    ] {
        let out = with_token(&token, spec);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"), "{out:?}");
    }
    let out = with_token(&guarded.token(&["--define", "--views", "*", "--commands", "pay_*"]), spec);
    assert!(out.status.success(), "{out:?}");
}
