//! The search bar: a live search of the server's `order_search` index (customers and order ids,
//! typos allowed, matched as typed) narrows the table to the orders it finds; beside it, each
//! facet's values with their counts, kept current by the server, picked to narrow further
//! (several values of one facet are alternatives; the other values keep their counts).
//!
//! The bar shows once the server has answered a search (a server without the index never
//! shows it); the table keeps its own filter and sort, over the orders found.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lucarne::iced::widget::{button, container, scrollable, space};
use lucarne::iced::{Alignment, Element, Shrink};
use lucarne::protocol::{ErrorCode, Key};
use lucarne::ui::row_id;
use lucarne::widgets::{Direction, bidi_input, bidi_text, dir_row};
use lucarne::{Found, SearchEvent, SearchQuery};

use super::notice::Notice;
use super::view::{outlined, plain, status_label};
use super::{Desk, Message};
use crate::i18n::{Arg, Locale};

/// The search index the desk searches (the demo's views define it).
pub const INDEX: &str = "order_search";

/// The facets counted, with the message naming each.
const FACETS: [(&str, &str); 2] = [("status", "column-status"), ("region", "column-region")];

/// Orders found that the table shows at most.
const PAGE: u64 = 500;

/// What the desk searches for and what the server found.
#[derive(Debug, Default)]
pub(super) struct Search {
    /// The words typed.
    pub(super) text: String,
    /// The facet values picked.
    pub(super) selected: BTreeMap<String, BTreeSet<String>>,
    /// The last answer, if the server gave one.
    pub(super) found: Option<Found>,
    /// The keys found by their row ids (only while the search narrows the table).
    keys: Option<HashMap<String, Key>>,
    /// The server has no such index (or refused the search): no bar.
    unavailable: bool,
}

impl Search {
    /// The live search asked of the server.
    pub(super) fn query(&self) -> SearchQuery {
        SearchQuery {
            text: self.text.clone(),
            facets: FACETS.iter().map(|(f, _)| (*f).to_owned()).collect(),
            selected: self.selected.clone(),
            limit: PAGE,
            ..SearchQuery::default()
        }
    }

    /// Whether the desk searches at all (the server has the index).
    pub(super) fn available(&self) -> bool {
        !self.unavailable
    }

    /// Whether words are typed or values picked: the table shows only the orders found.
    fn narrows(&self) -> bool {
        !self.text.trim().is_empty() || self.selected.values().any(|v| !v.is_empty())
    }

    /// Whether the table shows the order with this key.
    pub(super) fn keeps(&self, key: &Key) -> bool {
        self.keys.as_ref().is_none_or(|keys| keys.contains_key(&row_id(key)))
    }

    /// Keeps an answer; says which rows of the table it changes.
    fn remember(&mut self, found: Found) -> Rows {
        let keys: Option<HashMap<String, Key>> =
            self.narrows().then(|| found.hits.iter().map(|h| (row_id(&h.key), h.key.clone())).collect());
        let rows = match (&self.keys, &keys) {
            (None, None) => Rows::Same,
            // Only the orders found or no longer found.
            (Some(old), Some(new)) => Rows::These(
                old.iter()
                    .filter(|(id, _)| !new.contains_key(*id))
                    .chain(new.iter().filter(|(id, _)| !old.contains_key(*id)))
                    .map(|(_, key)| key.clone())
                    .collect(),
            ),
            _ => Rows::All,
        };
        self.keys = keys;
        self.found = Some(found);
        rows
    }
}

/// The rows of the table an answer changes.
enum Rows {
    /// None: the counts changed, not the orders shown.
    Same,
    These(Vec<Key>),
    All,
}

impl Desk {
    /// An event of the live search: the table follows what it found.
    pub(super) fn on_search(&mut self, event: SearchEvent) {
        match event {
            SearchEvent::Found(found) => match self.search.remember(found) {
                Rows::Same => {}
                Rows::These(keys) => {
                    for key in keys {
                        self.refresh(&key, false);
                    }
                }
                Rows::All => self.rebuild_table(),
            },
            SearchEvent::Failed { code: ErrorCode::UnknownSearch, .. } => {
                self.search.unavailable = true;
                self.search.keys = None;
                self.rebuild_table();
            }
            SearchEvent::Failed { code, message } => {
                self.notice = Some(Notice::QueryRefused { code: code.to_string(), message });
            }
            SearchEvent::Status(_) => {}
        }
    }

    /// The words typed changed: the search follows as they are typed.
    pub(super) fn search_text(&mut self, text: String) {
        self.search.text = text;
    }

