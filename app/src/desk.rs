//! The order desk: state, `update`, `view`, `subscription`.

use iced::time::Instant;
use std::collections::BTreeMap;
use std::path::PathBuf;

use iced::widget::{button, column, container, scrollable, space};
use iced::{Alignment, Element, Fill, Length, Size, Subscription, Task};
use lucarne::protocol::{Key, Op};
use lucarne::{Client, ClientConfig, CommandError, LiveView, Query, Status, ViewEvent};
use lucarne_widgets::{
    Align, BidiText, Cell, Column, Connection, Direction, Sort, TableRows, bidi_input, bidi_text,
    connection_status, dir_row, live_table,
};
use serde::Deserialize;
use serde_json::json;

use crate::chart::{Chart, chart};
use crate::i18n::{Arg, Locale, strip_isolates};

/// How the desk connects.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server's WebSocket URL.
    pub server: String,
    /// Where "Export PDF" writes its files.
    pub export_dir: PathBuf,
    /// The language it starts in (switchable at runtime with [`Message::Locale`]).
    pub locale: Locale,
    /// Where the commands not yet answered are kept across runs (native; see
    /// `ClientConfig::outbox_file`). `None`: in memory only.
    pub outbox: Option<PathBuf>,
}

impl Config {
    /// A desk talking to this server, exporting into the current directory, in English.
    pub fn new(server: impl Into<String>) -> Self {
        Config { server: server.into(), export_dir: PathBuf::from("."), locale: Locale::En, outbox: None }
    }

    /// Starts in this language (its layout direction mirrors the screen for Arabic and Hebrew).
    pub fn locale(mut self, locale: Locale) -> Self {
        self.locale = locale;
        self
    }

    /// Exports PDF files into this directory.
    pub fn export_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.export_dir = dir.into();
        self
    }

    /// Keeps the unanswered commands in this file, so that they are sent after the app is
    /// closed or crashes and is started again (native).
    pub fn outbox(mut self, file: impl Into<PathBuf>) -> Self {
        self.outbox = Some(file.into());
        self
    }
}

/// The window size the desk opens with, and lays its main screen out at for PDF until it
/// hears of its window's size.
pub const DEFAULT_VIEWPORT: Size = Size::new(1100.0, 700.0);

/// A screen of the desk that can be exported as PDF (see `export`, native only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The main screen, as the window shows it, on one page.
    Main,
    /// Every order of the table (not only the visible ones), in the table's order, paginated.
    Orders,
}

impl Screen {
    /// Its name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Screen::Main => "main",
            Screen::Orders => "orders",
        }
    }

    /// The screen named `name` (`main`, `orders`).
    pub fn from_name(name: &str) -> Option<Screen> {
        [Screen::Main, Screen::Orders].into_iter().find(|s| s.name() == name)
    }
}

/// A row of the `orders` view.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Order {
    /// Its id (the view's key).
    pub order_id: String,
    /// Who placed it.
    #[serde(default)]
    pub customer: String,
    /// Where.
    #[serde(default)]
    pub region: Option<String>,
    /// Its amount.
    #[serde(default)]
    pub total: f64,
    /// `placed`, `paid`, `shipped` or `cancelled`.
    #[serde(default)]
    pub status: Option<String>,
}

/// A row of the `sales_by_region` view.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Region {
    /// The region (the view's key).
    pub region: String,
    /// Orders placed.
    #[serde(default)]
    pub orders: f64,
    /// Their total.
    #[serde(default)]
    pub revenue: f64,
}

/// An action on an order, sent as the command of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `pay_order`: placed → paid.
    Pay,
    /// `ship_order`: paid → shipped.
    Ship,
    /// `cancel_order`: placed or paid → cancelled.
    Cancel,
}

impl Action {
    /// The actions, in the order of the table's buttons.
    pub const ALL: [Action; 3] = [Action::Pay, Action::Ship, Action::Cancel];

