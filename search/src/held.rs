//! The rows an index holds beside tantivy: each row in one allocation (its facet numbers, its
//! key's JSON text, its folded words and its packed columns), in a list by tantivy document id,
//! found by key through a table of ids that keeps no key of its own.
//!
//! ```
//! use lucarne_search::{IndexSpec, SearchIndex, SearchQuery};
//! use serde_json::json;
//!
//! let mut index = SearchIndex::new(IndexSpec { searchable: vec!["name".into()], facets: vec![] })?;
//! let row = |name: &str| json!({ "name": name }).as_object().cloned().unwrap_or_default();
//! index.upsert(json!("o-1"), row("Ada"))?;
//! index.commit()?;
//! index.upsert(json!("o-1"), row("Grace"))?; // in place of the first: one row held
//! index.commit()?;
//! assert_eq!(index.len(), 1);
//! let found = index.search(&SearchQuery { text: "grace".into(), ..Default::default() }, &|_| true)?;
//! assert_eq!(found.hits[0].key, json!("o-1"));
//! # Ok::<(), lucarne_search::SearchError>(())
//! ```
//!
//! Why: a row's parts in allocations of their own, a hash map from id to row and another from
//! key to id took 33.7 MB for the seeded corpus's 100 000 rows (~340 bytes a row); here a row
//! costs its bytes (with 12 of offsets and 4 a facet: ~144 bytes a row on that corpus), one
//! allocation, a 16-byte place in the list and a 4-byte id in the table (~6.5 bytes with the
//! table's control bytes and spare room).
//!
//! A row put in again, or taken out, leaves its place empty; a place is given again only after
//! the next commit, once the document that had its id is deleted in what tantivy's searcher
//! sees (a delete affects only the documents added before it, so the new one with that id
//! stays). Until then, a search that finds the old document finds no row in its place.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use serde_json::Value;

use crate::SearchError;

/// One row held (see the module docs), read without parsing: three offsets (where its key,
/// its words and its columns start, each a `u32`), each facet's value number plus one (0: none,
/// a `u32` each, as many as the spec has facets), its key's JSON text, its folded words (each
/// after a NUL byte, each once) and its columns as [`crate::row`] packs them.
#[derive(Debug)]
pub(crate) struct Doc(Box<[u8]>);

/// What comes before each of a row's words (no word holds a NUL: it is a word boundary in
/// Unicode's segmentation).
const WORD_END: u8 = 0;

/// The offsets' bytes.
const HEADER: usize = 12;

