//! A table of live rows: click a header to sort, only the visible rows are laid out and drawn,
//! rows keep their identity by key (selection and scroll follow them), changed rows glow
//! briefly.
//!
//! ```no_run
//! use lucarne_widgets::{Cell, Column, TableRows, live_table};
//!
//! #[derive(Debug, Clone)]
//! enum Message {
//!     Sort(usize),
//!     Select(String),
//!     Action(String, usize),
//! }
//!
//! struct Desk {
//!     rows: TableRows,
//!     selected: Option<String>,
//! }
//!
//! fn view(desk: &Desk) -> iced_core::Element<'_, Message, iced_core::Theme, iced_widget::Renderer> {
//!     live_table(
//!         vec![Column::new("Order").width(90.0), Column::new("Customer"), Column::new("Total").align_right()],
//!         &desk.rows,
//!     )
//!     .selected(desk.selected.as_deref())
//!     .on_sort(Message::Sort)
//!     .on_select(|key| Message::Select(key.to_owned()))
//!     .on_action(|key, action| Message::Action(key.to_owned(), action))
//!     .into()
//! }
//! # let mut rows = TableRows::new();
//! # rows.upsert("o-1", vec![Cell::text("o-1"), Cell::text("Ada"), Cell::number(42.0, "42.00")]);
//! # let _ = view(&Desk { rows, selected: None });
//! ```
//!
//! Scrolling keeps the row at the top of the viewport at the top while rows are inserted,
//! removed or re-sorted above it (unless the table is scrolled to the very top, where new rows
//! are meant to be seen). With 100 000 rows a frame lays out one node and draws only the rows
//! that fit.

use iced_core::time::{Duration, Instant};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use iced_core::alignment::Vertical;
use iced_core::layout::{self, Layout};
use iced_core::mouse;
use iced_core::renderer;
use iced_core::text::{self, LineHeight, Shaping, Wrapping};
use iced_core::widget::operation::Operation;
use iced_core::widget::tree::{self, Tree};
use iced_core::widget::{Id, Widget};
use iced_core::window;
use iced_core::{
    Background, Border, Clipboard, Color, Element, Event, Length, Pixels, Point, Rectangle, Shell, Size,
};

use crate::direction::Direction;
use crate::table_rows::{Cell, Sort, TableRows};

mod column;
mod guard;
mod style;

pub use column::{Column, FILL_MIN, column_widths};
use guard::Guard;

pub use style::{Catalog, Style, StyleFn, default};
use unicode_segmentation::UnicodeSegmentation as _;

type OnKey<'a, Message> = Box<dyn Fn(&str) -> Message + 'a>;
type OnAction<'a, Message> = Box<dyn Fn(&str, usize) -> Message + 'a>;

/// A virtualized table over [`TableRows`]. See the [module docs](self).
pub struct LiveTable<'a, Message, Theme = iced_core::Theme, Renderer = iced_widget::Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    columns: Vec<Column>,
    rows: &'a TableRows,
    width: Length,
    height: Length,
    row_height: f32,
    text_size: Option<Pixels>,
    font: Option<Renderer::Font>,
    padding: f32,
    selected: Option<&'a str>,
    highlight: Duration,
    now: Option<Instant>,
    id: Option<Id>,
    direction: Direction,
    on_sort: Option<Box<dyn Fn(usize) -> Message + 'a>>,
    on_select: Option<OnKey<'a, Message>>,
    on_action: Option<OnAction<'a, Message>>,
    class: Theme::Class<'a>,
}

impl<Message, Theme, Renderer> std::fmt::Debug for LiveTable<'_, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTable")
            .field("columns", &self.columns.len())
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

/// Creates a [`LiveTable`] of these columns over these rows.
pub fn live_table<'a, Message, Theme, Renderer>(
    columns: Vec<Column>,
    rows: &'a TableRows,
) -> LiveTable<'a, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    LiveTable::new(columns, rows)
}

