//! Shared live queries: one [`Feed`] per distinct `(view, rows, where, order_by, limit)`,
//! however many clients subscribe to it. The feed keeps the window and turns each change of the
//! view into the window's ops once; every subscriber of the query gets the same deltas.
//!
//! Windows hold rows, so they have a budget: [`Feeds`] counts the rows held by every feed, and a
//! new feed that would take the count past the server's budget is refused
//! ([`FeedError::OverBudget`]). A window is built off the async workers ([`crate::offload`]).
//!
//! A feed behind a token's row filter (`rows`) numbers its versions itself, one per change of
//! its window, so its subscribers cannot count the changes to rows they may not see.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use lucarne_protocol::{CommandRef, Op, Position, ResyncReason, Row};
use tokio::sync::broadcast;

use crate::engine::Engine;
use crate::query::{LiveQuery, Window};
use crate::store::{Change, StoreError};

/// What a feed tells its subscribers.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// The window changed: apply when holding `from`, then hold `to`.
    Delta {
        /// Version the subscriber must hold.
        from: u64,
        /// Version after.
        to: u64,
        /// The window's ops.
        ops: Vec<Op>,
        /// Commands whose effect the change carries.
        acked: Vec<CommandRef>,
    },
    /// A change acked commands without touching the window: subscribers holding `at` are told
    /// of theirs (a delta from `at` to `at` without ops), so that a client showing one of them
    /// optimistically learns its effect is in (here: not in the window).
    Acked {
        /// The window's version, unchanged.
        at: u64,
        /// Commands the change carries.
        acked: Vec<CommandRef>,
    },
    /// The window was rebuilt (new epoch, gap or lag): take a fresh copy.
    Reset(ResyncReason),
    /// The view was dropped.
    Dropped,
}

/// The identity of a live query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedKey {
    /// The view and the live query's text, as the client sent them.
    pub query: lucarne_protocol::Query,
    /// The row filter of the subscriber's token, if any (compiled apart from the query's).
    pub rows: Option<String>,
}

/// Why a feed could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The view could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The window would take the rows held by all live queries past the server's budget.
    #[error(
        "this live query would hold {rows} rows; with the {held} rows live queries hold now that is over \
         the server's budget of {budget} (narrow the where, or try again later)"
    )]
    OverBudget {
        /// Rows the new window holds.
        rows: usize,
        /// Rows held by the other feeds.
        held: usize,
        /// The budget.
        budget: usize,
    },
    /// The window could not be built.
    #[error(transparent)]
    Gone(#[from] crate::offload::Gone),
}

impl FeedError {
    /// The protocol code for this error.
    pub fn code(&self) -> lucarne_protocol::ErrorCode {
        match self {
            FeedError::Store(StoreError::UnknownView(_)) => lucarne_protocol::ErrorCode::UnknownView,
            FeedError::OverBudget { .. } => lucarne_protocol::ErrorCode::OverBudget,
            FeedError::Store(_) | FeedError::Gone(_) => lucarne_protocol::ErrorCode::Internal,
        }
    }
}

struct State {
    window: Window,
    /// The view's position the window reflects.
    at: Position,
    /// The version subscribers hold: the view version of the last change to the window, or
    /// the feed's own count of them when it is sealed.
    version: u64,
    /// Rows the window holds, as counted in [`Feeds`]'s total.
    held: usize,
}

/// One shared live query.
pub struct Feed {
    state: Mutex<State>,
    events: broadcast::Sender<FeedEvent>,
    /// Numbers its own versions (a row-filtered query).
    sealed: bool,
    /// The rows held by every feed.
    total: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let held = self.state.lock().map(|s| s.held).unwrap_or(0);
        self.total.fetch_sub(held, Ordering::AcqRel);
    }
}

/// A subscriber's start: the window's rows, the position they stand at, and what follows.
#[derive(Debug)]
pub struct Joined {
    /// The rows, in window order.
    pub rows: Vec<Row>,
    /// Epoch of the view and version of the rows.
    pub at: Position,
    /// The feed's events from here on.
    pub events: broadcast::Receiver<FeedEvent>,
}

impl Feed {
    /// Joins: a copy of the window and the events after it, taken under one lock so nothing
    /// falls between them.
    pub fn join(&self) -> Option<Joined> {
        let state = self.state.lock().ok()?;
        Some(Joined {
            rows: state.window.rows(),
            at: Position { epoch: state.at.epoch, version: state.version },
            events: self.events.subscribe(),
        })
    }

