//! Editing without a widget: a key press becomes an [`Intent`]; an intent applied to the value,
//! the caret and the caret's places on screen ([`Field`]) gives an [`Outcome`]. No renderer, no
//! shell, no clipboard: the widget reads the clipboard for a paste, writes it for a copy, and
//! shows the outcome.

use iced_core::keyboard::{self, key};
use unicode_segmentation::UnicodeSegmentation;

use crate::shaping::{self, Stop};

/// The caret and the selection, in text indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Caret {
    /// Where typing inserts.
    pub(crate) index: usize,
    /// Attached to the grapheme after `index` (else before): which side of a run boundary.
    pub(crate) after: bool,
    /// The other end of the selection.
    pub(crate) anchor: Option<usize>,
}

impl Caret {
    pub(crate) fn at(stop: Stop) -> Caret {
        Caret { index: stop.index, after: stop.after, anchor: None }
    }

    /// The selected range of text indices, when something is selected.
    pub(crate) fn selection(&self) -> Option<(usize, usize)> {
        let anchor = self.anchor?;
        (anchor != self.index).then(|| (anchor.min(self.index), anchor.max(self.index)))
    }
}

/// The largest char boundary of `value` at or before `index`.
pub(crate) fn floor_boundary(value: &str, index: usize) -> usize {
    let mut index = index.min(value.len());
    while !value.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// What a key press asks of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Intent {
    /// One place to the left on screen (Shift: extend the selection).
    Left,
    /// One place to the right on screen.
    Right,
    /// The text's start.
    Home,
    /// The text's end.
    End,
    /// Remove the grapheme before the caret, or the selection.
    Backspace,
    /// Remove the grapheme after the caret, or the selection.
    Delete,
    SelectAll,
    Copy,
    Cut,
    /// Insert the clipboard's text (control characters removed).
    Paste(String),
    /// Insert typed text.
    Type(String),
    /// Enter.
    Submit,
    /// Leave the input.
    Escape,
}

/// The intent of a key press; `None` for keys the input leaves to others. `paste` reads the
/// clipboard (only for a paste).
pub(crate) fn intent(
    key: &keyboard::Key,
    modifiers: keyboard::Modifiers,
    text: Option<&str>,
    paste: impl FnOnce() -> Option<String>,
) -> Option<Intent> {
    let intent = match key.as_ref() {
        keyboard::Key::Named(key::Named::ArrowLeft) => Intent::Left,
        keyboard::Key::Named(key::Named::ArrowRight) => Intent::Right,
        keyboard::Key::Named(key::Named::Home) => Intent::Home,
        keyboard::Key::Named(key::Named::End) => Intent::End,
        keyboard::Key::Named(key::Named::Backspace) => Intent::Backspace,
        keyboard::Key::Named(key::Named::Delete) => Intent::Delete,
        keyboard::Key::Named(key::Named::Enter) => Intent::Submit,
        keyboard::Key::Named(key::Named::Escape) => Intent::Escape,
        keyboard::Key::Character(c) if modifiers.command() => match c {
            "a" => Intent::SelectAll,
            "c" => Intent::Copy,
            "x" => Intent::Cut,
            "v" => Intent::Paste(paste()?.chars().filter(|c| !c.is_control()).collect()),
            _ => return None,
        },
        _ => {
            let text = text.filter(|t| !t.is_empty() && !t.chars().any(char::is_control))?;
            Intent::Type(text.to_owned())
        }
    };
    Some(intent)
}

/// What an intent did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Nothing for this input: the key goes on to others.
    Ignored,
    /// Taken, and nothing changes (a copy with nothing selected).
    Handled,
    /// The caret (or the selection) moved.
    Moved(Caret),
    /// The value changed.
    Edited {
        value: String,
        caret: Caret,
    },
    /// This text goes to the clipboard.
    Copied(String),
    /// This text goes to the clipboard and leaves the value.
    Cut {
        copied: String,
        value: String,
        caret: Caret,
    },
    Submitted,
    /// The input is left, its selection dropped.
    Escaped(Caret),
}

