//! View rows between the disk and the folds: rows and changelog entries as stored (written by
//! [`codec`](super::codec); the MessagePack and JSON of older versions still read), the
//! rows kept in memory between commits ([`Hot`]), and the rows table as a checkpoint that the
//! changelog brings up to date.
//!
//! A commit that changes a grouped view of a single node writes that view's changelog entry —
//! the new state of every row it touched — and keeps those rows in memory, *dirty*, instead of
//! rewriting them in the rows table (a random write rewrites a whole page of the B-tree, and a
//! commit touching a few hundred rows of each of many views rewrote most of their pages). The
//! rows table of such a slot is then a checkpoint at the version in its metadata
//! ([`SlotMeta::checkpoint`](super::SlotMeta)); the changelog entries after it are its redo
//! journal. Dirty rows are written back, in key order and in a commit of their own view's
//! changes, when the journal grows past a quarter of the view's size, when the dirty rows of all
//! views pass their budget, before the changelog's retention would drop an entry the checkpoint
//! still needs, and when a commit changes only rows `HAVING` hides (it writes no entry). A reader
//! of another transaction (a snapshot) lays the journal over the checkpoint; opening the store
//! writes the journal back first, so a crash loses nothing the log has.
//!
//! Feeds (their rows are appended once) and the views of a cluster node (whose commands are
//! decided in read transactions against the rows table) are written through, as before.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lucarne_protocol::{CommandRef, Op};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use redb::{Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use lucarne_protocol::{Position, Row};

use super::{CHANGES, Change, SLOTS, Store, StoreError, codec, read_slots, store_key, write_slot};
use crate::sql::ViewDef;
use crate::view::GroupState;

/// The first byte of a value written as MessagePack by an older version (before [`codec`]);
/// values written before that start with `{` (JSON).
const MESSAGE_PACK: u8 = 1;

/// Encodes a value as an older version stored it: a tag byte, then MessagePack (tests write
/// the records older stores hold).
#[cfg(test)]
pub(super) fn encode_message_pack<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = vec![MESSAGE_PACK];
    rmp_serde::encode::write(&mut out, value).expect("MessagePack encodes");
    out
}

/// Decodes a value an older version stored: MessagePack after its tag, or JSON.
fn decode_older<T: DeserializeOwned>(raw: &[u8]) -> Result<T, StoreError> {
    match raw.split_first() {
        Some((&MESSAGE_PACK, rest)) => Ok(rmp_serde::from_slice(rest)?),
        _ => Ok(serde_json::from_slice(raw)?),
    }
}

/// A row state as the rows table holds it: written by [`codec`], or by an older version.
pub(super) fn decode_state(raw: &[u8]) -> Result<GroupState, StoreError> {
    match raw.split_first() {
        Some((&codec::STATE, body)) => Ok(codec::read_state_bytes(body)?),
        _ => decode_older(raw),
    }
}

/// Every slot's rows in one table, as stores before the tables per slot ([`rows_table`]) kept
/// them: moved into those when the store opens.
pub(super) const SHARED_ROWS: TableDefinition<'_, (&str, &[u8]), &[u8]> = TableDefinition::new("view_rows");

/// A slot's rows as a commit writes them: its own table, by stored key.
pub(super) type SlotRows<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;
/// A slot's rows as a read transaction sees them.
pub(super) type ReadSlotRows = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// The name of a slot's rows table. A table per slot: its keys compare as bytes (a key that
/// began with the slot's name compared that text, checked as UTF-8, at every step of a B-tree
/// search: 1.45 against 0.88 µs an insert, measured with redb 3.1), and a dropped view's rows
/// go with one deletion.
pub(super) fn rows_table(slot: &str) -> String {
    format!("view_rows/{slot}")
}

/// A slot's rows table in a write transaction (made when it has none).
pub(super) fn slot_rows<'t>(txn: &'t WriteTransaction, slot: &str) -> Result<SlotRows<'t>, StoreError> {
    Ok(txn.open_table(TableDefinition::new(&rows_table(slot)))?)
}

