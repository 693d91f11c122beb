//! `lucarne-desktop`: the reference app in a window.
//!
//! ```sh
//! lucarne-desktop --server ws://127.0.0.1:7300/ws   # or LUCARNE_SERVER=…
//! lucarne-desktop --locale ar                       # or LUCARNE_LOCALE=ar; default: LANG, else en
//! lucarne-desktop --outbox ./outbox.json            # where unanswered commands wait across runs
//! lucarne-desktop --export orders --out orders.pdf  # no window: every order, paginated, then exit
//! lucarne-desktop --export main --out desk.pdf --filter "status = 'paid' order by total desc"
//! ```

use anyhow::Context as _;
use clap::Parser;
use lucarne_app::i18n::Locale;

/// The Lucarne order desk.
#[derive(Parser)]
// `--version` shows the commit it was built from where the build recorded one (`cargo xtask
// bundle` sets `LUCARNE_COMMIT`).
#[command(name = "lucarne-desktop", version = lucarne::build_version!(), about = "The Lucarne order desk")]
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
    /// Export a screen as a PDF without opening a window, then exit: `orders` (every order,
    /// paginated, the header row on every page) or `main` (the main screen, one page).
    #[arg(long, value_parser = ["orders", "main"], requires = "out")]
    export: Option<String>,
    /// Where `--export` writes the PDF.
    #[arg(long, short)]
    out: Option<std::path::PathBuf>,
    /// `--export`: the table's live query, as typed in the filter box:
    /// `CONDITION [order by COLUMNS]`.
    #[arg(long, value_name = "QUERY", requires = "export")]
    filter: Option<String>,
    /// `--export`: sheet size, `a4` or `letter`.
    #[arg(long, default_value = "a4", value_parser = ["a4", "letter"])]
    page: String,
    /// `--export`: landscape sheets (the main screen is always landscape).
    #[arg(long)]
    landscape: bool,
    /// `--export`: the window size the main screen is laid out at, `WIDTHxHEIGHT`.
    #[arg(long, default_value = "1100x700", value_parser = parse_size)]
    window: lucarne::iced::Size,
    /// `--export`: give up when the views are not loaded within this many seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Write the manual page (`lucarne-desktop.1`) into this directory and exit (packaging).
    #[arg(long, hide = true, value_name = "DIR")]
    manual: Option<std::path::PathBuf>,
}

fn parse_size(text: &str) -> Result<lucarne::iced::Size, String> {
    let (w, h) = text.split_once('x').ok_or("expected WIDTHxHEIGHT, e.g. 1100x700")?;
    let number =
        |s: &str| s.trim().parse::<f32>().ok().filter(|v| v.is_finite() && *v >= 100.0 && *v <= 10_000.0);
    match (number(w), number(h)) {
        (Some(w), Some(h)) => Ok(lucarne::iced::Size::new(w, h)),
        _ => Err("width and height must be numbers from 100 to 10000".to_owned()),
    }
}

/// `--export`: loads the screen's views from the server and writes the PDF (the browser's PDF
/// module does the same, `web/src/pdf.rs`).
#[cfg(not(target_arch = "wasm32"))]
fn export(args: &Args, screen: &str, locale: Locale) -> anyhow::Result<()> {
    use lucarne_app::export::{Screen, export, options};
    let screen = Screen::from_name(screen).context("unknown screen")?;
    let out = args.out.as_ref().context("--export needs --out")?;
    let started = std::time::Instant::now();
    let client = lucarne::Client::connect(lucarne::ClientConfig::servers([args.server.as_str()]));
    let what = lucarne_app::headless::Load {
        screen,
        filter: args.filter.clone(),
        window: args.window,
        timeout: std::time::Duration::from_secs_f64(args.timeout.max(0.1)),
    };
    let mut desk = lucarne_app::headless::load(client, &what)?;
    let _ = lucarne_app::update(&mut desk, lucarne_app::Message::Locale(locale));
    let loaded = started.elapsed();
    let mut options = options(&desk, screen);
    options.page_size =
        if args.page == "letter" { lucarne::pdf::PageSize::Letter } else { lucarne::pdf::PageSize::A4 };
    if args.landscape {
        options.orientation = lucarne::pdf::Orientation::Landscape;
    }
    let rendering = std::time::Instant::now();
    let exported = export(&desk, screen, &options, &mut |_| {})
        .with_context(|| format!("cannot export the {} screen", screen.name()))?;
    std::fs::write(out, &exported.pdf).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {}: {} page{}, {} orders, {} KB (views loaded in {} ms, exported in {} ms)",
        out.display(),
        exported.pages,
        if exported.pages == 1 { "" } else { "s" },
        desk.table().len(),
        exported.pdf.len().div_ceil(1024),
        loaded.as_millis(),
        rendering.elapsed().as_millis()
    );
    Ok(())
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
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(dir) = &args.manual {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::Man::new(<Args as clap::CommandFactory>::command())
            .generate_to(dir)
            .with_context(|| format!("cannot write the manual page into {}", dir.display()))?;
        return Ok(());
    }
    let locale = args.locale.unwrap_or_else(Locale::from_env);
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(screen) = &args.export {
        return export(&args, screen, locale);
    }
    let outbox =
        args.outbox.clone().or_else(|| earlier_outbox(&args.server)).or_else(|| {
            lucarne::ClientConfig::servers([args.server.as_str()]).keep_outbox("desk").outbox_file
        });
    let mut config = lucarne_app::Config::new(args.server.clone())
        .export_dir(args.export_dir.clone())
        .locale(locale)
        .about(format!("Lucarne {}", lucarne::build_version!()));
    if let Some(file) = outbox {
        config = config.outbox(file);
    }
    lucarne_app::run(config).context("the desktop app failed")
}
