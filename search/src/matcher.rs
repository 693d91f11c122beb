//! Whether one row's words match a search's text, without an index: a changed row that matches
//! neither before nor after its change cannot change what a search found, so a live search
//! need not run again for it.
//!
//! ```
//! use lucarne_search::{IndexSpec, Matcher};
//! use serde_json::json;
//!
//! let spec = IndexSpec { searchable: vec!["customer".into()], facets: vec![] };
//! let typed = Matcher::new(&spec, "lovelcae ad");
//! let row = |name: &str| json!({ "customer": name }).as_object().cloned().unwrap_or_default();
//! assert!(typed.matches(&row("Ada Lovelace"))); // one swap; "ad" is typed so far
//! assert!(!typed.matches(&row("Grace Hopper")));
//! ```

use lucarne_protocol::Columns;

use crate::fold::{Word, words};
use crate::index::{IndexSpec, MAX_WORDS, text_of};
use crate::typo::matches;

/// A search's words, to test rows one by one under the same rules as the index.
#[derive(Debug)]
pub struct Matcher {
    query: QueryWords,
    columns: Vec<String>,
}

impl Matcher {
    /// The words of `text`, searched in the spec's searchable columns.
    pub fn new(spec: &IndexSpec, text: &str) -> Matcher {
        Matcher { query: QueryWords::new(text), columns: spec.searchable.clone() }
    }

    /// Whether every word of the search matches a word of the row (any row, for no words).
    pub fn matches(&self, row: &Columns) -> bool {
        if self.query.words.is_empty() {
            return true;
        }
        let row: Vec<Word> =
            self.columns.iter().filter_map(|c| row.get(c).and_then(text_of)).flat_map(words).collect();
        self.query.each().all(|(q, prefix)| row.iter().any(|w| matches(&q.text, &w.text, prefix).is_some()))
    }
}

/// A query's words, the last one a prefix unless something follows it.
#[derive(Debug)]
pub(crate) struct QueryWords {
    pub(crate) words: Vec<Word>,
    /// The last word is complete (a separator follows it).
    complete: bool,
}

impl QueryWords {
    pub(crate) fn new(text: &str) -> QueryWords {
        let mut words: Vec<Word> = words(text).collect();
        let mut complete = words.last().is_none_or(|w| w.range.end < text.len());
        if words.len() > MAX_WORDS {
            // Past the limit the words are dropped; the last one kept is complete.
            words.truncate(MAX_WORDS);
            complete = true;
        }
        QueryWords { words, complete }
    }

    /// Each word, with whether it matches as a prefix.
    pub(crate) fn each(&self) -> impl Iterator<Item = (&Word, bool)> {
        let last = self.words.len().saturating_sub(1);
        self.words.iter().enumerate().map(move |(i, w)| (w, i == last && !self.complete))
    }
}
