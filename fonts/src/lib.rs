//! The fonts bundled with Lucarne, as bytes: Noto Sans (regular and bold), Noto Sans Arabic and
//! Noto Sans Hebrew, SIL Open Font License 1.1 (see `assets/fonts/`).
//!
//! The PDF export (`lucarne-pdf`) embeds subsets of them, and an app gives the same bytes to
//! iced so that screen and paper shape text with the same faces. With the feature `web` the
//! crate holds subsets made for the browser bundle instead (`assets/fonts/web/`): the scripts the
//! app shows, without hinting, a tenth of the size.
//!
//! ```
//! assert!(lucarne_fonts::fonts().iter().all(|f| f.starts_with(&[0, 1, 0, 0])));
//! ```

#![no_std]

#[cfg(not(feature = "web"))]
macro_rules! font {
    ($file:literal) => {
        include_bytes!(concat!("../../assets/fonts/", $file))
    };
}

#[cfg(feature = "web")]
macro_rules! font {
    ($file:literal) => {
        include_bytes!(concat!("../../assets/fonts/web/", $file))
    };
}

/// Noto Sans Regular.
pub static NOTO_SANS_REGULAR: &[u8] = font!("NotoSans-Regular.ttf");
/// Noto Sans Bold.
pub static NOTO_SANS_BOLD: &[u8] = font!("NotoSans-Bold.ttf");
/// Noto Sans Arabic Regular.
pub static NOTO_SANS_ARABIC: &[u8] = font!("NotoSansArabic-Regular.ttf");
/// Noto Sans Hebrew Regular.
pub static NOTO_SANS_HEBREW: &[u8] = font!("NotoSansHebrew-Regular.ttf");

/// The family name of the Latin font (the default font of the app and of PDFs).
pub const DEFAULT_FAMILY: &str = "Noto Sans";

/// The bytes of every bundled font (TrueType).
pub fn fonts() -> [&'static [u8]; 4] {
    [NOTO_SANS_REGULAR, NOTO_SANS_BOLD, NOTO_SANS_ARABIC, NOTO_SANS_HEBREW]
}

/// The fonts a screen loads: every face natively; in the browser build (feature `web`) all but
/// bold, which only the PDF export uses (the bundle carries only what the screen draws).
pub fn screen() -> &'static [&'static [u8]] {
    &SCREEN
}

#[cfg(not(feature = "web"))]
static SCREEN: [&[u8]; 4] = [NOTO_SANS_REGULAR, NOTO_SANS_BOLD, NOTO_SANS_ARABIC, NOTO_SANS_HEBREW];
#[cfg(feature = "web")]
static SCREEN: [&[u8]; 3] = [NOTO_SANS_REGULAR, NOTO_SANS_ARABIC, NOTO_SANS_HEBREW];
