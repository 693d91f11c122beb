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
//! rows.sort(Sort { column: Some("total".into()), descending: true });
//! assert_eq!(rows.row_at(0).map(|r| r["total"].clone()), Some(json!(7)));
//! ```

use std::cmp::Ordering;
use std::collections::HashMap;

use lucarne_protocol::{Columns, Key};
use serde_json::Value;

/// How the rows are ordered: by a column (`None`: by key), ties by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sort {
    /// The column; `None` orders by the row's key.
    pub column: Option<String>,
    /// Largest first.
    pub descending: bool,
}

/// One row held.
#[derive(Debug, Clone)]
struct Held {
    key: Key,
    row: Columns,
}

/// Keyed rows in sort order, with the columns seen (see the module docs).
#[derive(Debug, Default)]
pub struct Rows {
    held: HashMap<String, Held>,
    /// Keys (their JSON text) in sort order.
    order: Vec<String>,
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
        self.held.clear();
        self.order.clear();
        self.columns.clear();
        for (key, row) in rows {
            self.learn_columns(&row);
            let text = key.to_string();
            if self.held.insert(text.clone(), Held { key, row }).is_none() {
                self.order.push(text);
            }
        }
        self.resort();
    }

    /// Puts a row in, in place of the one with its key; returns its place.
    pub fn upsert(&mut self, key: Key, row: Columns) -> usize {
        let text = key.to_string();
        self.take_out(&text);
        self.learn_columns(&row);
        let at = self.place_of(&key, &row, &text);
        self.order.insert(at, text.clone());
        self.held.insert(text, Held { key, row });
        at
    }

    /// Takes a row out; returns where it was.
    pub fn remove(&mut self, key: &Key) -> Option<usize> {
        self.take_out(&key.to_string())
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
        self.order.get(index)
    }

    /// The row at `index` in order.
    pub fn row_at(&self, index: usize) -> Option<&Columns> {
        self.order.get(index).and_then(|k| self.held.get(k)).map(|h| &h.row)
    }

    /// The row held under a key's JSON text.
    pub fn get(&self, key_text: &str) -> Option<(&Key, &Columns)> {
        self.held.get(key_text).map(|h| (&h.key, &h.row))
    }

    /// Where the row with this key's JSON text stands in order.
    pub fn index_of(&self, key_text: &str) -> Option<usize> {
        let held = self.held.get(key_text)?;
        let at = self.place_of(&held.key, &held.row, key_text);
        (self.order.get(at).map(String::as_str) == Some(key_text)).then_some(at)
    }

    fn take_out(&mut self, text: &str) -> Option<usize> {
        let at = self.index_of(text)?;
        self.order.remove(at);
        self.held.remove(text);
        Some(at)
    }

    fn learn_columns(&mut self, row: &Columns) {
        for name in row.keys() {
            if !self.columns.iter().any(|c| c == name) {
                self.columns.push(name.clone());
            }
        }
    }

    /// The first place whose row sorts at or after this one (binary search).
    fn place_of(&self, key: &Key, row: &Columns, text: &str) -> usize {
        self.order.partition_point(|other| {
            let Some(o) = self.held.get(other) else { return false };
            compare(&self.sort, (&o.key, &o.row, other), (key, row, text)) == Ordering::Less
        })
    }

    fn resort(&mut self) {
        let held = &self.held;
        let sort = &self.sort;
        self.order.sort_by(|a, b| match (held.get(a), held.get(b)) {
            (Some(x), Some(y)) => compare(sort, (&x.key, &x.row, a), (&y.key, &y.row, b)),
            _ => a.cmp(b),
        });
    }
}

/// Two rows in `sort` order: by the column (or key), then by key text.
fn compare(sort: &Sort, a: (&Key, &Columns, &str), b: (&Key, &Columns, &str)) -> Ordering {
    let by = match &sort.column {
        Some(column) => value_cmp(a.1.get(column), b.1.get(column)),
        None => value_cmp(Some(a.0), Some(b.0)),
    };
    let by = if sort.descending { by.reverse() } else { by };
    by.then_with(|| a.2.cmp(b.2))
}

/// Values in a person's order: missing and null first, then booleans, numbers by value, text
/// in natural order (`o-9` before `o-10`), then arrays and objects by their JSON.
pub fn value_cmp(a: Option<&Value>, b: Option<&Value>) -> Ordering {
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
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x.total_cmp(&y)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => natural_cmp(x, y),
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
        check(Sort { column: Some("total".into()), descending: false }, &ops);
        check(Sort { column: Some("total".into()), descending: true }, &ops);
        check(Sort { column: Some("missing".into()), descending: false }, &ops);
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
        check(Sort { column: Some("total".into()), descending: true }, &ops);
        check(Sort::default(), &ops);
    }

    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut words = vec!["o-10", "o-9", "o-009", "o-1", "a", "o-10b", "o-10a"];
        words.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(words, ["a", "o-1", "o-9", "o-009", "o-10", "o-10a", "o-10b"]);
    }
}
