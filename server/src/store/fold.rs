//! A commit's folds: the rows a batch touches in each live view, folded event by event as the
//! events are appended, written once at the end; and the rows as they stand in the middle of
//! the batch, for the commands decided against them ([`BatchState`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lucarne_protocol::{CommandRef, ErrorCode, Op};
use redb::ReadableTable;
use serde_json::Value;

use super::{SlotMeta, StoreError, store_key};
use crate::commands::{Rejection, ViewState};
use crate::log::Event;
use crate::sql::{FEED_RETENTION, Shape, ViewDef};
use crate::view::GroupState;

/// The rows a batch touched: whether each was in the view before the batch, and its state now.
pub(super) type Cache = BTreeMap<Vec<u8>, (bool, GroupState)>;

/// One live view during a commit: the rows the batch touched so far, and the commands it carries.
pub(super) struct Fold {
    pub(super) view: Arc<ViewDef>,
    pub(super) slot: String,
    pub(super) meta: SlotMeta,
    pub(super) cache: Cache,
    pub(super) acked: BTreeSet<CommandRef>,
    /// The position of the last event folded in.
    pub(super) last: u64,
    /// Rows were written: the metadata must be too.
    pub(super) touched: bool,
}

/// The view rows as they stand in the middle of a commit: what the batch touched so far, over
/// the stored rows.
pub(super) struct BatchState<'a, T> {
    pub(super) folds: &'a [Fold],
    /// The stored rows (a write transaction's table, or a read transaction's).
    pub(super) rows: &'a T,
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
            None => match self
                .rows
                .get((fold.slot.as_str(), stored.as_slice()))
                .map_err(|e| internal(e.to_string()))?
            {
                Some(raw) => Some(
                    serde_json::from_slice::<GroupState>(raw.value()).map_err(|e| internal(e.to_string()))?,
                ),
                None => None,
            },
        };
        Ok(state.and_then(|s| fold.view.row(&s)))
    }
}

/// Folds one event into the batch's cache of touched rows.
pub(super) fn fold_into(
    view: &ViewDef,
    slot: &str,
    event: &Event,
    rows: &impl ReadableTable<(&'static str, &'static [u8]), &'static [u8]>,
    cache: &mut Cache,
) -> Result<(), StoreError> {
    let key = store_key(view, &view.key_values(event));
    let (was_visible, state) = match cache.remove(&key) {
        Some((was_visible, state)) => (was_visible, Some(state)),
        None => match rows.get((slot, key.as_slice()))? {
            Some(raw) => {
                let state: GroupState = serde_json::from_slice(raw.value())?;
                (view.having.is_none() || view.row(&state).is_some(), Some(state))
            }
            None => (false, None),
        },
    };
    cache.insert(key, (was_visible, view.fold(state, event)));
    Ok(())
}

/// Writes the touched rows, applies a feed's retention, counts rows, and returns the ops.
pub(super) fn flush(
    view: &ViewDef,
    slot: &str,
    rows: &mut redb::Table<'_, (&str, &[u8]), &[u8]>,
    cache: Cache,
    meta: &mut SlotMeta,
) -> Result<Vec<Op>, StoreError> {
    let mut ops = Vec::with_capacity(cache.len());
    for (key, (was_visible, state)) in cache {
        rows.insert((slot, key.as_slice()), serde_json::to_vec(&state)?.as_slice())?;
        match (was_visible, view.row(&state)) {
            (_, Some(row)) => {
                meta.rows += u64::from(!was_visible);
                ops.push(Op::Upsert { key: ViewDef::wire_key(&state.keys), row });
            }
            (true, None) => {
                meta.rows -= 1;
                ops.push(Op::Remove { key: ViewDef::wire_key(&state.keys) });
            }
            (false, None) => {}
        }
    }
    if view.shape == Shape::Feed {
        while meta.rows > FEED_RETENTION {
            // Feed keys are big-endian positions: the first key is the oldest row.
            let oldest = rows
                .range((slot, &[][..])..)?
                .next()
                .transpose()?
                .filter(|(k, _)| k.value().0 == slot)
                .map(|(k, _)| k.value().1.to_vec());
            let Some(oldest) = oldest else { break };
            rows.remove((slot, oldest.as_slice()))?;
            meta.rows -= 1;
            let key = u64::from_be_bytes(oldest.as_slice().try_into().unwrap_or([0; 8]));
            let key = Value::from(key);
            match ops.iter().position(|op| op.key() == &key) {
                // Made and dropped in the same batch: subscribers never see it.
                Some(i) => {
                    ops.remove(i);
                }
                None => ops.push(Op::Remove { key }),
            }
        }
    }
    Ok(ops)
}
