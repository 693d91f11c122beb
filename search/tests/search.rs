//! The search index against its rules: the conformance table of the typo, prefix and folding
//! rules in Latin, Arabic and Hebrew, and a brute-force oracle over random rows and updates.

use std::collections::{BTreeMap, BTreeSet};

use lucarne_protocol::Columns;
use lucarne_search::fold::{fold, words};
use lucarne_search::typo::matches;
use lucarne_search::{IndexSpec, Matcher, SearchIndex, SearchQuery, SearchSort, facet_value};
use proptest::prelude::*;
use serde_json::{Value, json};

fn row(value: Value) -> Columns {
    value.as_object().cloned().unwrap_or_default()
}

/// A query word, a document word, whether the query word is typed last (a prefix), and the
/// typos it matches with (`None`: no match) — by the rules alone and through the index.
fn check(query: &str, word: &str, prefix: bool, typos: Option<u8>) {
    assert_eq!(
        matches(&fold(query), &fold(word), prefix),
        typos,
        "rules: {query:?} against {word:?} (prefix: {prefix})"
    );
    let mut index =
        SearchIndex::new(IndexSpec { searchable: vec!["name".into()], facets: vec![] }).expect("index");
    index.upsert(json!(1), row(json!({ "name": word }))).expect("upsert");
    index.commit().expect("commit");
    // A separator after the last word makes it complete.
    let text = if prefix { query.to_string() } else { format!("{query} ") };
    let found =
        index.search(&SearchQuery { text, limit: 1, ..Default::default() }, &|_| true).expect("search");
    assert_eq!(
        found.hits.first().map(|h| h.typos),
        typos.map(u32::from),
        "index: {query:?} against {word:?} (prefix: {prefix})"
    );
}

#[test]
fn the_typo_prefix_and_folding_rules_in_latin_arabic_and_hebrew() {
    // Under 5 characters: exact only (or as the start of a longer word, exactly).
    check("ada", "ada", false, Some(0));
    check("adz", "ada", false, None);
    check("ada", "adam", false, None);
    check("ada", "adam", true, Some(0));
    check("daa", "ada", false, None); // a swap is a typo too
    check("Àda", "ADA", false, Some(0)); // folded first
    // 5 to 8 characters: one typo.
    check("lovelace", "lovelace", false, Some(0));
    check("lovelaca", "lovelace", false, Some(1)); // replaced
    check("lovlace", "lovelace", false, Some(1)); // deleted
    check("lovelcae", "lovelace", false, Some(1)); // swapped: one
    check("lvoelcae", "lovelace", false, None); // two swaps
    check("brulee", "brûlée", false, Some(0));
    check("brulle", "brûlée", false, Some(1));
    // 9 and more: two typos.
    check("loveelace", "lovelace", false, Some(1));
    check("ecommerce", "ecomerse", false, Some(2));
    check("bibliotheque", "bibliothèque", false, Some(0));
    check("bibliotehqeu", "bibliothèque", false, Some(2));
    check("bibliotehqeuu", "bibliothèque", false, None);
    // The last word as typed so far, with the allowance of its length.
    check("lovel", "lovelace", true, Some(0));
    check("lovle", "lovelace", true, Some(1));
    check("lovle", "lovelace", false, None);
    check("lo", "lovelace", true, Some(0));
    check("lx", "lovelace", true, None);
    // Arabic: harakat and tatweel dropped, hamza on alef folded.
    check("محمد", "مُحَمَّد", false, Some(0));
    check("مُحَمَّد", "محمد", false, Some(0));
    check("كتاب", "كتـــاب", false, Some(0));
    check("احمد", "أحمد", false, Some(0));
    check("مكتبات", "مكتبة", false, None); // six letters, two apart
    check("مكتبات", "مكتبتا", false, Some(1)); // swapped
    check("مكتبا", "مكتبات", true, Some(0));
    check("مدرسه", "مدرسة", false, Some(1)); // ta marbuta is a letter of its own
    // Hebrew: niqqud dropped.
    check("שלום", "שָׁלוֹם", false, Some(0));
    check("ירושלים", "יְרוּשָׁלַיִם", false, Some(0));
    check("ירושליים", "ירושלים", false, Some(1)); // inserted
    check("ירשולים", "ירושלים", false, Some(1)); // swapped
    check("ירוש", "ירושלים", true, Some(0));
    check("ירס", "ירושלים", true, None);
}

