//! [`Rows`]: a snapshot's rows, each kept as the JSON text it arrived in until someone asks for
//! its columns.
//!
//! ```
//! use lucarne_protocol::{ServerMessage, decode_server};
//!
//! let frame = r#"{"type":"snapshot_rows","sub":1,"rows":[{"key":"o-1","row":{"order_id":"o-1","total":5.5}}]}"#;
//! let Ok(ServerMessage::SnapshotRows(chunk)) = decode_server(frame) else { panic!("a chunk") };
//! assert_eq!(chunk.rows.len(), 1);
//!
//! // An app's own type, read straight from the row's text…
//! #[derive(serde::Deserialize)]
//! struct Order { total: f64 }
//! let (key, row) = chunk.rows.entries().next().unwrap();
//! assert_eq!((key.as_str(), row.decode::<Order>().unwrap().total), (Some("o-1"), 5.5));
//! // …or the generic columns, decoded once when first asked for.
//! assert_eq!(chunk.rows[0].row["order_id"], "o-1");
//! ```
//!
//! Why: a 100 000-row snapshot decoded into [`Columns`] builds a map per row (its column names
//! allocated again for every row) that a typed consumer such as the runtime's `LiveView` then
//! reads once and drops. Kept as text, a row costs one key and a byte range into its frame.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::{Columns, Key, Row};

/// The rows of a snapshot, in the order they came.
///
/// Rows decoded from a frame by [`decode_server`](crate::decode_server) keep each row's JSON text
/// (the frame is held once, each row is its key and a range of it): [`Rows::entries`] hands the
/// text to a typed reader ([`RowData::decode`]). Reading them as [`Row`]s (`rows[0]`,
/// `rows.iter()`, any slice method) decodes every row's [`Columns`] once, the first time, and
/// keeps them. Rows built from [`Row`]s ([`From<Vec<Row>>`], a generic serde decode) are held
/// decoded.
///
/// Every row is a JSON object (a frame with another row is refused whole). A row that does not
/// decode as [`Columns`] — nested deeper than `serde_json` reads, or with a lone surrogate
/// escape; only a server outside the protocol sends one — is left out of the decoded rows, so
/// [`Rows::len`] (which counts it) may exceed `rows.iter().count()`; [`Rows::entries`] still
/// yields it, and whether a typed read of it succeeds depends on the type (one that skips the
/// bad column may). Equality and serialization go by the decoded rows.
#[derive(Clone, Default)]
pub struct Rows {
    held: Held,
}

#[derive(Clone)]
enum Held {
    Decoded(Vec<Row>),
    Text { chunks: Vec<Chunk>, len: usize, decoded: OnceLock<Vec<Row>> },
}

impl Default for Held {
    fn default() -> Self {
        Held::Decoded(Vec::new())
    }
}

/// One frame's text and where each of its rows' columns stand in it.
#[derive(Clone)]
struct Chunk {
    text: Arc<str>,
    rows: Vec<(Key, Range<usize>)>,
}

/// One row's columns as [`Rows::entries`] hands them out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowData<'a> {
    /// The row's JSON object, as it arrived.
    Text(&'a str),
    /// The row's columns, decoded.
    Columns(&'a Columns),
}

impl RowData<'_> {
    /// Reads the row as `T` (straight from the text when it is text).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self {
            RowData::Text(text) => serde_json::from_str(text),
            RowData::Columns(columns) => T::deserialize(*columns),
        }
    }
}

impl Rows {
    /// No rows.
    pub fn new() -> Rows {
        Rows::default()
    }

