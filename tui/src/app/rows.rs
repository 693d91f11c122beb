//! A view's rows as the table shows them: keyed, in one sort order kept as rows come and go, so
//! that the visible window is a slice and a frame costs the same at ten rows or a million.
//!
//! ```
//! use lucarne_tui::app::rows::{Rows, Sort};
//! use serde_json::json;
//!
//! let mut rows = Rows::default();
//! rows.upsert(json!("o-10"), json!({"id": "o-10", "total": 5}).as_object().cloned().unwrap_or_default());
//! rows.upsert(json!("o-9"), json!({"id": "o-9", "total": 7}).as_object().cloned().unwrap_or_default());
//! assert_eq!(rows.key_at(0).map(String::as_str), Some("\"o-9\""), "natural order: o-9 before o-10");
//! rows.sort(Sort::by("total", true));
//! assert_eq!(rows.row_at(0).map(|r| r["total"].clone()), Some(json!(7)));
//! ```

use std::cmp::Ordering;
use std::collections::HashMap;

use lucarne_protocol::{Columns, Key};
use serde_json::Value;

/// How the rows are ordered: by columns in turn (none: by key), ties by the key's JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sort {
    /// The columns, each `true` for largest first; none orders by the row's key.
    pub columns: Vec<(String, bool)>,
    /// How text compares.
    pub collation: Collation,
}

impl Sort {
    /// By one column.
    pub fn by(column: impl Into<String>, descending: bool) -> Sort {
        Sort { columns: vec![(column.into(), descending)], collation: Collation::Natural }
    }

    /// The first column and its direction, if the order is by columns.
    pub fn first(&self) -> Option<(&str, bool)> {
        self.columns.first().map(|(c, d)| (c.as_str(), *d))
    }
}

/// How text compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Collation {
    /// A person's order: digit runs by their value (`o-9` before `o-10`).
    #[default]
    Natural,
    /// The server's order of a live query's window (text by its bytes, the order by key with no
    /// column): a window of a larger view is shown in the order the server cut it in.
    Exact,
}

/// One row held.
#[derive(Debug, Clone)]
struct Held {
    key: Key,
    /// The key's JSON text (ties are ordered by it).
    text: String,
    row: Columns,
}

/// Keyed rows in sort order, with the columns seen (see the module docs). The order is a vector
/// of 4-byte slots: a row that keeps its place is replaced where it is, one that moves is rotated
/// over the rows between its old and new places, and only a row put in or taken out shifts the
/// rest (4 bytes each).
#[derive(Debug, Default)]
pub struct Rows {
    /// The rows, by slot.
    slots: Vec<Option<Held>>,
    /// Free slots.
    free: Vec<u32>,
    /// Slots by key text.
    ids: HashMap<String, u32>,
    /// Slots in sort order.
    order: Vec<u32>,
    sort: Sort,
    columns: Vec<String>,
}

impl Rows {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Every column seen in a row, in the order first seen.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The order.
    pub fn sort_order(&self) -> &Sort {
        &self.sort
    }

    /// Replaces every row (a snapshot).
    pub fn reset(&mut self, rows: impl IntoIterator<Item = (Key, Columns)>) {
        self.slots.clear();
        self.free.clear();
        self.ids.clear();
        self.order.clear();
        self.columns.clear();
        for (key, row) in rows {
            self.learn_columns(&row);
            let text = key.to_string();
            match self.ids.get(&text) {
                Some(&slot) => self.slots[slot as usize] = Some(Held { key, text, row }),
                None => {
                    let slot = self.new_slot(Held { key, text: text.clone(), row });
                    self.ids.insert(text, slot);
                    self.order.push(slot);
                }
            }
        }
        self.resort();
    }

