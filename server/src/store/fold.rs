//! A commit's folds: each event folded, as it is appended, into the rows of every live view it
//! feeds — in place, in the view's rows in memory ([`HotSlot`], taken out of
//! [`Hot`](super::rows::Hot) for the commit; a row not there yet is read from the rows table) —
//! and each view's fold closed once at the end into a change (its changelog entry, and the rows
//! written back or kept dirty in memory, see [`rows`](super::rows)); and the rows as they stand
//! in the middle of the batch, for the commands decided against them ([`BatchState`]).

use std::sync::Arc;

use lucarne_protocol::{CommandRef, ErrorCode};
use redb::ReadableTable;
use serde_json::Value;

use super::codec::state_into;
use super::rows::{HotRow, HotSlot, RowCacheLimits, decode_state, entry_bytes};
use super::{Change, Numbering, ReadSlotRows, SlotMeta, SlotRows, Store, StoreError, store_key};
use crate::commands::{Rejection, ViewState};
use crate::log::Event;
use crate::sql::{FEED_RETENTION, Shape, ViewDef};
use crate::view::GroupState;

/// A slot's stored rows as folds read them: a write transaction's table, or a read
/// transaction's (none when no commit made the slot's table yet).
pub(super) trait StoredRows {
    /// The row stored under `key`.
    fn state(&self, key: &[u8]) -> Result<Option<GroupState>, StoreError>;
}

impl StoredRows for SlotRows<'_> {
    fn state(&self, key: &[u8]) -> Result<Option<GroupState>, StoreError> {
        state_in(self, key)
    }
}

impl StoredRows for Option<ReadSlotRows> {
    fn state(&self, key: &[u8]) -> Result<Option<GroupState>, StoreError> {
        self.as_ref().map_or(Ok(None), |rows| state_in(rows, key))
    }
}

/// The row stored under `key` in a slot's rows table.
fn state_in(
    rows: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
) -> Result<Option<GroupState>, StoreError> {
    rows.get(key)?.map(|raw| decode_state(raw.value())).transpose()
}

/// The rows a fold works on: its slot's rows in memory, with the ones it touched since it last
/// closed.
#[derive(Debug, Default)]
pub(super) struct Working {
    pub(super) rows: HotSlot,
    /// The stored keys of the rows touched since the fold last closed, each once (its row's
    /// `touched` is set), in the order first touched.
    pub(super) touched: Vec<Vec<u8>>,
}

/// One live view during a commit: its rows, and the commands it carries.
pub(super) struct Fold {
    pub(super) view: Arc<ViewDef>,
    pub(super) slot: String,
    pub(super) meta: SlotMeta,
    pub(super) work: Working,
    /// The commands whose events it folded: their places in the batch, each once.
    pub(super) acked: Vec<usize>,
    /// The position of the last event folded in.
    pub(super) last: u64,
    /// Rows changed: the metadata must be written too.
    pub(super) changed: bool,
}

/// The dirty rows of all views during a commit, against their budget.
pub(super) struct Dirty {
    pub(super) limits: RowCacheLimits,
    pub(super) rows: usize,
}

/// The view rows as they stand in the middle of a commit: the folds' rows in memory (what the
/// batch touched so far among them), over the stored rows.
pub(super) struct BatchState<'a, T> {
    pub(super) folds: &'a [Fold],
    /// Each fold's stored rows, in the folds' order.
    pub(super) rows: &'a [T],
}

impl<T: StoredRows> ViewState for BatchState<'_, T> {
    fn row(&self, view: &str, key: &Value) -> Result<Option<lucarne_protocol::Columns>, Rejection> {
        let Some((i, fold)) = self.folds.iter().enumerate().find(|(_, f)| f.view.name == view) else {
            return Err(Rejection {
                code: ErrorCode::UnknownView,
                message: format!("no view named {view:?}"),
            });
        };
        let keys = match (fold.view.keys.len(), key) {
            (1, one) => vec![one.clone()],
            (_, Value::Array(many)) => many.clone(),
            (_, one) => vec![one.clone()],
        };
        let stored = store_key(&fold.view, &keys);
        if let Some(row) = fold.work.rows.rows.get(&stored) {
            return Ok(fold.view.row(&row.state));
        }
        let internal =
            |e: StoreError| Rejection { code: ErrorCode::Internal, message: format!("reading {view}: {e}") };
        let state = match self.rows.get(i) {
            Some(rows) => rows.state(&stored).map_err(internal)?,
            None => None,
        };
        Ok(state.and_then(|s| fold.view.row(&s)))
    }
}

