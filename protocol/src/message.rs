//! Message types. Each enum variant is one `"type"` on the wire.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A row's key: the values of the view's `GROUP BY` columns (a single value for one key column,
/// an array for several). Clients compare keys by their JSON text.
pub type Key = Value;

/// A row of a view: its columns by name.
pub type Columns = Map<String, Value>;

/// Everything a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on every connection.
    Hello(Hello),
    /// Heartbeat; the peer answers with [`ClientMessage::Pong`] / [`ServerMessage::Pong`].
    Ping(Heartbeat),
    /// Answer to a server ping.
    Pong(Heartbeat),
    /// Start a live query over a view.
    Subscribe(Subscribe),
    /// Stop a live query.
    Unsubscribe(Unsubscribe),
    /// Ask the server to do something; answered by `ack` or `reject`.
    Command(Command),
    /// Ask for the views the server maintains; answered by `view_list`.
    ListViews(ListViews),
    /// Define (or with `CREATE OR REPLACE`, redefine) a view; answered by `view_progress`
    /// messages, then `view_defined` or an `error` with the same id.
    DefineView(DefineView),
    /// Drop a view; answered by `view_dropped` or an `error` with the same id.
    DropView(DropView),
    /// Define (or redefine) a command routed to a stream, with an optional precondition on a
    /// view row; answered by `command_defined` or an `error` with the same id.
    DefineCommand(DefineCommand),
    /// Remove a command; answered by `command_dropped` or an `error` with the same id.
    DropCommand(DropCommand),
    /// Define (or redefine) a search index over a view; answered by `search_defined` or an
    /// `error` with the same id.
    DefineSearch(crate::DefineSearch),
    /// Drop a search index; answered by `search_dropped` or an `error` with the same id.
    DropSearch(crate::DropSearch),
    /// Search an index; answered by `search_result` or an `error` with the same id.
    Search(crate::Search),
    /// Search an index and keep the answer current; answered by `search_snapshot`, then
    /// `search_delta`s, or an `error` with the same `sub`.
    SubscribeSearch(crate::SubscribeSearch),
    /// Ask for platform pushes of a view's changes while this client is not connected;
    /// answered by `push_registered` or an `error` with the same id.
    RegisterPush(crate::RegisterPush),
    /// No more pushes for a registration; answered by `push_unregistered` or an `error` with
    /// the same id.
    UnregisterPush(crate::UnregisterPush),
    /// Push now to every registration of a client (the define right); answered by
    /// `push_tested` or an `error` with the same id.
    TestPush(crate::TestPush),
}

/// Everything a server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to `hello`.
    Welcome(Welcome),
    /// Heartbeat.
    Ping(Heartbeat),
    /// Answer to a client ping.
    Pong(Heartbeat),
    /// A snapshot of a subscription starts.
    SnapshotBegin(SnapshotBegin),
    /// A chunk of snapshot rows.
    SnapshotRows(SnapshotRows),
    /// The snapshot is complete; deltas follow.
    SnapshotEnd(SnapshotEnd),
    /// A resume was accepted: missed deltas follow, then live ones.
    Resumed(Resumed),
    /// A change to a subscribed view.
    Delta(Delta),
    /// The client's copy can't be brought up to date by deltas; a fresh snapshot follows.
    Resync(Resync),
    /// A subscription ended at the client's request.
    Unsubscribed(Unsubscribed),
    /// A command's events are durable.
    Ack(Ack),
    /// A command was refused; nothing was stored.
    Reject(Reject),
    /// Answer to `list_views`.
    ViewList(ViewList),
    /// A view being built from the log has folded this far.
    ViewProgress(ViewProgress),
    /// A view defined by `define_view` is live.
    ViewDefined(ViewDefined),
    /// A view was dropped.
    ViewDropped(ViewDropped),
    /// A command defined by `define_command` is in force.
    CommandDefined(CommandDefined),
    /// A command was removed.
    CommandDropped(CommandDropped),
    /// A search index was defined.
    SearchDefined(crate::SearchDefined),
    /// A search index was dropped.
    SearchDropped(crate::SearchDropped),
    /// The answer to `search`.
    SearchResult(crate::SearchResult),
    /// All a live search found.
    SearchSnapshot(crate::SearchSnapshot),
    /// A change to what a live search found.
    SearchDelta(crate::SearchDelta),
    /// Answer to `register_push`.
    PushRegistered(crate::PushRegistered),
    /// Answer to `unregister_push`.
    PushUnregistered(crate::PushUnregistered),
    /// Answer to `test_push`.
    PushTested(crate::PushTested),
    /// Something the client sent could not be handled.
    Error(ErrorMessage),
}

