//! The engine: one writer thread that group-commits commands into the store, the hub that fans
//! committed view changes out to subscribers, and the builders of views defined at runtime.
//!
//! Commands queue on a channel; the writer takes every command waiting (up to a batch size),
//! commits them in one durable transaction, publishes the view changes, then answers each
//! command. Under load many commands share one fsync; alone, a command waits for one commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use lucarne_protocol::{CommandRef, ErrorCode, Position, ViewInfo};
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::commands::{Commands, Plan, Rejection};
use crate::log::{Append, Appended, EventLog, NewEvent};
use crate::sql::{SqlError, parse_view};
use crate::store::{Catchup, Change, Snapshot, Store, StoreError, VIEWS_STREAM, ViewChange};

/// Most commands one commit takes.
const MAX_BATCH: usize = 512;

/// How many changes per view the hub buffers for a subscriber before it counts as lagging.
const HUB_CAPACITY: usize = 4096;

/// How long a resuming client that comes from a cluster node further on waits for this node to
/// fold as far, before it is resynced instead.
pub const AHEAD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

mod cluster;
mod push;
mod search;
pub use cluster::{ClusterConfig, ClusterError};

type Reply = oneshot::Sender<Result<Appended, Rejection>>;
type Hub = RwLock<HashMap<String, broadcast::Sender<Arc<Change>>>>;

/// What may be done with views at runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewPolicy {
    /// Clients may define, replace and drop views (until capability tokens land, a server flag).
    pub allow_define: bool,
    /// A definition whose backfill would fold more events than this is refused.
    pub max_backfill_events: u64,
}

impl Default for ViewPolicy {
    fn default() -> Self {
        ViewPolicy { allow_define: false, max_backfill_events: 10_000_000 }
    }
}

/// How a runtime view build stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Build {
    /// Log positions folded so far, of `total`.
    Progress {
        /// Folded.
        done: u64,
        /// The log's head.
        total: u64,
    },
    /// The view is live at this position.
    Live(Position),
    /// The build did not finish.
    Failed(String),
}

/// Why a view could not be defined or dropped.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The SQL is not a supported view.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// A view of that name exists and the SQL is not `CREATE OR REPLACE`.
    #[error("a view named {0:?} exists; use CREATE OR REPLACE VIEW to redefine it")]
    Exists(String),
    /// No view of that name.
    #[error("no view named {0:?}")]
    Unknown(String),
    /// No command of that name.
    #[error("no command named {0:?}")]
    UnknownCommand(String),
    /// No search index of that name.
    #[error("no search index named {0:?}")]
    UnknownSearch(String),
    /// The backfill would exceed the configured limit.
    #[error("the log holds {events} events to build this view from, over the limit of {limit}")]
    TooLarge {
        /// Events in the log.
        events: u64,
        /// The limit.
        limit: u64,
    },
    /// Defining views is not allowed on this server.
    #[error("defining views is not allowed on this server (start it with --allow-define)")]
    NotAllowed,
    /// The store or the cluster's log cannot write now (a full disk, NATS unreachable or still
    /// recovering): nothing was defined or dropped for sure; the request may be sent again.
    #[error("{0}")]
    Unavailable(String),
    /// The store or writer failed.
    #[error("{0}")]
    Internal(String),
}

impl ViewError {
    /// The protocol code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ViewError::Sql(e) => e.code(),
            ViewError::Exists(_) => ErrorCode::ViewExists,
            ViewError::Unknown(_) => ErrorCode::UnknownView,
            ViewError::UnknownCommand(_) => ErrorCode::UnknownCommand,
            ViewError::UnknownSearch(_) => ErrorCode::UnknownSearch,
            ViewError::TooLarge { .. } => ErrorCode::ViewTooLarge,
            ViewError::NotAllowed => ErrorCode::Unauthorized,
            ViewError::Unavailable(_) => ErrorCode::Unavailable,
            ViewError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// Whether the store can write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Commands are committed.
    Ok,
    /// A commit failed on the disk (e.g. it is full): commands are refused (`unavailable`), reads
    /// go on, and the store is reopened every [`REOPEN_EVERY`] until a write succeeds.
    Unwritable(String),
    /// A cluster node that cannot reach the cluster's log: commands are refused (`unavailable`),
    /// reads go on from the node's copy, and the NATS client reconnects by itself.
    Unreachable(String),
}

