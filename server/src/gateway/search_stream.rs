//! One live search's stream: everything found (`search_snapshot`), then a `search_delta` each
//! time a commit of the index changes the page, the total or a facet's counts.
//!
//! After each commit of its index the search runs again, unless no row the commit changed
//! matched it, before or after ([`Matcher`] and the filter, row by row): such a commit cannot
//! change what it found. Commits that come while it runs are taken together. The answer is
//! compared with what the client holds ([`SearchDelta::between`]); nothing changed, nothing is
//! sent. A delta that finds no room in the connection's queue in time is dropped, like a view's
//! ([`super::outbox`]); once the queue has drained the client gets everything found afresh. An
//! index redefined goes on under its new definition (the client gets the difference); dropped,
//! or its view dropped, the subscription ends with an `error` carrying its `sub`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lucarne_protocol::{ErrorCode, Found, SearchDelta, SearchQuery, SearchSnapshot, ServerMessage};
use lucarne_search::Matcher;

use super::outbox::{Outbox, Push};
use super::search::failure_code;
use crate::engine::Engine;
use crate::search::{Commit, RowFilter, SearchFailure, Stage};

/// A live search's stream (see the module docs).
pub(super) struct SearchStream {
    pub(super) engine: Arc<Engine>,
    pub(super) out: Outbox,
    pub(super) sub: u64,
    pub(super) index: String,
    /// The index's view when subscribed: the filter is compiled against its columns.
    pub(super) view: String,
    pub(super) query: SearchQuery,
    pub(super) filter: RowFilter,
    /// How long a delta waits for room in the queue before the stream starts afresh.
    pub(super) patience: Duration,
    /// Moved on when the stream gives up on its queued deltas.
    pub(super) generation: Arc<AtomicU64>,
}

/// What ended a wait for the next commit.
enum Woken {
    /// The search may have changed: run it again.
    Commit,
    /// The index was dropped or redefined.
    Replaced,
    /// The index cannot be kept current (its view was dropped).
    Failed(String),
}

impl SearchStream {
    pub(super) async fn run(self) {
        // What the client holds, and its version.
        let mut held: Option<Found> = None;
        let mut version = 0;
        loop {
            let live = match self.engine.live_search(&self.index) {
                Ok(live) if live.def().view == self.view => live,
                Ok(_) => {
                    let message = format!("search index {:?} was redefined over another view", self.index);
                    self.out.error(ErrorCode::UnknownSearch, message, Some(self.sub), None);
                    return;
                }
                Err(e) => return self.end(&e),
            };
            let matcher = Matcher::new(&live.def().spec, &self.query.text);
            let (mut commits, mut stage) = (live.commits(), live.stage());
            loop {
                // Read before the search: a commit after it wakes the wait below.
                let seen = commits.borrow_and_update().seq;
                let found = match live.search(self.query.clone(), self.filter.clone()).await {
                    Ok(found) => found,
                    Err(SearchFailure::Replaced(_)) => break,
                    Err(e) => return self.end(&e),
                };
                match &held {
                    None => {
                        let snapshot = SearchSnapshot { sub: self.sub, version, found: found.clone() };
                        if !self.out.send_waiting(&ServerMessage::SearchSnapshot(snapshot)).await {
                            return;
                        }
                        held = Some(found);
                    }
                    Some(old) => {
                        if let Some(delta) = SearchDelta::between(self.sub, version, old, &found) {
                            let message = ServerMessage::SearchDelta(delta);
                            match self.out.send_delta(&message, self.patience, &self.generation).await {
                                Push::Sent => {
                                    version += 1;
                                    held = Some(found);
                                }
                                Push::Full => {
                                    // The deltas queued are skipped; all is sent afresh once
                                    // the client has read most of what waits.
                                    self.generation.fetch_add(1, Ordering::AcqRel);
                                    tracing::debug!(
                                        sub = self.sub,
                                        "slow consumer: a live search's deltas skipped"
                                    );
                                    if !self.out.wait_room().await {
                                        return;
                                    }
                                    tracing::debug!(
                                        sub = self.sub,
                                        "slow consumer caught up; searching afresh"
                                    );
                                    version += 1;
                                    held = None;
                                    continue;
                                }
                                Push::Closed => return,
                            }
                        }
                    }
                }
                match self.next_commit(seen, &matcher, &mut commits, &mut stage).await {
                    Woken::Commit => {}
                    Woken::Replaced => break,
                    Woken::Failed(why) => {
                        return self.end(&SearchFailure::Unavailable(self.index.clone(), why));
                    }
                }
            }
        }
    }

    /// Waits for a commit after `seen` that may change what the search finds: one that
    /// changed a row the search matches (before or after), or several together, or a rebuild.
    async fn next_commit(
        &self,
        mut seen: u64,
        matcher: &Matcher,
        commits: &mut tokio::sync::watch::Receiver<Commit>,
        stage: &mut tokio::sync::watch::Receiver<Stage>,
    ) -> Woken {
        loop {
            match &*stage.borrow_and_update() {
                Stage::Replaced => return Woken::Replaced,
                Stage::Failed(why) => return Woken::Failed(why.clone()),
                Stage::Building | Stage::Searchable => {}
            }
            let commit = commits.borrow_and_update().clone();
            if commit.seq != seen {
                let moved = match &commit.touched {
                    Some(rows) if commit.seq == seen + 1 => {
                        rows.iter().any(|row| matcher.matches(row) && (self.filter)(row))
                    }
                    _ => true,
                };
                if moved {
                    return Woken::Commit;
                }
                seen = commit.seq;
            }
            tokio::select! {
                changed = commits.changed() => if changed.is_err() { return Woken::Replaced },
                changed = stage.changed() => if changed.is_err() { return Woken::Replaced },
            }
        }
    }

    /// The subscription ends: the client is told why.
    fn end(&self, failure: &SearchFailure) {
        self.out.error(failure_code(failure), failure.to_string(), Some(self.sub), None);
    }
}