impl Doc {
    /// A row: its facet value numbers, its key's JSON text, its folded words (each once) and
    /// its columns, which `row` packs onto the bytes it is given. Written in `scratch` first,
    /// then copied into an allocation of its size: its parts are not each allocated and let go
    /// (which left the allocator's free lists long and made the searches after slower).
    /// `Err` when it would hold more than 4 GiB.
    pub(crate) fn new(
        scratch: &mut Vec<u8>,
        facets: &[Option<u32>],
        key_text: &str,
        words: &[String],
        row: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Doc, SearchError> {
        scratch.clear();
        scratch.resize(HEADER, 0);
        for facet in facets {
            // A number with no room for the one added reads as none (`Numbered` gives it only
            // once it has run out of numbers).
            scratch.extend_from_slice(&facet.and_then(|n| n.checked_add(1)).unwrap_or(0).to_le_bytes());
        }
        let key_at = scratch.len();
        scratch.extend_from_slice(key_text.as_bytes());
        let words_at = scratch.len();
        for word in words {
            scratch.push(WORD_END);
            scratch.extend_from_slice(word.as_bytes());
        }
        let row_at = scratch.len();
        row(scratch);
        for (place, at) in [key_at, words_at, row_at].into_iter().enumerate() {
            let at = u32::try_from(at).map_err(|_| SearchError::RowTooLarge)?;
            if let Some(bytes) = scratch.get_mut(place * 4..place * 4 + 4) {
                bytes.copy_from_slice(&at.to_le_bytes());
            }
        }
        u32::try_from(scratch.len()).map_err(|_| SearchError::RowTooLarge)?;
        Ok(Doc(scratch.as_slice().into()))
    }

    /// The `u32` at byte `at`.
    fn u32_at(&self, at: usize) -> Option<u32> {
        let bytes = self.0.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    }

    /// Where its key, its words and its columns start.
    fn offsets(&self) -> [usize; 3] {
        [0, 4, 8].map(|at| self.u32_at(at).map_or(0, |n| n as usize))
    }

    /// Its value number of the facet at `at` in the spec.
    pub(crate) fn facet(&self, at: usize) -> Option<u32> {
        let [key_at, ..] = self.offsets();
        let place = at.checked_mul(4)?.checked_add(HEADER)?;
        place.checked_add(4).filter(|end| *end <= key_at)?;
        self.u32_at(place)?.checked_sub(1)
    }

    /// Its key's JSON text, as bytes (ties are ranked by it: UTF-8 orders as its text does).
    pub(crate) fn key_text(&self) -> &[u8] {
        let [key_at, words_at, _] = self.offsets();
        self.0.get(key_at..words_at).unwrap_or_default()
    }

    /// Its key, read back from the JSON text it was put in as.
    pub(crate) fn key(&self) -> Value {
        // Written by `serde_json` from a `Value` (with `float_roundtrip`): it reads back the
        // same, but for a key nested deeper than `serde_json` reads (128 levels), which no
        // view's row has: its values come from payloads read under that limit. Such a key would
        // come back as its text.
        let text = self.key_text();
        serde_json::from_slice(text)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(text).into_owned()))
    }

    /// Its folded words, each once, as bytes (a word is checked as UTF-8 where it is read as
    /// text: most are met again in a search and looked up by their bytes).
    pub(crate) fn words(&self) -> impl Iterator<Item = &[u8]> {
        let [_, words_at, row_at] = self.offsets();
        self.0.get(words_at..row_at).unwrap_or_default().split(|b| *b == WORD_END).skip(1)
    }

    /// Its columns, packed.
    pub(crate) fn row(&self) -> &[u8] {
        let [_, _, row_at] = self.offsets();
        self.0.get(row_at..).unwrap_or_default()
    }

    /// The bytes it holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The rows held, by document id, and their ids by key (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// Rows by document id; `None`: an id free, or freed since the last commit.
    slots: Vec<Option<Doc>>,
    /// The ids of the rows held, hashed by their key's text (compared with the row's).
    ids: HashTable<u32>,
    /// Seeded per process: keys come from clients' rows.
    hasher: foldhash::fast::RandomState,
    /// Ids that may be given again (freed before the last commit).
    free: Vec<u32>,
    /// Ids freed since the last commit.
    freed: Vec<u32>,
}

impl Held {
    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The row with document id `id`.
    pub(crate) fn get(&self, id: u64) -> Option<&Doc> {
        self.slots.get(usize::try_from(id).ok()?)?.as_ref()
    }