/// How often an unwritable store is reopened and probed.
pub const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How far the store has folded: the log's head and, on a cluster node, the stream sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Folded {
    /// The position of the last event in the store's log.
    head: u64,
    /// The last sequence of the cluster's stream folded (0 on a single node).
    sequence: u64,
}

struct Shared {
    store: Arc<Store>,
    /// A cluster node's NATS connection.
    link: std::sync::OnceLock<async_nats::Client>,
    /// Moved on after every commit.
    folded: watch::Sender<Folded>,
    hub: Hub,
    /// The requesters of builds not started yet, by the key of their `define_view` append.
    builds: Mutex<HashMap<CommandRef, watch::Sender<Build>>>,
    health: RwLock<Health>,
    /// The commands: those the server was started with, then those defined or dropped at
    /// runtime (kept in the store, applied in log order by the writer).
    commands: RwLock<Commands>,
    /// The search indexes defined at runtime: their `CREATE SEARCH INDEX`, by name.
    searches: RwLock<HashMap<String, String>>,
    /// The search indexes built and kept current (on their first search).
    live_searches: crate::search::Searches,
    /// Platform push: the registrations in force, who is connected (see `crate::push`).
    pushes: Arc<crate::push::Pushes>,
}

impl Shared {
    fn health(&self) -> Health {
        self.health.read().map_or_else(|e| Health::Unwritable(e.to_string()), |h| h.clone())
    }

