//! The fonts compiled into the crate (Noto Sans, Noto Sans Arabic, Noto Sans Hebrew; OFL 1.1,
//! see `assets/fonts/`; the bytes live in `lucarne-fonts`), so that an export never depends on
//! the fonts of the machine.
//!
//! Give the same bytes to iced so that the screen shapes text with the same faces as the PDF:
//!
//! ```ignore
//! let app = lucarne_pdf::fonts().into_iter().fold(iced::application(new, update, view), |app, f| app.font(f))
//!     .default_font(lucarne_pdf::DEFAULT_FONT);
//! ```

use iced_core::Font;
use iced_graphics::text::font_system;
use std::borrow::Cow;

pub use lucarne_fonts::{NOTO_SANS_ARABIC, NOTO_SANS_BOLD, NOTO_SANS_HEBREW, NOTO_SANS_REGULAR};

/// The family of the bundled Latin font, the default font of [`PdfOptions`](crate::PdfOptions).
/// Arabic and Hebrew text in it falls back to the bundled Noto Sans Arabic / Hebrew.
pub const DEFAULT_FONT: Font = Font::with_name("Noto Sans");

/// The bytes of every bundled font (TrueType), for iced's `application(..).font(bytes)`.
pub fn fonts() -> [&'static [u8]; 4] {
    lucarne_fonts::fonts()
}

/// Loads the bundled fonts into iced's shared font system (the one the screen renderers and
/// [`export`](crate::export) use). Idempotent; `export` calls it itself.
pub fn load_fonts() -> Result<(), crate::PdfError> {
    let mut system = font_system().write().map_err(|_| crate::PdfError::FontSystem)?;
    for bytes in fonts() {
        // Borrowed bytes are remembered by address: loading twice is a no-op.
        system.load_font(Cow::Borrowed(bytes));
    }
    Ok(())
}