/// What editing sees of the input: its value, the places the caret can be on screen (left to
/// right, each with the text index typing there inserts at) and the paragraph's direction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub(crate) value: &'a str,
    pub(crate) stops: &'a [Stop],
    pub(crate) rtl: bool,
}

impl Field<'_> {
    /// Applies `intent` with the caret at `caret`; `extend` (Shift) extends the selection
    /// instead of moving the caret alone.
    pub(crate) fn apply(&self, caret: Caret, intent: Intent, extend: bool) -> Outcome {
        let stops = self.stops;
        match intent {
            Intent::Left | Intent::Right => {
                let right = intent == Intent::Right;
                let target = if caret.selection().is_some() && !extend {
                    // Collapse the selection to its end on that side.
                    let ends = [caret.index, caret.anchor.unwrap_or(caret.index)]
                        .map(|i| shaping::find(stops, i, caret.after))
                        .into_iter()
                        .flatten();
                    if right {
                        ends.max_by(|&a, &b| stops[a].x.total_cmp(&stops[b].x))
                    } else {
                        ends.min_by(|&a, &b| stops[a].x.total_cmp(&stops[b].x))
                    }
                } else {
                    let current = self.current(caret);
                    let moved = current.and_then(|k| {
                        if right { shaping::right_of(stops, k) } else { shaping::left_of(stops, k) }
                    });
                    moved.or(current)
                };
                self.go(caret, target.map(|k| stops[k]), extend)
            }
            Intent::Home | Intent::End => {
                // Home and End go to the text's start and end, as in every editor: typing then
                // goes first or last, whatever runs of the other direction the line ends with.
                // Of the places at that index, the one towards the line's edge in the
                // paragraph's direction (the start edge is the right one in RTL).
                let home = intent == Intent::Home;
                let index = if home { 0 } else { self.value.len() };
                let rightmost = home == self.rtl;
                let at_index = stops.iter().filter(|s| s.index == index);
                let edge = if rightmost {
                    at_index.max_by(|a, b| a.x.total_cmp(&b.x))
                } else {
                    at_index.min_by(|a, b| a.x.total_cmp(&b.x))
                };
                let visual_edge = if rightmost { stops.last() } else { stops.first() };
                self.go(caret, edge.or(visual_edge).copied(), extend)
            }
            Intent::Backspace | Intent::Delete => {
                let mut caret = caret;
                if caret.selection().is_none() {
                    let at = floor_boundary(self.value, caret.index);
                    let other = if intent == Intent::Delete {
                        self.value[at..].graphemes(true).next().map(|g| at + g.len())
                    } else {
                        self.value[..at].grapheme_indices(true).next_back().map(|(i, _)| i)
                    };
                    let Some(other) = other else { return Outcome::Ignored };
                    caret.anchor = Some(other);
                }
                let (value, caret) = self.replace(caret, "");
                Outcome::Edited { value, caret }
            }
            Intent::SelectAll => {
                Outcome::Moved(Caret { index: self.value.len(), after: false, anchor: Some(0) })
            }
            Intent::Copy | Intent::Cut => {
                let Some((start, end)) = caret.selection() else { return Outcome::Handled };
                let (start, end) = (floor_boundary(self.value, start), floor_boundary(self.value, end));
                let copied = self.value[start..end].to_owned();
                if intent == Intent::Copy {
                    return Outcome::Copied(copied);
                }
                let (value, caret) = self.replace(caret, "");
                Outcome::Cut { copied, value, caret }
            }
            Intent::Paste(text) | Intent::Type(text) => {
                let (value, caret) = self.replace(caret, &text);
                Outcome::Edited { value, caret }
            }
            Intent::Submit => Outcome::Submitted,
            Intent::Escape => Outcome::Escaped(Caret { anchor: None, ..caret }),
        }
    }

    /// The caret's place on screen.
    fn current(&self, caret: Caret) -> Option<usize> {
        shaping::find(self.stops, floor_boundary(self.value, caret.index), caret.after)
    }

    /// The caret moved to `stop` (nowhere when there is none), the selection extended when
    /// `extend`.
    fn go(&self, caret: Caret, stop: Option<Stop>, extend: bool) -> Outcome {
        let Some(stop) = stop else { return Outcome::Handled };
        let anchor = if extend { Some(caret.anchor.unwrap_or(caret.index)) } else { None };
        Outcome::Moved(Caret { anchor, ..Caret::at(stop) })
    }

    /// The value with the selection (or nothing, at the caret) replaced by `text`, and the
    /// caret after it.
    fn replace(&self, caret: Caret, text: &str) -> (String, Caret) {
        let (start, end) = caret.selection().unwrap_or((caret.index, caret.index));
        let (start, end) = (floor_boundary(self.value, start), floor_boundary(self.value, end));
        let mut value = String::with_capacity(self.value.len() + text.len());
        value.push_str(&self.value[..start]);
        value.push_str(text);
        value.push_str(&self.value[end..]);
        // Attached to what was typed (its trailing edge), or to what precedes a deletion, so
        // that at a run boundary the caret stays where the edit happened.
        (value, Caret { index: start + text.len(), after: false, anchor: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaping::{stops, synthetic_line};

    /// The direction of each char of `value` for the synthetic layout: `r` for Hebrew and
    /// Arabic letters, `l` for others, a space taking the one before it.
    fn dirs(value: &str, rtl: bool) -> String {
        let mut last = if rtl { 'r' } else { 'l' };
        value
            .chars()
            .map(|c| {
                if !c.is_whitespace() {
                    last = if matches!(c, '\u{0590}'..='\u{08FF}') { 'r' } else { 'l' };
                }
                last
            })
            .collect()
    }

    /// Applies `keys` (with Shift or not) to `value` laid out in a paragraph of direction `rtl`,
    /// the caret first at `caret` (its index, attached to what follows it or not), as the widget
    /// does: each edit is laid out again before the next key. Checks the value and the caret's
    /// index at the end.
    fn check(value: &str, rtl: bool, caret: (usize, bool), keys: &[(Intent, bool)], expected: (&str, usize)) {
        let mut value = value.to_owned();
        let mut caret = Caret { index: caret.0, after: caret.1, anchor: None };
        for (intent, extend) in keys {
            let line = synthetic_line(&value, &dirs(&value, rtl), rtl);
            let stops = stops(&value, &line);
            let field = Field { value: &value, stops: &stops, rtl };
            match field.apply(caret, intent.clone(), *extend) {
                Outcome::Moved(c) | Outcome::Escaped(c) => caret = c,
                Outcome::Edited { value: v, caret: c } | Outcome::Cut { value: v, caret: c, .. } => {
                    value = v;
                    caret = c;
                }
                Outcome::Ignored | Outcome::Handled | Outcome::Copied(_) | Outcome::Submitted => {}
            }
        }
        assert_eq!((value.as_str(), caret.index), expected, "{keys:?}");
    }

    fn key(intent: Intent) -> (Intent, bool) {
        (intent, false)
    }

    fn shift(intent: Intent) -> (Intent, bool) {
        (intent, true)
    }

    fn typed(text: &str) -> (Intent, bool) {
        (Intent::Type(text.into()), false)
    }

    #[test]
    fn arrows_move_on_screen_home_and_end_go_to_the_texts_ends() {
        // Latin: Left goes back in the text.
        check("abc", false, (3, false), &[key(Intent::Left), typed("X")], ("abXc", 3));
        // Hebrew (2 bytes a letter, drawn right to left): Left goes forward in the text.
        check("אבג", true, (0, true), &[key(Intent::Left), typed("X")], ("אXבג", 3));
        // Past either end the caret stays.
        check("ab", false, (0, true), &[key(Intent::Left), key(Intent::Left)], ("ab", 0));
        // Home and End: the text's start and end, in either direction.
        check("abc", false, (1, false), &[key(Intent::End), typed("Z")], ("abcZ", 4));
        check("אב cd", true, (0, true), &[key(Intent::End), typed("Z")], ("אב cdZ", 8));
        check("ab דנ", false, (0, true), &[key(Intent::End), typed("Z")], ("ab דנZ", 8));
        check("אב cd", true, (7, false), &[key(Intent::Home), typed("Z")], ("Zאב cd", 1));
    }

    #[test]
    fn backspace_and_delete_remove_a_whole_grapheme_or_the_selection() {
        // "e" + combining acute is one grapheme.
        check("ae\u{301}b", false, (4, false), &[key(Intent::Backspace)], ("ab", 1));
        check("ae\u{301}b", false, (1, true), &[key(Intent::Delete)], ("ab", 1));
        // At the ends there is nothing to remove.
        check("ab", false, (0, true), &[key(Intent::Backspace)], ("ab", 0));
        check("ab", false, (2, false), &[key(Intent::Delete)], ("ab", 2));
        // Shift+Left twice selects "cd"; Backspace removes it.
        check(
            "abcd",
            false,
            (4, false),
            &[shift(Intent::Left), shift(Intent::Left), key(Intent::Backspace)],
            ("ab", 2),
        );
        // Typing replaces the selection.
        check("abcd", false, (0, true), &[key(Intent::SelectAll), typed("x")], ("x", 1));
    }

    #[test]
    fn left_or_right_collapses_a_selection_to_its_end_on_that_side() {
        check(
            "abcd",
            false,
            (1, true),
            &[shift(Intent::Right), shift(Intent::Right), key(Intent::Left)],
            ("abcd", 1),
        );
        check(
            "abcd",
            false,
            (1, true),
            &[shift(Intent::Right), shift(Intent::Right), key(Intent::Right)],
            ("abcd", 3),
        );
    }

    #[test]
    fn copy_cut_and_paste_go_through_the_outcome() {
        let value = "abcd";
        let line = synthetic_line(value, "llll", false);
        let stops = stops(value, &line);
        let field = Field { value, stops: &stops, rtl: false };
        let selected = Caret { index: 3, after: false, anchor: Some(1) };
        assert_eq!(field.apply(selected, Intent::Copy, false), Outcome::Copied("bc".into()));
        assert_eq!(
            field.apply(selected, Intent::Cut, false),
            Outcome::Cut {
                copied: "bc".into(),
                value: "ad".into(),
                caret: Caret { index: 1, after: false, anchor: None }
            }
        );
        assert_eq!(field.apply(Caret::default(), Intent::Copy, false), Outcome::Handled);
        assert_eq!(
            field.apply(selected, Intent::Paste("XY".into()), false),
            Outcome::Edited { value: "aXYd".into(), caret: Caret { index: 3, after: false, anchor: None } }
        );
        assert_eq!(
            field.apply(selected, Intent::Escape, false),
            Outcome::Escaped(Caret { anchor: None, ..selected })
        );
    }

    #[test]
    fn keys_become_intents() {
        let none = keyboard::Modifiers::default();
        let ctrl = keyboard::Modifiers::COMMAND;
        let named = |n| keyboard::Key::Named(n);
        let char = |c: &str| keyboard::Key::Character(c.into());
        assert_eq!(intent(&named(key::Named::End), none, None, || None), Some(Intent::End));
        assert_eq!(intent(&char("a"), none, Some("a"), || None), Some(Intent::Type("a".into())));
        assert_eq!(intent(&char("a"), ctrl, Some("a"), || None), Some(Intent::SelectAll));
        // A paste loses its control characters; an empty clipboard is no paste.
        assert_eq!(intent(&char("v"), ctrl, None, || Some("a\nb".into())), Some(Intent::Paste("ab".into())));
        assert_eq!(intent(&char("v"), ctrl, None, || None), None);
        // Control characters are not typed; other shortcuts are left to others.
        assert_eq!(intent(&char("\u{8}"), none, Some("\u{8}"), || None), None);
        assert_eq!(intent(&char("q"), ctrl, Some("q"), || None), None);
    }
}