/// The stored keys of the rows one event folds into, each computed once for all the views that
/// group by the same expressions (the views of a stream mostly group by the same id), in
/// buffers kept from event to event.
pub(super) struct EventKeys {
    /// For each view, in the order given, the first view of the same shape and keys.
    leader: Vec<usize>,
    /// Each leader's key for the event under way, once computed (`fresh`).
    keys: Vec<Vec<u8>>,
    fresh: Vec<bool>,
}

impl EventKeys {
    /// The keys of `views`, each view known afterwards by its place among them.
    pub(super) fn new<'v>(views: impl IntoIterator<Item = &'v ViewDef>) -> EventKeys {
        let views: Vec<&ViewDef> = views.into_iter().collect();
        let leader = (0..views.len())
            .map(|i| {
                let same = |w: &&ViewDef| w.shape == views[i].shape && w.keys == views[i].keys;
                views[..i].iter().position(same).unwrap_or(i)
            })
            .collect();
        EventKeys { leader, keys: vec![Vec::new(); views.len()], fresh: vec![false; views.len()] }
    }

    /// The next event: each key is computed again.
    pub(super) fn next_event(&mut self) {
        self.fresh.fill(false);
    }

    /// The stored key of the row of view number `i` (`view`) that `event` folds into.
    pub(super) fn key(&mut self, i: usize, view: &ViewDef, event: &Event) -> &[u8] {
        let leader = self.leader.get(i).copied().unwrap_or(i);
        if self.keys.len() <= leader {
            self.keys.resize(leader + 1, Vec::new());
            self.fresh.resize(leader + 1, false);
        }
        let key = &mut self.keys[leader];
        if !self.fresh[leader] {
            key.clear();
            super::write_store_key(key, view, event);
            self.fresh[leader] = true;
        }
        key
    }
}

/// Folds one event into its row among the fold's rows, in place (a row not in memory is read
/// from the rows table first); `key` is the row's stored key ([`EventKeys`]).
pub(super) fn fold_into(
    view: &ViewDef,
    event: &Event,
    key: &[u8],
    rows: &impl StoredRows,
    work: &mut Working,
) -> Result<(), StoreError> {
    if let Some(row) = work.rows.rows.get_mut(key) {
        if row.touched.is_none() {
            row.touched = Some(view.visible(&row.state));
            work.touched.push(key.to_vec());
        }
        view.fold_in(&mut row.state, event);
        return Ok(());
    }
    let stored = match view.shape {
        Shape::Grouped => rows.state(key)?,
        // A feed's row is keyed by its event's position: new in the log, so not stored yet.
        Shape::Feed => None,
    };
    let was_visible = stored.as_ref().is_some_and(|s| view.visible(s));
    let state = view.fold(stored, event);
    work.rows.rows.insert(key.to_vec(), HotRow { state, dirty: false, touched: Some(was_visible) });
    work.touched.push(key.to_vec());
    Ok(())
}

/// A touched row as its fold closes: its stored key, and what became of it.
#[derive(Debug)]
pub(super) struct Settled {
    pub(super) key: Vec<u8>,
    pub(super) settle: Settle,
}

/// What became of a touched row.
#[derive(Debug)]
pub(super) enum Settle {
    /// Its state is among the fold's rows: whether clients saw it before, and whether they do now.
    Row { was_visible: bool, visible: bool },
    /// It left the view (a feed's oldest row past its retention); its key on the wire.
    Dropped(Value),
}

impl Settled {
    /// Subscribers receive an op for it.
    fn sends(&self) -> bool {
        match self.settle {
            Settle::Row { was_visible, visible } => was_visible || visible,
            Settle::Dropped(_) => true,
        }
    }
}