    /// Marks the store unwritable and, when it was not already, starts reopening it.
    fn unwritable(self: &Arc<Self>, reason: String) {
        let Ok(mut health) = self.health.write() else { return };
        let first = *health == Health::Ok;
        *health = Health::Unwritable(reason.clone());
        drop(health);
        if !first {
            return;
        }
        tracing::error!("the store cannot write ({reason}): refusing commands until it can");
        let shared = self.clone();
        let spawned = std::thread::Builder::new().name("lucarne-reopen".into()).spawn(move || {
            loop {
                std::thread::sleep(REOPEN_EVERY);
                match shared.store.reopen() {
                    Ok(()) => {
                        if let Ok(mut health) = shared.health.write() {
                            *health = Health::Ok;
                        }
                        tracing::info!("the store was reopened and writes again");
                        return;
                    }
                    Err(e) => {
                        tracing::debug!("the store cannot write yet: {e}");
                        if let Ok(mut health) = shared.health.write() {
                            *health = Health::Unwritable(e.to_string());
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start reopening the store: {e}");
        }
    }
}

/// The server's core, shared by every connection.
pub struct Engine {
    shared: Arc<Shared>,
    feeds: crate::feed::Feeds,
    policy: ViewPolicy,
    writer: mpsc::Sender<(Append, Reply)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("commands", &self.commands()).field("policy", &self.policy).finish()
    }
}

impl Engine {
    /// Starts the writer thread over a store whose views are installed.
    pub fn start(store: Store, commands: Commands) -> Arc<Engine> {
        Self::with_policy(store, commands, ViewPolicy::default())
    }

    /// Starts the engine with a policy for runtime view definitions.
    pub fn with_policy(store: Store, commands: Commands, policy: ViewPolicy) -> Arc<Engine> {
        let (engine, queue) = Self::assemble(store, commands, policy);
        let shared = engine.shared.clone();
        std::thread::Builder::new()
            .name("lucarne-writer".into())
            .spawn(move || write_loop(&shared, queue))
            .map_err(|e| tracing::error!("cannot start the writer thread: {e}"))
            .ok();
        engine
    }

    /// The engine without its writer: the queue of appends is for the caller to take.
    fn assemble(
        store: Store,
        commands: Commands,
        policy: ViewPolicy,
    ) -> (Arc<Engine>, mpsc::Receiver<(Append, Reply)>) {
        let mut commands = commands;
        for (name, spec) in store.defined_commands().unwrap_or_default() {
            commands = match spec {
                Some(spec) => match crate::commands::parse_routes(&spec, commands.clone()) {
                    Ok(defined) => defined,
                    Err(e) => {
                        tracing::error!(command = %name, "a command defined at runtime no longer parses: {e}");
                        commands
                    }
                },
                None => commands.without(&name),
            };
        }
        let searches: HashMap<String, String> = store
            .defined_searches()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(n, s)| Some((n, s?)))
            .collect();
        let store = Arc::new(store);
        let pushes = Arc::new(crate::push::Pushes::default());
        store.set_push_plan(pushes.clone());
        let hub: HashMap<_, _> = store
            .views()
            .unwrap_or_default()
            .iter()
            .map(|v| (v.name.clone(), broadcast::channel(HUB_CAPACITY).0))
            .collect();
        let folded = Folded { head: store.head().unwrap_or(0), sequence: store.applied().unwrap_or(0) };
        let shared = Arc::new(Shared {
            store,
            link: std::sync::OnceLock::new(),
            folded: watch::channel(folded).0,
            hub: RwLock::new(hub),
            builds: Mutex::new(HashMap::new()),
            health: RwLock::new(Health::Ok),
            commands: RwLock::new(commands),
            searches: RwLock::new(searches),
            live_searches: Default::default(),
            pushes,
        });
        let (writer, queue) = mpsc::channel(MAX_BATCH * 4);
        (Arc::new(Engine { shared, feeds: Default::default(), policy, writer }), queue)
    }

    /// Whether the store can write and, on a cluster node, the cluster's log can be reached
    /// (`/healthz`).
    pub fn health(&self) -> Health {
        match self.shared.health() {
            Health::Ok => self.shared.link.get().map_or(Health::Ok, cluster::health),
            other => other,
        }
    }

    /// The shared live queries.
    pub fn feeds(&self) -> &crate::feed::Feeds {
        &self.feeds
    }

    /// The commands this engine knows now.
    pub fn commands(&self) -> Commands {
        self.shared.commands.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// How a command becomes events ([`Commands::plan`]), by the commands in force now.
    pub fn plan(&self, name: &str, payload: &serde_json::Value) -> Result<Plan, Rejection> {
        match self.shared.commands.read() {
            Ok(commands) => commands.plan(name, payload),
            Err(_) => {
                Err(Rejection { code: ErrorCode::Internal, message: "the commands are unreadable".into() })
            }
        }
    }

    /// Decides and durably appends a command's events; idempotent by `(client_id, seq)`.
    pub async fn execute(
        &self,
        key: CommandRef,
        name: &str,
        payload: &serde_json::Value,
    ) -> Result<Appended, Rejection> {
        let plan = self.plan(name, payload)?;
        self.submit_plan(key, plan).await?.await
    }

    /// Durably appends events under a dedup key.
    pub async fn append(&self, key: CommandRef, events: Vec<NewEvent>) -> Result<Appended, Rejection> {
        self.submit(key, events).await?.await
    }

    /// Queues an append and returns a future of its outcome. Appends are committed in the order
    /// they were queued, so a connection that queues its commands one after the other gets them
    /// applied in that order while it waits for the acks concurrently.
    pub async fn submit(
        &self,
        key: CommandRef,
        events: Vec<NewEvent>,
    ) -> Result<impl Future<Output = Result<Appended, Rejection>> + Send + 'static, Rejection> {
        self.submit_plan(key, Plan::Events(events)).await
    }

    /// Queues a command's plan: events decided already, or a guard the writer decides against
    /// the view rows at the command's position (see [`crate::commands`]). Ordered like
    /// [`Engine::submit`].
    pub async fn submit_plan(
        &self,
        key: CommandRef,
        plan: Plan,
    ) -> Result<impl Future<Output = Result<Appended, Rejection>> + Send + 'static, Rejection> {
        let append = match plan {
            Plan::Events(events) => {
                if events.iter().any(|e| e.stream == VIEWS_STREAM) {
                    let message =
                        format!("the {VIEWS_STREAM} stream is written by define_view and drop_view only");
                    return Err(Rejection::refused(message));
                }
                Append::new(key, events)
            }
            Plan::Guarded(guard) => Append { key, events: Vec::new(), guard: Some(guard) },
        };
        self.enqueue(append).await
    }

    async fn enqueue(
        &self,
        append: Append,
    ) -> Result<impl Future<Output = Result<Appended, Rejection>> + Send + 'static, Rejection> {
        let (reply, answer) = oneshot::channel();
        self.writer.send((append, reply)).await.map_err(|_| Rejection {
            code: ErrorCode::ShuttingDown,
            message: "the server is shutting down".into(),
        })?;
        let stopped = || Rejection { code: ErrorCode::Internal, message: "the writer stopped".into() };
        Ok(async move { answer.await.map_err(|_| stopped())? })
    }

    /// Defines (or, with `CREATE OR REPLACE`, redefines) a view at runtime. The definition is
    /// recorded in the log, then the view is built from the whole log beside any old one and
    /// swapped in when caught up; subscribers of the old one are resynced. The receiver follows
    /// the build to `Live` or `Failed`.
    pub async fn define_view(&self, sql: &str) -> Result<(String, watch::Receiver<Build>), ViewError> {
        if !self.policy.allow_define {
            return Err(ViewError::NotAllowed);
        }
        let text = sql.to_owned();
        let def = crate::offload::run(move || parse_view(&text))
            .await
            .map_err(|e| ViewError::Internal(e.to_string()))??;
        self.check_sources(&def, sql)?;
        let exists = self.view_infos().await.map_err(internal)?.iter().any(|v| v.name == def.name);
        if exists && !def.replace {
            return Err(ViewError::Exists(def.name));
        }
        let events = self.head().await.map_err(internal)?;
        if events > self.policy.max_backfill_events {
            return Err(ViewError::TooLarge { events, limit: self.policy.max_backfill_events });
        }
        let (progress, follow) = watch::channel(Build::Progress { done: 0, total: events });
        // This request follows the build its own append starts, not a later one of the name.
        let key = meta_key();
        if let Ok(mut builds) = self.shared.builds.lock() {
            builds.insert(key.clone(), progress);
        }
        let event = NewEvent {
            stream: VIEWS_STREAM.into(),
            kind: "define_view".into(),
            payload: json!({ "sql": def.sql }),
        };
        if let Err(e) = self.meta_as(key.clone(), event).await {
            if let Ok(mut builds) = self.shared.builds.lock() {
                builds.remove(&key);
            }
            return Err(e);
        }
        Ok((def.name, follow))
    }

    /// Refuses a view over a stream nobody writes to, or reading a field no event of its
    /// streams ever had.
    fn check_sources(&self, def: &crate::sql::ViewDef, sql: &str) -> Result<(), ViewError> {
        let store = &self.shared.store;
        let mut seen: Option<std::collections::BTreeSet<String>> = None;
        for source in &def.sources {
            match store.stream_fields(source) {
                Some(fields) => seen.get_or_insert_with(Default::default).extend(fields),
                None if self.commands().streams().any(|s| s == source) => {}
                None => {
                    let (line, column) = crate::sql::position_of(sql, source, Some("FROM"));
                    let mut known: Vec<String> = store.streams();
                    known.extend(self.commands().streams().map(str::to_owned));
                    known.sort();
                    known.dedup();
                    let message = format!("unknown stream {source:?} (streams: {})", known.join(", "));
                    return Err(ViewError::Sql(SqlError::new(message, line, column)));
                }
            }
        }
        // Fields are checked only once some stream of the view has events.
        let Some(fields) = seen else { return Ok(()) };
        match def.payload_fields().into_iter().find(|f| !fields.contains(f)) {
            None => Ok(()),
            Some(field) => {
                let (line, column) = crate::sql::position_of(sql, &field, None);
                let mut known: Vec<&str> = fields.iter().map(String::as_str).collect();
                known.extend(["type", "stream", "position", "ts"]);
                let message = format!(
                    "unknown field {field:?}: no event of {} has it (fields: {})",
                    def.sources.join(", "),
                    known.join(", ")
                );
                Err(ViewError::Sql(SqlError::new(message, line, column)))
            }
        }
    }

    /// Defines (or redefines) a command at runtime from a route spec naming one command
    /// (`STREAM:NAME [ON VIEW(FIELD) [WHEN … | NEW]]`), checked against the views; recorded in
    /// the log, in force for every command queued after it. Returns its name.
    pub async fn define_command(&self, spec: &str) -> Result<String, ViewError> {
        if !self.policy.allow_define {
            return Err(ViewError::NotAllowed);
        }
        let text = spec.to_owned();
        let parsed = crate::offload::run(move || crate::commands::parse_routes(&text, Commands::new()))
            .await
            .map_err(|e| ViewError::Internal(e.to_string()))?
            .map_err(|e| ViewError::Sql(SqlError::new(e, 1, 1)))?;
        let name = match parsed.names().as_slice() {
            [one] => (*one).to_owned(),
            _ => {
                return Err(ViewError::Sql(SqlError::new(
                    "define one command at a time (STREAM:NAME …)",
                    1,
                    1,
                )));
            }
        };
        for (_, p) in parsed.preconditions() {
            let columns = p.columns();
            self.check_names(spec, &p.view, columns.iter().map(|c| (c.as_str(), "WHEN"))).await?;
        }
        let event = NewEvent {
            stream: VIEWS_STREAM.into(),
            kind: "define_command".into(),
            payload: json!({ "name": name, "spec": spec }),
        };
        self.meta(event).await?;
        Ok(name)
    }

    /// Checks that a definition names a live view (after its `ON`) and only columns the view
    /// has (each after its keyword); `Err` with the position in `text` of the first that is not.
    async fn check_names<'a>(
        &self,
        text: &str,
        view: &str,
        columns: impl IntoIterator<Item = (&'a str, &'static str)>,
    ) -> Result<(), ViewError> {
        let views = self.view_infos().await.map_err(internal)?;
        if !views.iter().any(|v| v.name == view) {
            let (line, column) = crate::sql::position_of(text, view, Some("ON"));
            let known: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
            let message = format!("no view named {view:?} (views: {})", known.join(", "));
            return Err(ViewError::Sql(SqlError::new(message, line, column)));
        }
        let known = self.view_columns(view).await.map_err(internal)?;
        match columns.into_iter().find(|(c, _)| !known.iter().any(|k| k == c)) {
            None => Ok(()),
            Some((missing, after)) => {
                let (line, column) = crate::sql::position_of(text, missing, Some(after));
                let message =
                    format!("the view {view:?} has no column {missing:?} (columns: {})", known.join(", "));
                Err(ViewError::Sql(SqlError::new(message, line, column)))
            }
        }
    }

