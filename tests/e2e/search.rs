//! Search from the command line against a real server: an index defined over a view, searched
//! with typos and facets, following the view as commands change it, a filter, a selection, and a
//! token's row filter narrowing the hits and the counts.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Server, bin};

const INDEX: &str = "CREATE SEARCH INDEX orders_search ON orders (customer, order_id) FACETS (status)";

fn lucarne(server: &Server, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(bin());
    command.args(args).env("LUCARNE_SERVER", server.url()).env("NO_COLOR", "1");
    match token {
        Some(token) => command.env("LUCARNE_TOKEN", token),
        None => command.env_remove("LUCARNE_TOKEN"),
    };
    command.output().expect("run lucarne")
}

fn search(server: &Server, token: Option<&str>, args: &[&str]) -> Value {
    let mut all = vec!["search", "orders_search"];
    all.extend(args);
    all.extend(["--facet", "status", "--json"]);
    let out = lucarne(server, token, &all);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// The keys found, in order, and the status counts as `value=count`.
fn seen(found: &Value) -> (Vec<String>, Vec<String>) {
    let keys =
        found["hits"].as_array().into_iter().flatten().map(|h| h["key"].as_str().unwrap_or("?").to_owned());
    let counts = found["facets"]["status"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}={}", c["value"].as_str().unwrap_or("?"), c["count"]));
    (keys.collect(), counts.collect())
}

/// Searches until the keys and counts are the ones expected (the index follows the view as its
/// changes arrive).
fn check(server: &Server, token: Option<&str>, args: &[&str], keys: &[&str], counts: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let found = search(server, token, args);
        if seen(&found)
            == (keys.iter().map(|k| k.to_string()).collect(), counts.iter().map(|c| c.to_string()).collect())
        {
            return found;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "search {args:?}: {:?}", seen(&found));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_search_index_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with_tokens(dir.path(), &[]);
    let admin = server.token(&["--views", "*", "--commands", "*", "--define"]);
    let send = |order: &str| {
        let out = lucarne(&server, Some(&admin), &["send", "place_order", order]);
        assert!(out.status.success(), "{out:?}");
    };
    send(r#"{"order_id":"o-1","customer":"Ada Lovelace","total":40}"#);
    send(r#"{"order_id":"o-2","customer":"نُور الهدى","total":12}"#);
    send(r#"{"order_id":"o-3","customer":"Grace Hopper","total":7}"#);

    // A definition is checked against the view, with the position of what is wrong.
    let out = lucarne(
        &server,
        Some(&admin),
        &["search-index", "define", "CREATE SEARCH INDEX s ON orders (customer) FACETS (colour)"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("invalid_sql")
            && err.contains("\"colour\"")
            && err.contains("column 52"),
        "{err}"
    );
    let out = lucarne(&server, Some(&admin), &["search-index", "define", INDEX]);
    assert!(out.status.success(), "{out:?}");

    // A typo, the last word as typed, folded Arabic; the highlight is the word's bytes.
    let found = check(&server, Some(&admin), &["lovelcae"], &["o-1"], &["place_order=1"]);
    assert_eq!(found["hits"][0]["typos"], 1);
    assert_eq!(found["hits"][0]["highlights"]["customer"], serde_json::json!([[4, 12]]));
    check(&server, Some(&admin), &["gra"], &["o-3"], &["place_order=1"]);
    check(&server, Some(&admin), &["نور"], &["o-2"], &["place_order=1"]);
    // The view changes: the index follows.
    let out = lucarne(&server, Some(&admin), &["send", "pay_order", r#"{"order_id":"o-1"}"#]);
    assert!(out.status.success(), "{out:?}");
    check(&server, Some(&admin), &[""], &["o-1", "o-2", "o-3"], &["place_order=2", "pay_order=1"]);
    // A filter and a selection (the selected facet keeps its other values' counts).
    check(
        &server,
        Some(&admin),
        &["", "--where", "total > 10"],
        &["o-1", "o-2"],
        &["pay_order=1", "place_order=1"],
    );
    check(
        &server,
        Some(&admin),
        &["", "--select", "status=pay_order"],
        &["o-1"],
        &["place_order=2", "pay_order=1"],
    );
    let out = lucarne(&server, Some(&admin), &["search", "orders_search", "x", "--where", "nope > 1"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unknown column"),
        "{out:?}"
    );

    // A token that sees only Ada's orders finds and counts only them.
    let ada = server.token(&["--views", "orders", "--rows", "orders=customer = 'Ada Lovelace'"]);
    check(&server, Some(&ada), &[""], &["o-1"], &["pay_order=1"]);
    check(&server, Some(&ada), &["grace"], &[], &[]);

    let out = lucarne(&server, Some(&admin), &["search-index", "drop", "orders_search"]);
    assert!(out.status.success(), "{out:?}");
    let out = lucarne(&server, Some(&admin), &["search", "orders_search", "ada"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unknown_search"),
        "{out:?}"
    );
}

#[test]
fn a_views_file_defines_its_search_indexes_once_and_refuses_a_bad_one_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let views = std::fs::read_to_string(crate::support::views_file()).expect("views");
    let file = dir.path().join("views.sql");
    std::fs::write(&file, format!("{views}\n{INDEX};\n")).expect("write");
    let data = dir.path().join("data");
    let args = |file: &std::path::Path| {
        vec![
            "--views".to_owned(),
            file.display().to_string(),
            "--open".into(),
            "--command".into(),
            "orders:place_order,pay_order".into(),
        ]
    };
    let server = Server::spawn(data.clone(), "127.0.0.1:0".parse().expect("addr"), args(&file));
    let out = lucarne(
        &server,
        None,
        &["send", "place_order", r#"{"order_id":"o-1","customer":"Ada Lovelace","total":4}"#],
    );
    assert!(out.status.success(), "{out:?}");
    check(&server, None, &["lovelace"], &["o-1"], &["place_order=1"]);
    // Started again on the same file: the index is the log's already, nothing is appended.
    let server = server.restart();
    check(&server, None, &["ada"], &["o-1"], &["place_order=1"]);
    assert_eq!(server.log().matches("defined the search index orders_search").count(), 0, "{}", server.log());
    drop(server);

    // A facet the view does not have: the server does not start, and says which index and why.
    std::fs::write(
        &file,
        format!("{views}\nCREATE SEARCH INDEX s ON orders (customer)\n  FACETS (colour);\n"),
    )
    .expect("write");
    let out = Command::new(bin())
        .args(["serve", "--data"])
        .arg(dir.path().join("other"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args(&file))
        .output()
        .expect("lucarne serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("search index s") && err.contains("\"colour\""), "{err}");
}
