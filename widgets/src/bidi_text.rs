//! Text that aligns by reading direction and stays inside its box in any script.
//!
//! ```no_run
//! use iced_core::Length::Fill;
//! use lucarne_widgets::{Align, Direction, bidi_text};
//!
//! type Element<'a> = iced_core::Element<'a, (), iced_core::Theme, iced_widget::Renderer>;
//!
//! // Starts at the right edge: the paragraph is Arabic (first strong character).
//! let title: Element<'_> = bidi_text("طلب رقم ٤٢").width(Fill).into();
//! // Ends at the left edge in an RTL layout, whatever the script of the text.
//! let total: Element<'_> = bidi_text("1,234.50").width(Fill).direction(Direction::Rtl).align_x(Align::End).into();
//! # let _ = (title, total);
//! ```
//!
//! iced 0.14's `text` draws a single-line right-to-left paragraph aligned `Right` or `Center`
//! outside its box, and aligns it left by default. This widget shapes the paragraph with iced's
//! paragraph (cosmic-text lays out the bidi runs of each line), then reads where the glyphs
//! actually are ([`Shaped`]) and places the lines so that their ink starts, ends or is centered
//! in the box: the alignment is computed from the glyph positions, not from the paragraph's
//! reported bounds, for single-line and wrapped text alike.
//!
//! The default alignment is [`Align::Start`]: the right edge when the paragraph is right to
//! left. The paragraph's direction is its first strong character's, or
//! [`direction`](BidiText::direction) when set (a direction mark is then put first, so that
//! neutral and opposite-script text is ordered for that direction too).

use iced_core::alignment::{Horizontal, Vertical};
use iced_core::layout::{self, Layout};
use iced_core::mouse;
use iced_core::renderer;
use iced_core::text::{self, LineHeight, Shaping, Wrapping, paragraph};
use iced_core::widget::operation::Operation;
use iced_core::widget::tree::{self, Tree};
use iced_core::widget::{Id, Widget};
use iced_core::{Color, Element, Length, Pixels, Point, Rectangle, Size};

use crate::direction::{Align, Direction};
use crate::shaping::{Line, Shaped};

/// Where a paragraph's glyphs are on screen (reported to operations under the widget's id, for
/// tests and tools; see [`Placed::boxes`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placed {
    /// The widget's bounds.
    pub bounds: Rectangle,
    /// Where the paragraph's origin is drawn.
    pub origin: Point,
    /// The direction of the paragraph.
    pub direction: Direction,
    /// Its lines, in paragraph coordinates (add `origin`).
    pub lines: Vec<Line>,
}

impl Placed {
    /// The box of every cluster, in screen coordinates.
    pub fn boxes(&self) -> Vec<Rectangle> {
        self.lines
            .iter()
            .flat_map(|line| {
                line.clusters.iter().map(move |c| Rectangle {
                    x: self.origin.x + c.x,
                    y: self.origin.y + line.top,
                    width: c.w,
                    height: line.height,
                })
            })
            .collect()
    }

    /// Each line's ink box (its clusters' union), in screen coordinates.
    pub fn line_boxes(&self) -> Vec<Rectangle> {
        self.lines
            .iter()
            .filter(|line| !line.clusters.is_empty())
            .map(|line| Rectangle {
                x: self.origin.x + line.left(),
                y: self.origin.y + line.top,
                width: line.right() - line.left(),
                height: line.height,
            })
            .collect()
    }
}

/// The shaped paragraph, and whether it was one line (then shaped with `Default` alignment).
struct State<P: text::Paragraph> {
    paragraph: paragraph::Plain<P>,
    one_line: bool,
}

impl<P: text::Paragraph> Default for State<P> {
    fn default() -> Self {
        State { paragraph: paragraph::Plain::default(), one_line: true }
    }
}

/// A paragraph aligned by reading direction. See the [module docs](self).
pub struct BidiText<'a, Renderer = iced_widget::Renderer>
where
    Renderer: text::Renderer,
{
    content: String,
    direction: Option<Direction>,
    fallback: Direction,
    align_x: Align,
    align_y: Vertical,
    width: Length,
    height: Length,
    size: Option<Pixels>,
    line_height: LineHeight,
    font: Option<Renderer::Font>,
    wrapping: Wrapping,
    color: Option<Color>,
    id: Option<Id>,
    _lifetime: std::marker::PhantomData<&'a ()>,
}

