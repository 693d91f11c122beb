//! The version a program shows (`--version`, an about line): its package's version and the commit
//! it was built from, where the build recorded one in `LUCARNE_COMMIT` (`cargo xtask bundle` does).
//!
//! ```
//! let shown: &'static str = lucarne_runtime::build_version!();
//! assert!(shown.starts_with(env!("CARGO_PKG_VERSION")));
//! ```

/// `VERSION (commit COMMIT)`, or `VERSION (development build)` without a commit.
pub fn describe_version(version: &str, commit: Option<&str>) -> String {
    match commit.filter(|c| !c.is_empty()) {
        Some(commit) => format!("{version} (commit {commit})"),
        None => format!("{version} (development build)"),
    }
}

/// The calling crate's version and build commit as one `&'static str` ([`describe_version`] of
/// its `CARGO_PKG_VERSION` and `LUCARNE_COMMIT` at build time): what clap's `version` takes.
#[macro_export]
macro_rules! build_version {
    () => {{
        static VERSION: ::std::sync::LazyLock<::std::string::String> = ::std::sync::LazyLock::new(|| {
            $crate::describe_version(::core::env!("CARGO_PKG_VERSION"), ::core::option_env!("LUCARNE_COMMIT"))
        });
        VERSION.as_str()
    }};
}

#[cfg(test)]
mod tests {
    use super::describe_version;

    #[test]
    fn a_version_names_its_commit_when_it_has_one() {
        assert_eq!(describe_version("0.1.0", Some("0123456789ab")), "0.1.0 (commit 0123456789ab)");
        assert_eq!(describe_version("0.1.0", Some("")), "0.1.0 (development build)");
        assert_eq!(describe_version("0.1.0", None), "0.1.0 (development build)");
    }
}
