//! A table for paper: every row, each column given a share of the width in proportion to its
//! longest text, a value too long for its share wrapped onto more lines (never cut), numbers
//! against the end, the columns in the layout's direction. Its header row has a fixed height,
//! [`PrintTable::header_height`], for a PDF to repeat it at the top of every page
//! (`lucarne_pdf::PdfOptions::repeat_top`).
//!
//! ```
//! use lucarne_widgets::print_table::{PrintColumn, print_table};
//! use lucarne_widgets::Direction;
//!
//! let rows = vec![vec!["pb25686r2134-100".to_owned(), "Quentin".to_owned(), "42.50".to_owned()]];
//! let table = print_table(
//!     vec![PrintColumn::text("Order"), PrintColumn::text("Customer"), PrintColumn::number("Total")],
//!     rows,
//! )
//! .direction(Direction::Ltr);
//! assert_eq!(table.header_height(), 28.0);
//! let element: iced_core::Element<'_, (), iced_core::Theme, iced_widget::Renderer> = table.into();
//! # let _ = element;
//! ```

use iced_core::alignment::Vertical;
use iced_core::text::Wrapping;
use iced_core::{Background, Color, Element, Font, Length, Pixels, text};
use iced_widget::{Column, container};

use crate::bidi_text;
use crate::direction::{Align, Direction, dir_row};
use crate::shaping::Shaped;

/// A character's width in ems, on average (bold Latin text is about 0.6 em; the plan only has
/// to be near: a cell wraps whatever it cannot hold).
const CHAR_EM: f32 = 0.62;

/// A cell's padding on each side, in logical pixels.
const PAD: f32 = 6.0;

/// The smallest text a table shrinks to, in logical pixels.
const MIN_SIZE: f32 = 7.0;

/// A column of a [`PrintTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintColumn {
    /// Its title, in the header row.
    pub title: String,
    /// Numbers: aligned to the end of the cell.
    pub numeric: bool,
}

impl PrintColumn {
    /// A column of text, aligned to the start.
    pub fn text(title: impl Into<String>) -> Self {
        PrintColumn { title: title.into(), numeric: false }
    }

    /// A column of numbers, aligned to the end.
    pub fn number(title: impl Into<String>) -> Self {
        PrintColumn { title: title.into(), numeric: true }
    }
}

/// A table for paper (see the module docs).
#[derive(Debug, Clone)]
pub struct PrintTable {
    columns: Vec<PrintColumn>,
    rows: Vec<Vec<String>>,
    direction: Direction,
    size: f32,
    font: Font,
    header_font: Font,
    stripes: Option<Color>,
    width: f32,
}

/// A table of `rows` (one text per column each) under `columns`.
pub fn print_table(columns: Vec<PrintColumn>, rows: Vec<Vec<String>>) -> PrintTable {
    PrintTable {
        columns,
        rows,
        direction: Direction::Ltr,
        size: 13.0,
        font: Font::DEFAULT,
        header_font: Font { weight: iced_core::font::Weight::Bold, ..Font::DEFAULT },
        stripes: Some(Color::from_rgb8(0xF2, 0xF4, 0xF7)),
        width: 697.0,
    }
}

impl PrintTable {
    /// The layout's direction: in [`Direction::Rtl`] the first column is on the right, texts
    /// start on the right and numbers end on the left.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Text size of the cells, in logical pixels (13 by default).
    pub fn text_size(mut self, size: impl Into<Pixels>) -> Self {
        self.size = size.into().0;
        self
    }

    /// The cells' font (the header's is its bold).
    pub fn font(mut self, font: Font) -> Self {
        self.font = font;
        self.header_font = Font { weight: iced_core::font::Weight::Bold, ..font };
        self
    }

    /// The background of every other row (`None`: none).
    pub fn stripes(mut self, color: Option<Color>) -> Self {
        self.stripes = color;
        self
    }

    /// The width the table is laid out in, in logical pixels (697 by default: an A4 portrait
    /// page's content box with 36 pt margins), from which the columns' widths are planned.
    pub fn available_width(mut self, width: f32) -> Self {
        if width.is_finite() && width > 0.0 {
            self.width = width;
        }
        self
    }

    /// The header row's height in logical pixels.
    pub fn header_height(&self) -> f32 {
        (self.size * 2.0 + 2.0).round()
    }

