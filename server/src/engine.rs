//! The engine: one writer thread that group-commits commands into the store, and the hub that
//! fans committed view changes out to subscribers.
//!
//! Commands queue on a channel; the writer takes every command waiting (up to a batch size),
//! commits them in one durable transaction, publishes the view changes, then answers each
//! command. Under load many commands share one fsync; alone, a command waits for one commit.

use std::collections::HashMap;
use std::sync::Arc;

use lucarne_protocol::{CommandRef, ErrorCode, Position, ViewInfo};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::commands::{Commands, Rejection};
use crate::log::{Append, Appended, EventLog, NewEvent};
use crate::store::{Catchup, Change, Snapshot, Store, StoreError};

/// Most commands one commit takes.
const MAX_BATCH: usize = 512;

/// How many changes per view the hub buffers for a subscriber before it counts as lagging.
const HUB_CAPACITY: usize = 4096;

type Reply = oneshot::Sender<Result<Appended, String>>;

/// The server's core, shared by every connection.
pub struct Engine {
    store: Arc<Store>,
    commands: Commands,
    hub: HashMap<String, broadcast::Sender<Arc<Change>>>,
    writer: mpsc::Sender<(Append, Reply)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("store", &self.store).field("commands", &self.commands).finish()
    }
}

impl Engine {
    /// Starts the writer thread over a store whose views are installed.
    pub fn start(store: Store, commands: Commands) -> Arc<Engine> {
        let store = Arc::new(store);
        let hub: HashMap<_, _> =
            store.views().iter().map(|v| (v.name.clone(), broadcast::channel(HUB_CAPACITY).0)).collect();
        let (writer, queue) = mpsc::channel(MAX_BATCH * 4);
        let engine = Arc::new(Engine { store: store.clone(), commands, hub: hub.clone(), writer });
        std::thread::Builder::new()
            .name("lucarne-writer".into())
            .spawn(move || write_loop(&store, &hub, queue))
            .map_err(|e| tracing::error!("cannot start the writer thread: {e}"))
            .ok();
        engine
    }

    /// The commands this engine knows.
    pub fn commands(&self) -> &Commands {
        &self.commands
    }

    /// Decides and durably appends a command's events; idempotent by `(client_id, seq)`.
    pub async fn execute(
        &self,
        key: CommandRef,
        name: &str,
        payload: &serde_json::Value,
    ) -> Result<Appended, Rejection> {
        let events = self.commands.decide(name, payload)?;
        self.append(key, events).await
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
        let (reply, answer) = oneshot::channel();
        self.writer.send((Append { key, events }, reply)).await.map_err(|_| Rejection {
            code: ErrorCode::ShuttingDown,
            message: "the server is shutting down".into(),
        })?;
        let internal = |m: String| Rejection { code: ErrorCode::Internal, message: m };
        Ok(async move { answer.await.map_err(|_| internal("the writer stopped".into()))?.map_err(internal) })
    }

    /// Live changes of a view, from now on; `None` for an unknown view.
    pub fn changes(&self, view: &str) -> Option<broadcast::Receiver<Arc<Change>>> {
        self.hub.get(view).map(broadcast::Sender::subscribe)
    }

    /// A snapshot of a view (runs on the blocking pool).
    pub async fn snapshot(&self, view: &str) -> Result<Snapshot, StoreError> {
        let (store, view) = (self.store.clone(), view.to_owned());
        blocking(move || store.snapshot(&view)).await
    }

    /// What a client at `from` missed.
    pub async fn catch_up(&self, view: &str, from: Position) -> Result<Catchup, StoreError> {
        let (store, view) = (self.store.clone(), view.to_owned());
        blocking(move || store.catch_up(&view, from)).await
    }

    /// The views, with their SQL and position.
    pub async fn view_infos(&self) -> Result<Vec<ViewInfo>, StoreError> {
        let store = self.store.clone();
        blocking(move || store.view_infos()).await
    }

    /// The position of the last event in the log.
    pub async fn head(&self) -> Result<u64, StoreError> {
        let store = self.store.clone();
        blocking(move || store.head()).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Db(redb::Error::Io(std::io::Error::other(e.to_string())))))
}

fn write_loop(
    store: &Store,
    hub: &HashMap<String, broadcast::Sender<Arc<Change>>>,
    mut queue: mpsc::Receiver<(Append, Reply)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (appends, replies): (Vec<Append>, Vec<Reply>) = batch.drain(..).unzip();
        match store.commit(&appends) {
            Ok(committed) => {
                for change in committed.changes {
                    if let Some(sender) = hub.get(&change.view) {
                        // No subscriber is not an error.
                        let _ = sender.send(change);
                    }
                }
                for (reply, appended) in replies.into_iter().zip(committed.appended) {
                    let _ = reply.send(Ok(appended));
                }
            }
            Err(e) => {
                tracing::error!("commit failed: {e}");
                for reply in replies {
                    let _ = reply.send(Err(format!("commit failed: {e}")));
                }
            }
        }
    }
    tracing::debug!("writer stopped");
}
