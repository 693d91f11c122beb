//! The terminal client as an Elm-style program: [`App`] is the state, [`Msg`] what happens to it,
//! [`App::update`] the one place it changes — it does no I/O and returns the [`Effect`]s for the
//! driver to perform — and [`crate::view::view`] draws it.
//!
//! ```
//! use lucarne_tui::app::{App, Effect, Msg, Options};
//! use lucarne_tui::runtime::{Query, ViewEvent};
//! use serde_json::json;
//!
//! let mut app = App::new(Options { view: Some("orders".into()), ..Options::default() }, (80, 24));
//! // The view is opened once the list says how large it is (a large one a window at a time).
//! assert_eq!(app.start(), vec![Effect::ListViews]);
//! let at = lucarne_tui::runtime::protocol::Position { epoch: 1, version: 1 };
//! let info = lucarne_tui::runtime::protocol::ViewInfo { name: "orders".into(), sql: String::new(), at, rows: 1 };
//! assert_eq!(app.update(Msg::Views(Ok(vec![info]))), vec![Effect::Subscribe(Query::view("orders"))]);
//! let row = json!({"order_id": "o-1", "status": "placed"}).as_object().cloned().unwrap_or_default();
//! let rows = vec![lucarne_tui::runtime::protocol::Row { key: json!("o-1"), row }];
//! app.update(Msg::View(ViewEvent::Snapshot { at, rows: rows.into(), resynced: None }));
//! assert_eq!(app.rows().len(), 1);
//! ```

pub mod input;
mod keys;
mod options;
pub mod rows;

use std::borrow::Cow;
use std::time::{Duration, Instant};

use crossterm::event::{KeyEvent, KeyEventKind, MouseEvent};
use lucarne_protocol::{Ack, Columns, ViewInfo};
use lucarne_runtime::{Answered, CommandError, Optimistic, Outcome, Query, Status, ViewEvent};
use serde::de::IgnoredAny;
use serde_json::Value;

use self::input::Input;
use self::keys::labelled;
pub use self::options::{Action, BadAction, BadChart, ChartSpec, Options, RowAction, desk};
use self::rows::{Collation, Rows, Sort};

/// What happens to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// The mouse was used.
    Mouse(MouseEvent),
    /// The terminal has a new size.
    Resize(u16, u16),
    /// The server's views (or why they could not be listed).
    Views(Result<Vec<ViewInfo>, String>),
    /// Something happened to the open view's subscription.
    View(ViewEvent),
    /// Something happened to the chart's subscription.
    Chart(ViewEvent),
    /// A row action sent was answered.
    Delivered(Answered),
    /// A command sent was answered.
    Answered {
        /// The id [`Effect::Send`] gave it.
        id: u64,
        /// The answer.
        answer: Result<Ack, CommandError>,
    },
    /// Time passed (the offline countdown ticks).
    Tick(Instant),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// List the server's views, answering with [`Msg::Views`].
    ListViews,
    /// Watch this query instead of any other, answering with [`Msg::View`].
    Subscribe(Query),
    /// Stop watching.
    Unsubscribe,
    /// Watch the chart's view, answering with [`Msg::Chart`].
    WatchChart(Query),
    /// Send a row action: the driver gives it the client's next seq ([`App::begin`]) and
    /// delivers it, answering with [`Msg::Delivered`].
    Act(RowAction),
    /// Send a command, answering with [`Msg::Answered`].
    Send {
        /// Its id in the answer.
        id: u64,
        /// The command.
        name: String,
        /// Its payload.
        payload: Value,
    },
    /// Leave.
    Quit,
}

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The server's views.
    Views,
    /// One view as a table.
    Table,
}

/// The query bar's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `where`.
    Where = 0,
    /// `order by`.
    OrderBy = 1,
    /// `limit`.
    Limit = 2,
}

/// What the keys do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Moving through the table or the list.
    Browse,
    /// Editing the live query.
    Query {
        /// `where`, `order by`, `limit`.
        fields: [Input; 3],
        /// The field typed into.
        focus: Field,
    },
    /// Typing a command: its name, a space, its JSON payload.
    Command(Input),
    /// The selected row's every column.
    Detail,
}

/// The connection as shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// Opening, or waiting for the first snapshot.
    Connecting,
    /// Up to date.
    Live,
    /// A fresh copy is coming.
    Resyncing,
    /// No connection; the next try at `retry_at`.
    Offline {
        /// When the runtime tries again.
        retry_at: Instant,
        /// Why the connection was lost.
        reason: String,
    },
}