/// `hello`: the client introduces itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol versions the client speaks.
    pub versions: Vec<u32>,
    /// Capability token, if the server requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Stable identity of the client installation; commands are deduplicated per client.
    pub client_id: String,
    /// Optional features the client understands.
    #[serde(default)]
    pub features: Vec<String>,
}

/// `welcome`: the server accepted the hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The negotiated protocol version.
    pub version: u32,
    /// Identifier of this connection, for logs.
    pub session: String,
    /// How often each side sends a ping, in milliseconds.
    pub ping_interval_ms: u64,
    /// The largest text frame the server accepts from the client, in bytes.
    pub max_frame_bytes: usize,
    /// The server's VAPID public key (base64url) when it sends Web Push: the browser's
    /// `applicationServerKey` for a subscription to register (docs/protocol.md §17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_key: Option<String>,
}

/// `ping` / `pong`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Echoed back unchanged by the answer.
    pub nonce: u64,
}

/// Where a client's copy of a view stands: the view's epoch and the last version applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Identifies one build of the view; a redefinition or rebuild changes it.
    pub epoch: u64,
    /// Number of changes applied in that epoch.
    pub version: u64,
}

/// What a subscription watches: a view, and optionally which of its rows — a **live query**
/// (`where`, `order_by`, `limit`, `offset`). The one shape of it: the client's runtime subscribes with it and
/// the server keys its shared windows by it.
///
/// ```
/// use lucarne_protocol::Query;
///
/// let q = Query::view("orders").filter("status = 'paid' AND region = 'eu'").order_by("total DESC").limit(20);
/// assert_eq!(q.view, "orders");
/// assert_eq!(q.limit, Some(20));
/// assert!(q.is_live());
/// ```
///
/// The filter is a SQL expression over the view's columns, `order_by` a list of columns each
/// with `ASC` or `DESC`; the server keeps the window (the first `limit` rows in that order, after
/// the first `offset`) current and sends only the rows entering, changing in or leaving it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Query {
    /// The view's name.
    pub view: String,
    /// Row filter: a SQL condition over the view's columns (`status = 'paid' AND total > 10`).
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Order: view columns, each optionally `ASC` or `DESC` (`total DESC, order_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// Largest number of rows: the first ones in `order_by` order (after `offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Rows skipped before the window, in `order_by` order: a page further down (a terminal
    /// scrolled through a view too large to hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl Query {
    /// All rows of a view.
    pub fn view(name: impl Into<String>) -> Self {
        Query { view: name.into(), filter: None, order_by: None, limit: None, offset: None }
    }

    /// Only rows for which this SQL condition holds.
    pub fn filter(mut self, condition: impl Into<String>) -> Self {
        self.filter = Some(condition.into());
        self
    }

    /// Rows in this order (`total DESC, order_id`).
    pub fn order_by(mut self, order: impl Into<String>) -> Self {
        self.order_by = Some(order.into());
        self
    }

    /// At most this many rows (the first ones in `order_by` order).
    pub fn limit(mut self, rows: u64) -> Self {
        self.limit = Some(rows);
        self
    }

    /// The window starts after this many rows (in `order_by` order).
    pub fn offset(mut self, rows: u64) -> Self {
        self.offset = Some(rows);
        self
    }

    /// Whether it watches a window of the view (`where`, `order_by`, `limit` or `offset`) rather
    /// than the whole view.
    pub fn is_live(&self) -> bool {
        self.filter.is_some() || self.order_by.is_some() || self.limit.is_some() || self.offset.is_some()
    }
}

/// `subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Client-chosen subscription id, unique on the connection.
    pub sub: u64,
    /// What to watch: `view`, and `where` / `order_by` / `limit` / `offset` for a live query.
    #[serde(flatten)]
    pub query: Query,
    /// Resume from this position instead of taking a snapshot, if the server still can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Position>,
}

/// `unsubscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    /// The subscription to end.
    pub sub: u64,
}

/// `command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Request id, echoed in the answer (unique per connection).
    pub id: u64,
    /// The sending client; with `seq` it makes the command idempotent.
    pub client_id: String,
    /// Per-client sequence number, increasing.
    pub seq: u64,
    /// Command name, e.g. `place_order`.
    pub name: String,
    /// Command arguments.
    #[serde(default)]
    pub payload: Value,
}

/// `list_views`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListViews {
    /// Request id, echoed in `view_list`.
    pub id: u64,
}

/// `snapshot_begin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotBegin {
    /// Subscription id.
    pub sub: u64,
    /// The view.
    pub view: String,
    /// Where the snapshot stands; the first delta after it has `from == version`.
    #[serde(flatten)]
    pub at: Position,
    /// Number of rows that follow in `snapshot_rows` chunks.
    pub rows: u64,
}