/// The rows touched since the fold last closed, in key order, counting the rows that enter and
/// leave the view.
fn settle(view: &ViewDef, work: &mut Working, meta: &mut SlotMeta) -> Vec<Settled> {
    let mut keys = std::mem::take(&mut work.touched);
    keys.sort_unstable();
    keys.into_iter()
        .filter_map(|key| {
            let row = work.rows.rows.get_mut(&key)?;
            let was_visible = row.touched.take().unwrap_or(false);
            let visible = view.visible(&row.state);
            match (was_visible, visible) {
                (false, true) => meta.rows += 1,
                (true, false) => meta.rows -= 1,
                _ => {}
            }
            Some(Settled { key, settle: Settle::Row { was_visible, visible } })
        })
        .collect()
}

/// Writes the touched rows' states to the rows table.
fn write_touched(table: &mut SlotRows<'_>, rows: &HotSlot, settled: &[Settled]) -> Result<(), StoreError> {
    let mut bytes = Vec::with_capacity(128);
    for s in settled.iter().filter(|s| matches!(s.settle, Settle::Row { .. })) {
        if let Some(row) = rows.rows.get(&s.key) {
            state_into(&mut bytes, &row.state);
            table.insert(s.key.as_slice(), bytes.as_slice())?;
        }
    }
    Ok(())
}

/// Writes a building slot's touched rows and applies a feed's retention (a build sends no ops).
pub(super) fn flush(
    view: &ViewDef,
    table: &mut SlotRows<'_>,
    work: &mut Working,
    meta: &mut SlotMeta,
) -> Result<(), StoreError> {
    let mut settled = settle(view, work, meta);
    write_touched(table, &work.rows, &settled)?;
    trim_feed(view, table, meta, &mut settled)
}

/// Applies a feed's retention: its oldest rows past [`FEED_RETENTION`] leave the rows table.
fn trim_feed(
    view: &ViewDef,
    rows: &mut SlotRows<'_>,
    meta: &mut SlotMeta,
    settled: &mut Vec<Settled>,
) -> Result<(), StoreError> {
    if view.shape != Shape::Feed || meta.rows <= FEED_RETENTION {
        return Ok(());
    }
    // Feed keys are big-endian positions: the first keys are the oldest rows, read in one pass.
    let excess = usize::try_from(meta.rows - FEED_RETENTION).unwrap_or(usize::MAX);
    let mut oldest = Vec::with_capacity(excess.min(settled.len() + 1024));
    for entry in rows.iter()?.take(excess) {
        oldest.push(entry?.0.value().to_vec());
    }
    // `settled` is in key order: the rows made by this batch that leave at once are its first.
    let (mut made_and_dropped, mut dropped) = (0, Vec::new());
    for key in oldest {
        rows.remove(key.as_slice())?;
        meta.rows -= 1;
        if settled.get(made_and_dropped).is_some_and(|s| s.key == key) {
            // Made and dropped in the same batch: subscribers never see it.
            made_and_dropped += 1;
        } else {
            let wire = Value::from(u64::from_be_bytes(key.as_slice().try_into().unwrap_or([0; 8])));
            dropped.push(Settled { key, settle: Settle::Dropped(wire) });
        }
    }
    settled.drain(..made_and_dropped);
    settled.extend(dropped);
    Ok(())
}

