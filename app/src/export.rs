//! The desk on paper: any of its screens as a vector PDF, drawn from the same widgets.
//!
//! ```no_run
//! # let desk = lucarne_app::Desk::new(lucarne_app::Config::new("ws://127.0.0.1:7300/ws"));
//! use lucarne_app::export::{Screen, export, options};
//!
//! // Every order the table holds, in its sort order, paginated with page numbers.
//! let orders = export(&desk, Screen::Orders, &options(&desk, Screen::Orders), &mut |_| {})?;
//! std::fs::write("orders.pdf", &orders.pdf)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Screen::Main`] is the main screen as the window shows it ([`view`]), fitted on one
//! landscape page. [`Screen::Orders`] is the order table with *all* its rows: the table on
//! screen is virtualized (only the visible rows are laid out), so the printed table is
//! [`print_orders`], a plain column of the same cells, which `lucarne-pdf` cuts between rows,
//! its header row repeated on every page.
//!
//! Both are in the desk's language ([`Desk::locale`]): title, header, footer and column titles
//! come from its messages, and in Arabic and Hebrew the printed table runs from right to left
//! like the screen's.
//!
//! Natively, and in the browser's PDF module (`lucarne-web-pdf`, feature `web-pdf`), which the
//! page fetches when first used: printpdf stays out of the page's first load (it would cost
//! more than its whole budget).

use lucarne::iced::Element;
use lucarne::pdf::{Exported, Orientation, PdfError, PdfOptions, Progress};
use lucarne::widgets::{PrintColumn, PrintTable, print_table};

pub use crate::desk::Screen;
use crate::desk::{COLUMNS, Desk, Message, view};
use crate::i18n::{Arg, strip_isolates};

/// Text size of the printed table, in logical pixels.
pub const PRINT_TEXT_SIZE: f32 = 13.0;

/// The options a screen is exported with.
/// The options a screen is exported with, in the desk's language.
pub fn options(desk: &Desk, screen: Screen) -> PdfOptions {
    let locale = desk.locale();
    // Header and footer hold numbers only: no isolates (one line of plain text, centred).
    let plain = |key: &str, args: &[(&str, Arg<'_>)]| strip_isolates(&locale.tr_args(key, args));
    let defaults = PdfOptions {
        title: locale.tr("app-title"),
        language: Some(locale.code().to_owned()),
        author: Some("Lucarne".to_owned()),
        default_font: crate::DEFAULT_FONT,
        ..PdfOptions::default()
    };
    match screen {
        Screen::Main => PdfOptions {
            orientation: Orientation::Landscape,
            viewport: Some(desk.viewport()),
            subject: Some(locale.tr("pdf-subject-main")),
            ..defaults
        },
        Screen::Orders => PdfOptions {
            header: Some(plain("window-title", &[("orders", Arg::from(desk.table().len()))])),
            // `lucarne-pdf` fills in `{page}` and `{pages}`.
            footer: Some(plain(
                "pdf-footer",
                &[("page", Arg::from("{page}")), ("pages", Arg::from("{pages}"))],
            )),
            subject: Some(locale.tr("pdf-subject-orders")),
            // The table's header row heads every page.
            repeat_top: Some(print_header_height()),
            // Page numbers in the digits the rest of the document uses.
            numerals: match locale {
                crate::i18n::Locale::Ar => lucarne::pdf::Numerals::ArabicIndic,
                _ => lucarne::pdf::Numerals::Western,
            },
            ..PdfOptions { mode: lucarne::pdf::Mode::Document, ..defaults }
        },
    }
}

/// Exports a screen of the desk with `options` (start from [`options`]). `progress` hears
/// how far the export is (pages drawn).
pub fn export(
    desk: &Desk,
    screen: Screen,
    options: &PdfOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Exported, PdfError> {
    match screen {
        Screen::Main => lucarne::pdf::export_with_progress(view(desk), options, progress),
        Screen::Orders => {
            let table: Element<'_, Message> = orders_table(desk, content_width(options)).into();
            lucarne::pdf::export_with_progress(table, options, progress)
        }
    }
}

/// The order table for paper: every row the table holds, in its order, with the table's
/// columns (but no actions), drawn by `lucarne::widgets::print_table` — each column as wide as
/// its content asks, a long value wrapped rather than cut, a row never split by a page break
/// and the header row repeated on every page ([`options`] sets `repeat_top` to its height). In
/// a right-to-left locale the first column is on the right, texts start on the right and
/// numbers end on the left (as `live_table` draws them on screen).
pub fn print_orders(desk: &Desk) -> Element<'_, Message> {
    orders_table(desk, content_width(&options(desk, Screen::Orders))).into()
}

/// The width a document of `options` lays its element out in, in logical pixels.
fn content_width(options: &PdfOptions) -> f32 {
    let (_, _, width, _) = options.content_box();
    width / (lucarne::pdf::POINTS_PER_PIXEL * options.zoom)
}

/// The printed order table, planned for `width` logical pixels (see [`print_orders`]).
fn orders_table(desk: &Desk, width: f32) -> PrintTable {
    let locale = desk.locale();
    // The last column holds the row actions: nothing to print.
    let columns = &COLUMNS[..COLUMNS.len() - 1];
    let titles = columns
        .iter()
        .map(|c| {
            if c.right {
                PrintColumn::number(locale.tr(c.title))
            } else {
                PrintColumn::text(locale.tr(c.title))
            }
        })
        .collect();
    let rows = (0..desk.table().len())
        .filter_map(|index| desk.table().row(index))
        .map(|line| line.cells.iter().take(columns.len()).map(|c| c.as_str().to_owned()).collect())
        .collect();
    print_table(titles, rows)
        .direction(locale.direction())
        .font(crate::DEFAULT_FONT)
        .text_size(PRINT_TEXT_SIZE)
        .available_width(width)
}

/// The height of the printed table's header row, repeated at the top of every page.
pub fn print_header_height() -> f32 {
    print_table(Vec::new(), Vec::new()).text_size(PRINT_TEXT_SIZE).header_height()
}
