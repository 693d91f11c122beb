//! A commit's folds: the rows a batch touches in each live view, folded event by event as the
//! events are appended, closed once at the end into a change (its changelog entry, and the rows
//! written back or kept dirty in memory, see [`rows`](super::rows)); and the rows as they stand
//! in the middle of the batch, for the commands decided against them ([`BatchState`]).

use std::collections::HashMap;
use std::sync::Arc;

use lucarne_protocol::{CommandRef, ErrorCode};
use redb::ReadableTable;
use serde_json::Value;

use super::rows::{EntryOut, Hot, HotSlot, Staged, Touched, TouchedRows, decode, encode};
use super::{Change, Numbering, SlotMeta, Store, StoreError, store_key};
use crate::commands::{Rejection, ViewState};
use crate::log::Event;
use crate::sql::{FEED_RETENTION, Shape, ViewDef};
use crate::view::GroupState;

/// The rows table as a commit writes it.
type RowsTable<'t> = redb::Table<'t, (&'static str, &'static [u8]), &'static [u8]>;

/// The rows a batch touched, by stored key: whether each was in the view before the batch, and
/// its state now (put in key order when the fold closes).
pub(super) type Cache = HashMap<Vec<u8>, (bool, GroupState), foldhash::fast::RandomState>;

/// One live view during a commit: the rows the batch touched so far, and the commands it carries.
pub(super) struct Fold {
    pub(super) view: Arc<ViewDef>,
    pub(super) slot: String,
    pub(super) meta: SlotMeta,
    pub(super) cache: Cache,
    /// The commands whose events it folded: their places in the batch, each once.
    pub(super) acked: Vec<usize>,
    /// The position of the last event folded in.
    pub(super) last: u64,
    /// Rows were written: the metadata must be too.
    pub(super) touched: bool,
    /// What the commit does to the rows in memory once it is durable.
    pub(super) staged: Staged,
}

/// The view rows as they stand in the middle of a commit: what the batch touched so far, over
/// the stored rows.
pub(super) struct BatchState<'a, T> {
    pub(super) folds: &'a [Fold],
    /// The stored rows (a write transaction's table, or a read transaction's).
    pub(super) rows: &'a T,
    /// The rows in memory, newer than `rows` where dirty (a commit's own; `None` in a read
    /// transaction, whose rows table is current: a cluster node writes its rows through).
    pub(super) hot: Option<&'a Hot>,
}