/// One row of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The row's key.
    pub key: Key,
    /// The row's columns (key columns included).
    pub row: Columns,
}

/// `snapshot_rows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRows {
    /// Subscription id.
    pub sub: u64,
    /// A chunk of rows, in key order.
    pub rows: crate::Rows,
}

/// `snapshot_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEnd {
    /// Subscription id.
    pub sub: u64,
}

/// `resumed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    /// Subscription id.
    pub sub: u64,
    /// The position the client resumes from; the next delta has `from == version`.
    #[serde(flatten)]
    pub at: Position,
}

/// One change to one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The row now has these columns (insert or replace).
    Upsert {
        /// The row's key.
        key: Key,
        /// All of the row's columns.
        row: Columns,
    },
    /// The row is gone.
    Remove {
        /// The row's key.
        key: Key,
    },
}

impl Op {
    /// The key this op changes.
    pub fn key(&self) -> &Key {
        match self {
            Op::Upsert { key, .. } | Op::Remove { key } => key,
        }
    }
}

/// Identifies one command: `(client_id, seq)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CommandRef {
    /// The sending client.
    pub client_id: String,
    /// Its sequence number.
    pub seq: u64,
}

/// `delta`: the view went from version `from` to version `to`: `from + 1` for a whole view; for a
/// live query (`where` / `order_by` / `limit`) changes outside its window send nothing, so `to`
/// may be further ahead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Subscription id.
    pub sub: u64,
    /// The version this delta applies to.
    pub from: u64,
    /// The version after applying it.
    pub to: u64,
    /// Row changes, at most one per key.
    pub ops: Vec<Op>,
    /// Commands whose effect on this view this delta carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acked: Vec<CommandRef>,
}

/// `resync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resync {
    /// Subscription id.
    pub sub: u64,
    /// Why deltas could not continue.
    pub reason: ResyncReason,
}

/// Why a subscription is resynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// The resume position's epoch is not the view's current one.
    EpochChanged,
    /// The server no longer holds the changes since the resume position.
    TooFarBehind,
    /// The resume position is ahead of the server (e.g. the server's data was reset).
    Ahead,
    /// The client fell behind the live stream.
    SlowConsumer,
    /// A live query (`where` / `order_by` / `limit`) restarts from a fresh window after a
    /// reconnect: its window cannot be rebuilt from the changelog.
    LiveQuery,
    /// A reason this client does not know.
    #[serde(other)]
    Other,
}

/// `unsubscribed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unsubscribed {
    /// Subscription id.
    pub sub: u64,
}

/// `ack`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// The command's request id.
    pub id: u64,
    /// The command's client.
    pub client_id: String,
    /// The command's sequence number.
    pub seq: u64,
    /// Log position of the command's last event (0 if it produced none).
    pub position: u64,
    /// Number of events the command appended.
    pub events: u32,
    /// True when this `(client_id, seq)` had been applied before: nothing new was appended.
    #[serde(default)]
    pub duplicate: bool,
}

/// `reject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reject {
    /// The command's request id.
    pub id: u64,
    /// The command's client.
    pub client_id: String,
    /// The command's sequence number.
    pub seq: u64,
    /// Machine-readable reason.
    pub code: ErrorCode,
    /// Human-readable reason.
    pub message: String,
}

/// `define_view`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefineView {
    /// Request id, echoed in the answers.
    pub id: u64,
    /// One `CREATE [OR REPLACE] VIEW name AS SELECT …` statement.
    pub sql: String,
}

/// `define_command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefineCommand {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// `STREAM:NAME [ON VIEW(FIELD) [WHEN CONDITION | NEW]]`: one command appending one event
    /// of its own name to the stream, when the view row keyed by the payload's FIELD allows it.
    pub spec: String,
}

/// `drop_command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropCommand {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// The command to remove.
    pub name: String,
}

/// `command_defined`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandDefined {
    /// The `define_command` request id.
    pub id: u64,
    /// The command's name.
    pub name: String,
}

/// `command_dropped`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandDropped {
    /// The `drop_command` request id.
    pub id: u64,
    /// The command removed.
    pub name: String,
}

/// `drop_view`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropView {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// The view to drop.
    pub name: String,
}

/// `view_progress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewProgress {
    /// The `define_view` request id.
    pub id: u64,
    /// The view being built.
    pub view: String,
    /// Log positions folded so far.
    pub done: u64,
    /// The log's head when last measured.
    pub total: u64,
}

/// `view_defined`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewDefined {
    /// The `define_view` request id.
    pub id: u64,
    /// The live view.
    pub view: ViewInfo,
}

