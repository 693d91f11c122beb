//! The client handle: cheap to clone, one background connection task per client.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use lucarne_protocol::{Ack, ErrorCode, Found, SearchQuery, ViewInfo};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::backoff::Backoff;
use crate::connection::{self, Request};
use crate::event::{Query, SearchEvent, ViewEvent};
use crate::optimistic::Command;

/// The server a client talks to when none is given.
pub const DEFAULT_SERVER: &str = "ws://127.0.0.1:7300/ws";

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// WebSocket URL of the server, e.g. `ws://127.0.0.1:7300/ws`.
    pub url: String,
    /// Further servers of the same cluster, tried in turn after `url` when a connection is lost
    /// or cannot be made (see [`ClientConfig::servers`]).
    pub fallbacks: Vec<String>,
    /// Stable identity of this client: commands are deduplicated per `(client_id, seq)`.
    pub client_id: String,
    /// First command sequence number minus one (a client reusing its id across runs continues
    /// after the last seq it used).
    pub last_seq: u64,
    /// Capability token sent in `hello`.
    pub token: Option<String>,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Time allowed to open the socket and get `welcome`.
    pub connect_timeout: Duration,
    /// Natively, a file that keeps the unanswered commands (with the client id and the last
    /// sequence number) across runs: see [`ClientConfig::outbox_file`]. Ignored in the browser,
    /// where the tab's `sessionStorage` keeps them.
    pub outbox_file: Option<std::path::PathBuf>,
}

impl ClientConfig {
    /// A config for `url` with a fresh random client id (in a browser: the tab's, kept across
    /// reloads of the page with its unanswered commands).
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            fallbacks: Vec::new(),
            client_id: crate::transport::fresh_client_id(),
            last_seq: 0,
            token: None,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
            outbox_file: None,
        }
    }

    /// A config for several servers of one cluster (`ws://a/ws,ws://b/ws` splits at commas):
    /// the client talks to one at a time, the first at start; when the connection is lost or
    /// cannot be made it moves to the next one (after the usual backoff with jitter), round the
    /// list, and stays with the one that answers. Subscriptions resume there (or resync when
    /// that server cannot serve the position) and unanswered commands are resent with their
    /// `(client_id, seq)`, as after any reconnect.
    ///
    /// ```
    /// use lucarne_runtime::ClientConfig;
    ///
    /// let config = ClientConfig::servers(["ws://10.0.0.1:7300/ws", "ws://10.0.0.2:7300/ws"]);
    /// assert_eq!(config.url, "ws://10.0.0.1:7300/ws");
    /// assert_eq!(config.fallbacks, ["ws://10.0.0.2:7300/ws"]);
    /// let config = ClientConfig::servers(["ws://a/ws, ws://b/ws"]);
    /// assert_eq!((config.url.as_str(), config.fallbacks.len()), ("ws://a/ws", 1));
    /// ```
    pub fn servers<S: AsRef<str>>(urls: impl IntoIterator<Item = S>) -> Self {
        let mut urls = urls
            .into_iter()
            .flat_map(|u| u.as_ref().split(',').map(|u| u.trim().to_owned()).collect::<Vec<_>>())
            .filter(|u| !u.is_empty());
        let first = urls.next().unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        ClientConfig { fallbacks: urls.collect(), ..ClientConfig::new(first) }
    }

    /// The servers an app talks to unless told otherwise, with a fresh client id: natively
    /// `LUCARNE_SERVER` (a URL, or several of one cluster separated by commas), else
    /// [`DEFAULT_SERVER`]; in a browser page the address's `?server=`, else `/ws` on the page's
    /// own host. What the examples and the reference app start with.
    pub fn default_servers() -> Self {
        ClientConfig::servers([
            crate::transport::default_servers().unwrap_or_else(|| DEFAULT_SERVER.to_owned())
        ])
    }

    /// Keeps the unanswered commands of `app` across runs, one file per server (the first of
    /// the list): natively `outbox-HOST_PORT.json` in `$XDG_STATE_HOME/lucarne/APP` (else
    /// `~/.local/state/lucarne/APP`), see [`ClientConfig::outbox_file`]; in a browser the tab's
    /// `sessionStorage` keeps them anyway. An explicit [`ClientConfig::outbox_file`] wins.
    ///
    /// ```
    /// use lucarne_runtime::ClientConfig;
    ///
    /// let config = ClientConfig::new("ws://10.0.0.1:7300/ws").keep_outbox("todo");
    /// # #[cfg(not(target_arch = "wasm32"))]
    /// if std::env::var_os("XDG_STATE_HOME").is_some() || std::env::var_os("HOME").is_some() {
    ///     let file = config.outbox_file.expect("a file");
    ///     assert!(file.ends_with("lucarne/todo/outbox-10.0.0.1_7300.json"), "{}", file.display());
    /// }
    /// ```
    pub fn keep_outbox(mut self, app: &str) -> Self {
        if self.outbox_file.is_none() {
            self.outbox_file = crate::transport::app_outbox(app, &self.url);
        }
        self
    }

    /// Every server, the first first.
    pub fn all_servers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str()).chain(self.fallbacks.iter().map(String::as_str))
    }

    /// Uses this client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// Sends this token in `hello`.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Uses these reconnect delays.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Keeps the outbox in this file (native): every command not yet answered is written
    /// there (written beside it, flushed to the disk and renamed over it, so it survives the
    /// app's crash or the machine's; this costs a flush per command sent and per answer), and
    /// a client connected later with the same file takes its client id and resends those
    /// commands with their original `(client_id, seq)`, so the server applies each exactly
    /// once. The file's client id wins over [`ClientConfig::client_id`]. A running client holds
    /// the file (an advisory lock on `FILE.lock`): a second client given the same path at the
    /// same time, in any process, takes a free sibling `STEM.2.EXT` … `STEM.16.EXT` (its own
    /// client id and commands; memory only if all sixteen are held), so two clients never
    /// share a client id. A client takes the first free file that keeps unanswered commands,
    /// else the first free one, so what a second app left is sent by a later run. An
    /// unreadable file is logged and set aside as `FILE.bad`, never fatal.
    pub fn outbox_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.outbox_file = Some(path.into());
        self
    }
}

