//! The rows an index holds beside tantivy: each row's facet numbers, key's JSON text, folded
//! words and packed columns written one after another in pages, where each is found by tantivy
//! document id through a list, and by key through a table of ids that keeps no key of its own.
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
//! key to id took 33.7 MB for the seeded corpus's 100 000 rows (~340 bytes a row). Here a row
//! costs its bytes (with 12 of offsets and 4 a facet: ~144 bytes a row on that corpus) and 8 of
//! length and id, written one after another in pages of 64 KiB, an 8-byte place in the list
//! and a 4-byte id in the table (~6.5 bytes with the table's control bytes and spare room).
//! Pages, not an allocation per row: what a build makes and lets go of (the rows it is given,
//! tantivy's documents waiting for its indexing thread) lies between the rows held, and an
//! allocation per row left some of them in nearly every page of the heap (built from all the
//! seeded rows at once, 121–124 MB stayed resident after [`crate::release`] against 22 MB with
//! pages); in pages, what is let go of is whole pages, which [`crate::release`] hands back.
//!
//! A row put in again, or taken out, leaves its place empty; a place is given again only after
//! the next commit, once the document that had its id is deleted in what tantivy's searcher
//! sees (a delete affects only the documents added before it, so the new one with that id
//! stays). Until then, a search that finds the old document finds no row in its place. Its
//! bytes stay in their page, counted dead, until a quarter of the page is: then the page's
//! live rows are written again at the end and the page let go of (the page written to too: the
//! next row opens another). So at least three quarters of every page are rows held, but for
//! the page being written to; a page is cut to its length when it is left for another.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use serde_json::Value;

use crate::SearchError;

/// One row held (see the module docs), read without parsing: three offsets (where its key,
/// its words and its columns start, each a `u32`), each facet's value number plus one (0: none,
/// a `u32` each, as many as the spec has facets), its key's JSON text, its folded words (each
/// after a NUL byte, each once) and its columns as [`crate::row`] packs them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Doc<'a>(&'a [u8]);

/// What comes before each of a row's words (no word holds a NUL: it is a word boundary in
/// Unicode's segmentation).
const WORD_END: u8 = 0;

/// The offsets' bytes.
const HEADER: usize = 12;

/// Writes a row into `out` (cleared first), as [`Doc`] reads it: its facet value numbers, its
/// key's JSON text, its folded words (each once) and its columns, which `row` packs onto the
/// bytes it is given. `Err` when it would hold more than 4 GiB.
pub(crate) fn write(
    out: &mut Vec<u8>,
    facets: &[Option<u32>],
    key_text: &str,
    words: &[String],
    row: impl FnOnce(&mut Vec<u8>),
) -> Result<(), SearchError> {
    out.clear();
    out.resize(HEADER, 0);
    for facet in facets {
        // A number with no room for the one added reads as none (`Numbered` gives it only
        // once it has run out of numbers).
        out.extend_from_slice(&facet.and_then(|n| n.checked_add(1)).unwrap_or(0).to_le_bytes());
    }
    let key_at = out.len();
    out.extend_from_slice(key_text.as_bytes());
    let words_at = out.len();
    for word in words {
        out.push(WORD_END);
        out.extend_from_slice(word.as_bytes());
    }
    let row_at = out.len();
    row(out);
    for (place, at) in [key_at, words_at, row_at].into_iter().enumerate() {
        let at = u32::try_from(at).map_err(|_| SearchError::RowTooLarge)?;
        if let Some(bytes) = out.get_mut(place * 4..place * 4 + 4) {
            bytes.copy_from_slice(&at.to_le_bytes());
        }
    }
    // With the page's 8 bytes of length and id before it.
    u32::try_from(out.len() + ENTRY).map_err(|_| SearchError::RowTooLarge)?;
    Ok(())
}

/// The `u32` at byte `at` of `bytes`.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let bytes = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

