//! What the caller chooses: page geometry, mode, header and footer, metadata.

use iced_core::{Font, Size, Theme};

/// Points per logical pixel at zoom 1: iced's logical pixel is a CSS pixel (1/96 inch) and a
/// PDF point is 1/72 inch.
pub const POINTS_PER_PIXEL: f32 = 0.75;

/// The size of a sheet, in portrait orientation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PageSize {
    /// ISO A4, 210 × 297 mm.
    #[default]
    A4,
    /// US Letter, 8.5 × 11 in.
    Letter,
    /// Any size, in PDF points (1/72 inch), width × height as given.
    Custom {
        /// Width in points.
        width: f32,
        /// Height in points.
        height: f32,
    },
}

impl PageSize {
    /// Width and height in points, as given (portrait for the named sizes).
    pub fn points(self) -> (f32, f32) {
        match self {
            // 210 mm and 297 mm, exactly.
            PageSize::A4 => (210.0 * 72.0 / 25.4, 297.0 * 72.0 / 25.4),
            PageSize::Letter => (612.0, 792.0),
            PageSize::Custom { width, height } => (width, height),
        }
    }
}

/// Which way up the sheet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orientation {
    /// The shorter side is the width.
    #[default]
    Portrait,
    /// The longer side is the width.
    Landscape,
}

/// Blank space around the content, in points. Header and footer are drawn inside the top and
/// bottom margins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Margins {
    /// Top margin in points.
    pub top: f32,
    /// Right margin in points.
    pub right: f32,
    /// Bottom margin in points.
    pub bottom: f32,
    /// Left margin in points.
    pub left: f32,
}

impl Margins {
    /// The same margin on every side.
    pub const fn all(points: f32) -> Self {
        Self { top: points, right: points, bottom: points, left: points }
    }
}

impl Default for Margins {
    /// 36 pt (half an inch) on every side.
    fn default() -> Self {
        Self::all(36.0)
    }
}

/// How the element is laid out and cut into pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// What a window would show: the element is laid out at
    /// [`PdfOptions::viewport`] (default: the content box of the page), everything outside
    /// that rectangle is clipped, and the result is scaled down if needed to fit one page.
    #[default]
    Screen,
    /// A document: the element is laid out at the width of the content box with unbounded
    /// height, then cut into as many pages as needed. Cuts fall between text lines and
    /// around boxes shorter than half a page (rows, cards, buttons), so no line or row is
    /// split. A `scrollable` whose height is `Fill` or `Shrink` expands to its content; one
    /// with a fixed height keeps that height (its hidden part is not printed).
    Document,
}

/// The digits page numbers are written in.
///
/// ```
/// use lucarne_pdf::Numerals;
///
/// assert_eq!(Numerals::Western.format(14), "14");
/// assert_eq!(Numerals::ArabicIndic.format(14), "١٤");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numerals {
    /// 0–9.
    #[default]
    Western,
    /// ٠–٩ (U+0660…U+0669), as Arabic text writes numbers.
    ArabicIndic,
}

impl Numerals {
    /// `n` in these digits.
    pub fn format(self, n: usize) -> String {
        let western = n.to_string();
        match self {
            Numerals::Western => western,
            Numerals::ArabicIndic => western
                .chars()
                .map(|c| c.to_digit(10).and_then(|d| char::from_u32(0x0660 + d)).unwrap_or(c))
                .collect(),
        }
    }
}

/// Options of [`export`](crate::export).
///
/// Lengths are in PDF points (1/72 inch). One logical pixel of the element is
/// [`POINTS_PER_PIXEL`] points (times [`zoom`](Self::zoom)), so a 16 px text is 12 pt.
#[derive(Debug, Clone)]
pub struct PdfOptions {
    /// Sheet size.
    pub page_size: PageSize,
    /// Sheet orientation.
    pub orientation: Orientation,
    /// Margins around the content box.
    pub margins: Margins,
    /// Screen (one page) or document (paginated).
    pub mode: Mode,
    /// Screen mode only: the logical size the element is laid out at. `None`: the content box.
    pub viewport: Option<Size>,
    /// Scale of the content: 1.0 maps one logical pixel to 0.75 pt. Screen mode may shrink
    /// it further to fit the page. In document mode the element is laid out at the content
    /// width divided by the zoom, so a wide element (a table with many fixed-width columns)
    /// fits by lowering the zoom: iced clamps what is wider than the width it is given.
    pub zoom: f32,
    /// Text drawn centred in the top margin of every page. `{page}` and `{pages}` are replaced
    /// by the page number and the page count.
    pub header: Option<String>,
    /// Text drawn centred in the bottom margin of every page, with the same placeholders,
    /// e.g. `"Page {page} of {pages}"`.
    pub footer: Option<String>,
    /// The digits `{page}` and `{pages}` are written in (the document's language's).
    pub numerals: Numerals,
    /// Size of header and footer text, in points.
    pub header_footer_size: f32,
    /// Document title (the PDF `/Title`).
    pub title: String,
    /// Document author (`/Author`).
    pub author: Option<String>,
    /// Document subject (`/Subject`).
    pub subject: Option<String>,
    /// Document keywords (`/Keywords`).
    pub keywords: Vec<String>,
    /// Theme the element is drawn with.
    pub theme: Theme,
    /// Default font of the recording renderer; use the one the app gives iced
    /// (`Settings::default_font`). Default: [`DEFAULT_FONT`](crate::DEFAULT_FONT), bundled.
    pub default_font: Font,
    /// Default text size in logical pixels (iced's default is 16).
    pub default_text_size: f32,
    /// Paint each page with the theme's background colour (off: white paper).
    pub paint_background: bool,
    /// Refuse to produce more pages than this ([`PdfError::TooManyPages`](crate::PdfError)).
    pub max_pages: usize,
    /// Document mode: the top band of the element, this many logical pixels tall (a table's
    /// header row), drawn again at the top of every page after the first, the content of those
    /// pages below it.
    pub repeat_top: Option<f32>,
    /// The document's language, a BCP 47 tag (`en`, `ar`, `he`): its `/Lang`, which screen
    /// readers speak it in.
    pub language: Option<String>,
}