impl<'a, Message, Theme, Renderer> LiveTable<'a, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    /// Creates a [`LiveTable`] of these columns over these rows.
    pub fn new(columns: Vec<Column>, rows: &'a TableRows) -> Self {
        LiveTable {
            columns,
            rows,
            width: Length::Fill,
            height: Length::Fill,
            row_height: 28.0,
            text_size: None,
            font: None,
            padding: 8.0,
            selected: None,
            highlight: Duration::from_millis(1500),
            now: None,
            id: None,
            direction: Direction::Ltr,
            on_sort: None,
            on_select: None,
            on_action: None,
            class: Theme::default(),
        }
    }

    /// Its width (default `Fill`).
    pub fn width(mut self, width: impl Into<Length>) -> Self {
        self.width = width.into();
        self
    }

    /// Its height (default `Fill`).
    pub fn height(mut self, height: impl Into<Length>) -> Self {
        self.height = height.into();
        self
    }

    /// The height of the header and of every row (default 28).
    pub fn row_height(mut self, height: impl Into<Pixels>) -> Self {
        self.row_height = height.into().0.max(1.0);
        self
    }

    /// The text size (default: the renderer's).
    pub fn text_size(mut self, size: impl Into<Pixels>) -> Self {
        self.text_size = Some(size.into());
        self
    }

    /// The font (default: the renderer's).
    pub fn font(mut self, font: impl Into<Renderer::Font>) -> Self {
        self.font = Some(font.into());
        self
    }

    /// Marks the row with this key as selected.
    pub fn selected(mut self, key: Option<&'a str>) -> Self {
        self.selected = key;
        self
    }

    /// How long a changed row stays highlighted (default 1.5 s; zero turns highlights off).
    pub fn highlight(mut self, duration: Duration) -> Self {
        self.highlight = duration;
        self
    }

    /// The time highlights are computed at (default: when drawn). For reproducible pictures.
    pub fn now(mut self, now: Instant) -> Self {
        self.now = Some(now);
        self
    }

    /// Its id, for operations and tests. Action buttons get the id `"{key}:{label}"`.
    pub fn id(mut self, id: impl Into<Id>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The message for a click on a column's header (by index).
    pub fn on_sort(mut self, on_sort: impl Fn(usize) -> Message + 'a) -> Self {
        self.on_sort = Some(Box::new(on_sort));
        self
    }

    /// The message for a click on a row (by key).
    pub fn on_select(mut self, on_select: impl Fn(&str) -> Message + 'a) -> Self {
        self.on_select = Some(Box::new(on_select));
        self
    }

    /// The message for a press on an enabled action button (row key, action index).
    pub fn on_action(mut self, on_action: impl Fn(&str, usize) -> Message + 'a) -> Self {
        self.on_action = Some(Box::new(on_action));
        self
    }

    /// Styles it with this function.
    pub fn style(mut self, style: impl Fn(&Theme) -> Style + 'a) -> Self
    where
        Theme::Class<'a>: From<StyleFn<'a, Theme>>,
    {
        self.class = (Box::new(style) as StyleFn<'a, Theme>).into();
        self
    }

    /// The layout direction (default: LTR). In RTL the first column is on the right, cells
    /// start on the right and [`Column::align_right`] columns end on the left, the action
    /// buttons run from right to left.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// The sortable column whose header is under `at`.
    /// The key of the row at `at`, if a row is there.
    fn row_at(&self, geometry: &Geometry, at: Point) -> Option<&'a str> {
        if !geometry.body.contains(at) {
            return None;
        }
        let index = whole(((at.y - geometry.body.y + geometry.offset) / self.row_height).floor());
        self.rows.row(index).map(|row| row.key)
    }

    fn clock(&self) -> Instant {
        self.now.unwrap_or_else(Instant::now)
    }

    fn sortable_at(&self, geometry: &Geometry, at: Point, bounds: Rectangle) -> Option<usize> {
        geometry.column_at(at.x, bounds.x).filter(|c| self.columns.get(*c).is_some_and(|c| c.sortable))
    }

    fn geometry(&self, bounds: Rectangle, state: &State) -> Geometry {
        let widths = column_widths(&self.columns, bounds.width - SCROLLBAR);
        let body = Rectangle {
            y: bounds.y + self.row_height,
            height: (bounds.height - self.row_height).max(0.0),
            ..bounds
        };
        let content = self.rows.len() as f32 * self.row_height;
        let max = (content - body.height).max(0.0);
        let offset = state.offset(self.rows, self.row_height).clamp(0.0, max);
        Geometry { widths, body, offset, max, rtl: self.direction.is_rtl() }
    }

    /// One line of a cell, `width` wide, laid out with `Default`: iced 0.14 lays a one-line
    /// right-to-left text with an explicit alignment out at the right end of its bounds (its
    /// "RTL text off its box" bug), with `Default` from its left edge like any other.
    fn text<C>(&self, renderer: &Renderer, content: C, width: f32) -> text::Text<C, Renderer::Font> {
        text::Text {
            content,
            bounds: Size::new(width.max(0.0), self.row_height),
            size: self.text_size.unwrap_or_else(|| renderer.default_size()),
            line_height: LineHeight::default(),
            font: self.font.unwrap_or_else(|| renderer.default_font()),
            align_x: text::Alignment::Default,
            align_y: Vertical::Center,
            shaping: Shaping::Advanced,
            wrapping: Wrapping::None,
        }
    }
}

/// Width of the scrollbar strip on the right.
const SCROLLBAR: f32 = 8.0;

struct Geometry {
    widths: Vec<f32>,
    body: Rectangle,
    offset: f32,
    max: f32,
    /// Columns from right to left.
    rtl: bool,
}

impl Geometry {
    fn row_bounds(&self, index: usize, row_height: f32) -> Rectangle {
        Rectangle {
            x: self.body.x,
            y: self.body.y + index as f32 * row_height - self.offset,
            width: self.body.width - SCROLLBAR,
            height: row_height,
        }
    }

    fn cells(&self, row: Rectangle) -> impl Iterator<Item = Rectangle> + '_ {
        let total: f32 = self.widths.iter().sum();
        let mut x = if self.rtl { row.x + total } else { row.x };
        let rtl = self.rtl;
        self.widths.iter().map(move |w| {
            if rtl {
                x -= w;
                Rectangle { x, width: *w, ..row }
            } else {
                let cell = Rectangle { x, width: *w, ..row };
                x += w;
                cell
            }
        })
    }

    fn column_at(&self, x: f32, left: f32) -> Option<usize> {
        let row = Rectangle { x: left, y: 0.0, width: 0.0, height: 0.0 };
        self.cells(row).position(|cell| x >= cell.x && x < cell.x + cell.width)
    }

    fn scrollbar(&self, rows: usize, row_height: f32) -> Option<Rectangle> {
        let content = rows as f32 * row_height;
        if content <= self.body.height || self.body.height <= 0.0 {
            return None;
        }
        let height = (self.body.height * self.body.height / content).max(16.0).min(self.body.height);
        let y = self.body.y + (self.body.height - height) * (self.offset / self.max.max(1.0));
        Some(Rectangle {
            x: self.body.x + self.body.width - SCROLLBAR + 2.0,
            y,
            width: SCROLLBAR - 3.0,
            height,
        })
    }
}

