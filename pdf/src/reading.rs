//! What a line's glyphs read as when text is extracted: the ToUnicode string of each glyph, and
//! where a glyph run needs an `/ActualText` instead. No I/O; the sink writes what this decides.
//!
//! The rules, for extraction tools that rebuild logical order from glyphs drawn left to right
//! (poppler, pdf.js), checked with poppler in `tests/extraction.rs`:
//!
//! - A glyph reads as the characters it stands for ([`Glyph::text`]). In a right-to-left run
//!   those of a ligature (lam-alef) are given in the run's visual order, like the glyphs: the
//!   reader reverses the whole run, the ligature's letters with it.
//! - A font has one ToUnicode string per glyph. A glyph that must read differently here than
//!   where it was first used makes its run need an `/ActualText`.
//! - Marks (harakat, niqqud) are glyphs of their own, drawn over their letter: readers that
//!   know nothing of them split the word there or move the mark. So a right-to-left word with
//!   a mark, or with a glyph that reads differently, is one `/ActualText` span whose text is the
//!   word in visual order (poppler reverses an `/ActualText` of right-to-left letters as it does
//!   glyphs).
//! - A left-to-right line, or a left-to-right run of a mixed line, with a glyph that reads
//!   differently is one span with its logical text.

use crate::scene::{FontKey, Glyph, TextLine};
use std::collections::HashMap;
use std::ops::Range;

/// The ToUnicode strings given so far, per font and glyph.
#[derive(Debug, Default)]
pub(crate) struct Readings {
    known: HashMap<(FontKey, u16), String>,
}

/// How one line is to be written (its glyphs' ToUnicode strings are in [`Readings::known`]).
#[derive(Debug)]
pub(crate) struct LinePlan {
    /// Glyph ranges wrapped in a span with this `/ActualText`, in order, not overlapping.
    pub spans: Vec<(Range<usize>, String)>,
}

impl Readings {
    /// Every glyph given a string so far, with it.
    pub(crate) fn known(&self) -> impl Iterator<Item = (&(FontKey, u16), &str)> {
        self.known.iter().map(|(key, text)| (key, text.as_str()))
    }

    /// Plans a line, recording the strings its glyphs are first seen with.
    pub(crate) fn plan(&mut self, line: &TextLine) -> LinePlan {
        let mut differs = vec![false; line.glyphs.len()];
        for (i, g) in line.glyphs.iter().enumerate() {
            let code = self.known.entry((g.font, g.gid)).or_insert_with(|| reading(g));
            differs[i] = !reads_as(g, code);
        }
        let mut spans = Vec::new();
        if line.has_rtl {
            for word in rtl_words(&line.glyphs) {
                let glyphs = &line.glyphs[word.clone()];
                let marked = glyphs.iter().any(|g| g.text.is_empty() || is_mark(g, glyphs));
                if marked || differs[word.clone()].iter().any(|d| *d) {
                    spans.push((word.clone(), logical(glyphs).chars().rev().collect()));
                }
            }
            // A left-to-right run of the line with a glyph that reads differently: its text.
            for run in ltr_runs(&line.glyphs) {
                if differs[run.clone()].iter().any(|d| *d) {
                    spans.push((run.clone(), logical(&line.glyphs[run.clone()])));
                }
            }
            spans.sort_by_key(|(range, _)| range.start);
        } else if differs.iter().any(|d| *d) {
            spans.push((0..line.glyphs.len(), line.text.clone()));
        }
        LinePlan { spans }
    }
}

/// What a glyph stands for, in the order its run is drawn.
fn reading(g: &Glyph) -> String {
    if g.rtl { g.text.chars().rev().collect() } else { g.text.clone() }
}

/// Whether `code` is what `g` stands for ([`reading`], without writing it out).
fn reads_as(g: &Glyph, code: &str) -> bool {
    if g.rtl { code.chars().eq(g.text.chars().rev()) } else { code == g.text }
}

/// A glyph drawn over another of its word: no advance, and a letter where it stands.
fn is_mark(g: &Glyph, word: &[Glyph]) -> bool {
    g.advance == 0.0 && word.iter().any(|o| o.advance > 0.0 && o.left == g.left)
}

/// The glyphs' characters in logical order.
fn logical(glyphs: &[Glyph]) -> String {
    let mut sorted: Vec<&Glyph> = glyphs.iter().collect();
    sorted.sort_by_key(|g| g.logical);
    sorted.iter().map(|g| g.text.as_str()).collect()
}

/// The maximal runs of left-to-right glyphs.
fn ltr_runs(glyphs: &[Glyph]) -> Vec<Range<usize>> {
    runs(glyphs, |g| !g.rtl)
}

/// The maximal runs of right-to-left glyphs that are not white space.
fn rtl_words(glyphs: &[Glyph]) -> Vec<Range<usize>> {
    // A glyph standing for nothing (a mark's neighbour) is inside its word; a space is not.
    runs(glyphs, |g| g.rtl && (g.text.is_empty() || !g.text.chars().all(char::is_whitespace)))
}

