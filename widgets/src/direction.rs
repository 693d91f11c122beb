//! Layout direction: the app sets one [`Direction`] (from its locale) and lays screens out by
//! *start* and *end* instead of left and right, so that one `view` mirrors for Arabic and Hebrew.
//!
//! ```no_run
//! use lucarne_widgets::{Align, Direction, dir_row};
//! use iced_widget::text;
//!
//! let direction = Direction::Rtl; // e.g. `locale.direction()`
//! // Children are given in reading order; in RTL the first one is drawn rightmost.
//! let header: iced_widget::Row<'_, ()> =
//!     dir_row(direction, [text("Orders").into(), text(direction.forward_arrow()).into()]).spacing(8);
//! assert_eq!(Align::Start.resolve(direction), iced_core::alignment::Horizontal::Right);
//! assert_eq!(Direction::of("שלום, world"), Some(Direction::Rtl));
//! assert_eq!(Direction::of("Order #42 — طلب"), Some(Direction::Ltr));
//! # let _ = header;
//! ```
//!
//! - [`Direction::of`] finds a paragraph's direction the way the Unicode bidi algorithm does
//!   (rule P2): from its first strong character.
//! - [`Align`] is start / center / end (or absolute left / right), resolved against a direction.
//! - [`dir_row`] is a row whose children are laid out right to left in [`Direction::Rtl`].
//! - [`Direction::forward_arrow`] and friends give glyphs that point the right way.

use iced_core::alignment::Horizontal;
use iced_core::{Element, Point, Rectangle};
use iced_widget::Row;
use unicode_bidi::{BidiClass, bidi_class};

/// The direction of a layout or of a paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Left to right (Latin, Cyrillic, Greek, CJK…).
    #[default]
    Ltr,
    /// Right to left (Arabic, Hebrew…).
    Rtl,
}

impl Direction {
    /// The direction of a paragraph from its first strong character (Unicode bidi rule P2:
    /// `L` is left to right; `R` and `AL` are right to left), `None` when it has none (digits,
    /// punctuation, spaces only). Text inside isolates is not skipped (rare in UI strings).
    pub fn of(text: &str) -> Option<Direction> {
        text.chars().find_map(|c| match bidi_class(c) {
            BidiClass::L => Some(Direction::Ltr),
            BidiClass::R | BidiClass::AL => Some(Direction::Rtl),
            _ => None,
        })
    }

    /// The direction a language is written in, from its BCP 47 tag (`ar`, `he-IL`, `fa_IR.UTF-8`,
    /// `az-Arab`): a script subtag decides when there is one (`Arab`, `Hebr`, `Syrc`, `Thaa`,
    /// `Nkoo`, `Adlm`, `Rohg` are right to left), else the language (Arabic, Hebrew, Persian,
    /// Urdu, Yiddish, Pashto, Dhivehi, Sindhi, Uyghur, Sorani Kurdish, Syriac, N'Ko are); left
    /// to right otherwise. The layout direction of an app in that locale.
    ///
    /// ```
    /// use lucarne_widgets::Direction;
    ///
    /// assert_eq!(Direction::of_language("he-IL"), Direction::Rtl);
    /// assert_eq!(Direction::of_language("az-Arab"), Direction::Rtl);
    /// assert_eq!(Direction::of_language("ku-Latn"), Direction::Ltr);
    /// ```
    pub fn of_language(tag: &str) -> Direction {
        const RTL_SCRIPTS: [&str; 7] = ["arab", "hebr", "syrc", "thaa", "nkoo", "adlm", "rohg"];
        const RTL_LANGUAGES: [&str; 14] =
            ["ar", "he", "iw", "fa", "ur", "yi", "ji", "ps", "dv", "sd", "ug", "ckb", "syr", "nqo"];
        let mut parts = tag.split(['.', '@']).next().unwrap_or_default().split(['-', '_']);
        let language = parts.next().unwrap_or_default().to_ascii_lowercase();
        // The script comes right after the language (and its extended subtags, three letters);
        // what follows a region, a variant or an extension (`-u-nu-arab`) is not a script.
        let script = parts
            .find(|p| !(p.len() == 3 && p.chars().all(|c| c.is_ascii_alphabetic())))
            .filter(|p| p.len() == 4 && p.chars().all(|c| c.is_ascii_alphabetic()));
        let rtl = match script.map(str::to_ascii_lowercase) {
            Some(script) => RTL_SCRIPTS.contains(&script.as_str()),
            None => RTL_LANGUAGES.contains(&language.as_str()),
        };
        if rtl { Direction::Rtl } else { Direction::Ltr }
    }

    /// The direction of a paragraph, or `fallback` when it has no strong character.
    pub fn of_or(text: &str, fallback: Direction) -> Direction {
        Direction::of(text).unwrap_or(fallback)
    }

    /// Whether it is [`Direction::Rtl`].
    pub fn is_rtl(self) -> bool {
        self == Direction::Rtl
    }

    /// The other direction.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::Ltr => Direction::Rtl,
            Direction::Rtl => Direction::Ltr,
        }
    }

    /// The side lines start on: left in LTR, right in RTL.
    pub fn start(self) -> Horizontal {
        Align::Start.resolve(self)
    }

    /// The side lines end on: right in LTR, left in RTL.
    pub fn end(self) -> Horizontal {
        Align::End.resolve(self)
    }

    /// The invisible mark that makes a paragraph this direction when put first (U+200E LEFT-TO-RIGHT
    /// MARK, U+200F RIGHT-TO-LEFT MARK).
    pub fn mark(self) -> char {
        match self {
            Direction::Ltr => '\u{200E}',
            Direction::Rtl => '\u{200F}',
        }
    }

    /// An arrow pointing forward in reading order ("next", "open"): → in LTR, ← in RTL.
    pub fn forward_arrow(self) -> &'static str {
        match self {
            Direction::Ltr => "→",
            Direction::Rtl => "←",
        }
    }

    /// An arrow pointing back in reading order ("previous", "back"): ← in LTR, → in RTL.
    pub fn back_arrow(self) -> &'static str {
        self.reversed().forward_arrow()
    }

    /// Mirrors a point inside `bounds` when RTL (for icons or canvas drawings made for LTR).
    pub fn mirror(self, point: Point, bounds: Rectangle) -> Point {
        match self {
            Direction::Ltr => point,
            Direction::Rtl => Point::new(bounds.x + bounds.width - (point.x - bounds.x), point.y),
        }
    }
}