/// A count (of rows, of graphemes) measured in a float: 0 when negative or NaN, saturated when
/// too large.
#[expect(clippy::cast_possible_truncation, reason = "`as` saturates a float into an index, NaN is 0")]
fn whole(count: f32) -> usize {
    count.max(0.0) as usize
}

/// The indices of the rows that intersect a viewport of `height` scrolled by `offset`.
pub fn visible_rows(offset: f32, height: f32, row_height: f32, len: usize) -> Range<usize> {
    if row_height <= 0.0 || len == 0 {
        return 0..0;
    }
    let first = whole((offset.max(0.0) / row_height).floor());
    let last = whole(((offset.max(0.0) + height.max(0.0)) / row_height).ceil());
    first.min(len)..last.min(len)
}

/// The widget's state: where it is scrolled to, anchored to the key of the top row.
#[derive(Debug, Default)]
struct State {
    offset: f32,
    anchor: Option<(String, f32)>,
    dragging: Option<f32>,
    /// Widths of the texts drawn so far.
    widths: RefCell<Widths>,
    /// Which row is under the pointer, and whether it moved there by itself.
    guard: RefCell<Guard>,
}

/// The widths of texts at one text size.
#[derive(Debug, Default)]
struct Widths {
    size: f32,
    map: HashMap<String, f32>,
}

