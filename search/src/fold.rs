//! Words as search compares them: cut at word boundaries (UAX #29), compatibility-decomposed,
//! lower-cased, with every combining mark dropped — Latin accents, Arabic harakat, Hebrew
//! niqqud and cantillation — and the Arabic tatweel (kashida) removed.
//!
//! ```
//! use lucarne_search::fold::{fold, words};
//!
//! assert_eq!(fold("Crème BRÛLÉE"), "creme brulee");
//! assert_eq!(fold("مُحَمَّـــد"), "محمد");
//! assert_eq!(fold("שָׁלוֹם"), "שלום");
//! let found: Vec<_> = words("Ada, نور").map(|w| (w.text, w.range)).collect();
//! assert_eq!(found, [("ada".to_string(), 0..3), ("نور".to_string(), 5..11)]);
//! ```

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_segmentation::UnicodeSegmentation;

/// The Arabic tatweel (kashida): stretches a word, says nothing.
const TATWEEL: char = '\u{0640}';

/// A text as search compares it (see the module docs).
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkd() {
        if is_combining_mark(c) || c == TATWEEL {
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// One word of a text: folded, and where it stands in the original text (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word, folded.
    pub text: String,
    /// Its bytes in the original text (logical order, whatever the direction).
    pub range: Range<usize>,
}

/// The words of a text, in logical order. A word that folds to nothing (a lone mark) is left out.
pub fn words(text: &str) -> impl Iterator<Item = Word> + '_ {
    text.unicode_word_indices().filter_map(|(start, word)| {
        let folded = fold(word);
        (!folded.is_empty()).then(|| Word { text: folded, range: start..start + word.len() })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, folded: &str) {
        assert_eq!(fold(text), folded, "{text:?}");
    }

    #[test]
    fn folding_drops_case_accents_harakat_tatweel_and_niqqud() {
        // Latin: case and accents, ligatures by compatibility.
        check("Ada LOVELACE", "ada lovelace");
        check("Ærø Ångström façade naïve", "ærø angstrom facade naive");
        check("ﬁnance", "finance");
        // Arabic: harakat (fatha, damma, kasra, shadda, sukun, tanwin), tatweel, hamza on alef.
        check("مُحَمَّد", "محمد");
        check("كتـــاب", "كتاب");
        check("أحمد إسلام آمنة", "احمد اسلام امنة");
        check("ﻻ", "لا");
        // Hebrew: niqqud and cantillation.
        check("שָׁלוֹם", "שלום");
        check("בְּרֵאשִׁ֖ית", "בראשית");
    }

    #[test]
    fn words_keep_their_place_in_the_original_text() {
        let text = "Crème — نُور, שָׁלוֹם 42";
        let found: Vec<(String, &str)> = words(text).map(|w| (w.text, &text[w.range])).collect();
        assert_eq!(
            found,
            [
                ("creme".to_string(), "Crème"),
                ("نور".to_string(), "نُور"),
                ("שלום".to_string(), "שָׁלוֹם"),
                ("42".to_string(), "42"),
            ]
        );
    }
}