/// A slot's rows table in a read transaction; `None` when no commit made it yet (a commit
/// makes one for every live view, rows or not).
pub(super) fn read_slot_rows(
    txn: &redb::ReadTransaction,
    slot: &str,
) -> Result<Option<ReadSlotRows>, StoreError> {
    match txn.open_table(TableDefinition::new(&rows_table(slot))) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Moves the rows of a store written before the tables per slot into those, in one pass in key
/// order (slot by slot), and deletes the shared table. True when there was one.
pub(super) fn move_shared_rows(txn: &WriteTransaction) -> Result<bool, StoreError> {
    // Looked for first: opening a table in a write transaction makes it.
    use redb::TableHandle;
    if !txn.list_tables()?.any(|t| t.name() == SHARED_ROWS.name()) {
        return Ok(false);
    }
    let shared = txn.open_table(SHARED_ROWS)?;
    let mut current: Option<(String, SlotRows<'_>)> = None;
    for entry in shared.iter()? {
        let (k, v) = entry?;
        let (slot, key) = k.value();
        if current.as_ref().is_none_or(|(s, _)| s != slot) {
            current = Some((slot.to_owned(), slot_rows(txn, slot)?));
        }
        if let Some((_, table)) = current.as_mut() {
            table.insert(key, v.value())?;
        }
    }
    drop(current);
    drop(shared);
    txn.delete_table(SHARED_ROWS)?;
    Ok(true)
}

/// One row a change touched, as its changelog entry records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Touched {
    /// The row's state after the change, and whether clients saw the row before it.
    Row {
        /// Clients saw the row before (`HAVING` may hide a group).
        was_visible: bool,
        /// Its state now.
        state: GroupState,
    },
    /// The row left the view (a feed's oldest row past its retention).
    Dropped {
        /// Its key on the wire.
        key: Value,
    },
}

impl Touched {
    /// What subscribers receive for this row, if anything.
    pub(super) fn op(&self, view: &ViewDef) -> Option<Op> {
        match self {
            Touched::Row { was_visible, state } => match (was_visible, view.row(state)) {
                (_, Some(row)) => Some(Op::Upsert { key: ViewDef::wire_key(&state.keys), row }),
                (true, None) => Some(Op::Remove { key: ViewDef::wire_key(&state.keys) }),
                (false, None) => None,
            },
            Touched::Dropped { key } => Some(Op::Remove { key: key.clone() }),
        }
    }
}

/// A changelog entry for the rows a fold's close settled, their states read from the slot's
/// rows in memory.
pub(super) fn entry_bytes(
    (from, to): (u64, u64),
    acked: &[CommandRef],
    settled: &[super::fold::Settled],
    rows: &HotSlot,
) -> Result<Vec<u8>, StoreError> {
    use super::fold::Settle;
    let mut entry = codec::EntryWriter::new(from, to, acked, settled.len());
    for s in settled {
        match &s.settle {
            Settle::Row { was_visible, .. } => {
                let row = rows.rows.get(&s.key).ok_or(StoreError::RowLeftMemory)?;
                entry.row(*was_visible, &row.state);
            }
            Settle::Dropped(key) => entry.dropped(key),
        }
    }
    Ok(entry.finish())
}

/// A changelog entry as an older version wrote it, in MessagePack.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(super) struct Entry {
    pub(super) from: u64,
    pub(super) to: u64,
    pub(super) acked: Vec<CommandRef>,
    pub(super) rows: Vec<Touched>,
}

/// A change as the changelog stored it, as JSON, before entries held rows.
#[derive(Deserialize)]
struct Legacy {
    view: String,
    epoch: u64,
    from: u64,
    to: u64,
    ops: Vec<Op>,
    acked: Vec<CommandRef>,
}

/// A changelog entry of any encoding.
enum Stored {
    Entry(codec::EntryIn),
    /// Written as JSON before entries held rows (never after a checkpoint: those stores wrote
    /// their rows through).
    Legacy(Legacy),
}

fn read_entry(raw: &[u8]) -> Result<Stored, StoreError> {
    match raw.split_first() {
        Some((&codec::ENTRY, body)) => Ok(Stored::Entry(codec::read_entry_bytes(body)?)),
        Some((&MESSAGE_PACK, _)) => {
            let Entry { from, to, acked, rows } = decode_older(raw)?;
            Ok(Stored::Entry(codec::EntryIn { from, to, acked, rows }))
        }
        _ => Ok(Stored::Legacy(serde_json::from_slice(raw)?)),
    }
}

/// The ops of a change, from its changelog entry.
pub(super) fn read_ops(raw: &[u8], view: &ViewDef) -> Result<Vec<Op>, StoreError> {
    Ok(match read_entry(raw)? {
        Stored::Legacy(legacy) => legacy.ops,
        Stored::Entry(e) => e.rows.iter().filter_map(|t| t.op(view)).collect(),
    })
}