impl Widths {
    /// Beyond this many texts the cache starts again.
    const MAX: usize = 8192;
}

impl State {
    /// The offset that keeps the anchor row at the top, wherever it moved.
    fn offset(&self, rows: &TableRows, row_height: f32) -> f32 {
        match &self.anchor {
            Some((key, within)) if self.offset > 0.0 => match rows.position(key) {
                Some(index) => index as f32 * row_height + within,
                None => self.offset,
            },
            _ => self.offset,
        }
    }

    fn scroll_to(&mut self, offset: f32, rows: &TableRows, row_height: f32) {
        self.offset = offset.max(0.0);
        let index = whole((self.offset / row_height).floor());
        self.anchor = rows.key_at(index).map(|key| (key.to_owned(), self.offset - index as f32 * row_height));
    }
}

impl<Message, Theme, Renderer> Widget<Message, Theme, Renderer> for LiveTable<'_, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    fn tag(&self) -> tree::Tag {
        tree::Tag::of::<State>()
    }

    fn state(&self) -> tree::State {
        tree::State::new(State::default())
    }

    fn size(&self) -> Size<Length> {
        Size::new(self.width, self.height)
    }

    fn layout(&mut self, _tree: &mut Tree, _renderer: &Renderer, limits: &layout::Limits) -> layout::Node {
        // One node, whatever the number of rows: rows are placed when drawn.
        layout::atomic(limits, self.width, self.height)
    }

    fn operate(
        &mut self,
        tree: &mut Tree,
        layout: Layout<'_>,
        _renderer: &Renderer,
        operation: &mut dyn Operation,
    ) {
        let bounds = layout.bounds();
        operation.container(self.id.as_ref(), bounds);
        let state = tree.state.downcast_ref::<State>();
        let geometry = self.geometry(bounds, state);
        let header = Rectangle { height: self.row_height, ..bounds };
        for (column, cell) in self.columns.iter().zip(geometry.cells(header)) {
            operation.text(None, cell, &column.title);
        }
        for index in visible_rows(geometry.offset, geometry.body.height, self.row_height, self.rows.len()) {
            let Some(row) = self.rows.row(index) else { continue };
            let bounds = geometry.row_bounds(index, self.row_height);
            for (cell, area) in row.cells.iter().zip(geometry.cells(bounds)) {
                match cell {
                    Cell::Actions(actions) => {
                        for (action, slot) in
                            actions.iter().zip(action_slots(area, actions.len(), self.padding, geometry.rtl))
                        {
                            let id = Id::from(format!("{}:{}", row.key, action.label));
                            operation.text(Some(&id), slot, &action.label);
                        }
                    }
                    other => operation.text(None, area, other.as_str()),
                }
            }
        }
    }

    fn update(
        &mut self,
        tree: &mut Tree,
        event: &Event,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        _renderer: &Renderer,
        _clipboard: &mut dyn Clipboard,
        shell: &mut Shell<'_, Message>,
        _viewport: &Rectangle,
    ) {
        let bounds = layout.bounds();
        let state = tree.state.downcast_mut::<State>();
        let geometry = self.geometry(bounds, state);
        match event {
            Event::Window(window::Event::RedrawRequested(now)) if self.highlight > Duration::ZERO => {
                let range =
                    visible_rows(geometry.offset, geometry.body.height, self.row_height, self.rows.len());
                let glowing = range
                    .filter_map(|i| self.rows.row(i)?.changed)
                    .any(|at| now.saturating_duration_since(at) < self.highlight);
                if glowing {
                    shell.request_redraw();
                }
            }
            Event::Mouse(mouse::Event::WheelScrolled { delta }) if cursor.is_over(bounds) => {
                let dy = match delta {
                    mouse::ScrollDelta::Lines { y, .. } => y * self.row_height * 3.0,
                    mouse::ScrollDelta::Pixels { y, .. } => *y,
                };
                let target = (geometry.offset - dy).clamp(0.0, geometry.max);
                state.scroll_to(target, self.rows, self.row_height);
                shell.capture_event();
                shell.request_redraw();
            }
            Event::Mouse(mouse::Event::ButtonPressed(mouse::Button::Left)) => {
                let Some(at) = cursor.position_over(bounds) else { return };
                if let Some(thumb) = geometry.scrollbar(self.rows.len(), self.row_height)
                    && at.x >= thumb.x - 2.0
                {
                    state.dragging =
                        Some(if thumb.contains(at) { at.y - thumb.y } else { thumb.height / 2.0 });
                    self.drag(state, &geometry, at, shell);
                    shell.capture_event();
                    return;
                }
                if at.y < geometry.body.y {
                    if let (Some(on_sort), Some(column)) =
                        (&self.on_sort, self.sortable_at(&geometry, at, bounds))
                    {
                        shell.publish(on_sort(column));
                        shell.capture_event();
                    }
                    return;
                }
                let index = whole(((at.y - geometry.body.y + geometry.offset) / self.row_height).floor());
                let Some(row) = self.rows.row(index) else { return };
                let Some(column) = geometry.column_at(at.x, bounds.x) else { return };
                if !state.guard.borrow().allows(row.key, self.clock()) {
                    // The row slid under a pointer that stood still: not what was aimed at.
                    shell.capture_event();
                    return;
                }
                if let Some(Cell::Actions(actions)) = row.cells.get(column) {
                    let area = geometry.cells(geometry.row_bounds(index, self.row_height)).nth(column);
                    let hit = area.and_then(|area| {
                        action_slots(area, actions.len(), self.padding, geometry.rtl)
                            .position(|slot| slot.contains(at))
                    });
                    if let (Some(hit), Some(on_action)) = (hit, &self.on_action) {
                        if actions.get(hit).is_some_and(|a| a.enabled) {
                            shell.publish(on_action(row.key, hit));
                        }
                        shell.capture_event();
                        return;
                    }
                }
                if let Some(on_select) = &self.on_select {
                    shell.publish(on_select(row.key));
                    shell.capture_event();
                }
            }
            Event::Mouse(mouse::Event::CursorMoved { position }) => {
                let over = cursor.position_over(bounds).and_then(|at| self.row_at(&geometry, at));
                state.guard.borrow_mut().pointer_moved(over, self.clock());
                if state.dragging.is_some() {
                    self.drag(state, &geometry, *position, shell);
                }
            }
            Event::Mouse(mouse::Event::ButtonReleased(mouse::Button::Left)) if state.dragging.is_some() => {
                state.dragging = None;
                shell.capture_event();
            }
            _ => {}
        }
    }

    fn mouse_interaction(
        &self,
        tree: &Tree,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        _viewport: &Rectangle,
        _renderer: &Renderer,
    ) -> mouse::Interaction {
        let bounds = layout.bounds();
        let Some(at) = cursor.position_over(bounds) else { return mouse::Interaction::None };
        let geometry = self.geometry(bounds, tree.state.downcast_ref::<State>());
        if at.y < geometry.body.y {
            let sorts = self.on_sort.is_some() && self.sortable_at(&geometry, at, bounds).is_some();
            return if sorts { mouse::Interaction::Pointer } else { mouse::Interaction::None };
        }
        let index = whole(((at.y - geometry.body.y + geometry.offset) / self.row_height).floor());
        let on_action = self.rows.row(index).zip(geometry.column_at(at.x, bounds.x)).is_some_and(|(row, column)| {
            matches!(row.cells.get(column), Some(Cell::Actions(a)) if a.iter().any(|a| a.enabled))
        });
        if on_action && self.on_action.is_some() || self.on_select.is_some() && index < self.rows.len() {
            mouse::Interaction::Pointer
        } else {
            mouse::Interaction::None
        }
    }

    fn draw(
        &self,
        tree: &Tree,
        renderer: &mut Renderer,
        theme: &Theme,
        _style: &renderer::Style,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        viewport: &Rectangle,
    ) {
        let bounds = layout.bounds();
        let Some(visible) = bounds.intersection(viewport) else { return };
        let style = theme.style(&self.class);
        let state = tree.state.downcast_ref::<State>();
        let geometry = self.geometry(bounds, state);
        let widths = &state.widths;
        let now = self.clock();
        let over = cursor.position_over(bounds).and_then(|at| self.row_at(&geometry, at));
        state.guard.borrow_mut().drawn(over, now);
        fill(renderer, bounds, style.background, 0.0);

        // Header.
        let header = Rectangle { height: self.row_height, ..bounds };
        fill(renderer, header, style.header_background, 0.0);
        fill(
            renderer,
            Rectangle { y: header.y + header.height - 1.0, height: 1.0, ..header },
            style.rule,
            0.0,
        );
        let sort = self.rows.sort();
        for (index, (column, cell)) in self.columns.iter().zip(geometry.cells(header)).enumerate() {
            let right = self.end(column);
            let descending = match sort {
                Some(Sort { column: c, descending }) if c == index => descending,
                _ => {
                    self.cell_text(renderer, widths, &column.title, cell, right, style.header_text);
                    continue;
                }
            };
            // The sorted column's title leaves room for the arrow after it (to its left in a
            // right-to-left table); the arrow is drawn, not a glyph, so it shows in any font.
            // The arrow may take the cell's padding but 2 pixels.
            let inner = cell.shrink(iced_core::Padding::from([0.0, self.padding]));
            let room = (ARROW_WIDTH + ARROW_GAP - (self.padding - 2.0).max(0.0)).clamp(0.0, inner.width);
            let area = if geometry.rtl {
                Rectangle { x: inner.x + room, width: inner.width - room, ..inner }
            } else {
                Rectangle { width: inner.width - room, ..inner }
            };
            let (x, width) = self.text_in(renderer, widths, &column.title, area, right, style.header_text);
            let arrow_x = if geometry.rtl { x - ARROW_GAP - ARROW_WIDTH } else { x + width + ARROW_GAP };
            arrow(renderer, Point::new(arrow_x, inner.center_y()), descending, style.header_text);
        }

        // Rows: only those in view.
        let body = geometry.body;
        renderer.with_layer(
            body.intersection(&visible).unwrap_or(Rectangle::with_size(Size::ZERO)),
            |renderer| {
                for index in visible_rows(geometry.offset, body.height, self.row_height, self.rows.len()) {
                    let Some(row) = self.rows.row(index) else { continue };
                    let area = geometry.row_bounds(index, self.row_height);
                    // What shows of the row: a row scrolled half out is cut at the header and
                    // at the table's end, its buttons too (whatever the renderer's layers do).
                    let Some(shown) = area.intersection(&body) else { continue };
                    if self.selected == Some(row.key) {
                        fill(renderer, shown, style.selected, 0.0);
                    } else if index % 2 == 1 {
                        fill(renderer, shown, style.stripe, 0.0);
                    }
                    if let Some(changed) = row.changed
                        && self.highlight > Duration::ZERO
                    {
                        let age = now.saturating_duration_since(changed).as_secs_f32()
                            / self.highlight.as_secs_f32();
                        if age < 1.0 {
                            fill(
                                renderer,
                                shown,
                                Color { a: style.highlight.a * (1.0 - age), ..style.highlight },
                                0.0,
                            );
                        }
                    }
                    for ((cell, column), cell_area) in
                        row.cells.iter().zip(&self.columns).zip(geometry.cells(area))
                    {
                        match cell {
                            Cell::Actions(actions) => {
                                for (action, slot) in actions.iter().zip(action_slots(
                                    cell_area,
                                    actions.len(),
                                    self.padding,
                                    geometry.rtl,
                                )) {
                                    let Some(part) = slot.intersection(&body) else { continue };
                                    let hovered = action.enabled && cursor.is_over(part);
                                    // A disabled button has a background of its own too, so that
                                    // its label reads the same on a stripe, a selection or the
                                    // glow of a changed row.
                                    let (background, text) = if action.enabled {
                                        let base = if hovered { lighten(style.action) } else { style.action };
                                        (base, style.action_text)
                                    } else {
                                        (style.action_disabled_background, style.action_disabled)
                                    };
                                    let radius = if part == slot { 4.0 } else { 0.0 };
                                    fill(renderer, part, background, radius);
                                    self.label(renderer, widths, &action.label, slot, text);
                                }
                            }
                            other => self.cell_text(
                                renderer,
                                widths,
                                other.as_str(),
                                cell_area,
                                self.end(column),
                                style.text,
                            ),
                        }
                    }
                }
            },
        );
        if let Some(thumb) = geometry.scrollbar(self.rows.len(), self.row_height) {
            fill(renderer, thumb, style.scroller, 2.0);
        }
    }
}

