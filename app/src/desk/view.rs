//! The main screen, laid out in the desk's language: header, filter bar, notice, the orders
//! table beside the sales summary, and the status line.

use lucarne::iced::widget::{button, column, container, responsive, scrollable, space};
use lucarne::iced::{Alignment, Element, Fill, Length};
use lucarne::widgets::{
    Align, BidiText, Column, Direction, bidi_input, bidi_text, connection_status, dir_row, live_table,
};

use super::{Desk, Message, Region, Screen};
use crate::chart::{Chart, chart};
use crate::i18n::{Arg, Locale, strip_isolates};

/// A message whose arguments are only numbers, without Fluent's isolates: digits need no
/// isolating, and window titles and status lines stay plain text for tools and tests.
pub(super) fn plain(text: String) -> String {
    strip_isolates(&text)
}

/// The word for an order's status in `locale` (an unknown status is shown as the server sent it).
pub(super) fn status_label(locale: Locale, status: &str) -> String {
    match status {
        "placed" | "paid" | "shipped" | "cancelled" => locale.tr(&format!("status-{status}")),
        other => other.to_owned(),
    }
}

/// The side where lines start (`start`) or end in a layout of direction `direction`, as an
/// absolute alignment: data (names, numbers) sits at the layout's start or end whatever its
/// own script, as in a mirrored table.
fn side(direction: Direction, align: Align) -> Align {
    match align.resolve(direction) {
        lucarne::iced::alignment::Horizontal::Left => Align::Left,
        lucarne::iced::alignment::Horizontal::Center => Align::Center,
        lucarne::iced::alignment::Horizontal::Right => Align::Right,
    }
}

/// A column of the order table: its title's message, its width in pixels (`None`: fills), the
/// narrowest it gets in a narrow window, numbers (aligned to the end: the right, or the left in
/// a right-to-left layout).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ColumnSpec {
    pub title: &'static str,
    pub width: Option<f32>,
    pub min: f32,
    pub right: bool,
}

/// The orders view's columns, on screen and on paper; the last one holds the actions.
pub(crate) const COLUMNS: [ColumnSpec; 7] = [
    ColumnSpec { title: "column-order", width: Some(80.0), min: 60.0, right: false },
    ColumnSpec { title: "column-customer", width: None, min: 80.0, right: false },
    ColumnSpec { title: "column-region", width: Some(70.0), min: 56.0, right: false },
    ColumnSpec { title: "column-total", width: Some(90.0), min: 64.0, right: true },
    ColumnSpec { title: "column-status", width: Some(130.0), min: 80.0, right: false },
    ColumnSpec { title: "column-updated", width: Some(100.0), min: 76.0, right: true },
    // Three buttons that stay wide enough to read and to hit.
    ColumnSpec { title: "column-actions", width: Some(200.0), min: 168.0, right: false },
];

fn columns(locale: Locale) -> Vec<Column> {
    COLUMNS
        .iter()
        .map(|spec| {
            let column = Column::new(locale.tr(spec.title))
                .width(spec.width.map_or(Length::Fill, Length::Fixed))
                .min_width(spec.min)
                // The actions are buttons, not values: nothing to sort by.
                .sortable(spec.title != "column-actions");
            if spec.right { column.align_right() } else { column }
        })
        .collect()
}

/// A button exporting `screen` as PDF (a file natively; a download in the browser).
fn export_button<'a>(label: String, screen: Screen) -> Element<'a, Message> {
    button(bidi_text(label)).on_press(Message::Export(screen)).style(outlined).into()
}

/// The language switch: one button per locale, named in its own language (ids `locale-en`,
/// `locale-ar`, `locale-he`); the current one is highlighted.
fn locale_switch<'a>(current: Locale) -> Element<'a, Message> {
    dir_row(
        current.direction(),
        Locale::ALL.map(|locale| {
            let style = if locale == current { button::primary } else { button::text };
            container(
                button(bidi_text(locale.tr("locale-name"))).on_press(Message::Locale(locale)).style(style),
            )
            .id(format!("locale-{}", locale.code()))
            .into()
        }),
    )
    .spacing(2)
    .into()
}

