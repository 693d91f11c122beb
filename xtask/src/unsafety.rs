//! The workspace denies `unsafe_code`; this checks that the one file allowed to lift that
//! (`search/src/release.rs`, glibc's `malloc_trim`) is the only one that does.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The files that may allow `unsafe_code`, from the workspace's root, and why.
const ALLOWED: &[(&str, &str)] = &[("search/src/release.rs", "glibc's malloc_trim, after an index build")];

/// Folders never scanned: build outputs and other people's code.
const SKIPPED: &[&str] = &["target", ".git", "node_modules", "shared"];

/// True when `text` lifts the `unsafe_code` lint (`allow` or `expect`, on an item or a file).
fn lifts_the_lint(text: &str) -> bool {
    text.lines().map(str::trim_start).filter(|l| l.starts_with("#[") || l.starts_with("#![")).any(|l| {
        let inner = l.trim_start_matches("#!").trim_start_matches('#').trim_start_matches('[');
        (inner.starts_with("allow(") || inner.starts_with("expect(")) && inner.contains("unsafe_code")
    })
}

/// Checks every `.rs` file under `root`; returns how many were read.
pub(crate) fn check(root: &Path) -> Result<usize> {
    let (mut read, mut breaches) = (0, Vec::new());
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                if !SKIPPED.contains(&name) {
                    todo.push(path);
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
            if lifts_the_lint(&text) && !ALLOWED.iter().any(|(file, _)| *file == relative) {
                breaches.push(relative);
            }
        }
    }
    if !breaches.is_empty() {
        bail!(
            "unsafe_code is allowed where ARCHITECTURE.md does not allow it (only {}): {}",
            ALLOWED.iter().map(|(f, why)| format!("{f}, {why}")).collect::<Vec<_>>().join("; "),
            breaches.join(", ")
        );
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, lifts: bool) {
        assert_eq!(lifts_the_lint(text), lifts, "{text:?}");
    }

    #[test]
    fn an_allow_or_expect_of_unsafe_code_is_found_and_a_mention_is_not() {
        check("#[allow(unsafe_code, reason = \"ffi\")]\nfn f() {}", true);
        check("    #[expect(unsafe_code)]", true);
        check("#![allow(unsafe_code)]", true);
        check("#[allow(clippy::unwrap_used, unsafe_code)]", true);
        check("#[allow(clippy::unwrap_used)]\n// unsafe_code is denied", false);
        check("unsafe_code = \"deny\"", false);
    }
}
