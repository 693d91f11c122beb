//! The rows a [`LiveTable`](crate::LiveTable) shows: keyed, sorted on demand, with the time
//! each row last changed (for the highlight).
//!
//! ```
//! use lucarne_widgets::{Cell, Sort, TableRows};
//!
//! let mut rows = TableRows::new();
//! rows.upsert("o-2", vec![Cell::text("Ada"), Cell::number(42.5, "42.50")]);
//! rows.upsert("o-1", vec![Cell::text("Bo"), Cell::number(7.0, "7.00")]);
//! rows.set_sort(Some(Sort { column: 1, descending: true }));
//! assert_eq!(rows.key_at(0), Some("o-2"));
//! rows.upsert("o-1", vec![Cell::text("Bo"), Cell::number(99.0, "99.00")]);
//! assert_eq!(rows.key_at(0), Some("o-1"), "re-sorted after a change");
//! assert_eq!(rows.position("o-2"), Some(1));
//! ```
//!
//! Identity is the key: selection, the scroll anchor and highlights follow a row wherever the
//! sort moves it. The order is kept sorted as rows change (binary search, then one move in a
//! `Vec<u32>`: `O(log n + n)` with a small constant); only a new sort re-sorts, lazily, when
//! the order is next read.

use iced_core::time::Instant;
use std::cell::{Cell as Flag, RefCell};
use std::cmp::Ordering;
use std::collections::HashMap;

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text, sorted as text.
    Text(String),
    /// A number shown as `text`, sorted by `value`.
    Number {
        /// The value sorted by.
        value: f64,
        /// What is shown.
        text: String,
    },
    /// Buttons: each publishes the table's `on_action(key, index)` when pressed and enabled.
    Actions(Vec<Action>),
}

/// A button in an [`Cell::Actions`] cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Its label.
    pub label: String,
    /// Whether it can be pressed.
    pub enabled: bool,
}

impl Cell {
    /// A text cell.
    pub fn text(text: impl Into<String>) -> Self {
        Cell::Text(text.into())
    }

    /// A number shown as `text`.
    pub fn number(value: f64, text: impl Into<String>) -> Self {
        Cell::Number { value, text: text.into() }
    }

    /// Buttons `(label, enabled)`.
    pub fn actions<S: Into<String>>(actions: impl IntoIterator<Item = (S, bool)>) -> Self {
        Cell::Actions(
            actions.into_iter().map(|(label, enabled)| Action { label: label.into(), enabled }).collect(),
        )
    }

    /// The text shown (empty for actions).
    pub fn as_str(&self) -> &str {
        match self {
            Cell::Text(text) | Cell::Number { text, .. } => text,
            Cell::Actions(_) => "",
        }
    }

    fn compare(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Number { value: a, .. }, Cell::Number { value: b, .. }) => a.total_cmp(b),
            (Cell::Number { .. }, _) => Ordering::Less,
            (_, Cell::Number { .. }) => Ordering::Greater,
            (a, b) => natural(a.as_str(), b.as_str()),
        }
    }
}

/// The run of digits of `s` from `start`, without its leading zeros, and where it ends.
fn digit_run(s: &str, start: usize) -> (&str, usize) {
    let end = s[start..].find(|c: char| !c.is_ascii_digit()).map_or(s.len(), |n| start + n);
    (s[start..end].trim_start_matches('0'), end)
}

/// Text in natural order: runs of digits compare as numbers (`o-9` before `o-10`), the rest
/// character by character; texts equal that way (`o-01`, `o-1`) fall back to plain order.
pub fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.char_indices().peekable(), b.char_indices().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((i, c)), Some((j, d))) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let ((m, end_a), (n, end_b)) = (digit_run(a, i), digit_run(b, j));
                let by_number = m.len().cmp(&n.len()).then_with(|| m.cmp(n));
                if by_number != Ordering::Equal {
                    return by_number;
                }
                while x.peek().is_some_and(|(k, _)| *k < end_a) {
                    x.next();
                }
                while y.peek().is_some_and(|(k, _)| *k < end_b) {
                    y.next();
                }
            }
            (Some((_, c)), Some((_, d))) => {
                if c != d {
                    return c.cmp(&d);
                }
                x.next();
                y.next();
            }
        }
    }
}

