//! The workspace denies `unsafe_code`; this checks that the one file allowed to lift that
//! (`search/src/release.rs`, glibc's `malloc_trim`) is the only one that does, and that no crate
//! outside the workspace's lints (the fuzz targets) writes `unsafe` at all.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The files that may name the `unsafe_code` lint, from the workspace's root, and why.
const ALLOWED: &[(&str, &str)] = &[
    ("search/src/release.rs", "glibc's malloc_trim, after an index build"),
    ("xtask/src/unsafety.rs", "this check"),
];

/// Folders never scanned: build outputs and other people's code.
const SKIPPED: &[&str] = &["target", ".git", "node_modules", "shared"];

/// Why a file breaks the rule, if it does. A file under the workspace's lints (`lints`) may
/// not name `unsafe_code` at all: an `allow`, `expect`, `warn` or `cfg_attr` of it, on one line
/// or several, all name it. One outside them may not write the word `unsafe`.
fn breach(text: &str, lints: bool) -> Option<&'static str> {
    if lints {
        text.contains("unsafe_code").then_some("names the unsafe_code lint")
    } else {
        let word = |(at, _): &(usize, &str)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + "unsafe".len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        };
        text.match_indices("unsafe")
            .any(|m| word(&m))
            .then_some("writes unsafe outside the workspace's lints")
    }
}

/// True when the manifest takes the workspace's lints.
fn takes_the_lints(manifest: &str) -> bool {
    let mut lines = manifest.lines().map(str::trim).skip_while(|l| *l != "[lints]").skip(1);
    lines.any(|l| l.replace(' ', "") == "workspace=true")
}

/// Checks every `.rs` file under `root`; returns how many were read.
pub(crate) fn check(root: &Path) -> Result<usize> {
    let (mut read, mut breaches) = (0, Vec::new());
    // Each folder with whether the nearest manifest above it takes the workspace's lints.
    let mut todo = vec![(root.to_path_buf(), true)];
    while let Some((dir, inherited)) = todo.pop() {
        let lints = match std::fs::read_to_string(dir.join("Cargo.toml")) {
            Ok(manifest) if manifest.contains("[package]") => takes_the_lints(&manifest),
            _ => inherited,
        };
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                if !SKIPPED.contains(&name) {
                    todo.push((path, lints));
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            read += 1;
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            if let Some(why) = breach(&text, lints)
                && !ALLOWED.iter().any(|(file, _)| *file == relative)
            {
                breaches.push(format!("{relative} {why}"));
            }
        }
    }
    if !breaches.is_empty() {
        bail!(
            "unsafe code where xtask/src/unsafety.rs (and ARCHITECTURE.md) does not allow it (only {}): {}",
            ALLOWED.iter().map(|(f, why)| format!("{f}, {why}")).collect::<Vec<_>>().join("; "),
            breaches.join(", ")
        );
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, lints: bool, breaks: bool) {
        assert_eq!(breach(text, lints).is_some(), breaks, "{text:?} (lints: {lints})");
    }

    #[test]
    fn the_lint_named_anywhere_or_unsafe_written_outside_the_lints_is_found() {
        check("#[allow(unsafe_code, reason = \"ffi\")]\nfn f() {}", true, true);
        check("#[allow(\n    clippy::unwrap_used,\n    unsafe_code,\n)]", true, true);
        check("#[cfg_attr(unix, expect(unsafe_code))]", true, true);
        check("#![warn(unsafe_code)]", true, true);
        check("fn f() { unsafe { g() } } // denied by the lints, so clippy fails", true, false);
        check("fn f() { unsafe { g() } }", false, true);
        check("unsafe fn f() {}", false, true);
        check("let unsafe_ish = 1; // not_unsafe", false, false);
        assert!(takes_the_lints("[package]\nname = \"a\"\n\n[lints]\nworkspace = true\n"));
        assert!(!takes_the_lints("[package]\nname = \"a\"\n[workspace]\n"));
    }
}
