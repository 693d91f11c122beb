//! Search over a view's rows, Lucarne's way: typo-tolerant word matching with case, accents,
//! Arabic harakat and tatweel and Hebrew niqqud folded, the last word matched as typed, facet
//! counts that keep a facet's other values when some are selected (disjunctive), filters given
//! by the caller (the view SQL's `WHERE`), sorting, pages and highlights.
//!
//! ```
//! use lucarne_search::{IndexSpec, SearchIndex, SearchQuery};
//! use serde_json::json;
//!
//! let mut index = SearchIndex::new(IndexSpec { searchable: vec!["name".into()], facets: vec![] })?;
//! let row = json!({ "name": "مُحَمَّد Lovelace" });
//! index.upsert(json!(1), row.as_object().cloned().unwrap_or_default())?;
//! index.commit()?;
//! let hits = index.search(&SearchQuery { text: "محمد lovelcae".into(), ..Default::default() }, &|_| true)?;
//! assert_eq!(hits.hits[0].typos, 1); // one swap in "lovelcae"
//! assert_eq!(hits.hits[0].highlights["name"], [[0, 16], [17, 25]]); // bytes of the text as stored
//! # Ok::<(), lucarne_search::SearchError>(())
//! ```
//!
//! Layering: depends on the protocol crate (rows) and tantivy (the term dictionary and its
//! Levenshtein automata; without default features, so no C); no I/O of its own — the index is
//! in memory, built and kept current by the server from the view's rows and changes.

pub mod fold;
mod held;
mod index;
mod matcher;
pub mod memory;
pub mod release;
mod row;
pub mod typo;

pub use index::{IndexSpec, MAX_WORDS, SearchError, SearchIndex, facet_value};
pub use lucarne_protocol::{FacetCount, Found, SearchHit, SearchQuery, SearchSort};
pub use matcher::Matcher;
pub use row::RowRef;
