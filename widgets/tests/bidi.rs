//! Right-to-left and mixed text, headless on tiny-skia with the bundled Noto fonts: where the
//! glyphs of `bidi_text` and `bidi_input` are (as laid out, and as drawn in the snapshot's
//! pixels), and what the input's keys and clicks do to its value and caret.
//!
//! Each test re-runs itself in a child process with `ICED_TEST_BACKEND=tiny-skia` unless that is
//! already set, so that a machine with a Vulkan driver still renders with the software renderer.

use iced::keyboard::{self, key};
use iced::widget::{Column, column};
use iced::{Element, Event, Padding, Point, Rectangle, Theme};
use iced_test::{Error, Simulator, selector, simulator};
use lucarne_testing::ui::{Pixels, dark, settings, state, tiny_skia};
use lucarne_widgets::bidi_input::CARET_WIDTH;
use lucarne_widgets::{
    Align, Cell, Column as TableColumn, Direction, InputReport, Placed, TableRows, bidi_input, bidi_text,
    dir_row, live_table,
};

#[derive(Debug, Clone, PartialEq)]
enum Message {
    Input(String),
}

const ARABIC: &str = "مرحبا بالعالم";
const HEBREW: &str = "שלום עולם";
const MIXED: &str = "Order #42 — طلب رقم ٤٢ (shipped)";
const ARABIC_LONG: &str =
    "هذا نص عربي طويل يلتف على عدة أسطر داخل مربعه، ويبدأ كل سطر من الحافة اليمنى للمربع.";
const HEBREW_LONG: &str = "זהו טקסט עברי ארוך שנשבר לכמה שורות בתוך התיבה שלו, וכל שורה מתחילה בקצה הימני.";
const MIXED_LONG: &str =
    "Order #42 — طلب رقم ٤٢ (shipped), then order #43 — طلب رقم ٤٣ (paid) and more to wrap.";

/// Where the boxes of the screen start on the left: ink left of it or right of
/// `MARGIN + WIDE` in a widget's rows is ink outside its box.
const MARGIN: f32 = 200.0;
const NARROW: f32 = 260.0;
const WIDE: f32 = 380.0;
const SPACING: f32 = 16.0;

/// A text item of the screen: its id, its text, its alignment, whether it wraps.
struct Item {
    id: String,
    text: &'static str,
    align: Align,
    wrapped: bool,
}

fn items() -> Vec<Item> {
    let mut items = Vec::new();
    for wrapped in [false, true] {
        let samples = if wrapped {
            [("ar", ARABIC_LONG), ("he", HEBREW_LONG), ("mixed", MIXED_LONG)]
        } else {
            [("ar", ARABIC), ("he", HEBREW), ("mixed", MIXED)]
        };
        for (name, text) in samples {
            for align in [Align::Start, Align::Center, Align::End] {
                let kind = if wrapped { "wrapped" } else { "line" };
                items.push(Item { id: format!("{kind}-{name}-{align:?}"), text, align, wrapped });
            }
        }
    }
    items
}

/// Every sample, single-line and wrapped, at start, center and end, then an RTL input.
fn screen(input: &str) -> Element<'_, Message> {
    let mut screen: Column<'_, Message> =
        column![].spacing(SPACING).padding(Padding { left: MARGIN, top: 20.0, right: 20.0, bottom: 20.0 });
    for item in items() {
        let text = bidi_text(item.text).id(item.id.clone()).align_x(item.align);
        screen = screen.push(if item.wrapped {
            text.width(NARROW)
        } else {
            text.width(WIDE).wrapping(iced::widget::text::Wrapping::None)
        });
    }
    screen
        .push(
            bidi_input("اكتب هنا", input)
                .id("input")
                .direction(Direction::Rtl)
                .width(WIDE)
                .on_input(Message::Input),
        )
        .into()
}

const SIZE: (f32, f32) = (800.0, 1400.0);

fn placed(ui: &mut Simulator<'_, Message>, id: &str) -> Placed {
    state(ui, id).expect("the text reports its glyphs")
}

fn report(ui: &mut Simulator<'_, Message>) -> InputReport {
    state(ui, "input").expect("the input reports its caret")
}

