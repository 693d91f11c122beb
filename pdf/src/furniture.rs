//! Page header and footer drawn by widgets ([`Furniture`]).

use iced_core::{Element, Length, Size, Theme};
use iced_widget::{Column, container};

/// The page a header or footer is drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// From 1.
    pub number: usize,
    /// Pages in the document.
    pub count: usize,
}

/// The view of a page's header or footer.
pub(crate) type View<'a, Message, R> = Box<dyn Fn(Page) -> Element<'a, Message, Theme, R> + 'a>;

/// Page header and footer drawn by widgets: a logo, a title, a date, the page number.
///
/// ```
/// use iced_core::{Element, Theme};
/// use iced_widget::{column, container, row, text};
/// use lucarne_pdf::{Furniture, Page, PdfOptions};
///
/// type Renderer = iced_tiny_skia::Renderer;
///
/// let furniture: Furniture<'_, (), Renderer> = Furniture::new()
///     .header(|_page: Page| row![text("Quarterly report"), text("2026-12-07")].spacing(24).into())
///     .footer(|page: Page| {
///         container(text(format!("{} / {}", page.number, page.count))).center_x(iced_core::Length::Fill).into()
///     });
/// let view: Element<'_, (), Theme, Renderer> = column![text("Revenue is up.")].into();
/// let exported = lucarne_pdf::export_with_furniture(view, &PdfOptions::default(), &furniture, &mut |_| {})?;
/// assert_eq!(exported.pages, 1);
/// # Ok::<(), lucarne_pdf::PdfError>(())
/// ```
///
/// Each page's header is laid out in its top margin and its footer in its bottom margin (the
/// content box's width, the margin's height; one logical pixel is
/// [`POINTS_PER_PIXEL`](crate::POINTS_PER_PIXEL) points whatever the zoom) with the document's
/// theme and default font, and drawn there as page furniture: an artifact, outside the
/// structure tree a screen reader reads. An image drawn on every page is embedded once.
/// A widget header or footer takes the place of the text one
/// ([`PdfOptions::header`](crate::PdfOptions::header), [`footer`](crate::PdfOptions::footer)).
pub struct Furniture<'a, Message, R> {
    pub(crate) header: Option<View<'a, Message, R>>,
    pub(crate) footer: Option<View<'a, Message, R>>,
}

impl<'a, Message, R> Furniture<'a, Message, R> {
    /// No header and no footer.
    pub fn new() -> Self {
        Self { header: None, footer: None }
    }

    /// Draws `view(page)` in each page's top margin.
    #[must_use]
    pub fn header(mut self, view: impl Fn(Page) -> Element<'a, Message, Theme, R> + 'a) -> Self {
        self.header = Some(Box::new(view));
        self
    }

    /// Draws `view(page)` in each page's bottom margin.
    #[must_use]
    pub fn footer(mut self, view: impl Fn(Page) -> Element<'a, Message, Theme, R> + 'a) -> Self {
        self.footer = Some(Box::new(view));
        self
    }
}

/// Every page's band, one under the other, each `band` big and clipped to it: laid out and
/// drawn at once (a page's band is the window of the scene `band.height` times its index
/// down), not page by page.
pub(crate) fn bands<'a, Message: 'a, R: iced_core::Renderer + 'a>(
    view: &View<'a, Message, R>,
    count: usize,
    band: Size,
) -> Element<'a, Message, Theme, R> {
    Column::with_children((1..=count).map(|number| {
        container(view(Page { number, count }))
            .width(Length::Fixed(band.width))
            .height(Length::Fixed(band.height))
            .clip(true)
            .into()
    }))
    .into()
}

impl<Message, R> Default for Furniture<'_, Message, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Message, R> std::fmt::Debug for Furniture<'_, Message, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Furniture")
            .field("header", &self.header.is_some())
            .field("footer", &self.footer.is_some())
            .finish()
    }
}