/// The main screen, laid out in the desk's language: in Arabic and Hebrew every row runs from
/// right to left (header, filter, table and summary), texts start on the right and numbers end
/// on the left.
pub fn view(desk: &Desk) -> Element<'_, Message> {
    let dir = desk.locale.direction();
    let mut screen = column![header(desk), filter_bar(desk)].spacing(10).padding(12);
    if let Some(bar) = super::search::search_bar(desk) {
        screen = screen.push(bar);
    }
    // The summary beside the table where there is room for both, else below it.
    let body = responsive(move |size| {
        let table = live_table(columns(desk.locale), &desk.table)
            .id("orders")
            .direction(dir)
            .selected(desk.selected.as_deref())
            .on_sort(Message::Sort)
            .on_select(|key| Message::Select(key.to_owned()))
            .on_action(|key, action| Message::Act(key.to_owned(), action));
        let table = container(table).width(Fill).height(Fill).into();
        if size.width >= WIDE {
            dir_row(dir, [table, summary(desk, Placement::Beside)]).spacing(12).into()
        } else {
            column![table, summary(desk, Placement::Below)].spacing(12).into()
        }
    });
    // The notice goes below the table: appearing or going, it never moves the rows under the
    // pointer.
    screen = screen.push(body);
    if let Some(notice) = notice(desk) {
        screen = screen.push(notice);
    }
    screen.push(status_line(desk)).into()
}

/// The narrowest the orders table and the summary fit side by side in: every column of the
/// table at its width, the customer at its minimum, and the summary.
const WIDE: f32 = 1030.0;

/// Where the summary goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// A column beside the table.
    Beside,
    /// A band below the table: the chart, and the lines beside it.
    Below,
}

/// A string of the interface in the desk's language: a paragraph of the layout's direction.
fn ui<'a>(locale: Locale, key: &str) -> BidiText<'a, lucarne::iced::Renderer> {
    bidi_text(locale.tr(key)).direction(locale.direction())
}

/// The title, the language switch, Export PDF and the connection badge.
fn header(desk: &Desk) -> Element<'_, Message> {
    let locale = desk.locale;
    let dir = locale.direction();
    dir_row(
        dir,
        [
            ui(locale, "app-title").size(22).id("title").into(),
            space::horizontal().into(),
            locale_switch(locale),
            export_button(locale.tr("export-pdf"), Screen::Main),
            connection_status(&desk.connection)
                .labels(move |connection, now| locale.connection_label(connection, now))
                .direction(dir)
                .id("connection")
                .into(),
        ],
    )
    .spacing(8)
    .align_y(Alignment::Center)
    .into()
}

/// The filter box (a live query), Apply, Export orders, and Notify me (in the browser, when the
/// server sends Web Push).
fn filter_bar(desk: &Desk) -> Element<'_, Message> {
    let locale = desk.locale;
    let dir = locale.direction();
    let mut items = vec![
        bidi_input(&locale.tr("filter-placeholder"), &desk.filter)
            .id("filter")
            .direction(dir)
            .on_input(Message::FilterChanged)
            .on_submit(Message::ApplyFilter)
            .into(),
        button(ui(locale, "apply")).on_press(Message::ApplyFilter).into(),
        export_button(locale.tr("export-orders"), Screen::Orders),
    ];
    if desk.offers_notifications() {
        items.push(
            container(button(ui(locale, "notify-me")).on_press(Message::NotifyMe).style(outlined))
                .id("notify-me")
                .into(),
        );
    }
    dir_row(dir, items).spacing(8).into()
}

/// The notice, if there is one, with its Dismiss button.
fn notice(desk: &Desk) -> Option<Element<'_, Message>> {
    let locale = desk.locale;
    let dir = locale.direction();
    let notice = desk.notice.as_ref()?;
    let line = dir_row(
        dir,
        [
            bidi_text(notice.text(locale)).direction(dir).width(Fill).into(),
            button(ui(locale, "dismiss")).on_press(Message::Dismiss).into(),
        ],
    )
    .spacing(8)
    .align_y(Alignment::Center);
    Some(container(line).padding(8).style(container::rounded_box).into())
}

