//! What the bidi widgets read from shaped text: visual lines of clusters (where each piece of
//! the text was placed by the shaper, left to right), and caret stops computed from them.
//!
//! ```no_run
//! use iced_core::text::{Paragraph as _, Text};
//! use lucarne_widgets::shaping::Shaped;
//!
//! let paragraph = iced_graphics::text::Paragraph::with_text(Text {
//!     content: "Order #42 — طلب رقم ٤٢",
//!     bounds: iced_core::Size::new(1.0e5, 1.0e5),
//!     size: 16.into(),
//!     line_height: Default::default(),
//!     font: Default::default(),
//!     align_x: iced_core::text::Alignment::Left,
//!     align_y: iced_core::alignment::Vertical::Top,
//!     shaping: iced_core::text::Shaping::Advanced,
//!     wrapping: iced_core::text::Wrapping::None,
//! });
//! for line in paragraph.lines() {
//!     println!("{} .. {} rtl={}", line.left(), line.right(), line.rtl);
//! }
//! ```
//!
//! cosmic-text lays out each line in visual order, resolving the bidi runs; iced's paragraph
//! keeps that layout but offers no way to read it through `iced_core`. [`Shaped`] is that way,
//! implemented for `iced_graphics`' paragraph, which is the paragraph of every iced renderer
//! (wgpu, tiny-skia, their fallback, and the PDF recorder).

use unicode_segmentation::UnicodeSegmentation;

/// A paragraph whose shaped lines can be read (and that can be shared: see
/// [`reuse_paragraphs`](crate::reuse_paragraphs)).
pub trait Shaped: Clone + 'static {
    /// Its visual lines, top to bottom, in the paragraph's own coordinates.
    fn lines(&self) -> Vec<Line>;
}

/// A visual line of a shaped paragraph.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line {
    /// The index of the text line (between newlines) it comes from.
    pub text_line: usize,
    /// Its top.
    pub top: f32,
    /// Its height.
    pub height: f32,
    /// Whether its paragraph is right to left.
    pub rtl: bool,
    /// Its clusters, left to right as drawn.
    pub clusters: Vec<Cluster>,
}

impl Line {
    /// The left edge of its leftmost cluster (`0.0` when empty).
    pub fn left(&self) -> f32 {
        self.clusters.iter().map(|c| c.x).reduce(f32::min).unwrap_or(0.0)
    }

    /// The right edge of its rightmost cluster (`0.0` when empty).
    pub fn right(&self) -> f32 {
        self.clusters.iter().map(|c| c.x + c.w).reduce(f32::max).unwrap_or(0.0)
    }
}

/// The glyphs shaped from one cluster of text (a base character with its marks, or a ligature).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cluster {
    /// Where its text starts (a byte index into its text line).
    pub start: usize,
    /// Where its text ends.
    pub end: usize,
    /// Its left edge.
    pub x: f32,
    /// Its advance width.
    pub w: f32,
    /// Whether it belongs to a right-to-left run.
    pub rtl: bool,
}

impl Shaped for iced_graphics::text::Paragraph {
    fn lines(&self) -> Vec<Line> {
        self.buffer()
            .layout_runs()
            .map(|run| {
                let mut clusters: Vec<Cluster> = Vec::with_capacity(run.glyphs.len());
                for glyph in run.glyphs {
                    match clusters.last_mut() {
                        // Several glyphs of one cluster (a base and its marks): one box.
                        Some(last) if last.start == glyph.start && last.end == glyph.end => {
                            let right = (last.x + last.w).max(glyph.x + glyph.w);
                            last.x = last.x.min(glyph.x);
                            last.w = right - last.x;
                        }
                        _ => clusters.push(Cluster {
                            start: glyph.start,
                            end: glyph.end,
                            x: glyph.x,
                            w: glyph.w,
                            rtl: glyph.level.is_rtl(),
                        }),
                    }
                }
                clusters.sort_by(|a, b| a.x.total_cmp(&b.x));
                Line {
                    text_line: run.line_i,
                    top: run.line_top,
                    height: run.line_height,
                    rtl: run.rtl,
                    clusters,
                }
            })
            .collect()
    }
}

/// A place the caret can be: between two graphemes, at `x` on screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stop {
    pub x: f32,
    /// The byte index where typing inserts.
    pub index: usize,
    /// Whether it is attached to the grapheme after `index` (else the one before).
    pub after: bool,
}

