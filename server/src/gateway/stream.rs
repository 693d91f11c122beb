//! One subscription's stream: a snapshot (or the changes missed since a resumed position),
//! then live deltas in version order, with `resync` and a fresh snapshot wherever the stream
//! had to restart; live queries from their shared feed ([`crate::feed`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lucarne_protocol::{
    CommandRef, Delta, EncodedOps, ErrorCode, Position, Resumed, Resync, ResyncReason, ServerMessage,
    SnapshotBegin, SnapshotEnd, SnapshotRows, encode_delta,
};
use tokio::sync::broadcast;

use super::outbox::{Outbox, Push};
use crate::engine::Engine;
use crate::feed::{Feed, FeedEvent};
use crate::store::{Catchup, Change, SnapshotPart, UnreadableChange};
/// A change's `view`, `epoch` and `to`, and its encoded ops.
type DeltaOps = (String, u64, u64, EncodedOps);

thread_local! {
    /// The ops of the last change's `delta` encoded on this thread: every subscriber of a view
    /// is sent the same change, so its rows are encoded once per worker thread rather than once
    /// per subscriber.
    static DELTA_OPS: std::cell::RefCell<Option<DeltaOps>> = const { std::cell::RefCell::new(None) };
}

/// The `delta` of `change` for subscription `sub` holding version `from`, on the connection of
/// `client_id` ([`encode_delta`]), with `acked` listing only that client's commands (a client
/// learns nothing of others').
fn delta_text(sub: u64, from: u64, change: &Change, client_id: &str) -> Result<String, UnreadableChange> {
    let ops = DELTA_OPS.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some((view, epoch, to, ops)) = cached.as_ref()
            && (view.as_str(), *epoch, *to) == (change.view.as_str(), change.epoch, change.to)
        {
            return Ok(ops.clone());
        }
        let ops = EncodedOps::new(change.ops()?);
        *cached = Some((change.view.clone(), change.epoch, change.to, ops.clone()));
        Ok(ops)
    })?;
    Ok(encode_delta(sub, from, change.to, &ops, &own_acks(&change.acked, client_id)))
}

fn own_acks(acked: &[CommandRef], client_id: &str) -> Vec<CommandRef> {
    acked.iter().filter(|c| c.client_id == client_id).cloned().collect()
}

/// Where a subscription's stream goes next.
enum Flow {
    /// Live at this position.
    At(Position),
    /// A delta did not fit in the connection's queue: resync once it has drained.
    Stale,
    /// The connection or the view is gone.
    End,
}

/// One subscription's stream: snapshot or catch-up, then live changes in version order.
pub(super) struct SubStream {
    pub(super) engine: Arc<Engine>,
    pub(super) out: Outbox,
    pub(super) sub: u64,
    pub(super) view: String,
    /// The connection's client: `acked` lists only its own commands.
    pub(super) client_id: String,
    pub(super) chunk: usize,
    /// How long a delta waits for room in the queue before the subscription resyncs.
    pub(super) patience: Duration,
    /// The version of the rows the client holds.
    pub(super) client_version: u64,
    /// Moved on when the subscription gives up on its queued deltas (see [`Stamp`]).
    pub(super) generation: Arc<AtomicU64>,
}