    /// The button's label in English (see [`Action::label_in`]).
    pub fn label(self) -> &'static str {
        match self {
            Action::Pay => "Pay",
            Action::Ship => "Ship",
            Action::Cancel => "Cancel",
        }
    }

    /// Its short name (`pay`, `ship`, `cancel`): the selector of the locales' messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Pay => "pay",
            Action::Ship => "ship",
            Action::Cancel => "cancel",
        }
    }

    /// The button's label in `locale` (the action buttons' ids are `"{order id}:{label}"`).
    pub fn label_in(self, locale: Locale) -> String {
        locale.tr(&format!("action-{}", self.name()))
    }

    /// The command's name.
    pub fn command(self) -> &'static str {
        match self {
            Action::Pay => "pay_order",
            Action::Ship => "ship_order",
            Action::Cancel => "cancel_order",
        }
    }

    /// The status the order has once the command is applied.
    pub fn status(self) -> &'static str {
        match self {
            Action::Pay => "paid",
            Action::Ship => "shipped",
            Action::Cancel => "cancelled",
        }
    }

    /// Whether it makes sense from this status.
    pub fn allowed_from(self, status: &str) -> bool {
        match self {
            Action::Pay => status == "placed",
            Action::Ship => status == "paid",
            Action::Cancel => status == "placed" || status == "paid",
        }
    }
}

/// A command sent and not yet reflected in the view: the row shows its effect meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The order.
    pub order_id: String,
    /// What was done to it.
    pub action: Action,
    /// The server accepted it (the delta carrying it may still be on its way).
    pub accepted: bool,
}

/// A command the desk sent (the outgoing log, newest last).
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Its sequence number.
    pub seq: u64,
    /// The command's name.
    pub name: &'static str,
    /// Its payload.
    pub payload: serde_json::Value,
}

/// What happens in the desk.
#[derive(Debug, Clone)]
pub enum Message {
    /// The language was switched (the screen mirrors for Arabic and Hebrew).
    Locale(Locale),
    /// An event of the `orders` subscription.
    Orders(ViewEvent),
    /// An event of the `sales_by_region` subscription.
    Regions(ViewEvent),
    /// A header was clicked.
    Sort(usize),
    /// A row was clicked.
    Select(String),
    /// An action button was pressed on a row: (order id, index in [`Action::ALL`]).
    Act(String, usize),
    /// A command was answered.
    Answered(u64, Result<(), CommandError>),
    /// The filter box changed.
    FilterChanged(String),
    /// The filter box was submitted.
    ApplyFilter,
    /// The notice was dismissed.
    Dismiss,
    /// The window was resized (the main screen's PDF is laid out at this size).
    Resized(Size),
    /// "Export PDF" was pressed for a screen.
    Export(Screen),
}

/// The desk's state.
#[derive(Debug)]
pub struct Desk {
    client: Client,
    query: Query,
    /// The last query the server answered with rows: a refused one falls back to it.
    answered: Query,
    orders: LiveView<Order>,
    regions: LiveView<Region>,
    table: TableRows,
    selected: Option<String>,
    pending: BTreeMap<u64, Pending>,
    next_seq: u64,
    sent: Vec<Sent>,
    notice: Option<Notice>,
    connection: Connection,
    filter: String,
    viewport: Size,
    export_dir: PathBuf,
    locale: Locale,
}

/// A notice, kept as data and worded when shown, so that it follows a switch of language.
#[derive(Debug, Clone, PartialEq)]
enum Notice {
    #[cfg_attr(target_arch = "wasm32", allow(dead_code, reason = "the browser exports no files"))]
    Saved {
        path: String,
        pages: usize,
        ms: u64,
    },
    #[cfg_attr(target_arch = "wasm32", allow(dead_code, reason = "the browser exports no files"))]
    SaveFailed {
        path: String,
        error: String,
    },
    #[cfg_attr(target_arch = "wasm32", allow(dead_code, reason = "the browser exports no files"))]
    ExportFailed {
        screen: Screen,
        error: String,
    },
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, reason = "only the browser has no PDF"))]
    NoPdf,
    QueryRefused {
        code: String,
        message: String,
    },
    CommandFailed {
        action: Action,
        order: String,
        reason: Option<String>,
    },
}

