//! The layering ARCHITECTURE.md states, checked on `cargo metadata`: each crate's dependencies
//! (direct, or all it links, dev- and build-dependencies aside) against what its row allows, and
//! one row per workspace crate. `cargo xtask test` fails on any breach.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// What a crate may depend on.
struct Rule {
    krate: &'static str,
    /// Its direct dependencies are all among these (`None`: any).
    only: Option<&'static [&'static str]>,
    /// Nothing it links (directly or not) is named so, or starts so when the name ends in `*`.
    never: &'static [&'static str],
    /// Why, as ARCHITECTURE.md says it.
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        krate: "lucarne",
        only: Some(&[
            "lucarne-protocol",
            "lucarne-runtime",
            "lucarne-widgets",
            "lucarne-fonts",
            "lucarne-pdf",
            "iced",
        ]),
        never: &["lucarne-server"],
        why: "the facade: re-exports, and only the glue between the runtime and the widgets",
    },
    Rule {
        krate: "lucarne-protocol",
        only: Some(&["serde", "serde_json", "thiserror"]),
        never: &["tokio", "iced*", "hyper", "redb", "tokio-tungstenite", "async-nats"],
        why: "wire types only: serde, no I/O, no tokio, no iced",
    },
    Rule {
        krate: "lucarne-server",
        only: None,
        never: &["iced*", "lucarne-runtime", "lucarne-app", "lucarne-widgets", "lucarne-pdf"],
        why: "the server never depends on iced or the runtime",
    },
    Rule {
        krate: "lucarne-runtime",
        only: None,
        never: &[
            "lucarne-server",
            "redb",
            "hyper",
            "async-nats",
            "iced",
            "iced_widget",
            "iced_wgpu",
            "iced_winit",
        ],
        why: "the runtime never depends on the server; of iced only iced_futures (and its iced_core)",
    },
    Rule {
        krate: "lucarne-widgets",
        only: Some(&["iced_core", "iced_widget", "iced_graphics", "unicode-bidi", "unicode-segmentation"]),
        never: &["lucarne-runtime", "lucarne-server", "tokio-tungstenite", "hyper"],
        why: "widgets: no networking, never the runtime",
    },
    Rule {
        krate: "lucarne-pdf",
        only: None,
        never: &["lucarne-runtime", "lucarne-server", "tokio-tungstenite", "hyper", "async-nats"],
        why: "PDF: no networking, never the runtime or the server",
    },
    Rule { krate: "lucarne-fonts", only: Some(&[]), never: &[], why: "fonts: bytes only, no dependencies" },
    Rule {
        krate: "lucarne-search",
        only: Some(&[
            "lucarne-protocol",
            "foldhash",
            "hashbrown",
            "libc",
            "serde",
            "serde_json",
            "thiserror",
            "tantivy",
            "unicode-normalization",
            "unicode-segmentation",
        ]),
        never: &["tokio", "iced*", "redb", "hyper", "lucarne-server", "lucarne-runtime", "zstd-sys"],
        why: "search: the index in memory, no I/O of its own, never the server; tantivy without C",
    },
    Rule {
        krate: "lucarne-push",
        only: None,
        never: &[
            "lucarne-server",
            "lucarne-runtime",
            "redb",
            "iced*",
            "aws-lc-rs",
            "aws-lc-sys",
            "openssl-sys",
            "curl-sys",
        ],
        why: "push: the providers' client code, pure Rust (rustls on ring, RustCrypto); never the server or a store",
    },
    Rule {
        krate: "lucarne-cli",
        only: None,
        never: &["lucarne-app", "winit", "iced_winit"],
        why: "the operator's CLI: never the reference app or a window (the app exports its own screens)",
    },
    Rule {
        krate: "lucarne-tui",
        only: Some(&[
            "lucarne-protocol",
            "lucarne-runtime",
            "ratatui",
            "crossterm",
            "futures-util",
            "serde",
            "serde_json",
            "thiserror",
            "tokio",
            "tracing",
            "unicode-bidi",
            "unicode-segmentation",
            "unicode-width",
        ]),
        // `cargo metadata` unifies features over the workspace: the runtime's `iced` glue
        // (iced_futures, iced_core) shows here when the app turns it on beside it.
        never: &[
            "iced",
            "iced_widget",
            "iced_graphics",
            "iced_wgpu",
            "iced_tiny_skia",
            "iced_winit",
            "lucarne-server",
            "lucarne-app",
            "lucarne-widgets",
            "redb",
            "hyper",
        ],
        why: "the terminal client: the runtime and ratatui, never iced's widgets or renderers, the app or the server",
    },
    Rule {
        krate: "lucarne-app",
        only: None,
        never: &["lucarne-server"],
        why: "the reference app uses only the public API",
    },
    Rule {
        krate: "lucarne-demo",
        only: Some(&["lucarne-server", "lucarne-protocol", "fastrand", "serde_json", "tokio", "tracing"]),
        never: &["iced*", "lucarne-runtime"],
        why: "the demo: the server's public API only, as any server-side app",
    },
    Rule {
        krate: "example-todo",
        only: Some(&["lucarne", "serde", "serde_json"]),
        never: &["lucarne-server"],
        why: "an example: Lucarne through one dependency, the facade",
    },
    Rule {
        krate: "example-chat",
        only: Some(&["lucarne", "serde", "serde_json"]),
        never: &["lucarne-server"],
        why: "an example: Lucarne through one dependency, the facade",
    },
    Rule {
        krate: "example-dashboard",
        only: Some(&["lucarne", "serde", "serde_json"]),
        never: &["lucarne-server"],
        why: "an example: Lucarne through one dependency, the facade",
    },
    Rule {
        krate: "lucarne-testing",
        // With the feature `ui`: the pinned iced, its test simulator, the bundled fonts and a
        // PNG reader for snapshots; with `push`: a Web Push service stand-in (axum, P-256) and an
        // APNs one (HTTP/2 over TLS with a test CA: hyper, rustls on ring, rcgen).
        only: Some(&[
            "tempfile",
            "iced",
            "iced_test",
            "lucarne-fonts",
            "png",
            "axum",
            "tokio",
            "lucarne-protocol",
            "lucarne-push",
            "p256",
            "base64",
            "serde_json",
            "rcgen",
            "rustls",
            "tokio-rustls",
            "hyper",
            "hyper-util",
            "http-body-util",
            "ring",
            "portable-pty",
            "vt100",
        ]),
        never: &[],
        why: "test harnesses: a dev-dependency only",
    },
];