#[test]
fn highlights_are_the_matched_words_bytes_in_the_stored_text() {
    let mut index =
        SearchIndex::new(IndexSpec { searchable: vec!["name".into(), "city".into()], facets: vec![] })
            .expect("index");
    index.upsert(json!("a"), row(json!({ "name": "نُور Lovelace", "city": "יְרוּשָׁלַיִם" }))).expect("upsert");
    index.commit().expect("commit");
    let request = SearchQuery { text: "نور ירוש".into(), limit: 1, ..Default::default() };
    let found = index.search(&request, &|_| true).expect("search");
    let hit = &found.hits[0];
    let name = hit.row["name"].as_str().unwrap_or_default();
    let city = hit.row["city"].as_str().unwrap_or_default();
    let text = |of: &str, column: &str| -> Vec<String> {
        let at = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        hit.highlights[column].iter().map(|[a, b]| of[at(*a)..at(*b)].to_string()).collect()
    };
    assert_eq!(text(name, "name"), ["نُور"]);
    assert_eq!(text(city, "city"), ["יְרוּשָׁלַיִם"]);
}

#[test]
fn a_query_searches_its_first_ten_words() {
    let mut index =
        SearchIndex::new(IndexSpec { searchable: vec!["name".into()], facets: vec![] }).expect("index");
    index.upsert(json!(1), row(json!({ "name": "a b c d e f g h i j" }))).expect("upsert");
    index.commit().expect("commit");
    let found =
        |text: &str| index.search(&SearchQuery { text: text.into(), ..Default::default() }, &|_| true);
    assert_eq!(found("a b c d e f g h i j").expect("search").total, 1);
    assert_eq!(found("a b c d e f g h i x").expect("search").total, 0);
    // Words past the tenth are not searched for (nor is the tenth then a prefix).
    assert_eq!(found("a b c d e f g h i j zzz yyy").expect("search").total, 1);
    assert_eq!(lucarne_search::MAX_WORDS, 10);
}

/// Words the random rows are written with, and their variants typed with typos.
const WORDS: [&str; 12] = [
    "lovelace",
    "ada",
    "brûlée",
    "bibliothèque",
    "محمد",
    "كتاب",
    "مدرسة",
    "שלום",
    "ירושלים",
    "nour",
    "zhang",
    "ecommerce",
];

#[derive(Debug, Clone)]
enum Step {
    Put {
        key: u8,
        name: Vec<u8>,
        note: Vec<u8>,
        status: u8,
        region: u8,
        total: u8,
    },
    Remove {
        key: u8,
    },
    Search {
        words: Vec<(u8, u8)>,
        complete: bool,
        statuses: BTreeSet<u8>,
        regions: BTreeSet<u8>,
        min_total: Option<u8>,
    },
}

const STATUSES: [&str; 3] = ["placed", "paid", "shipped"];
const REGIONS: [&str; 3] = ["eu", "us", "mena"];

fn step() -> impl Strategy<Value = Step> {
    let text = || prop::collection::vec(0u8..12, 0..4);
    prop_oneof![
        4 => (0u8..24, text(), text(), 0u8..3, 0u8..3, 0u8..100)
            .prop_map(|(key, name, note, status, region, total)| Step::Put { key, name, note, status, region, total }),
        1 => (0u8..24).prop_map(|key| Step::Remove { key }),
        3 => (
            prop::collection::vec((0u8..12, 0u8..8), 0..3),
            any::<bool>(),
            prop::collection::btree_set(0u8..3, 0..3),
            prop::collection::btree_set(0u8..3, 0..2),
            prop::option::of(0u8..100),
        )
            .prop_map(|(words, complete, statuses, regions, min_total)| Step::Search { words, complete, statuses, regions, min_total }),
    ]
}

/// A word of `WORDS` typed with a typo (`how` picks which), or as is, or cut short.
fn typed(word: u8, how: u8) -> String {
    let chars: Vec<char> = WORDS[usize::from(word) % WORDS.len()].chars().collect();
    let mut out = chars.clone();
    let n = chars.len();
    match how {
        1 if n > 1 => out.swap(0, 1),
        2 if n > 2 => out.swap(n - 2, n - 1),
        3 => out.insert(n / 2, 'x'),
        4 if n > 1 => {
            out.remove(n / 2);
        }
        5 => out[n / 2] = 'q',
        6 if n > 3 => out.truncate(n / 2 + 1),
        7 => out.extend(['z', 'z', 'z']),
        _ => {}
    }
    out.into_iter().collect()
}

fn text(words: &[u8]) -> String {
    words.iter().map(|w| WORDS[usize::from(*w)]).collect::<Vec<_>>().join(" ")
}