impl Notice {
    /// Its text in `locale` (arguments isolated: a path or an order id keeps its place in a
    /// right-to-left sentence).
    fn text(&self, locale: Locale) -> String {
        match self {
            Notice::Saved { path, pages, ms } => locale.tr_args(
                "notice-saved",
                &[("path", Arg::from(path.as_str())), ("pages", Arg::from(*pages)), ("ms", Arg::from(*ms))],
            ),
            Notice::SaveFailed { path, error } => locale.tr_args(
                "notice-save-failed",
                &[("path", Arg::from(path.as_str())), ("error", Arg::from(error.as_str()))],
            ),
            Notice::ExportFailed { screen, error } => locale.tr_args(
                "notice-export-failed",
                &[("screen", Arg::from(screen.name())), ("error", Arg::from(error.as_str()))],
            ),
            Notice::NoPdf => locale.tr("notice-no-pdf"),
            Notice::QueryRefused { code, message } => locale.tr_args(
                "notice-query-refused",
                &[("code", Arg::from(code.as_str())), ("message", Arg::from(message.as_str()))],
            ),
            Notice::CommandFailed { action, order, reason } => {
                let reason = reason.clone().unwrap_or_else(|| locale.tr("reason-connection-stopped"));
                locale.tr_args(
                    "notice-command-failed",
                    &[
                        ("action", Arg::from(action.name())),
                        ("order", Arg::from(order.as_str())),
                        ("reason", Arg::from(reason)),
                    ],
                )
            }
        }
    }
}

/// A message whose arguments are only numbers, without Fluent's isolates: digits need no
/// isolating, and window titles and status lines stay plain text for tools and tests.
fn plain(text: String) -> String {
    strip_isolates(&text)
}

/// The word for an order's status in `locale` (an unknown status is shown as the server sent it).
fn status_label(locale: Locale, status: &str) -> String {
    match status {
        "placed" | "paid" | "shipped" | "cancelled" => locale.tr(&format!("status-{status}")),
        other => other.to_owned(),
    }
}

/// The side where lines start (`start`) or end in a layout of direction `direction`, as an
/// absolute alignment: data (names, numbers) sits at the layout's start or end whatever its
/// own script, as in a mirrored table.
fn side(direction: Direction, align: Align) -> Align {
    match align.resolve(direction) {
        iced::alignment::Horizontal::Left => Align::Left,
        iced::alignment::Horizontal::Center => Align::Center,
        iced::alignment::Horizontal::Right => Align::Right,
    }
}

/// A column of the order table: its title's message, its width in pixels (`None`: fills),
/// numbers (aligned to the end: the right, or the left in a right-to-left layout).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ColumnSpec {
    pub title: &'static str,
    pub width: Option<f32>,
    pub right: bool,
}

/// The orders view's columns, on screen and on paper; the last one holds the actions.
pub(crate) const COLUMNS: [ColumnSpec; 6] = [
    ColumnSpec { title: "column-order", width: Some(110.0), right: false },
    ColumnSpec { title: "column-customer", width: None, right: false },
    ColumnSpec { title: "column-region", width: Some(80.0), right: false },
    ColumnSpec { title: "column-total", width: Some(100.0), right: true },
    ColumnSpec { title: "column-status", width: Some(110.0), right: false },
    ColumnSpec { title: "column-actions", width: Some(230.0), right: false },
];

fn columns(locale: Locale) -> Vec<Column> {
    COLUMNS
        .iter()
        .map(|spec| {
            let column = Column::new(locale.tr(spec.title))
                .width(spec.width.map_or(Length::Fill, Length::Fixed))
                // The actions are buttons, not values: nothing to sort by.
                .sortable(spec.title != "column-actions");
            if spec.right { column.align_right() } else { column }
        })
        .collect()
}