impl<Renderer> std::fmt::Debug for BidiText<'_, Renderer>
where
    Renderer: text::Renderer,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BidiText")
            .field("content", &self.content)
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

/// Creates a [`BidiText`].
pub fn bidi_text<'a, Renderer>(content: impl Into<String>) -> BidiText<'a, Renderer>
where
    Renderer: text::Renderer,
{
    BidiText::new(content)
}

impl<'a, Renderer> BidiText<'a, Renderer>
where
    Renderer: text::Renderer,
{
    /// A paragraph of this text, aligned to its start, wrapping at word boundaries.
    pub fn new(content: impl Into<String>) -> Self {
        BidiText {
            content: content.into(),
            direction: None,
            fallback: Direction::Ltr,
            align_x: Align::Start,
            align_y: Vertical::Top,
            width: Length::Shrink,
            height: Length::Shrink,
            size: None,
            line_height: LineHeight::default(),
            font: None,
            wrapping: Wrapping::Word,
            color: None,
            id: None,
            _lifetime: std::marker::PhantomData,
        }
    }

    /// Sets the paragraph's direction (default: its first strong character's).
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    /// The direction when the text has no strong character (digits, punctuation), usually the
    /// app's layout direction (default: LTR).
    pub fn fallback(mut self, direction: Direction) -> Self {
        self.fallback = direction;
        self
    }

    /// Its horizontal alignment (default: [`Align::Start`]).
    pub fn align_x(mut self, align: Align) -> Self {
        self.align_x = align;
        self
    }

    /// Its vertical alignment in a taller box (default: top).
    pub fn align_y(mut self, align: Vertical) -> Self {
        self.align_y = align;
        self
    }

    /// Its width (default: shrink to the text).
    pub fn width(mut self, width: impl Into<Length>) -> Self {
        self.width = width.into();
        self
    }

    /// Its height (default: shrink to the text).
    pub fn height(mut self, height: impl Into<Length>) -> Self {
        self.height = height.into();
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

    /// How lines wrap (default: at word boundaries; `Wrapping::None` keeps one line).
    pub fn wrapping(mut self, wrapping: Wrapping) -> Self {
        self.wrapping = wrapping;
        self
    }

    /// Its colour (default: the style's text colour).
    pub fn color(mut self, color: impl Into<Color>) -> Self {
        self.color = Some(color.into());
        self
    }

    /// Its id: its text and its [`Placed`] glyphs are reported under it to operations.
    pub fn id(mut self, id: impl Into<Id>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The paragraph's direction.
    pub fn resolved_direction(&self) -> Direction {
        self.direction.or_else(|| Direction::of(&self.content)).unwrap_or(self.fallback)
    }

    /// The side it is aligned to.
    fn horizontal(&self) -> Horizontal {
        self.align_x.resolve(self.resolved_direction())
    }

    /// The text as shaped: with a direction mark first when the direction is set and differs
    /// from the text's own.
    fn shaped_content(&self) -> String {
        match self.direction {
            Some(direction) if Direction::of(&self.content) != Some(direction) => {
                format!("{}{}", direction.mark(), self.content)
            }
            _ => self.content.clone(),
        }
    }
}

impl<Message, Theme, Renderer> Widget<Message, Theme, Renderer> for BidiText<'_, Renderer>
where
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
        Size::new(self.width, self.height)
    }

    fn layout(&mut self, tree: &mut Tree, renderer: &Renderer, limits: &layout::Limits) -> layout::Node {
        let limits = limits.width(self.width).height(self.height);
        let max = limits.max();
        let bounds = match self.wrapping {
            Wrapping::None => Size::new(crate::shaping::UNBOUNDED, max.height),
            _ => Size::new(max.width.min(crate::shaping::UNBOUNDED), max.height),
        };
        // cosmic-text aligns the lines of a wrapped paragraph relative to each other; where
        // the block goes in the box is decided in `draw` from the glyphs. A one-line paragraph
        // is shaped with `Default`: with an explicit alignment iced 0.14 leaves a one-line RTL
        // paragraph at the right of its shaping width while reporting (and culling) it at 0,
        // which is its off-the-box bug.
        let explicit = match self.horizontal() {
            Horizontal::Left => text::Alignment::Left,
            Horizontal::Center => text::Alignment::Center,
            Horizontal::Right => text::Alignment::Right,
        };
        let content = self.shaped_content();
        let one_text_line = !content.contains('\n');
        let state = tree.state.downcast_mut::<State<Renderer::Paragraph>>();
        let text = |align_x| text::Text {
            content: content.as_str(),
            bounds,
            size: self.size.unwrap_or_else(|| renderer.default_size()),
            line_height: self.line_height,
            font: self.font.unwrap_or_else(|| renderer.default_font()),
            align_x,
            align_y: Vertical::Top,
            shaping: Shaping::Advanced,
            wrapping: self.wrapping,
        };
        let guess = if one_text_line && state.one_line { text::Alignment::Default } else { explicit };
        crate::reuse::update(&mut state.paragraph, text(guess));
        // Shape again only when the number of lines changed sides (rare: a resize, new text).
        let one_line = one_text_line && state.paragraph.raw().lines().len() <= 1;
        if one_line != state.one_line {
            state.one_line = one_line;
            let align = if one_line { text::Alignment::Default } else { explicit };
            crate::reuse::update(&mut state.paragraph, text(align));
        }
        let state = &state.paragraph;
        let lines = state.raw().lines();
        let ink = lines.iter().filter(|l| !l.clusters.is_empty());
        let width = ink.clone().map(|l| l.right()).reduce(f32::max).unwrap_or(0.0)
            - ink.map(|l| l.left()).reduce(f32::min).unwrap_or(0.0);
        let height = state.min_bounds().height;
        layout::Node::new(limits.resolve(self.width, self.height, Size::new(width.ceil(), height)))
    }

    fn operate(
        &mut self,
        tree: &mut Tree,
        layout: Layout<'_>,
        _renderer: &Renderer,
        operation: &mut dyn Operation,
    ) {
        let state = &tree.state.downcast_ref::<State<Renderer::Paragraph>>().paragraph;
        operation.text(self.id.as_ref(), layout.bounds(), &self.content);
        let mut placed = self.place(state, layout.bounds());
        operation.custom(self.id.as_ref(), layout.bounds(), &mut placed);
    }

    fn draw(
        &self,
        tree: &Tree,
        renderer: &mut Renderer,
        _theme: &Theme,
        style: &renderer::Style,
        layout: Layout<'_>,
        _cursor: mouse::Cursor,
        viewport: &Rectangle,
    ) {
        let state = &tree.state.downcast_ref::<State<Renderer::Paragraph>>().paragraph;
        let placed = self.place(state, layout.bounds());
        renderer.fill_paragraph(
            state.raw(),
            placed.origin,
            self.color.unwrap_or(style.text_color),
            *viewport,
        );
    }
}