/// Where an aligned line must be: its left and right edge against the box's.
fn check_line(id: &str, line: Rectangle, bounds: Rectangle, align: Align, direction: Direction) {
    const EPS: f32 = 0.5;
    assert!(
        line.x >= bounds.x - EPS && line.x + line.width <= bounds.x + bounds.width + EPS,
        "{id}: line {line:?} outside its box {bounds:?}"
    );
    let side = align.resolve(direction);
    let (edge, target) = match side {
        iced::alignment::Horizontal::Left => (line.x, bounds.x),
        iced::alignment::Horizontal::Right => (line.x + line.width, bounds.x + bounds.width),
        iced::alignment::Horizontal::Center => (line.center_x(), bounds.center_x()),
    };
    assert!(
        (edge - target).abs() <= 1.0,
        "{id}: {side:?} edge at {edge}, box's at {target} ({line:?} in {bounds:?})"
    );
}

#[test]
fn every_glyph_is_inside_its_box_and_rtl_text_starts_at_the_right_edge() -> Result<(), Error> {
    if !tiny_skia("every_glyph_is_inside_its_box_and_rtl_text_starts_at_the_right_edge") {
        return Ok(());
    }
    let mut ui = Simulator::with_size(settings(), SIZE, screen("سلام abc"));

    // 1. As laid out: every cluster inside the box, every line aligned per its direction.
    let mut placements = Vec::new();
    for item in items() {
        let placed = placed(&mut ui, &item.id);
        let bounds = placed.bounds;
        let expected = Direction::of(item.text).expect("a strong character");
        assert_eq!(placed.direction, expected, "{}", item.id);
        let lines = placed.line_boxes();
        assert!(!lines.is_empty(), "{}: nothing laid out", item.id);
        assert_eq!(lines.len() > 1, item.wrapped, "{}: {} lines", item.id, lines.len());
        for glyph in placed.boxes() {
            assert!(
                glyph.x >= bounds.x - 0.5
                    && glyph.x + glyph.width <= bounds.x + bounds.width + 0.5
                    && glyph.y >= bounds.y - 0.5
                    && glyph.y + glyph.height <= bounds.y + bounds.height + 0.5,
                "{}: glyph {glyph:?} outside {bounds:?}",
                item.id
            );
        }
        for line in lines {
            check_line(&item.id, line, bounds, item.align, expected);
        }
        placements.push((item, placed));
    }
    let input = report(&mut ui);
    assert!(input.rtl, "the input's paragraph is RTL");
    let right = input.clusters.iter().map(|c| c.x + c.w).fold(f32::MIN, f32::max);
    let left = input.clusters.iter().map(|c| c.x).fold(f32::MAX, f32::min);
    let area = input.text_bounds;
    assert!(
        left >= area.x && right <= area.x + area.width + 0.5,
        "input glyphs {left}..{right} outside {area:?}"
    );
    assert!(
        (right - (area.x + area.width)).abs() <= 0.5,
        "RTL input text starts at the right: {right} vs {area:?}"
    );

    // 2. As drawn: in each widget's rows, the dark pixels are inside its box, and start (or end,
    // or center) where the layout says.
    let snapshot = ui.snapshot(&Theme::Light)?;
    let pixels = Pixels::of(&snapshot);
    for (item, placed) in &placements {
        let b = placed.bounds;
        let (ink_left, ink_right) = pixels
            .extent(b.y - 4.0, b.y + b.height + 4.0, dark)
            .unwrap_or_else(|| panic!("{}: no ink", item.id));
        assert!(
            ink_left >= b.x - 1.0 && ink_right <= b.x + b.width + 1.0,
            "{}: ink {ink_left}..{ink_right} outside the box {}..{}",
            item.id,
            b.x,
            b.x + b.width
        );
        let side = item.align.resolve(placed.direction);
        let near = |a: f32, b: f32| (a - b).abs() <= 4.0;
        let ok = match side {
            iced::alignment::Horizontal::Left => near(ink_left, b.x),
            iced::alignment::Horizontal::Right => near(ink_right, b.x + b.width),
            iced::alignment::Horizontal::Center => near((ink_left + ink_right) / 2.0, b.center_x()),
        };
        assert!(ok, "{}: drawn {ink_left}..{ink_right}, not at the {side:?} of {b:?}", item.id);
    }
    let (ink_left, ink_right) =
        pixels.extent(area.y, area.y + area.height, dark).expect("the input's text is drawn");
    assert!(ink_left >= area.x - 1.0 && ink_right <= area.x + area.width + 1.0, "input ink outside its box");
    assert!(
        ink_right >= area.x + area.width - 4.0,
        "input text drawn from the right edge: {ink_right} vs {area:?}"
    );

    assert!(
        snapshot.matches_image("tests/snapshots/bidi-screen")?,
        "the screen changed: see tests/snapshots"
    );
    Ok(())
}