/// Crates nothing may depend on (the testing kit: only as a dev-dependency, or from the
/// benchmarks).
const LEAVES: &[(&str, &[&str])] = &[
    ("lucarne-bench", &[]),
    ("xtask", &[]),
    ("lucarne-testing", &["lucarne-bench"]),
    ("lucarne-web", &[]),
    ("example-todo", &[]),
    ("example-chat", &[]),
    ("example-dashboard", &[]),
];

/// The app reaches the runtime, the widgets, the fonts, PDF and iced only through the facade (one
/// dependency).
const NOT_DIRECT: &[(&str, &str)] = &[
    ("lucarne-app", "lucarne-runtime"),
    ("lucarne-app", "lucarne-protocol"),
    ("lucarne-app", "lucarne-widgets"),
    ("lucarne-app", "lucarne-fonts"),
    ("lucarne-app", "lucarne-pdf"),
    ("lucarne-app", "iced"),
];

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Checks every rule; returns the number of crates checked.
pub(crate) fn check(architecture: &str) -> Result<usize> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let metadata: Value = serde_json::from_slice(&out.stdout).context("cargo metadata's output")?;
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| names.get(id.as_str()?).copied())
        .collect();
    // Normal dependencies (not dev, not build) of every package, by name.
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(name) = node["id"].as_str().and_then(|id| names.get(id)) else { continue };
        let normal = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null()));
        let entry = deps.entry(name).or_default();
        entry.extend(normal.filter_map(|d| d["pkg"].as_str().and_then(|id| names.get(id)).copied()));
    }
    let deps: BTreeMap<String, BTreeSet<String>> =
        deps.into_iter().map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect())).collect();
    let members: BTreeSet<String> = members.into_iter().map(str::to_owned).collect();
    let breaches = breaches(&members, &deps, architecture);
    if !breaches.is_empty() {
        bail!("the layering in ARCHITECTURE.md is broken:\n  - {}", breaches.join("\n  - "));
    }
    Ok(members.len())
}