/// The width to shape a line that must not wrap in: cosmic-text places right-to-left lines from
/// the right edge of the width, so an infinite one gives NaN positions.
pub(crate) const UNBOUNDED: f32 = 1.0e5;

/// Two stops closer than this are one place on screen.
const SAME_X: f32 = 0.5;

/// The caret stops of a line of `text`, left to right. Each cluster gives a stop on each edge
/// (its logical start on its leading edge: left in LTR runs, right in RTL runs) and one between
/// each of its graphemes (ligatures); where two neighbours give the same index at the same place,
/// one stop is kept. At a boundary between runs of opposite directions two stops with different
/// indices may share an `x`.
pub(crate) fn stops(text: &str, line: &Line) -> Vec<Stop> {
    let mut stops: Vec<Stop> = Vec::with_capacity(line.clusters.len() * 2 + 1);
    let mut push = |stop: Stop| {
        if let Some(last) = stops.last()
            && last.index == stop.index
            && (last.x - stop.x).abs() < SAME_X
        {
            return;
        }
        stops.push(stop);
    };
    for c in &line.clusters {
        let (left, right) = if c.rtl { (c.end, c.start) } else { (c.start, c.end) };
        push(Stop { x: c.x, index: left, after: !c.rtl });
        let inner: Vec<usize> = text
            .get(c.start..c.end)
            .map(|cluster| cluster.grapheme_indices(true).map(|(i, _)| c.start + i).skip(1).collect())
            .unwrap_or_default();
        let parts = inner.len() + 1;
        let mut at: Vec<(f32, usize)> = inner
            .iter()
            .enumerate()
            .map(|(j, &index)| {
                let fraction = (j + 1) as f32 / parts as f32;
                let x = if c.rtl { c.x + c.w * (1.0 - fraction) } else { c.x + c.w * fraction };
                (x, index)
            })
            .collect();
        at.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (x, index) in at {
            push(Stop { x, index, after: false });
        }
        push(Stop { x: c.x + c.w, index: right, after: c.rtl });
    }
    stops
}

/// The stop of the caret at `index` attached on the side `after`, else any stop at `index`.
pub(crate) fn find(stops: &[Stop], index: usize, after: bool) -> Option<usize> {
    stops
        .iter()
        .position(|s| s.index == index && s.after == after)
        .or_else(|| stops.iter().position(|s| s.index == index))
}

/// The stop nearest to `x`.
pub(crate) fn nearest(stops: &[Stop], x: f32) -> Option<usize> {
    (0..stops.len()).min_by(|&a, &b| (stops[a].x - x).abs().total_cmp(&(stops[b].x - x).abs()))
}

/// The next stop to the right of stop `k` on screen (the one attached to the grapheme crossed).
pub(crate) fn right_of(stops: &[Stop], k: usize) -> Option<usize> {
    let x = stops.get(k)?.x;
    (k + 1..stops.len()).find(|&j| stops[j].x > x + SAME_X)
}

/// The next stop to the left of stop `k` on screen (the one attached to the grapheme crossed).
pub(crate) fn left_of(stops: &[Stop], k: usize) -> Option<usize> {
    let x = stops.get(k)?.x;
    (0..k).rev().find(|&j| stops[j].x < x - SAME_X)
}

