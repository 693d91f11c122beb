//! The search messages: `define_search` / `search_defined`, `drop_search` / `search_dropped`,
//! `search` / `search_result`, and the live search: `subscribe_search`, answered by a
//! `search_snapshot` and then `search_delta`s ([`SearchDelta::between`] and [`Found::apply`]),
//! ended by `unsubscribe` (docs/protocol.md §16).
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// `subscribe_search`: a search kept current: a [`SearchSnapshot`], then a [`SearchDelta`] each
/// time the page, the total or a facet's counts change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscribeSearch {
    /// Client-chosen subscription id (shared with `subscribe`'s); `unsubscribe` ends it.
    pub sub: u64,
    /// The search index.
    pub index: String,
    /// What is searched for.
    #[serde(flatten)]
    pub query: SearchQuery,
}

/// `search_snapshot`: everything a live search found, at the subscription's `version`; it
/// replaces what the client holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSnapshot {
    /// The subscription.
    pub sub: u64,
    /// The subscription's own version (each delta moves it on by one).
    pub version: u64,
    /// What was found.
    #[serde(flatten)]
    pub found: Found,
}

/// `search_delta`: how a live search's answer changed, from version `from` to `to`.
///
/// ```
/// use lucarne_protocol::{FacetCount, Found, SearchDelta, SearchHit};
/// use serde_json::json;
///
/// let hit = |key: &str| SearchHit { key: json!(key), row: Default::default(), typos: 0, highlights: Default::default() };
/// let old = Found { total: 2, hits: vec![hit("o-1"), hit("o-2")], facets: Default::default() };
/// let mut new = Found { total: 3, hits: vec![hit("o-3"), hit("o-1")], facets: Default::default() };
/// new.facets.insert("status".into(), vec![FacetCount { value: "paid".into(), count: 3 }]);
///
/// let delta = SearchDelta::between(1, 4, &old, &new).expect("a change");
/// assert_eq!((delta.from, delta.to), (4, 5));
/// assert_eq!(delta.remove, [json!("o-2")]);
/// let mut held = old.clone();
/// held.apply(&delta);
/// assert_eq!(held, new);
/// assert_eq!(SearchDelta::between(1, 5, &new, &new), None); // nothing changed, nothing sent
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDelta {
    /// The subscription.
    pub sub: u64,
    /// The version the delta applies to.
    pub from: u64,
    /// The version after it (`from + 1`).
    pub to: u64,
    /// Rows found now.
    pub total: u64,
    /// Hits new to the page or changed (row, typos or highlights), whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsert: Vec<SearchHit>,
    /// Keys of the hits that left the page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<Key>,
    /// The page's keys in order, when removing and appending does not give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<Key>>,
    /// The facets whose counts changed, each whole.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facets: BTreeMap<String, Vec<FacetCount>>,
}

impl SearchDelta {
    /// What turns `old` into `new` for subscription `sub` at version `from`; `None` when they
    /// are the same.
    pub fn between(sub: u64, from: u64, old: &Found, new: &Found) -> Option<SearchDelta> {
        let text = |key: &Key| key.to_string();
        let now: std::collections::HashMap<String, &SearchHit> =
            new.hits.iter().map(|h| (text(&h.key), h)).collect();
        let before: std::collections::HashMap<String, &SearchHit> =
            old.hits.iter().map(|h| (text(&h.key), h)).collect();
        let remove: Vec<Key> =
            old.hits.iter().filter(|h| !now.contains_key(&text(&h.key))).map(|h| h.key.clone()).collect();
        let upsert: Vec<SearchHit> =
            new.hits.iter().filter(|h| before.get(&text(&h.key)) != Some(h)).cloned().collect();
        // The order [`Found::apply`] gives without `order`: the hits kept, in place, then the new.
        let kept = old.hits.iter().map(|h| text(&h.key)).filter(|k| now.contains_key(k));
        let added = new.hits.iter().map(|h| text(&h.key)).filter(|k| !before.contains_key(k));
        let order = (!kept.chain(added).eq(new.hits.iter().map(|h| text(&h.key))))
            .then(|| new.hits.iter().map(|h| h.key.clone()).collect());
        let facets: BTreeMap<String, Vec<FacetCount>> = new
            .facets
            .iter()
            .filter(|(facet, counts)| old.facets.get(*facet) != Some(counts))
            .map(|(facet, counts)| (facet.clone(), counts.clone()))
            .chain(
                old.facets.keys().filter(|f| !new.facets.contains_key(*f)).map(|f| (f.clone(), Vec::new())),
            )
            .collect();
        let same = old.total == new.total && remove.is_empty() && upsert.is_empty() && facets.is_empty();
        (!same || order.is_some()).then(|| SearchDelta {
            sub,
            from,
            to: from + 1,
            total: new.total,
            upsert,
            remove,
            order,
            facets,
        })
    }
}

