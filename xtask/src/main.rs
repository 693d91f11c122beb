//! `cargo xtask`: the only place that installs tools or orchestrates builds and runs.
//!
//! - `setup`: installs what is missing on a fresh Debian machine (rustup components, apt packages).
//! - `demo`: builds and runs `lucarne serve --demo` on 127.0.0.1:7300, and opens the desktop
//!   order desk when a display is present.
//! - `test`: formatting, clippy (`-D warnings`) and every test.
//! - `bench skeleton`: the load benchmark of the walking skeleton, figures against baselines.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

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
        Task::Bench { name, args } => bench(&name, &args),
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
];

fn apt_install() -> Result<()> {
    let missing: Vec<&str> =
        APT_PACKAGES.iter().filter(|(_, probe)| !Path::new(probe).exists()).map(|(name, _)| *name).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
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

fn setup() -> Result<()> {
    apt_install()?;
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
    eprintln!(
        "\nLucarne demo on http://127.0.0.1:7300 (WebSocket ws://127.0.0.1:7300/ws). In another terminal:\n\
         \n  cargo run -q -p lucarne-cli -- watch orders\
         \n  cargo run -q -p lucarne-cli -- send place_order '{{\"order_id\":\"o-1\",\"customer\":\"Ada\",\"total\":42.5,\"region\":\"eu\"}}'\
         \n  cargo run -q -p lucarne-cli -- view list\n\nCtrl-C stops it.\n"
    );
    let mut serve = Command::new(root().join("target/debug/lucarne"));
    serve.args(["serve", "--demo", "--data", "target/demo-data"]).args(args);
    if !display {
        eprintln!("(no display: the desktop app is not opened; `cargo run -p lucarne-app` opens it)");
        return run(serve);
    }
    let mut server = serve.spawn().context("cannot start the demo server")?;
    // Open the order desk once the server answers; it reconnects by itself if it is early.
    std::thread::sleep(std::time::Duration::from_millis(800));
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

fn test(no_lint: bool) -> Result<()> {
    let started = Instant::now();
    setup()?;
    if !no_lint {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        run(fmt)?;
        let mut clippy = cargo();
        clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
        run(clippy)?;
    }
    let mut tests = cargo();
    tests.args(["test", "--workspace"]);
    run(tests)?;
    eprintln!("\nall checks passed in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn bench(name: &str, args: &[String]) -> Result<()> {
    match name {
        "skeleton" => {
            let mut cmd = cargo();
            cmd.args(["run", "--release", "--package", "lucarne-bench", "--", "skeleton"]).args(args);
            run(cmd)
        }
        "views" => {
            let mut cmd = cargo();
            cmd.args(["run", "--release", "--package", "lucarne-bench", "--", "views"]).args(args);
            run(cmd)
        }
        "live-table" => {
            // The desk with 100 000 rows under 5 000 deltas/s: frame time (apply, view + layout,
            // draw recording, tiny-skia rasterization). Arguments: [ROWS RATE SECONDS].
            let mut cmd = cargo();
            cmd.args(["bench", "--package", "lucarne-app", "--bench", "live_table", "--"]).args(args);
            run(cmd)
        }
        other => bail!("no benchmark named {other:?} (known: skeleton, views, live-table)"),
    }
}
