//! Page header and footer drawn by widgets (`Furniture`): a logo and a title in every page's
//! top margin, the page number in its bottom margin; furniture, not content.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

mod common;

use common::Element;
use iced_core::{Length, image::Handle};
use iced_widget::{Column, container, image, row, text};
use lucarne_pdf::{Furniture, Margins, Page, PdfOptions, export_with_furniture};

const ROWS: usize = 120;

fn rows<'a>() -> Element<'a, ()> {
    Column::with_children((0..ROWS).map(|i| text(format!("Line {i:03} of the report")).into()))
        .spacing(6)
        .into()
}

/// A 24 × 24 logo: an orange square with a transparent corner.
fn logo() -> Handle {
    let pixels: Vec<u8> = (0..24 * 24)
        .flat_map(|i| if i % 24 < 4 && i / 24 < 4 { [0, 0, 0, 0] } else { [230, 120, 20, 255] })
        .collect();
    Handle::from_rgba(24, 24, pixels)
}

fn options() -> PdfOptions {
    PdfOptions {
        margins: Margins { top: 54.0, bottom: 40.0, left: 36.0, right: 36.0 },
        // Text furniture too: the widgets take its place.
        header: Some("TEXT HEADER".into()),
        footer: Some("TEXT FOOTER {page}".into()),
        ..PdfOptions::document()
    }
}

/// Exports the report with `furniture` and checks, page by page, that the header's words lie
/// in the top margin and the footer's in the bottom one, that the content lies between, and
/// what `check` finds in the file.
fn check(
    furniture: &Furniture<'_, (), common::AppRenderer>,
    header: &[&str],
    footer: &dyn Fn(Page) -> String,
) {
    let options = options();
    let exported = export_with_furniture(rows(), &options, furniture, &mut |_| {}).unwrap();
    assert!(exported.pages >= 3, "{} pages", exported.pages);
    assert!(exported.warnings.is_empty(), "{:?}", exported.warnings);
    let pdf = common::write(&exported.pdf);
    common::qpdf_check(&pdf);
    let (_, page_h) = options.page_points();
    for number in 1..=exported.pages {
        let words = common::words(&pdf, number);
        let texts: Vec<&str> = words.iter().map(|w| w.0.as_str()).collect();
        // Where a word is: its box's middle (poppler's boxes are the font's ascent and descent).
        let middle = |w: &&(String, f32, f32, f32, f32)| f32::midpoint(w.2, w.4);
        let top: Vec<&str> = words.iter().filter(|w| middle(w) < 54.0).map(|w| w.0.as_str()).collect();
        let bottom: Vec<&str> =
            words.iter().filter(|w| middle(w) > page_h - 40.0).map(|w| w.0.as_str()).collect();
        assert_eq!(top, header, "page {number}'s top margin: {texts:?}");
        let expected = footer(Page { number, count: exported.pages });
        assert_eq!(bottom.join(" "), expected, "page {number}'s bottom margin: {texts:?}");
        assert!(!texts.contains(&"TEXT"), "the text furniture is replaced: {texts:?}");
        let lines: Vec<_> = words.iter().filter(|w| w.0 == "Line").collect();
        assert!(
            lines.iter().all(|w| (54.0..page_h - 40.0).contains(&middle(w))),
            "content between the margins on page {number}: {lines:?}"
        );
    }
    // Furniture is not content: a screen reader does not read it on every page; the logo
    // and the rules are artifacts too.
    assert_eq!(common::unmarked_paint(&exported.pdf), Vec::<String>::new());
    let structure = common::tool("pdfinfo", &["-struct-text"], &pdf);
    assert!(structure.contains("Line 000 of the report"), "{structure}");
    let header = header.join(" ");
    assert!(!structure.contains(&header), "{header} in the structure tree:\n{structure}");
}

#[test]
fn a_logo_and_a_title_head_every_page_and_the_number_foots_it() {
    let logo = logo();
    let furniture = Furniture::new()
        .header(move |_| {
            row![image(logo.clone()).width(24).height(24), text("Quarterly report").size(14)]
                .spacing(8)
                .align_y(iced_core::alignment::Vertical::Center)
                .into()
        })
        .footer(|page: Page| {
            container(text(format!("Page {} of {}", page.number, page.count)).size(10))
                .center_x(Length::Fill)
                .center_y(Length::Fill)
                .into()
        });
    check(&furniture, &["Quarterly", "report"], &|page| format!("Page {} of {}", page.number, page.count));
}

#[test]
fn an_image_on_every_page_is_embedded_once() {
    // A new handle on every page, the same pixels: one image in the file.
    let furniture: Furniture<'_, (), common::AppRenderer> = Furniture::new()
        .header(|_| row![image(logo()).width(24).height(24), text("Logo")].spacing(8).into())
        .footer(|page| text(format!("{}", page.number)).into());
    let exported = export_with_furniture(rows(), &options(), &furniture, &mut |_| {}).unwrap();
    let pdf = common::write(&exported.pdf);
    let images = common::images(&pdf);
    let placed: Vec<&String> =
        images.iter().filter(|l| l.split_whitespace().nth(2) == Some("image")).collect();
    assert_eq!(placed.len(), exported.pages, "drawn on every page: {images:?}");
    let objects: std::collections::BTreeSet<&str> =
        placed.iter().filter_map(|l| l.split_whitespace().nth(10)).collect();
    assert_eq!(objects.len(), 1, "one image object: {images:?}");
}

#[test]
fn without_widget_furniture_the_text_furniture_stays() {
    let exported =
        export_with_furniture(rows(), &options(), &Furniture::<(), common::AppRenderer>::new(), &mut |_| {})
            .unwrap();
    let pdf = common::write(&exported.pdf);
    let text = common::text(&pdf, Some(2));
    assert!(text.contains("TEXT HEADER") && text.contains("TEXT FOOTER 2"), "{text}");
}

#[test]
fn a_header_taller_than_its_margin_is_cut_at_the_margin_not_carried_to_the_next_page() {
    let furniture: Furniture<'_, (), common::AppRenderer> = Furniture::new().header(|page| {
        Column::new().push(text(format!("Head {}", page.number)).size(14)).push(text("Spill")).into()
    });
    let options =
        PdfOptions { margins: Margins { top: 20.0, ..Margins::all(36.0) }, ..PdfOptions::document() };
    let exported = export_with_furniture(rows(), &options, &furniture, &mut |_| {}).unwrap();
    let pdf = common::write(&exported.pdf);
    for number in 1..=exported.pages {
        let words: Vec<String> = common::words(&pdf, number).into_iter().map(|w| w.0).collect();
        let heads: Vec<&String> = words.iter().filter(|w| w.as_str() == "Head").collect();
        assert_eq!(heads.len(), 1, "page {number}: {words:?}");
        assert!(words.contains(&number.to_string()), "page {number}: {words:?}");
        assert!(!words.iter().any(|w| w == "Spill"), "page {number}: {words:?}");
    }
}