/// The maximal runs of consecutive glyphs for which `inside` holds.
fn runs(glyphs: &[Glyph], inside: impl Fn(&Glyph) -> bool) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut start = None;
    for (i, g) in glyphs.iter().enumerate() {
        match (inside(g), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                found.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        found.push(s..glyphs.len());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::Rgba;

    /// A glyph `gid` of font 0 at `left`, `advance` wide, standing for `text` from `logical`.
    fn glyph(gid: u16, left: f32, advance: f32, text: &str, logical: usize, rtl: bool) -> Glyph {
        let font = iced_graphics::text::cosmic_text::fontdb::ID::dummy();
        let color = Rgba { r: 0.0, g: 0.0, b: 0.0, a: 1.0 };
        let text = text.to_owned();
        Glyph {
            font,
            size: 12.0,
            x: left,
            y: 0.0,
            gid,
            left,
            advance,
            color,
            text,
            logical,
            rtl,
            skew: false,
        }
    }

    fn line(glyphs: Vec<Glyph>, text: &str, has_rtl: bool) -> TextLine {
        TextLine { top: 0.0, bottom: 10.0, width: 100.0, glyphs, text: text.to_owned(), has_rtl }
    }

    /// A line's plan, and its glyphs' ToUnicode strings once every line is planned.
    struct Planned {
        codes: Vec<String>,
        spans: Vec<(Range<usize>, String)>,
    }

    /// Plans `lines` in order with one `Readings`.
    fn check(lines: &[TextLine]) -> Vec<Planned> {
        let mut readings = Readings::default();
        let plans: Vec<LinePlan> = lines.iter().map(|l| readings.plan(l)).collect();
        let known: HashMap<&(FontKey, u16), &str> = readings.known().collect();
        lines
            .iter()
            .zip(plans)
            .map(|(l, plan)| Planned {
                codes: l.glyphs.iter().map(|g| known[&(g.font, g.gid)].to_owned()).collect(),
                spans: plan.spans,
            })
            .collect()
    }

    #[test]
    fn a_right_to_left_ligature_reads_in_visual_order() {
        // "لاب": the lam-alef ligature on the right, ب left of it.
        let l = line(vec![glyph(2, 0.0, 6.0, "ب", 4, true), glyph(1, 6.0, 8.0, "لا", 0, true)], "لاب", true);
        let plans = check(&[l]);
        assert_eq!(plans[0].codes, ["ب", "ال"]);
        assert!(plans[0].spans.is_empty(), "no mark, nothing read differently: no span");
    }

    #[test]
    fn a_right_to_left_word_with_a_mark_is_one_span_in_visual_order() {
        // "ذّ ر": the shadda drawn over ذ (same left, no advance), then a space, then ر.
        let l = line(
            vec![
                glyph(3, 0.0, 5.0, "ر", 5, true),
                glyph(9, 5.0, 3.0, " ", 4, true),
                glyph(1, 8.0, 6.0, "ذ", 0, true),
                glyph(2, 8.0, 0.0, "\u{651}", 2, true),
            ],
            "ذّ ر",
            true,
        );
        let plans = check(&[l]);
        assert_eq!(plans[0].codes, ["ر", " ", "ذ", "\u{651}"]);
        assert_eq!(plans[0].spans, [(2..4, "\u{651}ذ".to_owned())], "only the word with the mark");
    }

    #[test]
    fn a_glyph_read_differently_later_gets_a_span() {
        let first = line(vec![glyph(1, 0.0, 6.0, "fi", 0, false)], "fi", false);
        let second =
            line(vec![glyph(1, 0.0, 6.0, "f", 0, false), glyph(2, 6.0, 3.0, "i", 1, false)], "fi", false);
        let plans = check(&[first, second]);
        assert!(plans[0].spans.is_empty());
        assert_eq!(plans[1].codes, ["fi", "i"], "one string per glyph: the first one stays");
        assert_eq!(plans[1].spans, [(0..2, "fi".to_owned())], "the left-to-right line reads as its text");
        // The same in a right-to-left word: the word, in visual order.
        let rtl = line(vec![glyph(5, 0.0, 4.0, "ب", 0, true)], "ب", true);
        let again = line(vec![glyph(5, 0.0, 4.0, "ت", 0, true)], "ت", true);
        let plans = check(&[rtl, again]);
        assert_eq!(plans[1].codes, ["ب"]);
        assert_eq!(plans[1].spans, [(0..1, "ت".to_owned())]);
        // And in a left-to-right run of a mixed line: that run, in logical order.
        let latin = line(vec![glyph(7, 0.0, 4.0, "a", 0, false)], "a", false);
        let mixed = line(
            vec![
                glyph(7, 0.0, 4.0, "b", 0, false),
                glyph(8, 4.0, 4.0, "c", 1, false),
                glyph(5, 9.0, 4.0, "ب", 3, true),
            ],
            "bc ب",
            true,
        );
        let plans = check(&[latin, mixed]);
        assert_eq!(plans[1].spans, [(0..2, "bc".to_owned())]);
    }
}