/// The input alone, with this value.
fn input_screen_in(value: &str, direction: Direction) -> Element<'_, Message> {
    column![bidi_input("", value).id("input").direction(direction).width(WIDE).on_input(Message::Input)]
        .padding(20)
        .into()
}

fn input_screen(value: &str) -> Element<'_, Message> {
    column![
        bidi_input("اكتب هنا", value)
            .id("input")
            .direction(Direction::Rtl)
            .width(WIDE)
            .on_input(Message::Input)
    ]
    .padding(20)
    .into()
}

fn key_with(named: key::Named, modifiers: keyboard::Modifiers) -> Event {
    Event::Keyboard(keyboard::Event::KeyPressed {
        key: keyboard::Key::Named(named),
        modified_key: keyboard::Key::Named(named),
        physical_key: key::Physical::Unidentified(key::NativeCode::Unidentified),
        location: keyboard::Location::Standard,
        modifiers,
        text: None,
        repeat: false,
    })
}

fn press(ui: &mut Simulator<'_, Message>, named: key::Named) -> InputReport {
    let _ = ui.simulate([key_with(named, keyboard::Modifiers::default())]);
    report(ui)
}

/// Presses a key with Shift held, as a keyboard does: Shift down, the key, Shift up.
fn shift(ui: &mut Simulator<'_, Message>, named: key::Named) -> InputReport {
    let _ = ui.simulate([
        Event::Keyboard(keyboard::Event::ModifiersChanged(keyboard::Modifiers::SHIFT)),
        key_with(named, keyboard::Modifiers::SHIFT),
        Event::Keyboard(keyboard::Event::ModifiersChanged(keyboard::Modifiers::default())),
    ]);
    report(ui)
}

/// Whether the caret drawn at `caret_x` is at `edge` (it is drawn inside the box, so on the
/// box's right edge it is one caret width left of it).
fn at_edge(caret_x: f32, edge: f32) -> bool {
    (caret_x - edge).abs() <= CARET_WIDTH + 0.01
}

/// The cluster holding the text at byte `index`.
fn cluster_at(report: &InputReport, index: usize) -> lucarne_widgets::shaping::Cluster {
    *report
        .clusters
        .iter()
        .find(|c| c.start <= index && index < c.end)
        .unwrap_or_else(|| panic!("no glyph at {index}"))
}

/// The edge of a cluster where the text after it continues: left in RTL runs, right in LTR.
fn trailing_edge(c: lucarne_widgets::shaping::Cluster) -> f32 {
    if c.rtl { c.x } else { c.x + c.w }
}

/// Types `text` one character at a time; after each, the value has it, and the caret is drawn
/// at the trailing edge of the glyph just typed.
fn check_typing(ui: &mut Simulator<'_, Message>, value: &mut String, text: &str) {
    for ch in text.chars() {
        let at = report(ui).caret;
        value.insert(at, ch);
        let _ = ui.typewrite(&ch.to_string());
        let r = report(ui);
        assert_eq!(r.value, *value, "after typing {ch:?}");
        assert_eq!(r.caret, at + ch.len_utf8(), "caret after typing {ch:?}");
        let glyph = cluster_at(&r, at);
        let edge = trailing_edge(glyph);
        assert!(
            at_edge(r.caret_x, edge),
            "after {ch:?} in {value:?}: caret drawn at {}, the typed glyph's trailing edge is at {edge} ({glyph:?})",
            r.caret_x
        );
    }
}

#[test]
fn typing_arabic_latin_arabic_draws_the_caret_at_the_typed_glyph() -> Result<(), Error> {
    if !tiny_skia("typing_arabic_latin_arabic_draws_the_caret_at_the_typed_glyph") {
        return Ok(());
    }
    let mut ui = Simulator::with_size(settings(), (600.0, 100.0), input_screen(""));
    let _ = ui.click(selector::id("input"))?;
    let empty = report(&mut ui);
    assert!(empty.focused);
    assert!(
        empty.caret_x >= empty.text_bounds.x + empty.text_bounds.width - 2.0,
        "empty RTL caret on the right"
    );

    let mut value = String::new();
    check_typing(&mut ui, &mut value, "سلام");
    check_typing(&mut ui, &mut value, " abc ");
    check_typing(&mut ui, &mut value, "مرحبا");
    assert_eq!(value, "سلام abc مرحبا");

    // The caret is drawn where the report says: a caret-coloured column at caret_x.
    let r = report(&mut ui);
    let snapshot = ui.snapshot(&Theme::Light)?;
    let pixels = Pixels::of(&snapshot);
    let caret = Theme::Light.extended_palette().primary.strong.color.into_rgba8();
    let is_caret = |rgb: [u8; 3]| rgb.iter().zip(caret).all(|(a, b)| a.abs_diff(b) <= 8);
    let area = r.text_bounds;
    let (caret_left, caret_right) = pixels
        .extent_in(area.x, area.x + area.width, area.y + 2.0, area.y + area.height - 2.0, is_caret)
        .expect("caret drawn");
    assert!(
        (caret_left - r.caret_x).abs() <= 0.5 && caret_right - caret_left <= CARET_WIDTH + 0.5,
        "caret drawn at {caret_left}..{caret_right}, reported at {}",
        r.caret_x
    );
    let messages: Vec<Message> = ui.into_messages().collect();
    assert_eq!(messages.last(), Some(&Message::Input(value.clone())));
    assert_eq!(messages.len(), value.chars().count());
    Ok(())
}

