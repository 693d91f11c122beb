//! A search index over the rows of one view: its text columns matched word by word under the
//! [typo rules](crate::typo) through tantivy's term dictionary and Levenshtein automata, its
//! rows kept beside it for filters, facets, sorting and highlights.
//!
//! ```
//! use lucarne_search::{IndexSpec, SearchIndex, SearchQuery};
//! use serde_json::json;
//!
//! let spec = IndexSpec { searchable: vec!["customer".into()], facets: vec!["status".into()] };
//! let mut index = SearchIndex::new(spec)?;
//! for (id, customer, status) in [("o-1", "Ada Lovelace", "paid"), ("o-2", "Adèle Nour", "placed")] {
//!     let row = json!({ "customer": customer, "status": status });
//!     index.upsert(json!(id), row.as_object().cloned().unwrap_or_default())?;
//! }
//! index.commit()?;
//! let request = SearchQuery { text: "ade".into(), facets: vec!["status".into()], ..Default::default() };
//! let found = index.search(&request, &|_| true)?;
//! assert_eq!(found.total, 1); // "ade" typed so far: a prefix of "adele" (folded), not of "ada"
//! assert_eq!(found.hits[0].key, json!("o-2"));
//! assert_eq!((found.facets["status"][0].value.as_str(), found.facets["status"][0].count), ("placed", 1));
//! # Ok::<(), lucarne_search::SearchError>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use lucarne_protocol::{Columns, FacetCount, Found, SearchHit, SearchQuery};
use serde_json::Value;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{BooleanQuery, FuzzyTermQuery, Occur, Query};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::fold::words;
use crate::held::{self, Doc, Held};
use crate::matcher::QueryWords;
use crate::memory::Memory;
use crate::row::{HeldRow, Numbered, RowRef, Sorted, pack};
use crate::typo::{allowed, matches};

/// Words of a query searched for at most (like Meilisearch's limit): the others are ignored.
pub const MAX_WORDS: usize = 10;

/// The tokenizer the text columns are indexed with.
const TOKENIZER: &str = "lucarne_folded";

/// What an index holds of its view's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSpec {
    /// The columns searched for the query's words.
    pub searchable: Vec<String>,
    /// The columns whose values are counted (facets) and may be selected.
    pub facets: Vec<String>,
}

/// Errors of the search index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The engine failed.
    #[error("search index: {0}")]
    Engine(#[from] tantivy::TantivyError),
    /// A facet or sort column that the index does not hold.
    #[error("{0:?} is not a facet of this index")]
    NotAFacet(String),
    /// Every document id is taken (an index holds at most `u32::MAX` rows).
    #[error("the index holds as many rows as it can")]
    Full,
    /// A row whose key, words and columns take more than 4 GiB.
    #[error("a row too large to index")]
    RowTooLarge,
}

/// A search index over one view's rows (see the module docs).
pub struct SearchIndex {
    spec: IndexSpec,
    writer: IndexWriter,
    reader: IndexReader,
    id: Field,
    text: Vec<Field>,
    /// The rows, by document id, with their folded words, key and facet numbers.
    docs: Held,
    /// Where a row is written before it is copied into its page.
    scratch: Vec<u8>,
    /// Each facet's values seen, numbered (counted by number: no hashing per row).
    values: Vec<Numbered>,
    /// The rows' column names, numbered (each row holds its values by number).
    names: Numbered,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("spec", &self.spec).field("rows", &self.docs.len()).finish()
    }
}