    /// Puts a row in, in place of the one with its key; returns its place.
    pub fn upsert(&mut self, key: Key, row: Columns) -> usize {
        self.learn_columns(&row);
        let text = key.to_string();
        let held = Held { key, text: text.clone(), row };
        let Some(at) = self.index_of(&text) else {
            let at = self.place_of(&held);
            let slot = self.new_slot(held);
            self.ids.insert(text, slot);
            self.order.insert(at, slot);
            return at;
        };
        let slot = self.order[at];
        // Where it goes among the others: before the first that sorts after it.
        let before = self.order[..at].partition_point(|s| self.less(*s, &held));
        let after = at + 1 + self.order[at + 1..].partition_point(|s| self.less(*s, &held));
        self.slots[slot as usize] = Some(held);
        if before < at {
            self.order[before..=at].rotate_right(1);
            before
        } else if after > at + 1 {
            self.order[at..after].rotate_left(1);
            after - 1
        } else {
            at
        }
    }

    /// Takes a row out; returns where it was.
    pub fn remove(&mut self, key: &Key) -> Option<usize> {
        let text = key.to_string();
        let at = self.index_of(&text)?;
        let slot = self.order.remove(at);
        self.ids.remove(&text);
        self.slots[slot as usize] = None;
        self.free.push(slot);
        Some(at)
    }

    /// Applies a delta's ops.
    pub fn apply(&mut self, ops: Vec<lucarne_protocol::Op>) {
        for op in ops {
            match op {
                lucarne_protocol::Op::Upsert { key, row } => {
                    self.upsert(key, row);
                }
                lucarne_protocol::Op::Remove { key } => {
                    self.remove(&key);
                }
            }
        }
    }

    /// Orders the rows anew.
    pub fn sort(&mut self, sort: Sort) {
        if self.sort != sort {
            self.sort = sort;
            self.resort();
        }
    }

    /// The key (its JSON text) of the row at `index` in order.
    pub fn key_at(&self, index: usize) -> Option<&String> {
        self.held_at(index).map(|h| &h.text)
    }

    /// The row at `index` in order.
    pub fn row_at(&self, index: usize) -> Option<&Columns> {
        self.held_at(index).map(|h| &h.row)
    }

    /// The row held under a key's JSON text.
    pub fn get(&self, key_text: &str) -> Option<(&Key, &Columns)> {
        let slot = *self.ids.get(key_text)?;
        self.slot(slot).map(|h| (&h.key, &h.row))
    }

    /// Where the row with this key's JSON text stands in order.
    pub fn index_of(&self, key_text: &str) -> Option<usize> {
        let slot = *self.ids.get(key_text)?;
        let held = self.slot(slot)?;
        let at = self.place_of(held);
        (self.order.get(at) == Some(&slot)).then_some(at)
    }

    fn held_at(&self, index: usize) -> Option<&Held> {
        self.order.get(index).and_then(|s| self.slot(*s))
    }

    fn slot(&self, slot: u32) -> Option<&Held> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    fn new_slot(&mut self, held: Held) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(held);
                slot
            }
            None => {
                self.slots.push(Some(held));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn learn_columns(&mut self, row: &Columns) {
        for name in row.keys() {
            if !self.columns.iter().any(|c| c == name) {
                self.columns.push(name.clone());
            }
        }
    }

    /// True when the row in `slot` sorts before `held`.
    fn less(&self, slot: u32, held: &Held) -> bool {
        self.slot(slot).is_some_and(|o| compare(&self.sort, o, held) == Ordering::Less)
    }

    /// The first place whose row sorts at or after this one (binary search).
    fn place_of(&self, held: &Held) -> usize {
        self.order.partition_point(|s| self.less(*s, held))
    }

    fn resort(&mut self) {
        let (slots, sort) = (&self.slots, &self.sort);
        self.order.sort_by(|a, b| match (slots[*a as usize].as_ref(), slots[*b as usize].as_ref()) {
            (Some(x), Some(y)) => compare(sort, x, y),
            _ => a.cmp(b),
        });
    }
}

/// Two rows in `sort` order: by the columns (or the key), then by key text.
fn compare(sort: &Sort, a: &Held, b: &Held) -> Ordering {
    let mut by = Ordering::Equal;
    for (column, descending) in &sort.columns {
        let o = value_cmp(a.row.get(column), b.row.get(column), sort.collation);
        by = if *descending { o.reverse() } else { o };
        if by != Ordering::Equal {
            break;
        }
    }
    if sort.columns.is_empty() && sort.collation == Collation::Natural {
        by = value_cmp(Some(&a.key), Some(&b.key), sort.collation);
    }
    by.then_with(|| a.text.cmp(&b.text))
}