impl<T: ReadableTable<(&'static str, &'static [u8]), &'static [u8]>> ViewState for BatchState<'_, T> {
    fn row(&self, view: &str, key: &Value) -> Result<Option<lucarne_protocol::Columns>, Rejection> {
        let Some(fold) = self.folds.iter().find(|f| f.view.name == view) else {
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
        let internal =
            |e: String| Rejection { code: ErrorCode::Internal, message: format!("reading {view}: {e}") };
        let state = match fold.cache.get(&stored) {
            Some((_, state)) => Some(state.clone()),
            None => {
                let prior = (Some(&fold.staged), self.hot.and_then(|h| h.slot(&fold.slot)));
                stored_state(&fold.slot, &stored, self.rows, prior).map_err(|e| internal(e.to_string()))?
            }
        };
        Ok(state.and_then(|s| fold.view.row(&s)))
    }
}

/// Folds one event into the batch's cache of touched rows (a row not touched yet is read by
/// [`stored_state`]).
pub(super) fn fold_into(
    view: &ViewDef,
    slot: &str,
    event: &Event,
    rows: &impl ReadableTable<(&'static str, &'static [u8]), &'static [u8]>,
    (staged, hot): (Option<&Staged>, Option<&HotSlot>),
    cache: &mut Cache,
) -> Result<(), StoreError> {
    let key = store_key(view, &view.key_values(event));
    let (was_visible, state) = match cache.remove(&key) {
        Some((was_visible, state)) => (was_visible, Some(state)),
        None => match stored_state(slot, &key, rows, (staged, hot))? {
            Some(state) => (view.having.is_none() || view.row(&state).is_some(), Some(state)),
            None => (false, None),
        },
    };
    cache.insert(key, (was_visible, view.fold(state, event)));
    Ok(())
}

/// A row's state as it stood before the fold touched it: the rows the fold closed in this
/// commit (`staged`), the rows in memory (`hot`, the slot's), else the rows table.
fn stored_state(
    slot: &str,
    key: &[u8],
    rows: &impl ReadableTable<(&'static str, &'static [u8]), &'static [u8]>,
    (staged, hot): (Option<&Staged>, Option<&HotSlot>),
) -> Result<Option<GroupState>, StoreError> {
    let prior = staged
        .and_then(|s| s.rows.get(key).map(|(state, _)| state))
        .or_else(|| hot.and_then(|h| h.get(key)).map(|h| &h.state));
    match prior {
        Some(state) => Ok(Some(state.clone())),
        None => rows.get((slot, key))?.map(|raw| decode(raw.value())).transpose(),
    }
}

/// Writes a building slot's touched rows and applies a feed's retention (a build sends no ops).
pub(super) fn flush(
    view: &ViewDef,
    slot: &str,
    rows: &mut RowsTable<'_>,
    cache: Cache,
    meta: &mut SlotMeta,
) -> Result<(), StoreError> {
    let mut touched = settle(view, cache, meta);
    for (key, t, _) in &touched {
        if let Touched::Row { state, .. } = t {
            rows.insert((slot, key.as_slice()), encode(state)?.as_slice())?;
        }
    }
    trim_feed(view, slot, rows, meta, &mut touched)
}

/// Keeps the rows a close touched for the rows in memory once the commit is durable, `dirty`
/// when they were not written back (a feed's rows are never read again: not kept).
fn stage(fold: &mut Fold, touched: Vec<Settled>, dirty: bool) {
    if fold.view.shape != Shape::Grouped {
        return;
    }
    fold.staged.rows.extend(touched.into_iter().filter_map(|(k, t, _)| match t {
        Touched::Row { state, .. } => Some((k, (state, dirty))),
        Touched::Dropped { .. } => None,
    }));
}

/// A touched row: its stored key, what the changelog records, and whether subscribers receive
/// an op for it.
pub(super) type Settled = (Vec<u8>, Touched, bool);

/// The touched rows in key order, counting the rows that enter and leave the view.
fn settle(view: &ViewDef, cache: Cache, meta: &mut SlotMeta) -> Vec<Settled> {
    let mut rows: Vec<_> = cache.into_iter().collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    rows.into_iter()
        .map(|(key, (was_visible, state))| {
            let visible = view.visible(&state);
            match (was_visible, visible) {
                (false, true) => meta.rows += 1,
                (true, false) => meta.rows -= 1,
                _ => {}
            }
            (key, Touched::Row { was_visible, state }, was_visible || visible)
        })
        .collect()
}

/// Applies a feed's retention: its oldest rows past [`FEED_RETENTION`] leave the rows table.
fn trim_feed(
    view: &ViewDef,
    slot: &str,
    rows: &mut RowsTable<'_>,
    meta: &mut SlotMeta,
    touched: &mut Vec<Settled>,
) -> Result<(), StoreError> {
    if view.shape != Shape::Feed || meta.rows <= FEED_RETENTION {
        return Ok(());
    }
    // Feed keys are big-endian positions: the first keys are the oldest rows, read in one pass.
    let excess = usize::try_from(meta.rows - FEED_RETENTION).unwrap_or(usize::MAX);
    let mut oldest = Vec::with_capacity(excess.min(touched.len() + 1024));
    for entry in rows.range((slot, &[][..])..)?.take(excess) {
        let (k, _) = entry?;
        if k.value().0 != slot {
            break;
        }
        oldest.push(k.value().1.to_vec());
    }
    // `touched` is in key order: the rows made by this batch that leave at once are its first.
    let (mut made_and_dropped, mut dropped) = (0, Vec::new());
    for key in oldest {
        rows.remove((slot, key.as_slice()))?;
        meta.rows -= 1;
        if touched.get(made_and_dropped).is_some_and(|(k, ..)| *k == key) {
            // Made and dropped in the same batch: subscribers never see it.
            made_and_dropped += 1;
        } else {
            let wire = Value::from(u64::from_be_bytes(key.as_slice().try_into().unwrap_or([0; 8])));
            dropped.push((key, Touched::Dropped { key: wire }, true));
        }
    }
    touched.drain(..made_and_dropped);
    touched.extend(dropped);
    Ok(())
}

impl Store {
    /// Closes a fold: records the change its touched rows make (none when nothing was folded,
    /// or, numbering commits, when no row a client sees changed) in the changelog, and writes
    /// the rows back or keeps them dirty in memory (see [`rows`](super::rows)).
    pub(super) fn close(
        &self,
        fold: &mut Fold,
        rows: &mut RowsTable<'_>,
        changelog: &mut redb::Table<'_, (&'static str, u64), &'static [u8]>,
        hot: &Hot,
        dirty_so_far: &mut usize,
        keys: &[&CommandRef],
    ) -> Result<Option<Arc<Change>>, StoreError> {
        if fold.cache.is_empty() {
            return Ok(None);
        }
        fold.touched = true;
        let view = fold.view.clone();
        let mut touched = settle(&view, std::mem::take(&mut fold.cache), &mut fold.meta);
        // Deferred: a grouped view of a single node (a feed's rows are appended once; a cluster
        // node decides commands in read transactions against the rows table).
        let deferrable = self.numbering == Numbering::Commits && view.shape == Shape::Grouped;
        if !deferrable {
            self.write_back(fold, rows, hot, &touched)?;
            trim_feed(&view, &fold.slot, rows, &mut fold.meta, &mut touched)?;
        }
        let sends = touched.iter().any(|(.., op)| *op);
        let (slot, meta) = (fold.slot.as_str(), &mut fold.meta);
        let to = match self.numbering {
            // Only groups `HAVING` keeps out changed: nothing a client sees, and no entry to
            // journal their rows in.
            Numbering::Commits if !sends => {
                if deferrable {
                    self.write_back(fold, rows, hot, &touched)?;
                }
                stage(fold, touched, false);
                return Ok(None);
            }
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
        let entry = encode(&EntryOut { from: meta.version, to, acked: &acked, rows: TouchedRows(&touched) })?;
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
            let limits = hot.limits;
            let checkpoint = meta.checkpoint.unwrap_or(from);
            let journal = meta.journal + touched.len() as u64;
            let write = pruned.is_some_and(|p| p > checkpoint)
                || journal > limits.journal.max(meta.rows / 4)
                || hot.dirty() + *dirty_so_far + touched.len() > limits.dirty;
            if write {
                self.write_back(fold, rows, hot, &touched)?;
            } else {
                (fold.meta.checkpoint, fold.meta.journal) = (Some(checkpoint), journal);
                *dirty_so_far += touched.len();
            }
            stage(fold, touched, !write);
        } else {
            stage(fold, touched, false);
        }
        Ok(Some(Arc::new(Change::of_entry(view, fold.meta.epoch, (from, to), acked, entry))))
    }

    /// Writes a slot's dirty rows, then `touched`, to the rows table: it is current again.
    fn write_back(
        &self,
        fold: &mut Fold,
        rows: &mut RowsTable<'_>,
        hot: &Hot,
        touched: &[Settled],
    ) -> Result<(), StoreError> {
        let slot = fold.slot.as_str();
        if fold.meta.checkpoint.is_some() {
            let mut dirty: Vec<(&[u8], &GroupState)> = hot.dirty_rows(slot).collect();
            dirty.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (key, state) in dirty {
                rows.insert((slot, key), encode(state)?.as_slice())?;
            }
        }
        for (key, (state, dirty)) in fold.staged.rows.iter_mut().filter(|r| r.1.1) {
            rows.insert((slot, key.as_slice()), encode(state)?.as_slice())?;
            *dirty = false;
        }
        for (key, t, _) in touched {
            if let Touched::Row { state, .. } = t {
                rows.insert((slot, key.as_slice()), encode(state)?.as_slice())?;
            }
        }
        fold.staged.flushed = true;
        (fold.meta.checkpoint, fold.meta.journal) = (None, 0);
        Ok(())
    }
}
