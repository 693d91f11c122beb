//! Document mode: a column of 300 rows becomes several pages; every row appears exactly once,
//! whole, inside the content box; header and footer carry the page numbers.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

mod common;

use common::Element;
use iced_core::{Color, Length, Theme};
use iced_widget::{Column, container, scrollable, text};
use lucarne_pdf::{Margins, PdfOptions, export_report};

const ROWS: usize = 300;
const ROW_HEIGHT: f32 = 30.0;

fn row_label(i: usize) -> String {
    format!("Row {i:03} · order {} · €{}.{:02}", 1000 + i * 7, i * 3, i % 100)
}

fn rows<'a>() -> Column<'a, (), Theme, common::AppRenderer> {
    Column::with_children((0..ROWS).map(|i| {
        container(text(row_label(i)))
            .padding([4, 8])
            .height(Length::Fixed(ROW_HEIGHT))
            .width(Length::Fill)
            .style(move |_: &Theme| container::Style {
                background: Some(if i % 2 == 0 {
                    Color::from_rgb(0.95, 0.95, 0.97).into()
                } else {
                    Color::WHITE.into()
                }),
                ..container::Style::default()
            })
            .into()
    }))
}

fn options() -> PdfOptions {
    PdfOptions {
        header: Some("Orders".into()),
        footer: Some("Page {page} of {pages}".into()),
        margins: Margins::all(36.0),
        ..PdfOptions::document()
    }
}

/// Rows that fit on an A4 page (297 mm) with 36 pt margins: the content box is 841.89 - 72 pt high,
/// i.e. 1026.5 px, and a row is 30 px; a row is never split, so 34 rows per page.
fn expected_pages() -> usize {
    let content_px = (297.0_f32 * 72.0 / 25.4 - 72.0) / 0.75;
    #[expect(clippy::cast_possible_truncation, reason = "a page's rows: a few dozen")]
    let per_page = (content_px / ROW_HEIGHT).floor() as usize;
    ROWS.div_ceil(per_page)
}

fn check(view: Element<'_, ()>) {
    let exported = export_report(view, &options()).unwrap();
    assert_eq!(exported.pages, expected_pages());
    assert!(exported.warnings.is_empty(), "{:?}", exported.warnings);
    let pdf = common::write(&exported.pdf);
    common::qpdf_check(&pdf);
    assert_eq!(common::info(&pdf, "Pages"), expected_pages().to_string());
    assert!(common::images(&pdf).is_empty());

    let pages = expected_pages();
    let mut seen = vec![0usize; ROWS];
    let mut previous_last: Option<usize> = None;
    for page in 1..=pages {
        let page_text = common::text(&pdf, Some(page));
        let lines: Vec<&str> = page_text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.first(), Some(&"Orders"), "page {page}: {lines:?}");
        let footer = format!("Page {page} of {pages}");
        assert_eq!(lines.last(), Some(&footer.as_str()), "page {page}");
        let on_page: Vec<usize> = (0..ROWS).filter(|&i| lines.contains(&row_label(i).as_str())).collect();
        assert!(!on_page.is_empty(), "page {page} has no row");
        // Consecutive rows, following the previous page.
        assert_eq!(on_page.last().unwrap() - on_page[0] + 1, on_page.len(), "page {page}");
        assert_eq!(on_page[0], previous_last.map_or(0, |l| l + 1), "page {page}");
        previous_last = on_page.last().copied();
        for &i in &on_page {
            seen[i] += 1;
        }
        // Every word of a row lies inside the content box: nothing is cut at the page edge.
        for (word, _, y0, _, y1) in common::words(&pdf, page) {
            if word == "Orders"
                || word == "Page"
                || word == "of"
                || word.parse::<usize>().is_ok() && y0 > 800.0
            {
                continue;
            }
            assert!(y0 >= 36.0 - 0.5 && y1 <= 841.89 - 36.0 + 0.5, "page {page}: {word:?} at {y0}..{y1}");
        }
    }
    assert!(
        seen.iter().all(|&n| n == 1),
        "rows not seen exactly once: {:?}",
        seen.iter().enumerate().filter(|(_, n)| **n != 1).collect::<Vec<_>>()
    );
}

#[test]
fn rows_are_paginated_whole_and_once() {
    check(rows().into());
}

#[test]
fn a_fill_height_scrollable_is_expanded() {
    check(scrollable(rows()).height(Length::Fill).into());
}

#[test]
fn pagination_is_stable_across_exports() {
    let a = export_report(Element::from(rows()), &options()).unwrap();
    let b = export_report(Element::from(rows()), &options()).unwrap();
    assert_eq!(a.pages, b.pages);
    let (pa, pb) = (common::write(&a.pdf), common::write(&b.pdf));
    assert_eq!(common::text(&pa, None), common::text(&pb, None));
}

/// A header row of 40 px above the rows.
const HEADER: f32 = 40.0;

fn table<'a>() -> Column<'a, (), Theme, common::AppRenderer> {
    let header = container(text("Order · Customer · Total"))
        .padding([8, 8])
        .height(Length::Fixed(HEADER))
        .width(Length::Fill);
    Column::new().push(header).push(rows())
}