/// Values in order: missing and null first, then booleans, numbers by value, text (in natural
/// order, `o-9` before `o-10`, or by its bytes), then arrays and objects (by their JSON in
/// natural order; as equal in the server's).
pub fn value_cmp(a: Option<&Value>, b: Option<&Value>, collation: Collation) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(Value::Array(_)) => 4,
            Some(Value::Object(_)) => 5,
        }
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) if collation == Collation::Exact => {
            match (x.as_i64(), y.as_i64()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => x.as_f64().unwrap_or(f64::NAN).total_cmp(&y.as_f64().unwrap_or(f64::NAN)),
            }
        }
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x.total_cmp(&y)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => match collation {
            Collation::Natural => natural_cmp(x, y),
            Collation::Exact => x.cmp(y),
        },
        _ if collation == Collation::Exact => rank(a).min(4).cmp(&rank(b).min(4)),
        (Some(Value::Array(_)), Some(Value::Array(_))) | (Some(Value::Object(_)), Some(Value::Object(_))) => {
            a.map(Value::to_string).cmp(&b.map(Value::to_string))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Text in natural order: runs of ASCII digits compare by their value.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = a.split_at(a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len()));
                let (db, rb) = b.split_at(b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len()));
                let (ta, tb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
                let by =
                    ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb)).then_with(|| da.len().cmp(&db.len()));
                if by != Ordering::Equal {
                    return by;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Columns {
        v.as_object().cloned().unwrap_or_default()
    }

    fn keys(rows: &Rows) -> Vec<String> {
        (0..rows.len()).filter_map(|i| rows.key_at(i).cloned()).collect()
    }

    /// The order kept by upserts and removals equals a full sort of the same rows.
    fn check(sort: Sort, ops: &[(&str, Option<i64>)]) {
        let mut live = Rows::default();
        live.sort(sort.clone());
        let mut model: HashMap<String, Columns> = HashMap::new();
        for (key, total) in ops {
            match total {
                Some(t) => {
                    live.upsert(json!(key), row(json!({"id": key, "total": t})));
                    model.insert((*key).to_owned(), row(json!({"id": key, "total": t})));
                }
                None => {
                    live.remove(&json!(key));
                    model.remove(*key);
                }
            }
        }
        let mut fresh = Rows::default();
        fresh.sort(sort);
        fresh.reset(model.into_iter().map(|(k, r)| (json!(k), r)));
        assert_eq!(keys(&live), keys(&fresh));
        for (i, key) in keys(&live).iter().enumerate() {
            assert_eq!(live.index_of(key), Some(i));
        }
    }

    #[test]
    fn upserts_and_removals_keep_the_order_a_full_sort_gives() {
        let ops = [
            ("o-10", Some(5)),
            ("o-9", Some(7)),
            ("o-1", Some(5)),
            ("o-100", Some(1)),
            ("o-9", Some(2)),
            ("o-1", None),
            ("o-2", Some(5)),
            ("o-10", Some(9)),
        ];
        check(Sort::default(), &ops);
        check(Sort::by("total", false), &ops);
        check(Sort::by("total", true), &ops);
        check(Sort::by("missing", false), &ops);
        check(Sort { columns: vec![("total".into(), false)], collation: Collation::Exact }, &ops);
        check(Sort { columns: Vec::new(), collation: Collation::Exact }, &ops);
    }

    #[test]
    fn random_operations_keep_the_order() {
        let mut rng = fastrand::Rng::with_seed(7);
        let names: Vec<String> = (0..40).map(|i| format!("k-{i}")).collect();
        let mut ops = Vec::new();
        for _ in 0..400 {
            let key = names[rng.usize(0..40)].as_str();
            let total = if rng.u8(0..4) == 0 { None } else { Some(rng.i64(0..10)) };
            ops.push((key, total));
        }
        check(Sort::by("total", true), &ops);
        check(Sort::default(), &ops);
    }

    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut words = vec!["o-10", "o-9", "o-009", "o-1", "a", "o-10b", "o-10a"];
        words.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(words, ["a", "o-1", "o-9", "o-009", "o-10", "o-10a", "o-10b"]);
    }
}
