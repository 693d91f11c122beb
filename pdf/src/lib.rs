//! Any iced `Element` as a vector PDF, from the same layout tree the screen uses.
//!
//! ```
//! use iced_core::{Element, Theme};
//! use iced_widget::{button, column, container, text};
//!
//! // In an app this is `view()`'s `iced::Element<'_, Message>`.
//! let view: Element<'_, (), Theme, iced_tiny_skia::Renderer> = column![
//!     text("Quarterly report").size(24),
//!     container(text("مرحبا بالعالم")).padding(8),
//!     button("Approve"),
//! ]
//! .spacing(8)
//! .into();
//!
//! let options = lucarne_pdf::PdfOptions {
//!     title: "Report".into(),
//!     footer: Some("Page {page} of {pages}".into()),
//!     ..lucarne_pdf::PdfOptions::default()
//! };
//! let pdf: Vec<u8> = lucarne_pdf::export(view, &options)?;
//! assert!(pdf.starts_with(b"%PDF-"));
//! # Ok::<(), lucarne_pdf::PdfError>(())
//! ```
//!
//! How: the element is laid out by `iced_runtime::UserInterface` at the page's content width
//! (one logical pixel = 0.75 pt), receives one `RedrawRequested` event (so widgets compute
//! their status as on a first frame), and is drawn into an `iced_tiny_skia::Renderer` that is
//! used only as a recorder — `iced::Renderer::Secondary` when the app's renderer is iced's
//! default. The recorded layers are translated into PDF operations: boxes (background, rounded
//! border, transparency, linear gradients) and canvas paths as vector paths, text as the glyph
//! ids of the very cosmic-text buffers the widgets shaped (in visual order), with fonts
//! embedded as subsets and a ToUnicode entry per glyph (what it stands for: see `reading`), images as image XObjects.
//! Nothing is rasterised. Text extraction rebuilds logical order; poppler does it right for
//! Arabic and Hebrew lines but not for every mixed-direction line (see the README).
//!
//! Two modes ([`Mode`]): **screen** lays the element out at a viewport and fits it on one page;
//! **document** lays it out with unbounded height and cuts pages between text lines and around
//! rows, so no line or row is split.
//!
//! Not drawn (listed in [`Exported::warnings`] when met): box shadows, SVG images, canvas
//! gradients and dash patterns (drawn solid), image rotation; gradient stops are opaque.
//!
//! The crate never touches the network; it depends on iced's core, widget, runtime and
//! tiny-skia renderer crates, on printpdf, and on `lucarne-widgets` (a document's repeated
//! texts shaped once: `reuse_paragraphs`) and `lucarne-fonts`, not on the Lucarne runtime or
//! server.

mod compose;
mod error;
mod fonts;
mod furniture;
mod options;
mod reading;
mod record;
mod scene;
mod sink;
mod tags;
mod translate;
mod write;

pub use error::PdfError;
pub use fonts::{
    DEFAULT_FONT, NOTO_SANS_ARABIC, NOTO_SANS_BOLD, NOTO_SANS_HEBREW, NOTO_SANS_REGULAR, fonts, load_fonts,
};
pub use furniture::{Furniture, Page};
pub use options::{Margins, Mode, Numerals, Orientation, POINTS_PER_PIXEL, PageSize, PdfOptions};
pub use record::Recorder;

use iced_core::{Element, Theme};

/// The result of [`export_report`].
#[derive(Debug, Clone)]
pub struct Exported {
    /// The PDF file.
    pub pdf: Vec<u8>,
    /// Number of pages.
    pub pages: usize,
    /// What was met but could not be drawn exactly (each message once), e.g. an SVG image or
    /// a box shadow.
    pub warnings: Vec<String>,
}

/// Exports `element` as a PDF file (bytes).
///
/// `element` is what a view returns: an `iced::Element<'_, Message>` (iced's default
/// renderer, with its `tiny-skia` feature on, as it is by default) or an element typed on
/// `iced_tiny_skia::Renderer`. The element is consumed; produced messages are dropped.
pub fn export<'a, Message, R: Recorder>(
    element: impl Into<Element<'a, Message, Theme, R>>,
    options: &PdfOptions,
) -> Result<Vec<u8>, PdfError> {
    export_report(element, options).map(|exported| exported.pdf)
}