/// Why a command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The server refused it; nothing was stored.
    #[error("rejected ({code}): {message}")]
    Rejected {
        /// The server's code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// The client was shut down before an answer came.
    #[error("the client stopped before the command was answered")]
    Stopped,
}

/// Errors of requests that need a live connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Not connected right now.
    #[error("not connected: {0}")]
    Offline(String),
    /// The server answered with an error.
    #[error("server error ({code}): {message}")]
    Server {
        /// The server's code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// The client was shut down.
    #[error("the client stopped")]
    Stopped,
}

struct Inner {
    id: u64,
    client_id: String,
    requests: mpsc::UnboundedSender<Request>,
    seq: AtomicU64,
    next_sub: AtomicU64,
    /// The commands a previous run left unanswered (being resent).
    unanswered: Vec<Command>,
    /// The Web Push key of the server last connected to.
    push_key: Arc<std::sync::Mutex<Option<String>>>,
}

/// A connection to a Lucarne server. Clones share the connection; the connection task stops
/// when the last clone (and the last subscription stream) is dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use lucarne_runtime::{Client, ClientConfig, Query, ViewEvent};
/// use futures_util::StreamExt;
///
/// let client = Client::connect(ClientConfig::new("ws://127.0.0.1:7300/ws"));
/// let mut orders = client.subscribe(Query::view("orders"));
/// let ack = client.send("pay_order", serde_json::json!({"order_id": "o-1"})).await?;
/// while let Some(event) = orders.next().await {
///     if let ViewEvent::Delta(d) = event {
///         println!("{} ops, acked {:?} (ours: seq {})", d.ops.len(), d.acked, ack.seq);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("client_id", &self.inner.client_id).finish_non_exhaustive()
    }
}

impl std::hash::Hash for Client {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.id.hash(state);
    }
}

impl PartialEq for Client {
    fn eq(&self, other: &Self) -> bool {
        self.inner.id == other.inner.id
    }
}

impl Eq for Client {}

impl Client {
    /// Starts the background connection task. It connects at once and keeps reconnecting with
    /// backoff; requests made while offline are queued.
    pub fn connect(mut config: ClientConfig) -> Client {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let mut saved = crate::transport::saved(&mut config);
        if let Some(id) = saved.client_id.take() {
            config.client_id = id;
        }
        let (requests, queue) = mpsc::unbounded_channel();
        let inner = Inner {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            client_id: config.client_id.clone(),
            requests,
            seq: AtomicU64::new(config.last_seq.max(saved.last_seq)),
            next_sub: AtomicU64::new(1),
            unanswered: saved
                .commands
                .iter()
                .map(|(seq, name, payload)| Command {
                    seq: *seq,
                    name: name.clone(),
                    payload: payload.clone(),
                })
                .collect(),
            push_key: Arc::default(),
        };
        crate::transport::spawn(connection::run(config, queue, saved, inner.push_key.clone()));
        Client { inner: Arc::new(inner) }
    }