/// The sort of a table: by one column, ascending or descending; rows with equal cells are in
/// key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The column's index.
    pub column: usize,
    /// Largest first.
    pub descending: bool,
}

/// A row as the table sees it.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    /// Its key.
    pub key: &'a str,
    /// Its cells, one per column.
    pub cells: &'a [Cell],
    /// When it last changed (`None` if it never changed since it was loaded).
    pub changed: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    cells: Vec<Cell>,
    changed: Option<Instant>,
}

/// Keyed rows, ordered by a [`Sort`]. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct TableRows {
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_key: HashMap<String, u32>,
    sort: Option<Sort>,
    /// Slots in display order; unsorted only while `dirty` (after a new sort), until `settle`.
    order: RefCell<Vec<u32>>,
    dirty: Flag<bool>,
}

impl TableRows {
    /// No rows, in key order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Inserts or replaces a row and marks it changed now (it is highlighted).
    pub fn upsert(&mut self, key: &str, cells: Vec<Cell>) {
        self.put(key, cells, Some(Instant::now()));
    }

    /// Inserts or replaces a row without highlighting it (e.g. rows of a first snapshot).
    pub fn upsert_quiet(&mut self, key: &str, cells: Vec<Cell>) {
        let changed = self.by_key.get(key).and_then(|slot| self.entry(*slot)).and_then(|e| e.changed);
        self.put(key, cells, changed);
    }