    /// A facet value was picked, or unpicked.
    pub(super) fn toggle_facet(&mut self, facet: String, value: String) {
        let values = self.search.selected.entry(facet.clone()).or_default();
        if !values.remove(&value) {
            values.insert(value);
        }
        if values.is_empty() {
            self.search.selected.remove(&facet);
        }
    }

    /// Back to every order.
    pub(super) fn clear_search(&mut self) {
        self.search.text.clear();
        self.search.selected.clear();
        self.search.keys = None;
        self.rebuild_table();
    }

    /// Every row of the table again, from the orders as shown and what the search keeps (when
    /// the search starts or stops narrowing it).
    fn rebuild_table(&mut self) {
        self.table.clear();
        let keys: Vec<Key> = self.orders.iter().map(|(k, _)| k.clone()).collect();
        for key in keys {
            self.refresh(&key, false);
        }
    }
}

/// The search box, how many orders it found, Clear, and the facets' values with their counts
/// (a line of its own height, the values scrolled sideways where they do not fit, so that
/// answers never move the table).
pub(super) fn search_bar(desk: &Desk) -> Option<Element<'_, Message>> {
    let search = &desk.search;
    if !search.available() {
        return None;
    }
    let locale = desk.locale;
    let dir = locale.direction();
    let mut line: Vec<Element<'_, Message>> = vec![
        bidi_input(&locale.tr("search-placeholder"), &search.text)
            .id("search")
            .direction(dir)
            .on_input(Message::SearchChanged)
            .width(280)
            .into(),
    ];
    let Some(found) = &search.found else {
        // The line runs across, so that the box starts it on the layout's side.
        line.push(space::horizontal().into());
        return Some(dir_row(dir, line).into());
    };
    line.push(
        bidi_text(plain(locale.tr_args("search-found", &[("found", Arg::from(found.total))])))
            .direction(dir)
            .id("search-found")
            .into(),
    );
    if search.narrows() {
        line.push(button(bidi_text(locale.tr("search-clear"))).on_press(Message::ClearSearch).into());
    }
    let mut chips: Vec<Element<'_, Message>> = Vec::new();
    for (facet, title) in FACETS {
        chips.push(bidi_text(locale.tr(title)).direction(dir).size(13).into());
        for (value, count) in values(found, &search.selected, facet) {
            chips.push(chip(locale, facet, value, count, search.selected.get(facet)));
        }
    }
    let chips = dir_row(dir, chips).spacing(6).align_y(Alignment::Center);
    let sideways = scrollable::Direction::Horizontal(scrollable::Scrollbar::new().width(4).scroller_width(4));
    // As wide as the values, at most the rest of the line; right to left, they scroll from the
    // right.
    let chips = scrollable(chips).direction(sideways).width(Shrink);
    let chips = if dir == Direction::Rtl { chips.anchor_right() } else { chips };
    line.push(chips.into());
    line.push(space::horizontal().into());
    Some(dir_row(dir, line).spacing(8).align_y(Alignment::Center).into())
}

/// A facet's values with their counts, most frequent first, and the values picked that the
/// server counted none of (so that they can be unpicked).
fn values<'a>(
    found: &'a Found,
    selected: &'a BTreeMap<String, BTreeSet<String>>,
    facet: &str,
) -> Vec<(&'a str, u64)> {
    let mut out: Vec<(&str, u64)> =
        found.facets.get(facet).into_iter().flatten().map(|c| (c.value.as_str(), c.count)).collect();
    for picked in selected.get(facet).into_iter().flatten() {
        if !out.iter().any(|(v, _)| v == picked) {
            out.push((picked.as_str(), 0));
        }
    }
    out
}

/// One value of a facet with its count: highlighted when picked (id `facet-FACET-VALUE`).
fn chip<'a>(
    locale: Locale,
    facet: &str,
    value: &str,
    count: u64,
    picked: Option<&BTreeSet<String>>,
) -> Element<'a, Message> {
    let label = if facet == "status" { status_label(locale, value) } else { value.to_owned() };
    #[expect(clippy::cast_precision_loss, reason = "counts of rows are far below 2⁵³")]
    let text = format!("{label} {}", locale.number(count as f64, 0));
    let on = picked.is_some_and(|p| p.contains(value));
    let style = if on { button::primary } else { outlined };
    container(
        button(bidi_text(text).direction(locale.direction()).size(13))
            .on_press(Message::ToggleFacet(facet.to_owned(), value.to_owned()))
            .style(style),
    )
    .id(format!("facet-{facet}-{value}"))
    .into()
}