/// A changelog entry as the change clients receive.
pub(super) fn change_of(raw: &[u8], view: &ViewDef, epoch: u64) -> Result<Change, StoreError> {
    Ok(match read_entry(raw)? {
        Stored::Legacy(c) => Change::new(c.view, c.epoch, (c.from, c.to), c.ops, c.acked),
        Stored::Entry(e) => {
            let ops = e.rows.iter().filter_map(|t| t.op(view)).collect();
            Change::new(view.name.clone(), epoch, (e.from, e.to), ops, e.acked)
        }
    })
}

/// The rows a slot's journal leaves — its changelog entries after `checkpoint` through
/// `version` — by stored key (`None`: the row left the view).
fn journal(
    view: &ViewDef,
    changes: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    slot: &str,
    checkpoint: u64,
    version: u64,
) -> Result<BTreeMap<Vec<u8>, Option<GroupState>>, StoreError> {
    let mut out = BTreeMap::new();
    for raw in changes.range((slot, checkpoint + 1)..=(slot, version))? {
        // Entries before the binary encoding never follow a checkpoint.
        let Stored::Entry(entry) = read_entry(raw?.1.value())? else { continue };
        for touched in entry.rows {
            match touched {
                Touched::Row { state, .. } => {
                    out.insert(store_key(view, &state.keys), Some(state));
                }
                Touched::Dropped { key } => {
                    let keys = match (view.keys.len(), key) {
                        (n, Value::Array(many)) if n > 1 => many,
                        (_, one) => vec![one],
                    };
                    out.insert(store_key(view, &keys), None);
                }
            }
        }
    }
    Ok(out)
}

/// How many rows the store keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCacheLimits {
    /// Rows kept in memory, all views together; clean rows beyond it are forgotten.
    pub rows: usize,
    /// Dirty rows (newer than the rows table) allowed before a commit writes its views' back.
    pub dirty: usize,
    /// A view's journal is written back when it holds more row states than this or a quarter of
    /// the view's rows, whichever is more (a snapshot decodes that many beside the rows table).
    pub journal: u64,
}

impl Default for RowCacheLimits {
    fn default() -> Self {
        // About 380 bytes a row of five columns (measured): ~380 MB when full.
        RowCacheLimits { rows: 1_000_000, dirty: 1_000_000, journal: 10_000 }
    }
}

/// A row kept in memory.
#[derive(Debug)]
pub(super) struct HotRow {
    pub(super) state: GroupState,
    /// Newer than the rows table: its change is in the journal only.
    pub(super) dirty: bool,
    /// Touched by the fold under way: whether clients saw the row before it (`None`: untouched).
    pub(super) touched: Option<bool>,
}

/// The rows of one slot kept in memory, by stored key (keys come from events: a hasher seeded
/// per process). A commit folds into them in place.
#[derive(Debug, Default)]
pub(super) struct HotSlot {
    pub(super) rows: HashMap<Vec<u8>, HotRow, foldhash::fast::RandomState>,
    /// How many of them are dirty.
    pub(super) dirty: usize,
}

impl HotSlot {
    /// Marks every dirty row clean (they were written back): how many there were.
    pub(super) fn clean(&mut self) -> usize {
        for row in self.rows.values_mut() {
            row.dirty = false;
        }
        std::mem::take(&mut self.dirty)
    }
}

/// The rows kept in memory between commits, as the last durable commit left them. A commit
/// takes the slots it folds into ([`Hot::take`]) and puts them back once durable; a commit that
/// fails leaves the rows *stale*: forgotten, and the next commit first writes every journal back
/// into the rows table (as opening does), so nothing in memory is ever ahead of the disk.
#[derive(Debug, Default)]
pub(super) struct Hot {
    slots: HashMap<String, HotSlot>,
    /// A commit failed after folding in place: the rows table must be brought up to date.
    pub(super) stale: bool,
    pub(super) limits: RowCacheLimits,
}

impl Hot {
    /// Takes a slot's rows out for a commit to fold into.
    pub(super) fn take(&mut self, slot: &str) -> HotSlot {
        self.slots.remove(slot).unwrap_or_default()
    }

    /// Puts a slot's rows back after a durable commit.
    pub(super) fn put(&mut self, slot: String, rows: HotSlot) {
        self.slots.insert(slot, rows);
    }

    /// Dirty rows, all slots together.
    pub(super) fn dirty(&self) -> usize {
        self.slots.values().map(|s| s.dirty).sum()
    }

