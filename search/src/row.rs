//! The rows an index keeps beside tantivy, held compactly: each column's name is kept once per
//! index and numbered, a row holds its values by those numbers (in the row's own column order),
//! and a search's filter reads a row by name through [`RowRef`] without building a map.
//!
//! ```
//! use lucarne_search::{IndexSpec, RowRef, SearchIndex, SearchQuery};
//! use serde_json::json;
//!
//! let mut index = SearchIndex::new(IndexSpec { searchable: vec!["name".into()], facets: vec![] })?;
//! for (id, name, total) in [(1, "Ada", 12.5), (2, "Adèle", 3.0)] {
//!     index.upsert(json!(id), json!({ "name": name, "total": total }).as_object().cloned().unwrap_or_default())?;
//! }
//! index.commit()?;
//! // The caller's filter reads the held row by column name.
//! let big = |row: &RowRef<'_>| row.get("total").and_then(|t| t.as_f64()).is_some_and(|t| t > 10.0);
//! let found = index.search(&SearchQuery { text: "ad".into(), ..Default::default() }, &big)?;
//! assert_eq!(found.hits.len(), 1);
//! assert_eq!(found.hits[0].row["name"], "Ada"); // the hit's columns, as they were put in
//! # Ok::<(), lucarne_search::SearchError>(())
//! ```
//!
//! Why: a `serde_json` map per row (its hash table, and each column's name allocated again for
//! every row) was most of what an index held in memory beside tantivy's segments; a row's
//! values are packed in one allocation too (a filter or a sort reads a value out when it asks).

use std::collections::HashMap;

use lucarne_protocol::{Columns, packed};
use serde_json::Value;

/// Names numbered in the order first seen, kept while the index lives: the rows' column names
/// (a view has a fixed set) and each facet's values (counted by number: no hashing per row).
/// The names come from rows, so the hasher is seeded per process (as the store's rows in memory
/// are keyed).
#[derive(Debug, Default)]
pub(crate) struct Numbered {
    names: Vec<Box<str>>,
    numbers: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
}

impl Numbered {
    /// The number of a name, given one when new.
    pub(crate) fn number(&mut self, name: &str) -> u32 {
        if let Some(n) = self.find(name) {
            return n;
        }
        let n = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.into());
        self.numbers.insert(name.into(), n);
        n
    }

    /// The number of a name seen before.
    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }

    /// The names, by number.
    pub(crate) fn names(&self) -> &[Box<str>] {
        &self.names
    }

    fn name(&self, number: u32) -> &str {
        self.names.get(number as usize).map_or("", |n| n)
    }
}

/// One row's columns, by number, in the row's own order, packed: each column's number as a
/// varint, then its value ([`lucarne_protocol::packed`]). Borrowed from the row held
/// ([`crate::held::Doc`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeldRow<'a>(pub(crate) &'a [u8]);

/// Packs `row` onto `out`, numbering any column not seen before.
pub(crate) fn pack(row: &Columns, names: &mut Numbered, out: &mut Vec<u8>) {
    for (name, value) in row {
        packed::write_varint(out, u64::from(names.number(name)));
        packed::write_value(out, value);
    }
}

impl<'a> HeldRow<'a> {
    /// The value of column number `number`, read out of the row.
    pub(crate) fn get(&self, number: u32) -> Option<Value> {
        self.seek(number)?.value().ok()
    }

