//! `lucarne pdf VIEW`: any view the token may see as a paginated table, a vector PDF drawn by
//! the widgets' `print_table` and `lucarne-pdf` — columns from the rows (or `--columns`), each
//! as wide as its content asks, long values wrapped (never cut), numbers against the end, the
//! header row on every page, right to left in Arabic and Hebrew. (The reference app's own
//! screens are exported by its binary: `lucarne-desktop --export main|orders`.)

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use lucarne_pdf::{Numerals, Orientation, PageSize, PdfOptions, Progress};
use lucarne_protocol::Row;
use lucarne_runtime::{Client, Status, ViewEvent};
use lucarne_widgets::{Direction, PrintColumn, print_table};
use serde_json::Value;

/// The renderer the table is recorded with.
type Recorder = iced_tiny_skia::Renderer;

/// `lucarne pdf` arguments.
#[derive(clap::Args)]
pub(crate) struct PdfArgs {
    /// The view (any view the token may see).
    view: String,
    /// Where to write the PDF.
    #[arg(long, short)]
    out: std::path::PathBuf,
    /// Sheet size: `a4` or `letter`.
    #[arg(long, default_value = "a4", value_parser = ["a4", "letter"])]
    page: String,
    /// Landscape sheets.
    #[arg(long)]
    landscape: bool,
    /// Give up when the view is not loaded within this many seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    #[command(flatten)]
    query: crate::QueryArgs,
    /// The columns printed, in this order (default: every column, as the rows have them).
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// The title at the top of every page (default: the view's name).
    #[arg(long)]
    title: Option<String>,
    /// The document's language: en, ar (right to left, Arabic-Indic digits) or he (right to
    /// left).
    #[arg(long, default_value = "en", value_parser = ["en", "ar", "he"])]
    locale: String,
}

/// The words of the page footer, by locale.
fn footer(locale: &str) -> &'static str {
    match locale {
        "ar" => "صفحة {page} من {pages}",
        "he" => "עמוד {page} מתוך {pages}",
        _ => "Page {page} of {pages}",
    }
}

/// A value as printed: text as it is, numbers in the locale's digits, nothing for null.
fn cell(value: Option<&Value>, numerals: Numerals) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => match numerals {
            Numerals::ArabicIndic => n
                .to_string()
                .chars()
                .map(|c| c.to_digit(10).and_then(|d| char::from_u32(0x0660 + d)).unwrap_or(c))
                .collect(),
            Numerals::Western => n.to_string(),
        },
        Some(other) => other.to_string(),
    }
}

/// Subscribes to the view's query, takes its snapshot and writes the table.
pub(crate) async fn run(args: PdfArgs, client: Client) -> Result<u8> {
    let (view, out) = (args.view.clone(), args.out.as_path());
    let started = Instant::now();
    let query = args.query.of(view.clone());
    let loading = ProgressBar::new_spinner().with_message(format!("loading {view}"));
    loading.enable_steady_tick(Duration::from_millis(100));
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.timeout.max(0.1));
    let mut events = client.subscribe(query);
    let mut offline = String::from("no answer yet");
    let rows: Vec<Row> = loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = tokio::time::sleep_until(deadline) => {
                loading.finish_and_clear();
                bail!("{view} did not load within {}s: {offline}", args.timeout);
            }
        };
        match event {
            Some(ViewEvent::Snapshot { rows, .. }) => break rows.into_vec(),
            Some(ViewEvent::Failed { code, message }) => {
                loading.finish_and_clear();
                bail!("the server refused ({code}): {message}");
            }
            Some(ViewEvent::Status(Status::Offline { reason, .. })) => offline = reason.to_string(),
            Some(_) => {}
            None => bail!("the connection stopped"),
        }
    };
    drop(events);
    loading.finish_and_clear();
    let loaded = started.elapsed();

    let names: Vec<String> = if args.columns.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for row in &rows {
            for name in row.row.keys() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    } else {
        args.columns.clone()
    };
    let numerals = if args.locale == "ar" { Numerals::ArabicIndic } else { Numerals::Western };
    // A column of numbers (every value a number or null) is aligned to the end.
    let columns = names
        .iter()
        .map(|name| {
            let numeric =
                rows.iter().all(|r| matches!(r.row.get(name), None | Some(Value::Null | Value::Number(_))))
                    && rows.iter().any(|r| matches!(r.row.get(name), Some(Value::Number(_))));
            if numeric { PrintColumn::number(name.clone()) } else { PrintColumn::text(name.clone()) }
        })
        .collect();
    let cells: Vec<Vec<String>> =
        rows.iter().map(|r| names.iter().map(|n| cell(r.row.get(n), numerals)).collect()).collect();

    let mut options = PdfOptions {
        title: args.title.clone().unwrap_or_else(|| view.clone()),
        author: Some("Lucarne".to_owned()),
        header: Some(args.title.clone().unwrap_or_else(|| view.clone())),
        footer: Some(footer(&args.locale).to_owned()),
        numerals,
        language: Some(args.locale.clone()),
        page_size: if args.page == "letter" { PageSize::Letter } else { PageSize::A4 },
        orientation: if args.landscape { Orientation::Landscape } else { Orientation::Portrait },
        ..PdfOptions::document()
    };
    let (_, _, width, _) = options.content_box();
    let direction = if args.locale == "en" { Direction::Ltr } else { Direction::Rtl };
    let table = print_table(columns, cells)
        .direction(direction)
        .font(lucarne_pdf::DEFAULT_FONT)
        .available_width(width / (lucarne_pdf::POINTS_PER_PIXEL * options.zoom));
    options.repeat_top = Some(table.header_height());
    let element: iced_core::Element<'_, (), iced_core::Theme, Recorder> = table.into();
    let pages = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} pages")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pages.set_message(format!("printing {view}"));
    let rendering = Instant::now();
    let exported = lucarne_pdf::export_with_progress(element, &options, &mut |progress| match progress {
        Progress::Planned { pages: n } => pages.set_length(n as u64),
        Progress::Page { done, .. } => pages.set_position(done as u64),
    })
    .with_context(|| format!("cannot print {view}"))?;
    pages.finish_and_clear();
    std::fs::write(out, &exported.pdf).with_context(|| format!("cannot write {}", out.display()))?;
    for warning in &exported.warnings {
        tracing::warn!("{warning}");
    }
    println!(
        "wrote {}: {} page{}, {} rows of {view}, {} KB (loaded in {} ms, printed in {} ms)",
        out.display(),
        exported.pages,
        if exported.pages == 1 { "" } else { "s" },
        rows.len(),
        exported.pdf.len().div_ceil(1024),
        loaded.as_millis(),
        rendering.elapsed().as_millis()
    );
    Ok(0)
}
