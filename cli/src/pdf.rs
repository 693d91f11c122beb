//! `lucarne pdf`: any view as a paginated table (`lucarne pdf VIEW`, in `print.rs`), or a screen
//! of the reference app as a vector PDF, from a running server.
//!
//! For a screen it subscribes like the app does, feeds the events into the app's own state
//! (`Desk`), and exports the app's own widgets with `lucarne-pdf`: the same rows, the same
//! layout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use lucarne_app::export::{self, Screen};
use lucarne_app::{Desk, Message, update};
use lucarne_pdf::{Orientation, PageSize, Progress};
use lucarne_runtime::{Client, Query, Status, ViewEvent};

/// `lucarne pdf` arguments.
#[derive(clap::Args)]
pub(crate) struct PdfArgs {
    /// A view to print as a table (any view the token may see); without it, a screen of the
    /// reference app (`--screen`).
    view: Option<String>,
    /// Where to write the PDF.
    #[arg(long, short)]
    out: PathBuf,
    #[command(flatten)]
    page: PageArgs,
    #[command(flatten)]
    print: crate::print::PrintArgs,
    /// The reference app's screen: `orders` (every order, paginated) or `main` (the main
    /// screen, one page).
    #[arg(long, default_value = "orders", value_parser = ["orders", "main"], conflicts_with = "view")]
    screen: String,
    /// The screen's live query, as typed in the app's filter box:
    /// `CONDITION [order by COLUMNS]`.
    #[arg(long = "filter", value_name = "QUERY", conflicts_with = "view")]
    screen_filter: Option<String>,
    /// The window size the main screen is laid out at: `WIDTHxHEIGHT` in logical pixels.
    #[arg(long, default_value = "1100x700", value_parser = parse_size)]
    window: iced_core::Size,
}

/// The sheets and the patience of `lucarne pdf`.
#[derive(clap::Args)]
pub(crate) struct PageArgs {
    /// Sheet size: `a4` or `letter`.
    #[arg(long, default_value = "a4", value_parser = ["a4", "letter"])]
    pub(crate) page: String,
    /// Landscape sheets (the main screen is always landscape).
    #[arg(long)]
    pub(crate) landscape: bool,
    /// Give up when the views are not loaded within this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub(crate) timeout: f64,
}

fn parse_size(text: &str) -> Result<iced_core::Size, String> {
    let (w, h) = text.split_once('x').ok_or("expected WIDTHxHEIGHT, e.g. 1100x700")?;
    let number =
        |s: &str| s.trim().parse::<f32>().ok().filter(|v| v.is_finite() && *v >= 100.0 && *v <= 10_000.0);
    match (number(w), number(h)) {
        (Some(w), Some(h)) => Ok(iced_core::Size::new(w, h)),
        _ => Err("width and height must be numbers from 100 to 10000".to_owned()),
    }
}

/// Loads the screen's views from the server and writes the PDF. Exit code 0, or an error.
pub(crate) async fn run(args: PdfArgs, client: Client) -> Result<u8> {
    if let Some(view) = args.view {
        return crate::print::run(view, args.print, &args.page, &args.out, client).await;
    }
    let screen = Screen::from_name(&args.screen).context("unknown screen")?;
    let started = Instant::now();
    let mut desk = Desk::with_client(client.clone());
    let _ = update(&mut desk, Message::Resized(args.window));
    if let Some(filter) = &args.screen_filter {
        let _ = update(&mut desk, Message::FilterChanged(filter.clone()));
        let _ = update(&mut desk, Message::ApplyFilter);
    }

    let loading = ProgressBar::new_spinner().with_message("loading the orders");
    loading.enable_steady_tick(Duration::from_millis(100));
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.page.timeout.max(0.1));
    let mut orders = client.subscribe(desk.query().clone());
    let mut regions = client.subscribe(Query::view("sales_by_region"));
    let (mut orders_loaded, mut regions_loaded) = (false, screen == Screen::Orders);
    let mut offline = String::from("no answer yet");
    while !(orders_loaded && regions_loaded) {
        let event = tokio::select! {
            event = orders.next(), if !orders_loaded => event.map(|e| (true, e)),
            event = regions.next(), if !regions_loaded => event.map(|e| (false, e)),
            () = tokio::time::sleep_until(deadline) => {
                loading.finish_and_clear();
                bail!("the views did not load within {}s: {offline}", args.page.timeout);
            }
        };
        let Some((is_orders, event)) = event else { bail!("the connection stopped") };
        match &event {
            ViewEvent::Failed { code, message } => {
                loading.finish_and_clear();
                bail!("the server refused the query ({code}): {message}");
            }
            ViewEvent::Status(Status::Offline { reason, .. }) => offline = reason.to_string(),
            ViewEvent::Snapshot { rows, .. } => {
                if is_orders {
                    orders_loaded = true;
                    loading.set_message(format!("{} orders loaded", rows.len()));
                } else {
                    regions_loaded = true;
                }
            }
            _ => {}
        }
        let message = if is_orders { Message::Orders(event) } else { Message::Regions(event) };
        let _ = update(&mut desk, message);
    }
    loading.finish_and_clear();
    let loaded = started.elapsed();

    let mut options = export::options(&desk, screen);
    options.page_size = if args.page.page == "letter" { PageSize::Letter } else { PageSize::A4 };
    if args.page.landscape {
        options.orientation = Orientation::Landscape;
    }
    let pages = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} pages")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pages.set_message(format!("exporting {}", screen.name()));
    let rendering = Instant::now();
    let exported = export::export(&desk, screen, &options, &mut |progress| match progress {
        Progress::Planned { pages: n } => pages.set_length(n as u64),
        Progress::Page { done, .. } => pages.set_position(done as u64),
    })
    .with_context(|| format!("cannot export the {} screen", screen.name()))?;
    pages.finish_and_clear();
    let rendered = rendering.elapsed();
    std::fs::write(&args.out, &exported.pdf)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    for warning in &exported.warnings {
        tracing::warn!("{warning}");
    }
    println!(
        "wrote {}: {} page{}, {} orders, {} KB (views loaded in {} ms, exported in {} ms)",
        args.out.display(),
        exported.pages,
        if exported.pages == 1 { "" } else { "s" },
        desk.table().len(),
        exported.pdf.len().div_ceil(1024),
        loaded.as_millis(),
        rendered.as_millis()
    );
    Ok(0)
}