    /// A reader at the value of column number `number`.
    fn seek(&self, number: u32) -> Option<packed::Reader<'a>> {
        let mut reader = packed::Reader::new(self.0);
        while !reader.is_empty() {
            if reader.varint().ok()? == u64::from(number) {
                return Some(reader);
            }
            reader.skip_value().ok()?;
        }
        None
    }

    /// The value of column number `number` as a sort orders it, its text borrowed from the
    /// row (no allocation for the rows a search sorts).
    pub(crate) fn sorted(&self, number: u32) -> Option<Sorted<'a>> {
        let mut reader = self.seek(number)?;
        if let Some(text) = reader.text_value().ok()? {
            return Some(Sorted::Text(text));
        }
        Some(match reader.value().ok()? {
            Value::Null => Sorted::Null,
            Value::Bool(b) => Sorted::Bool(b),
            Value::Number(n) => Sorted::Number(n.as_f64().unwrap_or(0.0)),
            // A text was read borrowed above: only arrays and objects are left.
            Value::String(_) | Value::Array(_) | Value::Object(_) => Sorted::Other,
        })
    }

    /// Each column's number and value, in the row's order (the bytes are the index's own:
    /// they read back whole).
    fn columns(&self) -> impl Iterator<Item = (u32, Value)> + 'a {
        let mut reader = packed::Reader::new(self.0);
        std::iter::from_fn(move || {
            if reader.is_empty() {
                return None;
            }
            let number = u32::try_from(reader.varint().ok()?).ok()?;
            Some((number, reader.value().ok()?))
        })
    }
}

/// A value as a sort orders it: missing and null first, then booleans, numbers (as `f64`),
/// texts (by their bytes), and arrays and objects last, all equal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sorted<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Text(&'a str),
    Other,
}

impl Sorted<'_> {
    fn rank(value: Option<&Self>) -> u8 {
        match value {
            None | Some(Sorted::Null) => 0,
            Some(Sorted::Bool(_)) => 1,
            Some(Sorted::Number(_)) => 2,
            Some(Sorted::Text(_)) => 3,
            Some(Sorted::Other) => 4,
        }
    }

    /// The order of two values (`None`: the row lacks the column).
    pub(crate) fn compare(a: Option<&Self>, b: Option<&Self>) -> std::cmp::Ordering {
        match (a, b) {
            (Some(Sorted::Number(x)), Some(Sorted::Number(y))) => x.total_cmp(y),
            (Some(Sorted::Text(x)), Some(Sorted::Text(y))) => x.cmp(y),
            (Some(Sorted::Bool(x)), Some(Sorted::Bool(y))) => x.cmp(y),
            _ => Self::rank(a).cmp(&Self::rank(b)),
        }
    }
}

/// A row the index holds, read by column name: what a search's filter is given.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    names: &'a Numbered,
    row: HeldRow<'a>,
}

impl<'a> RowRef<'a> {
    pub(crate) fn new(names: &'a Numbered, row: HeldRow<'a>) -> RowRef<'a> {
        RowRef { names, row }
    }

    /// The value of a column, read out of the row; `None` when the row has no such column.
    pub fn get(&self, column: &str) -> Option<Value> {
        self.row.get(self.names.find(column)?)
    }

    /// The row's columns, in the order they were put in.
    pub fn to_columns(&self) -> Columns {
        self.row.columns().map(|(n, v)| (self.names.name(n).to_owned(), v)).collect()
    }
}

