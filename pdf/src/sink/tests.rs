//! A line's glyphs land where the scene put them: one text matrix per run and kerning numbers
//! from the font's `/W` widths must reproduce each glyph's pen position.

use super::*;
use crate::scene::Glyph;
use std::sync::Arc;

/// Writes one line of glyphs `gids` of Noto Sans at `size`, pen positions `xs` (`skew`: a
/// synthetic italic), and replays the page's text operators the way a viewer does: each
/// glyph must be drawn within a thousandth of a point of where the scene put it. Returns how
/// many text matrices were set (one per run of glyphs).
fn check(gids: &[u16], xs: &[f32], size: f32, skew: bool) -> usize {
    replay(gids, xs, &|_| size, skew, &|_| 0.0)
}

/// [`check`], glyph `i` in the grey `grey(i)`.
fn check_coloured(gids: &[u16], xs: &[f32], size: f32, skew: bool, grey: &dyn Fn(usize) -> f32) -> usize {
    replay(gids, xs, &|_| size, skew, grey)
}

/// [`check`], glyph `i` at the size `sizes[i]`.
fn check_sized(gids: &[u16], xs: &[f32], sizes: &[f32]) -> usize {
    replay(gids, xs, &|i| sizes[i], false, &|_| 0.0)
}

fn replay(
    gids: &[u16],
    xs: &[f32],
    size: &dyn Fn(usize) -> f32,
    skew: bool,
    grey: &dyn Fn(usize) -> f32,
) -> usize {
    let key = FontKey::dummy();
    let faces = BTreeMap::from([(
        key,
        Face {
            name: "Noto Sans".to_owned(),
            data: Arc::new(lucarne_fonts::NOTO_SANS_REGULAR.to_vec()),
            index: 0,
        },
    )]);
    let glyphs: Vec<Glyph> = gids
        .iter()
        .zip(xs)
        .enumerate()
        .map(|(i, (&gid, &x))| Glyph {
            font: key,
            size: size(i),
            x,
            y: 50.0,
            gid,
            left: x,
            advance: size(i) / 2.0,
            color: Rgba { r: grey(i), g: grey(i), b: grey(i), a: 1.0 },
            text: "a".to_owned(),
            logical: i,
            rtl: false,
            skew,
        })
        .collect();
    let line = TextLine {
        top: 40.0,
        bottom: 55.0,
        width: xs.last().copied().unwrap_or_default(),
        text: "a".repeat(gids.len()),
        glyphs,
        has_rtl: false,
    };
    let mut sink = PrintPdf::new("kerning");
    sink.begin_page(400.0, 100.0);
    sink.text(&line, &faces, Role::Paragraph).unwrap();
    sink.end_page();
    let meta = Metadata { title: "kerning", language: None, author: None, subject: None, keywords: &[] };
    let pdf = sink.finish(&meta).unwrap();

    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let (_, &page) = doc.get_pages().iter().next().unwrap();
    let content = lopdf::content::Content::decode(&doc.get_page_content(page)).unwrap();
    let (widths, default) = widths(&doc);
    let mut drawn = Vec::new();
    let (mut pen, mut font_size, mut matrices) = (0.0_f64, 0.0_f64, 0);
    for op in &content.operations {
        let number = |i: usize| op.operands[i].as_float().map(f64::from).unwrap();
        match op.operator.as_str() {
            "Tf" => font_size = number(1),
            "Tm" => {
                assert_eq!(number(2), if skew { 0.25 } else { 0.0 }, "the slant stays");
                pen = number(4);
                matrices += 1;
            }
            "TJ" | "Tj" => {
                let items = match &op.operands[0] {
                    lopdf::Object::Array(items) => items.clone(),
                    one => vec![one.clone()],
                };
                for item in items {
                    match item {
                        lopdf::Object::String(bytes, _) => {
                            for code in bytes.chunks(2) {
                                drawn.push(pen);
                                let cid = u16::from_be_bytes([code[0], code[1]]);
                                pen += widths.get(&cid).copied().unwrap_or(default) / 1000.0 * font_size;
                            }
                        }
                        other => pen -= f64::from(other.as_float().unwrap()) / 1000.0 * font_size,
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(drawn.len(), xs.len(), "every glyph drawn once");
    for (i, (drawn, x)) in drawn.iter().zip(xs).enumerate() {
        assert!((drawn - f64::from(*x)).abs() < 1e-3, "glyph {i} drawn at {drawn}, placed at {x}");
    }
    matrices
}

/// The `/W` widths of the document's one composite font, by code, and its default width.
fn widths(doc: &lopdf::Document) -> (HashMap<u16, f64>, f64) {
    let font = doc
        .objects
        .values()
        .find_map(|o| match o {
            lopdf::Object::Dictionary(d)
                if d.get(b"Type").and_then(lopdf::Object::as_name).ok() == Some(b"Font") =>
            {
                d.get(b"DescendantFonts").ok().cloned()
            }
            _ => None,
        })
        .unwrap();
    let descendant = match font {
        lopdf::Object::Array(items) => items[0].clone(),
        other => other,
    };
    let descendant = match descendant {
        lopdf::Object::Reference(id) => doc.get_dictionary(id).unwrap().clone(),
        lopdf::Object::Dictionary(d) => d,
        other => panic!("descendant font {other:?}"),
    };
    let default = descendant.get(b"DW").and_then(lopdf::Object::as_i64).map_or(1000.0, |w| w as f64);
    let array = match descendant.get(b"W").unwrap() {
        lopdf::Object::Reference(id) => doc.get_object(*id).unwrap().as_array().unwrap().clone(),
        other => other.as_array().unwrap().clone(),
    };
    let number = |o: &lopdf::Object| o.as_float().map(f64::from).unwrap();
    let mut widths = HashMap::new();
    let mut i = 0;
    while i < array.len() {
        let first = array[i].as_i64().unwrap();
        match &array[i + 1] {
            lopdf::Object::Array(list) => {
                for (k, w) in list.iter().enumerate() {
                    let _ = widths.insert(u16::try_from(first + k as i64).unwrap(), number(w));
                }
                i += 2;
            }
            last => {
                let last = last.as_i64().unwrap();
                for code in first..=last {
                    let _ = widths.insert(u16::try_from(code).unwrap(), number(&array[i + 2]));
                }
                i += 3;
            }
        }
    }
    (widths, default)
}

#[test]
fn glyphs_at_their_advances_are_drawn_where_placed_by_one_operator() {
    // Noto Sans: gid 36 'A', 69 'b', 70 'c', 3 space; pen positions as a shaper would give
    // at 13 px, one kerned pair (a negative gap) and a wide gap (a tab stop, a justified line).
    let runs = check(&[36, 69, 70, 3, 36, 69], &[10.0, 18.45, 25.9, 31.7, 34.9, 90.25], 13.0, false);
    assert_eq!(runs, 1, "one text matrix for the line");
}

#[test]
fn a_slanted_run_keeps_its_slant_and_places() {
    assert_eq!(check(&[36, 69, 70, 36], &[100.0, 108.2, 115.0, 121.5], 20.0, true), 1);
}

#[test]
fn glyphs_drawn_over_each_other_stay_in_place() {
    // A mark drawn over its letter: the pen goes back.
    assert_eq!(check(&[69, 70, 69, 70], &[5.0, 12.0, 8.0, 15.5], 16.0, false), 1);
}

#[test]
fn a_long_run_does_not_drift() {
    // 200 glyphs at advances no kerning number rounds exactly: the pen is tracked, not summed.
    let gids = vec![69; 200];
    let xs: Vec<f32> = (0..200u16).map(|i| 3.0 + f32::from(i) * 7.123_457).collect();
    assert_eq!(check(&gids, &xs, 11.0, false), 1);
}

#[test]
fn a_colour_change_starts_a_run() {
    let grey = |i: usize| if i < 3 { 0.0 } else { 0.5 };
    assert_eq!(check_coloured(&[36, 69, 70, 36, 69], &[10.0, 18.0, 26.0, 34.0, 42.0], 12.0, false, &grey), 2);
}

#[test]
fn a_glyph_of_no_size_writes_no_number_that_is_not_one() {
    // Its kerning number would be infinite: it gets a matrix of its own, and the file reads
    // (the second zero-size glyph, in the first one's run, is the one that needs it).
    let runs = check_sized(&[36, 69, 70, 36], &[10.0, 18.0, 26.0, 34.0], &[12.0, 0.0, 0.0, 12.0]);
    assert_eq!(runs, 4);
}

#[test]
fn kerning_numbers_are_rounded_to_hundredths_and_zero_when_none() {
    assert_eq!(kern(500.0, 500.0), Some(0.0));
    assert_eq!(kern(500.0, 492.307_7), Some(7.69));
    assert_eq!(kern(572.0, 500.0), Some(72.0));
    assert_eq!(kern(500.0, f64::INFINITY), None);
    assert_eq!(kern(500.0, f64::NAN), None);
}