/// The line under the table: the last thing worth saying.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A command is on its way.
    Sending {
        /// Its name.
        command: String,
    },
    /// A command was accepted.
    Accepted {
        /// Its name.
        command: String,
        /// The log position of its last event (when the answer gave it).
        position: Option<u64>,
    },
    /// A command was refused.
    Rejected {
        /// Its name.
        command: String,
        /// The server's code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server refused the live query typed; `column` is where in the field it points.
    BadQuery {
        /// The field the error is in.
        field: Field,
        /// Its column in the field's text (characters from 0), when the message gives one.
        column: Option<usize>,
        /// The server's code and message.
        message: String,
        /// The query refused (the one watched stays the last good one).
        tried: Query,
    },
    /// Anything else that went wrong.
    Error(String),
}

/// A command typed at the prompt, sent and not yet answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub command: String,
}

/// The terminal client's state (see the module docs).
#[derive(Debug)]
pub struct App {
    options: Options,
    screen: Screen,
    views: Vec<ViewInfo>,
    view_selected: usize,
    /// The query subscribed to, and the last one that gave rows.
    query: Option<Query>,
    good: Option<Query>,
    rows: Rows,
    selected: usize,
    top: usize,
    column: usize,
    link: Link,
    mode: Mode,
    notice: Option<Notice>,
    pending: Vec<Pending>,
    /// The row actions on their way, reconciled with the rows by the runtime's rules.
    optimistic: Optimistic<IgnoredAny, RowAction>,
    chart: Rows,
    /// Watching a window of a large view.
    window: Option<Windowed>,
    /// A view to open once the list says how many rows it has.
    opening: Option<String>,
    next_id: u64,
    size: (u16, u16),
    now: Instant,
}

/// Views of more rows than this are watched a window at a time, unless told otherwise.
pub const WINDOW_ABOVE: u64 = 100_000;

/// Rows of a window watched at a time.
pub const WINDOW_ROWS: u64 = 600;

/// A view watched a window at a time: where the rows held start, where the window asked for
/// starts, and how many rows the view has (as listed, or as found at its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windowed {
    /// The place of the first row held.
    pub base: u64,
    /// The place the window asked for last starts at (equal to `base` once its rows came).
    pub asked: u64,
    /// Rows of the view.
    pub total: u64,
}

/// Lines of the screen that are not the table's rows: title, query bar, the table's header,
/// notice, keys.
pub const CHROME_LINES: u16 = 5;

impl App {
    /// A client of `size` (columns, lines) that has not started.
    pub fn new(options: Options, size: (u16, u16)) -> App {
        App {
            optimistic: Optimistic::new(options.client_id.clone()),
            options,
            screen: Screen::Views,
            views: Vec::new(),
            view_selected: 0,
            query: None,
            good: None,
            rows: Rows::default(),
            selected: 0,
            top: 0,
            column: 0,
            link: Link::Connecting,
            mode: Mode::Browse,
            notice: None,
            pending: Vec::new(),
            chart: Rows::default(),
            window: None,
            opening: None,
            next_id: 1,
            size,
            now: Instant::now(),
        }
    }

    /// What to do first: open the view asked for, or list the views.
    pub fn start(&mut self) -> Vec<Effect> {
        // A view asked for is opened once the list says how large it is.
        if let Some(view) = self.options.view.clone() {
            self.screen = Screen::Table;
            self.query = Some(Query::view(view.clone()));
            self.opening = Some(view);
        }
        let mut effects = vec![Effect::ListViews];
        if let Some(chart) = &self.options.chart {
            effects.push(Effect::WatchChart(Query::view(chart.view.clone())));
        }
        effects
    }

    /// The chart's rows (in its label's natural order).
    pub fn chart_rows(&self) -> &Rows {
        &self.chart
    }

    /// The screen shown.
    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// The options it runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The server's views, as last listed.
    pub fn views(&self) -> &[ViewInfo] {
        &self.views
    }

    /// The view chosen in the list.
    pub fn view_selected(&self) -> usize {
        self.view_selected
    }

    /// The query watched.
    pub fn query(&self) -> Option<&Query> {
        self.query.as_ref()
    }

    /// The open view's rows, in the table's order.
    pub fn rows(&self) -> &Rows {
        &self.rows
    }

    /// The selected row's place.
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// The first row shown.
    pub fn top(&self) -> usize {
        self.top
    }