    fn put(&mut self, key: &str, cells: Vec<Cell>, changed: Option<Instant>) {
        let entry = Entry { key: key.to_owned(), cells, changed };
        if let Some(&slot) = self.by_key.get(key) {
            let moved = match (self.sort, self.entry(slot)) {
                (Some(sort), Some(old)) => match (old.cells.get(sort.column), entry.cells.get(sort.column)) {
                    (Some(a), Some(b)) => a.compare(b) != Ordering::Equal,
                    _ => true,
                },
                _ => false,
            };
            if moved && !self.dirty.get() {
                // Keep the order sorted: out at the old place, in at the new one.
                let mut order = std::mem::take(self.order.get_mut());
                if let Some(at) = self.find(&order, slot) {
                    order.remove(at);
                }
                self.slots[slot as usize] = Some(entry);
                let at = self.insertion_point(&order, slot);
                order.insert(at, slot);
                *self.order.get_mut() = order;
            } else {
                self.slots[slot as usize] = Some(entry);
            }
            return;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                u32::try_from(self.slots.len() - 1)
                    .expect("fewer than 2³² rows: each takes far more than a byte")
            }
        };
        self.by_key.insert(key.to_owned(), slot);
        if self.dirty.get() {
            self.order.get_mut().push(slot);
        } else {
            let mut order = std::mem::take(self.order.get_mut());
            let at = self.insertion_point(&order, slot);
            order.insert(at, slot);
            *self.order.get_mut() = order;
        }
    }

    /// Where `slot` is in a sorted `order`.
    fn find(&self, order: &[u32], slot: u32) -> Option<usize> {
        let target = self.entry(slot)?;
        order.binary_search_by(|s| self.entry(*s).map_or(Ordering::Less, |e| self.compare(e, target))).ok()
    }

    /// Where `slot` goes in a sorted `order`.
    fn insertion_point(&self, order: &[u32], slot: u32) -> usize {
        match self.entry(slot) {
            Some(target) => order
                .binary_search_by(|s| self.entry(*s).map_or(Ordering::Less, |e| self.compare(e, target)))
                .unwrap_or_else(|at| at),
            None => order.len(),
        }
    }

    /// Removes a row; true if it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(slot) = self.by_key.remove(key) else { return false };
        let mut order = std::mem::take(self.order.get_mut());
        match (self.dirty.get(), self.find(&order, slot)) {
            (false, Some(at)) => {
                order.remove(at);
            }
            _ => order.retain(|s| *s != slot),
        }
        *self.order.get_mut() = order;
        // The slot is reused only now that the order forgot it.
        self.slots[slot as usize] = None;
        self.free.push(slot);
        true
    }

    /// Removes every row.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.by_key.clear();
        self.order.get_mut().clear();
        // Rows loaded next (a snapshot) are appended and sorted once, when first read.
        self.dirty.set(true);
    }

    /// The cells of the row with this key.
    pub fn get(&self, key: &str) -> Option<&[Cell]> {
        self.by_key.get(key).and_then(|slot| self.entry(*slot)).map(|e| e.cells.as_slice())
    }

    /// The current sort (`None`: key order).
    pub fn sort(&self) -> Option<Sort> {
        self.sort
    }

    /// Sorts by this.
    pub fn set_sort(&mut self, sort: Option<Sort>) {
        if self.sort != sort {
            self.sort = sort;
            self.dirty.set(true);
        }
    }

    /// What clicking a column's header does: sort by it ascending, or flip the direction if
    /// it is already the sort column.
    pub fn toggle_sort(&mut self, column: usize) {
        let descending = matches!(self.sort, Some(s) if s.column == column && !s.descending);
        self.set_sort(Some(Sort { column, descending }));
    }

    /// The row at this index in display order.
    pub fn row(&self, index: usize) -> Option<RowRef<'_>> {
        self.settle();
        let slot = *self.order.borrow().get(index)?;
        self.entry(slot).map(|e| RowRef { key: &e.key, cells: &e.cells, changed: e.changed })
    }

    /// The key of the row at this index in display order.
    pub fn key_at(&self, index: usize) -> Option<&str> {
        self.row(index).map(|r| r.key)
    }

    /// The index in display order of the row with this key (binary search: `O(log n)`).
    pub fn position(&self, key: &str) -> Option<usize> {
        let slot = *self.by_key.get(key)?;
        let target = self.entry(slot)?;
        self.settle();
        let order = self.order.borrow();
        order.binary_search_by(|s| self.entry(*s).map_or(Ordering::Less, |e| self.compare(e, target))).ok()
    }

    /// Keys in display order.
    pub fn keys(&self) -> Vec<String> {
        self.settle();
        self.order.borrow().iter().filter_map(|s| self.entry(*s)).map(|e| e.key.clone()).collect()
    }

    fn entry(&self, slot: u32) -> Option<&Entry> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    fn compare(&self, a: &Entry, b: &Entry) -> Ordering {
        let by_column = match self.sort {
            Some(sort) => {
                let ordering = match (a.cells.get(sort.column), b.cells.get(sort.column)) {
                    (Some(x), Some(y)) => x.compare(y),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                };
                if sort.descending { ordering.reverse() } else { ordering }
            }
            None => Ordering::Equal,
        };
        by_column.then_with(|| natural(&a.key, &b.key))
    }

    /// Brings the order up to date (a stable sort of the previous order: mostly runs).
    fn settle(&self) {
        if !self.dirty.get() {
            return;
        }
        let mut order = self.order.borrow_mut();
        order.sort_by(|a, b| match (self.entry(*a), self.entry(*b)) {
            (Some(a), Some(b)) => self.compare(a, b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        });
        self.dirty.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_texts_sort_naturally() {
        let mut ids = vec!["o-10", "o-9", "o-100", "o-90", "o-09", "b", "a-2", "a-10", "o-1a", "o-1"];
        ids.sort_by(|a, b| natural(a, b));
        assert_eq!(ids, ["a-2", "a-10", "b", "o-1", "o-1a", "o-09", "o-9", "o-10", "o-90", "o-100"]);
        let mut table = TableRows::new();
        for id in ["o-89", "o-9", "o-90", "o-100"] {
            table.upsert(id, vec![Cell::text(id)]);
        }
        assert_eq!(table.keys(), ["o-9", "o-89", "o-90", "o-100"], "key order is natural");
        table.toggle_sort(0);
        assert_eq!(table.keys(), ["o-9", "o-89", "o-90", "o-100"], "and so is a text column");
    }

    fn rows(data: &[(&str, f64)]) -> TableRows {
        let mut rows = TableRows::new();
        for (key, n) in data {
            rows.upsert_quiet(key, vec![Cell::text(key.to_uppercase()), Cell::number(*n, n.to_string())]);
        }
        rows
    }

    fn check(rows: &TableRows, expected: &[&str]) {
        assert_eq!(rows.keys(), expected.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for (i, key) in expected.iter().enumerate() {
            assert_eq!(rows.position(key), Some(i), "position of {key}");
            assert_eq!(rows.key_at(i), Some(*key));
        }
        assert_eq!(rows.len(), expected.len());
    }

    #[test]
    fn sorts_by_key_then_by_column_both_ways() {
        let mut r = rows(&[("b", 2.0), ("a", 10.0), ("c", 1.0)]);
        check(&r, &["a", "b", "c"]);
        r.toggle_sort(1);
        check(&r, &["c", "b", "a"]);
        r.toggle_sort(1);
        check(&r, &["a", "b", "c"]);
        r.toggle_sort(0);
        check(&r, &["a", "b", "c"]);
        r.set_sort(Some(Sort { column: 0, descending: true }));
        check(&r, &["c", "b", "a"]);
    }

    #[test]
    fn numbers_sort_as_numbers_and_ties_by_key() {
        let mut r = rows(&[("x", 9.0), ("y", 10.0), ("w", 9.0)]);
        r.set_sort(Some(Sort { column: 1, descending: false }));
        check(&r, &["w", "x", "y"]);
    }

    #[test]
    fn upserts_move_rows_and_removals_free_slots() {
        let mut r = rows(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]);
        r.set_sort(Some(Sort { column: 1, descending: true }));
        check(&r, &["c", "b", "a"]);
        r.upsert("a", vec![Cell::text("A"), Cell::number(5.0, "5")]);
        check(&r, &["a", "c", "b"]);
        assert!(r.row(0).and_then(|row| row.changed).is_some(), "upsert highlights");
        assert!(r.remove("c"));
        assert!(!r.remove("c"));
        check(&r, &["a", "b"]);
        r.upsert("d", vec![Cell::text("D"), Cell::number(4.0, "4")]);
        check(&r, &["a", "d", "b"]);
        assert_eq!(r.get("d").map(|c| c[0].as_str()), Some("D"));
        r.clear();
        check(&r, &[]);
    }

    #[test]
    fn quiet_upsert_keeps_the_previous_highlight() {
        let mut r = TableRows::new();
        r.upsert_quiet("a", vec![Cell::text("x")]);
        assert!(r.row(0).and_then(|row| row.changed).is_none());
        r.upsert("a", vec![Cell::text("y")]);
        let changed = r.row(0).and_then(|row| row.changed);
        r.upsert_quiet("a", vec![Cell::text("z")]);
        assert_eq!(r.row(0).and_then(|row| row.changed), changed);
    }

    #[test]
    fn many_random_changes_match_a_full_sort() {
        let mut r = TableRows::new();
        r.set_sort(Some(Sort { column: 0, descending: true }));
        let mut model = std::collections::BTreeMap::new();
        let mut dice = fastrand::Rng::with_seed(7);
        for step in 0..3_000u32 {
            let key = format!("k{}", dice.u8(..200));
            let value = f64::from(dice.u8(..50));
            if dice.u8(..5) == 0 {
                r.remove(&key);
                model.remove(&key);
            } else {
                r.upsert(&key, vec![Cell::number(value, value.to_string())]);
                model.insert(key, value);
            }
            if step.is_multiple_of(97) {
                let mut expected: Vec<_> = model.iter().map(|(k, v)| (*v, k.clone())).collect();
                expected.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| natural(&a.1, &b.1)));
                let keys: Vec<&str> = expected.iter().map(|(_, k)| k.as_str()).collect();
                check(&r, &keys);
            }
        }
    }
}
