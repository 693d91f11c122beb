//! The live table as drawn, headless on tiny-skia with the bundled fonts: what shows of a sorted
//! header, of rows scrolled half out of view, and of action buttons over a changed row's glow.
//!
//! Each test re-runs itself in a child process with `ICED_TEST_BACKEND=tiny-skia` unless that is
//! already set.

use iced::mouse;
use iced::widget::column;
use iced::{Color, Element, Event, Padding, Point, Rectangle, Size, Theme};
use iced_runtime::user_interface::{self, UserInterface};
use iced_test::{Error, Simulator};
use lucarne_testing::ui::{Pixels, dark, settings, tiny_skia};
use lucarne_widgets::{Cell, Column, Direction, Sort, TableRows, live_table};

#[derive(Debug, Clone, PartialEq)]
enum Message {
    Sort(usize),
}

const SIZE: (f32, f32) = (600.0, 200.0);
/// The table's top-left corner on the screen.
const AT: Point = Point::new(20.0, 20.0);
const ROW: f32 = 28.0;

/// A screen with one table of `rows` under `columns`, `width` × `height` at [`AT`].
fn screen<'a>(
    columns: Vec<Column>,
    rows: &'a TableRows,
    direction: Direction,
    (width, height): (f32, f32),
) -> Element<'a, Message> {
    let table =
        live_table(columns, rows).direction(direction).width(width).height(height).on_sort(Message::Sort);
    column![table].padding(Padding { left: AT.x, top: AT.y, right: 0.0, bottom: 0.0 }).into()
}

/// Whether a pixel is `color`, each channel within `tolerance` (of 1).
fn near(color: Color, tolerance: f32) -> impl Fn([u8; 3]) -> bool {
    move |rgb| {
        let [pr, pg, pb] = rgb.map(|c| f32::from(c) / 255.0);
        (pr - color.r).abs() < tolerance
            && (pg - color.g).abs() < tolerance
            && (pb - color.b).abs() < tolerance
    }
}

/// Whether a pixel is the default style's action button colour (the theme's primary).
fn action_blue(rgb: [u8; 3]) -> bool {
    near(Theme::Light.extended_palette().primary.base.color, 0.05)(rgb)
}

/// The header's ink (left, right) in the column `left..right`, for `title` sorted or not.
fn header_ink(
    title: &str,
    direction: Direction,
    sorted: Option<bool>,
) -> Result<(Pixels, (f32, f32)), Error> {
    let mut rows = TableRows::new();
    rows.upsert_quiet("r1", vec![Cell::text("eu"), Cell::text("x")]);
    if let Some(descending) = sorted {
        rows.set_sort(Some(Sort { column: 0, descending }));
    }
    let columns = vec![Column::new(title).width(80.0), Column::new("Other")];
    let mut ui = Simulator::with_size(settings(), SIZE, screen(columns, &rows, direction, (400.0, 100.0)));
    let pixels = Pixels::of(&ui.snapshot(&Theme::Light)?);
    let (left, right) = match direction {
        Direction::Ltr => (AT.x, AT.x + 80.0),
        Direction::Rtl => (AT.x + 400.0 - 8.0 - 80.0, AT.x + 400.0 - 8.0),
    };
    let ink = pixels.extent_in(left, right, AT.y + 2.0, AT.y + ROW - 2.0, dark).expect("the header's title");
    Ok((pixels, ink))
}

#[test]
fn a_sorted_header_keeps_its_whole_title_and_draws_its_arrow_after_it() -> Result<(), Error> {
    if !tiny_skia("a_sorted_header_keeps_its_whole_title_and_draws_its_arrow_after_it") {
        return Ok(());
    }
    for direction in [Direction::Ltr, Direction::Rtl] {
        let (plain, title) = header_ink("Region", direction, None)?;
        for descending in [false, true] {
            let (sorted, ink) = header_ink("Region", direction, Some(descending))?;
            // The title is drawn exactly as when unsorted (not cut to "Regio…" by its arrow).
            let mut x = title.0;
            while x < title.1 {
                for y in [AT.y + 9.0, AT.y + 12.0, AT.y + 14.0, AT.y + 17.0] {
                    let (a, b) = (sorted.rgb_at(x, y), plain.rgb_at(x, y));
                    let close = a.iter().zip(b).all(|(a, b)| a.abs_diff(b) <= 24);
                    assert!(close, "{direction:?}: the title at ({x}, {y}): {a:?} sorted, {b:?} not");
                }
                x += 0.5;
            }
            // The arrow is after it: to its right, or to its left in a right-to-left table.
            let arrow = match direction {
                Direction::Ltr => (title.1 + 1.0, ink.1),
                Direction::Rtl => (ink.0, title.0 - 1.0),
            };
            assert!(
                arrow.1 - arrow.0 >= 6.0,
                "{direction:?}: an arrow beside the title: {title:?} → {ink:?}"
            );
            let top = sorted.extent_in(arrow.0, arrow.1, AT.y + 2.0, AT.y + ROW / 2.0, dark);
            let bottom = sorted.extent_in(arrow.0, arrow.1, AT.y + ROW / 2.0, AT.y + ROW - 2.0, dark);
            let (top, bottom) = (top.expect("the arrow's top"), bottom.expect("the arrow's bottom"));
            // Up: narrow on top; down: wide on top.
            let (wide, narrow) = if descending { (top, bottom) } else { (bottom, top) };
            assert!(
                wide.1 - wide.0 > narrow.1 - narrow.0,
                "{direction:?} descending {descending}: the arrow's rows {top:?} {bottom:?}"
            );
        }
    }
    Ok(())
}