#[test]
fn arrows_move_on_screen_and_home_end_go_to_the_line_ends() -> Result<(), Error> {
    if !tiny_skia("arrows_move_on_screen_and_home_end_go_to_the_line_ends") {
        return Ok(());
    }
    let value = "سلام abc مرحبا";
    let mut ui = Simulator::with_size(settings(), (600.0, 100.0), input_screen(value));
    let _ = ui.click(selector::id("input"))?;

    // Home: the start of an RTL line is its right edge, where the text starts (index 0).
    let home = press(&mut ui, key::Named::Home);
    let right = home.clusters.iter().map(|c| c.x + c.w).fold(f32::MIN, f32::max);
    assert_eq!(home.caret, 0);
    assert!(at_edge(home.caret_x, right), "Home at the right edge: {} vs {right}", home.caret_x);
    // End: the left edge; the text ends there (it ends in Arabic).
    let end = press(&mut ui, key::Named::End);
    let left = end.clusters.iter().map(|c| c.x).fold(f32::MAX, f32::min);
    assert_eq!(end.caret, value.len());
    assert!(at_edge(end.caret_x, left), "End at the left edge: {} vs {left}", end.caret_x);

    // Left from Home walks to the left edge, one place on screen at a time; in the Arabic words
    // the index goes up (forward in the text), in "abc" it goes down.
    let mut r = press(&mut ui, key::Named::Home);
    let mut xs = vec![r.caret_x];
    let mut indices = vec![r.caret];
    loop {
        let next = press(&mut ui, key::Named::ArrowLeft);
        if next.caret_x == r.caret_x {
            break;
        }
        assert!(next.caret_x < r.caret_x, "Left moved right: {} -> {}", r.caret_x, next.caret_x);
        r = next;
        xs.push(r.caret_x);
        indices.push(r.caret);
    }
    assert!(at_edge(r.caret_x, left), "Left stops at the left edge");
    let a = value.find('a').expect("a");
    let in_abc: Vec<usize> = indices.iter().copied().filter(|&i| i > a && i <= a + 3).collect();
    assert!(in_abc.windows(2).all(|w| w[1] < w[0]), "in abc, Left goes back in the text: {indices:?}");
    assert!(indices[..4].windows(2).all(|w| w[1] > w[0]), "in سلام, Left goes forward: {indices:?}");
    // Right walks back through the same places.
    let mut back = vec![r.caret_x];
    loop {
        let next = press(&mut ui, key::Named::ArrowRight);
        if next.caret_x == r.caret_x {
            break;
        }
        assert!(next.caret_x > r.caret_x, "Right moved left");
        r = next;
        back.push(r.caret_x);
    }
    back.reverse();
    assert_eq!(back.len(), xs.len(), "the same number of places both ways: {xs:?} / {back:?}");
    for (a, b) in xs.iter().zip(&back) {
        assert!((a - b).abs() <= CARET_WIDTH, "{xs:?} / {back:?}");
    }
    Ok(())
}

/// Home and End go to the text's start and end whatever runs the line ends with: in a Hebrew
/// line ending in Latin and digits, and in an English line ending in Hebrew, End then a letter
/// appends it, End then Backspace removes the last character.
#[test]
fn home_and_end_go_to_the_texts_start_and_end_in_mixed_lines() -> Result<(), Error> {
    if !tiny_skia("home_and_end_go_to_the_texts_start_and_end_in_mixed_lines") {
        return Ok(());
    }
    for (initial, direction) in [("שלום status 123", Direction::Rtl), ("name דנה", Direction::Ltr)] {
        let mut value = initial.to_owned();
        let mut ui = Simulator::with_size(settings(), (600.0, 100.0), input_screen_in(initial, direction));
        let _ = ui.click(selector::id("input"))?;
        let end = press(&mut ui, key::Named::End);
        assert_eq!(end.caret, initial.len(), "End in {initial:?}");
        check_typing(&mut ui, &mut value, "Z");
        assert_eq!(value, format!("{initial}Z"), "End then Z appends it");
        let _ = press(&mut ui, key::Named::End);
        let r = press(&mut ui, key::Named::Backspace);
        assert_eq!(r.value, initial, "End then Backspace removes the Z");
        let r = press(&mut ui, key::Named::Backspace);
        let mut shorter = initial.to_owned();
        shorter.pop();
        assert_eq!(r.value, shorter, "and then the text's last character");
        let home = press(&mut ui, key::Named::Home);
        assert_eq!(home.caret, 0, "Home in {initial:?}");
    }
    Ok(())
}

