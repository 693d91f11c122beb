//! A one-line text being typed: its value and the caret, moved by whole characters.
//!
//! ```
//! use lucarne_tui::app::input::Input;
//!
//! let mut input = Input::new("total > 1");
//! input.insert('0');
//! input.home();
//! input.delete();
//! assert_eq!(input.value(), "otal > 10");
//! ```

/// A line being typed (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    value: String,
    /// The caret, in bytes (always on a character boundary).
    caret: usize,
}

impl Input {
    /// A line holding `value`, the caret at its end.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        Input { caret: value.len(), value }
    }

    /// What was typed.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The caret's place, in bytes.
    pub fn caret(&self) -> usize {
        self.caret
    }

    /// Puts the caret before the character at `index` (characters from 0; past the end: at it).
    pub fn set_caret(&mut self, index: usize) {
        self.caret = self.value.char_indices().nth(index).map_or(self.value.len(), |(at, _)| at);
    }

    /// Types a character at the caret.
    pub fn insert(&mut self, c: char) {
        self.value.insert(self.caret, c);
        self.caret += c.len_utf8();
    }

    /// Deletes the character before the caret.
    pub fn backspace(&mut self) {
        if let Some(c) = self.value[..self.caret].chars().next_back() {
            self.caret -= c.len_utf8();
            self.value.remove(self.caret);
        }
    }

    /// Deletes the character after the caret.
    pub fn delete(&mut self) {
        if self.caret < self.value.len() {
            self.value.remove(self.caret);
        }
    }

    /// Moves the caret one character back.
    pub fn left(&mut self) {
        if let Some(c) = self.value[..self.caret].chars().next_back() {
            self.caret -= c.len_utf8();
        }
    }

    /// Moves the caret one character on.
    pub fn right(&mut self) {
        if let Some(c) = self.value[self.caret..].chars().next() {
            self.caret += c.len_utf8();
        }
    }

    /// Caret to the start.
    pub fn home(&mut self) {
        self.caret = 0;
    }

    /// Caret to the end.
    pub fn end(&mut self) {
        self.caret = self.value.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_move_by_whole_characters() {
        let mut input = Input::new("مرحبا");
        input.backspace();
        assert_eq!(input.value(), "مرحب");
        input.left();
        input.left();
        input.insert('é');
        assert_eq!(input.value(), "مرéحب");
        input.right();
        input.delete();
        assert_eq!(input.value(), "مرéح");
        input.end();
        input.right();
        assert_eq!(input.caret(), input.value().len());
    }
}
