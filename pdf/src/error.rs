//! The one error type of the crate.

/// Why an export failed. Content that cannot be drawn (an SVG, a box shadow, a glyph missing
/// from every font) is not an error: it is skipped or drawn as the font's `.notdef` glyph,
/// and reported in [`Exported::warnings`](crate::Exported::warnings).
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The options make no page possible (sizes, margins, zoom…).
    #[error("invalid PDF options: {0}")]
    InvalidOptions(String),
    /// A font used by the text could not be parsed for embedding.
    #[error("font {0:?} cannot be embedded in the PDF")]
    Font(String),
    /// The shared cosmic-text font system is unusable (a thread panicked while holding it).
    #[error("the iced font system lock is poisoned")]
    FontSystem,
    /// The widgets or the recording renderer panicked while laying out or drawing; the panic
    /// was caught. iced_tiny_skia 0.14.1 does so, for instance, when an image that failed to
    /// decode is measured a second time.
    #[error("the element could not be drawn: {0}")]
    Render(String),
    /// The document printpdf built around the pages is not as the sink expects it (a page
    /// without its content stream, glyph codes that cannot be read back): a defect of this
    /// crate or of its printpdf version, not of the content.
    #[error("the PDF could not be assembled: {0}")]
    Assembly(String),
    /// Document mode would produce more pages than `PdfOptions::max_pages`.
    #[error("the document needs {needed} pages, more than the limit of {limit}")]
    TooManyPages {
        /// Pages the content needs.
        needed: usize,
        /// The configured limit.
        limit: usize,
    },
}
