//! The search messages: `define_search` / `search_defined`, `drop_search` / `search_dropped`, and
//! `search` / `search_result` (docs/protocol.md §15).
//!
//! ```
//! use lucarne_protocol::{ClientMessage, decode_client};
//!
//! let text = r#"{"type":"search","id":7,"index":"orders_search","text":"ada lov",
//!     "facets":["status"],"selected":{"region":["eu","mena"]},"where":"total > 10"}"#;
//! let ClientMessage::Search(search) = decode_client(text)? else { panic!("a search") };
//! assert_eq!(search.query.text, "ada lov");
//! assert_eq!(search.query.filter.as_deref(), Some("total > 10"));
//! assert_eq!(search.query.limit, 20); // the default page
//! # Ok::<(), lucarne_protocol::DecodeError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{Columns, Key};

/// `define_search`: `CREATE SEARCH INDEX name ON view (columns) [FACETS (columns)]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefineSearch {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// The definition.
    pub sql: String,
}

/// `search_defined`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDefined {
    /// The `define_search` request id.
    pub id: u64,
    /// The index's name.
    pub name: String,
}

/// `drop_search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropSearch {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// The index.
    pub name: String,
}

/// `search_dropped`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDropped {
    /// The `drop_search` request id.
    pub id: u64,
    /// The index.
    pub name: String,
}

/// `search`: a page of the rows of an index's view that match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// The search index.
    pub index: String,
    /// What is searched for.
    #[serde(flatten)]
    pub query: SearchQuery,
}

/// What a search asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// The words typed: every one must match a word of the row (the last one also as the start
    /// of one, unless a separator follows it). Empty: every row.
    #[serde(default)]
    pub text: String,
    /// The facets to count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<String>,
    /// Selected values by facet: a row has one of each facet's values; several values of one
    /// facet are alternatives, and that facet's other values keep their counts (disjunctive).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selected: BTreeMap<String, BTreeSet<String>>,
    /// A filter in the view SQL's `WHERE` grammar over the view's columns.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Sort columns; none: the fewest typos first, then by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<SearchSort>,
    /// Rows skipped.
    #[serde(default)]
    pub offset: u64,
    /// Rows returned at most (0: only the total and the facets).
    #[serde(default = "default_limit")]
    pub limit: u64,
}

fn default_limit() -> u64 {
    20
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            text: String::new(),
            facets: Vec::new(),
            selected: BTreeMap::new(),
            filter: None,
            sort: Vec::new(),
            offset: 0,
            limit: default_limit(),
        }
    }
}

/// One sort column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSort {
    /// The column.
    pub column: String,
    /// Largest first.
    #[serde(default)]
    pub descending: bool,
}

/// `search_result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The `search` request id.
    pub id: u64,
    /// What was found.
    #[serde(flatten)]
    pub found: Found,
}

/// What a search found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// Rows found (matching the words, the filter and the selections).
    pub total: u64,
    /// The rows of the page asked for, in order.
    pub hits: Vec<SearchHit>,
    /// Counts by value for each facet asked for, the most frequent first (then by value).
    #[serde(default)]
    pub facets: BTreeMap<String, Vec<FacetCount>>,
}

/// One row found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The row's key.
    pub key: Key,
    /// The row.
    pub row: Columns,
    /// Typos in its best match of each word.
    pub typos: u32,
    /// The words that matched, by column: `[start, end)` byte ranges in the column's text
    /// (logical order, whatever the text's direction).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub highlights: BTreeMap<String, Vec<[u64; 2]>>,
}

/// A facet value and how many rows have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCount {
    /// The value (numbers and booleans as JSON writes them).
    pub value: String,
    /// Rows.
    pub count: u64,
}