impl std::fmt::Debug for RowRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.row.columns().map(|(n, v)| (self.names.name(n), v))).finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{IndexSpec, SearchIndex};

    /// A row reads back as it was put in — its columns, their values and their order — whatever
    /// columns the rows beside it have, and a column it lacks reads as absent.
    #[test]
    fn a_held_row_reads_back_as_it_was_put_in() {
        let mut index = SearchIndex::new(IndexSpec { searchable: vec!["name".into()], facets: vec![] })
            .expect("an index");
        let rows = [
            json!({ "name": "Ada", "total": 12.5, "tags": ["a", { "b": null }] }),
            json!({ "total": 3, "name": "نور", "extra": null }),
            json!({}),
        ];
        for (key, row) in rows.iter().enumerate() {
            index.upsert(json!(key), row.as_object().cloned().unwrap_or_default()).expect("upsert");
        }
        // Put in again with other columns, under the same key: the new row alone.
        let again = json!({ "other": 1, "name": "Ada" });
        index.upsert(json!(0), again.as_object().cloned().unwrap_or_default()).expect("upsert");
        let held = index.row(&json!(0)).expect("held");
        assert_eq!(serde_json::to_string(&held.to_columns()).ok(), serde_json::to_string(&again).ok());
        assert_eq!(held.get("total"), None);
        index.upsert(json!(0), rows[0].as_object().cloned().unwrap_or_default()).expect("upsert");
        for (key, row) in rows.iter().enumerate() {
            let held = index.row(&json!(key)).expect("held");
            let columns = held.to_columns();
            assert_eq!(serde_json::to_string(&columns).ok(), serde_json::to_string(row).ok());
            assert_eq!(held.get("total").as_ref(), row.get("total"));
            assert_eq!(held.get("extra").as_ref(), row.get("extra"), "null is a value, absent is none");
            assert_eq!(held.get("nowhere"), None);
        }
        index.remove(&json!(1));
        assert!(index.row(&json!(1)).is_none(), "taken out");
        assert_eq!(index.len(), 2);
    }

    /// A sort orders values read out of the rows held as it always has: missing and null first
    /// (equal), then false before true, numbers by value whatever their kind, texts by their
    /// bytes, and arrays and objects last (equal).
    #[test]
    fn a_sort_orders_values_by_kind_then_value() {
        use super::{HeldRow, Numbered, Sorted, pack};
        let values = [
            None,
            Some(json!(null)),
            Some(json!(false)),
            Some(json!(true)),
            Some(json!(-3)),
            Some(json!(0.5)),
            Some(json!(2)),
            Some(json!(u64::MAX)),
            Some(json!("")),
            Some(json!("B")),
            Some(json!("a")),
            Some(json!("é")),
            Some(json!([1])),
            Some(json!({ "a": 1 })),
        ];
        let mut names = Numbered::default();
        let number = names.number("v");
        let rows: Vec<Vec<u8>> = values
            .iter()
            .map(|v| {
                let mut row = json!({ "other": 1 }).as_object().cloned().unwrap_or_default();
                if let Some(v) = v {
                    row.insert("v".into(), v.clone());
                }
                let mut out = Vec::new();
                pack(&row, &mut names, &mut out);
                out
            })
            .collect();
        let sorted: Vec<Option<Sorted<'_>>> = rows.iter().map(|r| HeldRow(r).sorted(number)).collect();
        // Ties: missing and null; an array and an object.
        let place = |k: usize| match k {
            0 | 1 => 0,
            12 | 13 => 12,
            k => k,
        };
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                let got = Sorted::compare(a.as_ref(), b.as_ref());
                assert_eq!(got, place(i).cmp(&place(j)), "{:?} against {:?}", values[i], values[j]);
            }
        }
        assert_eq!(sorted[10], Some(Sorted::Text("a")), "a text is borrowed as it is");
    }

    /// A hit's key is the key its row was put in with, whatever its shape (the index keeps only
    /// its JSON text), and a row's words are found whatever words the rows beside it have.
    #[test]
    fn a_hits_key_is_the_key_put_in() {
        let mut index = SearchIndex::new(IndexSpec { searchable: vec!["name".into()], facets: vec![] })
            .expect("an index");
        let keys = [
            json!("o-1 \"quoted\" ☃ نور"),
            json!(0.1),
            json!(-7),
            json!(u64::MAX),
            json!(1e300),
            json!(["eu", 3, null]),
            json!({ "b": 1, "a": [true] }),
        ];
        // Words under five letters match only exactly or as a prefix: one row each.
        let words = ["kiwi", "lime", "pear", "fig", "date", "yuzu", "corn"];
        for (key, word) in keys.iter().zip(words) {
            let row = json!({ "name": format!("ada {word}") });
            index.upsert(key.clone(), row.as_object().cloned().unwrap_or_default()).expect("upsert");
        }
        index.upsert(json!("no words"), serde_json::Map::new()).expect("upsert");
        index.commit().expect("commit");
        for (key, word) in keys.iter().zip(words) {
            let query = crate::SearchQuery { text: word.into(), ..Default::default() };
            let found = index.search(&query, &|_| true).expect("search");
            assert_eq!(found.hits.len(), 1, "{word}");
            assert_eq!(&found.hits[0].key, key);
        }
        let query = crate::SearchQuery { text: "ada".into(), ..Default::default() };
        assert_eq!(index.search(&query, &|_| true).expect("search").total, keys.len() as u64);
    }
}
