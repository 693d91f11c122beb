//! One line of text handed to the renderer by its top-left corner.
//!
//! iced 0.14's `fill_text` takes an anchor: with `align_x` `Center` or `Right`, or `align_y`
//! `Center` or `Bottom`, the position is that centre or edge. Its tiny-skia renderer, though,
//! reports the text at `Rectangle::new(position, bounds)` to the compositor, which redraws only
//! the rectangles where primitives changed: a text anchored anywhere but its top-left corner is
//! reported off where it is drawn, and pieces of old frames stay on screen (the browser build
//! draws this way; `app/tests/damage.rs` checks it). So the widgets place each line's left edge
//! themselves (measuring it where it is centred or right-aligned) and draw it from there.

use iced_core::alignment::Vertical;
use iced_core::text::{self, Alignment, Text};
use iced_core::{Color, Point, Rectangle};

/// Draws one line of `text` whose left edge is at `anchor.x` and whose top, centre or bottom
/// (its `align_y`) is at `anchor.y`, handed to the renderer from the line's top-left corner so
/// that the area the renderer reports for it covers its glyphs. `text` is laid out from its
/// left edge: `align_x` `Default` (a one-line right-to-left text too) or `Left`.
pub(crate) fn fill_line<Renderer: text::Renderer>(
    renderer: &mut Renderer,
    text: Text<String, Renderer::Font>,
    anchor: Point,
    color: Color,
    clip: Rectangle,
) {
    debug_assert!(
        matches!(text.align_x, Alignment::Default | Alignment::Left),
        "place the line's left edge before drawing it"
    );
    let height = f32::from(text.line_height.to_absolute(text.size));
    let y = match text.align_y {
        Vertical::Top => anchor.y,
        Vertical::Center => anchor.y - height / 2.0,
        Vertical::Bottom => anchor.y - height,
    };
    renderer.fill_text(Text { align_y: Vertical::Top, ..text }, Point::new(anchor.x, y), color, clip);
}