#[cfg(test)]
/// A line of 10-pixel clusters, one per char of `text`, with the bidi levels and visual
/// order given as a string of `l`/`r` per char in logical order (a tiny bidi algorithm:
/// runs of `r` are reversed; the paragraph is RTL when `rtl`).
pub(crate) fn synthetic_line(text: &str, dirs: &str, rtl: bool) -> Line {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let dirs: Vec<bool> = dirs.chars().map(|d| d == 'r').collect();
    // Logical runs of equal direction, then visual order.
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for i in 0..chars.len() {
        match runs.last_mut() {
            Some(run) if dirs[run[0]] == dirs[i] => run.push(i),
            _ => runs.push(vec![i]),
        }
    }
    if rtl {
        runs.reverse();
    }
    let order: Vec<usize> = runs
        .into_iter()
        .flat_map(|mut run| {
            if dirs[run[0]] {
                run.reverse();
            }
            run
        })
        .collect();
    let clusters = order
        .iter()
        .enumerate()
        .map(|(slot, &i)| {
            let (start, c) = chars[i];
            Cluster { start, end: start + c.len_utf8(), x: slot as f32 * 10.0, w: 10.0, rtl: dirs[i] }
        })
        .collect();
    Line { text_line: 0, top: 0.0, height: 20.0, rtl, clusters }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xs(stops: &[Stop]) -> Vec<(f32, usize)> {
        stops.iter().map(|s| (s.x, s.index)).collect()
    }

    #[test]
    fn stops_follow_the_visual_order_of_each_run() {
        let check = |text: &str, dirs: &str, rtl: bool, expected: &[(f32, usize)]| {
            assert_eq!(xs(&stops(text, &synthetic_line(text, dirs, rtl))), expected, "{text:?}");
        };
        check("ab", "ll", false, &[(0.0, 0), (10.0, 1), (20.0, 2)]);
        // Hebrew (2 bytes a letter): logical start on the right.
        check("אב", "rr", true, &[(0.0, 4), (10.0, 2), (20.0, 0)]);
        // RTL paragraph "אב cd": visual "cd" on the left, then " ", then "בא".
        check(
            "אב cd",
            "rrrll",
            true,
            &[(0.0, 5), (10.0, 6), (20.0, 7), (20.0, 5), (30.0, 4), (40.0, 2), (50.0, 0)],
        );
    }

    #[test]
    fn arrows_move_on_screen_not_in_memory() {
        let text = "אב cd";
        let stops = stops(text, &synthetic_line(text, "rrrll", true));
        // From the logical start (right edge), Left walks to the left edge, one place at a time.
        let mut k = find(&stops, 0, true).unwrap();
        let mut seen = vec![stops[k].x];
        while let Some(j) = left_of(&stops, k) {
            k = j;
            seen.push(stops[k].x);
        }
        assert_eq!(seen, [50.0, 40.0, 30.0, 20.0, 10.0, 0.0]);
        // Right walks back. At the run boundary (x = 20) each way stops on the side of the
        // grapheme it crossed: going left the space (index 5), going right "d" (index 7).
        let mut seen = vec![(stops[k].x, stops[k].index)];
        while let Some(j) = right_of(&stops, k) {
            k = j;
            seen.push((stops[k].x, stops[k].index));
        }
        assert_eq!(seen, [(0.0, 5), (10.0, 6), (20.0, 7), (30.0, 4), (40.0, 2), (50.0, 0)]);
        assert_eq!(nearest(&stops, 33.0), Some(4));
    }

    /// The iced 0.14 behaviour `bidi_text`, `bidi_input` and `live_table` work around: a
    /// one-line RTL paragraph with an explicit alignment is laid out at the right end of its
    /// width, though its `min_bounds` (what renderers place and cull it by) start at 0; with
    /// `Default` it is laid out from 0. If an iced upgrade changes this, this test says so.
    #[test]
    fn iced_lays_a_one_line_rtl_paragraph_out_at_the_right_of_its_width() {
        use iced_core::text::{Alignment, Paragraph as _, Shaping, Text, Wrapping};
        let check = |align_x: Alignment, expected_left: fn(f32) -> f32| {
            let paragraph = iced_graphics::text::Paragraph::with_text(Text {
                content: "שלום עולם",
                bounds: iced_core::Size::new(300.0, 100.0),
                size: 16.into(),
                line_height: Default::default(),
                font: Default::default(),
                align_x,
                align_y: iced_core::alignment::Vertical::Top,
                shaping: Shaping::Advanced,
                wrapping: Wrapping::None,
            });
            let width = paragraph.min_bounds().width;
            let lines = paragraph.lines();
            assert_eq!(lines.len(), 1);
            assert!(lines[0].rtl && width > 0.0);
            let left = lines[0].left();
            assert!(
                (left - expected_left(width)).abs() < 0.5,
                "{align_x:?}: laid out from {left} (width {width})"
            );
        };
        check(Alignment::Left, |width| 300.0 - width);
        check(Alignment::Right, |width| 300.0 - width);
        check(Alignment::Default, |_| 0.0);
    }

    #[test]
    fn ligatures_get_a_stop_between_their_graphemes() {
        // One RTL cluster of two letters (like lam-alef), 20 pixels wide.
        let text = "לא";
        let line = Line {
            rtl: true,
            clusters: vec![Cluster { start: 0, end: 4, x: 0.0, w: 20.0, rtl: true }],
            ..Line::default()
        };
        assert_eq!(xs(&stops(text, &line)), [(0.0, 4), (10.0, 2), (20.0, 0)]);
    }
}