impl<Renderer> BidiText<'_, Renderer>
where
    Renderer: text::Renderer,
    Renderer::Paragraph: Shaped,
{
    /// Where the paragraph goes in `bounds`: its ink's start, end or middle on the box's.
    fn place(&self, state: &paragraph::Plain<Renderer::Paragraph>, bounds: Rectangle) -> Placed {
        let lines = state.raw().lines();
        let ink: Vec<&Line> = lines.iter().filter(|l| !l.clusters.is_empty()).collect();
        let left = ink.iter().map(|l| l.left()).reduce(f32::min).unwrap_or(0.0);
        let right = ink.iter().map(|l| l.right()).reduce(f32::max).unwrap_or(0.0);
        let x = match self.horizontal() {
            Horizontal::Left => bounds.x - left,
            Horizontal::Right => bounds.x + bounds.width - right,
            Horizontal::Center => bounds.center_x() - (left + right) / 2.0,
        };
        let height = state.min_bounds().height;
        let y = match self.align_y {
            Vertical::Top => bounds.y,
            Vertical::Center => bounds.center_y() - height / 2.0,
            Vertical::Bottom => bounds.y + bounds.height - height,
        };
        Placed { bounds, origin: Point::new(x, y), direction: self.resolved_direction(), lines }
    }
}

impl<'a, Message, Theme, Renderer> From<BidiText<'a, Renderer>> for Element<'a, Message, Theme, Renderer>
where
    Renderer: text::Renderer + 'a,
    Renderer::Paragraph: Shaped,
{
    fn from(text: BidiText<'a, Renderer>) -> Self {
        Element::new(text)
    }
}
