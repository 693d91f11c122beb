//! A badge saying how the connection to the server is: connecting, live, resyncing, or offline
//! with a countdown to the next attempt.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use lucarne_widgets::{Connection, connection_status};
//!
//! fn view<'a>(connection: &'a Connection) -> iced_core::Element<'a, (), iced_core::Theme, iced_widget::Renderer> {
//!     connection_status(connection).into()
//! }
//! let offline = Connection::Offline {
//!     retry_at: Some(Instant::now() + Duration::from_secs(4)),
//!     reason: "connection refused".into(),
//! };
//! let _ = view(&offline); // "Offline · retrying in 4 s"
//! ```
//!
//! The countdown ticks by itself: the badge asks for a redraw each second while it runs.
//!
//! In another language, give the badge its labels, and its direction in a right-to-left layout
//! (the dot goes to the start side):
//!
//! ```no_run
//! # use std::time::Instant;
//! use lucarne_widgets::{Connection, Direction, connection_status};
//!
//! fn label(connection: &Connection, now: Instant) -> String {
//!     match (connection, connection.retry_in(now)) {
//!         (Connection::Live, _) => "متصل".into(),
//!         (Connection::Offline { .. }, Some(s)) if s > 0 => format!("غير متصل · إعادة المحاولة خلال {s} ث"),
//!         _ => connection.label(now),
//!     }
//! }
//! let live = Connection::Live;
//! let badge: iced_core::Element<'_, (), iced_core::Theme, iced_widget::Renderer> =
//!     connection_status(&live).labels(label).direction(Direction::Rtl).into();
//! # let _ = badge;
//! ```

use iced_core::time::{Duration, Instant};

use iced_core::alignment::Vertical;
use iced_core::layout::{self, Layout};
use iced_core::mouse;
use iced_core::renderer;
use iced_core::text::{self, LineHeight, Paragraph as _, Shaping, Wrapping};
use iced_core::widget::operation::Operation;
use iced_core::widget::tree::{self, Tree};
use iced_core::widget::{Id, Widget};
use iced_core::window;
use iced_core::{
    Background, Border, Clipboard, Color, Element, Event, Length, Pixels, Point, Rectangle, Shell, Size,
    Theme,
};

use crate::direction::Direction;

/// The state of a connection, as the badge shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// Opening the socket or waiting for the first data.
    Connecting,
    /// Up to date.
    Live,
    /// Fresh data is on its way; what is shown is kept meanwhile.
    Resyncing,
    /// No connection; the next attempt is at `retry_at` (`None`: not retrying).
    Offline {
        /// When the next attempt starts.
        retry_at: Option<Instant>,
        /// Why (shown as a tooltip-like second line would be; kept for the app).
        reason: String,
    },
}

impl Connection {
    /// The badge's text at `now`.
    pub fn label(&self, now: Instant) -> String {
        match self {
            Connection::Connecting => "Connecting…".into(),
            Connection::Live => "Live".into(),
            Connection::Resyncing => "Resyncing…".into(),
            Connection::Offline { retry_at: Some(at), .. } => {
                let left = at.saturating_duration_since(now);
                if left.is_zero() {
                    "Offline · retrying…".into()
                } else {
                    format!("Offline · retrying in {} s", seconds_up(left))
                }
            }
            Connection::Offline { retry_at: None, .. } => "Offline".into(),
        }
    }

    /// Whole seconds left before the next attempt at `now` (`Some(0)`: retrying now), for
    /// labels in other languages (see [`ConnectionStatus::labels`]).
    pub fn retry_in(&self, now: Instant) -> Option<u64> {
        match self {
            Connection::Offline { retry_at: Some(at), .. } => {
                Some(seconds_up(at.saturating_duration_since(now)))
            }
            _ => None,
        }
    }
}

fn seconds_up(d: Duration) -> u64 {
    u64::try_from(d.as_millis().div_ceil(1000)).unwrap_or(u64::MAX)
}

/// The colours of a [`ConnectionStatus`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// The pill behind the text.
    pub background: Color,
    /// The text.
    pub text: Color,
    /// The dot for each state: connecting, live, resyncing, offline.
    pub dots: [Color; 4],
}

/// The theme catalog of a [`ConnectionStatus`].
pub trait Catalog {
    /// The item class of the catalog.
    type Class<'a>;

    /// The default class.
    fn default<'a>() -> Self::Class<'a>;

