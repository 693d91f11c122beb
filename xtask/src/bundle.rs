//! `cargo xtask bundle`: the installable packages, built with no network into `target/bundle/`.
//!
//! - `lucarne_VERSION-1_amd64.deb`, `lucarne-desktop_VERSION-1_amd64.deb` (cargo-deb: `Depends`
//!   read from the ELF and versioned, systemd unit, sysusers and tmpfiles for the server);
//! - `lucarne-VERSION-1.x86_64.rpm`, `lucarne-desktop-VERSION-1.x86_64.rpm` (cargo-generate-rpm);
//! - `lucarne-VERSION-x86_64-linux.tar.gz`, `lucarne-desktop-VERSION-x86_64-linux.tar.gz`: a
//!   `usr/`-like tree for other Linux systems (`tar -C /usr/local --strip-components=1 -xzf …`);
//! - `lucarne-web-VERSION.tar.gz`: the browser bundle (`web/dist`) for any web server;
//! - `SHA256SUMS`.
//!
//! The metadata is in `cli/Cargo.toml` and `app/Cargo.toml` (`[package.metadata.deb]`,
//! `[package.metadata.generate-rpm]`), the files in `packaging/`. This step stages what is built:
//! each binary stripped and built with the commit (`LUCARNE_COMMIT`, shown by `--version`), its
//! manual pages (clap_mangen, through the binary itself) and a copyright file naming every crate
//! linked in. Every time in the packages is `SOURCE_DATE_EPOCH` (default: the last commit's), so
//! two runs give the same bytes. The packagers are pinned and installed once with
//! `cargo install --locked` into `~/.cache/lucarne/tools/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cargo, files_under, output, root, run};

/// The packagers, pinned.
const CARGO_DEB: (&str, &str) = ("cargo-deb", "3.8.0");
const CARGO_GENERATE_RPM: (&str, &str) = ("cargo-generate-rpm", "0.21.1");

/// What `bundle` does.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The cargo profile the binaries are built with (`release`; the tests package `dev`).
    pub(crate) profile: String,
    /// Build the binaries first (else they must be built already, with `LUCARNE_COMMIT`).
    pub(crate) build: bool,
    /// Faster, larger compression (the tests' packages).
    pub(crate) fast: bool,
    /// Where the packages go.
    pub(crate) out: PathBuf,
}

/// A binary packaged on its own.
struct Binary {
    /// Its cargo package, and that package's directory (where its metadata is).
    cargo_package: &'static str,
    dir: &'static str,
    /// The binary, and the package's name.
    name: &'static str,
    /// The arguments before `DIR` that make it write its manual pages into `DIR`.
    manual: &'static str,
    /// Files of `packaging/` the tarball carries besides the binary, manual and copyright.
    extra: &'static [(&'static str, &'static str)],
}

const BINARIES: [Binary; 2] = [
    Binary {
        cargo_package: "lucarne-cli",
        dir: "cli",
        name: "lucarne",
        manual: "manual",
        extra: &[
            ("packaging/server/lucarne.service", "lib/systemd/system/lucarne.service"),
            ("packaging/server/lucarne.sysusers", "lib/sysusers.d/lucarne.conf"),
            ("packaging/server/lucarne.tmpfile", "lib/tmpfiles.d/lucarne.conf"),
            ("packaging/server/lucarne.env", "share/lucarne/examples/lucarne.env"),
            ("packaging/server/views.sql", "share/lucarne/examples/views.sql"),
        ],
    },
    Binary {
        cargo_package: "lucarne-app",
        dir: "app",
        name: "lucarne-desktop",
        manual: "--manual",
        extra: &[
            ("packaging/desktop/dev.lucarne.Desk.desktop", "share/applications/dev.lucarne.Desk.desktop"),
            (
                "packaging/desktop/dev.lucarne.Desk.metainfo.xml",
                "share/metainfo/dev.lucarne.Desk.metainfo.xml",
            ),
            (
                "packaging/desktop/icons/dev.lucarne.Desk.svg",
                "share/icons/hicolor/scalable/apps/dev.lucarne.Desk.svg",
            ),
            (
                "packaging/desktop/icons/hicolor/16x16/apps/dev.lucarne.Desk.png",
                "share/icons/hicolor/16x16/apps/dev.lucarne.Desk.png",
            ),
            (
                "packaging/desktop/icons/hicolor/32x32/apps/dev.lucarne.Desk.png",
                "share/icons/hicolor/32x32/apps/dev.lucarne.Desk.png",
            ),
            (
                "packaging/desktop/icons/hicolor/48x48/apps/dev.lucarne.Desk.png",
                "share/icons/hicolor/48x48/apps/dev.lucarne.Desk.png",
            ),
            (
                "packaging/desktop/icons/hicolor/64x64/apps/dev.lucarne.Desk.png",
                "share/icons/hicolor/64x64/apps/dev.lucarne.Desk.png",
            ),
            (
                "packaging/desktop/icons/hicolor/128x128/apps/dev.lucarne.Desk.png",
                "share/icons/hicolor/128x128/apps/dev.lucarne.Desk.png",
            ),
            (
                "packaging/desktop/icons/hicolor/256x256/apps/dev.lucarne.Desk.png",
                "share/icons/hicolor/256x256/apps/dev.lucarne.Desk.png",
            ),
        ],
    },
];