impl<'a> Doc<'a> {
    /// Where its key, its words and its columns start.
    fn offsets(self) -> [usize; 3] {
        [0, 4, 8].map(|at| u32_at(self.0, at).map_or(0, |n| n as usize))
    }

    /// Its value number of the facet at `at` in the spec.
    pub(crate) fn facet(self, at: usize) -> Option<u32> {
        let [key_at, ..] = self.offsets();
        let place = at.checked_mul(4)?.checked_add(HEADER)?;
        place.checked_add(4).filter(|end| *end <= key_at)?;
        u32_at(self.0, place)?.checked_sub(1)
    }

    /// Its key's JSON text, as bytes (ties are ranked by it: UTF-8 orders as its text does).
    pub(crate) fn key_text(self) -> &'a [u8] {
        let [key_at, words_at, _] = self.offsets();
        self.0.get(key_at..words_at).unwrap_or_default()
    }

    /// Its key, read back from the JSON text it was put in as.
    pub(crate) fn key(self) -> Value {
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
    pub(crate) fn words(self) -> impl Iterator<Item = &'a [u8]> {
        let [_, words_at, row_at] = self.offsets();
        self.0.get(words_at..row_at).unwrap_or_default().split(|b| *b == WORD_END).skip(1)
    }

    /// Its columns, packed.
    pub(crate) fn row(self) -> &'a [u8] {
        let [_, _, row_at] = self.offsets();
        self.0.get(row_at..).unwrap_or_default()
    }
}

/// The bytes of a page rows are written in (a row larger has a page of its own size).
const PAGE: usize = 64 * 1024;

/// The bytes before each row in its page: its length and its id (`u32`s).
const ENTRY: usize = 8;

/// A place in the list that holds no row.
const EMPTY: u64 = u64::MAX;

/// Rows written one after another, each after its length and id.
#[derive(Debug, Default)]
struct Page {
    /// Never grown past its capacity: the rows in it never move but to another page.
    bytes: Vec<u8>,
    /// The bytes of rows taken out (with their length and id).
    dead: usize,
}

/// The rows held, by document id, and their ids by key (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// Pages of rows; one let go of is empty until it is written to again.
    pages: Vec<Page>,
    /// The page rows are written to.
    open: Option<u32>,
    /// The numbers of the pages let go of (their bytes freed), given to the next pages opened.
    spare: Vec<u32>,
    /// Where each document id's row is (its page's number in the high 32 bits, its offset in
    /// the page in the low); [`EMPTY`]: an id free, or freed since the last commit.
    slots: Vec<u64>,
    /// The ids of the rows held, hashed by their key's text (compared with the row's).
    ids: HashTable<u32>,
    /// Seeded per process: keys come from clients' rows.
    hasher: foldhash::fast::RandomState,
    /// Ids that may be given again (freed before the last commit).
    free: Vec<u32>,
    /// Ids freed since the last commit.
    freed: Vec<u32>,
}

/// The row at `place` (a page's number and an offset in it, as [`Held::slots`] keeps them).
fn doc_at(pages: &[Page], place: u64) -> Option<Doc<'_>> {
    if place == EMPTY {
        return None;
    }
    let bytes = &pages.get(usize::try_from(place >> 32).ok()?)?.bytes;
    let at = usize::try_from(place & u64::from(u32::MAX)).ok()?;
    let len = u32_at(bytes, at)? as usize;
    let start = at.checked_add(ENTRY)?;
    bytes.get(start..start.checked_add(len)?).map(Doc)
}

/// The row with id `id`.
fn doc_of<'a>(pages: &'a [Page], slots: &[u64], id: u32) -> Option<Doc<'a>> {
    doc_at(pages, *slots.get(id as usize)?)
}