    /// Forgets the slots that are no longer live, then clean rows while over the limit.
    pub(super) fn trim(&mut self, live: &BTreeSet<String>) {
        self.slots.retain(|slot, _| live.contains(slot));
        let len: usize = self.slots.values().map(|s| s.rows.len()).sum();
        if len > self.limits.rows {
            // Down to three quarters: a pass over the rows is paid once per quarter of a cache
            // of dirty rows.
            let mut over = len - self.limits.rows * 3 / 4;
            for slot in self.slots.values_mut() {
                slot.rows.retain(|_, r| {
                    let forget = over > 0 && !r.dirty;
                    over -= usize::from(forget);
                    !forget
                });
            }
        }
    }

    /// Forgets every row (the rows table holds them all once the journal is written back).
    pub(super) fn clear(&mut self) {
        self.slots.clear();
    }
}

/// The rows in memory for the length of a commit that folds into them in place: forgotten and
/// marked stale unless the commit ends durable ([`Lease::keep`]), whether it fails or panics.
pub(super) struct Lease<'a> {
    hot: std::sync::MutexGuard<'a, Hot>,
    kept: bool,
}

impl<'a> Lease<'a> {
    pub(super) fn new(hot: std::sync::MutexGuard<'a, Hot>) -> Lease<'a> {
        Lease { hot, kept: false }
    }

    /// The commit is durable: the rows put back stay.
    pub(super) fn keep(mut self) {
        self.hot.stale = false;
        self.kept = true;
    }
}

impl std::ops::Deref for Lease<'_> {
    type Target = Hot;
    fn deref(&self) -> &Hot {
        &self.hot
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Hot {
        &mut self.hot
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.hot.clear();
            self.hot.stale = true;
        }
    }
}

