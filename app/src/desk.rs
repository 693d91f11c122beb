//! The order desk: state, `update`, `view`, `subscription`.

use std::collections::BTreeMap;
use std::time::Instant;

use iced::widget::{button, column, container, row, scrollable, space, text, text_input};
use iced::{Alignment, Element, Fill, Length, Subscription, Task};
use lucarne::protocol::{Key, Op};
use lucarne::{Client, ClientConfig, CommandError, LiveView, Query, Status, ViewEvent};
use lucarne_widgets::{Cell, Column, Connection, TableRows, connection_status, live_table};
use serde::Deserialize;
use serde_json::json;

use crate::chart::{Chart, chart};

/// How the desk connects.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server's WebSocket URL.
    pub server: String,
}

impl Config {
    /// A desk talking to this server.
    pub fn new(server: impl Into<String>) -> Self {
        Config { server: server.into() }
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

    /// The button's label.
    pub fn label(self) -> &'static str {
        match self {
            Action::Pay => "Pay",
            Action::Ship => "Ship",
            Action::Cancel => "Cancel",
        }
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
}

/// The desk's state.
#[derive(Debug)]
pub struct Desk {
    client: Client,
    query: Query,
    orders: LiveView<Order>,
    regions: LiveView<Region>,
    table: TableRows,
    selected: Option<String>,
    pending: BTreeMap<u64, Pending>,
    next_seq: u64,
    sent: Vec<Sent>,
    notice: Option<String>,
    connection: Connection,
    filter: String,
}

/// The orders view's columns; the last one holds the actions.
fn columns() -> Vec<Column> {
    vec![
        Column::new("Order").width(110.0),
        Column::new("Customer"),
        Column::new("Region").width(80.0),
        Column::new("Total").width(100.0).align_right(),
        Column::new("Status").width(110.0),
        Column::new("Actions").width(230.0),
    ]
}

impl Desk {
    /// A desk connecting to the configured server.
    pub fn new(config: Config) -> Self {
        Self::with_client(Client::connect(ClientConfig::new(config.server)))
    }

    /// A desk over an existing client.
    pub fn with_client(client: Client) -> Self {
        let next_seq = client.last_seq();
        Desk {
            client,
            query: Query::view("orders"),
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
        }
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

    /// The notice shown (a rejection, a refused filter).
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// The live query the table shows.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The connection as the badge shows it.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    fn cells(&self, order: &Order) -> Vec<Cell> {
        let pending = self.pending.values().rev().find(|p| p.order_id == order.order_id);
        let server_status = order.status.clone().unwrap_or_default();
        let (status, shown) = match pending {
            Some(p) => (p.action.status().to_owned(), format!("{}…", p.action.status())),
            None => (server_status.clone(), server_status),
        };
        let busy = pending.is_some();
        vec![
            Cell::text(order.order_id.clone()),
            Cell::text(order.customer.clone()),
            Cell::text(order.region.clone().unwrap_or_default()),
            Cell::number(order.total, format!("{:.2}", order.total)),
            Cell::text(shown),
            Cell::actions(Action::ALL.map(|a| (a.label(), !busy && a.allowed_from(&status)))),
        ]
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
                self.notice = Some(format!("The server refused the query ({code}): {message}"));
                self.connection = Connection::Offline { retry_at: None, reason: message.clone() };
            }
            ViewEvent::Snapshot { resynced, .. } => {
                self.connection = Connection::Live;
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
                        CommandError::Rejected { message, .. } => message,
                        CommandError::Stopped => "the connection stopped".to_owned(),
                    };
                    self.notice = Some(format!(
                        "Could not {} {}: {reason}",
                        p.action.label().to_lowercase(),
                        p.order_id
                    ));
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
            Connection::Offline { retry_at: Some(Instant::now() + *retry_in), reason: reason.clone() }
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
                // A new live query: iced drops the old subscription and starts this one on
                // the same socket; its snapshot replaces the rows.
                desk.query = query;
                desk.notice = None;
            }
        }
        Message::Dismiss => desk.notice = None,
    }
    Task::none()
}

/// The window title: the desk, how many orders it shows and how many commands are pending.
pub fn title(desk: &Desk) -> String {
    match desk.pending.len() {
        0 => format!("Lucarne order desk · {} orders", desk.table.len()),
        n => format!("Lucarne order desk · {} orders · {n} pending", desk.table.len()),
    }
}

/// The live queries the desk shows.
pub fn subscription(desk: &Desk) -> Subscription<Message> {
    Subscription::batch([
        lucarne::watch(&desk.client, desk.query.clone()).map(Message::Orders),
        lucarne::watch(&desk.client, Query::view("sales_by_region")).map(Message::Regions),
    ])
}

/// The main screen.
pub fn view(desk: &Desk) -> Element<'_, Message> {
    let header = row![
        text("Lucarne order desk").size(22),
        space::horizontal(),
        connection_status(&desk.connection).id("connection"),
    ]
    .align_y(Alignment::Center);

    let filter = row![
        text_input("filter: status = 'paid' order by total desc", &desk.filter)
            .id("filter")
            .on_input(Message::FilterChanged)
            .on_submit(Message::ApplyFilter),
        button("Apply").on_press(Message::ApplyFilter),
    ]
    .spacing(8);

    let table = live_table(columns(), &desk.table)
        .id("orders")
        .selected(desk.selected.as_deref())
        .on_sort(Message::Sort)
        .on_select(|key| Message::Select(key.to_owned()))
        .on_action(|key, action| Message::Act(key.to_owned(), action));

    let mut regions: Vec<&Region> = desk.regions.iter().map(|(_, r)| r).collect();
    regions.sort_by(|a, b| b.revenue.total_cmp(&a.revenue).then_with(|| a.region.cmp(&b.region)));
    let bars: Vec<(String, f64)> = regions.iter().map(|r| (r.region.clone(), r.revenue)).collect();
    let lines = regions.iter().map(|r| {
        row![
            text(r.region.clone()).width(Fill),
            text(format!("{:.0}", r.orders)).width(50).align_x(iced::Right),
            text(format!("{:.2}", r.revenue)).width(100).align_x(iced::Right),
        ]
        .into()
    });
    let summary = column![
        text("Sales by region").size(18),
        chart(Chart::new(bars)).width(Fill).height(140),
        row![
            text("Region").width(Fill),
            text("Orders").width(50).align_x(iced::Right),
            text("Revenue").width(100).align_x(iced::Right)
        ],
        scrollable(column(lines).spacing(4)),
    ]
    .spacing(8)
    .width(300);

    let mut screen = column![header, filter].spacing(10).padding(12);
    if let Some(notice) = &desk.notice {
        screen = screen.push(
            container(
                row![text(notice.clone()).width(Fill), button("Dismiss").on_press(Message::Dismiss)]
                    .spacing(8)
                    .align_y(Alignment::Center),
            )
            .padding(8)
            .style(container::rounded_box),
        );
    }
    let status_line = text(format!(
        "{} orders shown · {} commands pending · {} sent",
        desk.table.len(),
        desk.pending.len(),
        desk.sent.len()
    ))
    .size(13);
    screen
        .push(row![container(table).width(Fill).height(Fill), summary].spacing(12).height(Length::Fill))
        .push(status_line)
        .into()
}