/// `view_dropped`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewDropped {
    /// The `drop_view` request id.
    pub id: u64,
    /// The dropped view.
    pub view: String,
}

/// One view the server maintains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewInfo {
    /// The view's name.
    pub name: String,
    /// Its definition.
    pub sql: String,
    /// Where it stands.
    #[serde(flatten)]
    pub at: Position,
    /// Number of rows (of those the connection's token may see, when it filters the view's rows).
    pub rows: u64,
}

/// `view_list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewList {
    /// The `list_views` request id.
    pub id: u64,
    /// The views, by name.
    pub views: Vec<ViewInfo>,
}

/// `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// Machine-readable reason.
    pub code: ErrorCode,
    /// Human-readable reason.
    pub message: String,
    /// The subscription concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<u64>,
    /// The request concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

/// Error and rejection codes. New codes may be added; unknown ones decode as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON, or not an object with a string `type`.
    BadFrame,
    /// The `type` is not one this server knows.
    UnknownMessage,
    /// The message's fields don't match its type.
    InvalidMessage,
    /// The frame is larger than `max_frame_bytes`: it was ignored and the connection stays open.
    /// (Beyond the server's hard limit the frame is not read and the socket closes with 1009.)
    FrameTooLarge,
    /// No common protocol version; the connection is closed.
    UnsupportedVersion,
    /// Anything but `hello`, `ping` or `pong` before `hello`.
    HelloRequired,
    /// A second `hello`.
    AlreadyGreeted,
    /// The subscribed view doesn't exist.
    UnknownView,
    /// The subscription id is already in use on this connection.
    DuplicateSubscription,
    /// The subscription id isn't in use.
    UnknownSubscription,
    /// The command name is not configured.
    UnknownCommand,
    /// No search index of that name.
    UnknownSearch,
    /// The command's payload was refused by its handler.
    InvalidPayload,
    /// The command was refused by its handler for a business reason.
    Rejected,
    /// The command names a row that does not exist (e.g. paying an unknown order).
    NotFound,
    /// A feature the server does not support (yet).
    Unsupported,
    /// Not allowed without credentials: a command whose `client_id` is not the connection's, a
    /// `hello` without a token on a server that requires one (then the connection is closed), or
    /// a right the anonymous policy of an open server does not include.
    Unauthorized,
    /// The capability token does not allow this: a view outside its `views`, a command outside
    /// its `commands`, `define_view` / `drop_view` without its `define` right.
    Forbidden,
    /// The capability token in `hello` is malformed or its signature is wrong; the connection is
    /// closed.
    InvalidToken,
    /// The capability token has expired (in `hello`, or while connected); the connection is
    /// closed.
    TokenExpired,
    /// Too many messages; slow down. The message was not handled; a connection refused
    /// continuously for too long is closed.
    RateLimited,
    /// The connection holds as many subscriptions as the server allows.
    TooManySubscriptions,
    /// The client could not keep up; the connection is closed.
    SlowConsumer,
    /// Nothing heard from the peer for twice the ping interval; the connection is closed.
    Timeout,
    /// The server is shutting down.
    ShuttingDown,
    /// The server failed; the message may be retried.
    Internal,
    /// The SQL of a view definition is invalid or unsupported; the message names the construct
    /// and its line and column.
    InvalidSql,
    /// A view of that name exists (use `CREATE OR REPLACE VIEW`).
    ViewExists,
    /// Building the view would fold more events than the server allows, or the view costs more
    /// per event than it allows (`max_view_cost`).
    ViewTooLarge,
    /// A live query or view definition is over the server's budget for one expression: nested
    /// too deeply, too long, or too many terms; the message says which, with the line and column.
    TooComplex,
    /// A live query would take the connection or the server past a budget of live queries or of
    /// rows held for them; try again later or with a narrower `where`.
    OverBudget,
    /// The server cannot write (its store failed, e.g. a full disk): the command stored nothing
    /// and may be resent with the same `seq` later; reads go on.
    Unavailable,
    /// A code this build does not know.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownMessage => "unknown_message",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::AlreadyGreeted => "already_greeted",
            ErrorCode::UnknownView => "unknown_view",
            ErrorCode::DuplicateSubscription => "duplicate_subscription",
            ErrorCode::UnknownSubscription => "unknown_subscription",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::UnknownSearch => "unknown_search",
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::Rejected => "rejected",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::Timeout => "timeout",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidSql => "invalid_sql",
            ErrorCode::ViewExists => "view_exists",
            ErrorCode::ViewTooLarge => "view_too_large",
            ErrorCode::TooComplex => "too_complex",
            ErrorCode::OverBudget => "over_budget",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Other => "other",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