    /// Rows read from `frame`, each given as its key and its columns' raw JSON (a slice of
    /// `frame`). `None` when a row is not a JSON object or not a slice of `frame`.
    pub(crate) fn from_frame(frame: &str, rows: Vec<(Key, &RawValue)>) -> Option<Rows> {
        let start = frame.as_ptr() as usize;
        let len = rows.len();
        let rows = rows
            .into_iter()
            .map(|(key, raw)| {
                let text = raw.get();
                let from = (text.as_ptr() as usize).checked_sub(start)?;
                let within = from + text.len() <= frame.len() && text.starts_with('{');
                within.then_some((key, from..from + text.len()))
            })
            .collect::<Option<Vec<_>>>()?;
        let chunks = vec![Chunk { text: frame.into(), rows }];
        Some(Rows { held: Held::Text { chunks, len, decoded: OnceLock::new() } })
    }

    /// How many rows came (without decoding any), those that do not decode as columns
    /// included (see [`Rows`]).
    pub fn len(&self) -> usize {
        match &self.held {
            Held::Decoded(rows) => rows.len(),
            Held::Text { len, .. } => *len,
        }
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each row's key and columns, as held: the text for rows read from a frame.
    pub fn entries(&self) -> impl Iterator<Item = (&Key, RowData<'_>)> {
        let (decoded, chunks) = match &self.held {
            Held::Decoded(rows) => (rows.as_slice(), &[][..]),
            Held::Text { chunks, .. } => (&[][..], chunks.as_slice()),
        };
        let decoded = decoded.iter().map(|Row { key, row }| (key, RowData::Columns(row)));
        let text = chunks.iter().flat_map(|chunk| {
            chunk.rows.iter().map(|(key, at)| (key, RowData::Text(&chunk.text[at.clone()])))
        });
        decoded.chain(text)
    }

    /// Adds `more` after these rows.
    pub fn append(&mut self, more: Rows) {
        if more.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = more;
            return;
        }
        match (&mut self.held, more.held) {
            (Held::Text { chunks, len, decoded }, Held::Text { chunks: added, len: count, .. }) => {
                chunks.extend(added);
                *len += count;
                *decoded = OnceLock::new();
            }
            (_, more) => {
                let mut rows = std::mem::take(self).into_vec();
                rows.extend(Rows { held: more }.into_vec());
                self.held = Held::Decoded(rows);
            }
        }
    }

    /// The rows, decoded.
    pub fn into_vec(self) -> Vec<Row> {
        match self.held {
            Held::Decoded(rows) => rows,
            Held::Text { chunks, decoded, .. } => decoded.into_inner().unwrap_or_else(|| decode(&chunks)),
        }
    }
}

/// Every text row that decodes as columns.
fn decode(chunks: &[Chunk]) -> Vec<Row> {
    chunks
        .iter()
        .flat_map(|chunk| {
            chunk.rows.iter().filter_map(|(key, at)| {
                let row = serde_json::from_str::<Columns>(&chunk.text[at.clone()]).ok()?;
                Some(Row { key: key.clone(), row })
            })
        })
        .collect()
}

impl Deref for Rows {
    type Target = [Row];

    fn deref(&self) -> &[Row] {
        match &self.held {
            Held::Decoded(rows) => rows,
            Held::Text { chunks, decoded, .. } => decoded.get_or_init(|| decode(chunks)),
        }
    }
}

impl From<Vec<Row>> for Rows {
    fn from(rows: Vec<Row>) -> Rows {
        Rows { held: Held::Decoded(rows) }
    }
}

impl FromIterator<Row> for Rows {
    fn from_iter<I: IntoIterator<Item = Row>>(rows: I) -> Rows {
        Rows::from(rows.into_iter().collect::<Vec<_>>())
    }
}

impl IntoIterator for Rows {
    type Item = Row;
    type IntoIter = std::vec::IntoIter<Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a Row;
    type IntoIter = std::slice::Iter<'a, Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        self.len() == other.len() && **self == **other
    }
}

impl fmt::Debug for Rows {
    /// Each row as held (text rows are not decoded for it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rows, D::Error> {
        Vec::<Row>::deserialize(deserializer).map(Rows::from)
    }
}

#[cfg(test)]
mod tests;