    /// The selected column's place among the rows' columns.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The connection.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// What the keys do.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The notice line.
    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// Commands typed at the prompt, sent and not answered.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// True while a row action on this row (its key's JSON text) is pending.
    pub fn is_pending(&self, key_text: &str) -> bool {
        self.rows.get(key_text).is_some_and(|(key, _)| self.optimistic.is_pending(key))
    }

    /// The row at `index` as shown: the server's, with what each pending row action on it shows
    /// laid over (oldest first).
    pub fn shown_row(&self, index: usize) -> Option<Cow<'_, Columns>> {
        let text = self.key_at(index)?;
        let (key, row) = self.rows.get(text)?;
        if !self.optimistic.is_pending(key) {
            return Some(Cow::Borrowed(row));
        }
        let mut shown = row.clone();
        for (_, change) in self.optimistic.pending().filter(|(_, c)| &c.key == key) {
            if let Some((column, value)) = &change.shows {
                shown.insert(column.clone(), value.clone());
            }
        }
        Some(Cow::Owned(shown))
    }

    /// Shows a row action at once and gives the command to deliver with `seq` (the client's
    /// next: [`Client::next_seq`](lucarne_runtime::Client::next_seq)).
    pub fn begin(&mut self, seq: u64, change: RowAction) -> lucarne_runtime::Command {
        self.optimistic.begin(seq, change)
    }

    /// The terminal's size (columns, lines).
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    /// The time of the last message (the countdown is drawn from it).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// True while something on screen changes with time alone (the offline countdown).
    pub fn ticking(&self) -> bool {
        matches!(self.link, Link::Offline { .. })
    }

    /// Rows of the table on screen.
    pub fn page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(CHROME_LINES)).max(1)
    }

    /// Applies a message at the present time.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        self.update_at(msg, Instant::now())
    }

    /// Applies a message at `now` (tests pass their own clock).
    pub fn update_at(&mut self, msg: Msg, now: Instant) -> Vec<Effect> {
        self.now = now;
        match msg {
            Msg::Key(key) if key.kind != KeyEventKind::Release => self.key(key),
            Msg::Key(_) | Msg::Tick(_) => Vec::new(),
            Msg::Mouse(mouse) => self.mouse(mouse),
            Msg::Resize(width, height) => {
                self.size = (width, height);
                self.scroll();
                self.rewindow()
            }
            Msg::Views(Ok(views)) => {
                self.views = views;
                self.view_selected = self.view_selected.min(self.views.len().saturating_sub(1));
                self.link = Link::Live;
                match self.opening.take() {
                    Some(view) => {
                        let rows = self.views.iter().find(|v| v.name == view).map(|v| v.rows);
                        self.open(Query::view(view), rows)
                    }
                    None => Vec::new(),
                }
            }
            Msg::Views(Err(why)) => {
                self.notice = Some(Notice::Error(why));
                match self.opening.take() {
                    Some(view) => self.open(Query::view(view), None),
                    None => Vec::new(),
                }
            }
            Msg::View(event) => {
                self.optimistic.apply(&event);
                self.view_event(event)
            }
            Msg::Chart(event) => {
                match event {
                    ViewEvent::Snapshot { rows, .. } => {
                        self.chart.reset(rows.into_iter().map(|r| (r.key, r.row)))
                    }
                    ViewEvent::Delta(delta) => self.chart.apply(delta.ops),
                    ViewEvent::Failed { code, message } => {
                        self.notice = Some(Notice::Error(format!("{code}: {message}")));
                    }
                    ViewEvent::Status(_) | ViewEvent::Resumed { .. } => {}
                }
                Vec::new()
            }
            Msg::Delivered(answered) => {
                let position = answered.result.as_ref().ok().map(|ack| ack.position);
                self.notice = match self.optimistic.answered(answered) {
                    Outcome::Accepted(change) => {
                        Some(Notice::Accepted { command: labelled(&change), position })
                    }
                    Outcome::RolledBack { change, error } => Some(match error {
                        CommandError::Rejected { code, message } => {
                            Notice::Rejected { command: labelled(&change), code: code.to_string(), message }
                        }
                        CommandError::Stopped => Notice::Error(CommandError::Stopped.to_string()),
                    }),
                    Outcome::Unknown => self.notice.take(),
                };
                Vec::new()
            }
            Msg::Answered { id, answer } => {
                let Some(at) = self.pending.iter().position(|p| p.id == id) else { return Vec::new() };
                let command = self.pending.remove(at).command;
                self.notice = Some(match answer {
                    Ok(ack) => Notice::Accepted { command, position: Some(ack.position) },
                    Err(CommandError::Rejected { code, message }) => {
                        Notice::Rejected { command, code: code.to_string(), message }
                    }
                    Err(e) => Notice::Error(e.to_string()),
                });
                Vec::new()
            }
        }
    }

    /// Opens a view of `rows` rows (when known): whole, or a window at a time when it is large.
    fn open(&mut self, query: Query, rows: Option<u64>) -> Vec<Effect> {
        let above = self.options.window_above.unwrap_or(WINDOW_ABOVE);
        self.window = rows.filter(|r| *r > above).map(|total| Windowed { base: 0, asked: 0, total });
        self.screen = Screen::Table;
        self.rows = Rows::default();
        self.selected = 0;
        self.top = 0;
        self.column = 0;
        self.mode = Mode::Browse;
        self.link = Link::Connecting;
        self.good = None;
        self.apply(query)
    }

    /// Watches `query` in place of the one watched; the rows stay until its snapshot comes.
    fn apply(&mut self, query: Query) -> Vec<Effect> {
        self.query = Some(query.clone());
        if self.windowed().is_some() {
            // A window is shown in the order the server cut it in.
            self.rows.sort(Sort {
                columns: order_columns(query.order_by.as_deref()),
                collation: Collation::Exact,
            });
        } else if let Some(sort) = sort_of(query.order_by.as_deref()) {
            self.rows.sort(sort);
        }
        vec![Effect::Subscribe(self.watched(query))]
    }

    /// The window watched, while a large view is watched a window at a time (not when the
    /// query has a limit of its own).
    pub fn windowed(&self) -> Option<&Windowed> {
        self.window.as_ref().filter(|_| self.query.as_ref().is_none_or(|q| q.limit.is_none()))
    }

    /// What is subscribed for a query: itself, or its window.
    fn watched(&self, query: Query) -> Query {
        match self.windowed() {
            Some(w) => query.limit(WINDOW_ROWS).offset(w.asked),
            None => query,
        }
    }

    /// Asks for another window when the rows on screen are not all held (nor on their way).
    fn rewindow(&mut self) -> Vec<Effect> {
        let Some(w) = self.windowed().copied() else { return Vec::new() };
        let page = self.page() as u64;
        let (top, end) = (self.top as u64, (self.top as u64 + page).min(w.total));
        let held = w.base..=w.base + self.rows.len() as u64;
        let asked = w.asked..=w.asked + WINDOW_ROWS;
        let covered = |r: &std::ops::RangeInclusive<u64>| r.contains(&top) && r.contains(&end);
        if covered(&held) || (w.asked != w.base && covered(&asked)) {
            return Vec::new();
        }
        let start = top.saturating_sub(WINDOW_ROWS / 3);
        if let Some(w) = &mut self.window {
            w.asked = start;
        }
        let Some(query) = self.query.clone() else { return Vec::new() };
        vec![Effect::Subscribe(self.watched(query))]
    }

    /// Rows of the open view: all of them, or the view's when a window is held.
    pub fn len(&self) -> usize {
        match self.windowed() {
            Some(w) => usize::try_from(w.total.max(w.base + self.rows.len() as u64)).unwrap_or(usize::MAX),
            None => self.rows.len(),
        }
    }

    /// True when the open view has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The place among the rows held of the row at `index` in the view.
    fn held_index(&self, index: usize) -> Option<usize> {
        match self.windowed() {
            Some(w) => index.checked_sub(usize::try_from(w.base).ok()?).filter(|i| *i < self.rows.len()),
            None => Some(index),
        }
    }

    /// The key (JSON text) of the row at `index` in the view, when it is held.
    pub fn key_at(&self, index: usize) -> Option<&String> {
        self.rows.key_at(self.held_index(index)?)
    }

    fn view_event(&mut self, event: ViewEvent) -> Vec<Effect> {
        match event {
            ViewEvent::Status(status) => {
                self.link = match status {
                    Status::Connecting => Link::Connecting,
                    Status::Live => Link::Live,
                    Status::Resyncing(_) => Link::Resyncing,
                    Status::Offline { retry_in, reason } => {
                        Link::Offline { retry_at: self.now + retry_in, reason: reason.to_string() }
                    }
                };
            }
            ViewEvent::Snapshot { rows, .. } => {
                let kept = self.selected_key();
                let count = rows.len() as u64;
                if let Some(w) =
                    self.window.as_mut().filter(|_| self.query.as_ref().is_none_or(|q| q.limit.is_none()))
                {
                    w.base = w.asked;
                    // A window short of its rows ends the view: now its size is known.
                    if count < WINDOW_ROWS {
                        w.total = w.base + count;
                    }
                }
                self.rows.reset(rows.into_iter().map(|r| (r.key, r.row)));
                if self.good != self.query {
                    if matches!(self.notice, Some(Notice::BadQuery { .. })) {
                        self.notice = None;
                    }
                    self.good = self.query.clone();
                }
                self.link = Link::Live;
                self.follow(kept);
            }
            ViewEvent::Resumed { .. } => self.link = Link::Live,
            ViewEvent::Delta(delta) => {
                let kept = self.selected_key();
                self.rows.apply(delta.ops);
                self.follow(kept);
            }
            ViewEvent::Failed { code, message } => {
                let message = format!("{code}: {message}");
                match self.good.clone() {
                    // A query typed was refused: say where, and watch the last good one again.
                    Some(good) if Some(&good) != self.query.as_ref() => {
                        let tried = self.query.clone().unwrap_or_else(|| good.clone());
                        self.notice = Some(bad_query(&tried, message));
                        self.query = Some(good.clone());
                        return vec![Effect::Subscribe(self.watched(good))];
                    }
                    // The view itself was refused (unknown, not allowed): back to the list.
                    _ => {
                        self.notice = Some(Notice::Error(message));
                        self.screen = Screen::Views;
                        self.query = None;
                        return vec![Effect::Unsubscribe, Effect::ListViews];
                    }
                }
            }
        }
        Vec::new()
    }

    fn selected_key(&self) -> Option<String> {
        self.key_at(self.selected).cloned()
    }

    /// Keeps the selection on the same row as rows move, else at the same place.
    fn follow(&mut self, kept: Option<String>) {
        let base = self.windowed().map_or(0, |w| usize::try_from(w.base).unwrap_or(usize::MAX));
        if let Some(at) = kept.and_then(|k| self.rows.index_of(&k)) {
            self.selected = base + at;
        }
        self.selected = self.selected.min(self.len().saturating_sub(1));
        self.scroll();
    }

    /// Keeps the selected row on screen.
    fn scroll(&mut self) {
        let page = self.page();
        if self.selected < self.top {
            self.top = self.selected;
        } else if self.selected >= self.top + page {
            self.top = self.selected + 1 - page;
        }
        self.top = self.top.min(self.len().saturating_sub(page));
    }

    fn move_to(&mut self, at: usize) {
        self.selected = at.min(self.len().saturating_sub(1));
        self.scroll();
    }
}