/// The oracle: every row scanned, each query word matched by the rules against each of its
/// words, the filter and the selections applied, the facets counted by grouping.
fn oracle(
    rows: &BTreeMap<u8, Columns>,
    query: &str,
    selected: &BTreeMap<String, BTreeSet<String>>,
    filter: &dyn Fn(&Columns) -> bool,
) -> (BTreeMap<String, u32>, BTreeMap<String, BTreeMap<String, u64>>) {
    let q: Vec<_> = words(query).collect();
    let complete = q.last().is_none_or(|w| w.range.end < query.len());
    let mut found = BTreeMap::new();
    let mut facets: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (key, row) in rows {
        let doc: Vec<String> = ["name", "note"]
            .iter()
            .filter_map(|c| row.get(*c).and_then(Value::as_str))
            .flat_map(|t| words(t).map(|w| w.text).collect::<Vec<_>>())
            .collect();
        let mut typos = 0;
        let mut all = true;
        for (i, w) in q.iter().enumerate() {
            let prefix = i + 1 == q.len() && !complete;
            match doc.iter().filter_map(|d| matches(&w.text, d, prefix)).min() {
                Some(t) => typos += u32::from(t),
                None => all = false,
            }
        }
        if !all || !filter(row) {
            continue;
        }
        let holds = |except: Option<&str>| {
            selected
                .iter()
                .filter(|(f, _)| Some(f.as_str()) != except)
                .all(|(f, values)| row.get(f).and_then(facet_value).is_some_and(|v| values.contains(&v)))
        };
        for facet in ["status", "region"] {
            if holds(Some(facet))
                && let Some(value) = row.get(facet).and_then(facet_value)
            {
                *facets.entry(facet.to_string()).or_default().entry(value).or_default() += 1;
            }
        }
        if holds(None) {
            found.insert(json!(format!("k{key}")).to_string(), typos);
        }
    }
    (found, facets)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hits_and_facet_counts_equal_a_brute_force_oracle(steps in prop::collection::vec(step(), 1..40)) {
        let spec = IndexSpec { searchable: vec!["name".into(), "note".into()], facets: vec!["status".into(), "region".into()] };
        let mut index = SearchIndex::new(spec).expect("index");
        let mut rows: BTreeMap<u8, Columns> = BTreeMap::new();
        for step in steps {
            match step {
                Step::Put { key, name, note, status, region, total } => {
                    let r = row(json!({
                        "name": text(&name), "note": text(&note), "status": STATUSES[usize::from(status)],
                        "region": REGIONS[usize::from(region)], "total": total,
                    }));
                    index.upsert(json!(format!("k{key}")), r.clone()).expect("upsert");
                    rows.insert(key, r);
                }
                Step::Remove { key } => {
                    index.remove(&json!(format!("k{key}")));
                    rows.remove(&key);
                }
                Step::Search { words, complete, statuses, regions, min_total } => {
                    index.commit().expect("commit");
                    let mut query = words.iter().map(|(w, how)| typed(*w, *how)).collect::<Vec<_>>().join(" ");
                    if complete {
                        query.push(' ');
                    }
                    let mut selected = BTreeMap::new();
                    if !statuses.is_empty() {
                        selected.insert("status".to_string(), statuses.iter().map(|s| STATUSES[usize::from(*s)].to_string()).collect());
                    }
                    if !regions.is_empty() {
                        selected.insert("region".to_string(), regions.iter().map(|s| REGIONS[usize::from(*s)].to_string()).collect());
                    }
                    let big = |total: Option<&Value>| min_total.is_none_or(|m| total.and_then(Value::as_u64).is_some_and(|t| t >= u64::from(m)));
                    // The same filter on the oracle's rows and on the rows the index holds.
                    let filter = |r: &Columns| big(r.get("total"));
                    let held = |r: &lucarne_search::RowRef<'_>| big(r.get("total").as_ref());
                    let request = SearchQuery {
                        text: query.clone(),
                        facets: vec!["status".into(), "region".into()],
                        selected: selected.clone(),
                        limit: u64::MAX,
                        ..Default::default()
                    };
                    let found = index.search(&request, &held).expect("search");
                    let (expected, facets) = oracle(&rows, &query, &selected, &filter);
                    // A row matches alone exactly when the search finds it (no selection).
                    let (unselected, _) = oracle(&rows, &query, &BTreeMap::new(), &filter);
                    let matcher = Matcher::new(index.spec(), &query);
                    for (key, r) in &rows {
                        let found = unselected.contains_key(&json!(format!("k{key}")).to_string());
                        prop_assert_eq!(matcher.matches(r) && filter(r), found, "row {:?}, query {:?}", r, query);
                    }
                    let got: BTreeMap<String, u32> = found.hits.iter().map(|h| (h.key.to_string(), h.typos)).collect();
                    prop_assert_eq!(&got, &expected, "query {:?}", query);
                    prop_assert_eq!(found.total, expected.len() as u64);
                    // Fewest typos first, then by key.
                    let order: Vec<(u32, String)> = found.hits.iter().map(|h| (h.typos, h.key.to_string())).collect();
                    let mut sorted = order.clone();
                    sorted.sort();
                    prop_assert_eq!(&order, &sorted);
                    // A page is the same rows in the same order as the whole answer's slice.
                    for (offset, limit) in [(0usize, 1usize), (1, 2), (3, 0)] {
                        let page = SearchQuery { offset: offset as u64, limit: limit as u64, ..request.clone() };
                        let page = index.search(&page, &held).expect("page");
                        let want: Vec<String> = order.iter().skip(offset).take(limit).map(|(_, k)| k.clone()).collect();
                        let got: Vec<String> = page.hits.iter().map(|h| h.key.to_string()).collect();
                        prop_assert_eq!(got, want, "page {}+{} of {:?}", offset, limit, query);
                        prop_assert_eq!(page.total, found.total);
                    }
                    // Each hit carries its row as it was put in.
                    for hit in &found.hits {
                        let key: u8 = hit.key.as_str().and_then(|k| k.strip_prefix('k')?.parse().ok()).expect("a key k<n>");
                        prop_assert_eq!(serde_json::to_string(&hit.row).ok(), serde_json::to_string(&rows[&key]).ok());
                    }
                    // Sorted by a column: largest total first, then by key, the same rows.
                    let by_total = SearchQuery {
                        sort: vec![SearchSort { column: "total".into(), descending: true }],
                        ..request.clone()
                    };
                    let sorted_hits = index.search(&by_total, &held).expect("sorted");
                    let got: Vec<String> = sorted_hits.hits.iter().map(|h| h.key.to_string()).collect();
                    let mut want: Vec<(std::cmp::Reverse<u64>, String)> = found
                        .hits
                        .iter()
                        .map(|h| (std::cmp::Reverse(h.row["total"].as_u64().unwrap_or(0)), h.key.to_string()))
                        .collect();
                    want.sort();
                    prop_assert_eq!(got, want.into_iter().map(|(_, k)| k).collect::<Vec<_>>(), "sorted {:?}", query);
                    let counted: BTreeMap<String, BTreeMap<String, u64>> = found
                        .facets
                        .iter()
                        .filter(|(_, counts)| !counts.is_empty())
                        .map(|(f, counts)| (f.clone(), counts.iter().map(|c| (c.value.clone(), c.count)).collect()))
                        .collect();
                    prop_assert_eq!(counted, facets, "query {:?}, selected {:?}", query, selected);
                }
            }
        }
    }
}

