//! A page's content stream, written as bytes while the page is drawn.
//!
//! Numbers are written with at most four decimals, names and strings as the operators need
//! them. A glyph is written as its font's glyph id in four hex digits and its place is
//! remembered: an embedded font is a subset whose glyphs are numbered anew once every glyph of
//! the document is known, so [`Content::finish`] writes each glyph's final code over it.

use crate::scene::FontKey;
use crate::write::{write_hex, write_name};

/// One page's operators, and where its glyphs are.
#[derive(Debug, Default)]
pub(crate) struct Content {
    bytes: Vec<u8>,
    glyphs: Vec<Placed>,
}

/// A glyph written into the stream: the offset of its four hex digits, and what they stand for.
#[derive(Debug, Clone, Copy)]
struct Placed {
    at: usize,
    font: FontKey,
    gid: u16,
}

/// A glyph of a text run and the kerning number written after it (thousandths of an em; 0:
/// none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunGlyph {
    pub gid: u16,
    pub kern: f32,
}

impl Content {
    /// An operator with no operands.
    pub(crate) fn op(&mut self, op: &str) {
        self.bytes.extend_from_slice(op.as_bytes());
        self.bytes.push(b'\n');
    }

    /// Numbers, then an operator.
    pub(crate) fn numbers(&mut self, values: &[f32], op: &str) {
        for v in values {
            number(&mut self.bytes, *v);
            self.bytes.push(b' ');
        }
        self.op(op);
    }

    /// A name (`/Name`), then an operator.
    pub(crate) fn named(&mut self, name: &str, op: &str) {
        write_name(&mut self.bytes, name.as_bytes());
        self.bytes.push(b' ');
        self.op(op);
    }

    /// `/Tag BMC`: marked content without properties.
    pub(crate) fn begin_marked(&mut self, tag: &str) {
        self.named(tag, "BMC");
    }

    /// `/Tag <</MCID n>> BDC`: marked content with its id on the page.
    pub(crate) fn begin_marked_id(&mut self, tag: &str, mcid: usize) {
        write_name(&mut self.bytes, tag.as_bytes());
        self.bytes.extend_from_slice(b" <</MCID ");
        integer(&mut self.bytes, mcid as u64);
        self.op(">> BDC");
    }

    /// `/Tag <</ActualText <…>>> BDC`: marked content that reads as `text` (UTF-16BE).
    pub(crate) fn begin_actual_text(&mut self, tag: &str, text: &str) {
        write_name(&mut self.bytes, tag.as_bytes());
        self.bytes.extend_from_slice(b" <</ActualText <");
        write_hex(&mut self.bytes, &crate::tags::utf16_text(text));
        self.op(">>> BDC");
    }

    /// `/Font size Tf`.
    pub(crate) fn font(&mut self, name: &str, size: f32) {
        write_name(&mut self.bytes, name.as_bytes());
        self.bytes.push(b' ');
        self.numbers(&[size], "Tf");
    }

    /// Shows a run of glyphs of `font` with one `TJ`: glyphs without a kerning number between
    /// them share a string.
    pub(crate) fn show(&mut self, font: FontKey, run: &[RunGlyph]) {
        if run.is_empty() {
            return;
        }
        self.bytes.extend_from_slice(b"[<");
        for (i, g) in run.iter().enumerate() {
            self.glyphs.push(Placed { at: self.bytes.len(), font, gid: g.gid });
            write_hex(&mut self.bytes, &g.gid.to_be_bytes());
            if g.kern != 0.0 && i + 1 < run.len() {
                self.bytes.push(b'>');
                number(&mut self.bytes, g.kern);
                self.bytes.push(b'<');
            }
        }
        self.op(">]TJ");
    }

    /// The stream, each glyph written as the code `code(font, gid)` gives it.
    pub(crate) fn finish(mut self, code: impl Fn(FontKey, u16) -> u16) -> Vec<u8> {
        let mut digits = Vec::with_capacity(4);
        for placed in &self.glyphs {
            digits.clear();
            write_hex(&mut digits, &code(placed.font, placed.gid).to_be_bytes());
            self.bytes[placed.at..placed.at + 4].copy_from_slice(&digits);
        }
        self.bytes
    }
}

/// `v` with at most four decimals, without trailing zeros (a number that is not finite: 0).
fn number(out: &mut Vec<u8>, v: f32) {
    let v = if v.is_finite() { f64::from(v) } else { 0.0 };
    #[expect(clippy::cast_possible_truncation, reason = "points and em fractions: far inside i64")]
    let scaled = (v * 10_000.0).round() as i64;
    if scaled < 0 {
        out.push(b'-');
    }
    let magnitude = scaled.unsigned_abs();
    integer(out, magnitude / 10_000);
    let mut fraction = magnitude % 10_000;
    if fraction != 0 {
        out.push(b'.');
        let mut width = 4;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            width -= 1;
        }
        let mut digits = [b'0'; 4];
        for slot in digits[..width].iter_mut().rev() {
            *slot = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        out.extend_from_slice(&digits[..width]);
    }
}

fn integer(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0_u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(v: f32) -> String {
        let mut out = Vec::new();
        number(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_are_written_short_and_exact_to_four_decimals() {
        for (v, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (12.0, "12"),
            (-7.69, "-7.69"),
            (0.5, "0.5"),
            (841.89, "841.89"),
            (0.000_04, "0"),
            (-0.000_06, "-0.0001"),
            (1.0 / 3.0, "0.3333"),
            (123_456.79, "123456.7891"),
            (f32::NAN, "0"),
            (f32::INFINITY, "0"),
        ] {
            assert_eq!(written(v), text, "{v}");
        }
    }

    #[test]
    fn names_escape_what_would_end_them() {
        let mut content = Content::default();
        content.named("F0", "gs");
        content.named("a b(c)#", "BMC");
        assert_eq!(String::from_utf8(content.bytes).unwrap(), "/F0 gs\n/a#20b#28c#29#23 BMC\n");
    }

    #[test]
    fn glyphs_get_their_codes_at_the_end_and_kerning_splits_strings() {
        let font = FontKey::dummy();
        let mut content = Content::default();
        let run = [
            RunGlyph { gid: 36, kern: 0.0 },
            RunGlyph { gid: 69, kern: -7.69 },
            RunGlyph { gid: 0x1234, kern: 12.0 },
        ];
        content.show(font, &run);
        let bytes = content.finish(|_, gid| gid + 1);
        assert_eq!(String::from_utf8(bytes).unwrap(), "[<00250046>-7.69<1235>]TJ\n");
    }
}