/// Where the xtask stages what the packagers take (the paths in the packages' metadata).
const STAGE: &str = "target/bundle/stage";

/// The commit the packages are built from (12 hex digits).
pub(crate) fn commit() -> Result<String> {
    output("git", &["rev-parse", "--short=12", "HEAD"]).context("cannot read the commit (git rev-parse HEAD)")
}

/// Builds every package into `options.out`; returns the files written, sorted.
pub(crate) fn bundle(options: &Options) -> Result<Vec<PathBuf>> {
    let started = Instant::now();
    let deb = tool(CARGO_DEB)?;
    let rpm = tool(CARGO_GENERATE_RPM)?;
    let commit = commit()?;
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => epoch,
        Err(_) => {
            output("git", &["log", "-1", "--format=%ct"]).context("cannot read the last commit's time")?
        }
    };
    let metadata = metadata()?;
    let version = package_version(&metadata, "lucarne-cli")?;
    for changelog in ["packaging/server/changelog", "packaging/desktop/changelog"] {
        check_changelog(Path::new(changelog), &version)?;
    }
    if options.build {
        let mut build = cargo();
        build.args(["build", "--locked", "--profile", &options.profile]);
        for binary in &BINARIES {
            build.args(["-p", binary.cargo_package, "--bin", binary.name]);
        }
        build.env("LUCARNE_COMMIT", &commit);
        run(build)?;
    }
    let built = root().join("target").join(if options.profile == "dev" { "debug" } else { &options.profile });
    let stage = root().join(STAGE);
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("cannot empty {}", stage.display()))?;
    }
    for binary in &BINARIES {
        stage_binary(binary, &built.join(binary.name), &stage.join(binary.name), &metadata, &commit)?;
    }

    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    for file in files_under(&options.out)? {
        if !file.starts_with(&stage) {
            std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
        }
    }
    for binary in &BINARIES {
        let mut cmd = Command::new(&deb);
        cmd.args(["--no-build", "--quiet", "--profile", &options.profile, "-p", binary.cargo_package, "-o"])
            .arg(&options.out)
            .env("SOURCE_DATE_EPOCH", &epoch);
        if options.fast {
            cmd.arg("--fast");
        }
        run(cmd)?;
        let mut cmd = Command::new(&rpm);
        cmd.args(["generate-rpm", "-p", binary.dir, "--profile", &options.profile, "-o"])
            .arg(&options.out)
            .env("SOURCE_DATE_EPOCH", &epoch);
        if options.fast {
            // cargo-generate-rpm's zstd takes ~40 s for an unoptimised binary.
            cmd.args(["--payload-compress", "gzip"]);
        }
        run(cmd)?;
        tarball(binary, &stage, &options.out, &version, &epoch)?;
    }
    web_archive(&options.out, &version, &epoch)?;

    let mut files: Vec<PathBuf> =
        files_under(&options.out)?.into_iter().filter(|f| !f.starts_with(&stage)).collect();
    files.sort();
    let mut sums = String::new();
    eprintln!("\n{} (commit {commit}, SOURCE_DATE_EPOCH={epoch}):", options.out.display());
    for file in &files {
        let sum = output("sha256sum", &[&file.to_string_lossy()]).context("cannot run sha256sum")?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        eprintln!("  {name:<48} {:>12} bytes", size);
        sums.push_str(&format!("{}  {name}\n", sum.split_whitespace().next().unwrap_or_default()));
    }
    let sums_file = options.out.join("SHA256SUMS");
    std::fs::write(&sums_file, sums).context("cannot write SHA256SUMS")?;
    files.push(sums_file);
    eprintln!("(bundled in {:.0}s)", started.elapsed().as_secs_f64());
    Ok(files)
}

/// A packager at its pinned version, installed when missing.
fn tool((name, version): (&str, &str)) -> Result<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from).context("HOME is not set")?;
    let dir = home.join(format!(".cache/lucarne/tools/{name}-{version}"));
    let bin = dir.join("bin").join(name);
    if !bin.is_file() {
        eprintln!("installing {name} {version} (once; it takes a few minutes)");
        let mut cmd = cargo();
        cmd.args(["install", "--locked", "--version", version, "--root"]).arg(&dir).arg(name);
        run(cmd).with_context(|| format!("cannot install {name} {version} (it needs crates.io once)"))?;
    }
    Ok(bin)
}