    /// The VAPID public key of the server this client last connected to, when it sends Web Push
    /// (the browser's `applicationServerKey` for [`Client::register_push`]); `None` before the
    /// first connection or when the server sends no Web Push.
    pub fn push_key(&self) -> Option<String> {
        self.inner.push_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// This client's id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The last command sequence number used.
    pub fn last_seq(&self) -> u64 {
        self.inner.seq.load(Ordering::Relaxed)
    }

    /// A sequence number this client has never used: the next one.
    pub fn next_seq(&self) -> u64 {
        self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The commands a previous run of this client left unanswered (kept in its outbox file, or
    /// in the tab's `sessionStorage`), as they were when it connected: the runtime resends them
    /// on its own; [`Optimistic::restore`](crate::optimistic::Optimistic::restore) shows their
    /// changes again and awaits their answers.
    pub fn unanswered(&self) -> &[Command] {
        &self.inner.unanswered
    }

    /// Watches a view: the stream yields its snapshot, then every change, plus status events;
    /// it survives reconnects (resuming where it can). Dropping it unsubscribes.
    pub fn subscribe(&self, query: Query) -> Subscription {
        let id = self.inner.next_sub.fetch_add(1, Ordering::Relaxed);
        let (events, rx) = mpsc::unbounded_channel();
        let _ = self.inner.requests.send(Request::Subscribe { id, query, events });
        Subscription { id, rx, requests: self.inner.requests.clone() }
    }

    /// Keeps a search current: the stream yields everything it finds
    /// ([`SearchEvent::Found`]: the page, the total and the facet counts), again each time a
    /// change on the server changes any of it, plus status events; it survives reconnects
    /// (starting afresh). Dropping it unsubscribes.
    ///
    /// ```no_run
    /// # async fn demo(client: lucarne_runtime::Client) {
    /// use futures_util::StreamExt;
    /// use lucarne_runtime::{SearchEvent, SearchQuery};
    ///
    /// let query = SearchQuery { text: "ada".into(), facets: vec!["status".into()], ..Default::default() };
    /// let mut search = client.watch_search("orders_search", query);
    /// while let Some(event) = search.next().await {
    ///     if let SearchEvent::Found(found) = event {
    ///         println!("{} orders, {:?}", found.total, found.facets["status"]);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn watch_search(&self, index: &str, query: SearchQuery) -> Subscription<SearchEvent> {
        let id = self.inner.next_sub.fetch_add(1, Ordering::Relaxed);
        let (events, rx) = mpsc::unbounded_channel();
        let _ = self.inner.requests.send(Request::WatchSearch { id, index: index.to_owned(), query, events });
        Subscription { id, rx, requests: self.inner.requests.clone() }
    }

    /// Sends a command and waits for its answer. The command is kept in the outbox and resent
    /// with the same `(client_id, seq)` after a reconnect until it is answered, so the server
    /// applies it exactly once.
    pub async fn send(&self, name: &str, payload: Value) -> Result<Ack, CommandError> {
        self.send_with_seq(self.next_seq(), name, payload).await
    }

    /// Sends a command with an explicit sequence number (to resend one from a persisted outbox).
    pub async fn send_with_seq(&self, seq: u64, name: &str, payload: Value) -> Result<Ack, CommandError> {
        self.inner.seq.fetch_max(seq, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let request = Request::Command { seq, name: name.to_owned(), payload, reply };
        self.inner.requests.send(request).map_err(|_| CommandError::Stopped)?;
        answer.await.unwrap_or(Err(CommandError::Stopped))
    }

    /// The views the server maintains (needs a live connection).
    pub async fn list_views(&self) -> Result<Vec<ViewInfo>, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.inner.requests.send(Request::ListViews { reply }).map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }
}

impl Client {
    /// Defines a view on the server (`CREATE [OR REPLACE] VIEW …`): `progress(done, total)` is
    /// called while it is built from the log; the result is the live view. Needs a live
    /// connection and a server that allows runtime definitions.
    pub async fn define_view(
        &self,
        sql: &str,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ViewInfo, ClientError> {
        let (tx, mut updates) = mpsc::unbounded_channel();
        let (reply, mut answer) = oneshot::channel();
        let request = Request::DefineView { sql: sql.to_owned(), progress: tx, reply };
        self.inner.requests.send(request).map_err(|_| ClientError::Stopped)?;
        loop {
            tokio::select! {
                biased;
                update = updates.recv() => match update {
                    Some((done, total)) => progress(done, total),
                    None => return (&mut answer).await.unwrap_or(Err(ClientError::Stopped)),
                },
                result = &mut answer => return result.unwrap_or(Err(ClientError::Stopped)),
            }
        }
    }

    /// Defines (or redefines) a command on the server from a route spec,
    /// `STREAM:NAME [ON VIEW(FIELD) [WHEN CONDITION | NEW]]`; returns its name. Needs a live
    /// connection and the define right (with a token: also its `commands` for the name).
    pub async fn define_command(&self, spec: &str) -> Result<String, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Request::DefineCommand { spec: spec.to_owned(), reply })
            .map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// Removes a command from the server; later ones of that name are `unknown_command`.
    pub async fn drop_command(&self, name: &str) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Request::DropCommand { name: name.to_owned(), reply })
            .map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// Defines (or redefines) a search index on the server, `CREATE SEARCH INDEX name ON view
    /// (columns) [FACETS (columns)]`; returns its name. Needs a live connection and the define
    /// right.
    pub async fn define_search(&self, sql: &str) -> Result<String, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Request::DefineSearch { sql: sql.to_owned(), reply })
            .map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// Asks for platform pushes while this client is not connected: each change of a row of
    /// `interest`'s view that its `where` keeps (within the token's row filter) wakes the app
    /// through `target`, coalesced, with the notification's text from the row. Returns the
    /// registration's id (the same for the same target and interest: registering again on each
    /// start is how an app keeps it). The server must have been started with push on.
    ///
    /// ```no_run
    /// # async fn run(client: lucarne_runtime::Client, subscription: lucarne_protocol::WebPushSubscription) -> Result<(), lucarne_runtime::ClientError> {
    /// use lucarne_protocol::{NotificationTemplate, PushInterest, PushTarget};
    ///
    /// let interest = PushInterest { view: "orders".into(), filter: Some("status = 'paid'".into()) };
    /// let text = NotificationTemplate { title: "Order {order_id} paid".into(), body: "{customer}".into() };
    /// let id = client.register_push(PushTarget::Web(subscription), interest, Some(text)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn register_push(
        &self,
        target: lucarne_protocol::PushTarget,
        interest: lucarne_protocol::PushInterest,
        notification: Option<lucarne_protocol::NotificationTemplate>,
    ) -> Result<String, ClientError> {
        let (reply, answer) = oneshot::channel();
        let register = Box::new(lucarne_protocol::RegisterPush { id: 0, target, interest, notification });
        self.inner
            .requests
            .send(Request::RegisterPush { register, reply })
            .map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// No more pushes for a registration of this client's.
    pub async fn unregister_push(&self, registration: &str) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Request::UnregisterPush { registration: registration.to_owned(), reply })
            .map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// Queues one push now to every registration of `client_id`, connected or not, titled
    /// `title` (an operator's check that pushes reach a device; needs the define right).
    /// Returns the registrations pushed to.
    pub async fn test_push(&self, client_id: &str, title: &str) -> Result<Vec<String>, ClientError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::TestPush { client_id: client_id.to_owned(), title: title.to_owned(), reply };
        self.inner.requests.send(request).map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// Drops a search index on the server.
    pub async fn drop_search(&self, name: &str) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Request::DropSearch { name: name.to_owned(), reply })
            .map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// Searches a search index: a page of the rows of its view this client may see that match
    /// the words (with typos), the filter and the selected facet values, and the facets' counts.
    ///
    /// ```no_run
    /// # async fn run(client: lucarne_runtime::Client) -> Result<(), lucarne_runtime::ClientError> {
    /// use lucarne_runtime::SearchQuery;
    ///
    /// let query = SearchQuery { text: "ada lov".into(), facets: vec!["status".into()], ..Default::default() };
    /// let found = client.search("orders_search", query).await?;
    /// println!("{} orders, {:?}", found.total, found.facets["status"]);
    /// # Ok(()) }
    /// ```
    pub async fn search(&self, index: &str, query: SearchQuery) -> Result<Found, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Request::Search { index: index.to_owned(), query, reply })
            .map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// Drops a view on the server; its subscribers get `Failed` with `unknown_view`.
    pub async fn drop_view(&self, name: &str) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Request::DropView { name: name.to_owned(), reply })
            .map_err(|_| ClientError::Stopped)?;
        answer.await.unwrap_or(Err(ClientError::Stopped))
    }
}

/// The events of one subscription (of a view, or of a search with [`SearchEvent`]s). Dropping
/// it unsubscribes.
pub struct Subscription<E = ViewEvent> {
    id: u64,
    rx: mpsc::UnboundedReceiver<E>,
    requests: mpsc::UnboundedSender<Request>,
}

impl<E> std::fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("id", &self.id).finish_non_exhaustive()
    }
}

impl<E> Stream for Subscription<E> {
    type Item = E;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.rx.poll_recv(cx)
    }
}

impl<E> Drop for Subscription<E> {
    fn drop(&mut self) {
        let _ = self.requests.send(Request::Unsubscribe { id: self.id });
    }
}