/// Every breach of the rules by a dependency graph (normal dependencies by crate name).
fn breaches(
    members: &BTreeSet<String>,
    deps: &BTreeMap<String, BTreeSet<String>>,
    architecture: &str,
) -> Vec<String> {
    let closure = |root: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = deps.get(root).into_iter().flatten().map(String::as_str).collect();
        while let Some(next) = todo.pop() {
            if seen.insert(next) {
                todo.extend(deps.get(next).into_iter().flatten().map(String::as_str));
            }
        }
        seen
    };

    let mut breaches = Vec::new();
    for rule in RULES {
        if !members.contains(rule.krate) {
            breaches.push(format!("{}: no such workspace crate (update xtask/src/layers.rs)", rule.krate));
            continue;
        }
        let direct = deps.get(rule.krate).cloned().unwrap_or_default();
        if let Some(only) = rule.only {
            for d in direct.iter().filter(|d| !only.contains(&d.as_str())) {
                breaches.push(format!("{} depends on {d}: {}", rule.krate, rule.why));
            }
        }
        for linked in closure(rule.krate) {
            if let Some(pattern) = rule.never.iter().find(|p| matches(p, linked)) {
                breaches.push(format!("{} links {linked} (never {pattern}): {}", rule.krate, rule.why));
            }
        }
    }
    for (leaf, allowed) in LEAVES {
        for member in members {
            if deps.get(member).is_some_and(|d| d.contains(*leaf)) && !allowed.contains(&member.as_str()) {
                breaches.push(format!("{member} depends on {leaf}, which nothing may depend on"));
            }
        }
    }
    for (krate, dep) in NOT_DIRECT {
        if deps.get(*krate).is_some_and(|d| d.contains(*dep)) {
            breaches.push(format!("{krate} depends on {dep} directly: only through the lucarne facade"));
        }
    }
    // Every crate has its row in ARCHITECTURE.md's table.
    for member in members {
        let row = format!("| `{member}` |");
        if !architecture.contains(&row) {
            breaches.push(format!("{member} has no row in ARCHITECTURE.md's table (`{row}`)"));
        }
    }
    breaches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges.iter().map(|(k, v)| (k.to_string(), v.iter().map(|d| d.to_string()).collect())).collect()
    }

    /// The workspace as it should be, then one breach at a time.
    fn check(extra: &[(&str, &[&str])]) -> Vec<String> {
        let mut edges: Vec<(&str, &[&str])> = vec![
            ("lucarne-protocol", &["serde", "serde_json", "thiserror"]),
            ("lucarne-server", &["lucarne-protocol", "tokio", "redb"]),
            ("lucarne-runtime", &["lucarne-protocol", "iced_futures", "tokio"]),
            ("iced_futures", &["iced_core"]),
            ("lucarne-widgets", &["iced_core", "iced_widget"]),
            ("iced_widget", &["iced_core"]),
            ("lucarne-pdf", &["lucarne-fonts", "iced_core"]),
            ("lucarne-fonts", &[]),
            ("lucarne", &["lucarne-protocol", "lucarne-runtime", "lucarne-widgets", "lucarne-pdf"]),
            ("lucarne-app", &["lucarne"]),
            ("lucarne-testing", &["tempfile"]),
            ("lucarne-bench", &["lucarne-server", "lucarne-testing"]),
        ];
        for (k, v) in extra {
            edges.retain(|(name, _)| name != k);
            edges.push((k, v));
        }
        let deps = graph(&edges);
        let members: BTreeSet<String> =
            RULES.iter().map(|r| r.krate.to_string()).chain(["lucarne-bench".into()]).collect();
        let architecture: String = members.iter().map(|m| format!("| `{m}` |\n")).collect();
        breaches(&members, &deps, &architecture)
    }

    #[test]
    fn the_layering_holds_and_each_breach_is_named() {
        assert_eq!(check(&[]), Vec::<String>::new());
        let protocol_io = check(&[("lucarne-protocol", &["serde", "tokio"])]);
        assert!(
            protocol_io.iter().any(|b| b.contains("lucarne-protocol depends on tokio")),
            "{protocol_io:?}"
        );
        let server_iced = check(&[("redb", &["iced_core"])]);
        assert!(server_iced.iter().any(|b| b.contains("lucarne-server links iced_core")), "{server_iced:?}");
        let runtime_server = check(&[("lucarne-runtime", &["lucarne-server"])]);
        assert!(runtime_server.iter().any(|b| b.contains("lucarne-runtime links lucarne-server")));
        let app_runtime = check(&[("lucarne-app", &["lucarne", "lucarne-runtime"])]);
        assert!(app_runtime.iter().any(|b| b.contains("only through the lucarne facade")));
        let app_widgets = check(&[("lucarne-app", &["lucarne", "lucarne-widgets"])]);
        assert!(app_widgets.iter().any(|b| b.contains("lucarne-app depends on lucarne-widgets directly")));
        let on_bench = check(&[("lucarne-app", &["lucarne", "lucarne-bench"])]);
        assert!(on_bench.iter().any(|b| b.contains("lucarne-app depends on lucarne-bench")));
        let fonts = check(&[("lucarne-fonts", &["flate2"])]);
        assert!(fonts.iter().any(|b| b.contains("lucarne-fonts depends on flate2")));
    }
}
