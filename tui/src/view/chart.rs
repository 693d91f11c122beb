//! A view drawn as horizontal bars beside the table (`--chart VIEW:LABEL:VALUE`): one line per
//! row, its label, a bar as long as its value against the largest, and the value; from the right
//! in a right-to-left locale.
//!
//! ```
//! use lucarne_tui::view::chart::bar;
//!
//! assert_eq!(bar(5.0, 10.0, 4, false), "██");
//! assert_eq!(bar(1.0, 8.0, 1, false), "▏");
//! assert_eq!(bar(0.0, 8.0, 4, false), "");
//! ```

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use serde_json::Value;

use super::table::{cell_text, fit, text_width};
use crate::app::App;
use crate::bidi;

/// Eighths of a cell, left-anchored.
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// A bar for `value` against `largest` in `width` cells: in eighths of a cell, or whole cells
/// when it grows from the right (the partial blocks are drawn from the left).
pub fn bar(value: f64, largest: f64, width: u16, from_right: bool) -> String {
    if !(value > 0.0 && largest > 0.0) {
        return String::new();
    }
    let cells = (value / largest).min(1.0) * f64::from(width);
    if from_right {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 ≤ cells ≤ width")]
        let whole = cells.round().max(1.0) as usize;
        return "█".repeat(whole);
    }
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 ≤ cells ≤ width")]
    let eighths = ((cells * 8.0).round() as usize).max(1);
    let mut out = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        out.push(EIGHTHS[eighths % 8]);
    }
    out
}

/// Draws the chart into `area`.
pub fn draw(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(spec) = &app.options().chart else { return };
    let rtl = app.options().locale.is_rtl();
    let bidi = app.options().bidi;
    let rows = app.chart_rows();
    let title = format!("{} · {}", spec.view, spec.value);
    let title = bidi::cell(&fit(&title, area.width), bidi).into_owned();
    let x = if rtl { area.x + area.width.saturating_sub(text_width(&title)) } else { area.x };
    buf.set_stringn(x, area.y, title, usize::from(area.width), Style::new().bold().underlined());
    let lines: Vec<(String, f64, String)> = (0..rows.len())
        .filter_map(|i| rows.row_at(i))
        .map(|row| {
            let value = row.get(&spec.value);
            let number = value.and_then(Value::as_f64).unwrap_or(0.0);
            (cell_text(row.get(&spec.label)), number, cell_text(value))
        })
        .collect();
    let largest = lines.iter().map(|l| l.1).fold(0.0, f64::max);
    let label_width = lines.iter().map(|l| text_width(&l.0)).max().unwrap_or(0).min(16);
    let value_width = lines.iter().map(|l| text_width(&l.2)).max().unwrap_or(0).min(14);
    let room = area.width.saturating_sub(label_width + value_width + 2);
    for (i, (label, number, value)) in
        lines.iter().enumerate().take(usize::from(area.height.saturating_sub(1)))
    {
        let y = area.y + 1 + u16::try_from(i).unwrap_or(u16::MAX);
        let label = bidi::cell(&fit(label, label_width), bidi).into_owned();
        let value = fit(value, value_width);
        let drawn = bar(*number, largest, room, rtl);
        let bar_width = text_width(&drawn);
        let green = Style::new().fg(Color::Green);
        if rtl {
            // Label at the right edge, the bar growing leftwards from it, the value before it.
            let label_x = area.x + area.width - text_width(&label);
            buf.set_stringn(label_x, y, &label, usize::from(label_width), Style::new());
            let bar_end = area.x + area.width - label_width - 1;
            buf.set_stringn(bar_end - bar_width, y, &drawn, usize::from(room), green);
            let value_x = (bar_end - bar_width).saturating_sub(text_width(&value) + 1).max(area.x);
            buf.set_stringn(value_x, y, &value, usize::from(value_width), Style::new());
        } else {
            buf.set_stringn(area.x, y, &label, usize::from(label_width), Style::new());
            let bar_x = area.x + label_width + 1;
            buf.set_stringn(bar_x, y, &drawn, usize::from(room), green);
            buf.set_stringn(bar_x + bar_width + 1, y, &value, usize::from(value_width), Style::new());
        }
    }
}
