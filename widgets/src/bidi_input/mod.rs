//! A one-line text input that is right in right-to-left and mixed text: the caret is drawn where
//! typing inserts, arrow keys move it on screen, Home and End go to the line's ends, and a
//! selection highlights exactly the glyphs it holds, in as many pieces as the bidi runs make.
//!
//! ```no_run
//! use lucarne_widgets::{Direction, bidi_input};
//!
//! #[derive(Debug, Clone)]
//! enum Message {
//!     Changed(String),
//!     Submit,
//! }
//!
//! fn view(filter: &str) -> iced_core::Element<'_, Message, iced_core::Theme, iced_widget::Renderer> {
//!     bidi_input("تصفية…", filter)
//!         .id("filter")
//!         .direction(Direction::Rtl)
//!         .on_input(Message::Changed)
//!         .on_submit(Message::Submit)
//!         .into()
//! }
//! # let _ = view("طلب 42");
//! ```
//!
//! Keys: Left / Right move one grapheme on screen (in an Arabic word Left goes forward in the
//! text, in a Latin word backward); Home / End go to the text's start and end (typing there goes
//! first or last in the text, whatever direction the line's ends run in); Shift extends the
//! selection; Backspace / Delete remove the grapheme
//! before / after the caret in the text, or the selection; Ctrl+A selects all; Ctrl+C / X / V use
//! the clipboard; Enter submits; Escape leaves. A click places the caret at the nearest place
//! between graphemes, Shift+click and dragging select.
//!
//! How: the value is shaped once per change by iced's paragraph (cosmic-text resolves the bidi
//! runs); the caret's possible places ("stops") are read from the shaped clusters
//! ([`Shaped`]), each with the text index that typing there inserts at.
//! Moving is going to the next stop to the left or right on screen; the caret is drawn at its
//! stop. One line only: newlines are not inserted.
//!
//! The paragraph's direction is its first strong character's (as a browser's `dir="auto"`);
//! [`direction`](BidiInput::direction) sets the side the text and the empty caret sit on.

use iced_core::alignment::Vertical;
use iced_core::clipboard;
use iced_core::keyboard;
use iced_core::layout::{self, Layout};
use iced_core::mouse;
use iced_core::renderer;
use iced_core::text::{self, LineHeight, Shaping, Wrapping, paragraph};
use iced_core::widget::operation::{self, Operation};
use iced_core::widget::tree::{self, Tree};
use iced_core::widget::{Id, Widget};
use iced_core::{
    Background, Clipboard, Element, Event, Length, Padding, Pixels, Point, Rectangle, Shell, Size,
};

use crate::direction::Direction;
use crate::shaping::{self, Cluster, Line, Shaped, Stop};

mod editing;
mod style;

use editing::{Caret, Field, Intent, Outcome, floor_boundary};
pub use style::{Catalog, Style, StyleFn, default};

/// What a [`BidiInput`] shows, reported to operations under its id (for tests and tools):
/// where the caret is drawn and where each glyph is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputReport {
    /// The value.
    pub value: String,
    /// Where typing inserts (a byte index into the value).
    pub caret: usize,
    /// The x of the caret as drawn (its left edge; it is [`CARET_WIDTH`] wide).
    pub caret_x: f32,
    /// The selection, as a range of byte indices, if any.
    pub selection: Option<(usize, usize)>,
    /// The highlighted rectangles of the selection, left to right.
    pub selection_boxes: Vec<Rectangle>,
    /// Every cluster of the value, left to right, in screen coordinates.
    pub clusters: Vec<Cluster>,
    /// Whether the paragraph is right to left.
    pub rtl: bool,
    /// Whether it has the focus.
    pub focused: bool,
    /// Its text area (inside the padding).
    pub text_bounds: Rectangle,
}

/// The width of the drawn caret.
pub const CARET_WIDTH: f32 = 1.0;

type OnInput<'a, Message> = Box<dyn Fn(String) -> Message + 'a>;

