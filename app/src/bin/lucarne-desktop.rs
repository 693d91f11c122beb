//! `lucarne-desktop`: the reference app in a window.
//!
//! ```sh
//! lucarne-desktop --server ws://127.0.0.1:7300/ws   # or LUCARNE_SERVER=…
//! lucarne-desktop --locale ar                       # or LUCARNE_LOCALE=ar; default: LANG, else en
//! ```

use anyhow::Context as _;
use clap::Parser;
use lucarne_app::i18n::Locale;

/// The Lucarne order desk.
#[derive(Parser)]
#[command(name = "lucarne-desktop", version, about = "The Lucarne order desk")]
struct Args {
    /// The server's WebSocket URL.
    #[arg(long, env = "LUCARNE_SERVER", default_value = lucarne::DEFAULT_SERVER)]
    server: String,
    /// Where "Export PDF" and "Export orders" write their files.
    #[arg(long, env = "LUCARNE_EXPORT_DIR", default_value = ".")]
    export_dir: std::path::PathBuf,
    /// The language to start in: en, ar or he (switchable in the window). Default: the one
    /// `LC_ALL`, `LC_MESSAGES` or `LANG` names, else English.
    #[arg(long, env = "LUCARNE_LOCALE", value_parser = parse_locale)]
    locale: Option<Locale>,
}

fn parse_locale(tag: &str) -> Result<Locale, String> {
    Locale::parse(tag).ok_or_else(|| format!("unknown locale {tag:?}: expected en, ar or he"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let locale = args.locale.unwrap_or_else(Locale::from_env);
    let config = lucarne_app::Config::new(args.server).export_dir(args.export_dir).locale(locale);
    lucarne_app::run(config).context("the desktop app failed")
}