#[test]
fn typing_and_backspace_happen_where_the_caret_is_drawn() -> Result<(), Error> {
    if !tiny_skia("typing_and_backspace_happen_where_the_caret_is_drawn") {
        return Ok(());
    }
    let initial = "سلام abc";
    let mut value = initial.to_owned();
    let mut ui = Simulator::with_size(settings(), (600.0, 100.0), input_screen(initial));
    let _ = ui.click(selector::id("input"))?;
    let _ = press(&mut ui, key::Named::End);
    // End of "سلام abc" (RTL paragraph, "abc" on the left): the text's end, after "c". Left
    // walks back on screen through "c" to the place between "a" and "b".
    let b = value.find('b').expect("b");
    let mut r = report(&mut ui);
    assert_eq!(r.caret, value.len());
    for _ in 0..8 {
        if r.caret == b {
            break;
        }
        r = press(&mut ui, key::Named::ArrowLeft);
    }
    assert_eq!(r.caret, b, "Left reaches the place between a and b");
    let a_glyph = cluster_at(&r, b - 1);
    let b_glyph = cluster_at(&r, b);
    assert!(at_edge(r.caret_x, a_glyph.x + a_glyph.w) && at_edge(r.caret_x, b_glyph.x));
    // Typing "X" there puts it between "a" and "b" on screen.
    check_typing(&mut ui, &mut value, "X");
    let r = report(&mut ui);
    let (a_glyph, x_glyph, b_glyph) = (cluster_at(&r, b - 1), cluster_at(&r, b), cluster_at(&r, b + 1));
    assert!(
        (a_glyph.x + a_glyph.w - x_glyph.x).abs() <= 0.5 && (x_glyph.x + x_glyph.w - b_glyph.x).abs() <= 0.5
    );
    assert_eq!(value, "سلام aXbc");

    // Backspace removes the grapheme before the caret in the text ("X"), the caret stays
    // between "a" and "b".
    let r = press(&mut ui, key::Named::Backspace);
    value.remove(b);
    assert_eq!(r.value, value);
    assert_eq!(r.caret, b);
    assert!(at_edge(r.caret_x, cluster_at(&r, b).x));

    // Home, then an Arabic letter: it goes first in the text and rightmost on screen.
    let _ = press(&mut ui, key::Named::Home);
    check_typing(&mut ui, &mut value, "و");
    assert!(value.starts_with('و'));
    let r = report(&mut ui);
    let waw = cluster_at(&r, 0);
    let right = r.clusters.iter().map(|c| c.x + c.w).fold(f32::MIN, f32::max);
    assert!((waw.x + waw.w - right).abs() <= 0.5, "the letter typed at Home is the rightmost glyph");

    // Delete removes the grapheme after the caret in the text (the first "س").
    let r = press(&mut ui, key::Named::Delete);
    value.remove(r.caret);
    assert_eq!(r.value, value);
    assert_eq!(value, "ولام abc");
    Ok(())
}