impl Desk {
    /// A desk connecting to the configured server.
    pub fn new(config: Config) -> Self {
        // `a,b,c`: servers of one cluster, tried in turn.
        let mut client = ClientConfig::servers([config.server.as_str()]);
        if let Some(file) = config.outbox {
            client = client.outbox_file(file);
        }
        let mut desk = Self::with_client(Client::connect(client));
        desk.export_dir = config.export_dir;
        desk.locale = config.locale;
        desk
    }

    /// A desk over an existing client.
    pub fn with_client(client: Client) -> Self {
        let next_seq = client.last_seq();
        Desk {
            client,
            query: Query::view("orders"),
            answered: Query::view("orders"),
            orders: LiveView::new(),
            regions: LiveView::new(),
            table: TableRows::new(),
            selected: None,
            pending: BTreeMap::new(),
            next_seq,
            sent: Vec::new(),
            notice: None,
            connection: Connection::Connecting,
            filter: String::new(),
            viewport: DEFAULT_VIEWPORT,
            export_dir: PathBuf::from("."),
            locale: Locale::En,
        }
    }

    /// The language the desk speaks (English until told otherwise).
    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The orders as received from the server (no optimistic state).
    pub fn orders(&self) -> &LiveView<Order> {
        &self.orders
    }

    /// The rows as the table shows them (with optimistic state).
    pub fn table(&self) -> &TableRows {
        &self.table
    }

    /// The status an order is shown with: its latest pending action's, else the server's.
    pub fn shown_status(&self, order_id: &str) -> Option<String> {
        let pending = self.pending.values().rev().find(|p| p.order_id == order_id);
        match pending {
            Some(p) => Some(p.action.status().to_owned()),
            None => self.orders.get(&json!(order_id)).and_then(|o| o.status.clone()),
        }
    }

    /// Commands sent and not yet reflected in the view, by sequence number.
    pub fn pending(&self) -> &BTreeMap<u64, Pending> {
        &self.pending
    }

    /// Every command sent, oldest first.
    pub fn sent(&self) -> &[Sent] {
        &self.sent
    }

    /// The notice shown (a rejection, a refused filter), in the desk's language, as shown
    /// (Fluent's isolates around its arguments included; see [`strip_isolates`]).
    pub fn notice(&self) -> Option<String> {
        self.notice.as_ref().map(|notice| notice.text(self.locale))
    }

    /// The live query the table shows.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The connection as the badge shows it.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The size of the window the desk is shown in (the main screen's PDF is laid out at it).
    pub fn viewport(&self) -> Size {
        self.viewport
    }

