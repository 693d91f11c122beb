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
//! like the screen's. The orders' pages are headed by widgets ([`Furniture`]): the desk's title
//! and order count at the start, the filter in force and the day printed at the end, a rule
//! below; the page number centred at the foot.
//!
//! Natively, and in the browser's PDF module (`lucarne-web-pdf`, feature `web-pdf`), which the
//! page fetches when first used: printpdf stays out of the page's first load (it would cost
//! more than its whole budget).

use lucarne::iced::Element;
use lucarne::iced::widget::{column, container, rule, space};
use lucarne::iced::{Alignment, Fill, Font, font};
use lucarne::pdf::{Exported, Furniture, Orientation, Page, PdfError, PdfOptions, Progress};
use lucarne::widgets::{PrintColumn, PrintTable, bidi_text, dir_row, print_table};

use crate::clock::{self, LocalTime};

pub use crate::desk::Screen;
use crate::desk::{COLUMNS, Desk, Message, view};
use crate::i18n::{Arg, strip_isolates};

/// Text size of the printed table, in logical pixels.
pub const PRINT_TEXT_SIZE: f32 = 13.0;

/// The options a screen is exported with.
/// The options a screen is exported with, in the desk's language.
pub fn options(desk: &Desk, screen: Screen) -> PdfOptions {
    let locale = desk.locale();
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
            subject: Some(locale.tr("pdf-subject-orders")),
            // The table's header row heads every page.
            repeat_top: Some(print_header_height()),
            // Room for the page header's two sizes of text and its rule.
            margins: lucarne::pdf::Margins { top: 48.0, ..lucarne::pdf::Margins::default() },
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
            let printed = clock::local(clock::now_ms());
            let furniture = Furniture::new()
                .header(move |_| page_header(desk, printed))
                .footer(move |page| page_footer(desk, page));
            lucarne::pdf::export_with_furniture(table, options, &furniture, progress)
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

/// The printed orders' page header, in the desk's language and direction: the title and order
/// count at the start (bold), the filter in force and the day `printed` at the end, a rule below.
fn page_header(desk: &Desk, printed: Option<LocalTime>) -> Element<'_, Message> {
    let locale = desk.locale();
    let dir = locale.direction();
    let title = strip_isolates(&locale.tr_args("window-title", &[("orders", Arg::from(desk.table().len()))]));
    let mut about = Vec::new();
    let filter = desk.filter_in_force();
    if !filter.is_empty() {
        about.push(locale.tr_args("pdf-filter", &[("filter", Arg::from(filter))]));
    }
    if let Some(day) = printed {
        // The date alone: `when` gives the time of day for today.
        about.push(locale.tr_args("pdf-printed", &[("date", Arg::from(clock::when(locale, day, None)))]));
    }
    let bold = Font { weight: font::Weight::Bold, ..crate::DEFAULT_FONT };
    let line = dir_row(
        dir,
        [
            bidi_text(title).direction(dir).font(bold).size(PRINT_TEXT_SIZE).into(),
            space::horizontal().into(),
            bidi_text(about.join(" · ")).direction(dir).size(PRINT_TEXT_SIZE - 2.0).into(),
        ],
    )
    .spacing(12)
    .align_y(Alignment::Center);
    container(column![line, rule::horizontal(1)].spacing(4)).height(Fill).align_bottom(Fill).into()
}

/// The printed orders' page footer: "Page N of M" in the desk's language and digits, centred.
fn page_footer(desk: &Desk, page: Page) -> Element<'_, Message> {
    let locale = desk.locale();
    let text = strip_isolates(
        &locale.tr_args("pdf-footer", &[("page", Arg::from(page.number)), ("pages", Arg::from(page.count))]),
    );
    container(bidi_text(text).direction(locale.direction()).size(PRINT_TEXT_SIZE - 2.0))
        .center_x(Fill)
        .center_y(Fill)
        .into()
}

/// The height of the printed table's header row, repeated at the top of every page.
pub fn print_header_height() -> f32 {
    print_table(Vec::new(), Vec::new()).text_size(PRINT_TEXT_SIZE).header_height()
}
