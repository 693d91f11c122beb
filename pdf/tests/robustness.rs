//! Bad or unusual input: an empty view, content wider than the page, a glyph no font has, an
//! image that does not decode; and content that is not text: images and canvas paths.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

mod common;

use iced_core::{Color, Element, Length, Point, Rectangle, Theme, mouse};
use iced_widget::canvas::{self, Canvas, Frame, Geometry, Path};
use iced_widget::{Space, column, image, row, text};
use lucarne_pdf::{PdfOptions, export_report};

type R = iced_tiny_skia::Renderer;

#[test]
fn an_empty_view_is_one_blank_page() {
    for options in [PdfOptions::default(), PdfOptions::document()] {
        let view: Element<'_, (), Theme, R> = Space::new().into();
        let exported = export_report(view, &options).unwrap();
        assert_eq!(exported.pages, 1);
        let pdf = common::write(&exported.pdf);
        common::qpdf_check(&pdf);
        assert_eq!(common::info(&pdf, "Pages"), "1");
        assert_eq!(common::normalize(&common::text(&pdf, None)), "");
    }
}

#[test]
fn content_wider_than_the_page_is_clamped_to_the_content_box() {
    // A row of fixed widths adding up to more than the page, and a line that does not wrap.
    let long = "unwrapped ".repeat(40);
    let view: Element<'_, (), Theme, R> =
        column![
            text("Before the wide row"),
            row![
                text("first cell").width(Length::Fixed(500.0)),
                text("second cell").width(Length::Fixed(500.0)),
            ],
            text(long).wrapping(iced_core::text::Wrapping::None),
        ]
        .into();
    for options in [PdfOptions::default(), PdfOptions::document()] {
        let exported = export_report(view_clone(&view), &options).unwrap();
        let pdf = common::write(&exported.pdf);
        common::qpdf_check(&pdf);
        let extracted = common::normalize(&common::text(&pdf, None));
        assert!(extracted.contains("Before the wide row"), "{extracted}");
        assert!(extracted.contains("first cell"), "{extracted}");
        // Nothing is painted outside the content box (poppler reports clipped glyphs too, so
        // the check is on the rendering: the right margin stays white).
        let page = render(&pdf);
        for x in 595 - 34..595 {
            for y in 0..842 {
                assert_eq!(pixel(&page, x, y), [255, 255, 255], "ink at ({x}, {y})");
            }
        }
    }
}

/// Elements are consumed by an export; rebuild the same view.
fn view_clone<'a>(_: &Element<'a, (), Theme, R>) -> Element<'a, (), Theme, R> {
    let long = "unwrapped ".repeat(40);
    column![
        text("Before the wide row"),
        row![
            text("first cell").width(Length::Fixed(500.0)),
            text("second cell").width(Length::Fixed(500.0)),
        ],
        text(long).wrapping(iced_core::text::Wrapping::None),
    ]
    .into()
}

#[test]
fn a_glyph_no_font_has_is_drawn_as_notdef_without_failing() {
    // U+10FFFD is a private-use character that no bundled font covers.
    let view: Element<'_, (), Theme, R> = text("Missing \u{10FFFD} glyph").into();
    let exported = export_report(view, &PdfOptions::default()).unwrap();
    let pdf = common::write(&exported.pdf);
    common::qpdf_check(&pdf);
    let extracted = common::normalize(&common::text(&pdf, None));
    assert!(extracted.contains("Missing") && extracted.contains("glyph"), "{extracted}");
}

#[test]
fn an_image_that_does_not_decode_is_a_clear_error() {
    // iced_tiny_skia 0.14.1 panics when such an image is measured twice ("Image should be
    // allocated"); the export catches it and returns an error, and the next export works.
    let broken = image::Handle::from_bytes(vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3]);
    let view: Element<'_, (), Theme, R> =
        column![text("Before"), image(broken).width(100).height(50), text("After")].into();
    let err = export_report(view, &PdfOptions::default()).unwrap_err();
    assert!(matches!(&err, lucarne_pdf::PdfError::Render(message) if message.contains("Image")), "{err}");
    let again: Element<'_, (), Theme, R> = text("Still works").into();
    let pdf = common::write(&export_report(again, &PdfOptions::default()).unwrap().pdf);
    assert!(common::text(&pdf, None).contains("Still works"));
}