    /// Removes a command (defined at start or at runtime); recorded in the log.
    pub async fn drop_command(&self, name: &str) -> Result<(), ViewError> {
        if !self.policy.allow_define {
            return Err(ViewError::NotAllowed);
        }
        if !self.commands().names().contains(&name) {
            return Err(ViewError::UnknownCommand(name.to_owned()));
        }
        let event = NewEvent {
            stream: VIEWS_STREAM.into(),
            kind: "drop_command".into(),
            payload: json!({ "name": name }),
        };
        self.meta(event).await
    }

    /// Drops a view defined at runtime or from the server's file; its subscribers are told.
    pub async fn drop_view(&self, name: &str) -> Result<(), ViewError> {
        if !self.policy.allow_define {
            return Err(ViewError::NotAllowed);
        }
        if !self.view_infos().await.map_err(internal)?.iter().any(|v| v.name == name) {
            return Err(ViewError::Unknown(name.to_owned()));
        }
        let event = NewEvent {
            stream: VIEWS_STREAM.into(),
            kind: "drop_view".into(),
            payload: json!({ "name": name }),
        };
        self.meta(event).await
    }

    async fn meta(&self, event: NewEvent) -> Result<(), ViewError> {
        self.meta_as(meta_key(), event).await
    }

    async fn meta_as(&self, key: CommandRef, event: NewEvent) -> Result<(), ViewError> {
        let failed = |r: Rejection| match r.code {
            ErrorCode::Unavailable => ViewError::Unavailable(r.message),
            _ => ViewError::Internal(r.message),
        };
        let outcome = self.enqueue(Append::new(key, vec![event])).await.map_err(failed)?;
        outcome.await.map(|_| ()).map_err(failed)
    }

