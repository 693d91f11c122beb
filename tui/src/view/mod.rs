//! The screen drawn from the state: a title line with the connection, the live query, the body
//! (the views, or the open view as a table with the selected row's detail beside it), the notice
//! line and the keys.
//!
//! ```
//! use lucarne_tui::app::{App, Options};
//! use ratatui::{Terminal, backend::TestBackend};
//!
//! let app = App::new(Options::default(), (60, 8));
//! let mut terminal = Terminal::new(TestBackend::new(60, 8)).expect("a test terminal");
//! terminal.draw(|frame| lucarne_tui::view::view(&app, frame)).expect("drawn");
//! assert!(format!("{:?}", terminal.backend().buffer()).contains("Views"));
//! ```

pub mod chart;
pub mod table;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};

use lucarne_runtime::Query;

use self::table::{cell_text, fit, text_width};
use crate::app::{App, Field, Link, Mode, Notice, Screen, seconds_left};
use crate::bidi;
use crate::locale::{Label, Locale};

/// Draws the whole screen.
pub fn view(app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    let buf = frame.buffer_mut();
    let [title, bar, body, notice, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let locale = app.options().locale;
    title_line(app, title, buf);
    match app.screen() {
        Screen::Views => views(app, body, buf),
        Screen::Table => {
            query_bar(app, bar, buf);
            match app.mode() {
                Mode::Detail if body.width >= 40 => {
                    let (table, detail_area) = split(body, 60, locale.is_rtl());
                    table::draw(app, table, buf);
                    detail(app, detail_area, buf);
                }
                Mode::Detail => detail(app, body, buf),
                // The chart beside the table when there is room for both.
                _ if app.options().chart.is_some() && body.width >= 90 => {
                    let (table, chart_area) = split(body, 65, locale.is_rtl());
                    table::draw(app, table, buf);
                    let gap =
                        Rect { x: chart_area.x + 1, width: chart_area.width.saturating_sub(2), ..chart_area };
                    chart::draw(app, gap, buf);
                }
                _ => table::draw(app, body, buf),
            }
        }
    }
    notice_line(app, notice, buf);
    let help = match (app.screen(), app.mode()) {
        (_, Mode::Query { .. } | Mode::Command(_)) => locale.text(Label::EditKeys),
        (Screen::Views, _) => locale.text(Label::ListKeys),
        (Screen::Table, _) => locale.text(Label::TableKeys),
    };
    line(buf, keys, help, Style::new().dim(), app);
}

/// Where the table is on a screen of the app's size (the chart or the detail may share the
/// body with it): what a mouse click is measured against.
pub fn table_area(app: &App) -> Rect {
    let (width, height) = app.size();
    let body = Rect::new(0, 2, width, height.saturating_sub(4));
    let shared = match app.mode() {
        Mode::Detail => body.width >= 40,
        _ => app.options().chart.is_some() && body.width >= 90,
    };
    if !shared {
        return body;
    }
    let percent = if matches!(app.mode(), Mode::Detail) { 60 } else { 65 };
    split(body, percent, app.options().locale.is_rtl()).0
}

/// The body shared by the table (`percent` of it, at the start: the right in a right-to-left
/// locale) and another pane: (the table's area, the other's).
fn split(body: Rect, percent: u16, rtl: bool) -> (Rect, Rect) {
    let (table, other) = (Constraint::Percentage(percent), Constraint::Percentage(100 - percent));
    if rtl {
        let [other, table] = Layout::horizontal([other, table]).areas(body);
        (table, other)
    } else {
        let [table, other] = Layout::horizontal([table, other]).areas(body);
        (table, other)
    }
}

/// Writes a line of chrome from the start of `area` (its right edge in a right-to-left locale).
fn line(buf: &mut Buffer, area: Rect, text: &str, style: Style, app: &App) {
    let shown = fit(text, area.width);
    let shown = bidi::cell(&shown, app.options().bidi);
    let x = if app.options().locale.is_rtl() {
        area.x + area.width.saturating_sub(text_width(&shown))
    } else {
        area.x
    };
    buf.set_stringn(x, area.y, shown, usize::from(area.width), style);
}

fn title_line(app: &App, area: Rect, buf: &mut Buffer) {
    let locale = app.options().locale;
    buf.set_style(area, Style::new().reversed());
    let title = match (app.screen(), app.query()) {
        (Screen::Table, Some(query)) => {
            format!(
                "lucarne · {} · {} {}",
                query.view,
                locale.number(app.len() as u64),
                locale.text(Label::Rows)
            )
        }
        _ => format!("lucarne · {}", locale.text(Label::Views)),
    };
    line(buf, area, &title, Style::new().reversed().bold(), app);
    let (badge, color) = badge(app.link(), app, locale);
    let shown = bidi::cell(&badge, app.options().bidi).into_owned();
    let width = text_width(&shown).min(area.width);
    // The badge sits at the line's end: the right in English, the left in Arabic and Hebrew.
    let x = if locale.is_rtl() { area.x } else { area.x + area.width - width };
    buf.set_stringn(x, area.y, shown, usize::from(width), Style::new().bg(color).fg(Color::Black).bold());
}

/// The connection badge's words and colour.
pub fn badge(link: &Link, app: &App, locale: Locale) -> (String, Color) {
    match link {
        Link::Connecting => (format!(" ◌ {} ", locale.text(Label::Connecting)), Color::Yellow),
        Link::Live => (format!(" ● {} ", locale.text(Label::Live)), Color::Green),
        Link::Resyncing => (format!(" ⟳ {} ", locale.text(Label::Resyncing)), Color::Yellow),
        Link::Offline { retry_at, .. } => {
            let left = locale.number(seconds_left(*retry_at, app.now()));
            (
                format!(" ✕ {} · {} {left} s ", locale.text(Label::Offline), locale.text(Label::RetryIn)),
                Color::Red,
            )
        }
    }
}

fn query_bar(app: &App, area: Rect, buf: &mut Buffer) {
    let locale = app.options().locale;
    let texts = |q: Option<&Query>| {
        [
            q.and_then(|q| q.filter.clone()).unwrap_or_default(),
            q.and_then(|q| q.order_by.clone()).unwrap_or_default(),
            q.and_then(|q| q.limit).map(|l| l.to_string()).unwrap_or_default(),
        ]
    };
    // Typing: the fields as typed; after a refusal: the query refused, the character the server
    // pointed at marked; else the query watched.
    let (texts, focus, mark) = match (app.mode(), app.notice()) {
        (Mode::Query { fields, focus }, _) => {
            let mut texts = fields.clone().map(|f| f.value().to_owned());
            // The caret where it is in the field typed into.
            let typed = &fields[*focus as usize];
            texts[*focus as usize].insert(typed.caret(), '▏');
            (texts, Some(*focus), None)
        }
        (_, Some(Notice::BadQuery { field, column, tried, .. })) => {
            (texts(Some(tried)), None, column.map(|c| (*field, c)))
        }
        _ => (texts(app.query()), None, None),
    };
    let labels = [Label::Where, Label::OrderBy, Label::Limit];
    let fields = [Field::Where, Field::OrderBy, Field::Limit];
    let mut text = String::new();
    let mut marked = None;
    for ((label, value), field) in labels.iter().zip(&texts).zip(fields) {
        if !text.is_empty() {
            text.push_str("   ");
        }
        text.push_str(locale.text(*label));
        text.push_str(": ");
        if let Some((_, column)) = mark.filter(|(f, _)| *f == field) {
            let before: String = value.chars().take(column).collect();
            marked = Some(text_width(&text) + text_width(&before));
        }
        text.push_str(value);
    }
    let style = if focus.is_some() { Style::new().fg(Color::Cyan) } else { Style::new() };
    line(buf, area, &text, style, app);
    if let (Some(x), false) = (marked, locale.is_rtl())
        && x < area.width
    {
        let at = Rect { x: area.x + x, width: 1, ..area };
        buf.set_style(at, Style::new().fg(Color::White).bg(Color::Red).bold());
    }
}

fn views(app: &App, area: Rect, buf: &mut Buffer) {
    let locale = app.options().locale;
    for (i, view) in app.views().iter().enumerate().take(usize::from(area.height)) {
        let y = area.y + u16::try_from(i).unwrap_or(u16::MAX);
        let sql = view.sql.split_whitespace().collect::<Vec<_>>().join(" ");
        // The choice is marked by a sign too, not only by colour (NO_COLOR, monochrome terminals).
        let mark = if i == app.view_selected() { "›" } else { " " };
        let text = format!(
            "{mark} {}  ({} {})  {sql}",
            view.name,
            locale.number(view.rows),
            locale.text(Label::Rows)
        );
        let style = if i == app.view_selected() { Style::new().reversed() } else { Style::new() };
        if i == app.view_selected() {
            buf.set_style(Rect { y, height: 1, ..area }, style);
        }
        line(buf, Rect { y, height: 1, ..area }, &text, style, app);
    }
}

fn detail(app: &App, area: Rect, buf: &mut Buffer) {
    let rows = app.rows();
    let Some(row) = app.shown_row(app.selected()) else { return };
    let locale = app.options().locale;
    line(buf, Rect { height: 1, ..area }, locale.text(Label::Detail), Style::new().bold().underlined(), app);
    let names = rows.columns();
    let label_width = names.iter().map(|n| text_width(n)).max().unwrap_or(0).min(area.width / 2);
    let mut y = area.y + 1;
    for name in names {
        if y >= area.y + area.height {
            break;
        }
        let value = cell_text(row.get(name));
        // The whole value, wrapped over as many lines as it needs.
        let room = area.width.saturating_sub(label_width + 2).max(1);
        let mut rest = value.as_str();
        let mut first = true;
        loop {
            let piece = take_width(rest, room);
            let label = if first { name.as_str() } else { "" };
            let text = format!(
                "{:<w$}  {}",
                label,
                bidi::cell(piece, app.options().bidi),
                w = usize::from(label_width)
            );
            line(buf, Rect { y, height: 1, ..area }, &text, Style::new(), app);
            y += 1;
            rest = &rest[piece.len()..];
            first = false;
            if rest.is_empty() || y >= area.y + area.height {
                break;
            }
        }
    }
}

/// The longest start of `text` that fits `width` columns (at least one character).
fn take_width(text: &str, width: u16) -> &str {
    let mut used = 0u16;
    for (at, c) in text.char_indices() {
        let w = u16::try_from(unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)).unwrap_or(2);
        if used + w > width && at > 0 {
            return &text[..at];
        }
        used += w;
    }
    text
}