    /// Every row held.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Doc> {
        self.slots.iter().flatten()
    }

    /// The id of the row whose key's JSON text is `key_text`.
    pub(crate) fn find(&self, key_text: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key_text.as_bytes());
        self.ids.find(hash, |&id| key_in(&self.slots, id) == Some(key_text.as_bytes())).copied()
    }

    /// Takes the row with this key out; its id, if one was held (free again after the next
    /// commit).
    pub(crate) fn take(&mut self, key_text: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key_text.as_bytes());
        let slots = &self.slots;
        let entry = self.ids.find_entry(hash, |&id| key_in(slots, id) == Some(key_text.as_bytes())).ok()?;
        let (id, _) = entry.remove();
        if let Some(slot) = self.slots.get_mut(id as usize) {
            *slot = None;
        }
        self.freed.push(id);
        Some(id)
    }

    /// The id the next row put in takes.
    pub(crate) fn next_id(&self) -> Result<u32, SearchError> {
        match self.free.last() {
            Some(&id) => Ok(id),
            None => u32::try_from(self.slots.len()).map_err(|_| SearchError::Full),
        }
    }

    /// Holds `doc` under [`next_id`](Self::next_id) (the same id until a row is put in or a
    /// commit is made: an id freed meanwhile is not free yet), whose key none held has (taken
    /// out first).
    pub(crate) fn put(&mut self, doc: Doc) -> Result<u32, SearchError> {
        let id = self.next_id()?;
        let hash = self.hasher.hash_one(doc.key_text());
        if self.free.pop().is_none() {
            self.slots.push(None);
        }
        if let Some(slot) = self.slots.get_mut(id as usize) {
            *slot = Some(doc);
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.ids.insert_unique(hash, id, |&other| hasher.hash_one(key_in(slots, other).unwrap_or_default()));
        Ok(id)
    }

    /// After a commit: the ids freed before it may be given again.
    pub(crate) fn committed(&mut self) {
        self.free.append(&mut self.freed);
    }
}

/// The key's JSON text of the row with id `id` (the table's keys, which it does not keep).
fn key_in(slots: &[Option<Doc>], id: u32) -> Option<&[u8]> {
    slots.get(id as usize)?.as_ref().map(Doc::key_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(key: &str, words: &[&str]) -> Doc {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        let row = |out: &mut Vec<u8>| out.extend_from_slice(&[7, 8, 9]);
        Doc::new(&mut Vec::new(), &[Some(3), None, Some(0)], key, &words, row).expect("small")
    }

    /// A row's parts read back as they were put in, in one allocation of about their size.
    #[test]
    fn a_row_reads_back_its_parts() {
        let d = doc("\"o-1 نور\"", &["ada", "lovelace"]);
        assert_eq!((d.facet(0), d.facet(1), d.facet(2), d.facet(3)), (Some(3), None, Some(0), None));
        assert_eq!(d.key_text(), "\"o-1 نور\"".as_bytes());
        assert_eq!(d.key(), Value::from("o-1 نور"));
        assert_eq!(d.words().collect::<Vec<_>>(), [&b"ada"[..], b"lovelace"]);
        assert_eq!(d.row(), [7, 8, 9]);
        // The offsets, the facets, the key, the words, the row.
        assert_eq!(d.len(), 12 + 3 * 4 + "\"o-1 نور\"".len() + 13 + 3);
        let none = doc("1", &[]);
        assert_eq!(none.words().count(), 0);
        assert_eq!(none.row(), [7, 8, 9]);
    }

    /// An id freed is given again only after a commit, and a key is found while held only.
    #[test]
    fn an_id_is_given_again_only_after_a_commit() {
        let mut held = Held::default();
        assert_eq!(held.put(doc("1", &["a"])).ok(), Some(0));
        assert_eq!(held.put(doc("2", &["b"])).ok(), Some(1));
        assert_eq!(held.take("1"), Some(0));
        assert_eq!(held.take("1"), None, "taken once");
        assert_eq!((held.find("1"), held.find("2")), (None, Some(1)));
        // Not committed yet: the old document with id 0 may still be found by a search.
        assert_eq!(held.put(doc("1", &["c"])).ok(), Some(2));
        assert!(held.get(0).is_none());
        held.committed();
        assert_eq!(held.put(doc("3", &["d"])).ok(), Some(0), "given again after the commit");
        assert_eq!(held.find("3"), Some(0));
        assert_eq!(held.get(0).map(|d| d.key_text()), Some(&b"3"[..]));
        assert_eq!((held.len(), held.iter().count()), (3, 3));
        // Many keys: each found under its own id, however the table grows.
        for n in 10..2_000 {
            held.put(doc(&n.to_string(), &[])).expect("put");
        }
        for n in 10..2_000 {
            let id = held.find(&n.to_string()).expect("held");
            assert_eq!(held.get(u64::from(id)).map(Doc::key_text), Some(n.to_string().as_bytes()));
        }
    }
}