impl SearchIndex {
    /// An empty index, in memory.
    pub fn new(spec: IndexSpec) -> Result<SearchIndex, SearchError> {
        let mut schema = Schema::builder();
        let id = schema.add_u64_field("id", INDEXED | FAST);
        let options = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(TOKENIZER).set_index_option(IndexRecordOption::Basic),
        );
        let text = (0..spec.searchable.len())
            .map(|i| schema.add_text_field(&format!("t{i}"), options.clone()))
            .collect();
        let index = Index::create(Memory::default(), schema.build(), IndexSettings::default())?;
        index.tokenizers().register(TOKENIZER, Folded);
        // One indexing thread with tantivy's smallest memory budget (15 MB).
        let writer = index.writer_with_num_threads(1, 15_000_000)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let values = spec.facets.iter().map(|_| Numbered::default()).collect();
        Ok(SearchIndex {
            spec,
            writer,
            reader,
            id,
            text,
            docs: Held::default(),
            scratch: Vec::new(),
            values,
            names: Numbered::default(),
        })
    }

    /// An index of `rows`, committed, with the memory the build used and freed (its input's
    /// included: `rows` is dropped before) handed back to the system
    /// ([`release::freed_memory`](crate::release::freed_memory)): building an index is a
    /// burst whose temporaries would otherwise stay resident.
    pub fn build(
        spec: IndexSpec,
        rows: impl IntoIterator<Item = (Value, Columns)>,
    ) -> Result<SearchIndex, SearchError> {
        let mut index = SearchIndex::new(spec)?;
        let mut rows = rows.into_iter();
        for (key, row) in rows.by_ref() {
            index.upsert(key, row)?;
        }
        drop(rows);
        index.finish_build()?;
        Ok(index)
    }

    /// Ends a build made of [`upsert`](Self::upsert)s: commits, then hands back the memory the
    /// build used and freed ([`release::freed_memory`](crate::release::freed_memory); what
    /// the rows came in should be let go of before).
    pub fn finish_build(&mut self) -> Result<(), SearchError> {
        self.commit()?;
        let _handed_back = crate::release::freed_memory();
        Ok(())
    }

    /// What the index holds.
    pub fn spec(&self) -> &IndexSpec {
        &self.spec
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// The bytes of the index's committed segments (the rows kept beside it not counted: they
    /// are the view's).
    pub fn bytes(&self) -> Result<u64, SearchError> {
        let usage = self.reader.searcher().space_usage().map_err(|e| SearchError::Engine(e.into()))?;
        Ok(usage.total().get_bytes())
    }

    /// True when it holds no row.
    pub fn is_empty(&self) -> bool {
        self.docs.len() == 0
    }

    /// Puts a row in, in place of the one with its key (searched once [committed](Self::commit)).
    /// The names of its columns and its facet values are kept, numbered, while the index lives
    /// (a view's rows have a fixed set of columns; facet values are few).
    pub fn upsert(&mut self, key: Value, row: Columns) -> Result<(), SearchError> {
        let key_text = key.to_string();
        // What can fail comes before the old row is taken out and the document added: tantivy
        // must never hold a document whose id no row answers for (a later row would take it).
        let id = self.docs.next_id()?;
        let mut folded: Vec<String> = self
            .spec
            .searchable
            .iter()
            .filter_map(|c| row.get(c).and_then(text_of))
            .flat_map(words)
            .map(|w| w.text)
            .collect();
        folded.sort_unstable();
        folded.dedup();
        let facets: Vec<Option<u32>> = self
            .spec
            .facets
            .iter()
            .zip(&mut self.values)
            .map(|(f, values)| row.get(f).and_then(facet_text).map(|v| values.number(&v)))
            .collect();
        let names = &mut self.names;
        held::write(&mut self.scratch, &facets, &key_text, &folded, |out| pack(&row, names, out))?;
        // Taking the old row out frees its id only after the next commit: `id` stays the next.
        self.take_out(&key_text);
        let mut doc = TantivyDocument::default();
        doc.add_u64(self.id, u64::from(id));
        for (field, column) in self.text.iter().zip(&self.spec.searchable) {
            if let Some(text) = row.get(column).and_then(text_of) {
                doc.add_text(*field, text);
            }
        }
        self.writer.add_document(doc)?;
        self.docs.put(&self.scratch)?;
        Ok(())
    }

    /// The row held under `key` (put in, committed or not).
    pub fn row(&self, key: &Value) -> Option<RowRef<'_>> {
        let id = self.docs.find(&key.to_string())?;
        self.docs.get(u64::from(id)).map(|d| self.read(d))
    }

    fn read<'a>(&'a self, doc: Doc<'a>) -> RowRef<'a> {
        RowRef::new(&self.names, HeldRow(doc.row()))
    }

    /// Takes a row out (once [committed](Self::commit)).
    pub fn remove(&mut self, key: &Value) {
        self.take_out(&key.to_string());
    }

    /// Takes out the row whose key's JSON text is `key_text`.
    fn take_out(&mut self, key_text: &str) {
        if let Some(old) = self.docs.take(key_text) {
            self.writer.delete_term(Term::from_field_u64(self.id, u64::from(old)));
        }
    }

    /// Makes the rows put in and taken out since the last commit searchable.
    pub fn commit(&mut self) -> Result<(), SearchError> {
        self.writer.commit()?;
        self.reader.reload()?;
        // Only once the searcher no longer sees the documents deleted (a failed reload leaves
        // their ids waiting for the next commit).
        self.docs.committed();
        Ok(())
    }

    /// Searches the rows for which `filter` holds (the view SQL's `WHERE`, compiled by the
    /// caller: the query's own `filter` is not read here).
    pub fn search(
        &self,
        request: &SearchQuery,
        filter: &dyn Fn(&RowRef<'_>) -> bool,
    ) -> Result<Found, SearchError> {
        for facet in request.facets.iter().chain(request.selected.keys()) {
            if !self.spec.facets.contains(facet) {
                return Err(SearchError::NotAFacet(facet.clone()));
            }
        }
        let query = QueryWords::new(&request.text);
        // The rows whose words match, then those the filter keeps.
        let found: Vec<Doc<'_>> = match self.matching(&query)? {
            None => self.docs.iter().collect(),
            Some(ids) => ids.iter().filter_map(|&id| self.docs.get(id)).collect(),
        };
        let found: Vec<Doc<'_>> = found.into_iter().filter(|d| filter(&self.read(*d))).collect();
        // A facet's counts ignore its own selection (disjunctive), not the others'.
        // The selections by the facet's place in the spec.
        let place = |facet: &str| self.spec.facets.iter().position(|f| f == facet).unwrap_or(usize::MAX);
        // Each selection as the numbers of its values (a value never seen selects no row).
        let selections: Vec<(usize, Vec<u32>)> = request
            .selected
            .iter()
            .map(|(f, picked)| {
                let at = place(f);
                let numbers = self
                    .values
                    .get(at)
                    .map_or_else(Vec::new, |values| picked.iter().filter_map(|v| values.find(v)).collect());
                (at, numbers)
            })
            .collect();
        let selected = |doc: Doc<'_>, except: usize| {
            selections
                .iter()
                .filter(|(f, _)| *f != except)
                .all(|(f, numbers)| doc.facet(*f).is_some_and(|n| numbers.contains(&n)))
        };
        let mut facets = BTreeMap::new();
        // Each facet counted once, however often it is asked for.
        let asked: std::collections::BTreeSet<&String> = request.facets.iter().collect();
        for facet in asked {
            let at = place(facet);
            let names = self.values.get(at).map_or(&[][..], Numbered::names);
            let mut counts = vec![0u64; names.len()];
            for doc in found.iter().filter(|d| selected(**d, at)) {
                if let Some(n) = doc.facet(at)
                    && let Some(count) = counts.get_mut(n as usize)
                {
                    *count += 1;
                }
            }
            let mut counts: Vec<FacetCount> = counts
                .into_iter()
                .zip(names)
                .filter(|(count, _)| *count > 0)
                .map(|(count, value)| FacetCount { value: value.to_string(), count })
                .collect();
            counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            facets.insert(facet.clone(), counts);
        }
        let results: Vec<Doc<'_>> = found.into_iter().filter(|d| selected(*d, usize::MAX)).collect();
        let total = results.len();
        let mut seen = vec![HashMap::default(); query.words.len()];
        // Words too short for a typo match only exactly: every row found has none.
        let exact = query.words.iter().all(|w| allowed(w.text.chars().count()) == 0);
        // Each column once: a later mention of one cannot change the order.
        let mut columns = HashSet::new();
        // Each sort column by its number, found once (`None`: no row has it).
        let sort: Vec<(Option<u32>, bool)> = request
            .sort
            .iter()
            .filter(|by| columns.insert(by.column.as_str()))
            .map(|by| (self.names.find(&by.column), by.descending))
            .collect();
        // Each row's sort columns read out of it once, all rows' in one list (texts borrowed
        // from the rows held).
        let values: Vec<Option<Sorted<'_>>> = if sort.is_empty() {
            Vec::new()
        } else {
            results
                .iter()
                .flat_map(|d| sort.iter().map(|(number, _)| number.and_then(|n| HeldRow(d.row()).sorted(n))))
                .collect()
        };
        let mut ranked: Vec<Ranked<'_>> = results
            .into_iter()
            .enumerate()
            .map(|(i, d)| Ranked {
                typos: if exact { 0 } else { self.typos(&query, d, &mut seen) },
                key: d.key_text(),
                sort: i * sort.len(),
                doc: d,
            })
            .collect();
        let sorted_by = |r: &Ranked<'_>| values.get(r.sort..r.sort + sort.len()).unwrap_or_default();
        let page = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        // Only the rows up to the end of the page are put in order.
        let end = page(request.offset).saturating_add(page(request.limit)).min(ranked.len());
        let order = |a: &Ranked<'_>, b: &Ranked<'_>| {
            if sort.is_empty() {
                return a.typos.cmp(&b.typos).then_with(|| a.key.cmp(b.key));
            }
            sort.iter()
                .zip(sorted_by(a).iter().zip(sorted_by(b)))
                .map(|((_, descending), (x, y))| {
                    let order = Sorted::compare(x.as_ref(), y.as_ref());
                    if *descending { order.reverse() } else { order }
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.key.cmp(b.key))
        };
        match end.checked_sub(1) {
            None => ranked.clear(),
            Some(last) if end < ranked.len() => {
                ranked.select_nth_unstable_by(last, order);
                ranked.truncate(end);
            }
            Some(_) => {}
        }
        ranked.sort_by(order);
        let hits = ranked
            .into_iter()
            .skip(page(request.offset))
            .take(page(request.limit))
            .map(|Ranked { typos, doc, .. }| SearchHit {
                key: doc.key(),
                row: self.read(doc).to_columns(),
                typos,
                highlights: self.highlights(&query, doc),
            })
            .collect();
        Ok(Found { total: total as u64, hits, facets })
    }

    /// The ids of the rows that match every word; `None` when the query has no word.
    fn matching(&self, query: &QueryWords) -> Result<Option<Vec<u64>>, SearchError> {
        if query.words.is_empty() {
            return Ok(None);
        }
        let mut all: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (word, prefix) in query.each() {
            let typos = allowed(word.text.chars().count());
            let any_column: Vec<(Occur, Box<dyn Query>)> = self
                .text
                .iter()
                .map(|field| {
                    let term = Term::from_field_text(*field, &word.text);
                    let fuzzy = if prefix {
                        FuzzyTermQuery::new_prefix(term, typos, true)
                    } else {
                        FuzzyTermQuery::new(term, typos, true)
                    };
                    (Occur::Should, Box::new(fuzzy) as Box<dyn Query>)
                })
                .collect();
            all.push((Occur::Must, Box::new(BooleanQuery::new(any_column))));
        }
        let searcher = self.reader.searcher();
        Ok(Some(searcher.search(&BooleanQuery::new(all), &Ids)?))
    }

    /// Typos in the row's best match of each query word; `seen` remembers how each word of the
    /// rows ranked so far matched each query word (rows share most of their words).
    fn typos<'d>(&self, query: &QueryWords, doc: Doc<'d>, seen: &mut [Memo<'d>]) -> u32 {
        query
            .each()
            .zip(seen.iter_mut())
            .map(|((q, prefix), seen)| {
                doc.words()
                    .filter_map(|w| {
                        *seen.entry(w).or_insert_with(|| {
                            std::str::from_utf8(w).ok().and_then(|w| matches(&q.text, w, prefix))
                        })
                    })
                    .min()
                    .map_or(0, u32::from)
            })
            .sum()
    }

    /// The words of the row that match a query word, by column.
    fn highlights(&self, query: &QueryWords, doc: Doc<'_>) -> BTreeMap<String, Vec<[u64; 2]>> {
        let mut out = BTreeMap::new();
        if query.words.is_empty() {
            return out;
        }
        for (column, value) in self.columns(doc) {
            let Some(text) = text_of(&value) else { continue };
            let ranges: Vec<[u64; 2]> = words(text)
                .filter(|w| query.each().any(|(q, prefix)| matches(&q.text, &w.text, prefix).is_some()))
                .map(|w| [w.range.start as u64, w.range.end as u64])
                .collect();
            if !ranges.is_empty() {
                out.insert(column.clone(), ranges);
            }
        }
        out
    }

    /// The row's searchable columns that it has (a column's text: [`text_of`]).
    fn columns<'a>(&'a self, doc: Doc<'a>) -> impl Iterator<Item = (&'a String, Value)> {
        self.spec.searchable.iter().filter_map(move |c| Some((c, self.read(doc).get(c)?)))
    }
}

