//! Page size, orientation, margins and metadata, read back with pdfinfo and pdftotext -bbox.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

mod common;

use common::Element;
use iced_widget::{column, text};
use lucarne_pdf::{Margins, Mode, Orientation, PageSize, PdfError, PdfOptions, export};

fn view<'a>() -> Element<'a, ()> {
    column![text("Left edge"), text("Second line")].into()
}

fn page_size(options: &PdfOptions) -> (common::Pdf, String) {
    let pdf = common::write(&export(view(), options).unwrap());
    let size = common::info(&pdf, "Page size");
    (pdf, size)
}

#[test]
fn a4_portrait_is_the_default() {
    let (_, size) = page_size(&PdfOptions::default());
    assert_eq!(size, "595.276 x 841.89 pts (A4)");
}

#[test]
fn letter_landscape() {
    for mode in [Mode::Screen, Mode::Document] {
        let (_, size) = page_size(&PdfOptions {
            page_size: PageSize::Letter,
            orientation: Orientation::Landscape,
            mode,
            ..PdfOptions::default()
        });
        assert_eq!(size, "792 x 612 pts (letter)");
    }
}

#[test]
fn custom_size_in_points() {
    let (pdf, size) = page_size(&PdfOptions {
        page_size: PageSize::Custom { width: 300.0, height: 500.0 },
        margins: Margins::all(10.0),
        ..PdfOptions::default()
    });
    assert_eq!(size, "300 x 500 pts");
    let mediabox = common::tool("pdfinfo", &["-box"], &pdf);
    let line = mediabox.lines().find(|l| l.starts_with("MediaBox:")).unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["MediaBox:", "0.00", "0.00", "300.00", "500.00"]
    );
}

#[test]
fn margins_move_the_content() {
    for (left, top) in [(36.0_f32, 36.0_f32), (144.0, 200.0)] {
        let (pdf, _) = page_size(&PdfOptions {
            margins: Margins { top, right: 36.0, bottom: 36.0, left },
            ..PdfOptions::default()
        });
        let words = common::words(&pdf, 1);
        let (_, x0, y0, _, _) = words.iter().find(|w| w.0 == "Left").unwrap().clone();
        // The text starts at the margin (plus the glyph's side bearing and the line's leading).
        assert!(x0 >= left && x0 < left + 3.0, "x {x0} for left margin {left}");
        assert!(y0 >= top - 1.0 && y0 < top + 6.0, "y {y0} for top margin {top}");
    }
}

#[test]
fn metadata_is_written() {
    let options = PdfOptions {
        title: "Orders — Q3".into(),
        author: Some("Lucarne".into()),
        subject: Some("Order list".into()),
        ..PdfOptions::default()
    };
    let pdf = common::write(&export(view(), &options).unwrap());
    assert_eq!(common::info(&pdf, "Title"), "Orders — Q3");
    assert_eq!(common::info(&pdf, "Author"), "Lucarne");
    assert_eq!(common::info(&pdf, "Subject"), "Order list");
}

#[test]
fn impossible_pages_are_an_error() {
    let options = PdfOptions {
        page_size: PageSize::Custom { width: 100.0, height: 100.0 },
        margins: Margins::all(60.0),
        ..PdfOptions::default()
    };
    let err = export(view(), &options).unwrap_err();
    assert!(matches!(err, PdfError::InvalidOptions(_)), "{err}");
}

#[test]
fn screen_mode_fits_a_large_viewport_on_one_page() {
    let options =
        PdfOptions { viewport: Some(iced_core::Size::new(1600.0, 1200.0)), ..PdfOptions::default() };
    let pdf = common::write(&export(view(), &options).unwrap());
    assert_eq!(common::info(&pdf, "Pages"), "1");
    // 1600 px would be 1200 pt at zoom 1; the content box is 523 pt wide, so the text is
    // scaled by about 0.44: a 16 px line is ~5.2 pt high instead of 12.
    let (_, _, y0, _, y1) = common::words(&pdf, 1).into_iter().find(|w| w.0 == "Left").unwrap();
    assert!(y1 - y0 < 9.0, "text height {}", y1 - y0);
}
