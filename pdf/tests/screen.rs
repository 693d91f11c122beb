//! Screen mode: a view with a title, a button, a bordered box, a long paragraph, Arabic, Hebrew
//! and a mixed line, read back with poppler and qpdf.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

mod common;

use common::{Element, normalize};
use iced_core::{Border, Color, Length, Theme};
use iced_widget::{button, column, container, text};
use lucarne_pdf::{PdfOptions, export, export_report};

const TITLE: &str = "Quarterly Report";
const BUTTON: &str = "Approve order";
const BOXED: &str = "A container with a background and a rounded border";
const PARAGRAPH: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Integer nec odio. \
Praesent libero. Sed cursus ante dapibus diam. Sed nisi. Nulla quis sem at nibh elementum imperdiet. \
Duis sagittis ipsum. Praesent mauris. Fusce nec tellus sed augue semper porta. Mauris massa. \
Vestibulum lacinia arcu eget nulla. Class aptent taciti sociosqu ad litora torquent per conubia \
nostra, per inceptos himenaeos.";
const ARABIC: &str = "مرحبا بالعالم";
const HEBREW: &str = "שלום עולם";
const MIXED: &str = "Order #42 — طلب رقم ٤٢ (shipped)";

#[derive(Debug, Clone)]
enum Message {
    Approve,
}

fn view<'a>() -> Element<'a, Message> {
    column![
        text(TITLE).size(28),
        button(BUTTON).on_press(Message::Approve),
        container(text(BOXED)).padding(12).width(Length::Fill).style(|_: &Theme| container::Style {
            background: Some(Color::from_rgb(0.90, 0.94, 1.0).into()),
            border: Border { color: Color::from_rgb(0.2, 0.4, 0.8), width: 2.0, radius: 10.0.into() },
            ..container::Style::default()
        }),
        text(PARAGRAPH).width(Length::Fill),
        text(ARABIC),
        text(HEBREW),
        text(MIXED),
    ]
    .spacing(12)
    .padding(24)
    .into()
}

#[test]
fn every_string_is_extractable_in_logical_order() {
    let pdf = common::write(&export(view(), &PdfOptions::default()).unwrap());
    let extracted = normalize(&common::text(&pdf, None));
    for s in [TITLE, BUTTON, BOXED, PARAGRAPH, ARABIC, HEBREW] {
        assert!(extracted.contains(&normalize(s)), "{s:?} not found in pdftotext output:\n{extracted}");
    }
    // The mixed line: every directional run comes out in logical order, but poppler's
    // simplified reordering (numbers are left-to-right to it, and neutrals next to a
    // right-to-left run are moved with it) prints `Order #42 — ٤٢ ( طلب رقمshipped)`, so the
    // whole line cannot be compared as one string. The glyphs are in visual order, as on
    // screen; see the crate README.
    for run in ["Order #42 —", "طلب رقم", "٤٢", "shipped)"] {
        assert!(extracted.contains(run), "{run:?} of {MIXED:?} not found in:\n{extracted}");
    }
    assert_eq!(common::info(&pdf, "Pages"), "1");
}

#[test]
fn fonts_are_embedded_subset_with_to_unicode() {
    let pdf = common::write(&export(view(), &PdfOptions::default()).unwrap());
    let fonts = common::fonts(&pdf);
    let names: Vec<&str> = fonts.iter().map(|f| f.0.as_str()).collect();
    for family in ["NotoSans-Regular", "NotoSansArabic-Regular", "NotoSansHebrew-Regular"] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("+{family}"))),
            "{family} not embedded as a subset: {names:?}"
        );
    }
    for (name, kind, emb, sub, uni) in &fonts {
        assert_eq!((emb.as_str(), sub.as_str(), uni.as_str()), ("yes", "yes", "yes"), "{name} ({kind})");
    }
}

#[test]
fn the_file_is_valid_and_all_vector() {
    let exported = export_report(view(), &PdfOptions::default()).unwrap();
    assert!(exported.warnings.is_empty(), "{:?}", exported.warnings);
    let pdf = common::write(&exported.pdf);
    common::qpdf_check(&pdf);
    let images = common::images(&pdf);
    assert!(images.is_empty(), "no image expected, found {images:?}");
    // Subsetting keeps the file small (the three fonts weigh 780 KB in full).
    assert!(exported.pdf.len() < 120_000, "{} bytes", exported.pdf.len());
}

