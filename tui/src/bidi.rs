//! Right-to-left text on a terminal: most terminals put characters left to right as they come,
//! so a cell of Arabic or Hebrew is handed to them in visual order (the Unicode Bidirectional
//! Algorithm, UAX #9, per line); terminals that reorder text themselves get it as stored.
//!
//! ```
//! use lucarne_tui::bidi::{Bidi, cell};
//!
//! assert_eq!(cell("שלום 42", Bidi::Visual), "42 םולש");
//! assert_eq!(cell("שלום 42", Bidi::Terminal), "שלום 42");
//! assert_eq!(cell("order o-7", Bidi::Visual), "order o-7");
//! ```

use std::borrow::Cow;

use unicode_bidi::BidiInfo;

/// Who puts right-to-left text in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Bidi {
    /// Lucarne does (most terminals: xterm, tmux, the Linux console, Windows Terminal).
    #[default]
    Visual,
    /// The terminal does (mlterm, Konsole with bidi on, GNOME Terminal with VTE's bidi).
    Terminal,
}

/// A one-line text as it must be written to the terminal.
pub fn cell(text: &str, bidi: Bidi) -> Cow<'_, str> {
    let text: Cow<'_, str> = if text.contains(['\n', '\r', '\t']) {
        Cow::Owned(text.replace(['\n', '\r', '\t'], " "))
    } else {
        Cow::Borrowed(text)
    };
    if bidi == Bidi::Terminal || !text.chars().any(is_rtl_char) {
        return text;
    }
    let info = BidiInfo::new(&text, None);
    let Some(paragraph) = info.paragraphs.first() else { return text };
    Cow::Owned(info.reorder_line(paragraph, paragraph.range.clone()).into_owned())
}

/// True when a text's first strong character is right to left (its paragraph reads from the
/// right): such a cell is aligned to its right edge.
pub fn reads_rtl(text: &str) -> bool {
    matches!(unicode_bidi::get_base_direction(text), unicode_bidi::Direction::Rtl)
}

/// Hebrew, Arabic, Syriac, Thaana, N'Ko and their presentation forms: a quick test before the
/// whole algorithm runs.
fn is_rtl_char(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_in_visual_order() {
        let check = |stored: &str, shown: &str| assert_eq!(cell(stored, Bidi::Visual), shown, "{stored}");
        check("مرحبا", "ابحرم");
        check("طلب 12 مدفوع", "عوفدم 12 بلط");
        // A number after Hebrew belongs to its run (UAX #9 rule N1): it reads before it on screen.
        check("order שלום 3", "order 3 םולש");
        check("line\none", "line one");
        assert!(reads_rtl("שלום order"));
        assert!(!reads_rtl("order שלום"));
    }
}