impl Found {
    /// Applies a [`SearchDelta`] (the caller checks its `from`): hits removed, replaced in
    /// place or appended, put in `order` when it is given; the facets given replaced.
    pub fn apply(&mut self, delta: &SearchDelta) {
        let gone: BTreeSet<String> = delta.remove.iter().map(Key::to_string).collect();
        self.hits.retain(|h| !gone.contains(&h.key.to_string()));
        for hit in &delta.upsert {
            match self.hits.iter_mut().find(|h| h.key == hit.key) {
                Some(held) => *held = hit.clone(),
                None => self.hits.push(hit.clone()),
            }
        }
        if let Some(order) = &delta.order {
            let mut by_key: std::collections::HashMap<String, SearchHit> =
                self.hits.drain(..).map(|h| (h.key.to_string(), h)).collect();
            self.hits = order.iter().filter_map(|k| by_key.remove(&k.to_string())).collect();
        }
        for (facet, counts) in &delta.facets {
            self.facets.insert(facet.clone(), counts.clone());
        }
        self.total = delta.total;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// A page of hits with distinct keys drawn from a few, in any order, each with a value and
    /// typos from a few (so that old and new pages share keys, some changed), and counts of two
    /// facets.
    fn found() -> impl Strategy<Value = Found> {
        let hit = |k: u32, v: u32, typos: u32| {
            let mut row = Columns::new();
            row.insert("v".into(), json!(v));
            SearchHit { key: json!(format!("k{k}")), row, typos, highlights: BTreeMap::new() }
        };
        let hits = proptest::sample::subsequence((0..8).collect::<Vec<u32>>(), 0..6)
            .prop_flat_map(move |keys| {
                let values = proptest::collection::vec((0..2u32, 0..2u32), keys.len());
                values.prop_map(move |values| {
                    keys.iter().zip(values).map(|(k, (v, typos))| hit(*k, v, typos)).collect::<Vec<_>>()
                })
            })
            .prop_shuffle();
        let facet = proptest::collection::vec((0..3u8, 1..4u64), 0..3);
        (hits, 0..20u64, facet.clone(), facet).prop_map(|(hits, total, a, b)| {
            let counts = |c: Vec<(u8, u64)>| {
                c.into_iter().map(|(v, count)| FacetCount { value: v.to_string(), count }).collect()
            };
            let mut facets = BTreeMap::new();
            facets.insert("region".to_owned(), counts(a));
            facets.insert("status".to_owned(), counts(b));
            Found { total, hits, facets }
        })
    }

    fn check(old: &Found, new: &Found) {
        let delta = SearchDelta::between(9, 3, old, new);
        if old == new {
            assert_eq!(delta, None, "nothing changed, nothing to send");
            return;
        }
        let delta = delta.expect("a change is sent");
        assert_eq!((delta.sub, delta.from, delta.to), (9, 3, 4));
        // What goes on the wire comes back the same.
        let text = crate::encode(&crate::ServerMessage::SearchDelta(delta.clone()));
        assert_eq!(crate::decode_server(&text).ok(), Some(crate::ServerMessage::SearchDelta(delta.clone())));
        let mut held = old.clone();
        held.apply(&delta);
        assert_eq!(&held, new, "old + delta = new, for {delta:?}");
        // Only what changed travels.
        for hit in &delta.upsert {
            assert!(!old.hits.contains(hit), "{hit:?} was held already");
        }
    }

    #[test]
    fn a_delta_carries_the_hits_that_moved_in_and_out_and_the_counts_that_changed() {
        let hit = |key: &str, v: u32| {
            let mut row = Columns::new();
            row.insert("v".into(), json!(v));
            SearchHit { key: json!(key), row, typos: 0, highlights: BTreeMap::new() }
        };
        let old =
            Found { total: 3, hits: vec![hit("a", 1), hit("b", 1), hit("c", 1)], facets: BTreeMap::new() };
        // b changed in place: one upsert, no order.
        let new = Found { hits: vec![hit("a", 1), hit("b", 2), hit("c", 1)], ..old.clone() };
        let delta = SearchDelta::between(1, 0, &old, &new).expect("b changed");
        assert_eq!((delta.upsert.len(), delta.remove.len(), delta.order.is_some()), (1, 0, false));
        // c left, d came at the end: no order needed either.
        let new = Found { hits: vec![hit("a", 1), hit("b", 1), hit("d", 1)], ..old.clone() };
        let delta = SearchDelta::between(1, 0, &old, &new).expect("d came");
        assert_eq!((delta.remove, delta.order), (vec![json!("c")], None));
        // d came first: the order is sent.
        let new = Found { hits: vec![hit("d", 1), hit("a", 1), hit("b", 1)], ..old.clone() };
        let delta = SearchDelta::between(1, 0, &old, &new).expect("d came first");
        assert_eq!(delta.order, Some(vec![json!("d"), json!("a"), json!("b")]));
        check(&old, &new);
    }

    proptest! {
        #[test]
        fn old_plus_the_delta_between_is_new(old in found(), new in found()) {
            check(&old, &new);
        }
    }
}