    /// Writes a screen as PDF into the export directory and says where in the notice.
    #[cfg(not(target_arch = "wasm32"))]
    fn export(&mut self, screen: Screen) {
        let started = Instant::now();
        let stem = format!(
            "lucarne-{}-{}",
            screen.name(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        );
        let options = crate::export::options(self, screen);
        self.notice = Some(match crate::export::export(self, screen, &options, &mut |_| {}) {
            Ok(exported) => match write_new(&self.export_dir, &stem, &exported.pdf) {
                Ok(path) => Notice::Saved {
                    path: path.display().to_string(),
                    pages: exported.pages,
                    ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                },
                Err((path, error)) => {
                    Notice::SaveFailed { path: path.display().to_string(), error: error.to_string() }
                }
            },
            Err(error) => Notice::ExportFailed { screen, error: error.to_string() },
        });
    }

    /// The browser build has no PDF export (printpdf would double the page's size).
    #[cfg(target_arch = "wasm32")]
    fn export(&mut self, _: Screen) {
        self.notice = Some(Notice::NoPdf);
    }

    fn cells(&self, order: &Order) -> Vec<Cell> {
        let locale = self.locale;
        let pending = self.pending.values().rev().find(|p| p.order_id == order.order_id);
        let server_status = order.status.clone().unwrap_or_default();
        let (status, shown) = match pending {
            // Not isolated: "paid…" is one word and its ellipsis, which must follow the
            // word's direction (an isolate would leave the ellipsis on the wrong side in RTL).
            Some(p) => (
                p.action.status().to_owned(),
                plain(locale.tr_args(
                    "status-pending",
                    &[("status", Arg::from(status_label(locale, p.action.status())))],
                )),
            ),
            None => (server_status.clone(), status_label(locale, &server_status)),
        };
        let busy = pending.is_some();
        vec![
            Cell::text(order.order_id.clone()),
            Cell::text(order.customer.clone()),
            Cell::text(order.region.clone().unwrap_or_default()),
            Cell::number(order.total, locale.number(order.total, 2)),
            Cell::text(shown),
            Cell::actions(Action::ALL.map(|a| (a.label_in(locale), !busy && a.allowed_from(&status)))),
        ]
    }

    /// Rebuilds every row (their words and numbers are the locale's).
    fn relabel(&mut self) {
        let keys: Vec<Key> = self.orders.iter().map(|(k, _)| k.clone()).collect();
        for key in keys {
            self.refresh(&key, false);
        }
    }

    /// Rebuilds the table row of one order from the server's row and the pending commands.
    fn refresh(&mut self, key: &Key, highlight: bool) {
        let id = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
        match self.orders.get(key) {
            Some(order) => {
                let cells = self.cells(order);
                if highlight {
                    self.table.upsert(&id, cells);
                } else {
                    self.table.upsert_quiet(&id, cells);
                }
            }
            None => {
                self.table.remove(&id);
            }
        }
    }

    fn on_orders(&mut self, event: ViewEvent) {
        let acked: Vec<u64> = match &event {
            ViewEvent::Delta(delta) => {
                delta.acked.iter().filter(|c| c.client_id == self.client.client_id()).map(|c| c.seq).collect()
            }
            _ => Vec::new(),
        };
        let changes = self.orders.apply(&event);
        match &event {
            ViewEvent::Status(status) => self.connection = connection(status),
            ViewEvent::Failed { code, message } => {
                // A refused filter is an error on the filter, not a lost connection: the notice
                // says why, the box keeps the text to correct, and the table goes back to the
                // last query the server answered (iced subscribes to it again).
                self.notice = Some(Notice::QueryRefused { code: code.to_string(), message: message.clone() });
                self.query = self.answered.clone();
                // The server answered: the socket is up.
                self.connection = Connection::Live;
            }
            ViewEvent::Snapshot { resynced, .. } => {
                self.connection = Connection::Live;
                self.answered = self.query.clone();
                if resynced.is_some() {
                    // The fresh copy reflects every command the server accepted before it.
                    self.pending.retain(|_, p| !p.accepted);
                }
            }
            ViewEvent::Resumed { .. } => self.connection = Connection::Live,
            ViewEvent::Delta(_) => {}
        }
        if changes.out_of_order {
            return;
        }
        // Commands whose effect this delta carries: their optimistic state is dropped now,
        // exactly once (a delta is applied once; a seq is in `pending` at most once).
        let mut touched: Vec<Key> = Vec::new();
        for seq in acked {
            if let Some(p) = self.pending.remove(&seq) {
                touched.push(json!(p.order_id));
            }
        }
        if changes.reset {
            self.table.clear();
            let keys: Vec<Key> = self.orders.iter().map(|(k, _)| k.clone()).collect();
            for key in keys {
                self.refresh(&key, false);
            }
        } else {
            for key in changes.upserted.iter().chain(&changes.removed) {
                self.refresh(key, true);
            }
            for key in touched {
                self.refresh(&key, false);
            }
        }
        if let ViewEvent::Delta(delta) = &event {
            // Rows removed from the view that were never decoded still leave the table.
            for op in &delta.ops {
                if let Op::Remove { key } = op
                    && self.orders.get(key).is_none()
                {
                    self.refresh(key, false);
                }
            }
        }
    }

    fn act(&mut self, order_id: String, action: Action) -> Task<Message> {
        let Some(status) = self.shown_status(&order_id) else { return Task::none() };
        if !action.allowed_from(&status) {
            return Task::none();
        }
        self.next_seq = self.next_seq.max(self.client.last_seq()) + 1;
        let seq = self.next_seq;
        let payload = json!({ "order_id": order_id });
        self.pending.insert(seq, Pending { order_id: order_id.clone(), action, accepted: false });
        self.sent.push(Sent { seq, name: action.command(), payload: payload.clone() });
        self.refresh(&json!(order_id), false);
        let sent = Sent { seq, name: action.command(), payload };
        Task::perform(deliver(self.client.clone(), sent), std::convert::identity)
    }

    fn answered(&mut self, seq: u64, result: Result<(), CommandError>) {
        match result {
            Ok(()) => {
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.accepted = true;
                }
            }
            Err(error) => {
                if let Some(p) = self.pending.remove(&seq) {
                    let reason = match error {
                        CommandError::Rejected { message, .. } => Some(message),
                        CommandError::Stopped => None,
                    };
                    self.notice =
                        Some(Notice::CommandFailed { action: p.action, order: p.order_id.clone(), reason });
                    self.refresh(&json!(p.order_id), false);
                }
            }
        }
    }
}