/// A bidi-correct one-line text input. See the [module docs](self).
pub struct BidiInput<'a, Message, Theme = iced_core::Theme, Renderer = iced_widget::Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    placeholder: String,
    value: String,
    id: Option<Id>,
    direction: Option<Direction>,
    width: Length,
    padding: Padding,
    size: Option<Pixels>,
    line_height: LineHeight,
    font: Option<Renderer::Font>,
    on_input: Option<OnInput<'a, Message>>,
    on_submit: Option<Message>,
    class: Theme::Class<'a>,
}

impl<Message, Theme, Renderer> std::fmt::Debug for BidiInput<'_, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BidiInput")
            .field("value", &self.value)
            .field("placeholder", &self.placeholder)
            .finish_non_exhaustive()
    }
}

/// Creates a [`BidiInput`] with a placeholder and a value.
pub fn bidi_input<'a, Message, Theme, Renderer>(
    placeholder: &str,
    value: &str,
) -> BidiInput<'a, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    BidiInput::new(placeholder, value)
}

impl<'a, Message, Theme, Renderer> BidiInput<'a, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    /// An input showing `value`, or `placeholder` when it is empty.
    pub fn new(placeholder: &str, value: &str) -> Self {
        BidiInput {
            placeholder: placeholder.to_owned(),
            value: value.to_owned(),
            id: None,
            direction: None,
            width: Length::Fill,
            padding: Padding::new(5.0),
            size: None,
            line_height: LineHeight::default(),
            font: None,
            on_input: None,
            on_submit: None,
            class: Theme::default(),
        }
    }

    /// Its id (for focusing, and the [`InputReport`] reported under it).
    pub fn id(mut self, id: impl Into<Id>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The layout direction: which side the text sits on when it is shorter than the box, and
    /// the caret when it is empty (default: the value's own direction, else LTR).
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    /// Its width (default: fill).
    pub fn width(mut self, width: impl Into<Length>) -> Self {
        self.width = width.into();
        self
    }

    /// The space around the text.
    pub fn padding(mut self, padding: impl Into<Padding>) -> Self {
        self.padding = padding.into();
        self
    }

    /// The text size (default: the renderer's).
    pub fn size(mut self, size: impl Into<Pixels>) -> Self {
        self.size = Some(size.into());
        self
    }

    /// The line height.
    pub fn line_height(mut self, line_height: impl Into<LineHeight>) -> Self {
        self.line_height = line_height.into();
        self
    }

    /// The font (default: the renderer's).
    pub fn font(mut self, font: impl Into<Renderer::Font>) -> Self {
        self.font = Some(font.into());
        self
    }

    /// The message for a new value (typed, deleted, pasted). Without it the input is read-only:
    /// the caret moves and text can be selected and copied.
    pub fn on_input(mut self, on_input: impl Fn(String) -> Message + 'a) -> Self {
        self.on_input = Some(Box::new(on_input));
        self
    }

    /// The message sent when Enter is pressed.
    pub fn on_submit(mut self, message: Message) -> Self {
        self.on_submit = Some(message);
        self
    }

    /// Styles it with this function.
    pub fn style(mut self, style: impl Fn(&Theme, bool) -> Style + 'a) -> Self
    where
        Theme::Class<'a>: From<StyleFn<'a, Theme>>,
    {
        self.class = (Box::new(style) as StyleFn<'a, Theme>).into();
        self
    }

    fn text<'b>(&self, renderer: &Renderer, content: &'b str) -> text::Text<&'b str, Renderer::Font> {
        text::Text {
            content,
            bounds: Size::new(shaping::UNBOUNDED, shaping::UNBOUNDED),
            size: self.size.unwrap_or_else(|| renderer.default_size()),
            line_height: self.line_height,
            font: self.font.unwrap_or_else(|| renderer.default_font()),
            // Not `Left`: iced 0.14 then leaves a one-line RTL paragraph at the right of its
            // (huge) width while reporting it at 0; `Default` lays it out from 0.
            align_x: text::Alignment::Default,
            align_y: Vertical::Top,
            shaping: Shaping::Advanced,
            wrapping: Wrapping::None,
        }
    }
}

