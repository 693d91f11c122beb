//! The open view as a table: only the rows on screen are laid out, each column as wide as its
//! header and the cells on screen (at most [`MAX_WIDTH`]), the columns scrolled so that the
//! selected one shows, mirrored in a right-to-left locale.
//!
//! ```
//! use lucarne_tui::view::table::fit;
//!
//! assert_eq!(fit("pb25686r2134-100", 8), "pb25686…");
//! assert_eq!(fit("日本語", 5), "日本…");
//! ```

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::app::{App, Mode};
use crate::bidi;

/// The widest a column is laid out (its whole value is in the row detail).
pub const MAX_WIDTH: u16 = 32;

/// One column on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Its place among the rows' columns.
    pub index: usize,
    /// Its left edge.
    pub x: u16,
    /// Its width.
    pub width: u16,
}

impl Placed {
    /// True when screen column `x` is in it.
    pub fn contains(&self, x: u16) -> bool {
        x >= self.x && x < self.x + self.width
    }
}

/// The columns on a screen `width` wide: from the first that lets the selected one show, one
/// space between, mirrored in a right-to-left locale.
pub fn layout(app: &App, width: u16) -> Vec<Placed> {
    let rows = app.rows();
    let names = rows.columns();
    let shown = app.top()..(app.top() + app.page()).min(app.len());
    let widths: Vec<u16> = names
        .iter()
        .map(|name| {
            let cells =
                shown.clone().filter_map(|i| app.shown_row(i)).map(|r| text_width(&cell_text(r.get(name))));
            let widest = cells.fold(text_width(name) + 2, u16::max);
            widest.clamp(3, MAX_WIDTH)
        })
        .collect();
    // Scroll the columns: start at the first one from which the selected one fits.
    let mut first = 0;
    while first < app.column() {
        let span: u16 =
            widths[first..=app.column().min(widths.len().saturating_sub(1))].iter().map(|w| w + 1).sum();
        if span <= width {
            break;
        }
        first += 1;
    }
    let mut placed = Vec::new();
    let mut x = 0u16;
    for (index, w) in widths.iter().enumerate().skip(first) {
        if x >= width {
            break;
        }
        let w = (*w).min(width - x);
        placed.push(Placed { index, x, width: w });
        x = x.saturating_add(w + 1);
    }
    if app.options().locale.is_rtl() {
        for p in &mut placed {
            p.x = width - p.x - p.width;
        }
    }
    placed
}

/// Draws the table (header and the rows on screen) into `area`.
pub fn draw(app: &App, area: Rect, buf: &mut Buffer) {
    let rows = app.rows();
    let names = rows.columns();
    let placed = layout(app, area.width);
    let bidi = app.options().bidi;
    let sort = rows.sort_order().first();
    let header_style = Style::new().add_modifier(Modifier::BOLD).reversed();
    buf.set_style(Rect { height: 1, ..area }, header_style);
    for p in &placed {
        let name = &names[p.index];
        let arrow = match sort {
            Some((c, false)) if c == name => " ↑",
            Some((c, true)) if c == name => " ↓",
            _ => "",
        };
        let style = if p.index == app.column() { header_style.underlined() } else { header_style };
        put(buf, area.x + p.x, area.y, p.width, &format!("{name}{arrow}"), style, bidi, false);
    }
    let browsing = matches!(app.mode(), Mode::Browse | Mode::Detail);
    for (line, index) in (app.top()..app.len()).take(usize::from(area.height.saturating_sub(1))).enumerate() {
        // A row of a window not held yet stays blank until its window comes.
        let (Some(key), Some(row)) = (app.key_at(index), app.shown_row(index)) else { continue };
        let y = area.y + 1 + u16::try_from(line).unwrap_or(u16::MAX);
        let mut style = Style::new();
        // A row with an action on its way: shown as it will be, in italics until the rows hold it.
        if app.is_pending(key) {
            style = style.italic().dim();
        }
        if index == app.selected() && browsing {
            style = style.reversed();
            buf.set_style(Rect { y, height: 1, ..area }, style);
        }
        for p in &placed {
            let value = row.get(&names[p.index]);
            let end = matches!(value, Some(Value::Number(_)));
            put(buf, area.x + p.x, y, p.width, &cell_text(value), style, bidi, end);
        }
    }
}

/// Writes one cell: cut to its width, in visual order, against its end when it is a number or
/// reads right to left.
#[expect(clippy::too_many_arguments, reason = "one cell's place, text and look")]
fn put(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style, bidi: bidi::Bidi, end: bool) {
    let cut = fit(text, width);
    let shown = bidi::cell(&cut, bidi);
    let w = text_width(&shown);
    let x = if end || bidi::reads_rtl(text) { x + width.saturating_sub(w) } else { x };
    buf.set_stringn(x, y, shown, usize::from(width), style);
}

/// A value as a cell shows it: text as it is, null as nothing, anything else as JSON.
pub fn cell_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Columns a text takes on a terminal: each grapheme in its own cells, wide ones in two (as
/// ratatui's buffer puts them; a whole string's width would count a lam-alef pair as one).
pub fn text_width(text: &str) -> u16 {
    let width: usize = text.graphemes(true).map(UnicodeWidthStr::width).sum();
    u16::try_from(width).unwrap_or(u16::MAX)
}

/// `text` cut to `width` columns with an ellipsis at its (logical) end when it is longer.
pub fn fit(text: &str, width: u16) -> String {
    if text_width(text) <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = u16::try_from(c.width().unwrap_or(0)).unwrap_or(2);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}