/// Sends a command the desk recorded (what the `Task` returned by [`update`] for an action
/// runs): waits for the answer, through reconnects (the runtime keeps it in its outbox and
/// resends it with the same sequence number, so the server applies it once).
pub async fn deliver(client: Client, sent: Sent) -> Message {
    let result = client.send_with_seq(sent.seq, sent.name, sent.payload).await.map(|_| ());
    Message::Answered(sent.seq, result)
}

fn connection(status: &Status) -> Connection {
    match status {
        Status::Connecting => Connection::Connecting,
        Status::Live => Connection::Live,
        Status::Resyncing(_) => Connection::Resyncing,
        Status::Offline { retry_in, reason } => {
            Connection::Offline { retry_at: Some(Instant::now() + *retry_in), reason: reason.to_string() }
        }
    }
}

/// Splits the filter box's text into a live query: `CONDITION [order by COLUMNS]`.
///
/// ```
/// let q = lucarne_app::parse_filter("status = 'paid' ORDER BY total desc");
/// assert_eq!(q.filter.as_deref(), Some("status = 'paid'"));
/// assert_eq!(q.order_by.as_deref(), Some("total desc"));
/// assert_eq!(lucarne_app::parse_filter("  "), lucarne::Query::view("orders"));
/// ```
pub fn parse_filter(input: &str) -> Query {
    let lower = input.to_ascii_lowercase();
    let (condition, order) = match lower.find("order by") {
        Some(at) => (&input[..at], Some(&input[at + "order by".len()..])),
        None => (input, None),
    };
    let mut query = Query::view("orders");
    if !condition.trim().is_empty() {
        query = query.filter(condition.trim());
    }
    if let Some(order) = order.map(str::trim).filter(|o| !o.is_empty()) {
        query = query.order_by(order);
    }
    query
}

/// Applies a message.
pub fn update(desk: &mut Desk, message: Message) -> Task<Message> {
    match message {
        Message::Locale(locale) => {
            if locale != desk.locale {
                desk.locale = locale;
                desk.relabel();
            }
        }
        Message::Orders(event) => desk.on_orders(event),
        Message::Regions(event) => {
            desk.regions.apply(&event);
        }
        Message::Sort(column) => desk.table.toggle_sort(column),
        Message::Select(key) => desk.selected = Some(key),
        Message::Act(key, index) => {
            if let Some(action) = Action::ALL.get(index) {
                return desk.act(key, *action);
            }
        }
        Message::Answered(seq, result) => desk.answered(seq, result),
        Message::FilterChanged(filter) => desk.filter = filter,
        Message::ApplyFilter => {
            let query = parse_filter(&desk.filter);
            if query != desk.query {
                // The query's order shows in the table until a header is clicked.
                if let Some(sort) = table_sort(&query) {
                    desk.table.set_sort(Some(sort));
                }
                // A new live query: iced drops the old subscription and starts this one on
                // the same socket; its snapshot replaces the rows.
                desk.query = query;
                desk.notice = None;
            }
        }
        Message::Dismiss => desk.notice = None,
        Message::Resized(size) => desk.viewport = size,
        Message::Export(screen) => desk.export(screen),
    }
    Task::none()
}