impl<Message, Theme, Renderer> LiveTable<'_, Message, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    /// Whether a column's cells are on the right: start columns in RTL, end columns in LTR.
    fn end(&self, column: &Column) -> bool {
        column.align_right != self.direction.is_rtl()
    }

    /// Draws a cell's text at the cell's start or end (`right`), vertically centred, cut with
    /// an ellipsis to the cell's width.
    fn cell_text(
        &self,
        renderer: &mut Renderer,
        widths: &RefCell<Widths>,
        content: &str,
        cell: Rectangle,
        right: bool,
        color: Color,
    ) {
        let inner = cell.shrink(iced_core::Padding::from([0.0, self.padding]));
        let _placed = self.text_in(renderer, widths, content, inner, right, color);
    }

    /// Draws a text at the start or end (`right`) of `area`, cut to its width; returns where it
    /// starts and how wide it is.
    fn text_in(
        &self,
        renderer: &mut Renderer,
        widths: &RefCell<Widths>,
        content: &str,
        area: Rectangle,
        right: bool,
        color: Color,
    ) -> (f32, f32) {
        if content.is_empty() {
            let edge = if right { area.x + area.width } else { area.x };
            return (edge, 0.0);
        }
        let (content, width) = self.fit(renderer, widths, content, area.width);
        let x = if right { area.x + area.width - width } else { area.x };
        self.fill_line(renderer, content, width, Point::new(x, area.center_y()), area, color);
        (x, width)
    }

    /// Draws an action button's label centred in its slot, cut to the slot's width (a slot
    /// scrolled half out is cut by the rows' layer: a text clipped inside its layer would be
    /// drawn past its reported bounds, see `fill_line`).
    fn label(
        &self,
        renderer: &mut Renderer,
        widths: &RefCell<Widths>,
        content: &str,
        slot: Rectangle,
        color: Color,
    ) {
        let (content, width) = self.fit(renderer, widths, content, (slot.width - 4.0).max(0.0));
        self.fill_line(
            renderer,
            content,
            width,
            Point::new(slot.center_x() - width / 2.0, slot.center_y()),
            slot,
            color,
        );
    }

    /// Draws one line whose left edge is at `x` and vertical centre at `y`, from its top-left
    /// corner (see `line.rs`). `clip` is the cell: within the rows' layer, a cell cut by the
    /// table's edge is masked to the layer (iced masks a text by its layer, not by its own
    /// clip, when that clip lies inside the layer; the text fits its cell by then). `width` is
    /// the line's measured width: its bounds are a little wider, because iced 0.14's
    /// `fill_text` wraps whatever the text's `wrapping` says (its cache key has none), and a
    /// line as wide as its bounds would break at a space.
    fn fill_line(
        &self,
        renderer: &mut Renderer,
        content: String,
        width: f32,
        at: Point,
        clip: Rectangle,
        color: Color,
    ) {
        let text = self.text(renderer, content, width + 2.0);
        crate::line::fill_line(renderer, text, at, color, clip);
    }

    /// `content`, or as much of it as fits in `available` followed by an ellipsis, and its
    /// width. Widths are measured once per text and kept (cosmic-text shaping per cell and
    /// frame would cost more than the drawing).
    fn fit(
        &self,
        renderer: &Renderer,
        widths: &RefCell<Widths>,
        content: &str,
        available: f32,
    ) -> (String, f32) {
        use text::Paragraph as _;
        let size = self.text_size.unwrap_or_else(|| renderer.default_size());
        let mut widths = widths.borrow_mut();
        if widths.size != size.0 || widths.map.len() > Widths::MAX {
            widths.size = size.0;
            widths.map.clear();
        }
        let mut measure = |content: &str| -> f32 {
            if let Some(width) = widths.map.get(content) {
                return *width;
            }
            // Wide enough for any line (an infinite width gives NaN for right-to-left ones).
            let width = Renderer::Paragraph::with_text(self.text(renderer, content, 1.0e5)).min_width();
            widths.map.insert(content.to_owned(), width);
            width
        };
        let width = measure(content);
        if width <= available + 0.5 {
            return (content.to_owned(), width);
        }
        // Keep graphemes from the logical start: as many as the widths suggest, then fewer
        // until the text and its ellipsis fit (an ellipsis alone, or nothing, at worst).
        let ends: Vec<usize> = content.grapheme_indices(true).map(|(at, g)| at + g.len()).collect();
        let mut keep = whole((ends.len() as f32 * available / width).floor()).min(ends.len());
        loop {
            let kept = keep.checked_sub(1).map_or("", |i| content[..ends[i]].trim_end());
            let cut = format!("{kept}…");
            let cut_width = measure(&cut);
            if cut_width <= available + 0.5 {
                return (cut, cut_width);
            }
            if keep == 0 {
                return (String::new(), 0.0);
            }
            keep -= 1;
        }
    }

    fn drag(&self, state: &mut State, geometry: &Geometry, at: Point, shell: &mut Shell<'_, Message>) {
        let Some(grab) = state.dragging else { return };
        let Some(thumb) = geometry.scrollbar(self.rows.len(), self.row_height) else { return };
        let track = (geometry.body.height - thumb.height).max(1.0);
        let ratio = ((at.y - grab - geometry.body.y) / track).clamp(0.0, 1.0);
        state.scroll_to(ratio * geometry.max, self.rows, self.row_height);
        shell.request_redraw();
    }
}