    /// The style of a class.
    fn style(&self, class: &Self::Class<'_>) -> Style;
}

/// A styling function for a [`ConnectionStatus`].
pub type StyleFn<'a, Theme> = Box<dyn Fn(&Theme) -> Style + 'a>;

impl Catalog for Theme {
    type Class<'a> = StyleFn<'a, Self>;

    fn default<'a>() -> Self::Class<'a> {
        Box::new(default)
    }

    fn style(&self, class: &Self::Class<'_>) -> Style {
        class(self)
    }
}

/// The default style, from the theme's palette.
pub fn default(theme: &Theme) -> Style {
    let palette = theme.extended_palette();
    Style {
        background: palette.background.weak.color,
        text: palette.background.weak.text,
        dots: [
            palette.secondary.base.color,
            palette.success.base.color,
            palette.warning.base.color,
            palette.danger.base.color,
        ],
    }
}

/// A connection badge. See the [module docs](self).
pub struct ConnectionStatus<'a, Theme = iced_core::Theme, Renderer = iced_widget::Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    connection: &'a Connection,
    text_size: Option<Pixels>,
    font: Option<Renderer::Font>,
    id: Option<Id>,
    labels: Option<Labels<'a>>,
    direction: Direction,
    class: Theme::Class<'a>,
}

impl<Theme, Renderer> std::fmt::Debug for ConnectionStatus<'_, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionStatus").field("connection", &self.connection).finish_non_exhaustive()
    }
}

/// A function giving a badge's text for a connection state at an instant.
pub type Labels<'a> = Box<dyn Fn(&Connection, Instant) -> String + 'a>;

/// Creates a [`ConnectionStatus`] badge.
pub fn connection_status<'a, Theme, Renderer>(
    connection: &'a Connection,
) -> ConnectionStatus<'a, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    ConnectionStatus::new(connection)
}