fn notice_line(app: &App, area: Rect, buf: &mut Buffer) {
    let locale = app.options().locale;
    let Some(notice) = app.notice() else { return };
    let (text, color) = match notice {
        Notice::Sending { command } => {
            (format!("{command}: {}…", locale.text(Label::Sending)), Color::Yellow)
        }
        Notice::Accepted { command, position } => {
            let at = position
                .map(|p| format!(" {} {}", locale.text(Label::At), locale.number(p)))
                .unwrap_or_default();
            (format!("{command}: {}{at}", locale.text(Label::Accepted)), Color::Green)
        }
        Notice::Rejected { command, code, message } => {
            (format!("{command}: {} ({code}) {message}", locale.text(Label::Rejected)), Color::Red)
        }
        Notice::BadQuery { field, column, message, .. } => {
            let label = match field {
                Field::Where => Label::Where,
                Field::OrderBy => Label::OrderBy,
                Field::Limit => Label::Limit,
            };
            let at = column.map(|c| format!(" ^{}", locale.number(c as u64 + 1))).unwrap_or_default();
            (format!("{}{at}: {message}", locale.text(label)), Color::Red)
        }
        Notice::Error(message) => (message.clone(), Color::Red),
    };
    let text = match app.mode() {
        Mode::Command(input) => format!("{}: {}▏", locale.text(Label::Command), input.value()),
        _ => text,
    };
    line(buf, area, &text, Style::new().fg(color), app);
}

#[cfg(test)]
mod tests;
