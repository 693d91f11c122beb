//! `search`: keystroke → hits and three facet distributions on a search index, next to SQLite
//! FTS5 (bundled) answering the same prefixes with its own facet `GROUP BY`s, in the same run; on
//! a seeded corpus and on the Debian package records `apt-cache dumpavail` prints (offline).
//!
//! The index alone, in this process (no server, no WebSocket): what a search costs the server;
//! then over the wire on the seeded corpus ([`crate::search_live`]).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lucarne_protocol::Columns;
use lucarne_search::{IndexSpec, SearchIndex, SearchQuery};
use serde_json::{Value, json};

/// A corpus: rows by key, which columns are searched and counted, and the words typed.
pub(crate) struct Corpus {
    pub(crate) name: String,
    pub(crate) docs: Vec<(Value, Columns)>,
    searchable: Vec<String>,
    facets: Vec<String>,
    /// Words typed keystroke by keystroke (some with a typo).
    typed: Vec<String>,
}

/// Runs both corpora: `seeded` generated rows, then the package records (when `apt-cache` is
/// there); `typed` words each. Returns the seeded corpus (for the figures over the wire).
pub(crate) fn run(seeded: usize, typed: usize) -> Result<Corpus> {
    println!(
        "# cargo xtask bench search  ({seeded} seeded rows; {typed} words typed keystroke by keystroke per corpus)"
    );
    println!(
        "\n| corpus | engine | rows | raw JSON | index bytes (÷ raw) | anonymous resident memory added (÷ raw): first index, a second | build | keystroke p50 | keystroke p99 | keystrokes with hits |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut corpora = vec![generated(seeded, typed)];
    match packages(typed) {
        Ok(corpus) => corpora.push(corpus),
        Err(e) => println!("| Debian packages | (skipped: {e}) | | | | | | | | |"),
    }
    for corpus in &corpora {
        let raw = raw_json(corpus);
        let (ours, sorted) = lucarne(corpus)?;
        let theirs = fts5(corpus)?;
        let resident = match memory(if corpus.name.starts_with("seeded") { corpus.docs.len() } else { 0 }) {
            Ok((first, second)) => {
                let mb = |bytes: u64| {
                    format!("{:.1} MB ({:.2}×)", bytes as f64 / 1e6, bytes as f64 / raw.max(1) as f64)
                };
                format!("{}, {}", mb(first), mb(second))
            }
            Err(e) => format!("(not measured: {e})"),
        };
        for (engine, figures, resident) in [
            ("lucarne-search (typos, folded)", ours, resident),
            ("SQLite FTS5 (prefix, no typos)", theirs, "— (on disk)".to_owned()),
        ] {
            println!(
                "| {} | {engine} | {} | {:.1} MB | {:.1} MB ({:.2}×) | {resident} | {:.2} s | {} | {} | {:.0} % |",
                corpus.name,
                corpus.docs.len(),
                raw as f64 / 1e6,
                figures.bytes as f64 / 1e6,
                figures.bytes as f64 / raw.max(1) as f64,
                figures.build.as_secs_f64(),
                ms(pct(&figures.keystrokes, 50)),
                ms(pct(&figures.keystrokes, 99)),
                100.0 * figures.found as f64 / figures.keystrokes.len().max(1) as f64,
            );
        }
        let (label, times, found) = sorted;
        println!(
            "| {} | lucarne-search, {label} | | | | | | {} | {} | {:.0} % |",
            corpus.name,
            ms(pct(&times, 50)),
            ms(pct(&times, 99)),
            100.0 * found as f64 / times.len().max(1) as f64,
        );
    }
    Ok(corpora.swap_remove(0))
}

/// What one engine measured on one corpus.
struct Figures {
    bytes: u64,
    build: Duration,
    keystrokes: Vec<Duration>,
    /// Keystrokes whose search found a row.
    found: usize,
}

/// Each prefix of each typed word, as typed.
pub(crate) fn keystrokes(corpus: &Corpus) -> Vec<String> {
    corpus
        .typed
        .iter()
        .flat_map(|word| {
            let chars: Vec<char> = word.chars().collect();
            (1..=chars.len()).map(move |n| chars[..n].iter().collect::<String>())
        })
        .collect()
}

/// True when a value read out of a row is not `other`.
fn differs(value: impl std::borrow::Borrow<Value>, other: &Value) -> bool {
    value.borrow() != other
}

/// The sorted and filtered keystrokes' label, times and keystrokes with hits.
type Sorted = (String, Vec<Duration>, usize);

/// The keystrokes on the index, then again sorted by the first searched column and filtered to
/// the rows whose second facet is not the first row's (every value of those columns read out
/// of the rows held).
fn lucarne(corpus: &Corpus) -> Result<(Figures, Sorted)> {
    let started = Instant::now();
    let spec = IndexSpec { searchable: corpus.searchable.clone(), facets: corpus.facets.clone() };
    let mut index = SearchIndex::new(spec)?;
    for (key, row) in &corpus.docs {
        index.upsert(key.clone(), row.clone())?;
    }
    index.commit()?;
    let build = started.elapsed();
    let (mut times, mut found) = (Vec::new(), 0);
    for text in keystrokes(corpus) {
        let query = SearchQuery { text, facets: corpus.facets.clone(), limit: 20, ..Default::default() };
        let started = Instant::now();
        let result = index.search(&query, &|_| true)?;
        times.push(started.elapsed());
        found += usize::from(result.total > 0);
    }
    let figures = Figures { bytes: index.bytes()?, build, keystrokes: times, found };
    let (column, facet) = (corpus.searchable[0].clone(), corpus.facets[1].clone());
    let left_out = corpus.docs.first().and_then(|(_, row)| row.get(&facet)).cloned().unwrap_or_default();
    let keep = |row: &lucarne_search::RowRef<'_>| row.get(&facet).is_none_or(|v| differs(v, &left_out));
    let sort = vec![lucarne_protocol::SearchSort { column: column.clone(), descending: false }];
    let (mut times, mut found) = (Vec::new(), 0);
    for text in keystrokes(corpus) {
        let query = SearchQuery {
            text,
            facets: corpus.facets.clone(),
            limit: 20,
            sort: sort.clone(),
            ..Default::default()
        };
        let started = Instant::now();
        let result = index.search(&query, &keep)?;
        times.push(started.elapsed());
        found += usize::from(result.total > 0);
    }
    let label = format!("sorted by `{column}`, filtered to `{facet} <> {left_out}`");
    Ok((figures, (label, times, found)))
}

/// The bytes of the corpus's rows as JSON.
pub(crate) fn raw_json(corpus: &Corpus) -> usize {
    corpus.docs.iter().map(|(_, row)| serde_json::to_vec(row).map_or(0, |b| b.len())).sum()
}

/// The anonymous resident memory an index of the corpus adds (`rows` seeded rows; 0: the
/// package records), measured in a fresh process of this benchmark: its `RssAnon` (heaps, not
/// the program's code read from disk) once the corpus is made, again once the index holds it
/// all (rows handed over one by one, as the server reads them from its store, each made as it
/// is put in; committed, and the memory the build freed handed back: [`SearchIndex::build`]),
/// and again once a second index of the same rows is built too.
fn memory(rows: usize) -> Result<(u64, u64)> {
    let out = Command::new(std::env::current_exe()?)
        .args(["search-memory", "--rows", &rows.to_string()])
        .output()
        .context("starting the memory probe")?;
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr).trim());
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: Vec<u64> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
    match kib[..] {
        [before, first, second] => {
            Ok((first.saturating_sub(before) * 1024, second.saturating_sub(first) * 1024))
        }
        _ => anyhow::bail!("the memory probe printed {text:?}"),
    }
}