    /// Live changes of a view, from now on; `None` for an unknown view.
    pub fn changes(&self, view: &str) -> Option<broadcast::Receiver<Arc<Change>>> {
        self.shared.hub.read().ok()?.get(view).map(broadcast::Sender::subscribe)
    }

    /// Hands each row of a view to `visit` with `state`, on the blocking pool and in one read
    /// of the store, never holding them all ([`Store::each_row`]); where they stand, and
    /// `state` back. `visit` returning false stops there.
    pub async fn each_row<S: Send + 'static>(
        &self,
        view: &str,
        mut state: S,
        mut visit: impl FnMut(&mut S, lucarne_protocol::Row) -> bool + Send + 'static,
    ) -> Result<(Position, S), StoreError> {
        let (store, view) = (self.shared.store.clone(), view.to_owned());
        blocking(move || {
            let at = store.each_row(&view, |row| visit(&mut state, row))?;
            Ok((at, state))
        })
        .await
    }

    /// A snapshot of a view (runs on the blocking pool).
    pub async fn snapshot(&self, view: &str) -> Result<Snapshot, StoreError> {
        let (store, view) = (self.shared.store.clone(), view.to_owned());
        blocking(move || store.snapshot(&view)).await
    }

    /// A snapshot's parts (see [`Store::snapshot_parts`]) as they are written, on the blocking
    /// pool: the first frames can be sent while the rest are read. The store does not wait for
    /// the receiver (the read transaction lasts as long as reading the rows and writing their
    /// frames, never as long as a slow client's sending); an error ends the parts, and parts
    /// that end without [`SnapshotPart::End`](crate::store::SnapshotPart::End) (the task
    /// panicked) were cut short. Dropping the receiver stops the reading at its next frame.
    pub fn snapshot_parts(
        &self,
        view: &str,
        sub: u64,
        chunk: usize,
    ) -> mpsc::UnboundedReceiver<Result<crate::store::SnapshotPart, StoreError>> {
        let (store, view) = (self.shared.store.clone(), view.to_owned());
        let (parts, received) = mpsc::unbounded_channel();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.snapshot_parts(&view, sub, chunk, |part| parts.send(Ok(part)).is_ok()) {
                let _ = parts.send(Err(e));
            }
        });
        received
    }

    /// What a client at `from` missed. On a cluster node, a client that comes from a node
    /// further on waits (up to [`AHEAD_PATIENCE`]) for this one to fold as far.
    pub async fn catch_up(&self, view: &str, from: Position) -> Result<Catchup, StoreError> {
        let (store, name) = (self.shared.store.clone(), view.to_owned());
        let first = blocking(move || store.catch_up(&name, from)).await?;
        if first != Catchup::Resync(lucarne_protocol::ResyncReason::Ahead)
            || self.shared.store.numbering() != crate::store::Numbering::Log
        {
            return Ok(first);
        }
        let mut folded = self.shared.folded.subscribe();
        let caught = tokio::time::timeout(AHEAD_PATIENCE, folded.wait_for(|f| f.head >= from.version))
            .await
            .is_ok_and(|r| r.is_ok());
        if !caught {
            return Ok(first);
        }
        let (store, name) = (self.shared.store.clone(), view.to_owned());
        blocking(move || store.catch_up(&name, from)).await
    }

    /// The views, with their SQL and position.
    pub async fn view_infos(&self) -> Result<Vec<ViewInfo>, StoreError> {
        let store = self.shared.store.clone();
        blocking(move || store.view_infos()).await
    }

    /// The columns clients see in a live view's rows.
    pub async fn view_columns(&self, view: &str) -> Result<Vec<String>, StoreError> {
        let (store, view) = (self.shared.store.clone(), view.to_owned());
        blocking(move || {
            let def = store.view(&view)?;
            Ok(def.columns.iter().filter(|c| !c.hidden).map(|c| c.name.clone()).collect())
        })
        .await
    }

    /// Up to `limit` events of the log after `position`, in order.
    pub async fn events(&self, position: u64, limit: usize) -> Result<Vec<crate::log::Event>, StoreError> {
        let store = self.shared.store.clone();
        blocking(move || store.read_after(position, limit)).await
    }

    /// The position of the last event in the log.
    pub async fn head(&self) -> Result<u64, StoreError> {
        let store = self.shared.store.clone();
        blocking(move || store.head()).await
    }
}