/// What the input keeps between frames.
struct State<P: text::Paragraph> {
    value: paragraph::Plain<P>,
    placeholder: paragraph::Plain<P>,
    caret: Caret,
    focused: bool,
    dragging: bool,
    modifiers: keyboard::Modifiers,
}

impl<P: text::Paragraph> Default for State<P> {
    fn default() -> Self {
        State {
            value: paragraph::Plain::default(),
            placeholder: paragraph::Plain::default(),
            caret: Caret::default(),
            focused: false,
            dragging: false,
            modifiers: keyboard::Modifiers::default(),
        }
    }
}

impl<P: text::Paragraph> operation::Focusable for State<P> {
    fn is_focused(&self) -> bool {
        self.focused
    }

    fn focus(&mut self) {
        self.focused = true;
    }

    fn unfocus(&mut self) {
        self.focused = false;
        self.dragging = false;
    }
}

/// The input as iced's text input operations see it (focus tasks, selectors by value).
struct Operated<'a, P: text::Paragraph> {
    state: &'a mut State<P>,
    value: &'a str,
    placeholder: &'a str,
}

impl<P: text::Paragraph> operation::TextInput for Operated<'_, P> {
    fn text(&self) -> &str {
        if self.value.is_empty() { self.placeholder } else { self.value }
    }

    fn move_cursor_to_front(&mut self) {
        self.state.caret = Caret { index: 0, after: true, anchor: None };
    }

    fn move_cursor_to_end(&mut self) {
        self.state.caret = Caret { index: self.value.len(), after: false, anchor: None };
    }

    fn move_cursor_to(&mut self, position: usize) {
        self.state.caret = Caret { index: floor_boundary(self.value, position), after: false, anchor: None };
    }

    fn select_all(&mut self) {
        self.state.caret = Caret { index: self.value.len(), after: false, anchor: Some(0) };
    }

    fn select_range(&mut self, start: usize, end: usize) {
        let (start, end) = (floor_boundary(self.value, start), floor_boundary(self.value, end));
        self.state.caret = Caret { index: end, after: false, anchor: Some(start) };
    }
}

/// Where things are drawn, computed the same way for drawing, reporting and clicking.
struct Geometry {
    text_bounds: Rectangle,
    /// The paragraph's origin on screen.
    origin: Point,
    line: Line,
    stops: Vec<Stop>,
    caret_x: f32,
    rtl: bool,
}