    /// Sets the window's row count in the feeds' total.
    fn count(&self, state: &mut State) {
        let now = state.window.held();
        if now >= state.held {
            self.total.fetch_add(now - state.held, Ordering::AcqRel);
        } else {
            self.total.fetch_sub(state.held - now, Ordering::AcqRel);
        }
        state.held = now;
    }
}

/// The engine's live feeds.
#[derive(Default)]
pub struct Feeds {
    feeds: Mutex<HashMap<FeedKey, Weak<Feed>>>,
    /// Rows held by all feeds.
    held: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let feeds = self.feeds.lock().map_or(0, |feeds| feeds.len());
        f.debug_struct("Feeds").field("feeds", &feeds).field("held", &self.held).finish()
    }
}

impl Feeds {
    /// The number of feeds with subscribers.
    pub fn live(&self) -> usize {
        self.feeds.lock().map(|f| f.values().filter(|w| w.strong_count() > 0).count()).unwrap_or(0)
    }

    /// Rows held by the windows of all feeds.
    pub fn rows_held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// The feed of a query: the running one, or a new one started over the view when its
    /// window fits in `max_rows` (rows held by all feeds, this one included).
    pub async fn get(
        &self,
        engine: &Arc<Engine>,
        key: FeedKey,
        query: LiveQuery,
        max_rows: usize,
    ) -> Result<Arc<Feed>, FeedError> {
        if let Some(feed) = self.feeds.lock().ok().and_then(|f| f.get(&key).and_then(Weak::upgrade)) {
            return Ok(feed);
        }
        let view = &key.query.view;
        let changes = engine.changes(view).ok_or_else(|| StoreError::UnknownView(view.clone()))?;
        let snapshot = engine.snapshot(view).await?;
        let window = build(query, snapshot.rows).await?;
        let rows = window.held();
        let held = self.held.fetch_add(rows, Ordering::AcqRel);
        if held.saturating_add(rows) > max_rows {
            self.held.fetch_sub(rows, Ordering::AcqRel);
            return Err(FeedError::OverBudget { rows, held, budget: max_rows });
        }
        let sealed = key.rows.is_some();
        let version = if sealed { 1 } else { snapshot.at.version };
        let state = State { window, at: snapshot.at, version, held: rows };
        let feed = Arc::new(Feed {
            state: Mutex::new(state),
            events: broadcast::channel(4096).0,
            sealed,
            total: self.held.clone(),
        });
        if let Ok(mut feeds) = self.feeds.lock() {
            feeds.retain(|_, w| w.strong_count() > 0);
            feeds.insert(key.clone(), Arc::downgrade(&feed));
        }
        tokio::spawn(run(engine.clone(), key.query.view, Arc::downgrade(&feed), changes));
        Ok(feed)
    }
}

/// A window over `rows`, built on the offload pool.
async fn build(query: LiveQuery, rows: Vec<Row>) -> Result<Window, crate::offload::Gone> {
    crate::offload::run(move || {
        let mut window = Window::new(query);
        window.reset(rows);
        window
    })
    .await
}