impl Store {
    /// The rows in memory. A commit that panics while folding into them in place leaves them
    /// stale ([`Hot`]): whatever state it left them in is forgotten.
    pub(super) fn hot(&self) -> std::sync::MutexGuard<'_, Hot> {
        self.hot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes every slot's journal back into its rows table, in one durable commit, and forgets
    /// the rows in memory: after opening, or reopening after an I/O error.
    pub(super) fn write_back_all(&self) -> Result<(), StoreError> {
        // The writer's lock first, then the rows in memory: the order every commit takes them in.
        let mut txn = self.db()?.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut hot = self.hot();
        hot.clear();
        if self.write_journals_back(&txn)? {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        hot.stale = false;
        Ok(())
    }

    /// Writes every slot's journal back into its rows table in `txn`; true when there was one.
    pub(super) fn write_journals_back(&self, txn: &redb::WriteTransaction) -> Result<bool, StoreError> {
        let mut wrote = false;
        let slots = read_slots(&txn.open_table(SLOTS)?)?;
        for (slot, mut meta) in slots {
            let (Some(checkpoint), Some(def)) = (meta.checkpoint, self.def(&slot)) else { continue };
            let journal = journal(&def, &txn.open_table(CHANGES)?, &slot, checkpoint, meta.version)?;
            let mut table = slot_rows(txn, &slot)?;
            let mut bytes = Vec::with_capacity(128);
            for (key, state) in journal {
                match state {
                    Some(state) => {
                        codec::state_into(&mut bytes, &state);
                        table.insert(key.as_slice(), bytes.as_slice())?
                    }
                    None => table.remove(key.as_slice())?,
                };
            }
            (meta.checkpoint, meta.journal) = (None, 0);
            drop(table);
            write_slot(txn, &slot, &meta)?;
            wrote = true;
        }
        Ok(wrote)
    }

    /// The bytes of a live view's rows table, read without decoding (a benchmark's baseline).
    pub fn stored_row_bytes(&self, view: &str) -> Result<usize, StoreError> {
        let txn = self.db()?.begin_read()?;
        let (slot, ..) = self.live(&txn, view)?;
        let mut bytes = 0;
        if let Some(table) = read_slot_rows(&txn, &slot)? {
            for entry in table.iter()? {
                bytes += entry?.1.value().len();
            }
        }
        Ok(bytes)
    }

    /// A consistent copy of a view's row states, in store order (`HAVING` not applied): the
    /// rows table with the journal after its checkpoint laid over it, in one read transaction.
    pub(super) fn snapshot_states(
        &self,
        view: &str,
    ) -> Result<(Position, std::sync::Arc<ViewDef>, Vec<GroupState>), StoreError> {
        let (mut begun, mut states) = (None, Vec::new());
        self.each_state(view, |visit| {
            match visit {
                Visit::Begin { at, def, rows } => {
                    states.reserve(usize::try_from(rows).unwrap_or(0));
                    begun = Some((at, def.clone()));
                }
                Visit::State(state) => states.push(state),
            }
            Ok(true)
        })?;
        let (at, def) = begun.ok_or_else(|| StoreError::UnknownView(view.to_owned()))?;
        Ok((at, def, states))
    }

    /// Hands each row of a view to `visit`, in store order, in one read transaction, without
    /// holding them all (a search index is built from them); where they stand. `visit`
    /// returning false stops there.
    pub fn each_row(&self, view: &str, mut visit: impl FnMut(Row) -> bool) -> Result<Position, StoreError> {
        let mut begun = None;
        self.each_state(view, |part| {
            Ok(match part {
                Visit::Begin { at, def, .. } => {
                    begun = Some((at, def.clone()));
                    true
                }
                Visit::State(state) => match &begun {
                    Some((_, def)) => match def.row(&state) {
                        Some(row) => visit(Row { key: ViewDef::wire_key(&state.keys), row }),
                        None => true, // left out by `HAVING`
                    },
                    None => false,
                },
            })
        })?;
        begun.map(|(at, _)| at).ok_or_else(|| StoreError::UnknownView(view.to_owned()))
    }

    /// Visits a view's position, definition and row count, then each row state in store order
    /// (`HAVING` not applied), in one read transaction; `visit` returning false stops there.
    fn each_state(
        &self,
        view: &str,
        mut visit: impl FnMut(Visit<'_>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.db()?.begin_read()?;
        let (slot, meta, def) = self.live(&txn, view)?;
        let at = Position { epoch: meta.epoch, version: meta.version };
        if !visit(Visit::Begin { at, def: &def, rows: meta.rows })? {
            return Ok(());
        }
        let table = read_slot_rows(&txn, &slot)?;
        // Rows newer than the rows table: its journal, laid over it in key order.
        let mut journal = match meta.checkpoint {
            Some(checkpoint) => journal(&def, &txn.open_table(CHANGES)?, &slot, checkpoint, meta.version)?,
            None => BTreeMap::new(),
        };
        for entry in table.as_ref().map(|t| t.iter()).transpose()?.into_iter().flatten() {
            let (k, v) = entry?;
            let key = k.value();
            while let Some(first) = journal.first_entry().filter(|e| e.key().as_slice() < key) {
                if let Some(state) = first.remove()
                    && !visit(Visit::State(state))?
                {
                    return Ok(());
                }
            }
            let state = match journal.remove(key) {
                Some(Some(state)) => state,
                Some(None) => continue,
                None => decode_state(v.value())?,
            };
            if !visit(Visit::State(state))? {
                return Ok(());
            }
        }
        for state in journal.into_values().flatten() {
            if !visit(Visit::State(state))? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A snapshot as the `snapshot_rows` frames of subscription `sub`, `chunk` rows each,
    /// written straight from the row states: the same text as encoding [`Store::snapshot`]'s
    /// rows in those chunks, without building each row's `Map` first.
    pub fn snapshot_frames(&self, view: &str, sub: u64, chunk: usize) -> Result<SnapshotFrames, StoreError> {
        let (mut begun, mut frames) = (None, Vec::new());
        self.snapshot_parts(view, sub, chunk, |part| {
            match part {
                SnapshotPart::Begin { at, rows } => begun = Some((at, rows)),
                SnapshotPart::Frame(frame) => frames.push(frame),
                SnapshotPart::End => {}
            }
            true
        })?;
        let (at, rows) = begun.ok_or_else(|| StoreError::UnknownView(view.to_owned()))?;
        Ok(SnapshotFrames { at, rows, frames })
    }

    /// [`Store::snapshot_frames`] handed out as they are written: where the snapshot stands
    /// and how many rows follow first, then each frame as soon as its rows are read and
    /// written, so that a connection sends the first frames while the rest are read, then
    /// [`SnapshotPart::End`]. (A view with `HAVING` is read whole first: which rows it shows is
    /// known only then.) `emit` returning false stops the reading there, `End` not sent.
    pub fn snapshot_parts(
        &self,
        view: &str,
        sub: u64,
        chunk: usize,
        mut emit: impl FnMut(SnapshotPart) -> bool,
    ) -> Result<(), StoreError> {
        let chunk = chunk.max(1);
        let (mut def, mut held, mut declared, mut sent) = (None, Vec::with_capacity(chunk), None, 0u64);
        // False once the receiver stopped taking parts: nothing more is read, written or checked.
        let taken = std::cell::Cell::new(true);
        let mut send = |part: SnapshotPart| {
            taken.set(emit(part));
            taken.get()
        };
        self.each_state(view, |visit| match visit {
            Visit::Begin { at, def: d, rows } => {
                def = Some(d.clone());
                if d.having.is_some() {
                    // Sent once every state is read and the rows `HAVING` keeps are counted.
                    declared = Some((at, None));
                    return Ok(true);
                }
                declared = Some((at, Some(rows)));
                Ok(send(SnapshotPart::Begin { at, rows }))
            }
            Visit::State(state) => {
                held.push(state);
                let Some((_, Some(_))) = declared else { return Ok(true) };
                if held.len() < chunk {
                    return Ok(true);
                }
                let def = def.as_deref().ok_or_else(|| StoreError::UnknownView(view.to_owned()))?;
                let rows = rows_out(def, &held);
                let frame = frame(sub, &rows)?;
                sent += rows.len() as u64;
                drop(rows);
                held.clear();
                Ok(send(SnapshotPart::Frame(frame)))
            }
        })?;
        let (Some(def), Some((at, declared)), true) = (def, declared, taken.get()) else { return Ok(()) };
        match declared {
            Some(rows) => {
                if !held.is_empty() {
                    let out = rows_out(&def, &held);
                    sent += out.len() as u64;
                    if !send(SnapshotPart::Frame(frame(sub, &out)?)) {
                        return Ok(());
                    }
                }
                if sent != rows {
                    tracing::error!(
                        view,
                        declared = rows,
                        sent,
                        "a snapshot sent another count of rows than it declared"
                    );
                }
            }
            None => {
                // Each row `HAVING` keeps, built once, to count them and then to write them.
                let shown = rows_out(&def, &held);
                if !send(SnapshotPart::Begin { at, rows: shown.len() as u64 }) {
                    return Ok(());
                }
                for part in shown.chunks(chunk) {
                    if !send(SnapshotPart::Frame(frame(sub, part)?)) {
                        return Ok(());
                    }
                }
            }
        }
        send(SnapshotPart::End);
        Ok(())
    }
}

/// What [`Store::each_state`] visits.
enum Visit<'a> {
    Begin { at: Position, def: &'a std::sync::Arc<ViewDef>, rows: u64 },
    State(GroupState),
}

/// One part of a snapshot ([`Store::snapshot_parts`]), in order: `Begin`, then the frames.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotPart {
    /// Where the snapshot stands and how many rows its frames hold.
    Begin {
        /// The snapshot's position.
        at: Position,
        /// The rows in all frames.
        rows: u64,
    },
    /// One `snapshot_rows` frame.
    Frame(String),
    /// Every frame was handed out: the snapshot is whole. (A reader that sees its parts end
    /// without it knows the snapshot was cut short.)
    End,
}

/// The rows of `states` that `HAVING` keeps, as the wire writes them.
fn rows_out<'a>(def: &'a ViewDef, states: &'a [GroupState]) -> Vec<RowOut<'a>> {
    states
        .iter()
        .filter_map(|state| Some(RowOut { key: KeyOut(&state.keys), row: def.row_json(state)? }))
        .collect()
}

/// The `snapshot_rows` frame of `rows`.
fn frame(sub: u64, rows: &[RowOut<'_>]) -> Result<String, StoreError> {
    Ok(serde_json::to_string(&FrameOut { kind: "snapshot_rows", sub, rows })?)
}

/// A snapshot as ready-made `snapshot_rows` frames ([`Store::snapshot_frames`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotFrames {
    /// Where it stands.
    pub at: Position,
    /// The rows in all frames.
    pub rows: u64,
    /// The frames' text, in order.
    pub frames: Vec<String>,
}

/// A `snapshot_rows` frame as `lucarne_protocol::encode` writes one.
#[derive(Serialize)]
struct FrameOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sub: u64,
    rows: &'a [RowOut<'a>],
}

/// A `Row` of the wire, borrowed from its state.
#[derive(Serialize)]
struct RowOut<'a> {
    key: KeyOut<'a>,
    row: crate::view::RowJson<'a>,
}

/// A row's key as `ViewDef::wire_key` gives it: `null`, the one value, or an array.
struct KeyOut<'a>(&'a [Value]);

impl Serialize for KeyOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [] => serializer.serialize_unit(),
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}