#[test]
fn the_plain_tiny_skia_renderer_is_accepted_too() {
    let view: iced_core::Element<'_, (), Theme, iced_tiny_skia::Renderer> =
        column![text(TITLE), text(HEBREW)].into();
    let pdf = common::write(&export(view, &PdfOptions::default()).unwrap());
    let extracted = normalize(&common::text(&pdf, None));
    assert!(extracted.contains(TITLE) && extracted.contains(HEBREW), "{extracted}");
}

#[test]
fn everything_drawn_is_content_or_an_artifact() {
    let bytes = export(view(), &PdfOptions::default()).unwrap();
    assert_eq!(common::unmarked_paint(&bytes), Vec::<String>::new());
}

#[test]
fn a_title_is_a_heading_and_a_bookmark() {
    // The title (28 px) and a section (20 px) over body text (16 px).
    let view: Element<'_, Message> =
        column![text(TITLE).size(28), text(BUTTON), text("Totals by region").size(20), text(PARAGRAPH)]
            .into();
    let bytes = export(view, &PdfOptions::default()).unwrap();
    let pdf = common::write(&bytes);
    let tree = common::tool("pdfinfo", &["-struct-text"], &pdf);
    let lines: Vec<&str> = tree.lines().map(str::trim).collect();
    // `pdfinfo` prints an element as `H1 (block)`, its text on the next line.
    let after = |tag: &str| {
        lines.iter().position(|l| l.split(' ').next() == Some(tag)).and_then(|i| lines.get(i + 1)).copied()
    };
    assert_eq!(after("H1"), Some(&*format!("\"{TITLE}\"")), "{tree}");
    assert_eq!(after("H2"), Some("\"Totals by region\""), "{tree}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("H1 ") || l.starts_with("H2 ")).count(),
        2,
        "the body is no heading: {tree}"
    );
    assert_eq!(
        common::bookmarks(&bytes),
        [(TITLE.to_owned(), 1), ("Totals by region".to_owned(), 1)],
        "the headings are the bookmarks"
    );
}

#[test]
fn a_heading_wrapped_over_two_lines_is_one_heading_and_one_bookmark() {
    const LONG: &str = "Quarterly report of the northern region";
    let view: Element<'_, Message> =
        column![container(text(LONG).size(28)).width(Length::Fixed(260.0)), text(PARAGRAPH)].into();
    let bytes = export(view, &PdfOptions::default()).unwrap();
    let pdf = common::write(&bytes);
    let tree = common::tool("pdfinfo", &["-struct-text"], &pdf);
    let lines: Vec<&str> = tree.lines().map(str::trim).collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("H1 ")).count(), 1, "one heading: {tree}");
    let bookmarks = common::bookmarks(&bytes);
    assert_eq!(bookmarks.len(), 1, "{bookmarks:?}");
    assert_eq!(normalize(&bookmarks[0].0), LONG, "the whole title");
}

#[test]
fn a_right_to_left_line_reads_in_logical_order_in_the_structure_tree() {
    // Its glyphs stand in visual order (as poppler's `-struct-text` shows); its element says
    // what it reads as. A left-to-right line needs nothing.
    const MIXED: &str = "Order #42 — طلب رقم ٤٢ (shipped)";
    let view: Element<'_, Message> = column![
        text("طلب جديد").size(28),
        text("مرحبا بالعالم"),
        text(MIXED),
        text("שלום עולם"),
        text("Plain")
    ]
    .into();
    let bytes = export(view, &PdfOptions { language: Some("ar".into()), ..PdfOptions::default() }).unwrap();
    let elements = common::structure(&bytes);
    let expected = [
        ("Document", None),
        ("H1", Some("طلب جديد")),
        ("P", Some("مرحبا بالعالم")),
        ("P", Some(MIXED)),
        ("P", Some("שלום עולם")),
        ("P", None),
    ];
    let expected: Vec<(String, Option<String>)> =
        expected.iter().map(|(kind, actual)| ((*kind).to_owned(), actual.map(str::to_owned))).collect();
    assert_eq!(elements, expected);
}