#[test]
fn an_rgba_image_is_embedded_as_an_image_and_text_stays_text() {
    let (w, h) = (40u32, 20u32);
    let pixels: Vec<u8> = (0..w * h).flat_map(|i| [200, (i % 255) as u8, 40, 255]).collect();
    let view: Element<'_, (), Theme, R> =
        column![text("Caption above"), image(image::Handle::from_rgba(w, h, pixels)).width(80).height(40),]
            .into();
    let exported = export_report(view, &PdfOptions::default()).unwrap();
    let pdf = common::write(&exported.pdf);
    common::qpdf_check(&pdf);
    let images = common::images(&pdf);
    assert!(
        images.iter().any(|l| l.split_whitespace().nth(2) == Some("image")
            && l.split_whitespace().nth(3) == Some("40")
            && l.split_whitespace().nth(4) == Some("20")),
        "{images:?}"
    );
    assert!(common::normalize(&common::text(&pdf, None)).contains("Caption above"));
    assert!(!common::fonts(&pdf).is_empty());
}

struct Disc;

impl canvas::Program<(), Theme, R> for Disc {
    type State = ();

    fn draw(&self, _: &(), renderer: &R, _: &Theme, bounds: Rectangle, _: mouse::Cursor) -> Vec<Geometry<R>> {
        let mut frame = Frame::new(renderer, bounds.size());
        frame.fill(&Path::circle(Point::new(100.0, 100.0), 80.0), Color::from_rgb(1.0, 0.0, 0.0));
        frame.stroke(
            &Path::line(Point::new(0.0, 190.0), Point::new(200.0, 190.0)),
            canvas::Stroke::default().with_width(4.0).with_color(Color::from_rgb(0.0, 0.0, 1.0)),
        );
        vec![frame.into_geometry()]
    }
}

/// Page 1 rendered at 72 dpi (one pixel per point): width and RGB bytes.
fn render(pdf: &common::Pdf) -> (usize, Vec<u8>) {
    let (width, _, rgb) = common::raster(pdf, 72);
    (width, rgb)
}

fn pixel((width, data): &(usize, Vec<u8>), x: usize, y: usize) -> [u8; 3] {
    let at = (y * width + x) * 3;
    [data[at], data[at + 1], data[at + 2]]
}

#[test]
fn canvas_paths_are_vector_paths() {
    let view: Element<'_, (), Theme, R> =
        Canvas::new(Disc).width(Length::Fixed(200.0)).height(Length::Fixed(200.0)).into();
    let exported = export_report(view, &PdfOptions::default()).unwrap();
    assert!(exported.warnings.is_empty(), "{:?}", exported.warnings);
    let pdf = common::write(&exported.pdf);
    common::qpdf_check(&pdf);
    assert!(common::images(&pdf).is_empty());
    // The disc's centre (100, 100) px is at 36 + 75 pt; the line at y 190 px is at 36 + 142.5 pt.
    let page = render(&pdf);
    assert_eq!(pixel(&page, 111, 111), [255, 0, 0]);
    assert_eq!(pixel(&page, 111, 36 + 142), [0, 0, 255]);
    assert_eq!(pixel(&page, 36 + 160, 36 + 10), [255, 255, 255]);
}

#[test]
fn the_bundled_fonts_are_what_the_text_uses() {
    let view: Element<'_, (), Theme, R> = text("Bundled").into();
    let pdf = common::write(&export_report(view, &PdfOptions::default()).unwrap().pdf);
    let fonts = common::fonts(&pdf);
    assert_eq!(fonts.len(), 1, "{fonts:?}");
    assert!(fonts[0].0.ends_with("+NotoSans-Regular"), "{fonts:?}");
    assert_eq!(lucarne_pdf::fonts().len(), 4);
}