    /// How the width is shared and at what size the text is drawn: each column as wide as its
    /// longest text when all fit; else each as wide as its longest word (which is never broken),
    /// the rest of the width shared by how much longer their texts are (those wrap at spaces);
    /// when even the longest words do not fit, the text shrinks until they do (not below 7 px;
    /// past that, words break).
    pub fn plan(&self) -> (Vec<u16>, f32) {
        let texts = |i: usize| {
            let title = self.columns.get(i).map(|c| c.title.as_str());
            self.rows.iter().filter_map(move |row| row.get(i).map(String::as_str)).chain(title)
        };
        let chars = |t: &str| t.chars().count() as f32;
        let (mut word, mut whole) = (Vec::new(), Vec::new());
        for i in 0..self.columns.len() {
            word.push(texts(i).flat_map(str::split_whitespace).map(chars).fold(1.0, f32::max));
            whole.push(texts(i).map(chars).fold(1.0, f32::max));
        }
        let n = self.columns.len() as f32;
        let size = self.size;
        let room = |size: f32| (self.width - n * 2.0 * PAD) / (size * CHAR_EM);
        let (need, want): (f32, f32) = (word.iter().sum(), whole.iter().sum());
        let (widths, size) = if want <= room(size) {
            (whole, size)
        } else if need <= room(size) {
            // Every word whole; what is left goes to the columns whose texts wrap.
            let extra = room(size) - need;
            let longer: f32 = whole.iter().zip(&word).map(|(w, m)| w - m).sum();
            let widths =
                whole.iter().zip(&word).map(|(w, m)| m + extra * (w - m) / longer.max(1.0)).collect();
            (widths, size)
        } else {
            let shrunk = (size * room(size) / need).max(MIN_SIZE);
            (word, shrunk)
        };
        // Shares in tenths of a character, the padding included.
        let shares = widths
            .iter()
            .map(|w| {
                let tenths = ((w + 2.0 * PAD / (size * CHAR_EM)) * 10.0).round();
                #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to u16")]
                let share = tenths.clamp(1.0, f32::from(u16::MAX)) as u16;
                share
            })
            .collect();
        (shares, size)
    }
}

impl<'a, Message, Theme, Renderer> From<PrintTable> for Element<'a, Message, Theme, Renderer>
where
    Message: 'a,
    Theme: container::Catalog + 'a,
    <Theme as container::Catalog>::Class<'a>: From<container::StyleFn<'a, Theme>>,
    Renderer: text::Renderer<Font = Font> + 'a,
    Renderer::Paragraph: Shaped,
{
    fn from(table: PrintTable) -> Self {
        let dir = table.direction;
        // Absolute sides: a cell's text sits at the layout's start (numbers: its end) whatever
        // its own script; each paragraph keeps its own direction for the order of its runs.
        let (start, end) =
            if dir.is_rtl() { (Align::Right, Align::Left) } else { (Align::Left, Align::Right) };
        let (shares, size) = table.plan();
        let cell = |value: String,
                    share: u16,
                    numeric: bool,
                    font: Font|
         -> Element<'a, Message, Theme, Renderer> {
            let content = bidi_text(value)
                .size(size)
                .font(font)
                .fallback(dir)
                // Never cut: a value longer than its share goes on over more lines.
                .wrapping(Wrapping::WordOrGlyph)
                .align_x(if numeric { end } else { start })
                .align_y(Vertical::Center);
            container(content.width(Length::Fill)).width(Length::FillPortion(share)).padding([3, 6]).into()
        };
        let header =
            dir_row(
                dir,
                table.columns.iter().zip(&shares).map(|(column, share)| {
                    cell(column.title.clone(), *share, column.numeric, table.header_font)
                }),
            )
            .height(Length::Fixed(table.header_height()))
            .align_y(iced_core::Alignment::Center);
        let stripes = table.stripes;
        let columns = table.columns;
        let font = table.font;
        let rows = table.rows.into_iter().enumerate().map(|(index, row)| {
            let cells = row
                .into_iter()
                .zip(shares.iter().zip(&columns))
                .map(|(value, (share, column))| cell(value, *share, column.numeric, font));
            let striped = stripes.filter(|_| index % 2 == 0);
            container(dir_row(dir, cells).align_y(iced_core::Alignment::Center))
                .width(Length::Fill)
                .style(move |_: &Theme| container::Style {
                    background: striped.map(Background::from),
                    ..container::Style::default()
                })
                .into()
        });
        Column::new().push(header).push(Column::with_children(rows)).width(Length::Fill).into()
    }
}