impl<'a, Theme, Renderer> ConnectionStatus<'a, Theme, Renderer>
where
    Theme: Catalog,
    Renderer: text::Renderer,
{
    /// Creates a badge for this connection state.
    pub fn new(connection: &'a Connection) -> Self {
        ConnectionStatus {
            connection,
            text_size: None,
            font: None,
            id: None,
            labels: None,
            direction: Direction::Ltr,
            class: Theme::default(),
        }
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

    /// Its id: the badge's text is reported under it to operations (and tests).
    pub fn id(mut self, id: impl Into<Id>) -> Self {
        self.id = Some(id.into());
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

    /// Its text for each state (default: [`Connection::label`], in English).
    pub fn labels(mut self, labels: impl Fn(&Connection, Instant) -> String + 'a) -> Self {
        self.labels = Some(Box::new(labels));
        self
    }

    /// The layout direction: in RTL the dot is on the right (default: LTR).
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    fn label(&self, now: Instant) -> String {
        match &self.labels {
            Some(labels) => labels(self.connection, now),
            None => self.connection.label(now),
        }
    }

    fn text(&self, renderer: &Renderer, content: String, bounds: Size) -> text::Text<String, Renderer::Font> {
        text::Text {
            content,
            bounds,
            size: self.text_size.unwrap_or_else(|| renderer.default_size()),
            line_height: LineHeight::default(),
            font: self.font.unwrap_or_else(|| renderer.default_font()),
            // `Default` (left for LTR text): with `Left` iced 0.14 shifts a one-line RTL label.
            align_x: text::Alignment::Default,
            align_y: Vertical::Center,
            shaping: Shaping::Advanced,
            wrapping: Wrapping::None,
        }
    }

    fn dot(&self) -> usize {
        match self.connection {
            Connection::Connecting => 0,
            Connection::Live => 1,
            Connection::Resyncing => 2,
            Connection::Offline { .. } => 3,
        }
    }
}

const PAD_X: f32 = 10.0;
const PAD_Y: f32 = 4.0;
const DOT: f32 = 8.0;
const GAP: f32 = 6.0;

/// What the badge last laid out: its label.
#[derive(Debug, Default)]
struct State {
    label: String,
}

impl<Message, Theme, Renderer> Widget<Message, Theme, Renderer> for ConnectionStatus<'_, Theme, Renderer>
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
        Size::new(Length::Shrink, Length::Shrink)
    }

    fn layout(&mut self, tree: &mut Tree, renderer: &Renderer, limits: &layout::Limits) -> layout::Node {
        let label = self.label(Instant::now());
        let measured =
            Renderer::Paragraph::with_text(self.text(renderer, label.clone(), limits.max()).as_ref())
                .min_bounds();
        tree.state.downcast_mut::<State>().label = label;
        let size = Size::new(PAD_X * 2.0 + DOT + GAP + measured.width, PAD_Y * 2.0 + measured.height);
        layout::Node::new(limits.resolve(Length::Shrink, Length::Shrink, size))
    }

    fn operate(
        &mut self,
        tree: &mut Tree,
        layout: Layout<'_>,
        _renderer: &Renderer,
        operation: &mut dyn Operation,
    ) {
        operation.text(self.id.as_ref(), layout.bounds(), &tree.state.downcast_ref::<State>().label);
    }

    fn update(
        &mut self,
        tree: &mut Tree,
        event: &Event,
        _layout: Layout<'_>,
        _cursor: mouse::Cursor,
        _renderer: &Renderer,
        _clipboard: &mut dyn Clipboard,
        shell: &mut Shell<'_, Message>,
        _viewport: &Rectangle,
    ) {
        let Event::Window(window::Event::RedrawRequested(now)) = event else { return };
        if let Connection::Offline { retry_at: Some(at), .. } = self.connection {
            if self.label(*now) != tree.state.downcast_ref::<State>().label {
                shell.invalidate_layout();
            }
            let left = at.saturating_duration_since(*now);
            if !left.is_zero() {
                // The next whole second of the countdown.
                let tick = left.as_nanos() % 1_000_000_000;
                let tick = if tick == 0 { Duration::from_secs(1) } else { Duration::from_nanos(tick as u64) };
                shell.request_redraw_at(*now + tick);
            }
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
        let bounds = layout.bounds();
        let style = theme.style(&self.class);
        renderer.fill_quad(
            renderer::Quad {
                bounds,
                border: Border { radius: (bounds.height / 2.0).into(), ..Border::default() },
                ..renderer::Quad::default()
            },
            Background::Color(style.background),
        );
        let dot_x = match self.direction {
            Direction::Ltr => bounds.x + PAD_X,
            Direction::Rtl => bounds.x + bounds.width - PAD_X - DOT,
        };
        let dot = Rectangle { x: dot_x, y: bounds.center_y() - DOT / 2.0, width: DOT, height: DOT };
        renderer.fill_quad(
            renderer::Quad {
                bounds: dot,
                border: Border { radius: (DOT / 2.0).into(), ..Border::default() },
                ..renderer::Quad::default()
            },
            Background::Color(style.dots[self.dot()]),
        );
        let label = tree.state.downcast_ref::<State>().label.clone();
        let area = Size::new((bounds.width - PAD_X * 2.0 - DOT - GAP + 1.0).max(0.0), bounds.height);
        let text = self.text(renderer, label, area);
        let clip = bounds.intersection(viewport).unwrap_or(bounds);
        let text_x = match self.direction {
            Direction::Ltr => dot.x + DOT + GAP,
            Direction::Rtl => bounds.x + PAD_X,
        };
        crate::line::fill_line(renderer, text, Point::new(text_x, bounds.center_y()), style.text, clip);
    }
}

impl<'a, Message, Theme, Renderer> From<ConnectionStatus<'a, Theme, Renderer>>
    for Element<'a, Message, Theme, Renderer>
where
    Theme: Catalog + 'a,
    Renderer: text::Renderer + 'a,
{
    fn from(badge: ConnectionStatus<'a, Theme, Renderer>) -> Self {
        Element::new(badge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_count_down_in_whole_seconds() {
        let now = Instant::now();
        let offline = |ms| Connection::Offline {
            retry_at: Some(now + Duration::from_millis(ms)),
            reason: String::new(),
        };
        assert_eq!(offline(3_000).label(now), "Offline · retrying in 3 s");
        assert_eq!(offline(2_001).label(now), "Offline · retrying in 3 s");
        assert_eq!(offline(200).label(now), "Offline · retrying in 1 s");
        assert_eq!(offline(0).label(now), "Offline · retrying…");
        assert_eq!(Connection::Offline { retry_at: None, reason: String::new() }.label(now), "Offline");
        assert_eq!(Connection::Live.label(now), "Live");
        assert_eq!(Connection::Connecting.label(now), "Connecting…");
        assert_eq!(Connection::Resyncing.label(now), "Resyncing…");
        assert_eq!(offline(2_001).retry_in(now), Some(3));
        assert_eq!(offline(0).retry_in(now), Some(0));
        assert_eq!(Connection::Live.retry_in(now), None);
    }
}
