//! Lays an element out and draws it into a tiny-skia renderer used only as a recorder.

use crate::PdfError;
use crate::scene::Scene;
use iced_core::theme::Base;
use iced_core::{Element, Event, Font, Pixels, Size, Theme, clipboard, mouse, renderer, window};
use iced_graphics::text::font_system;
use iced_runtime::user_interface::{self, UserInterface};

mod sealed {
    /// The recording part of [`Recorder`](super::Recorder), hidden from users.
    pub trait Sealed {
        /// A renderer that records into iced_tiny_skia.
        fn new_recorder(font: iced_core::Font, size: iced_core::Pixels) -> Self;
        /// The recorded layers (empty if the renderer is not the tiny-skia one).
        fn recorded_layers(&mut self) -> &[iced_tiny_skia::Layer];
    }
}

/// A renderer type whose elements can be exported: `iced_tiny_skia::Renderer` itself, and
/// `iced::Renderer` in every build where iced's `tiny-skia` feature is on (it is by default):
/// with `wgpu` too, `iced::Renderer` is the fallback renderer whose `Secondary` variant is
/// tiny-skia, and the export draws through that variant. Sealed.
pub trait Recorder: iced_core::Renderer + sealed::Sealed {}

impl sealed::Sealed for iced_tiny_skia::Renderer {
    fn new_recorder(font: Font, size: Pixels) -> Self {
        iced_tiny_skia::Renderer::new(font, size)
    }

    fn recorded_layers(&mut self) -> &[iced_tiny_skia::Layer] {
        self.layers()
    }
}

impl Recorder for iced_tiny_skia::Renderer {}

impl<A: iced_core::Renderer> sealed::Sealed
    for iced_renderer::fallback::Renderer<A, iced_tiny_skia::Renderer>
{
    fn new_recorder(font: Font, size: Pixels) -> Self {
        Self::Secondary(iced_tiny_skia::Renderer::new(font, size))
    }

    fn recorded_layers(&mut self) -> &[iced_tiny_skia::Layer] {
        match self {
            Self::Secondary(renderer) => renderer.layers(),
            Self::Primary(_) => &[],
        }
    }
}

impl<A: iced_core::Renderer> Recorder for iced_renderer::fallback::Renderer<A, iced_tiny_skia::Renderer> {}

/// Lays `element` out in `bounds` (the height may be infinite), lets widgets compute their
/// status as on a first frame, draws it, and translates the recording while the widget tree
/// (which owns the text buffers the recording points to) is still alive.
pub(crate) fn record<'a, Message, R: Recorder>(
    element: Element<'a, Message, Theme, R>,
    bounds: Size,
    options: &crate::PdfOptions,
) -> Result<Scene, PdfError> {
    // Widgets and renderers may panic on bad input (iced_tiny_skia 0.14.1 does on an image
    // that failed to decode); an export reports it as an error instead. A document says the
    // same things many times (a table's statuses, regions, names): a `bidi_text` with the text
    // and style of one laid out before shares its shaped paragraph, until the recording is
    // translated and the widget tree let go.
    let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lucarne_widgets::reuse_paragraphs(|| record_in(element, bounds, options))
    }));
    recorded.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(PdfError::Render(message))
    })
}

/// [`record`] without catching a panic.
fn record_in<'a, Message, R: Recorder>(
    element: Element<'a, Message, Theme, R>,
    bounds: Size,
    options: &crate::PdfOptions,
) -> Result<Scene, PdfError> {
    let (theme, font, text_size) = (&options.theme, options.default_font, options.default_text_size);
    let mut renderer = R::new_recorder(font, Pixels(text_size));
    let mut ui = UserInterface::build(element, bounds, user_interface::Cache::default(), &mut renderer);
    let mut messages = Vec::new();
    // iced 0.14 widgets compute their status (e.g. a button's "active") on
    // RedrawRequested; without it every button is drawn disabled.
    let _ = ui.update(
        &[Event::Window(window::Event::RedrawRequested(iced_core::time::Instant::now()))],
        mouse::Cursor::Unavailable,
        &mut renderer,
        &mut clipboard::Null,
        &mut messages,
    );
    let style = renderer::Style { text_color: theme.base().text_color };
    ui.draw(&mut renderer, theme, &style, mouse::Cursor::Unavailable);
    let mut guard = font_system().write().map_err(|_| PdfError::FontSystem)?;
    let scene = crate::translate::scene(renderer.recorded_layers(), guard.raw());
    drop(guard);
    // The widget tree (and `reuse_paragraphs`, until `record` returns) owns the text buffers
    // the recording points to: the recording is translated before the tree goes.
    drop(ui);
    Ok(scene)
}
