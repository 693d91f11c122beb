//! The bar chart of the summary panel (a canvas).

use lucarne::iced::widget::canvas::{self, Canvas, Frame, Geometry, Text};
use lucarne::iced::{Color, Point, Rectangle, Renderer, Size, Theme, mouse};
use lucarne::widgets::Direction;

use crate::Message;

/// Bars `(label, value)`, largest first (at the layout's start: from the right in RTL), scaled
/// to the largest.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chart {
    bars: Vec<(String, f64)>,
    direction: Direction,
}

impl Chart {
    pub(crate) fn new(bars: Vec<(String, f64)>) -> Self {
        Chart { bars, direction: Direction::Ltr }
    }

    /// The layout direction: the first bar is drawn at its start.
    pub(crate) fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }
}

/// A canvas drawing this chart.
pub(crate) fn chart(chart: Chart) -> Canvas<Chart, Message> {
    lucarne::iced::widget::canvas(chart)
}

impl canvas::Program<Message> for Chart {
    type State = ();

    fn draw(
        &self,
        _state: &(),
        renderer: &Renderer,
        theme: &Theme,
        bounds: Rectangle,
        _cursor: mouse::Cursor,
    ) -> Vec<Geometry> {
        let mut frame = Frame::new(renderer, bounds.size());
        let palette = theme.extended_palette();
        let max = self.bars.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
        let count = self.bars.len().max(1) as f32;
        let slot = bounds.width / count;
        let label_height = 18.0;
        let plot = (bounds.height - label_height).max(0.0);
        for (i, (label, value)) in self.bars.iter().enumerate() {
            #[expect(clippy::cast_possible_truncation, reason = "a ratio of at most 1, drawn in f32")]
            let ratio = if max > 0.0 { (*value / max) as f32 } else { 0.0 };
            let height = (plot * ratio).max(1.0);
            let slot_x =
                if self.direction.is_rtl() { bounds.width - (i + 1) as f32 * slot } else { i as f32 * slot };
            let x = slot_x + slot * 0.15;
            frame.fill_rectangle(
                Point::new(x, plot - height),
                Size::new(slot * 0.7, height),
                palette.primary.base.color,
            );
            // Centred under its bar by its measured width, and drawn from its left edge: the
            // tiny-skia renderer reports a centred text from its centre for partial redraws.
            let width = label_width(label);
            frame.fill_text(Text {
                content: label.clone(),
                position: Point::new(x + slot * 0.35 - width / 2.0, plot + 2.0),
                color: Color { a: 0.9, ..palette.background.base.text },
                size: LABEL_SIZE.into(),
                // The app's font: a canvas text does not take the renderer's default, and the
                // browser has no system font to fall back on.
                font: crate::DEFAULT_FONT,
                ..Text::default()
            });
        }
        vec![frame.into_geometry()]
    }
}

/// The size of a bar's label.
const LABEL_SIZE: f32 = 13.0;

/// The width of a bar's label, as shaped for drawing.
fn label_width(label: &str) -> f32 {
    use lucarne::iced::advanced::text::{self, Paragraph as _};
    <Renderer as text::Renderer>::Paragraph::with_text(text::Text {
        content: label,
        bounds: Size::new(1.0e5, 100.0),
        size: LABEL_SIZE.into(),
        line_height: text::LineHeight::default(),
        font: crate::DEFAULT_FONT,
        align_x: text::Alignment::Default,
        align_y: lucarne::iced::alignment::Vertical::Top,
        shaping: text::Shaping::Advanced,
        wrapping: text::Wrapping::None,
    })
    .min_width()
}