/// The table's sort for a query's `order by`: its first column, when the table shows it.
fn table_sort(query: &Query) -> Option<Sort> {
    let first = query.order_by.as_deref()?.split(',').next()?;
    let mut words = first.split_whitespace();
    let name = words.next()?.to_ascii_lowercase();
    let descending = words.next().is_some_and(|w| w.eq_ignore_ascii_case("desc"));
    let column = TABLE_COLUMNS.iter().position(|c| *c == name)?;
    Some(Sort { column, descending })
}

/// The view column each table column shows, in order (the last one holds the actions).
const TABLE_COLUMNS: [&str; 5] = ["order_id", "customer", "region", "total", "status"];

/// The window title: the desk, how many orders it shows and how many commands are pending, in
/// the desk's language.
pub fn title(desk: &Desk) -> String {
    let locale = desk.locale;
    let orders = Arg::from(desk.table.len());
    plain(match desk.pending.len() {
        0 => locale.tr_args("window-title", &[("orders", orders)]),
        n => locale.tr_args("window-title-pending", &[("orders", orders), ("pending", Arg::from(n))]),
    })
}

/// The live queries the desk shows.
pub fn subscription(desk: &Desk) -> Subscription<Message> {
    Subscription::batch([
        lucarne::watch(&desk.client, desk.query.clone()).map(Message::Orders),
        lucarne::watch(&desk.client, Query::view("sales_by_region")).map(Message::Regions),
        iced::window::resize_events().map(|(_, size)| Message::Resized(size)),
    ])
}

/// A button exporting `screen` as PDF (not in the browser build).
fn export_button<'a>(label: String, screen: Screen) -> Element<'a, Message> {
    if cfg!(target_arch = "wasm32") {
        space::horizontal().width(0).into()
    } else {
        button(bidi_text(label)).on_press(Message::Export(screen)).style(button::secondary).into()
    }
}

/// The language switch: one button per locale, named in its own language (ids `locale-en`,
/// `locale-ar`, `locale-he`); the current one is highlighted.
fn locale_switch<'a>(current: Locale) -> Element<'a, Message> {
    dir_row(
        current.direction(),
        Locale::ALL.map(|locale| {
            let style = if locale == current { button::primary } else { button::text };
            container(
                button(bidi_text(locale.tr("locale-name"))).on_press(Message::Locale(locale)).style(style),
            )
            .id(format!("locale-{}", locale.code()))
            .into()
        }),
    )
    .spacing(2)
    .into()
}