/// The areas of `count` action buttons side by side in a cell.
fn action_slots(cell: Rectangle, count: usize, padding: f32, rtl: bool) -> impl Iterator<Item = Rectangle> {
    let inner = cell.shrink(iced_core::Padding::from([3.0, padding / 2.0]));
    let gap = 4.0;
    let width = if count == 0 { 0.0 } else { (inner.width - gap * (count as f32 - 1.0)) / count as f32 };
    (0..count).map(move |i| {
        let offset = i as f32 * (width + gap);
        let x = if rtl { inner.x + inner.width - offset - width.max(0.0) } else { inner.x + offset };
        Rectangle { x, width: width.max(0.0), ..inner }
    })
}

/// The width of a header's sort arrow, and its gap to the title.
const ARROW_WIDTH: f32 = 7.0;
const ARROW_GAP: f32 = 3.0;

/// A sort arrow, `ARROW_WIDTH` wide and 4 pixels tall, its left edge at `at.x` and its middle at
/// `at.y`: pointing up (ascending) or down, drawn as rows of pixels.
fn arrow<Renderer: renderer::Renderer>(renderer: &mut Renderer, at: Point, descending: bool, color: Color) {
    let top = (at.y - 2.0).round();
    for row in 0..4u8 {
        let step = if descending { 3 - row } else { row };
        let width = 1.0 + 2.0 * f32::from(step);
        let x = at.x + (ARROW_WIDTH - width) / 2.0;
        fill(renderer, Rectangle { x, y: top + f32::from(row), width, height: 1.0 }, color, 0.0);
    }
}

fn fill<Renderer: renderer::Renderer>(renderer: &mut Renderer, bounds: Rectangle, color: Color, radius: f32) {
    if color.a <= 0.0 {
        return;
    }
    renderer.fill_quad(
        renderer::Quad {
            bounds,
            border: Border { radius: radius.into(), ..Border::default() },
            ..renderer::Quad::default()
        },
        Background::Color(color),
    );
}

fn lighten(color: Color) -> Color {
    Color {
        r: color.r + (1.0 - color.r) * 0.2,
        g: color.g + (1.0 - color.g) * 0.2,
        b: color.b + (1.0 - color.b) * 0.2,
        ..color
    }
}

impl<'a, Message, Theme, Renderer> From<LiveTable<'a, Message, Theme, Renderer>>
    for Element<'a, Message, Theme, Renderer>
where
    Message: 'a,
    Theme: Catalog + 'a,
    Renderer: text::Renderer + 'a,
{
    fn from(table: LiveTable<'a, Message, Theme, Renderer>) -> Self {
        Element::new(table)
    }
}

#[cfg(test)]
mod tests;