/// `cargo metadata` of the workspace, for the host's target.
fn metadata() -> Result<serde_json::Value> {
    let out = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed");
    }
    serde_json::from_slice(&out.stdout).context("cannot read cargo metadata's output")
}

fn package_version(metadata: &serde_json::Value, name: &str) -> Result<String> {
    metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == name))
        .and_then(|p| p["version"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("{name} is not in cargo metadata"))
}

/// A Debian changelog's latest entry must be this version (revision 1).
fn check_changelog(path: &Path, version: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let first = text.lines().next().unwrap_or_default();
    if !first.contains(&format!("({version}-1)")) {
        bail!("{}: the latest entry is not for {version}-1 (add one): {first}", path.display());
    }
    Ok(())
}

/// Stages one binary: stripped, its manual pages (gzip -9n), its copyright file.
fn stage_binary(
    binary: &Binary,
    built: &Path,
    dir: &Path,
    metadata: &serde_json::Value,
    commit: &str,
) -> Result<()> {
    if !built.is_file() {
        bail!("{} is not built (run without --no-build)", built.display());
    }
    let shown = output(&built.to_string_lossy(), &["--version"]).unwrap_or_default();
    if !shown.contains(commit) {
        bail!(
            "{} shows {shown:?}, not the commit {commit}: build it with LUCARNE_COMMIT set",
            built.display()
        );
    }
    let man = dir.join("man");
    std::fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    // What Debian's dh_strip removes: symbols not needed to run, the comment and note sections.
    let mut strip = Command::new("strip");
    strip.args(["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", "-o"]);
    strip.arg(dir.join(binary.name)).arg(built);
    run(strip)?;
    let mut manual = Command::new(built);
    manual.arg(binary.manual).arg(&man);
    run(manual)?;
    for page in files_under(&man)? {
        let mut gz = Command::new("gzip");
        gz.args(["-9", "-n", "-f"]).arg(&page);
        run(gz)?;
    }
    let copyright = copyright(metadata, binary)?;
    std::fs::write(dir.join("copyright"), copyright).context("cannot write the copyright file")
}