/// The main screen, laid out in the desk's language: in Arabic and Hebrew every row runs from
/// right to left (header, filter, table and summary), texts start on the right and numbers end
/// on the left.
pub fn view(desk: &Desk) -> Element<'_, Message> {
    let locale = desk.locale;
    let dir = locale.direction();
    let (start, end) = (side(dir, Align::Start), side(dir, Align::End));
    // A string of the interface, in the locale's language: a paragraph of the layout's direction.
    let ui = |key: &str| -> BidiText<'_, iced::Renderer> { bidi_text(locale.tr(key)).direction(dir) };

    let header = dir_row(
        dir,
        [
            ui("app-title").size(22).id("title").into(),
            space::horizontal().into(),
            locale_switch(locale),
            export_button(locale.tr("export-pdf"), Screen::Main),
            connection_status(&desk.connection)
                .labels(move |connection, now| locale.connection_label(connection, now))
                .direction(dir)
                .id("connection")
                .into(),
        ],
    )
    .spacing(8)
    .align_y(Alignment::Center);

    let filter = dir_row(
        dir,
        [
            bidi_input(&locale.tr("filter-placeholder"), &desk.filter)
                .id("filter")
                .direction(dir)
                .on_input(Message::FilterChanged)
                .on_submit(Message::ApplyFilter)
                .into(),
            button(ui("apply")).on_press(Message::ApplyFilter).into(),
            export_button(locale.tr("export-orders"), Screen::Orders),
        ],
    )
    .spacing(8);

    let table = live_table(columns(locale), &desk.table)
        .id("orders")
        .direction(dir)
        .selected(desk.selected.as_deref())
        .on_sort(Message::Sort)
        .on_select(|key| Message::Select(key.to_owned()))
        .on_action(|key, action| Message::Act(key.to_owned(), action));

    let mut regions: Vec<&Region> = desk.regions.iter().map(|(_, r)| r).collect();
    regions.sort_by(|a, b| b.revenue.total_cmp(&a.revenue).then_with(|| a.region.cmp(&b.region)));
    let bars: Vec<(String, f64)> = regions.iter().map(|r| (r.region.clone(), r.revenue)).collect();
    // One line of the summary: a region (at the start), its orders and revenue (at the end).
    let line = |region: String, orders: String, revenue: String| {
        let cell = |content: String, align: Align| -> BidiText<'_, iced::Renderer> {
            bidi_text(content).fallback(dir).align_x(align).wrapping(iced::widget::text::Wrapping::None)
        };
        dir_row(
            dir,
            [
                cell(region, start).width(Fill).into(),
                cell(orders, end).width(50).into(),
                cell(revenue, end).width(100).into(),
            ],
        )
    };
    let lines = regions
        .iter()
        .map(|r| line(r.region.clone(), locale.number(r.orders, 0), locale.number(r.revenue, 2)).into());
    let summary = column![
        ui("sales-by-region").size(18).width(Fill).id("summary-title"),
        chart(Chart::new(bars).direction(dir)).width(Fill).height(140),
        line(locale.tr("summary-region"), locale.tr("summary-orders"), locale.tr("summary-revenue")),
        scrollable(column(lines).spacing(4)),
    ]
    .spacing(8)
    .width(300);

    let mut screen = column![header, filter].spacing(10).padding(12);
    if let Some(notice) = &desk.notice {
        screen = screen.push(
            container(
                dir_row(
                    dir,
                    [
                        bidi_text(notice.text(locale)).direction(dir).width(Fill).into(),
                        button(ui("dismiss")).on_press(Message::Dismiss).into(),
                    ],
                )
                .spacing(8)
                .align_y(Alignment::Center),
            )
            .padding(8)
            .style(container::rounded_box),
        );
    }
    let status_line = bidi_text(plain(locale.tr_args(
        "status-line",
        &[
            ("shown", Arg::from(desk.table.len())),
            ("pending", Arg::from(desk.pending.len())),
            ("sent", Arg::from(desk.sent.len())),
        ],
    )))
    .direction(dir)
    .size(13)
    .width(Fill)
    .id("status-line");
    screen
        .push(
            dir_row(dir, [container(table).width(Fill).height(Fill).into(), summary.into()])
                .spacing(12)
                .height(Length::Fill),
        )
        .push(status_line)
        .into()
}

/// Writes `bytes` to a new file `STEM.pdf` in `dir`, or `STEM-2.pdf`, `STEM-3.pdf`, … when
/// that exists (two exports in the same second never overwrite each other); the path written,
/// or the one that failed and why.
#[cfg(not(target_arch = "wasm32"))]
fn write_new(dir: &std::path::Path, stem: &str, bytes: &[u8]) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    use std::io::Write;
    let mut n = 1u32;
    loop {
        let path = dir.join(if n == 1 { format!("{stem}.pdf") } else { format!("{stem}-{n}.pdf") });
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => return file.write_all(bytes).map(|()| path.clone()).map_err(|e| (path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err((path, e)),
        }
    }
}