/// Follows the view for a feed until its last subscriber is gone or the view is dropped.
async fn run(
    engine: Arc<Engine>,
    view: String,
    feed: Weak<Feed>,
    mut changes: broadcast::Receiver<Arc<Change>>,
) {
    loop {
        let next = changes.recv().await;
        let Some(feed) = feed.upgrade() else { return };
        let reset = match next {
            Ok(change) => feed.apply(&change).err(),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(ResyncReason::SlowConsumer),
            Err(broadcast::error::RecvError::Closed) => {
                let _ = feed.events.send(FeedEvent::Dropped);
                return;
            }
        };
        let Some(reason) = reset else { continue };
        let query = match feed.state.lock() {
            Ok(state) => state.window.query().clone(),
            Err(_) => return,
        };
        let rebuilt = match engine.snapshot(&view).await {
            Ok(snapshot) => {
                build(query, snapshot.rows).await.map(|w| (w, snapshot.at)).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match rebuilt {
            Ok((window, at)) => {
                if let Ok(mut state) = feed.state.lock() {
                    state.window = window;
                    state.at = at;
                    state.version = if feed.sealed { state.version + 1 } else { at.version };
                    feed.count(&mut state);
                }
                let _ = feed.events.send(FeedEvent::Reset(reason));
            }
            Err(e) => {
                tracing::warn!(%view, "live query feed stopped: {e}");
                return;
            }
        }
    }
}

impl Feed {
    /// Applies one change of the view; `Err` when the window must be rebuilt.
    fn apply(&self, change: &Change) -> Result<(), ResyncReason> {
        let mut state = self.state.lock().map_err(|_| ResyncReason::TooFarBehind)?;
        if change.epoch == state.at.epoch && change.to <= state.at.version {
            return Ok(()); // already in the window's snapshot
        }
        if change.epoch != state.at.epoch {
            return Err(ResyncReason::EpochChanged);
        }
        if change.from != state.at.version {
            return Err(ResyncReason::TooFarBehind);
        }
        let ops = change.ops().map_err(|e| {
            tracing::error!("{e}; the live query's window is rebuilt");
            ResyncReason::TooFarBehind
        })?;
        state.at.version = change.to;
        let ops = state.window.apply(ops);
        self.count(&mut state);
        if ops.is_empty() {
            if !change.acked.is_empty() {
                let _ = self.events.send(FeedEvent::Acked { at: state.version, acked: change.acked.clone() });
            }
            return Ok(());
        }
        let from = state.version;
        state.version = if self.sealed { from + 1 } else { change.to };
        // Sent under the lock, so a joining subscriber sees either the old copy and this
        // delta, or the new copy and not this delta.
        let to = state.version;
        let _ = self.events.send(FeedEvent::Delta { from, to, ops, acked: change.acked.clone() });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::Commands;
    use crate::store::Store;
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn identical_queries_share_one_feed_and_see_the_same_deltas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("store");
        let views = crate::sql::parse_views(
            "CREATE VIEW orders AS SELECT order_id, SUM(total) AS total FROM orders GROUP BY order_id",
        )
        .expect("views");
        store.install_views(views, |_, _, _| {}).expect("install");
        let engine = Engine::start(store, Commands::new().route("place_order", "orders"));
        let columns = vec!["order_id".to_string(), "total".to_string()];
        let key = FeedKey { query: lucarne_protocol::Query::view("orders").filter("total > 5"), rows: None };
        let query = || LiveQuery::parse(key.query.filter.as_deref(), None, None, &columns).expect("query");
        let a = engine.feeds().get(&engine, key.clone(), query(), usize::MAX).await.expect("feed");
        let b = engine.feeds().get(&engine, key.clone(), query(), usize::MAX).await.expect("feed");
        assert!(Arc::ptr_eq(&a, &b), "one feed for one query");
        assert_eq!(engine.feeds().live(), 1);

        let (mut ja, mut jb) = (a.join().expect("join"), b.join().expect("join"));
        assert!(ja.rows.is_empty());
        for (seq, total) in [(1, 3), (2, 9)] {
            let key = CommandRef { client_id: "t".into(), seq };
            let payload = json!({ "order_id": format!("o-{seq}"), "total": total });
            engine.execute(key, "place_order", &payload).await.expect("ack");
        }
        // The change below the filter touches no row of the window: only its ack goes out (each
        // subscriber's stream passes it on to the connection that sent it), the window's version
        // stays.
        for event in [ja.events.recv().await.expect("ack"), jb.events.recv().await.expect("ack")] {
            assert!(
                matches!(&event, FeedEvent::Acked { at: 0, acked } if acked.len() == 1 && acked[0].seq == 1),
                "{event:?}"
            );
        }
        let (da, db) = (ja.events.recv().await.expect("delta"), jb.events.recv().await.expect("delta"));
        match (da, db) {
            (FeedEvent::Delta { ops: a, from: fa, to: ta, .. }, FeedEvent::Delta { ops: b, to: tb, .. }) => {
                assert_eq!((fa, ta, tb), (0, 2, 2), "the window moves on with the change that touched it");
                assert_eq!(a, b);
                assert!(matches!(&a[..], [Op::Upsert { key, .. }] if key == "o-2"));
            }
            other => panic!("{other:?}"),
        }
        drop((a, b, ja, jb));
        // The feed's task may still hold it for the change it is finishing.
        for _ in 0..100 {
            if engine.feeds().live() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(engine.feeds().live(), 0, "the feed goes with its last subscriber");
    }
}