impl<Message, Theme, Renderer> BidiInput<'_, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
    Renderer::Paragraph: Shaped,
{
    fn geometry(&self, state: &State<Renderer::Paragraph>, bounds: Rectangle) -> Geometry {
        let text_bounds = bounds.shrink(self.padding);
        let line = state.value.raw().lines().into_iter().next().unwrap_or_default();
        let stops = shaping::stops(&self.value, &line);
        let rtl = if self.value.is_empty() { false } else { line.rtl };
        let layout_rtl = self.direction.map_or(rtl, Direction::is_rtl);
        let width = line.right() - line.left();
        let line_height = state.value.min_bounds().height.max(state.placeholder.min_bounds().height);
        let y = text_bounds.center_y() - line_height / 2.0;
        let mut x = if layout_rtl {
            text_bounds.x + text_bounds.width - line.right()
        } else {
            text_bounds.x - line.left()
        };
        let caret = floor_boundary(&self.value, state.caret.index);
        let stop = shaping::find(&stops, caret, state.caret.after).map(|k| stops[k]);
        if width > text_bounds.width
            && let Some(stop) = stop
        {
            // Scroll just enough to show the caret.
            let at = x + stop.x;
            if at > text_bounds.x + text_bounds.width - CARET_WIDTH {
                x -= at - (text_bounds.x + text_bounds.width - CARET_WIDTH);
            } else if at < text_bounds.x {
                x += text_bounds.x - at;
            }
        }
        let caret_x = match stop {
            Some(stop) => x + stop.x,
            None if layout_rtl => text_bounds.x + text_bounds.width - CARET_WIDTH,
            None => text_bounds.x,
        };
        // Keep a caret on the right edge inside the box.
        let caret_x = caret_x.min(text_bounds.x + text_bounds.width - CARET_WIDTH).max(text_bounds.x);
        Geometry { text_bounds, origin: Point::new(x, y), line, stops, caret_x, rtl }
    }

    fn report(&self, state: &State<Renderer::Paragraph>, bounds: Rectangle) -> InputReport {
        let geometry = self.geometry(state, bounds);
        let selection = state.caret.selection();
        InputReport {
            value: self.value.clone(),
            caret: floor_boundary(&self.value, state.caret.index),
            caret_x: geometry.caret_x,
            selection,
            selection_boxes: selection.map(|s| selection_boxes(&geometry, s)).unwrap_or_default(),
            clusters: geometry
                .line
                .clusters
                .iter()
                .map(|c| Cluster { x: geometry.origin.x + c.x, ..*c })
                .collect(),
            rtl: geometry.rtl,
            focused: state.focused,
            text_bounds: geometry.text_bounds,
        }
    }

    /// Shows what a key did: the caret moved, the value edited (the widget shows it at once;
    /// the app gets the new value), the clipboard written, the form submitted.
    fn show(
        &mut self,
        state: &mut State<Renderer::Paragraph>,
        renderer: &Renderer,
        outcome: Outcome,
        clipboard: &mut dyn Clipboard,
        shell: &mut Shell<'_, Message>,
    ) where
        Message: Clone,
    {
        match outcome {
            Outcome::Ignored => return,
            Outcome::Handled => {}
            Outcome::Moved(caret) => state.caret = caret,
            Outcome::Edited { value, caret } => {
                state.caret = caret;
                self.edit(state, renderer, value, shell);
            }
            Outcome::Copied(text) => clipboard.write(clipboard::Kind::Standard, text),
            Outcome::Cut { copied, value, caret } => {
                clipboard.write(clipboard::Kind::Standard, copied);
                state.caret = caret;
                self.edit(state, renderer, value, shell);
            }
            Outcome::Submitted => {
                if let Some(message) = self.on_submit.clone() {
                    shell.publish(message);
                }
            }
            Outcome::Escaped(caret) => {
                state.focused = false;
                state.caret = caret;
            }
        }
        shell.capture_event();
        shell.request_redraw();
    }

    /// Applies an edit: the widget shows it at once; the app gets the new value.
    fn edit(
        &mut self,
        state: &mut State<Renderer::Paragraph>,
        renderer: &Renderer,
        value: String,
        shell: &mut Shell<'_, Message>,
    ) {
        let Some(on_input) = &self.on_input else { return };
        shell.publish(on_input(value.clone()));
        self.value = value;
        let text = self.text(renderer, &self.value);
        let _changed = state.value.update(text);
    }
}

/// The highlighted rectangles of the selected graphemes, merged where they touch.
fn selection_boxes(geometry: &Geometry, (start, end): (usize, usize)) -> Vec<Rectangle> {
    let mut boxes: Vec<Rectangle> = Vec::new();
    let top = geometry.origin.y + geometry.line.top;
    for c in &geometry.line.clusters {
        let (from, to) = (start.max(c.start), end.min(c.end));
        if from >= to {
            continue;
        }
        // Part of a ligature: its share of the cluster, from the cluster's leading edge.
        let len = (c.end - c.start).max(1) as f32;
        let (a, b) = ((from - c.start) as f32 / len, (to - c.start) as f32 / len);
        let (a, b) = if c.rtl { (1.0 - b, 1.0 - a) } else { (a, b) };
        let x = geometry.origin.x + c.x + c.w * a;
        let width = c.w * (b - a);
        match boxes.last_mut() {
            Some(last) if (last.x + last.width - x).abs() < 0.5 => last.width += width,
            _ => boxes.push(Rectangle { x, y: top, width, height: geometry.line.height }),
        }
    }
    boxes
}