#[test]
fn selection_highlights_exactly_the_selected_glyphs() -> Result<(), Error> {
    if !tiny_skia("selection_highlights_exactly_the_selected_glyphs") {
        return Ok(());
    }
    let value = "سلام abc مرحبا";
    let mut ui = Simulator::with_size(settings(), (600.0, 100.0), input_screen(value));
    let _ = ui.click(selector::id("input"))?;
    let _ = press(&mut ui, key::Named::Home);
    // Shift+Left from the right edge over "سلام", the space and "ab": across two runs.
    let mut r = report(&mut ui);
    let mut carets = Vec::new();
    for _ in 0..7 {
        r = shift(&mut ui, key::Named::ArrowLeft);
        carets.push(r.caret);
    }
    let (start, end) = r.selection.unwrap_or_else(|| panic!("a selection: {carets:?}"));
    assert_eq!((start, end), (0, 10), "carets {carets:?}, clusters {:?}", r.clusters);
    assert_eq!(start, 0);
    assert_eq!(&value[start..end], "سلام a", "selected in text order");
    // Every selected glyph is covered by a highlight; no other glyph is touched.
    for c in &r.clusters {
        let selected = c.start >= start && c.end <= end;
        let covered = r.selection_boxes.iter().any(|b| b.x <= c.x + 0.5 && b.x + b.width >= c.x + c.w - 0.5);
        let touched = r.selection_boxes.iter().any(|b| b.x < c.x + c.w - 0.5 && b.x + b.width > c.x + 0.5);
        assert_eq!(covered, selected, "glyph {c:?} (selected: {selected})");
        assert_eq!(touched, selected, "glyph {c:?} (selected: {selected})");
    }
    // In an RTL paragraph "a" is at the far left of "abc", "سلام " at the right: two pieces.
    assert_eq!(r.selection_boxes.len(), 2, "{:?}", r.selection_boxes);

    // A click places the caret at the nearest place between graphemes: between "b" and "c".
    let (b, c) = (cluster_at(&r, value.find('b').expect("b")), cluster_at(&r, value.find('c').expect("c")));
    ui.point_at(Point::new(b.x + b.w + 1.0, r.text_bounds.center_y()));
    let _ = ui.simulate(simulator::click());
    let r = report(&mut ui);
    assert_eq!(r.selection, None);
    assert_eq!(r.caret, value.find('c').expect("c"));
    assert!(at_edge(r.caret_x, c.x));
    Ok(())
}

#[test]
fn an_rtl_table_mirrors_its_columns_and_keeps_text_in_its_cells() -> Result<(), Error> {
    if !tiny_skia("an_rtl_table_mirrors_its_columns_and_keeps_text_in_its_cells") {
        return Ok(());
    }
    let mut rows = TableRows::new();
    rows.upsert("o-1", vec![Cell::text("نور الهدى"), Cell::number(310.0, "310.00")]);
    rows.upsert("o-2", vec![Cell::text("Ada Lovelace"), Cell::number(42.5, "42.50")]);
    rows.upsert("o-3", vec![Cell::text("דנה כהן"), Cell::text("٤٢٫٥٠")]);
    rows.upsert("o-4", vec![Cell::text("Order #42 — طلب"), Cell::text("مدفوع")]);
    let columns =
        vec![TableColumn::new("العميل").width(150.0), TableColumn::new("الإجمالي").width(120.0).align_right()];
    // 270 pixels of columns and the 8-pixel scrollbar strip.
    let table = live_table(columns, &rows).direction(Direction::Rtl).width(278.0).height(200.0);
    let screen: Element<'_, Message> =
        column![table].padding(Padding { left: MARGIN, top: 20.0, right: 0.0, bottom: 0.0 }).into();
    let mut ui = Simulator::with_size(settings(), (600.0, 260.0), screen);
    let pixels = Pixels::of(&ui.snapshot(&Theme::Light)?);

    // The first column (start) is on the right: [320, 470]; the second (end) on the left:
    // [200, 320]. Cell text has 8 pixels of padding.
    let (first, second) = ((MARGIN + 120.0, MARGIN + 270.0), (MARGIN, MARGIN + 120.0));
    for row in 0..=rows.len() {
        let top = 20.0 + 28.0 * row as f32 + 3.0;
        let bottom = top + 22.0;
        let (l, r) = pixels.extent(top, bottom, dark).unwrap_or_else(|| panic!("row {row}: no ink"));
        assert!(l >= second.0 && r <= first.1, "row {row}: ink {l}..{r} outside the table");
        assert!(
            pixels.extent_in(first.0 - 6.0, first.0 + 6.0, top, bottom, dark).is_none(),
            "row {row}: text crosses the column boundary"
        );
        let (_, r) = pixels
            .extent_in(first.0, first.1, top, bottom, dark)
            .unwrap_or_else(|| panic!("row {row}: first column empty"));
        assert!(
            (r - (first.1 - 8.0)).abs() <= 3.0,
            "row {row}: first column ends at {r}, not at its right edge"
        );
        let (l, _) = pixels
            .extent_in(second.0, second.1, top, bottom, dark)
            .unwrap_or_else(|| panic!("row {row}: second column empty"));
        assert!(
            (l - (second.0 + 8.0)).abs() <= 3.0,
            "row {row}: second column starts at {l}, not at its left edge"
        );
    }
    Ok(())
}

