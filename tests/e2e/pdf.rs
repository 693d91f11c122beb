//! `lucarne pdf`: a screen of the reference app exported against a running server, read back
//! with `pdftotext`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{Server, bin};

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

/// Exports the orders screen and checks that the PDF holds exactly the orders `lucarne watch`
/// sees (each once); the demo's rate is low enough that nothing changes in between.
fn check_orders(server: &str, dir: &Path, filter: Option<&str>) {
    let out_file = dir.join("orders.pdf");
    let mut args = vec!["pdf", "--screen", "orders", "--out", out_file.to_str().expect("utf-8 path")];
    if let Some(filter) = filter {
        args.extend(["--filter", filter]);
    }
    let out = lucarne(server, &args);
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
fn lucarne_pdf_exports_the_orders_and_the_main_screen_of_a_running_server() {
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
    let out = lucarne(&url, &["pdf", "--screen", "main", "--out", main.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(": 1 page,"));
    let text = pdftotext(&main);
    for visible in ["Lucarne order desk", "Sales by region", "Live"] {
        assert!(text.contains(visible), "{visible} in the main screen's PDF");
    }

    // A query the server refuses is an error with the server's code; no file is written.
    let refused = dir.path().join("refused.pdf");
    let out = lucarne(&url, &["pdf", "--out", refused.to_str().expect("utf-8"), "--filter", "nope = 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"), "{out:?}");
    assert!(!refused.exists());
}

#[test]
fn lucarne_pdf_without_a_server_gives_up_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("x.pdf");
    let out = lucarne(
        "ws://127.0.0.1:9/ws",
        &["pdf", "--out", out_file.to_str().expect("utf-8"), "--timeout", "1"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not load within 1s"), "{err}");
    assert!(!out_file.exists());
}