/// The memory probe's own process (see [`memory`]): prints the anonymous resident KiB before,
/// after one index and after a second.
pub(crate) fn memory_child(rows: usize) -> Result<()> {
    let corpus = if rows > 0 { generated(rows, 0) } else { packages(0)? };
    let build = || -> Result<SearchIndex> {
        let spec = IndexSpec { searchable: corpus.searchable.clone(), facets: corpus.facets.clone() };
        Ok(SearchIndex::build(spec, corpus.docs.iter().cloned())?)
    };
    let resident = || crate::anonymous_kib(std::process::id()).context("RssAnon");
    let before = resident()?;
    let first = build()?;
    let after_first = resident()?;
    let second = build()?;
    let after_second = resident()?;
    println!("{before} {after_first} {after_second}");
    drop((first, second));
    Ok(())
}

fn fts5(corpus: &Corpus) -> Result<Figures> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fts.sqlite");
    let started = Instant::now();
    let mut db = rusqlite::Connection::open(&path)?;
    let columns: Vec<String> = corpus
        .searchable
        .iter()
        .cloned()
        .chain(corpus.facets.iter().map(|f| format!("{f} UNINDEXED")))
        .collect();
    db.execute_batch(&format!("CREATE VIRTUAL TABLE docs USING fts5({})", columns.join(", ")))?;
    {
        let txn = db.transaction()?;
        let all: Vec<&String> = corpus.searchable.iter().chain(&corpus.facets).collect();
        let marks = vec!["?"; all.len()].join(", ");
        let mut insert = txn.prepare(&format!("INSERT INTO docs VALUES ({marks})"))?;
        for (_, row) in &corpus.docs {
            let values: Vec<String> = all
                .iter()
                .map(|c| row.get(c.as_str()).and_then(Value::as_str).unwrap_or("").to_owned())
                .collect();
            insert.execute(rusqlite::params_from_iter(values))?;
        }
        drop(insert);
        txn.commit()?;
    }
    db.execute_batch("INSERT INTO docs(docs) VALUES('optimize')")?;
    let build = started.elapsed();
    let (mut times, mut found) = (Vec::new(), 0);
    let mut hits = db.prepare("SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY rank LIMIT 20")?;
    let mut counts: Vec<rusqlite::Statement<'_>> = corpus
        .facets
        .iter()
        .map(|f| {
            db.prepare(&format!(
                "SELECT {f}, COUNT(*) FROM docs WHERE docs MATCH ?1 GROUP BY {f} ORDER BY 2 DESC"
            ))
        })
        .collect::<Result<_, _>>()?;
    for text in keystrokes(corpus) {
        // Its own words, each a prefix; characters FTS5's query syntax reads are left out.
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| format!("\"{w}\"*"))
            .collect();
        if words.is_empty() {
            continue;
        }
        let query = words.join(" ");
        let started = Instant::now();
        let rows: Vec<i64> = hits.query_map([&query], |r| r.get(0))?.collect::<Result<_, _>>()?;
        for count in &mut counts {
            let _facet: Vec<(String, i64)> =
                count.query_map([&query], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        }
        times.push(started.elapsed());
        found += usize::from(!rows.is_empty());
    }
    drop((hits, counts));
    drop(db);
    let bytes = std::fs::metadata(&path)?.len();
    Ok(Figures { bytes, build, keystrokes: times, found })
}