#[test]
fn a_text_longer_than_its_cell_is_cut_with_an_ellipsis_inside_it() -> Result<(), Error> {
    if !tiny_skia("a_text_longer_than_its_cell_is_cut_with_an_ellipsis_inside_it") {
        return Ok(());
    }
    let mut rows = TableRows::new();
    rows.upsert("o-1", vec![Cell::text("Augusta Ada King, Countess of Lovelace"), Cell::text("x")]);
    rows.upsert("o-2", vec![Cell::text("مريم العلي بنت محمد بن عبد الله الهاشمية"), Cell::text("x")]);
    rows.upsert("o-3", vec![Cell::text("Ada"), Cell::text("x")]);
    for direction in [Direction::Ltr, Direction::Rtl] {
        let columns = vec![TableColumn::new("Customer").width(120.0), TableColumn::new("Next").width(60.0)];
        let table = live_table(columns, &rows).direction(direction).width(188.0).height(200.0);
        let screen: Element<'_, Message> =
            column![table].padding(Padding { left: MARGIN, top: 20.0, right: 0.0, bottom: 0.0 }).into();
        let mut ui = Simulator::with_size(settings(), (600.0, 260.0), screen);
        let pixels = Pixels::of(&ui.snapshot(&Theme::Light)?);
        // The first column is [200, 320] (LTR) or [260, 380] (RTL), the second the other 60
        // pixels; text has 8 pixels of padding on each side.
        let first = if direction == Direction::Ltr {
            (MARGIN, MARGIN + 120.0)
        } else {
            (MARGIN + 60.0, MARGIN + 180.0)
        };
        for row in 1..=rows.len() {
            let (top, bottom) = (20.0 + 28.0 * row as f32 + 3.0, 20.0 + 28.0 * row as f32 + 25.0);
            let (l, r) = pixels
                .extent_in(first.0, first.1, top, bottom, dark)
                .unwrap_or_else(|| panic!("{direction:?} row {row}: no ink in its cell"));
            assert!(
                l >= first.0 + 7.0 && r <= first.1 - 7.0,
                "{direction:?} row {row}: ink {l}..{r} outside the cell's text area {first:?}"
            );
        }
        // A cut text ends in an ellipsis: the first row's ink reaches (almost) the far edge.
        let (l, r) = pixels
            .extent_in(first.0, first.1, 20.0 + 28.0 + 3.0, 20.0 + 28.0 + 25.0, dark)
            .unwrap_or_default();
        assert!(r - l > 90.0, "{direction:?}: the cut text fills its cell ({l}..{r})");
    }
    Ok(())
}

#[test]
fn a_dir_row_lays_its_children_right_to_left_in_rtl() -> Result<(), Error> {
    if !tiny_skia("a_dir_row_lays_its_children_right_to_left_in_rtl") {
        return Ok(());
    }
    for (direction, first_on_the_left) in [(Direction::Ltr, true), (Direction::Rtl, false)] {
        let row: Element<'_, Message> =
            dir_row(direction, [bidi_text("أولاً").id("first").into(), bidi_text("ثانياً").id("second").into()])
                .spacing(10)
                .into();
        let mut ui = Simulator::with_size(settings(), (400.0, 100.0), row);
        let (first, second) = (placed(&mut ui, "first").bounds, placed(&mut ui, "second").bounds);
        assert_eq!(first.x < second.x, first_on_the_left, "{direction:?}: {first:?} / {second:?}");
        // The input answers iced's text input operations: found by its value.
        let mut ui = Simulator::with_size(settings(), (400.0, 100.0), input_screen("طلب 42"));
        assert!(ui.find("طلب 42").is_ok());
    }
    Ok(())
}

#[test]
fn a_set_direction_orders_and_aligns_the_paragraph() -> Result<(), Error> {
    if !tiny_skia("a_set_direction_orders_and_aligns_the_paragraph") {
        return Ok(());
    }
    let text = "Order #42 — طلب";
    // Mean x of the clusters of RTL runs minus that of LTR runs.
    let arabic_side = |placed: &Placed| {
        let mean = |rtl: bool| {
            let xs: Vec<f32> =
                placed.lines.iter().flat_map(|l| &l.clusters).filter(|c| c.rtl == rtl).map(|c| c.x).collect();
            xs.iter().sum::<f32>() / xs.len().max(1) as f32
        };
        mean(true) - mean(false)
    };
    for (direction, arabic_on_the_right) in [(None, true), (Some(Direction::Rtl), false)] {
        let mut text = bidi_text(text).id("t").width(400);
        if let Some(direction) = direction {
            text = text.direction(direction);
        }
        let screen: Element<'_, Message> = column![text].padding(20).into();
        let mut ui = Simulator::with_size(settings(), (500.0, 100.0), screen);
        let placed = placed(&mut ui, "t");
        assert_eq!(placed.direction, direction.unwrap_or(Direction::Ltr));
        assert_eq!(arabic_side(&placed) > 0.0, arabic_on_the_right, "{direction:?}: {placed:?}");
        // Start: the left edge in LTR, the right edge in RTL.
        let line = placed.line_boxes()[0];
        let edge = if direction.is_some() { line.x + line.width - (20.0 + 400.0) } else { line.x - 20.0 };
        assert!(edge.abs() <= 0.5, "{direction:?}: line {line:?}");
    }
    Ok(())
}