/// The table's own order for a query's `order by`: its first term when it is a plain column.
fn sort_of(order_by: Option<&str>) -> Option<Sort> {
    let columns = order_columns(order_by);
    (!columns.is_empty()).then_some(Sort { columns, collation: Collation::Natural })
}

/// The columns of an `order by`, each `true` for descending; none unless every term is a plain
/// column with an optional direction (the server says what else is wrong).
fn order_columns(order_by: Option<&str>) -> Vec<(String, bool)> {
    let Some(text) = order_by else { return Vec::new() };
    let mut columns = Vec::new();
    for term in text.split(',') {
        let mut words = term.split_whitespace();
        let Some(column) = words.next().filter(|c| c.chars().all(|c| c.is_alphanumeric() || c == '_')) else {
            return Vec::new();
        };
        let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Vec::new(),
        };
        if words.next().is_some() {
            return Vec::new();
        }
        columns.push((column.to_owned(), descending));
    }
    columns
}

/// The server's refusal of a query typed, pointed at its field and column: the server reads
/// `where` and `order by` each on its own, so its `column C` counts in that field's text.
fn bad_query(tried: &Query, message: String) -> Notice {
    let lower = message.to_ascii_lowercase();
    let field = if lower.contains("order_by") || lower.contains("order by") || tried.filter.is_none() {
        Field::OrderBy
    } else {
        Field::Where
    };
    let column = lower
        .rsplit_once("column ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok())
        .map(|c| c.saturating_sub(1));
    Notice::BadQuery { field, column, message, tried: tried.clone() }
}

/// How long until the offline countdown's next try, in whole seconds rounded up.
pub fn seconds_left(retry_at: Instant, now: Instant) -> u64 {
    let left = retry_at.saturating_duration_since(now);
    left.as_secs() + u64::from(left.subsec_nanos() > 0 && left > Duration::ZERO)
}

#[cfg(test)]
mod tests;
