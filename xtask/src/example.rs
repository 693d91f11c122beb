//! `cargo xtask example NAME [--web]`: an example app against a server started with the
//! example's views and routes (`examples/NAME/serve.args`, one argument per line, paths from
//! the repository's root), on 127.0.0.1:7300, its data in `target/examples/NAME/data`.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{WithPdf, bundle, cargo, listening, root, run as run_command};

pub(crate) fn run(name: &str, web: bool) -> Result<()> {
    let dir = root().join("examples").join(name);
    let Ok(args) = std::fs::read_to_string(dir.join("serve.args")) else {
        let known: Vec<String> = std::fs::read_dir(root().join("examples"))
            .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
            .unwrap_or_default();
        bail!("no example {name:?} (examples/ has {})", known.join(", "));
    };
    let args: Vec<&str> = args.lines().filter(|l| !l.trim().is_empty()).collect();
    let package = format!("example-{name}");
    let mut build = cargo();
    build.args(["build", "--package", "lucarne-cli"]);
    if !web {
        build.args(["--package", &package]);
    }
    run_command(build)?;
    let target = root().join("target/examples").join(name);
    let mut serve = Command::new(root().join("target/debug/lucarne"));
    serve.args(["serve", "--listen", "127.0.0.1:7300", "--data"]).arg(target.join("data")).args(&args);
    if web {
        let dist = target.join("web");
        bundle(&package, &[], &dist, false, WithPdf::No)?;
        serve.arg("--web-dir").arg(&dist);
    }
    let mut server = serve.spawn().context("cannot start the server")?;
    listening(&mut server, 7300)?;
    if web {
        eprintln!(
            "\nThe {name} example: open http://127.0.0.1:7300/ (in several tabs, to see them agree). Ctrl-C stops it.\n"
        );
        let status = server.wait().context("the server")?;
        if !status.success() {
            bail!("the server stopped: {status}");
        }
        return Ok(());
    }
    eprintln!(
        "\nThe {name} example against ws://127.0.0.1:7300/ws (a second screen: `LUCARNE_SERVER=ws://127.0.0.1:7300/ws cargo run -p {package}`)\n"
    );
    let app = Command::new(root().join("target/debug").join(&package))
        .env("LUCARNE_SERVER", "ws://127.0.0.1:7300/ws")
        .current_dir(&target)
        .status()
        .context("cannot start the example");
    let _ = server.kill();
    let _ = server.wait();
    let status = app?;
    if !status.success() {
        bail!("the example stopped: {status}");
    }
    Ok(())
}