/// A fresh key for an append to `$views`.
fn meta_key() -> CommandRef {
    CommandRef { client_id: VIEWS_STREAM.into(), seq: rand::random::<u64>() >> 11 }
}

fn internal(e: StoreError) -> ViewError {
    ViewError::Internal(e.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Db(redb::Error::Io(std::io::Error::other(e.to_string())))))
}

fn write_loop(shared: &Arc<Shared>, mut queue: mpsc::Receiver<(Append, Reply)>) {
    let mut batch: Vec<(Append, Reply)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (appends, replies): (Vec<Append>, Vec<Reply>) = batch.drain(..).unzip();
        if let Health::Unwritable(reason) = shared.health() {
            let message =
                format!("the store cannot write ({reason}); nothing was stored: send it again later");
            for reply in replies {
                let _ = reply.send(Err(Rejection { code: ErrorCode::Unavailable, message: message.clone() }));
            }
            continue;
        }
        match shared.store.commit(&appends) {
            Ok(committed) => {
                for (reply, appended) in replies.into_iter().zip(publish(shared, committed)) {
                    let _ = reply.send(appended);
                }
            }
            Err(e) => {
                tracing::error!("commit failed: {e}");
                let code = if e.is_io() {
                    shared.unwritable(e.to_string());
                    ErrorCode::Unavailable
                } else {
                    ErrorCode::Internal
                };
                for reply in replies {
                    let _ = reply.send(Err(Rejection { code, message: format!("commit failed: {e}") }));
                }
            }
        }
    }
    tracing::debug!("writer stopped");
}