impl Held {
    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The row with document id `id`.
    pub(crate) fn get(&self, id: u64) -> Option<Doc<'_>> {
        doc_of(&self.pages, &self.slots, u32::try_from(id).ok()?)
    }

    /// Every row held.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Doc<'_>> {
        self.slots.iter().filter_map(|&place| doc_at(&self.pages, place))
    }

    /// The id of the row whose key's JSON text is `key_text`.
    pub(crate) fn find(&self, key_text: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key_text.as_bytes());
        let key = |id: u32| doc_of(&self.pages, &self.slots, id).map(Doc::key_text);
        self.ids.find(hash, |&id| key(id) == Some(key_text.as_bytes())).copied()
    }

    /// Takes the row with this key out; its id, if one was held (free again after the next
    /// commit).
    pub(crate) fn take(&mut self, key_text: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key_text.as_bytes());
        let (pages, slots) = (&self.pages, &self.slots);
        let key = |id: u32| doc_of(pages, slots, id).map(Doc::key_text);
        let entry = self.ids.find_entry(hash, |&id| key(id) == Some(key_text.as_bytes())).ok()?;
        let (id, _) = entry.remove();
        let place = self.slots.get_mut(id as usize).map_or(EMPTY, |slot| std::mem::replace(slot, EMPTY));
        self.freed.push(id);
        self.dead(place);
        Some(id)
    }

    /// Counts the row that was at `place` dead in its page; writes the page's live rows again
    /// and lets it go once a quarter of it is dead (the page written to as well: the next row
    /// opens another).
    fn dead(&mut self, place: u64) {
        let Some(len) = doc_at(&self.pages, place).map(|d| d.0.len()) else { return };
        let number = u32::try_from(place >> 32).unwrap_or(u32::MAX);
        let Some(page) = self.pages.get_mut(number as usize) else { return };
        page.dead += len + ENTRY;
        if page.dead * 4 < page.bytes.len() {
            return;
        }
        if self.open == Some(number) {
            self.open = None;
        }
        let bytes = std::mem::take(&mut page.bytes);
        page.dead = 0;
        let mut at = 0;
        while let Some(len) = u32_at(&bytes, at).map(|n| n as usize) {
            let id = u32_at(&bytes, at + 4).unwrap_or(u32::MAX);
            let here = (u64::from(number) << 32) | at as u64;
            if self.slots.get(id as usize) == Some(&here)
                && let Some(row) = bytes.get(at + ENTRY..at + ENTRY + len)
            {
                let moved = self.append(id, row);
                if let Some(slot) = self.slots.get_mut(id as usize) {
                    *slot = moved;
                }
            }
            at += ENTRY + len;
        }
        // Written to again only now: no row moved lands in the page it is moved from.
        self.spare.push(number);
    }

    /// Writes row `id` at the end of the page written to (opening one when it has no room), or
    /// in a page of its own when it is larger than a page (so that it is let go of with it);
    /// where it is.
    fn append(&mut self, id: u32, row: &[u8]) -> u64 {
        let need = ENTRY + row.len();
        let room =
            self.open.and_then(|n| self.pages.get(n as usize)).map(|p| p.bytes.capacity() - p.bytes.len());
        let number = match self.open {
            Some(open) if room.is_some_and(|room| room >= need) => open,
            _ => {
                // The page left for a new one: cut to its length (its rows are found by offset,
                // so it may move). A row larger than a page leaves it open.
                if need <= PAGE
                    && let Some(left) = self.open.and_then(|n| self.pages.get_mut(n as usize))
                {
                    left.bytes.shrink_to_fit();
                }
                let number = self.spare.pop().unwrap_or_else(|| {
                    self.pages.push(Page::default());
                    u32::try_from(self.pages.len() - 1).unwrap_or(u32::MAX)
                });
                if let Some(page) = self.pages.get_mut(number as usize) {
                    *page = Page { bytes: Vec::with_capacity(need.max(PAGE)), dead: 0 };
                }
                if need <= PAGE {
                    self.open = Some(number);
                }
                number
            }
        };
        let Some(page) = self.pages.get_mut(number as usize) else { return EMPTY };
        let at = page.bytes.len();
        // `write` made sure the row and its 8 bytes fit in a `u32`.
        page.bytes.extend_from_slice(&u32::try_from(row.len()).unwrap_or(u32::MAX).to_le_bytes());
        page.bytes.extend_from_slice(&id.to_le_bytes());
        page.bytes.extend_from_slice(row);
        (u64::from(number) << 32) | at as u64
    }

    /// The id the next row put in takes.
    pub(crate) fn next_id(&self) -> Result<u32, SearchError> {
        match self.free.last() {
            Some(&id) => Ok(id),
            None => u32::try_from(self.slots.len()).map_err(|_| SearchError::Full),
        }
    }

    /// Holds the row [`write`] wrote in `row` under [`next_id`](Self::next_id) (the same id
    /// until a row is put in or a commit is made: an id freed meanwhile is not free yet), whose
    /// key none held has (taken out first).
    pub(crate) fn put(&mut self, row: &[u8]) -> Result<u32, SearchError> {
        let id = self.next_id()?;
        if self.free.pop().is_none() {
            self.slots.push(EMPTY);
        }
        let place = self.append(id, row);
        if let Some(slot) = self.slots.get_mut(id as usize) {
            *slot = place;
        }
        let (pages, slots, hasher) = (&self.pages, &self.slots, &self.hasher);
        let key = |id: u32| doc_of(pages, slots, id).map_or(&[][..], Doc::key_text);
        self.ids.insert_unique(hasher.hash_one(key(id)), id, |&other| hasher.hash_one(key(other)));
        Ok(id)
    }

    /// After a commit: the ids freed before it may be given again.
    pub(crate) fn committed(&mut self) {
        self.free.append(&mut self.freed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row written as the index writes one: facets 3, none and 0, its key, its words and
    /// `len` bytes of columns.
    fn doc(key: &str, words: &[&str], len: usize) -> Vec<u8> {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        let mut out = Vec::new();
        let row = |out: &mut Vec<u8>| out.extend((0..len).map(|i| u8::try_from(i % 200).unwrap_or(0)));
        write(&mut out, &[Some(3), None, Some(0)], key, &words, row).expect("small");
        out
    }

    /// A row's parts read back as they were put in, in about their size.
    #[test]
    fn a_row_reads_back_its_parts() {
        let bytes = doc("\"o-1 نور\"", &["ada", "lovelace"], 3);
        let d = Doc(&bytes);
        assert_eq!((d.facet(0), d.facet(1), d.facet(2), d.facet(3)), (Some(3), None, Some(0), None));
        assert_eq!(d.key_text(), "\"o-1 نور\"".as_bytes());
        assert_eq!(d.key(), Value::from("o-1 نور"));
        assert_eq!(d.words().collect::<Vec<_>>(), [&b"ada"[..], b"lovelace"]);
        assert_eq!(d.row(), [0, 1, 2]);
        // The offsets, the facets, the key, the words, the row.
        assert_eq!(bytes.len(), 12 + 3 * 4 + "\"o-1 نور\"".len() + 13 + 3);
        let none = doc("1", &[], 3);
        assert_eq!(Doc(&none).words().count(), 0);
        assert_eq!(Doc(&none).row(), [0, 1, 2]);
    }

    /// An id freed is given again only after a commit, and a key is found while held only.
    #[test]
    fn an_id_is_given_again_only_after_a_commit() {
        let mut held = Held::default();
        assert_eq!(held.put(&doc("1", &["a"], 3)).ok(), Some(0));
        assert_eq!(held.put(&doc("2", &["b"], 3)).ok(), Some(1));
        assert_eq!(held.take("1"), Some(0));
        assert_eq!(held.take("1"), None, "taken once");
        assert_eq!((held.find("1"), held.find("2")), (None, Some(1)));
        // Not committed yet: the old document with id 0 may still be found by a search.
        assert_eq!(held.put(&doc("1", &["c"], 3)).ok(), Some(2));
        assert!(held.get(0).is_none());
        held.committed();
        assert_eq!(held.put(&doc("3", &["d"], 3)).ok(), Some(0), "given again after the commit");
        assert_eq!(held.find("3"), Some(0));
        assert_eq!(held.get(0).map(Doc::key_text), Some(&b"3"[..]));
        assert_eq!((held.len(), held.iter().count()), (3, 3));
        // Many keys: each found under its own id, however the table grows.
        for n in 10..2_000 {
            held.put(&doc(&n.to_string(), &[], 3)).expect("put");
        }
        for n in 10..2_000 {
            let id = held.find(&n.to_string()).expect("held");
            assert_eq!(held.get(u64::from(id)).map(Doc::key_text), Some(n.to_string().as_bytes()));
        }
    }

    /// The bytes of all pages (their capacity), and of the rows held with their length and id.
    fn sizes(held: &Held) -> (usize, usize) {
        let pages = held.pages.iter().map(|p| p.bytes.capacity()).sum();
        (pages, held.iter().map(|d| d.0.len() + ENTRY).sum())
    }

    /// No page but the one written to is a quarter dead or more.
    fn check_pages(held: &Held, when: &str) {
        for (n, page) in held.pages.iter().enumerate() {
            let open = held.open == u32::try_from(n).ok();
            assert!(open || page.dead * 4 < page.bytes.len().max(1), "{when}: page {n} {page:?}");
        }
    }

    /// Rows taken out while their page is the one written to: that page is written again too.
    #[test]
    fn a_page_whose_rows_die_while_it_is_written_to_is_not_kept() {
        let mut held = Held::default();
        // ~60 KB of the first page's 64 KiB, then half of it taken out.
        for n in 0..140 {
            held.put(&doc(&n.to_string(), &[], 400)).expect("put");
        }
        assert_eq!(held.pages.len(), 1, "one page so far");
        for n in (0..140).step_by(2) {
            held.take(&n.to_string());
        }
        for n in 1_000..3_000 {
            held.put(&doc(&n.to_string(), &[], 100)).expect("put");
        }
        check_pages(&held, "after the open page's rows died");
        for n in (1..140).step_by(2) {
            let id = held.find(&n.to_string()).expect("held");
            assert_eq!(held.get(u64::from(id)).map(Doc::key_text), Some(n.to_string().as_bytes()));
        }
    }

    /// Rows put in again and taken out, over many pages: every row reads back as last put in,
    /// its page is written again once a quarter of it is dead, and a row larger than a page has
    /// one of its own.
    #[test]
    fn pages_keep_three_quarters_of_their_bytes_rows_held() {
        let mut held = Held::default();
        let mut expected = std::collections::BTreeMap::new();
        for round in 0..6_u32 {
            for n in 0..3_000_u32 {
                // Rows of 90 to 400 bytes; every third key taken out in odd rounds.
                let key = n.to_string();
                if round % 2 == 1 && n % 3 == 0 {
                    held.take(&key);
                    expected.remove(&key);
                    continue;
                }
                let len = 60 + ((n * 7 + round * 13) % 310) as usize;
                held.take(&key);
                held.put(&doc(&key, &["w"], len)).expect("put");
                expected.insert(key, len);
            }
            held.committed();
            check_pages(&held, &format!("round {round}"));
            let (pages, live) = sizes(&held);
            // Every page but the one written to is at least three quarters rows held.
            assert!(pages <= live + live / 3 + PAGE, "round {round}: {pages} bytes in pages, {live} held");
        }
        let big = doc("big", &[], 3 * PAGE);
        held.put(&big).expect("put");
        expected.insert("big".to_owned(), 3 * PAGE);
        assert_eq!(held.len(), expected.len());
        for (key, len) in &expected {
            let id = held.find(key).expect("held");
            let d = held.get(u64::from(id)).expect("a row");
            assert_eq!((d.key_text(), d.row().len(), d.facet(0)), (key.as_bytes(), *len, Some(3)), "{key}");
        }
        held.take("big");
        let (pages, live) = sizes(&held);
        assert!(pages <= live + live / 3 + PAGE, "{pages} bytes in pages, {live} held, after the large row");
    }
}