/// A row found, as a search puts them in order.
struct Ranked<'d> {
    typos: u32,
    /// Its key's JSON text (ties; UTF-8's bytes order as its text does).
    key: &'d [u8],
    /// Where its value of each sort column, in the sort's order, starts in the search's list
    /// of them.
    sort: usize,
    doc: Doc<'d>,
}

/// How each word of the rows matched one query word (`None`: it did not).
type Memo<'d> = HashMap<&'d [u8], Option<u8>, foldhash::fast::RandomState>;

/// A column's text as searched: strings only.
pub(crate) fn text_of(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A column's value as a facet counts it (`None`: not counted).
pub fn facet_value(value: &Value) -> Option<String> {
    facet_text(value).map(Cow::into_owned)
}

/// [`facet_value`], borrowed where the value is a string.
fn facet_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The folding tokenizer: the words of [`words`], as tantivy tokens.
#[derive(Debug, Clone)]
struct Folded;

/// The tokens of one text.
struct FoldedTokens {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl Tokenizer for Folded {
    type TokenStream<'a> = FoldedTokens;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> FoldedTokens {
        let tokens: Vec<Token> = words(text)
            .enumerate()
            .map(|(position, w)| Token {
                offset_from: w.range.start,
                offset_to: w.range.end,
                position,
                text: w.text,
                position_length: 1,
            })
            .collect();
        FoldedTokens { tokens: tokens.into_iter(), current: Token::default() }
    }
}

impl TokenStream for FoldedTokens {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// Collects the matching rows' ids (from the `id` fast field).
struct Ids;

/// One segment's matching rows' ids.
struct SegmentIds {
    column: tantivy::columnar::Column<u64>,
    ids: Vec<u64>,
}

impl Collector for Ids {
    /// Each live row's id once: a row's id is in one segment only (a row put in again gets
    /// an id no live document has: an id is given again only after a commit deleted the
    /// document that had it).
    type Fruit = Vec<u64>;
    type Child = SegmentIds;

    fn for_segment(
        &self,
        _: tantivy::SegmentOrdinal,
        segment: &tantivy::SegmentReader,
    ) -> tantivy::Result<SegmentIds> {
        Ok(SegmentIds { column: segment.fast_fields().u64("id")?, ids: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u64>>) -> tantivy::Result<Vec<u64>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for SegmentIds {
    type Fruit = Vec<u64>;

    fn collect(&mut self, doc: tantivy::DocId, _: tantivy::Score) {
        self.ids.extend(self.column.first(doc));
    }

    fn harvest(self) -> Vec<u64> {
        self.ids
    }
}