/// Sends a commit's changes to the subscribers, applies its view and command changes, and moves
/// [`Shared::folded`] on; returns the appends' outcomes.
fn publish(shared: &Arc<Shared>, committed: crate::store::Committed) -> Vec<Result<Appended, Rejection>> {
    if let Ok(hub) = shared.hub.read() {
        for change in committed.changes {
            if let Some(sender) = hub.get(&change.view) {
                // No subscriber is not an error.
                let _ = sender.send(change);
            }
        }
    }
    for view in committed.views {
        on_view_change(shared, view);
    }
    if committed.pushed > 0 {
        shared.pushes.wake();
    }
    shared.folded.send_modify(|f| {
        f.head = f.head.max(committed.head);
        f.sequence = f.sequence.max(committed.sequence);
    });
    committed.appended
}

fn on_view_change(shared: &Arc<Shared>, change: ViewChange) {
    match change {
        ViewChange::Dropped { name } => {
            tracing::info!(view = %name, "view dropped");
            // Dropping the sender ends every subscription of the view.
            if let Ok(mut hub) = shared.hub.write() {
                hub.remove(&name);
            }
        }
        ViewChange::CommandDefined { spec } => match shared.commands.write() {
            Ok(mut commands) => match crate::commands::parse_routes(&spec, commands.clone()) {
                Ok(defined) => {
                    tracing::info!(%spec, "command defined");
                    *commands = defined;
                }
                Err(e) => tracing::error!(%spec, "a recorded command does not parse: {e}"),
            },
            Err(e) => tracing::error!("cannot define a command: {e}"),
        },
        // Here or on another node: the index built so far is forgotten, and its live searches
        // go on under the new definition or end.
        ViewChange::SearchDefined { name, sql } => {
            if let Ok(mut searches) = shared.searches.write() {
                tracing::info!(search = %name, "search index defined");
                searches.insert(name.clone(), sql);
            }
            shared.live_searches.forget(&name);
        }
        ViewChange::SearchDropped { name } => {
            if let Ok(mut searches) = shared.searches.write() {
                tracing::info!(search = %name, "search index dropped");
                searches.remove(&name);
            }
            shared.live_searches.forget(&name);
        }
        ViewChange::CommandDropped { name } => {
            if let Ok(mut commands) = shared.commands.write() {
                tracing::info!(command = %name, "command dropped");
                *commands = commands.clone().without(&name);
            }
        }
        ViewChange::Building { name, epoch, origin } => {
            let shared = shared.clone();
            // The requester of this build, when it was asked for here.
            let progress = origin.and_then(|key| shared.builds.lock().ok()?.remove(&key));
            let spawned = std::thread::Builder::new()
                .name(format!("lucarne-build-{name}"))
                .spawn(move || build(&shared, &name, epoch, progress));
            if let Err(e) = spawned {
                tracing::error!("cannot start a view builder: {e}");
            }
        }
    }
}