impl<Message, Theme, Renderer> Widget<Message, Theme, Renderer> for BidiInput<'_, Message, Theme, Renderer>
where
    Message: Clone,
    Theme: Catalog,
    Renderer: text::Renderer,
    Renderer::Paragraph: Shaped,
{
    fn tag(&self) -> tree::Tag {
        tree::Tag::of::<State<Renderer::Paragraph>>()
    }

    fn state(&self) -> tree::State {
        tree::State::new(State::<Renderer::Paragraph>::default())
    }

    fn size(&self) -> Size<Length> {
        Size::new(self.width, Length::Shrink)
    }

    fn layout(&mut self, tree: &mut Tree, renderer: &Renderer, limits: &layout::Limits) -> layout::Node {
        let state = tree.state.downcast_mut::<State<Renderer::Paragraph>>();
        let _changed = state.value.update(self.text(renderer, &self.value));
        let _changed = state.placeholder.update(self.text(renderer, &self.placeholder));
        let line_height = self.line_height.to_absolute(self.size.unwrap_or_else(|| renderer.default_size()));
        let height = line_height.0 + self.padding.top + self.padding.bottom;
        let limits = limits.width(self.width).height(height);
        layout::Node::new(limits.resolve(self.width, Length::Shrink, Size::new(0.0, height)))
    }

    fn operate(
        &mut self,
        tree: &mut Tree,
        layout: Layout<'_>,
        _renderer: &Renderer,
        operation: &mut dyn Operation,
    ) {
        let state = tree.state.downcast_mut::<State<Renderer::Paragraph>>();
        let mut report = self.report(state, layout.bounds());
        operation.focusable(self.id.as_ref(), layout.bounds(), state);
        operation.text_input(
            self.id.as_ref(),
            layout.bounds(),
            &mut Operated { state, value: &self.value, placeholder: &self.placeholder },
        );
        operation.custom(self.id.as_ref(), layout.bounds(), &mut report);
    }

    fn update(
        &mut self,
        tree: &mut Tree,
        event: &Event,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        renderer: &Renderer,
        clipboard: &mut dyn Clipboard,
        shell: &mut Shell<'_, Message>,
        _viewport: &Rectangle,
    ) {
        let state = tree.state.downcast_mut::<State<Renderer::Paragraph>>();
        let bounds = layout.bounds();
        match event {
            Event::Mouse(mouse::Event::ButtonPressed(mouse::Button::Left)) => {
                let Some(position) = cursor.position_over(bounds) else {
                    state.focused = false;
                    state.dragging = false;
                    return;
                };
                let geometry = self.geometry(state, bounds);
                let old = state.caret;
                if let Some(k) = shaping::nearest(&geometry.stops, position.x - geometry.origin.x) {
                    state.caret = Caret::at(geometry.stops[k]);
                }
                state.caret.anchor = if state.modifiers.shift() {
                    Some(old.anchor.unwrap_or(old.index))
                } else {
                    Some(state.caret.index)
                };
                state.focused = true;
                state.dragging = true;
                shell.capture_event();
                shell.request_redraw();
            }
            Event::Mouse(mouse::Event::CursorMoved { position }) if state.dragging => {
                let geometry = self.geometry(state, bounds);
                if let Some(k) = shaping::nearest(&geometry.stops, position.x - geometry.origin.x) {
                    let anchor = state.caret.anchor;
                    state.caret = Caret { anchor, ..Caret::at(geometry.stops[k]) };
                    shell.request_redraw();
                }
            }
            Event::Mouse(mouse::Event::ButtonReleased(mouse::Button::Left)) => state.dragging = false,
            Event::Keyboard(keyboard::Event::ModifiersChanged(modifiers)) => state.modifiers = *modifiers,
            Event::Keyboard(keyboard::Event::KeyPressed { key, modifiers, text, .. }) if state.focused => {
                state.modifiers = *modifiers;
                let paste = || clipboard.read(clipboard::Kind::Standard);
                let Some(intent) = editing::intent(key, *modifiers, text.as_deref(), paste) else { return };
                let edits = matches!(
                    intent,
                    Intent::Type(_) | Intent::Paste(_) | Intent::Cut | Intent::Backspace | Intent::Delete
                );
                if edits && self.on_input.is_none() {
                    // Read-only: what would change the value is left to others.
                    return;
                }
                let geometry = self.geometry(state, bounds);
                let field = Field { value: &self.value, stops: &geometry.stops, rtl: geometry.rtl };
                let outcome = field.apply(state.caret, intent, modifiers.shift());
                self.show(state, renderer, outcome, clipboard, shell);
            }
            _ => {}
        }
    }

    fn draw(
        &self,
        tree: &Tree,
        renderer: &mut Renderer,
        theme: &Theme,
        _style: &renderer::Style,
        layout: Layout<'_>,
        _cursor: mouse::Cursor,
        viewport: &Rectangle,
    ) {
        let state = tree.state.downcast_ref::<State<Renderer::Paragraph>>();
        let bounds = layout.bounds();
        let style = theme.style(&self.class, state.focused);
        renderer.fill_quad(
            renderer::Quad { bounds, border: style.border, ..renderer::Quad::default() },
            Background::Color(style.background),
        );
        let geometry = self.geometry(state, bounds);
        let clip = geometry.text_bounds.intersection(viewport).unwrap_or(geometry.text_bounds);
        renderer.with_layer(clip, |renderer| {
            if let Some(selection) = state.caret.selection() {
                for rect in selection_boxes(&geometry, selection) {
                    renderer.fill_quad(
                        renderer::Quad { bounds: rect, ..renderer::Quad::default() },
                        Background::Color(style.selection),
                    );
                }
            }
            if self.value.is_empty() {
                let placeholder = state.placeholder.raw();
                let line = placeholder.lines().into_iter().next().unwrap_or_default();
                let rtl = self.direction.map_or(line.rtl, Direction::is_rtl);
                let x = if rtl {
                    geometry.text_bounds.x + geometry.text_bounds.width - line.right()
                } else {
                    geometry.text_bounds.x - line.left()
                };
                renderer.fill_paragraph(
                    placeholder,
                    Point::new(x, geometry.origin.y),
                    style.placeholder,
                    clip,
                );
            } else {
                renderer.fill_paragraph(state.value.raw(), geometry.origin, style.value, clip);
            }
            if state.focused && state.caret.selection().is_none() {
                renderer.fill_quad(
                    renderer::Quad {
                        bounds: Rectangle {
                            x: geometry.caret_x,
                            y: geometry.origin.y + geometry.line.top,
                            width: CARET_WIDTH,
                            height: state.value.min_bounds().height.max(geometry.line.height),
                        },
                        ..renderer::Quad::default()
                    },
                    Background::Color(style.caret),
                );
            }
        });
    }

    fn mouse_interaction(
        &self,
        _tree: &Tree,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        _viewport: &Rectangle,
        _renderer: &Renderer,
    ) -> mouse::Interaction {
        if cursor.is_over(layout.bounds()) { mouse::Interaction::Text } else { mouse::Interaction::default() }
    }
}

impl<'a, Message, Theme, Renderer> From<BidiInput<'a, Message, Theme, Renderer>>
    for Element<'a, Message, Theme, Renderer>
where
    Message: Clone + 'a,
    Theme: Catalog + 'a,
    Renderer: text::Renderer + 'a,
    Renderer::Paragraph: Shaped,
{
    fn from(input: BidiInput<'a, Message, Theme, Renderer>) -> Self {
        Element::new(input)
    }
}