/// Sales by region: a bar chart, then one line per region (largest revenue first).
fn summary(desk: &Desk, placement: Placement) -> Element<'_, Message> {
    let locale = desk.locale;
    let dir = locale.direction();
    let (start, end) = (side(dir, Align::Start), side(dir, Align::End));
    let mut regions: Vec<&Region> = desk.regions.iter().map(|(_, r)| r).collect();
    regions.sort_by(|a, b| b.revenue.total_cmp(&a.revenue).then_with(|| a.region.cmp(&b.region)));
    let bars: Vec<(String, f64)> = regions.iter().map(|r| (r.region.clone(), r.revenue)).collect();
    // One line of the summary: a region (at the start), its orders and revenue (at the end).
    let line = |region: String, orders: String, revenue: String| {
        let cell = |content: String, align: Align| -> BidiText<'_, lucarne::iced::Renderer> {
            bidi_text(content)
                .fallback(dir)
                .align_x(align)
                .wrapping(lucarne::iced::widget::text::Wrapping::None)
        };
        dir_row(
            dir,
            [
                cell(region, start).width(Fill).into(),
                cell(orders, end).width(50).into(),
                cell(revenue, end).width(100).into(),
            ],
        )
    };
    let lines = regions
        .iter()
        .map(|r| line(r.region.clone(), locale.number(r.orders, 0), locale.number(r.revenue, 2)).into());
    let title = ui(locale, "sales-by-region").size(18).width(Fill).id("summary-title");
    let heading =
        line(locale.tr("summary-region"), locale.tr("summary-orders"), locale.tr("summary-revenue"));
    let lines = scrollable(column(lines).spacing(4));
    match placement {
        Placement::Beside => {
            column![title, chart(Chart::new(bars).direction(dir)).width(Fill).height(140), heading, lines]
                .spacing(8)
                .width(SUMMARY_WIDTH)
                .into()
        }
        Placement::Below => dir_row(
            dir,
            [
                column![title, chart(Chart::new(bars).direction(dir)).width(Fill).height(Fill)]
                    .spacing(4)
                    .width(Fill)
                    .into(),
                column![heading, lines].spacing(8).width(Fill).into(),
            ],
        )
        .spacing(24)
        .height(170)
        .into(),
    }
}

/// The width of the summary beside the table.
const SUMMARY_WIDTH: f32 = 260.0;

/// Orders shown, commands pending and sent.
fn status_line(desk: &Desk) -> Element<'_, Message> {
    let locale = desk.locale;
    let counts = bidi_text(plain(locale.tr_args(
        "status-line",
        &[
            ("shown", Arg::from(desk.table.len())),
            ("pending", Arg::from(desk.orders.pending().count())),
            ("sent", Arg::from(desk.confirmed)),
        ],
    )))
    .direction(locale.direction())
    .size(13)
    .width(Fill)
    .id("status-line");
    match &desk.about {
        // The version at the line's end: Latin text in any locale, its own paragraph.
        Some(about) => dir_row(
            locale.direction(),
            [counts.into(), bidi_text(about.as_str()).size(13).id("about-line").into()],
        )
        .spacing(12)
        .into(),
        None => counts.into(),
    }
}

/// An outlined button: the theme's primary colour on the background, for actions beside the
/// main one (a grey button reads as disabled).
pub(crate) fn outlined(theme: &lucarne::iced::Theme, status: button::Status) -> button::Style {
    let palette = theme.extended_palette();
    let primary = palette.primary.strong;
    let border = lucarne::iced::Border { color: primary.color, width: 1.0, radius: 2.0.into() };
    let (background, text_color) = match status {
        button::Status::Active => (palette.background.base.color, palette.background.base.text),
        button::Status::Hovered | button::Status::Pressed => {
            (palette.primary.weak.color, palette.primary.weak.text)
        }
        button::Status::Disabled => (palette.background.weak.color, palette.background.strong.color),
    };
    button::Style { background: Some(background.into()), text_color, border, ..button::Style::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WCAG contrast ratio of two colours.
    fn contrast(a: lucarne::iced::Color, b: lucarne::iced::Color) -> f32 {
        let luminance = |c: lucarne::iced::Color| {
            let channel = |v: f32| if v <= 0.03928 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) };
            0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)
        };
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn the_export_buttons_look_enabled() {
        for theme in [lucarne::iced::Theme::Light, lucarne::iced::Theme::Dark] {
            let style = outlined(&theme, button::Status::Active);
            let Some(lucarne::iced::Background::Color(background)) = style.background else {
                panic!("a colour")
            };
            assert!(contrast(style.text_color, background) >= 4.5, "{theme:?}: a legible label");
            // Not the look of a disabled button.
            let disabled = outlined(&theme, button::Status::Disabled);
            assert_ne!(style.text_color, disabled.text_color);
            assert!(style.border.width > 0.0, "{theme:?}: outlined");
        }
    }
}