/// Builds a slot to the log's head, reporting progress to its requester (if any), then
/// announces its epoch to subscribers. A build superseded by a newer definition of the name, or
/// whose view was dropped, reports that to its own requester only.
fn build(shared: &Shared, name: &str, epoch: u64, progress: Option<watch::Sender<Build>>) {
    let slot = Store::slot(name, epoch);
    let report = |status: Build| {
        if let Some(progress) = &progress {
            let _ = progress.send(status);
        }
    };
    let started = std::time::Instant::now();
    let outcome = loop {
        match shared.store.build_step(&slot) {
            Ok(step) if step.finished => break Ok(shared.store.position(name).ok()),
            Ok(step) => report(Build::Progress { done: step.done, total: step.head }),
            Err(e) => break Err(e),
        }
    };
    match outcome {
        Ok(Some(at)) if at.epoch == epoch => {
            tracing::info!(view = %name, epoch, took = ?started.elapsed(), "view live");
            if let Ok(mut hub) = shared.hub.write() {
                let sender = hub.entry(name.to_owned()).or_insert_with(|| broadcast::channel(HUB_CAPACITY).0);
                // A marker of the new epoch: subscribers of the old one resync.
                let marker = Change::new(name.to_owned(), epoch, (at.version, at.version), vec![], vec![]);
                let _ = sender.send(Arc::new(marker));
            }
            report(Build::Live(at));
        }
        Ok(_) => report(Build::Failed("superseded by a newer definition or dropped".into())),
        Err(e) => {
            tracing::error!(view = %name, "building failed: {e}");
            report(Build::Failed(e.to_string()));
        }
    }
}