impl SubStream {
    pub(super) async fn run(mut self, changes: broadcast::Receiver<Arc<Change>>, resume: Option<Position>) {
        // `changes` was subscribed before the store is read, so nothing falls between them.
        let mut changes = Some(changes);
        let mut flow = match resume {
            Some(from) => Box::pin(self.resume(from)).await,
            None => Box::pin(self.snapshot()).await,
        };
        loop {
            let mut at = match flow {
                Flow::At(at) => at,
                Flow::End => return,
                Flow::Stale => {
                    // Hold nothing while the client catches up, then start afresh.
                    drop(changes.take());
                    if !self.out.wait_room().await {
                        return;
                    }
                    tracing::debug!(sub = self.sub, "slow consumer caught up; resyncing");
                    changes = self.engine.changes(&self.view);
                    if changes.is_none() {
                        self.dropped();
                        return;
                    }
                    flow = Box::pin(self.resync(ResyncReason::SlowConsumer)).await;
                    continue;
                }
            };
            let Some(receiver) = changes.as_mut() else { return };
            flow = loop {
                let change = match receiver.recv().await {
                    Ok(change) => change,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(sub = self.sub, missed, "subscriber lagged; resyncing");
                        break Box::pin(self.resync(ResyncReason::SlowConsumer)).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        self.dropped();
                        break Flow::End;
                    }
                };
                if change.epoch == at.epoch && change.to <= at.version {
                    continue; // already in the snapshot
                }
                if change.epoch != at.epoch || change.from != at.version {
                    let reason = if change.epoch != at.epoch {
                        ResyncReason::EpochChanged
                    } else {
                        ResyncReason::TooFarBehind
                    };
                    break Box::pin(self.resync(reason)).await;
                }
                match self.delta(&change).await {
                    Ok(Push::Sent) => at.version = change.to,
                    Ok(Push::Full) => break Flow::Stale,
                    Ok(Push::Closed) => break Flow::End,
                    Err(e) => {
                        // Not sent: the client starts again from a snapshot.
                        tracing::error!(sub = self.sub, "{e}; resyncing");
                        break Box::pin(self.resync(ResyncReason::TooFarBehind)).await;
                    }
                }
            };
        }
    }

    fn dropped(&self) {
        let message = format!("view {:?} was dropped", self.view);
        self.out.error(ErrorCode::UnknownView, message, Some(self.sub), None);
    }

    async fn delta(&mut self, change: &Change) -> Result<Push, UnreadableChange> {
        let text = delta_text(self.sub, self.client_version, change, &self.client_id)?;
        let pushed = self.out.send_delta_text(text, self.patience, &self.generation).await;
        match pushed {
            Push::Sent => self.client_version = change.to,
            Push::Full => self.purge(),
            Push::Closed => {}
        }
        Ok(pushed)
    }

    /// Gives up on the deltas queued for this subscription: it will resync.
    fn purge(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A live query: a copy of the shared window, then its deltas; a fresh copy whenever the
    /// feed is rebuilt or the client fell behind. A resume always starts afresh (the window
    /// can't be rebuilt from the changelog).
    pub(super) async fn run_feed(self, feed: Arc<Feed>, resume: bool) {
        let mut reason = resume.then_some(ResyncReason::LiveQuery);
        loop {
            if let Some(reason) = reason.take()
                && !self.out.send_waiting(&ServerMessage::Resync(Resync { sub: self.sub, reason })).await
            {
                return;
            }
            let Some(joined) = feed.join() else { return };
            let Flow::At(_) = Box::pin(self.send_snapshot(joined.at, joined.rows)).await else { return };
            let (mut held, mut events) = (joined.at.version, joined.events);
            let mut stale = false;
            reason = loop {
                let delta = match events.recv().await {
                    Ok(FeedEvent::Delta { from, to, ops, acked }) => {
                        if from != held {
                            break Some(ResyncReason::TooFarBehind);
                        }
                        Delta { sub: self.sub, from, to, ops, acked: own_acks(&acked, &self.client_id) }
                    }
                    Ok(FeedEvent::Acked { at, acked }) => {
                        if at != held {
                            break Some(ResyncReason::TooFarBehind);
                        }
                        let acked = own_acks(&acked, &self.client_id);
                        if acked.is_empty() {
                            continue;
                        }
                        Delta { sub: self.sub, from: held, to: held, ops: Vec::new(), acked }
                    }
                    Ok(FeedEvent::Reset(why)) => break Some(why),
                    Err(broadcast::error::RecvError::Lagged(_)) => break Some(ResyncReason::SlowConsumer),
                    Ok(FeedEvent::Dropped) | Err(broadcast::error::RecvError::Closed) => {
                        self.dropped();
                        return;
                    }
                };
                let to = delta.to;
                match self.out.send_delta(&ServerMessage::Delta(delta), self.patience, &self.generation).await
                {
                    Push::Sent => held = to,
                    Push::Full => {
                        self.purge();
                        stale = true;
                        break Some(ResyncReason::SlowConsumer);
                    }
                    Push::Closed => return,
                }
            };
            drop(events);
            if stale && !self.out.wait_room().await {
                return;
            }
        }
    }

    async fn resume(&mut self, from: Position) -> Flow {
        match self.engine.catch_up(&self.view, from).await {
            Ok(Catchup::Changes(missed, now)) => {
                if !self.out.send_waiting(&ServerMessage::Resumed(Resumed { sub: self.sub, at: from })).await
                {
                    return Flow::End;
                }
                self.client_version = from.version;
                for change in &missed {
                    match self.delta(change).await {
                        Ok(Push::Sent) => {}
                        Ok(Push::Full) => return Flow::Stale,
                        Ok(Push::Closed) => return Flow::End,
                        Err(e) => {
                            self.out.error(ErrorCode::Internal, e.to_string(), Some(self.sub), None);
                            return Flow::End;
                        }
                    }
                }
                Flow::At(now)
            }
            Ok(Catchup::Resync(reason)) => self.resync(reason).await,
            Err(e) => {
                self.out.error(ErrorCode::Internal, e.to_string(), Some(self.sub), None);
                Flow::End
            }
        }
    }

    async fn resync(&mut self, reason: ResyncReason) -> Flow {
        if !self.out.send_waiting(&ServerMessage::Resync(Resync { sub: self.sub, reason })).await {
            return Flow::End;
        }
        self.snapshot().await
    }

    /// The whole view, its rows written as frames straight from the store's row states, each
    /// sent as soon as it is written. A store error ends the subscription (after the frames
    /// already sent, if it comes midway).
    async fn snapshot(&mut self) -> Flow {
        let mut parts = self.engine.snapshot_parts(&self.view, self.sub, self.chunk);
        let (at, rows) = match parts.recv().await {
            Some(Ok(SnapshotPart::Begin { at, rows })) => (at, rows),
            Some(Ok(SnapshotPart::Frame(_) | SnapshotPart::End)) | None => {
                return self.failed("the snapshot ended before it began".into());
            }
            Some(Err(e)) => return self.failed(e.to_string()),
        };
        self.client_version = at.version;
        let begin = SnapshotBegin { sub: self.sub, view: self.view.clone(), at, rows };
        if !self.out.send_waiting(&ServerMessage::SnapshotBegin(begin)).await {
            return Flow::End;
        }
        loop {
            match parts.recv().await {
                Some(Ok(SnapshotPart::Frame(frame))) => {
                    if !self.out.send_waiting_text(frame).await {
                        return Flow::End;
                    }
                }
                Some(Ok(SnapshotPart::End)) => return self.end_snapshot(at).await,
                Some(Ok(SnapshotPart::Begin { .. })) => {}
                Some(Err(e)) => return self.failed(e.to_string()),
                // Never `snapshot_end` for rows cut short: the client would take them as the view.
                None => return self.failed("the snapshot's reading stopped before its end".into()),
            }
        }
    }

    /// Tells the client its subscription failed, and ends it.
    fn failed(&self, message: String) -> Flow {
        self.out.error(ErrorCode::Internal, message, Some(self.sub), None);
        Flow::End
    }

    /// A snapshot of rows (a live query's window), encoded in chunks taken from the front.
    async fn send_snapshot(&self, at: Position, rows: Vec<lucarne_protocol::Row>) -> Flow {
        let (count, sub, chunk) = (rows.len() as u64, self.sub, self.chunk);
        let mut rows = rows.into_iter();
        let frames = std::iter::from_fn(move || {
            let part: Vec<_> = rows.by_ref().take(chunk).collect();
            (!part.is_empty()).then(|| {
                lucarne_protocol::encode(&ServerMessage::SnapshotRows(SnapshotRows {
                    sub,
                    rows: part.into(),
                }))
            })
        });
        self.send_frames(at, count, frames).await
    }

    /// `snapshot_begin`, the `snapshot_rows` frames, `snapshot_end`, each waiting for room in the
    /// queue.
    async fn send_frames(&self, at: Position, rows: u64, frames: impl Iterator<Item = String>) -> Flow {
        let begin = SnapshotBegin { sub: self.sub, view: self.view.clone(), at, rows };
        if !self.out.send_waiting(&ServerMessage::SnapshotBegin(begin)).await {
            return Flow::End;
        }
        for frame in frames {
            if !self.out.send_waiting_text(frame).await {
                return Flow::End;
            }
        }
        self.end_snapshot(at).await
    }

    /// `snapshot_end`: the client holds the view as of `at`.
    async fn end_snapshot(&self, at: Position) -> Flow {
        if !self.out.send_waiting(&ServerMessage::SnapshotEnd(SnapshotEnd { sub: self.sub })).await {
            return Flow::End;
        }
        Flow::At(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucarne_protocol::encode;

    #[test]
    fn a_delta_encoded_once_per_change_is_the_encoded_message_with_only_the_clients_own_acks() {
        let row = |total: f64| {
            let mut row = lucarne_protocol::Columns::new();
            row.insert("order_id".into(), serde_json::json!("o-1"));
            row.insert("total".into(), serde_json::json!(total));
            row
        };
        let change = |to: u64, acked: Vec<CommandRef>| {
            let ops = vec![
                lucarne_protocol::Op::Upsert { key: "o-1".into(), row: row(to as f64 + 0.5) },
                lucarne_protocol::Op::Remove { key: "o-\"2\"".into() },
            ];
            Change::new("orders".into(), 7, (to - 1, to), ops, acked)
        };
        let (mine, theirs) =
            (CommandRef { client_id: "c".into(), seq: 3 }, CommandRef { client_id: "d".into(), seq: 9 });
        let both = vec![theirs.clone(), mine.clone()];
        for (sub, from, change, own) in [
            (1, 41, change(42, both.clone()), vec![mine.clone()]),
            (2, 40, change(42, both), vec![mine]),
            (1, 42, change(43, vec![theirs]), vec![]),
            (1, 43, change(44, vec![]), vec![]),
        ] {
            let delta =
                Delta { sub, from, to: change.to, ops: change.ops().expect("ops").to_vec(), acked: own };
            assert_eq!(delta_text(sub, from, &change, "c"), Ok(encode(&ServerMessage::Delta(delta))));
        }
    }
}