impl Default for PdfOptions {
    fn default() -> Self {
        Self {
            page_size: PageSize::A4,
            orientation: Orientation::Portrait,
            margins: Margins::default(),
            mode: Mode::Screen,
            viewport: None,
            zoom: 1.0,
            header: None,
            footer: None,
            numerals: Numerals::Western,
            header_footer_size: 9.0,
            title: String::new(),
            author: None,
            subject: None,
            keywords: Vec::new(),
            theme: Theme::Light,
            default_font: crate::fonts::DEFAULT_FONT,
            default_text_size: 16.0,
            paint_background: false,
            max_pages: 10_000,
            repeat_top: None,
            language: None,
        }
    }
}

impl PdfOptions {
    /// Default options in [`Mode::Document`].
    pub fn document() -> Self {
        Self { mode: Mode::Document, ..Self::default() }
    }

    /// Sheet width and height in points, orientation applied.
    pub fn page_points(&self) -> (f32, f32) {
        let (w, h) = self.page_size.points();
        let (short, long) = (w.min(h), w.max(h));
        match (self.orientation, self.page_size) {
            (Orientation::Portrait, PageSize::Custom { .. }) => (w, h),
            (Orientation::Landscape, PageSize::Custom { .. }) => (h, w),
            (Orientation::Portrait, _) => (short, long),
            (Orientation::Landscape, _) => (long, short),
        }
    }

    /// The content box (page minus margins): x, y from the top-left corner, width, height,
    /// in points.
    pub fn content_box(&self) -> (f32, f32, f32, f32) {
        let (w, h) = self.page_points();
        let m = self.margins;
        (m.left, m.top, w - m.left - m.right, h - m.top - m.bottom)
    }

    pub(crate) fn validate(&self) -> Result<(), crate::PdfError> {
        let bad = |what: &str| Err(crate::PdfError::InvalidOptions(what.to_owned()));
        let (w, h) = self.page_points();
        if !(w.is_finite() && h.is_finite() && w >= 1.0 && h >= 1.0) {
            return bad("page width and height must be finite and at least 1 pt");
        }
        // PDF viewers are only required to handle pages up to 14 400 pt.
        if w > 14_400.0 || h > 14_400.0 {
            return bad("page width and height must be at most 14 400 pt");
        }
        let m = self.margins;
        if [m.top, m.right, m.bottom, m.left].iter().any(|v| !v.is_finite() || *v < 0.0) {
            return bad("margins must be finite and not negative");
        }
        let (_, _, cw, ch) = self.content_box();
        if cw < 1.0 || ch < 1.0 {
            return bad("margins leave no room for content");
        }
        if !(self.zoom.is_finite() && self.zoom > 0.0) {
            return bad("zoom must be finite and positive");
        }
        if !(self.default_text_size.is_finite() && self.default_text_size > 0.0) {
            return bad("default text size must be finite and positive");
        }
        if !(self.header_footer_size.is_finite() && self.header_footer_size > 0.0) {
            return bad("header and footer size must be finite and positive");
        }
        if let Some(v) = self.viewport
            && !(v.width.is_finite() && v.height.is_finite() && v.width >= 1.0 && v.height >= 1.0)
        {
            return bad("viewport must be finite and at least 1 px wide and high");
        }
        if self.max_pages == 0 {
            return bad("max_pages must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sizes_follow_orientation() {
        let mut o = PdfOptions::default();
        let (w, h) = o.page_points();
        assert!((w - 595.2756).abs() < 1e-3 && (h - 841.8898).abs() < 1e-3);
        o.orientation = Orientation::Landscape;
        assert_eq!(o.page_points(), (h, w));
        o.page_size = PageSize::Letter;
        assert_eq!(o.page_points(), (792.0, 612.0));
        o.page_size = PageSize::Custom { width: 300.0, height: 200.0 };
        assert_eq!(o.page_points(), (200.0, 300.0));
        o.orientation = Orientation::Portrait;
        assert_eq!(o.page_points(), (300.0, 200.0));
    }

    #[test]
    fn bad_options_are_refused() {
        let check = |o: PdfOptions| assert!(o.validate().is_err(), "{o:?}");
        check(PdfOptions { margins: Margins::all(400.0), ..PdfOptions::default() });
        check(PdfOptions { margins: Margins::all(f32::NAN), ..PdfOptions::default() });
        check(PdfOptions {
            page_size: PageSize::Custom { width: 0.0, height: 100.0 },
            ..PdfOptions::default()
        });
        check(PdfOptions { zoom: 0.0, ..PdfOptions::default() });
        check(PdfOptions { viewport: Some(Size::new(f32::INFINITY, 10.0)), ..PdfOptions::default() });
        assert!(PdfOptions::default().validate().is_ok());
    }
}
