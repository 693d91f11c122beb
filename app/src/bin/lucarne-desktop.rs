//! `lucarne-desktop`: the reference app in a window.
//!
//! ```sh
//! lucarne-desktop --server ws://127.0.0.1:7300/ws   # or LUCARNE_SERVER=…
//! lucarne-desktop --locale ar                       # or LUCARNE_LOCALE=ar; default: LANG, else en
//! lucarne-desktop --outbox ./outbox.json            # where unanswered commands wait across runs
//! ```

use anyhow::Context as _;
use clap::Parser;
use lucarne_app::i18n::Locale;

/// The Lucarne order desk.
#[derive(Parser)]
#[command(name = "lucarne-desktop", version, about = "The Lucarne order desk")]
struct Args {
    /// The server's WebSocket URL (several of one cluster, separated by commas: the app moves
    /// to the next when one is lost).
    #[arg(long, env = "LUCARNE_SERVER", default_value = lucarne::DEFAULT_SERVER)]
    server: String,
    /// Where "Export PDF" and "Export orders" write their files.
    #[arg(long, env = "LUCARNE_EXPORT_DIR", default_value = ".")]
    export_dir: std::path::PathBuf,
    /// The language to start in: en, ar or he (switchable in the window). Default: the one
    /// `LC_ALL`, `LC_MESSAGES` or `LANG` names, else English.
    #[arg(long, env = "LUCARNE_LOCALE", value_parser = parse_locale)]
    locale: Option<Locale>,
    /// Where the commands not yet answered by the server are kept, so that they are sent after
    /// the app is closed or crashes and is started again. Default: `outbox-HOST_PORT.json` (one
    /// per server) in `$XDG_STATE_HOME/lucarne/desk`, else `~/.local/state/lucarne/desk`
    /// (`lucarne::ClientConfig::keep_outbox`). A second app
    /// running at the same time takes `outbox-HOST_PORT.2.json`, and so on; a later run takes
    /// one that still keeps commands first.
    #[arg(long, env = "LUCARNE_OUTBOX")]
    outbox: Option<std::path::PathBuf>,
}

/// Where the desk kept its outbox before `keep_outbox` (`$XDG_STATE_HOME/lucarne/outbox-HOST_PORT.json`),
/// when that file is there: used while it exists, so that actions queued before an upgrade are
/// still sent.
fn earlier_outbox(server: &str) -> Option<std::path::PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".local/state")))?;
    let host = server.split("://").nth(1).unwrap_or(server).split('/').next().unwrap_or_default();
    let name: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    Some(state.join("lucarne").join(format!("outbox-{name}.json"))).filter(|path| path.is_file())
}

fn parse_locale(tag: &str) -> Result<Locale, String> {
    Locale::parse(tag).ok_or_else(|| format!("unknown locale {tag:?}: expected en, ar or he"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let locale = args.locale.unwrap_or_else(Locale::from_env);
    let outbox = args
        .outbox
        .or_else(|| earlier_outbox(&args.server))
        .or_else(|| lucarne::ClientConfig::servers([args.server.as_str()]).keep_outbox("desk").outbox_file);
    let mut config = lucarne_app::Config::new(args.server).export_dir(args.export_dir).locale(locale);
    if let Some(file) = outbox {
        config = config.outbox(file);
    }
    lucarne_app::run(config).context("the desktop app failed")
}