impl Store {
    /// Closes a fold: records the change its touched rows make (none when nothing was folded,
    /// or, numbering commits, when no row a client sees changed) in the changelog, and writes
    /// the rows back or keeps them dirty in memory (see [`rows`](super::rows)).
    pub(super) fn close(
        &self,
        fold: &mut Fold,
        rows: &mut SlotRows<'_>,
        changelog: &mut redb::Table<'_, (&'static str, u64), &'static [u8]>,
        dirty: &mut Dirty,
        keys: &[&CommandRef],
    ) -> Result<Option<Arc<Change>>, StoreError> {
        if fold.work.touched.is_empty() {
            return Ok(None);
        }
        fold.changed = true;
        let view = fold.view.clone();
        let mut settled = settle(&view, &mut fold.work, &mut fold.meta);
        // Deferred: a grouped view of a single node (a feed's rows are appended once; a cluster
        // node decides commands in read transactions against the rows table).
        let deferrable = self.numbering == Numbering::Commits && view.shape == Shape::Grouped;
        if !deferrable {
            write_touched(rows, &fold.work.rows, &settled)?;
            trim_feed(&view, rows, &mut fold.meta, &mut settled)?;
        }
        if self.numbering == Numbering::Commits && !settled.iter().any(Settled::sends) {
            // Only groups `HAVING` keeps out changed: nothing a client sees, and no entry to
            // journal their rows in.
            if deferrable {
                write_back(fold, rows, &settled, dirty)?;
            }
            forget_feed_rows(fold, &settled);
            return Ok(None);
        }
        let (slot, meta) = (fold.slot.as_str(), &mut fold.meta);
        let to = match self.numbering {
            Numbering::Commits => meta.version + 1,
            // Every node must reach the same version, so an event folded in moves it even when
            // no row a client sees changed.
            Numbering::Log => fold.last,
        };
        let mut acked: Vec<CommandRef> = std::mem::take(&mut fold.acked)
            .into_iter()
            .filter_map(|i| keys.get(i).map(|&k| k.clone()))
            .collect();
        acked.sort_unstable();
        acked.dedup();
        let entry = entry_bytes((meta.version, to), &acked, &settled, &fold.work.rows)?;
        changelog.insert((slot, to), entry.as_slice())?;
        let from = meta.version;
        meta.version = to;
        // The oldest entry retention drops, if any.
        let pruned = match self.numbering {
            Numbering::Commits if to > self.changelog_retention => Some(to - self.changelog_retention),
            Numbering::Commits => None,
            Numbering::Log => {
                meta.changes += 1;
                if meta.changes > self.changelog_retention {
                    let oldest = changelog
                        .range((slot, 0)..=(slot, u64::MAX))?
                        .next()
                        .transpose()?
                        .map(|(k, _)| k.value().1);
                    meta.changes -= 1;
                    oldest
                } else {
                    None
                }
            }
        };
        if let Some(pruned) = pruned {
            changelog.remove((slot, pruned))?;
        }
        if deferrable {
            let checkpoint = meta.checkpoint.unwrap_or(from);
            let journal = meta.journal + settled.len() as u64;
            let write = pruned.is_some_and(|p| p > checkpoint)
                || journal > dirty.limits.journal.max(meta.rows / 4)
                || dirty.rows + settled.len() > dirty.limits.dirty;
            if write {
                write_back(fold, rows, &settled, dirty)?;
            } else {
                (fold.meta.checkpoint, fold.meta.journal) = (Some(checkpoint), journal);
                let slot = &mut fold.work.rows;
                for s in &settled {
                    if let Some(row) = slot.rows.get_mut(&s.key).filter(|r| !r.dirty) {
                        row.dirty = true;
                        slot.dirty += 1;
                        dirty.rows += 1;
                    }
                }
            }
        } else {
            forget_feed_rows(fold, &settled);
        }
        Ok(Some(Arc::new(Change::of_entry(view, fold.meta.epoch, (from, to), acked, entry))))
    }
}

/// A feed's rows are appended once and never read again: not kept in memory.
fn forget_feed_rows(fold: &mut Fold, settled: &[Settled]) {
    if fold.view.shape == Shape::Feed {
        for s in settled {
            fold.work.rows.rows.remove(&s.key);
        }
    }
}

/// Writes a slot's dirty rows and its touched ones to the rows table, in key order: it is
/// current again.
fn write_back(
    fold: &mut Fold,
    table: &mut SlotRows<'_>,
    settled: &[Settled],
    dirty: &mut Dirty,
) -> Result<(), StoreError> {
    let rows = &mut fold.work.rows;
    let mut out: Vec<(&[u8], &GroupState)> = Vec::with_capacity(rows.dirty + settled.len());
    if rows.dirty > 0 {
        out.extend(rows.rows.iter().filter(|(_, r)| r.dirty).map(|(k, r)| (k.as_slice(), &r.state)));
    }
    for s in settled {
        if let Some(row) = rows.rows.get(&s.key).filter(|r| !r.dirty) {
            out.push((s.key.as_slice(), &row.state));
        }
    }
    out.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut bytes = Vec::with_capacity(128);
    for (key, state) in out {
        state_into(&mut bytes, state);
        table.insert(key, bytes.as_slice())?;
    }
    dirty.rows -= rows.clean();
    (fold.meta.checkpoint, fold.meta.journal) = (None, 0);
    Ok(())
}
