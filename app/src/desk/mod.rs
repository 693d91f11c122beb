//! The order desk: its state ([`Desk`]), [`update`], [`view`], [`title`] and [`subscription`].
//!
//! - `model.rs`: the rows of its views (orders, regions) and the actions on an order, each an
//!   optimistic change of the `orders` view (`lucarne::Optimistic`: the rows show it at once,
//!   the server's rows holding it drop it, a rejection rolls it back);
//! - `pending.rs`: the table's rows from the orders as shown, the actions sent and answered;
//! - `filter.rs`: the filter box's text as a live query, and the table's sort from its order;
//! - `notice.rs`: the notice line, kept as data and worded in the desk's language;
//! - `search.rs`: the search bar, a live search narrowing the table, with facet counts;
//! - `view.rs`: the main screen — header, filter bar, notice, table, summary, status line;
//! - `save.rs` (native): Export PDF into the export directory; `download.rs` (browser): Export PDF
//!   by the page's PDF module, downloaded.

use std::path::PathBuf;

use lucarne::iced::{Size, Subscription, Task};
use lucarne::widgets::{Connection, TableRows};
use lucarne::{Answered, Client, ClientConfig, Command, LiveView, Optimistic, Query, SearchEvent, ViewEvent};

use crate::i18n::{Arg, Locale};

#[cfg(target_arch = "wasm32")]
mod download;
mod filter;
mod model;
mod notice;
mod notify;
mod pending;
#[cfg(not(target_arch = "wasm32"))]
mod save;
mod search;
mod view;

use filter::filter_text;
pub use filter::parse_filter;
use filter::table_sort;
pub use model::{Action, Order, OrderAction, Region};
use notice::Notice;
pub use search::INDEX as SEARCH_INDEX;
use search::Search;
#[cfg(any(not(target_arch = "wasm32"), feature = "web-pdf"))]
pub(crate) use view::COLUMNS;
use view::plain;
pub use view::view;

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
    /// What the status line ends with: the app's name and version (the desktop binary gives
    /// `Lucarne 0.1.0 (commit …)`). `None`: nothing.
    pub about: Option<String>,
}

impl Config {
    /// A desk talking to this server, exporting into the current directory, in English.
    pub fn new(server: impl Into<String>) -> Self {
        Config {
            server: server.into(),
            export_dir: PathBuf::from("."),
            locale: Locale::En,
            outbox: None,
            about: None,
        }
    }

    /// Ends the status line with this: the app's name and version.
    pub fn about(mut self, about: impl Into<String>) -> Self {
        self.about = Some(about.into());
        self
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

/// A screen of the desk that can be exported as PDF (see `export`).
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

/// A PDF the browser's page made and downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The file's name.
    pub file: String,
    /// Its pages.
    pub pages: usize,
    /// From the press to the download, in milliseconds (the PDF module's loading included).
    pub ms: u64,
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
    Answered(Answered),
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
    /// The browser downloaded a screen's PDF, or could not make it.
    Exported(Screen, Result<Download, String>),
    /// The search box changed (the search follows as it is typed).
    SearchChanged(String),
    /// A facet value was picked or unpicked: (facet, value).
    ToggleFacet(String, String),
    /// Clear was pressed: every order again.
    ClearSearch,
    /// An event of the live search.
    Found(SearchEvent),
    /// "Notify me" was pressed (in the browser): the filter's orders become a push
    /// registration.
    NotifyMe,
    /// The push registration was made (its id), or why not.
    Notifying(Result<String, String>),
}

/// The desk's state.
#[derive(Debug)]
pub struct Desk {
    client: Client,
    query: Query,
    /// The last query the server answered with rows: a refused one falls back to it.
    answered: Query,
    /// The orders as the server sent them, with the actions not yet in them shown over.
    orders: Optimistic<Order, OrderAction>,
    regions: LiveView<Region>,
    table: TableRows,
    selected: Option<String>,
    /// The last command sent.
    last_sent: Option<Command>,
    /// Commands the server answered (accepted or rejected): what the status line counts as
    /// confirmed, so that it does not rise while commands wait offline.
    confirmed: usize,
    /// Today on the local calendar, as of the last batch of rows (the Updated column shows the
    /// time for today's changes, the date for earlier ones).
    today: Option<crate::clock::LocalTime>,
    notice: Option<Notice>,
    connection: Connection,
    filter: String,
    search: Search,
    viewport: Size,
    export_dir: PathBuf,
    locale: Locale,
    /// [`Config::about`].
    about: Option<String>,
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
        desk.about = config.about;
        desk
    }

    /// A desk over an existing client.
    pub fn with_client(client: Client) -> Self {
        Desk {
            query: Query::view("orders"),
            answered: Query::view("orders"),
            orders: Optimistic::new(client.client_id()),
            client,
            regions: LiveView::new(),
            table: TableRows::new(),
            selected: None,
            last_sent: None,
            confirmed: 0,
            today: None,
            notice: None,
            connection: Connection::Connecting,
            filter: String::new(),
            search: Search::default(),
            viewport: DEFAULT_VIEWPORT,
            export_dir: PathBuf::from("."),
            locale: Locale::En,
            about: None,
        }
    }

    /// The language the desk speaks (English until told otherwise).
    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The orders as received from the server (no optimistic state).
    pub fn orders(&self) -> &LiveView<Order> {
        self.orders.view()
    }

    /// The rows as the table shows them (with optimistic state).
    pub fn table(&self) -> &TableRows {
        &self.table
    }