/// Rows made from words in three scripts, with three facets (seeded: the same every run).
fn generated(n: usize, typed: usize) -> Corpus {
    const FIRST: [&str; 12] = [
        "Ada", "Grace", "Alan", "Nour", "Yusuf", "Leila", "Miriam", "Noa", "Chen", "Zhang", "Björn", "Amélie",
    ];
    const LAST: [&str; 10] =
        ["Lovelace", "Hopper", "Turing", "الهدى", "حسن", "מזרחי", "כהן", "Müller", "García", "Øster"];
    const WORDS: [&str; 16] = [
        "bibliothèque",
        "ecommerce",
        "keyboard",
        "كتاب",
        "مدرسة",
        "ירושלים",
        "שלום",
        "invoice",
        "delivery",
        "warehouse",
        "refund",
        "express",
        "fragile",
        "café",
        "naïve",
        "ordinateur",
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let docs = (0..n)
        .map(|i| {
            let customer = format!("{} {}", FIRST[rng.usize(..FIRST.len())], LAST[rng.usize(..LAST.len())]);
            let note: Vec<&str> = (0..3).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
            let status = ["placed", "paid", "shipped", "cancelled"][rng.usize(..4)];
            let region = ["eu", "us", "mena", "apac"][rng.usize(..4)];
            let kind = ["retail", "wholesale", "return"][rng.usize(..3)];
            let row = json!({
                "customer": customer, "note": note.join(" "), "status": status, "region": region, "kind": kind,
            });
            (json!(format!("o-{i}")), row.as_object().cloned().unwrap_or_default())
        })
        .collect();
    let typed = (0..typed)
        .map(|i| {
            let word = [LAST[i % LAST.len()], WORDS[i % WORDS.len()], FIRST[i % FIRST.len()]][i % 3];
            with_typo(word, i)
        })
        .collect();
    Corpus {
        name: format!("seeded ({n})"),
        docs,
        searchable: vec!["customer".into(), "note".into()],
        facets: vec!["status".into(), "region".into(), "kind".into()],
        typed,
    }
}

/// The package records of `apt-cache dumpavail`: name, description, and three facets.
fn packages(typed: usize) -> Result<Corpus> {
    let out = Command::new("apt-cache").arg("dumpavail").output().context("apt-cache")?;
    anyhow::ensure!(out.status.success(), "apt-cache dumpavail failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seen = std::collections::HashSet::new();
    let mut docs = Vec::new();
    for record in text.split("\n\n") {
        let field = |name: &str| {
            record.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": "))).unwrap_or("")
        };
        let package = field("Package");
        if package.is_empty() || !seen.insert(package.to_owned()) {
            continue;
        }
        let row = json!({
            "package": package,
            "description": field("Description"),
            "section": field("Section"),
            "priority": field("Priority"),
            "architecture": field("Architecture"),
        });
        docs.push((json!(package), row.as_object().cloned().unwrap_or_default()));
    }
    anyhow::ensure!(docs.len() > 1000, "only {} package records", docs.len());
    let step = (docs.len() / typed.max(1)).max(1);
    let typed = docs
        .iter()
        .step_by(step)
        .take(typed)
        .enumerate()
        .map(|(i, (key, _))| with_typo(key.as_str().unwrap_or_default(), i))
        .collect();
    Ok(Corpus {
        name: format!("Debian packages ({})", docs.len()),
        docs,
        searchable: vec!["package".into(), "description".into()],
        facets: vec!["section".into(), "priority".into(), "architecture".into()],
        typed,
    })
}

/// The word as typed: as is, or (one word in three each) two middle letters swapped or one
/// replaced.
fn with_typo(word: &str, i: usize) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let n = chars.len();
    match i % 3 {
        1 if n >= 5 => chars.swap(n / 2 - 1, n / 2),
        2 if n >= 5 => chars[n / 2] = 'x',
        _ => {}
    }
    chars.into_iter().collect()
}

/// The `percent`th percentile (nearest rank below).
pub(crate) fn pct(samples: &[Duration], percent: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len().saturating_sub(1) * percent / 100).copied().unwrap_or_default()
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
