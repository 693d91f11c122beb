//! The guide (`docs/guide.md`) says only what works: its SQL is the example's and the server
//! parses it, its manifest lines are the example's, its `cargo xtask` tasks exist, and its
//! `lucarne` command lines run, in order, against the server its own `lucarne serve` line starts.
//! (Its Rust blocks are doc tests of the `lucarne` crate.)

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Server, bin};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The contents of the guide's fenced blocks of `lang`, in order.
fn blocks(lang: &str) -> Vec<String> {
    let guide = std::fs::read_to_string(root().join("docs/guide.md")).expect("docs/guide.md");
    let mut blocks = Vec::new();
    let mut open: Option<String> = None;
    for line in guide.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) if info.split(',').next() == Some(lang) => open = Some(String::new()),
            (Some(_), Some("")) => blocks.extend(open.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    assert!(open.is_none(), "an unclosed ```{lang} block");
    blocks
}

/// The command lines of `sh` blocks (continuations joined), split into words as a shell would
/// (single and double quotes).
fn commands() -> Vec<Vec<String>> {
    let joined: Vec<String> = blocks("sh").iter().map(|b| b.replace("\\\n", " ")).collect();
    joined.iter().flat_map(|b| b.lines().map(words).collect::<Vec<_>>()).filter(|w| !w.is_empty()).collect()
}

fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// Text with `--` comments dropped and whitespace collapsed.
fn normal(sql: &str) -> String {
    let lines = sql.lines().map(|l| l.split("--").next().unwrap_or_default());
    lines.collect::<Vec<_>>().join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_guides_sql_is_the_examples_and_the_server_takes_it() {
    let sql = blocks("sql");
    assert!(!sql.is_empty());
    let views = std::fs::read_to_string(root().join("examples/todo/views.sql")).expect("views.sql");
    for block in sql {
        assert_eq!(normal(&block), normal(&views), "the guide's view is examples/todo/views.sql");
        lucarne_server::sql::parse_views(&block).expect("the server parses the guide's SQL");
    }
}

#[test]
fn the_guides_manifest_lines_are_the_examples() {
    let manifest = std::fs::read_to_string(root().join("examples/todo/Cargo.toml")).expect("Cargo.toml");
    let lines: Vec<String> =
        blocks("toml").iter().flat_map(|b| b.lines().map(str::to_owned).collect::<Vec<_>>()).collect();
    assert!(lines.iter().any(|l| l.starts_with("lucarne =")));
    for line in lines.iter().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        // The example is in the repository: a path where an app names a version.
        let local = line.replace(r#"version = "0.1""#, r#"path = "../..""#);
        assert!(manifest.lines().any(|m| m == local), "{line:?} is not in examples/todo/Cargo.toml");
    }
}

#[test]
fn the_guides_command_lines_run() {
    let commands = commands();
    // `cargo xtask` tasks the guide names exist.
    let tasks = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "xtask", "--", "--help"])
        .current_dir(root())
        .output();
    let tasks = String::from_utf8_lossy(&tasks.expect("cargo xtask --help").stdout).into_owned();
    for command in commands.iter().filter(|c| c[0] == "cargo") {
        assert_eq!(command[1], "xtask", "{command:?}");
        assert!(
            tasks.lines().any(|l| l.trim_start().starts_with(&format!("{} ", command[2]))),
            "no task {command:?}"
        );
    }
    // `lucarne serve` as the guide says, its data in a fresh directory, on a free port.
    let lucarne: Vec<&Vec<String>> = commands.iter().filter(|c| c[0] == "lucarne").collect();
    let serve = lucarne.iter().find(|c| c[1] == "serve").expect("a lucarne serve line");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("todo-data");
    let mut args: Vec<String> = Vec::new();
    let mut rest = serve[2..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--data" => {
                rest.next();
            }
            path if path.starts_with("examples/") => args.push(root().join(path).display().to_string()),
            _ => args.push(arg.clone()),
        }
    }
    let server = Server::spawn(data.clone(), "127.0.0.1:0".parse().expect("addr"), args);
    let mut outputs = Vec::new();
    for command in lucarne.iter().filter(|c| c[1] != "serve") {
        let args: Vec<String> = command[1..]
            .iter()
            .map(|a| if a == "todo-data" { data.display().to_string() } else { a.clone() })
            .collect();
        let out = Command::new(bin())
            .args(&args)
            .env("LUCARNE_SERVER", server.url())
            .output()
            .expect("run lucarne");
        assert!(out.status.success(), "{command:?}: {out:?}");
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    // What the guide says they do: the todo added and ticked, a token printed.
    assert!(
        outputs.iter().any(|o| o.contains(r#""title":"Call Ada""#) && o.contains(r#""done":true"#)),
        "{outputs:?}"
    );
    assert!(outputs.iter().any(|o| o.trim().split('.').count() == 3), "a token: {outputs:?}");
    // "A second `complete_todo` is refused: …"
    let again = Command::new(bin())
        .args(["send", "complete_todo", r#"{"id": "t-1"}"#])
        .env("LUCARNE_SERVER", server.url())
        .output()
        .expect("run lucarne");
    let said =
        format!("{}{}", String::from_utf8_lossy(&again.stdout), String::from_utf8_lossy(&again.stderr));
    assert!(
        said.contains(r#"complete_todo needs done = false on todos \"t-1\""#)
            || said.contains(r#"complete_todo needs done = false on todos "t-1""#),
        "{said}"
    );
}