#[test]
fn a_repeated_top_band_heads_every_page_and_no_row_hides_under_it() {
    let options = PdfOptions { repeat_top: Some(HEADER), ..options() };
    let exported = export_report(Element::from(table()), &options).unwrap();
    let pdf = common::write(&exported.pdf);
    common::qpdf_check(&pdf);
    // The first page holds the header and 33 rows (1026.5 px − 40 px), the others the same.
    let content_px = (297.0_f32 * 72.0 / 25.4 - 72.0) / 0.75;
    #[expect(clippy::cast_possible_truncation, reason = "a page's rows: a few dozen")]
    let per_page = ((content_px - HEADER) / ROW_HEIGHT).floor() as usize;
    assert_eq!(exported.pages, ROWS.div_ceil(per_page));
    let mut seen = vec![0usize; ROWS];
    for page in 1..=exported.pages {
        let page_text = common::text(&pdf, Some(page));
        let lines: Vec<&str> = page_text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        // The page header (margin), then the table's header row, then its rows.
        assert_eq!(lines.get(1), Some(&"Order · Customer · Total"), "page {page}: {lines:?}");
        assert_eq!(lines.iter().filter(|l| **l == "Order · Customer · Total").count(), 1, "page {page}");
        for i in (0..ROWS).filter(|&i| lines.contains(&row_label(i).as_str())) {
            seen[i] += 1;
        }
        // The header row's words sit above every row's on the page.
        let words = common::words(&pdf, page);
        let header_bottom = words.iter().filter(|w| w.0 == "Customer").map(|w| w.4).fold(0.0, f32::max);
        let first_row = words.iter().filter(|w| w.0 == "Row").map(|w| w.2).fold(f32::INFINITY, f32::min);
        assert!(
            header_bottom < first_row,
            "page {page}: header ends at {header_bottom}, a row starts at {first_row}"
        );
    }
    assert!(seen.iter().all(|&n| n == 1), "rows not seen exactly once");
}

/// `pdfinfo -struct-text`: the structure tree with each element's text, as a reader sees it.
fn structure(pdf: &common::Pdf) -> String {
    common::tool("pdfinfo", &["-struct-text"], pdf)
}

#[test]
fn a_table_document_is_tagged_as_a_table_read_once_in_its_language() {
    let options = PdfOptions { repeat_top: Some(HEADER), language: Some("en".into()), ..options() };
    let exported = export_report(Element::from(table()), &options).unwrap();
    assert!(exported.pages > 1);
    let pdf = common::write(&exported.pdf);
    common::qpdf_check(&pdf);
    assert_eq!(common::info(&pdf, "Tagged"), "yes");
    let tree = structure(&pdf);
    let lines: Vec<&str> = tree.lines().map(str::trim).collect();
    assert_eq!(lines.first(), Some(&"Document"), "{tree}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("Table")).count(), 1, "one table: {tree}");
    // The header row once (its repetitions are artifacts), then one row per printed row.
    assert_eq!(lines.iter().filter(|l| **l == "TH").count(), 1, "{tree}");
    assert_eq!(lines.iter().filter(|l| **l == "TR").count(), ROWS + 1, "{tree}");
    assert_eq!(lines.iter().filter(|l| **l == "TD").count(), ROWS, "{tree}");
    // Rows in order, each with its text; page furniture (header and footer) is not content.
    let texts: Vec<&str> = lines.iter().filter(|l| l.starts_with('"')).map(|l| l.trim_matches('"')).collect();
    assert_eq!(texts.first(), Some(&"Order · Customer · Total"));
    let rows: Vec<String> = (0..ROWS).map(row_label).collect();
    assert_eq!(texts[1..], rows.iter().map(String::as_str).collect::<Vec<_>>()[..]);
    let doc = lopdf::Document::load_mem(&exported.pdf).unwrap();
    let catalog = doc.catalog().unwrap();
    assert_eq!(catalog.get(b"Lang").and_then(lopdf::Object::as_str).unwrap(), b"en");
    // No headings: a bookmark per page, titled with its number.
    let expected: Vec<(String, usize)> = (1..=exported.pages).map(|p| (p.to_string(), p)).collect();
    assert_eq!(common::bookmarks(&exported.pdf), expected);
}

#[test]
fn a_right_to_left_cell_reads_in_logical_order_in_the_structure_tree() {
    // Each row: the total on the left, the customer on the right (an Arabic table's order).
    let cell = |s: &str| container(text(s.to_owned())).width(Length::Fill).padding([8, 8]);
    let line = |total: &str, customer: &str| iced_widget::row![cell(total), cell(customer)];
    let table: Column<'_, (), Theme, common::AppRenderer> = Column::new()
        .push(line("الإجمالي", "العميل").height(Length::Fixed(HEADER)))
        .push(line("٥٩٫٢٥", "مريم العلي"))
        .push(line("12.50", "Ada Lovelace"))
        .push(line("7.00", "יוסף לוי"));
    let options = PdfOptions { repeat_top: Some(HEADER), language: Some("ar".into()), ..options() };
    let exported = export_report(Element::from(table), &options).unwrap();
    let cells: Vec<(String, Option<String>)> = common::structure(&exported.pdf)
        .into_iter()
        .filter(|(kind, _)| kind == "TH" || kind == "TD")
        .collect();
    let expected = [
        ("TH", Some("العميل")),
        ("TH", Some("الإجمالي")),
        ("TD", Some("مريم العلي")),
        ("TD", None),
        ("TD", None),
        ("TD", None),
        ("TD", Some("יוסף לוי")),
        ("TD", None),
    ];
    let expected: Vec<(String, Option<String>)> =
        expected.iter().map(|(kind, actual)| ((*kind).to_owned(), actual.map(str::to_owned))).collect();
    assert_eq!(cells, expected, "from the right; Latin text and digits need no /ActualText");
}