/// How far an export is, for a progress bar: see [`export_with_progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The element is laid out and recorded, and cut into this many pages.
    Planned {
        /// Pages the document will have.
        pages: usize,
    },
    /// `done` pages of `pages` are drawn.
    Page {
        /// Pages drawn so far.
        done: usize,
        /// Pages in all.
        pages: usize,
    },
}

/// [`export`], also returning the page count and the warnings.
pub fn export_report<'a, Message, R: Recorder>(
    element: impl Into<Element<'a, Message, Theme, R>>,
    options: &PdfOptions,
) -> Result<Exported, PdfError> {
    export_with_progress(element, options, &mut |_| {})
}

/// [`export_report`], telling `progress` when the pages are planned and as each is drawn
/// (then the file is written, which takes a fraction of the time).
pub fn export_with_progress<'a, Message, R: Recorder>(
    element: impl Into<Element<'a, Message, Theme, R>>,
    options: &PdfOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Exported, PdfError> {
    export_with_furniture(element, options, &Furniture::<(), R>::new(), progress)
}

/// [`export_with_progress`], with each page's header and footer drawn by widgets
/// ([`Furniture`]).
pub fn export_with_furniture<'a, 'f, Message, FurnitureMessage: 'f, R: Recorder + 'f>(
    element: impl Into<Element<'a, Message, Theme, R>>,
    options: &PdfOptions,
    furniture: &Furniture<'f, FurnitureMessage, R>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Exported, PdfError> {
    options.validate()?;
    load_fonts()?;
    let layout = compose::layout_size(options);
    let mut scene = record::record(element.into(), layout, options)?;
    let mut warnings = std::mem::take(&mut scene.warnings);
    let plan = compose::plan(&scene, layout, options)?;
    let count = plan.windows.len();
    progress(Progress::Planned { pages: count });
    let (_, _, width, _) = options.content_box();
    let mut bands = |view: Option<&furniture::View<'f, FurnitureMessage, R>>, height: f32| {
        let Some(view) = view else { return Ok(None) };
        let band = iced_core::Size::new(width / POINTS_PER_PIXEL, height / POINTS_PER_PIXEL);
        if band.height <= 0.0 || count == 0 {
            return Ok(None);
        }
        #[expect(clippy::cast_precision_loss, reason = "a page count: far below 2^24")]
        let all = iced_core::Size::new(band.width, band.height * count as f32);
        let mut scene = record::record(furniture::bands(view, count, band), all, options)?;
        for warning in std::mem::take(&mut scene.warnings) {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        Ok::<_, PdfError>(Some(compose::Bands::new(scene, band, count)))
    };
    let furnished = compose::Furnished {
        header: bands(furniture.header.as_ref(), options.margins.top)?,
        footer: bands(furniture.footer.as_ref(), options.margins.bottom)?,
    };
    let mut sink = sink::PrintPdf::new(&options.title);
    let pages = compose::compose(&mut scene, &plan, options, &furnished, &mut sink, progress)?;
    let pdf = sink.finish(&sink::Metadata {
        title: &options.title,
        language: options.language.as_deref(),
        author: options.author.as_deref(),
        subject: options.subject.as_deref(),
        keywords: &options.keywords,
    })?;
    free_later((scene, furnished));
    Ok(Exported { pdf, pages, warnings })
}

/// Frees `value` on a thread of its own, where there are threads: the caller has its file
/// without waiting for a document's many small allocations to be given back.
pub(crate) fn free_later<T: Send + 'static>(value: T) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        // A thread that cannot start drops the value here.
        let _ = std::thread::Builder::new().name("lucarne-pdf-free".to_owned()).spawn(move || drop(value));
    }
    #[cfg(target_arch = "wasm32")]
    drop(value);
}
