//! `lucarne-desktop`: the reference app in a window.
//!
//! ```sh
//! lucarne-desktop --server ws://127.0.0.1:7300/ws   # or LUCARNE_SERVER=…
//! ```

use anyhow::Context as _;
use clap::Parser;

/// The Lucarne order desk.
#[derive(Parser)]
#[command(name = "lucarne-desktop", version, about = "The Lucarne order desk")]
struct Args {
    /// The server's WebSocket URL.
    #[arg(long, env = "LUCARNE_SERVER", default_value = lucarne::DEFAULT_SERVER)]
    server: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    lucarne_app::run(lucarne_app::Config::new(args.server)).context("the desktop app failed")
}
