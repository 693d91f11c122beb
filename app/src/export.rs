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
//! [`print_orders`], a plain column of the same cells, which `lucarne-pdf` cuts between rows.
//!
//! Both are in the desk's language ([`Desk::locale`]): title, header, footer and column titles
//! come from its messages, and in Arabic and Hebrew the printed table runs from right to left
//! like the screen's.
//!
//! Native only: printpdf stays out of the browser bundle (it would cost more than the whole
//! budget of the page).

use lucarne::iced::widget::{Column, column, container};
use lucarne::iced::{Color, Element, Fill, Font, Length, Theme};
use lucarne::pdf::{Exported, Orientation, PdfError, PdfOptions, Progress};
use lucarne::widgets::{Align, bidi_text, dir_row};

pub use crate::desk::Screen;
use crate::desk::{COLUMNS, Desk, Message, view};
use crate::i18n::{Arg, strip_isolates};

/// Height of a printed table row, in logical pixels.
pub const PRINT_ROW_HEIGHT: f32 = 24.0;

/// The options a screen is exported with.
/// The options a screen is exported with, in the desk's language.
pub fn options(desk: &Desk, screen: Screen) -> PdfOptions {
    let locale = desk.locale();
    // Header and footer hold numbers only: no isolates (one line of plain text, centred).
    let plain = |key: &str, args: &[(&str, Arg<'_>)]| strip_isolates(&locale.tr_args(key, args));
    let defaults = PdfOptions {
        title: locale.tr("app-title"),
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
        Screen::Orders => lucarne::pdf::export_with_progress(print_orders(desk), options, progress),
    }
}

/// The order table for paper: every row the table holds, in its order, with the table's
/// columns (but no actions), each row a fixed-height box that a page break never splits. In a
/// right-to-left locale the first column is on the right, texts start on the right and numbers
/// end on the left (as `live_table` draws them on screen).
pub fn print_orders(desk: &Desk) -> Element<'_, Message> {
    let locale = desk.locale();
    let dir = locale.direction();
    // Absolute sides: a cell's text sits at the layout's start (numbers: its end) whatever its
    // own script; each paragraph keeps its own direction for the order of its runs.
    let (start, end) = if dir.is_rtl() { (Align::Right, Align::Left) } else { (Align::Left, Align::Right) };
    // The last column holds the row actions: nothing to print.
    let columns = &COLUMNS[..COLUMNS.len() - 1];
    let widths: Vec<(Length, bool)> =
        columns.iter().map(|c| (c.width.map_or(Length::Fill, Length::Fixed), c.right)).collect();
    let cell = |value: String, (width, right): (Length, bool), font: Font| -> Element<'_, Message> {
        let content = bidi_text(value)
            .size(13)
            .font(font)
            .fallback(dir)
            .wrapping(lucarne::iced::widget::text::Wrapping::None)
            .align_x(if right { end } else { start })
            .align_y(lucarne::iced::alignment::Vertical::Center);
        container(content.width(Fill)).width(width).padding([0, 6]).clip(true).into()
    };
    let bold = Font { weight: lucarne::iced::font::Weight::Bold, ..crate::DEFAULT_FONT };
    let header = dir_row(
        dir,
        columns.iter().zip(&widths).map(|(column, width)| cell(locale.tr(column.title), *width, bold)),
    )
    .height(PRINT_ROW_HEIGHT)
    .align_y(lucarne::iced::Alignment::Center);
    let rows = (0..desk.table().len()).filter_map(|index| desk.table().row(index)).enumerate().map(
        |(index, line)| {
            let cells = line
                .cells
                .iter()
                .zip(&widths)
                .map(|(value, width)| cell(value.as_str().to_owned(), *width, crate::DEFAULT_FONT));
            container(dir_row(dir, cells).height(PRINT_ROW_HEIGHT).align_y(lucarne::iced::Alignment::Center))
                .width(Fill)
                .style(move |_: &Theme| container::Style {
                    background: (index % 2 == 0).then(|| Color::from_rgb8(0xF2, 0xF4, 0xF7).into()),
                    ..container::Style::default()
                })
                .into()
        },
    );
    let body: Column<'_, Message> = Column::with_children(rows);
    column![header, body].width(Fill).into()
}
