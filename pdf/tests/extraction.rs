//! Text extraction is exact: `pdftotext` of an exported screen gives each visible string once,
//! whole, in logical order, equal after NFC to what the widgets were given — Arabic lam-alef
//! ligatures, harakat and bold words, Hebrew niqqud, Latin ligatures and accents — and nothing
//! that the screen does not show (text clipped away by its container).

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

mod common;

use common::Element;
use iced_core::{Font, Length, font};
use iced_widget::{column, container, text};
use lucarne_pdf::{PdfOptions, export};
use unicode_normalization::UnicodeNormalization as _;

#[derive(Debug, Clone)]
enum Message {}

const BOLD: Font = Font { weight: font::Weight::Bold, ..Font::DEFAULT };

/// A line as `pdftotext` prints it, compared with what the widget was given: bidi controls
/// that poppler adds dropped, NFC, runs of spaces made one.
fn comparable(s: &str) -> String {
    let visible = common::normalize(s);
    visible.nfc().collect()
}

/// Exports one text widget per string (bold where asked), one under the other, and requires
/// `pdftotext` to give back exactly those strings, one per line, in that order — no letter
/// split off, no mark dropped or moved, no ligature's letters swapped, nothing else.
fn check(strings: &[(&str, Font)]) {
    let view: Element<'_, Message> =
        column(strings.iter().map(|(s, f)| text(*s).font(*f).size(18).into())).spacing(14).padding(24).into();
    let pdf = common::write(&export(view, &PdfOptions::default()).unwrap());
    let out = common::text(&pdf, None);
    let lines: Vec<String> = out.lines().map(comparable).filter(|l| !l.is_empty()).collect();
    let expected: Vec<String> = strings.iter().map(|(s, _)| comparable(s)).collect();
    assert_eq!(lines, expected, "pdftotext gave:\n{out}");
}

#[test]
fn arabic_lam_alef_ligatures_extract_in_logical_order() {
    check(&[
        ("الإجمالي", Font::DEFAULT),
        ("الأوامر المعلقة", Font::DEFAULT),
        ("لا إله", Font::DEFAULT),
        ("آخر تحديث الإجراءات", Font::DEFAULT),
    ]);
}

#[test]
fn arabic_harakat_are_kept_on_their_letters() {
    check(&[
        ("تعذّر إلغاء الطلب", Font::DEFAULT),
        ("مُدَرِّسَةٌ", Font::DEFAULT),
        ("كِتَابٌ مُفِيدٌ", Font::DEFAULT),
        ("שָׁלוֹם", Font::DEFAULT),
    ]);
}

#[test]
fn bold_arabic_words_stay_whole() {
    check(&[
        ("الطلب", BOLD),
        ("شحن", BOLD),
        ("دفع", BOLD),
        ("الإجمالي الحالة", BOLD),
        ("مدفوع", Font::DEFAULT),
    ]);
}

#[test]
fn hebrew_niqqud_and_latin_ligatures_and_accents() {
    check(&[
        ("שָׁלוֹם עוֹלָם", Font::DEFAULT),
        ("דלפק ההזמנות", BOLD),
        ("office affluent fjord", Font::DEFAULT),
        ("Sofía García · Zoë", Font::DEFAULT),
    ]);
}

#[test]
fn bidi_controls_are_not_in_the_text_layer_and_join_no_words() {
    // Fluent wraps a message's arguments in isolates; marks steer neutral characters. The
    // shaper draws them as nothing: the text layer has the words as seen, each a word.
    let line = "Filter: \u{2068}status = paid\u{2069} · Printed \u{2068}2026-12-07\u{2069}\u{200E}";
    check(&[(line, Font::DEFAULT)]);
    let view: Element<'_, Message> = text(line).size(18).into();
    let pdf = common::write(&export(view, &PdfOptions::default()).unwrap());
    let words: Vec<String> = common::words(&pdf, 1).into_iter().map(|w| w.0).collect();
    assert_eq!(words, ["Filter:", "status", "=", "paid", "·", "Printed", "2026-12-07"]);
}

#[test]
fn text_its_container_clips_away_is_not_in_the_text_layer() {
    let view: Element<'_, Message> = column![
        text("Above the box").size(18),
        // A box one line high: its second and third lines are not on screen.
        container(text("First row\nSecond row\nThird row").size(18)).height(Length::Fixed(30.0)).clip(true),
        // A box too narrow for its line: the words past its edge are not on screen either.
        container(text("Narrow ends here and the rest is cut").size(18).wrapping(text::Wrapping::None))
            .width(Length::Fixed(150.0))
            .clip(true),
        text("Below the boxes").size(18),
    ]
    .spacing(14)
    .padding(24)
    .into();
    let pdf = common::write(&export(view, &PdfOptions::default()).unwrap());
    let out = common::normalize(&common::text(&pdf, None));
    for shown in ["Above the box", "First row", "Below the boxes", "Narrow ends"] {
        assert!(out.contains(shown), "{shown:?} is on screen, so in the text:\n{out}");
    }
    for hidden in ["Second row", "Third row", "rest is cut"] {
        assert!(!out.contains(hidden), "{hidden:?} is clipped away on screen, so not in the text:\n{out}");
    }
}