    /// The status an order is shown with: its latest pending action's, else the server's.
    pub fn shown_status(&self, order_id: &str) -> Option<String> {
        self.orders.get(&serde_json::json!(order_id)).and_then(|o| o.status.clone())
    }

    /// The actions sent and not yet in the server's rows, oldest first, with their seqs.
    pub fn pending(&self) -> Vec<(u64, OrderAction)> {
        self.orders.pending().map(|(seq, change)| (seq, change.clone())).collect()
    }

    /// The last command sent.
    pub fn last_sent(&self) -> Option<&Command> {
        self.last_sent.as_ref()
    }

    /// The filter in force, as the filter box would hold it: the condition and order of the
    /// last query the server answered (empty when none; what is typed and not applied is not).
    pub fn filter_in_force(&self) -> String {
        filter_text(&self.answered)
    }

    /// Shows again the actions a previous run left unanswered (kept in the outbox file or the
    /// tab's storage; the runtime resends them) and awaits their answers: run once at start.
    pub fn resume(&mut self) -> Task<Message> {
        let restored = self.orders.restore(self.client.unanswered().iter().cloned());
        for command in &restored {
            if let Some(change) = self.orders.sent(command.seq) {
                let key = lucarne::Change::key(change);
                self.refresh(&key, false);
            }
        }
        Task::batch(
            restored
                .into_iter()
                .map(|command| Task::perform(command.deliver(self.client.clone()), Message::Answered)),
        )
    }

    /// The notice shown (a rejection, a refused filter), in the desk's language, as shown
    /// (Fluent's isolates around its arguments included; see [`strip_isolates`](crate::i18n::strip_isolates)).
    pub fn notice(&self) -> Option<String> {
        self.notice.as_ref().map(|notice| notice.text(self.locale))
    }

    /// The live search the desk keeps (its words, the facet values picked).
    pub fn search_query(&self) -> lucarne::SearchQuery {
        self.search.query()
    }

    /// What the live search found last, if the server answered one.
    pub fn found(&self) -> Option<&lucarne::Found> {
        self.search.found.as_ref()
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

    /// Whether the desk offers "Notify me": in the browser, once the server gave its Web Push key.
    pub fn offers_notifications(&self) -> bool {
        cfg!(target_arch = "wasm32") && self.client.push_key().is_some()
    }

    /// Exports a screen in the browser: the page's PDF module (loaded the first time: printpdf
    /// would double the page's first load) prints it from the server's views in the desk's
    /// language, window size and the filter in force (the last one the server answered, not
    /// what is typed), and the page downloads the file (`download.rs`). A press while an
    /// export is being made is ignored.
    #[cfg(target_arch = "wasm32")]
    fn export(&mut self, screen: Screen) -> Task<Message> {
        if self.notice == Some(Notice::Exporting) {
            return Task::none();
        }
        self.notice = Some(Notice::Exporting);
        let settings = serde_json::json!({
            "screen": screen.name(),
            "locale": self.locale.code(),
            "filter": filter_text(&self.answered),
            "width": self.viewport.width,
            "height": self.viewport.height,
        });
        Task::perform(download::pdf(settings.to_string()), move |done| Message::Exported(screen, done))
    }
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
        Message::Answered(answered) => desk.answered(answered),
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
        Message::Export(screen) => return desk.export(screen),
        Message::Exported(_, Ok(Download { file, pages, ms })) => {
            desk.notice = Some(Notice::Saved { path: file, pages, ms });
        }
        Message::Exported(screen, Err(error)) => desk.notice = Some(Notice::ExportFailed { screen, error }),
        Message::SearchChanged(text) => desk.search_text(text),
        Message::ToggleFacet(facet, value) => desk.toggle_facet(facet, value),
        Message::ClearSearch => desk.clear_search(),
        Message::Found(event) => desk.on_search(event),
        Message::NotifyMe => {
            if let Some(key) = desk.client.push_key() {
                let register =
                    notify::register(desk.client.clone(), key, desk.query.filter.clone(), desk.locale);
                return Task::perform(register, Message::Notifying);
            }
        }
        Message::Notifying(Ok(_)) => desk.notice = Some(Notice::NotifyOn),
        Message::Notifying(Err(reason)) => desk.notice = Some(Notice::NotifyFailed { reason }),
    }
    Task::none()
}

/// The window title: the desk, how many orders it shows and how many commands are pending, in
/// the desk's language.
pub fn title(desk: &Desk) -> String {
    let locale = desk.locale;
    let orders = Arg::from(desk.table.len());
    plain(match desk.orders.pending().count() {
        0 => locale.tr_args("window-title", &[("orders", orders)]),
        n => locale.tr_args("window-title-pending", &[("orders", orders), ("pending", Arg::from(n))]),
    })
}

/// The live queries and the live search the desk shows.
pub fn subscription(desk: &Desk) -> Subscription<Message> {
    let search = if desk.search.available() {
        lucarne::watch_search(&desk.client, SEARCH_INDEX, desk.search.query()).map(Message::Found)
    } else {
        Subscription::none()
    };
    Subscription::batch([
        lucarne::watch(&desk.client, desk.query.clone()).map(Message::Orders),
        lucarne::watch(&desk.client, Query::view("sales_by_region")).map(Message::Regions),
        search,
        lucarne::iced::window::resize_events().map(|(_, size)| Message::Resized(size)),
    ])
}
