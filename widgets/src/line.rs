//! One line of text handed to the renderer by its top-left corner.
//!
//! iced 0.14's `fill_text` takes an anchor: with `align_x` `Center` or `Right` and `align_y`
//! `Center` or `Bottom` the position is that centre or edge. Its tiny-skia renderer, though,
//! reports the text at `Rectangle::new(position, bounds)` to the compositor, which redraws only
//! the rectangles where primitives changed: a text anchored anywhere but its top-left corner is
//! reported off where it is drawn, and pieces of old frames stay on screen (the browser build
//! draws this way; `app/tests/damage.rs` checks it). So the widgets draw each line from its
//! top-left corner, measured where needed.

use iced_core::alignment::Vertical;
use iced_core::text::{self, Alignment, Paragraph as _, Text};
use iced_core::{Color, Point, Rectangle};

/// Draws one line of `text` anchored at `anchor` the way `fill_text` reads its alignment, but
/// handed to the renderer from the top-left corner of the line (`Default`/`Top`), so that the
/// area the renderer reports for it covers its glyphs.
pub(crate) fn fill_line<Renderer: text::Renderer>(
    renderer: &mut Renderer,
    text: Text<String, Renderer::Font>,
    anchor: Point,
    color: Color,
    clip: Rectangle,
) {
    let height = f32::from(text.line_height.to_absolute(text.size));
    let y = match text.align_y {
        Vertical::Top => anchor.y,
        Vertical::Center => anchor.y - height / 2.0,
        Vertical::Bottom => anchor.y - height,
    };
    let (x, align_x) = match text.align_x {
        Alignment::Center | Alignment::Right => {
            let width = Renderer::Paragraph::with_text(text.as_ref()).min_width();
            let x = if text.align_x == Alignment::Center { anchor.x - width / 2.0 } else { anchor.x - width };
            // `Default` lays a one-line text out from its left edge in either direction (an
            // explicit `Left` would leave a right-to-left line at the right end of its bounds).
            (x, Alignment::Default)
        }
        other => (anchor.x, other),
    };
    renderer.fill_text(Text { align_x, align_y: Vertical::Top, ..text }, Point::new(x, y), color, clip);
}