/// The Debian (DEP-5) copyright file of one binary: Lucarne's licence, the bundled fonts', and
/// the crates linked into it with theirs.
fn copyright(metadata: &serde_json::Value, binary: &Binary) -> Result<String> {
    let crates = linked_crates(metadata, binary.cargo_package)?;
    let mut listed = String::new();
    for (name, version, license) in &crates {
        listed.push_str(&format!("\n {name} {version}: {license}"));
    }
    let mit = std::fs::read_to_string(root().join("LICENSE-MIT")).context("cannot read LICENSE-MIT")?;
    let ofl = std::fs::read_to_string(root().join("assets/fonts/OFL.txt")).context("cannot read OFL.txt")?;
    Ok(format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {name}\n\
         Upstream-Contact: The Lucarne developers <team@lucarne.dev>\n\
         Comment: {name} is one statically linked program. Besides Lucarne's own crates it\n \
         links these Rust crates (name, version: licence as the crate declares it); their\n \
         copyright holders are named in each crate's sources:\n \
         .{listed}\n\
         \n\
         Files: *\n\
         Copyright: 2026 The Lucarne developers\n\
         License: MIT or Apache-2.0\n\
         \n\
         Files: assets/fonts/*\n\
         Copyright: 2010, 2012-2020 Google Inc.\n \
         2015-2020 Google LLC\n\
         Comment: Noto Sans, Noto Sans Arabic and Noto Sans Hebrew, compiled into the program.\n\
         License: OFL-1.1\n\
         \n\
         License: MIT\n{}\n\
         \n\
         License: Apache-2.0\n \
         On Debian systems, the full text of the Apache License, Version 2.0 is in\n \
         /usr/share/common-licenses/Apache-2.0.\n\
         \n\
         License: OFL-1.1\n{}\n",
        indent(&mit),
        indent(&ofl),
        name = binary.name,
    ))
}

/// Text as the continuation lines of a DEP-5 field (an empty line as ` .`).
fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|line| if line.trim().is_empty() { " .".to_owned() } else { format!(" {}", line.trim_end()) })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The crates a workspace package links on this target (normal dependencies, transitively),
/// other than the workspace's own: (name, version, licence), sorted.
fn linked_crates(metadata: &serde_json::Value, package: &str) -> Result<BTreeSet<(String, String, String)>> {
    let packages = metadata["packages"].as_array().context("no packages in cargo metadata")?;
    let by_id: BTreeMap<&str, &serde_json::Value> =
        packages.iter().filter_map(|p| Some((p["id"].as_str()?, p))).collect();
    let workspace: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .map(|m| m.iter().filter_map(|id| id.as_str()).collect())
        .unwrap_or_default();
    let nodes: BTreeMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .context("no resolve graph in cargo metadata")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let start = packages
        .iter()
        .find(|p| p["name"] == package)
        .and_then(|p| p["id"].as_str())
        .with_context(|| format!("{package} is not in cargo metadata"))?;
    let mut seen = BTreeSet::from([start]);
    let mut todo = vec![start];
    while let Some(id) = todo.pop() {
        let deps = nodes.get(id).and_then(|n| n["deps"].as_array()).map(Vec::as_slice).unwrap_or_default();
        for dep in deps {
            // Only what is linked: not build scripts' or tests' dependencies.
            let normal =
                dep["dep_kinds"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()));
            if let Some(dep_id) = dep["pkg"].as_str()
                && normal
                && seen.insert(dep_id)
            {
                todo.push(dep_id);
            }
        }
    }
    let mut crates = BTreeSet::new();
    for id in seen.into_iter().filter(|id| !workspace.contains(id)) {
        let Some(p) = by_id.get(id) else { continue };
        let field = |key: &str| p[key].as_str().map(str::to_owned);
        crates.insert((
            field("name").unwrap_or_default(),
            field("version").unwrap_or_default(),
            field("license").unwrap_or_else(|| "see the crate's licence file".to_owned()),
        ));
    }
    Ok(crates)
}

/// `NAME-VERSION-x86_64-linux.tar.gz`: `NAME-VERSION/bin/NAME`, its manual pages, its copyright
/// file and its `packaging/` files in a `usr/`-like tree; same bytes for the same inputs.
fn tarball(binary: &Binary, stage: &Path, out: &Path, version: &str, epoch: &str) -> Result<()> {
    let top = format!("{}-{version}", binary.name);
    let tree = stage.join("tarballs").join(&top);
    let staged = stage.join(binary.name);
    let mut files: Vec<(PathBuf, PathBuf)> = vec![
        (staged.join(binary.name), PathBuf::from("bin").join(binary.name)),
        (staged.join("copyright"), PathBuf::from(format!("share/doc/{}/copyright", binary.name))),
    ];
    for page in files_under(&staged.join("man"))? {
        let name = page.file_name().context("a manual page without a name")?;
        files.push((page.clone(), Path::new("share/man/man1").join(name)));
    }
    for (from, to) in binary.extra {
        files.push((root().join(from), PathBuf::from(to)));
    }
    for (from, to) in &files {
        let dest = tree.join(to);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(from, &dest).with_context(|| format!("cannot copy {}", from.display()))?;
    }
    let archive = out.join(format!("{top}-x86_64-linux.tar.gz"));
    reproducible_tar(&stage.join("tarballs"), &top, &archive, epoch)
}

/// `lucarne-web-VERSION.tar.gz`: the browser bundle (built when missing or stale) with the
/// notes on serving it.
fn web_archive(out: &Path, version: &str, epoch: &str) -> Result<()> {
    if let Some(why) = crate::web_bundle_stale() {
        eprintln!("building the browser bundle ({why})");
        crate::web(crate::Renderer::TinySkia, true, false)?;
    }
    let top = format!("lucarne-web-{version}");
    let tree = root().join(STAGE).join("web");
    let dir = tree.join(&top);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dist = root().join("web/dist");
    for file in files_under(&dist)? {
        let dest = dir.join(file.strip_prefix(&dist).unwrap_or(&file));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(&file, &dest).with_context(|| format!("cannot copy {}", file.display()))?;
    }
    std::fs::copy(root().join("packaging/web/README.md"), dir.join("README.md"))
        .context("cannot copy packaging/web/README.md")?;
    reproducible_tar(&tree, &top, &out.join(format!("{top}.tar.gz")), epoch)
}

/// `dir/top` as a gzip'd tar with sorted names, one time, root's ownership, no gzip name or
/// time: the same bytes for the same files.
fn reproducible_tar(dir: &Path, top: &str, archive: &Path, epoch: &str) -> Result<()> {
    let file =
        std::fs::File::create(archive).with_context(|| format!("cannot create {}", archive.display()))?;
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--format=gnu",
            "--mode=u+rw,go=rX",
        ])
        .arg(format!("--mtime=@{epoch}"))
        .args(["-cf", "-", top])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run tar")?;
    let tar_out = tar.stdout.take().context("tar has no output")?;
    let gzip = Command::new("gzip").args(["-9", "-n"]).stdin(tar_out).stdout(file).status();
    let tarred = tar.wait().context("tar failed")?;
    if !tarred.success() || !gzip.context("cannot run gzip")?.success() {
        bail!("cannot write {}", archive.display());
    }
    Ok(())
}