/// A row taken out or put in again is neither found nor shown in another row's place until the
/// commit: the searcher still sees the old document, and its id is not given to a new row
/// before then.
#[test]
fn an_uncommitted_change_never_shows_another_row_in_a_rows_place() {
    let spec = IndexSpec { searchable: vec!["name".into()], facets: vec!["status".into()] };
    let mut index = SearchIndex::new(spec).expect("index");
    index.upsert(json!("a"), row(json!({ "name": "ada", "status": "paid" }))).expect("upsert");
    index.upsert(json!("b"), row(json!({ "name": "grace", "status": "paid" }))).expect("upsert");
    index.commit().expect("commit");
    let keys = |index: &SearchIndex, text: &str| -> Vec<Value> {
        let query = SearchQuery { text: text.into(), facets: vec!["status".into()], ..Default::default() };
        index.search(&query, &|_| true).expect("search").hits.into_iter().map(|h| h.key).collect()
    };
    index.remove(&json!("a"));
    index.upsert(json!("c"), row(json!({ "name": "alan", "status": "placed" }))).expect("upsert");
    index.upsert(json!("b"), row(json!({ "name": "grace hopper", "status": "placed" }))).expect("upsert");
    // Before the commit: "ada" was taken out and "b" is being put in again: neither is found,
    // and no other row answers for their documents.
    assert!(keys(&index, "ada").is_empty());
    assert!(keys(&index, "grace").is_empty());
    assert!(keys(&index, "alan").is_empty(), "not committed yet");
    index.commit().expect("commit");
    // Ids freed by the first commit may now be given again: each row is still only itself.
    index.upsert(json!("d"), row(json!({ "name": "adele", "status": "paid" }))).expect("upsert");
    index.upsert(json!("e"), row(json!({ "name": "gracie", "status": "paid" }))).expect("upsert");
    assert_eq!(keys(&index, "grace"), [json!("b")]);
    assert_eq!(keys(&index, "alan"), [json!("c")]);
    assert!(keys(&index, "ada ").is_empty());
    index.commit().expect("commit");
    assert_eq!(keys(&index, "ade"), [json!("d")], "a prefix of adele");
    // "grace" is one typo from "gracie": ranked after the exact match.
    assert_eq!(keys(&index, "gracie "), [json!("e"), json!("b")]);
    assert_eq!(index.len(), 4);
}