#[test]
fn a_long_value_scrolls_to_keep_the_caret_in_view() -> Result<(), Error> {
    if !tiny_skia("a_long_value_scrolls_to_keep_the_caret_in_view") {
        return Ok(());
    }
    let value = "طلب رقم ٤٢ Order #42 shipped to نور الهدى via express — تم الشحن اليوم";
    let screen: Element<'_, Message> =
        column![bidi_input("", value).id("input").width(160).on_input(Message::Input)].padding(20).into();
    let mut ui = Simulator::with_size(settings(), (300.0, 100.0), screen);
    let _ = ui.click(selector::id("input"))?;
    for named in [key::Named::Home, key::Named::End, key::Named::Home] {
        let r = press(&mut ui, named);
        let area = r.text_bounds;
        assert!(
            r.caret_x >= area.x && r.caret_x + CARET_WIDTH <= area.x + area.width + 0.01,
            "{named:?}: caret at {} outside {area:?}",
            r.caret_x
        );
        // The glyph at the caret is shown, next to it.
        let near = r.clusters.iter().filter(|c| at_edge(r.caret_x, c.x) || at_edge(r.caret_x, c.x + c.w));
        assert!(
            near.clone().any(|c| c.x >= area.x - 0.5 && c.x + c.w <= area.x + area.width + 0.5),
            "{named:?}: no visible glyph at the caret"
        );
    }
    Ok(())
}

#[test]
fn an_rtl_table_centres_arabic_action_labels_in_their_buttons() -> Result<(), Error> {
    if !tiny_skia("an_rtl_table_centres_arabic_action_labels_in_their_buttons") {
        return Ok(());
    }
    // Disabled buttons: grey labels on a light background of their own, so the dark ink is only
    // the label's; the row is loaded quietly (no highlight behind it).
    let mut rows = TableRows::new();
    rows.upsert_quiet(
        "o-1",
        vec![Cell::text("o-1"), Cell::actions([("دفع", false), ("شحن", false), ("إلغاء", false)])],
    );
    let columns = vec![TableColumn::new("الطلب").width(150.0), TableColumn::new("الإجراءات").width(240.0)];
    let table = live_table(columns, &rows).direction(Direction::Rtl).width(398.0).height(120.0);
    let screen: Element<'_, Message> =
        column![table].padding(Padding { left: MARGIN, top: 20.0, right: 0.0, bottom: 0.0 }).into();
    let mut ui = Simulator::with_size(settings(), (700.0, 160.0), screen);
    let pixels = Pixels::of(&ui.snapshot(&Theme::Light)?);
    let ink = |rgb: [u8; 3]| rgb.iter().map(|&c| u32::from(c)).sum::<u32>() < 3 * 180;
    // The actions column is on the left, [200, 440]: 4 px of padding each side, three slots of
    // (232 - 2 × 4) / 3 px with 4 px gaps, the first action rightmost.
    let (top, bottom) = (20.0 + 28.0 + 4.0, 20.0 + 56.0 - 4.0);
    let width = (232.0 - 8.0) / 3.0;
    for (i, label) in ["دفع", "شحن", "إلغاء"].iter().enumerate() {
        let right = MARGIN + 236.0 - i as f32 * (width + 4.0);
        let slot = (right - width, right);
        let (l, r) = pixels
            .extent_in(slot.0 - 2.0, slot.1 + 2.0, top, bottom, ink)
            .unwrap_or_else(|| panic!("{label}: no ink in its slot {slot:?}"));
        assert!(l >= slot.0 && r <= slot.1, "{label}: ink {l}..{r} outside its slot {slot:?}");
        let centre = (slot.0 + slot.1) / 2.0;
        assert!(((l + r) / 2.0 - centre).abs() <= 2.0, "{label}: ink {l}..{r} not centred on {centre}");
    }
    Ok(())
}