/// A horizontal alignment by reading direction (or absolute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Align {
    /// Where lines start: left in LTR, right in RTL.
    #[default]
    Start,
    /// Centered.
    Center,
    /// Where lines end: right in LTR, left in RTL.
    End,
    /// Always left.
    Left,
    /// Always right.
    Right,
}

impl Align {
    /// The side this is in a layout or paragraph of direction `direction`.
    pub fn resolve(self, direction: Direction) -> Horizontal {
        match (self, direction) {
            (Align::Center, _) => Horizontal::Center,
            (Align::Left, _) | (Align::Start, Direction::Ltr) | (Align::End, Direction::Rtl) => {
                Horizontal::Left
            }
            (Align::Right, _) | (Align::Start, Direction::Rtl) | (Align::End, Direction::Ltr) => {
                Horizontal::Right
            }
        }
    }
}

/// A row whose children, given in reading order, are laid out right to left in
/// [`Direction::Rtl`]: the first child is drawn at the start side. A plain iced [`Row`], so
/// `spacing`, `padding`, `align_y`… apply as usual.
pub fn dir_row<'a, Message, Theme, Renderer>(
    direction: Direction,
    children: impl IntoIterator<Item = Element<'a, Message, Theme, Renderer>>,
) -> Row<'a, Message, Theme, Renderer>
where
    Renderer: iced_core::Renderer,
{
    let mut children: Vec<_> = children.into_iter().collect();
    if direction.is_rtl() {
        children.reverse();
    }
    Row::with_children(children)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_tag_gives_the_direction_it_is_written_in() {
        let check =
            |tag: &str, expected: Direction| assert_eq!(Direction::of_language(tag), expected, "{tag}");
        for tag in [
            "ar",
            "ar-EG",
            "he",
            "he_IL.UTF-8",
            "iw",
            "fa-IR",
            "ur",
            "yi",
            "ckb",
            "AR",
            "az-Arab",
            "pa-Arab-PK",
        ] {
            check(tag, Direction::Rtl);
        }
        check("ar-u-nu-latn", Direction::Rtl);
        check("zh-yue-Arab", Direction::Rtl);
        check("en-u-nu-arab", Direction::Ltr);
        check("en-US-x-Arab", Direction::Ltr);
        for tag in [
            "en",
            "en-US",
            "fr_FR.UTF-8@euro",
            "de",
            "ja",
            "zh-Hant-TW",
            "ku-Latn",
            "uz-Cyrl",
            "",
            "arn",
            "hea",
        ] {
            check(tag, Direction::Ltr);
        }
    }

    #[test]
    fn a_paragraph_takes_the_direction_of_its_first_strong_character() {
        let check = |text: &str, expected: Option<Direction>| {
            assert_eq!(Direction::of(text), expected, "{text:?}");
        };
        check("Hello", Some(Direction::Ltr));
        check("مرحبا بالعالم", Some(Direction::Rtl));
        check("שלום עולם", Some(Direction::Rtl));
        check("Order #42 — طلب رقم ٤٢ (shipped)", Some(Direction::Ltr));
        check("٤٢ — طلب", Some(Direction::Rtl)); // Arabic-Indic digits are weak (AN)
        check("42 (shipped)", Some(Direction::Ltr));
        check("  #42 ...", None);
        check("", None);
        check("\u{200F}Order", Some(Direction::Rtl));
        assert_eq!(Direction::of_or("123", Direction::Rtl), Direction::Rtl);
    }

    #[test]
    fn start_and_end_are_left_and_right_by_direction() {
        let check = |align: Align, ltr: Horizontal, rtl: Horizontal| {
            assert_eq!(align.resolve(Direction::Ltr), ltr, "{align:?} in LTR");
            assert_eq!(align.resolve(Direction::Rtl), rtl, "{align:?} in RTL");
        };
        check(Align::Start, Horizontal::Left, Horizontal::Right);
        check(Align::End, Horizontal::Right, Horizontal::Left);
        check(Align::Center, Horizontal::Center, Horizontal::Center);
        check(Align::Left, Horizontal::Left, Horizontal::Left);
        check(Align::Right, Horizontal::Right, Horizontal::Right);
        assert_eq!(Direction::Rtl.start(), Horizontal::Right);
        assert_eq!(Direction::Ltr.end(), Horizontal::Right);
    }

    #[test]
    fn arrows_and_drawings_mirror_in_rtl() {
        assert_eq!(Direction::Ltr.forward_arrow(), "→");
        assert_eq!(Direction::Rtl.forward_arrow(), "←");
        assert_eq!(Direction::Rtl.back_arrow(), "→");
        let bounds = Rectangle { x: 10.0, y: 0.0, width: 100.0, height: 20.0 };
        assert_eq!(Direction::Rtl.mirror(Point::new(20.0, 5.0), bounds), Point::new(100.0, 5.0));
        assert_eq!(Direction::Ltr.mirror(Point::new(20.0, 5.0), bounds), Point::new(20.0, 5.0));
    }
}