/// The quads `element` hands the renderer outside the layer they are drawn in: a renderer that
/// does not clip quads to their layer (as it need not) would show them there.
fn quads_outside_their_layer(element: Element<'_, Message>, cursor: Point, scroll: f32) -> Vec<Rectangle> {
    let mut renderer =
        iced::Renderer::Secondary(iced_tiny_skia::Renderer::new(iced::Font::default(), iced::Pixels(16.0)));
    let size = Size::new(SIZE.0, SIZE.1);
    let mut ui = UserInterface::build(element, size, user_interface::Cache::default(), &mut renderer);
    let wheel =
        Event::Mouse(mouse::Event::WheelScrolled { delta: mouse::ScrollDelta::Pixels { x: 0.0, y: scroll } });
    let mut messages = Vec::new();
    let cursor = mouse::Cursor::Available(cursor);
    let _ = ui.update(&[wheel], cursor, &mut renderer, &mut iced::advanced::clipboard::Null, &mut messages);
    let style = iced::advanced::renderer::Style { text_color: Color::BLACK };
    ui.draw(&mut renderer, &Theme::Light, &style, cursor);
    let iced::Renderer::Secondary(renderer) = &mut renderer else { unreachable!("built as tiny-skia") };
    let outside = renderer
        .layers()
        .iter()
        .flat_map(|layer| {
            let bounds = layer.bounds;
            layer.quads.iter().map(|(quad, _)| quad.bounds).filter(move |quad| {
                quad.x < bounds.x - 0.01
                    || quad.y < bounds.y - 0.01
                    || quad.x + quad.width > bounds.x + bounds.width + 0.01
                    || quad.y + quad.height > bounds.y + bounds.height + 0.01
            })
        })
        .collect();
    drop(ui);
    outside
}

#[test]
fn rows_scrolled_half_out_of_view_stay_inside_the_table_buttons_too() -> Result<(), Error> {
    if !tiny_skia("rows_scrolled_half_out_of_view_stay_inside_the_table_buttons_too") {
        return Ok(());
    }
    let mut rows = TableRows::new();
    for i in 0..20 {
        rows.upsert_quiet(
            &format!("o-{i:02}"),
            vec![Cell::text(format!("o-{i}")), Cell::actions([("Pay", true)])],
        );
    }
    let columns = vec![Column::new("Order").width(100.0), Column::new("Actions").width(120.0)];
    // A header and 2.5 rows: the third row is cut by the table's end.
    let height = ROW * 3.5;
    // Whatever the renderer: no quad is handed to it outside the layer it is drawn in.
    let pointer = Point::new(AT.x + 50.0, AT.y + ROW * 2.0);
    let element = screen(columns.clone(), &rows, Direction::Ltr, (300.0, height));
    assert_eq!(quads_outside_their_layer(element, pointer, -ROW / 2.0), vec![], "quads outside their layer");
    let mut ui =
        Simulator::with_size(settings(), SIZE, screen(columns, &rows, Direction::Ltr, (300.0, height)));
    // Scrolled by half a row: the first row is cut by the header.
    ui.point_at(pointer);
    let _ = ui.simulate([Event::Mouse(mouse::Event::WheelScrolled {
        delta: mouse::ScrollDelta::Pixels { x: 0.0, y: -ROW / 2.0 },
    })]);
    let pixels = Pixels::of(&ui.snapshot(&Theme::Light)?);
    let actions = (AT.x + 100.0, AT.x + 220.0);
    assert!(
        pixels.extent_in(actions.0, actions.1, AT.y + ROW, AT.y + height, action_blue).is_some(),
        "buttons are drawn in the body"
    );
    assert_eq!(
        pixels.extent_in(actions.0, actions.1, AT.y, AT.y + ROW - 1.0, action_blue),
        None,
        "no button over the header"
    );
    assert_eq!(
        pixels.extent_in(actions.0, actions.1, AT.y + height + 1.0, SIZE.1, action_blue),
        None,
        "no button below the table"
    );
    Ok(())
}

#[test]
fn disabled_actions_stay_legible_on_a_changed_rows_glow() -> Result<(), Error> {
    if !tiny_skia("disabled_actions_stay_legible_on_a_changed_rows_glow") {
        return Ok(());
    }
    let mut rows = TableRows::new();
    // Changed just now: the row glows at full strength.
    rows.upsert("o-1", vec![Cell::text("o-1"), Cell::actions([("Pay", false), ("Ship", false)])]);
    let columns = vec![Column::new("Order").width(100.0), Column::new("Actions").width(160.0)];
    let table = live_table(columns, &rows).width(300.0).height(100.0).now(iced::time::Instant::now());
    let screen: Element<'_, Message> =
        column![table].padding(Padding { left: AT.x, top: AT.y, right: 0.0, bottom: 0.0 }).into();
    let mut ui = Simulator::with_size(settings(), SIZE, screen);
    let pixels = Pixels::of(&ui.snapshot(&Theme::Light)?);
    let glow = Theme::Light.extended_palette().success.weak.color;
    let glowing = near(glow, 0.08);
    let row = (AT.y + ROW + 4.0, AT.y + 2.0 * ROW - 4.0);
    assert!(pixels.extent_in(AT.x, AT.x + 100.0, row.0, row.1, glowing).is_some(), "the row glows");
    // Each label has dark ink in its half of the actions cell.
    for (label, slot) in [("Pay", (AT.x + 100.0, AT.x + 180.0)), ("Ship", (AT.x + 180.0, AT.x + 260.0))] {
        assert!(pixels.extent_in(slot.0, slot.1, row.0, row.1, dark).is_some(), "{label} is legible");
    }
    Ok(())
}
