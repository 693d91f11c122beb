//! The embedded store: one redb file holding the event log, the dedup index, view rows, each
//! view's changelog and metadata.
//!
//! A batch of appends, the view rows it changes, the changelog entries it adds and each view's
//! version are written in **one** write transaction committed with `Durability::Immediate`
//! (fsync): a crash never leaves the views and the log apart, and whatever was acked survives.
//! Many commands share one commit (group commit, see `engine`).
//!
//! Each build of a view lives in its own *slot* (`name#epoch`) with its rows, changelog and
//! metadata. A slot is either live (folded by every commit) or building (folded from the log in
//! chunks by [`Store::build_step`] until it reaches the log's head, in the same transaction that
//! makes it live and retires the slot it replaces). So a view defined or redefined at runtime is
//! built beside the old one and swapped in atomically: no downtime, no mixed rows.
//!
//! Views defined at runtime are recorded twice in the same commit: as an event in the `$views`
//! stream of the log (the history every node replays) and in a small table of definitions that
//! the next start reads instead of scanning the log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use lucarne_protocol::{CommandRef, ErrorCode, Op, Position, ResyncReason, Row, ViewInfo};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::commands::{Rejection, ViewState};
use crate::log::{Append, Appended, Event, EventLog};
use crate::sql::{FEED_RETENTION, Shape, ViewDef, parse_view};
use crate::upcast::Upcasters;
use crate::view::GroupState;

const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const DEDUP: TableDefinition<'_, (&str, u64), (u64, u32)> = TableDefinition::new("dedup");
const SLOTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("slots");
const ROWS: TableDefinition<'_, (&str, &[u8]), &[u8]> = TableDefinition::new("view_rows");
const CHANGES: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("changelog");
/// The top-level payload fields seen in each stream: `(stream, field)`; `(stream, "")` marks
/// a stream that has events.
const FIELDS: TableDefinition<'_, (&str, &str), ()> = TableDefinition::new("fields");
/// Views defined or dropped at runtime: name → SQL, or `null` for dropped.
const DEFINED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("defined");
/// Commands defined or dropped at runtime: name → route spec, or `null` for dropped.
const DEFINED_COMMANDS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("defined_commands");
/// Written by [`Store::reopen`] to prove the reopened store can write.
const PROBE: TableDefinition<'_, &str, u64> = TableDefinition::new("probe");

/// The stream runtime view definitions are recorded in.
pub const VIEWS_STREAM: &str = "$views";

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("store: {0}")]
    Db(#[from] redb::Error),
    /// A stored record could not be decoded.
    #[error("store: corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// No such view.
    #[error("no view named {0:?}")]
    UnknownView(String),
    /// A stored definition no longer compiles.
    #[error("stored definition of {0:?} is invalid: {1}")]
    BadDefinition(String, crate::sql::SqlError),
    /// The database is closed while it is being reopened.
    #[error("store: closed while it reopens after an I/O error")]
    Reopening,
}

impl StoreError {
    /// True for a failure of the disk under the store (a full disk, an I/O error, or redb's
    /// refusal to go on after one): the database must be closed and opened again.
    pub fn is_io(&self) -> bool {
        matches!(self, StoreError::Db(redb::Error::Io(_) | redb::Error::PreviousIo) | StoreError::Reopening)
    }
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.into()) }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// A slot's stored metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SlotMeta {
    name: String,
    sql: String,
    epoch: u64,
    version: u64,
    rows: u64,
    /// Set while the slot is being built from the log: the last position folded so far.
    #[serde(default)]
    building: Option<u64>,
}

fn slot_name(name: &str, epoch: u64) -> String {
    format!("{name}#{epoch}")
}

/// One committed change to one view: what subscribers receive as a `delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The view.
    pub view: String,
    /// The view's epoch.
    pub epoch: u64,
    /// Version before.
    pub from: u64,
    /// Version after (`from + 1`; equal to `from` for the marker of a new epoch).
    pub to: u64,
    /// Row changes, one per key.
    pub ops: Vec<Op>,
    /// Commands whose events changed the view.
    pub acked: Vec<CommandRef>,
}

/// A consistent copy of a view.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Where it stands.
    pub at: Position,
    /// Its rows, in store order.
    pub rows: Vec<Row>,
}

/// What a resume from a position gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Catchup {
    /// The missed changes, oldest first, and the version they lead to.
    Changes(Vec<Change>, Position),
    /// The client must take a fresh snapshot.
    Resync(ResyncReason),
}

/// A change to the set of views made by a commit (a `$views` event).
#[derive(Debug, Clone, PartialEq)]
pub enum ViewChange {
    /// A slot was created and must be built (see [`Store::build_step`]).
    Building {
        /// The view.
        name: String,
        /// The slot's epoch.
        epoch: u64,
    },
    /// The view was dropped.
    Dropped {
        /// The view.
        name: String,
    },
    /// A command was defined at runtime (`define_command {spec}` in `$views`).
    CommandDefined {
        /// Its route spec (`STREAM:NAME [ON VIEW(FIELD) [WHEN … | NEW]]`).
        spec: String,
    },
    /// A command was removed at runtime.
    CommandDropped {
        /// The command.
        name: String,
    },
}

/// What one committed batch did.
#[derive(Debug, Default)]
pub struct Committed {
    /// One outcome per append, in order: appended, or refused by its guard.
    pub appended: Vec<Result<Appended, Rejection>>,
    /// The view changes, to publish to subscribers.
    pub changes: Vec<Arc<Change>>,
    /// Views defined or dropped by `$views` events in the batch.
    pub views: Vec<ViewChange>,
}

/// Progress of building one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildProgress {
    /// Log position folded so far.
    pub done: u64,
    /// The log's head when this step ran.
    pub head: u64,
    /// The slot is live now (and replaced any older one).
    pub finished: bool,
}

/// The embedded store.
pub struct Store {
    /// The open database; `None` while it is being reopened after an I/O error.
    db: RwLock<Option<Arc<Database>>>,
    /// Its file, to reopen it.
    path: PathBuf,
    /// Compiled definitions by slot; every slot in `SLOTS` has one.
    defs: RwLock<HashMap<String, Arc<ViewDef>>>,
    /// The payload fields seen per stream (a copy of `FIELDS`), to check new views against.
    fields: RwLock<HashMap<String, BTreeSet<String>>>,
    /// Lift old events to the current shape before folding.
    upcasters: Upcasters,
    changelog_retention: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A fresh epoch: random, non-zero, exact in a JavaScript number.
fn new_epoch() -> u64 {
    rand::random_range(1..(1u64 << 53))
}

/// The key a row is stored under: order-preserving for feeds (big-endian position), the key's
/// JSON text for grouped views.
fn store_key(view: &ViewDef, keys: &[Value]) -> Vec<u8> {
    match (view.shape, keys) {
        (Shape::Feed, [Value::Number(n)]) => n.as_u64().unwrap_or(0).to_be_bytes().to_vec(),
        _ => ViewDef::wire_key(keys).to_string().into_bytes(),
    }
}

/// Every slot's metadata, by slot name.
fn read_slots(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<(String, SlotMeta)>, StoreError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        out.push((k.value().to_owned(), serde_json::from_slice(v.value())?));
    }
    Ok(out)
}

fn write_slot(txn: &WriteTransaction, slot: &str, meta: &SlotMeta) -> Result<(), StoreError> {
    txn.open_table(SLOTS)?.insert(slot, serde_json::to_vec(meta)?.as_slice())?;
    Ok(())
}

/// Deletes a slot: its rows, changelog and metadata.
fn delete_slot(txn: &WriteTransaction, slot: &str) -> Result<(), StoreError> {
    txn.open_table(ROWS)?.retain_in((slot, &[][..]).., |k, _| k.0 != slot)?;
    txn.open_table(CHANGES)?.retain_in((slot, 0)..=(slot, u64::MAX), |_, _| false)?;
    txn.open_table(SLOTS)?.remove(slot)?;
    Ok(())
}

impl Store {
    /// Opens (or creates) the store in a directory.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(redb::Error::Io(e)))?;
        let path = dir.join("lucarne.redb");
        let db = Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(LOG)?;
            txn.open_table(DEDUP)?;
            txn.open_table(ROWS)?;
            txn.open_table(CHANGES)?;
            txn.open_table(DEFINED)?;
            txn.open_table(DEFINED_COMMANDS)?;
            txn.open_table(SLOTS)?;
            txn.open_table(FIELDS)?;
        }
        txn.commit()?;
        let mut fields: HashMap<String, BTreeSet<String>> = HashMap::new();
        for entry in db.begin_read()?.open_table(FIELDS)?.iter()? {
            let (k, _) = entry?;
            let (stream, field) = k.value();
            let known = fields.entry(stream.to_owned()).or_default();
            if !field.is_empty() {
                known.insert(field.to_owned());
            }
        }
        let mut defs = HashMap::new();
        for (slot, meta) in read_slots(&db.begin_read()?.open_table(SLOTS)?)? {
            let def = parse_view(&meta.sql).map_err(|e| StoreError::BadDefinition(meta.name.clone(), e))?;
            defs.insert(slot, Arc::new(def));
        }
        Ok(Store {
            db: RwLock::new(Some(Arc::new(db))),
            path,
            defs: RwLock::new(defs),
            fields: RwLock::new(fields),
            upcasters: Upcasters::new(),
            changelog_retention: 10_000,
        })
    }

    /// The open database.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.db.read().ok().and_then(|db| db.clone()).ok_or(StoreError::Reopening)
    }

    /// Closes the database and opens it again (redb refuses every operation after an I/O error
    /// until then), then proves it can write with a small durable commit. Fails while reads still
    /// hold the old database, or while the disk still cannot take the write: call again later.
    pub fn reopen(&self) -> Result<(), StoreError> {
        let mut slot = self.db.write().map_err(|_| StoreError::Reopening)?;
        if let Some(old) = slot.take()
            && let Err(old) = Arc::try_unwrap(old)
        {
            *slot = Some(old);
            return Err(StoreError::Reopening);
        }
        let db = Database::create(&self.path)?;
        let probe = (|| -> Result<(), StoreError> {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            txn.open_table(PROBE)?.insert("written_ms", now_ms())?;
            txn.commit()?;
            Ok(())
        })();
        *slot = Some(Arc::new(db));
        probe
    }

    /// Lifts events through these upcasters before every fold (see [`Upcasters`]).
    pub fn set_upcasters(&mut self, upcasters: Upcasters) {
        self.upcasters = upcasters;
    }

    /// How many changes per view are kept for resuming clients.
    pub fn set_changelog_retention(&mut self, entries: u64) {
        self.changelog_retention = entries.max(1);
    }

    fn def(&self, slot: &str) -> Option<Arc<ViewDef>> {
        self.defs.read().ok()?.get(slot).cloned()
    }

    fn remember(&self, slot: &str, def: Arc<ViewDef>) {
        if let Ok(mut defs) = self.defs.write() {
            defs.insert(slot.to_owned(), def);
        }
    }

    /// The live views, by name.
    pub fn views(&self) -> Result<Vec<Arc<ViewDef>>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let slots = read_slots(&txn.open_table(SLOTS)?)?;
        Ok(slots
            .iter()
            .filter(|(_, m)| m.building.is_none())
            .filter_map(|(slot, _)| self.def(slot))
            .collect())
    }

    /// Installs the views a server starts with: the `file` definitions, overridden by those
    /// defined or dropped at runtime. A view whose SQL is unchanged keeps its data, epoch and
    /// version; a new or changed one is built from the whole log under a new epoch (reporting
    /// `progress(view, done, head)`); a stored view no longer wanted is dropped. Returns the names
    /// of the views that were (re)built.
    pub fn install_views(
        &mut self,
        file: Vec<ViewDef>,
        mut progress: impl FnMut(&str, u64, u64),
    ) -> Result<Vec<String>, StoreError> {
        let txn = self.db()?.begin_write()?;
        let mut wanted: BTreeMap<String, Arc<ViewDef>> =
            file.into_iter().map(|d| (d.name.clone(), Arc::new(d))).collect();
        for entry in txn.open_table(DEFINED)?.iter()? {
            let (name, sql) = entry?;
            let name = name.value().to_owned();
            match serde_json::from_slice::<Option<String>>(sql.value())? {
                Some(sql) => {
                    let def = parse_view(&sql).map_err(|e| StoreError::BadDefinition(name.clone(), e))?;
                    wanted.insert(name, Arc::new(def));
                }
                None => {
                    wanted.remove(&name);
                }
            }
        }
        let slots = read_slots(&txn.open_table(SLOTS)?)?;
        let mut building = Vec::new();
        for (slot, meta) in &slots {
            let keep = wanted.get(&meta.name).is_some_and(|d| d.sql == meta.sql);
            if !keep {
                delete_slot(&txn, slot)?;
            } else if meta.building.is_some() {
                building.push(slot.clone());
            }
        }
        for def in wanted.values() {
            let have = slots.iter().any(|(_, m)| m.name == def.name && m.sql == def.sql);
            if !have {
                let (slot, _) = self.new_slot(&txn, def.clone())?;
                building.push(slot);
            }
        }
        txn.commit()?;
        let mut rebuilt = Vec::new();
        for slot in building {
            let name = self.def(&slot).map(|d| d.name.clone()).unwrap_or_default();
            loop {
                let step = self.build_step(&slot)?;
                progress(&name, step.done, step.head);
                if step.finished {
                    break;
                }
            }
            rebuilt.push(name);
        }
        Ok(rebuilt)
    }

    /// Creates an empty building slot for a definition under a fresh epoch.
    fn new_slot(&self, txn: &WriteTransaction, def: Arc<ViewDef>) -> Result<(String, u64), StoreError> {
        let epoch = new_epoch();
        let slot = slot_name(&def.name, epoch);
        let meta = SlotMeta {
            name: def.name.clone(),
            sql: def.sql.clone(),
            epoch,
            version: 0,
            rows: 0,
            building: Some(0),
        };
        write_slot(txn, &slot, &meta)?;
        self.remember(&slot, def);
        Ok((slot, epoch))
    }

    /// Folds the next chunk of the log into a building slot, in one commit. When the chunk reaches
    /// the log's head the slot goes live in the same commit and the slot it replaces is deleted.
    pub fn build_step(&self, slot: &str) -> Result<BuildProgress, StoreError> {
        const CHUNK: usize = 5000;
        let def = self.def(slot).ok_or_else(|| StoreError::UnknownView(slot.to_owned()))?;
        let txn = self.db()?.begin_write()?;
        let Some(raw) = txn.open_table(SLOTS)?.get(slot)?.map(|v| v.value().to_vec()) else {
            // Dropped or replaced meanwhile: nothing left to build.
            return Ok(BuildProgress { done: 0, head: 0, finished: true });
        };
        let mut meta: SlotMeta = serde_json::from_slice(&raw)?;
        let Some(done) = meta.building else {
            return Ok(BuildProgress { done: 0, head: 0, finished: true });
        };
        let (events, head) = {
            let log = txn.open_table(LOG)?;
            let head = log.last()?.map_or(0, |(k, _)| k.value());
            let mut events = Vec::new();
            for entry in log.range(done + 1..)?.take(CHUNK) {
                events.push(serde_json::from_slice::<Event>(entry?.1.value())?);
            }
            (events, head)
        };
        {
            let mut rows = txn.open_table(ROWS)?;
            let mut cache = Cache::new();
            for event in events.iter().map(|e| self.upcasters.apply(e)).filter(|e| def.matches(e)) {
                fold_into(&def, slot, &event, &rows, &mut cache)?;
            }
            flush(&def, slot, &mut rows, cache, &mut meta)?;
        }
        let last = events.last().map_or(done, |e| e.position);
        let finished = last >= head;
        meta.building = if finished { None } else { Some(last) };
        if finished {
            let slots = read_slots(&txn.open_table(SLOTS)?)?;
            for (other, m) in slots {
                if m.name == meta.name && other != slot {
                    delete_slot(&txn, &other)?;
                }
            }
        }
        write_slot(&txn, slot, &meta)?;
        txn.commit()?;
        Ok(BuildProgress { done: last, head, finished })
    }

    /// The live slot of a view.
    fn live(
        &self,
        txn: &redb::ReadTransaction,
        view: &str,
    ) -> Result<(String, SlotMeta, Arc<ViewDef>), StoreError> {
        let slots = read_slots(&txn.open_table(SLOTS)?)?;
        slots
            .into_iter()
            .find(|(_, m)| m.name == view && m.building.is_none())
            .and_then(|(slot, meta)| Some((slot.clone(), meta, self.def(&slot)?)))
            .ok_or_else(|| StoreError::UnknownView(view.to_owned()))
    }

    /// A consistent snapshot of a view.
    pub fn snapshot(&self, view: &str) -> Result<Snapshot, StoreError> {
        let txn = self.db()?.begin_read()?;
        let (slot, meta, def) = self.live(&txn, view)?;
        let table = txn.open_table(ROWS)?;
        let mut rows = Vec::with_capacity(meta.rows as usize);
        for entry in table.range((slot.as_str(), &[][..])..)? {
            let (k, v) = entry?;
            if k.value().0 != slot {
                break;
            }
            let state: GroupState = serde_json::from_slice(v.value())?;
            if let Some(row) = def.row(&state) {
                rows.push(Row { key: ViewDef::wire_key(&state.keys), row });
            }
        }
        Ok(Snapshot { at: Position { epoch: meta.epoch, version: meta.version }, rows })
    }

    /// The changes a client at `from` missed, or why it must resync.
    pub fn catch_up(&self, view: &str, from: Position) -> Result<Catchup, StoreError> {
        let txn = self.db()?.begin_read()?;
        let (slot, meta, _) = self.live(&txn, view)?;
        if meta.epoch != from.epoch {
            return Ok(Catchup::Resync(ResyncReason::EpochChanged));
        }
        if from.version > meta.version {
            return Ok(Catchup::Resync(ResyncReason::Ahead));
        }
        let table = txn.open_table(CHANGES)?;
        let mut out = Vec::new();
        for entry in table.range((slot.as_str(), from.version + 1)..=(slot.as_str(), meta.version))? {
            let (_, v) = entry?;
            out.push(serde_json::from_slice::<Change>(v.value())?);
        }
        let contiguous = out.first().is_none_or(|c| c.from == from.version)
            && out.len() as u64 == meta.version - from.version;
        if !contiguous {
            return Ok(Catchup::Resync(ResyncReason::TooFarBehind));
        }
        Ok(Catchup::Changes(out, Position { epoch: meta.epoch, version: meta.version }))
    }

    /// Every live view with its SQL, position and size, by name.
    pub fn view_infos(&self) -> Result<Vec<ViewInfo>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let mut out: Vec<ViewInfo> = read_slots(&txn.open_table(SLOTS)?)?
            .into_iter()
            .filter(|(_, m)| m.building.is_none())
            .map(|(_, m)| ViewInfo {
                name: m.name,
                sql: m.sql,
                at: Position { epoch: m.epoch, version: m.version },
                rows: m.rows,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The compiled definition of a live view.
    pub fn view(&self, name: &str) -> Result<Arc<ViewDef>, StoreError> {
        let txn = self.db()?.begin_read()?;
        Ok(self.live(&txn, name)?.2)
    }

    /// Appends a batch and folds it into every live view in one durable commit. Events of the
    /// `$views` stream define (`define_view {sql}`) or drop (`drop_view {name}`) views; their
    /// payloads must have been checked by the caller.
    pub fn commit(&self, batch: &[Append]) -> Result<Committed, StoreError> {
        let mut txn = self.db()?.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        // Every live view, with the rows this batch touches: each event is folded as it is
        // appended, so a guard reads the rows as they stand at its own position.
        let mut folds: Vec<Fold> = read_slots(&txn.open_table(SLOTS)?)?
            .into_iter()
            .filter(|(_, meta)| meta.building.is_none())
            .filter_map(|(slot, meta)| {
                let view = self.def(&slot)?;
                Some(Fold { view, slot, meta, cache: Cache::new(), acked: BTreeSet::new() })
            })
            .collect();
        let mut appended = Vec::with_capacity(batch.len());
        let mut new_events: Vec<Event> = Vec::new();
        {
            let mut log = txn.open_table(LOG)?;
            let mut dedup = txn.open_table(DEDUP)?;
            let rows = txn.open_table(ROWS)?;
            let mut position = log.last()?.map_or(0, |(k, _)| k.value());
            let ts = now_ms();
            for append in batch {
                let key = (append.key.client_id.as_str(), append.key.seq);
                if let Some(seen) = dedup.get(key)? {
                    let (position, events) = seen.value();
                    appended.push(Ok(Appended { position, events, duplicate: true }));
                    continue;
                }
                let decided;
                let events = match &append.guard {
                    None => &append.events,
                    Some(guard) => match guard.decide(&BatchState { folds: &folds, rows: &rows }) {
                        Ok(events) => {
                            decided = events;
                            &decided
                        }
                        Err(rejection) => {
                            appended.push(Err(rejection));
                            continue;
                        }
                    },
                };
                for e in events {
                    position += 1;
                    let event = Event {
                        position,
                        stream: e.stream.clone(),
                        kind: e.kind.clone(),
                        payload: e.payload.clone(),
                        ts,
                        origin: Some(append.key.clone()),
                    };
                    log.insert(position, serde_json::to_vec(&event)?.as_slice())?;
                    // Views see events in their current shape.
                    let lifted = self.upcasters.apply(&event);
                    for fold in folds.iter_mut().filter(|f| f.view.matches(&lifted)) {
                        fold_into(&fold.view, &fold.slot, &lifted, &rows, &mut fold.cache)?;
                        fold.acked.insert(append.key.clone());
                    }
                    drop(lifted);
                    new_events.push(event);
                }
                let last = if events.is_empty() { 0 } else { position };
                let count = events.len() as u32;
                dedup.insert(key, (last, count))?;
                appended.push(Ok(Appended { position: last, events: count, duplicate: false }));
            }
        }
        let views = self.apply_view_events(&txn, &new_events)?;
        // The field index new views are checked against records the lifted shape too.
        let lifted: Vec<std::borrow::Cow<'_, Event>> =
            new_events.iter().map(|e| self.upcasters.apply(e)).collect();
        let new_fields = self.record_fields(&txn, lifted.iter().map(|e| e.as_ref()))?;
        // A view dropped by a `$views` event of this batch keeps nothing of it.
        let live: BTreeSet<String> =
            read_slots(&txn.open_table(SLOTS)?)?.into_iter().map(|(s, _)| s).collect();
        let mut changes = Vec::new();
        {
            let mut rows = txn.open_table(ROWS)?;
            let mut changelog = txn.open_table(CHANGES)?;
            for Fold { view, slot, mut meta, cache, acked } in folds {
                if cache.is_empty() || !live.contains(&slot) {
                    continue;
                }
                let ops = flush(&view, &slot, &mut rows, cache, &mut meta)?;
                if !ops.is_empty() {
                    let change = Change {
                        view: view.name.clone(),
                        epoch: meta.epoch,
                        from: meta.version,
                        to: meta.version + 1,
                        ops,
                        acked: acked.into_iter().collect(),
                    };
                    meta.version += 1;
                    changelog.insert((slot.as_str(), change.to), serde_json::to_vec(&change)?.as_slice())?;
                    if change.to > self.changelog_retention {
                        changelog.remove((slot.as_str(), change.to - self.changelog_retention))?;
                    }
                    changes.push(Arc::new(change));
                }
                // Only groups `HAVING` keeps out may have changed: nothing a client sees.
                write_slot(&txn, &slot, &meta)?;
            }
        }
        txn.commit()?;
        if let Ok(mut known) = self.fields.write() {
            for (stream, field) in new_fields {
                let fields = known.entry(stream).or_default();
                if !field.is_empty() {
                    fields.insert(field);
                }
            }
        }
        Ok(Committed { appended, changes, views })
    }

    /// The payload fields seen in a stream's events; `None` when it has none yet.
    pub fn stream_fields(&self, stream: &str) -> Option<BTreeSet<String>> {
        self.fields.read().ok()?.get(stream).cloned()
    }

    /// Streams that have events, sorted.
    pub fn streams(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.fields.read().map(|f| f.keys().cloned().collect()).unwrap_or_default();
        out.sort();
        out
    }

    /// Records the (stream, field) pairs of new events not seen before; returns them.
    fn record_fields<'e>(
        &self,
        txn: &WriteTransaction,
        events: impl Iterator<Item = &'e Event>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let known = self.fields.read().map_err(|_| StoreError::UnknownView("field index".into()))?;
        let mut new: BTreeSet<(String, String)> = BTreeSet::new();
        for e in events.filter(|e| e.stream != VIEWS_STREAM) {
            let fields = known.get(&e.stream);
            if fields.is_none() {
                new.insert((e.stream.clone(), String::new()));
            }
            if let Value::Object(map) = &e.payload {
                for k in map.keys() {
                    if !fields.is_some_and(|f| f.contains(k)) {
                        new.insert((e.stream.clone(), k.clone()));
                    }
                }
            }
        }
        drop(known);
        if !new.is_empty() {
            let mut table = txn.open_table(FIELDS)?;
            for (stream, field) in &new {
                table.insert((stream.as_str(), field.as_str()), ())?;
            }
        }
        Ok(new.into_iter().collect())
    }

    /// Applies `$views` events: a definition makes a building slot, a drop deletes the view's slots.
    fn apply_view_events(
        &self,
        txn: &WriteTransaction,
        events: &[Event],
    ) -> Result<Vec<ViewChange>, StoreError> {
        let mut out = Vec::new();
        for event in events.iter().filter(|e| e.stream == VIEWS_STREAM) {
            match (event.kind.as_str(), event.payload.get("sql"), event.payload.get("name")) {
                ("define_view", Some(Value::String(sql)), _) => {
                    let def =
                        parse_view(sql).map_err(|e| StoreError::BadDefinition("(runtime)".into(), e))?;
                    // A slot still building for the same name is superseded.
                    let slots = read_slots(&txn.open_table(SLOTS)?)?;
                    for (other, m) in slots {
                        if m.name == def.name && m.building.is_some() {
                            delete_slot(txn, &other)?;
                        }
                    }
                    txn.open_table(DEFINED)?
                        .insert(def.name.as_str(), serde_json::to_vec(&Some(&def.sql))?.as_slice())?;
                    let name = def.name.clone();
                    let (_, epoch) = self.new_slot(txn, Arc::new(def))?;
                    out.push(ViewChange::Building { name, epoch });
                }
                ("drop_view", _, Some(Value::String(name))) => {
                    let slots = read_slots(&txn.open_table(SLOTS)?)?;
                    for (slot, m) in slots {
                        if &m.name == name {
                            delete_slot(txn, &slot)?;
                        }
                    }
                    txn.open_table(DEFINED)?
                        .insert(name.as_str(), serde_json::to_vec(&None::<String>)?.as_slice())?;
                    out.push(ViewChange::Dropped { name: name.clone() });
                }
                ("define_command", _, _) if event.payload.get("spec").is_some_and(Value::is_string) => {
                    let spec = event.payload["spec"].as_str().unwrap_or_default().to_owned();
                    let name = event.payload.get("name").and_then(Value::as_str).unwrap_or_default();
                    txn.open_table(DEFINED_COMMANDS)?
                        .insert(name, serde_json::to_vec(&Some(&spec))?.as_slice())?;
                    out.push(ViewChange::CommandDefined { spec });
                }
                ("drop_command", _, Some(Value::String(name))) => {
                    txn.open_table(DEFINED_COMMANDS)?
                        .insert(name.as_str(), serde_json::to_vec(&None::<String>)?.as_slice())?;
                    out.push(ViewChange::CommandDropped { name: name.clone() });
                }
                _ => tracing::warn!(position = event.position, "ignoring a malformed {VIEWS_STREAM} event"),
            }
        }
        Ok(out)
    }

    /// The commands defined (route spec) or dropped (`None`) at runtime, by name.
    pub fn defined_commands(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(DEFINED_COMMANDS)?.iter()? {
            let (name, spec) = entry?;
            out.push((name.value().to_owned(), serde_json::from_slice(spec.value())?));
        }
        Ok(out)
    }

    /// The slot being built for a view at an epoch.
    pub fn slot(name: &str, epoch: u64) -> String {
        slot_name(name, epoch)
    }

    /// The position of a live view (for the marker published when a build goes live).
    pub fn position(&self, view: &str) -> Result<Position, StoreError> {
        let txn = self.db()?.begin_read()?;
        let (_, meta, _) = self.live(&txn, view)?;
        Ok(Position { epoch: meta.epoch, version: meta.version })
    }
}

/// The rows a batch touched: whether each was in the view before the batch, and its state now.
type Cache = BTreeMap<Vec<u8>, (bool, GroupState)>;

/// One live view during a commit: the rows the batch touched so far, and the commands it carries.
struct Fold {
    view: Arc<ViewDef>,
    slot: String,
    meta: SlotMeta,
    cache: Cache,
    acked: BTreeSet<CommandRef>,
}

/// The view rows as they stand in the middle of a commit: what the batch touched so far, over
/// the stored rows.
struct BatchState<'a> {
    folds: &'a [Fold],
    rows: &'a redb::Table<'a, (&'static str, &'static [u8]), &'static [u8]>,
}

impl ViewState for BatchState<'_> {
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
fn fold_into(
    view: &ViewDef,
    slot: &str,
    event: &Event,
    rows: &redb::Table<'_, (&str, &[u8]), &[u8]>,
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
fn flush(
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

impl EventLog for Store {
    type Error = StoreError;

    fn append(&self, batch: &[Append]) -> Result<Vec<Result<Appended, Rejection>>, StoreError> {
        Ok(self.commit(batch)?.appended)
    }

    fn read_after(&self, position: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let log = txn.open_table(LOG)?;
        let mut out = Vec::new();
        for entry in log.range(position + 1..)?.take(limit) {
            let (_, v) = entry?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    fn head(&self) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_read()?;
        let log = txn.open_table(LOG)?;
        Ok(log.last()?.map_or(0, |(k, _)| k.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::NewEvent;
    use crate::sql::parse_views;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const VIEWS: &str = "
        CREATE VIEW orders AS SELECT order_id, LAST(customer) AS customer, SUM(total) AS total,
            LAST(type) AS status, COUNT(*) AS n, MIN(total) AS lo, MAX(total) AS hi, AVG(total) AS avg
            FROM orders GROUP BY order_id;
        CREATE VIEW by_region AS SELECT region, type, COUNT(total) AS n, SUM(total) AS revenue, FIRST(customer) AS first
            FROM orders WHERE total > 3 OR type <> 'place_order' GROUP BY region, type;
        CREATE VIEW total AS SELECT COUNT(*) AS n, SUM(total) AS revenue FROM orders;
        CREATE VIEW busy AS SELECT region, COUNT(*) AS n FROM orders GROUP BY region
            HAVING COUNT(*) > 3 AND SUM(total) > 10 AND region <> 'us';
        CREATE VIEW feed AS SELECT order_id, total FROM orders WHERE total >= 5;
        CREATE VIEW other AS SELECT COUNT(*) AS n FROM elsewhere;";

    fn open(dir: &Path) -> Store {
        let mut store = Store::open(dir).expect("open store");
        store.set_changelog_retention(1_000_000);
        store.install_views(parse_views(VIEWS).expect("valid views"), |_, _, _| {}).expect("install");
        store
    }

    fn append(client: &str, seq: u64, kind: &str, payload: Value) -> Append {
        Append {
            key: CommandRef { client_id: client.into(), seq },
            events: vec![NewEvent { stream: "orders".into(), kind: kind.into(), payload }],
            guard: None,
        }
    }

    fn rows(snapshot: &Snapshot) -> BTreeMap<String, serde_json::Map<String, Value>> {
        snapshot.rows.iter().map(|r| (r.key.to_string(), r.row.clone())).collect()
    }

    /// The view rebuilt by replaying its changelog from version 0.
    fn replayed(store: &Store, view: &str, epoch: u64) -> BTreeMap<String, serde_json::Map<String, Value>> {
        let Catchup::Changes(changes, _) =
            store.catch_up(view, Position { epoch, version: 0 }).expect("catch up")
        else {
            panic!("changelog should reach back to version 0");
        };
        let mut out = BTreeMap::new();
        for c in changes {
            for op in c.ops {
                match op {
                    Op::Upsert { key, row } => out.insert(key.to_string(), row),
                    Op::Remove { key } => out.remove(&key.to_string()),
                };
            }
        }
        out
    }

    fn arb_event() -> impl Strategy<Value = (String, Value)> {
        let kind = prop::sample::select(vec!["place_order", "pay_order", "ship_order", "note"]);
        let order = 0u8..12;
        let total = prop_oneof![
            Just(Value::Null),
            (0i64..20).prop_map(Value::from),
            (0.0f64..10.0).prop_map(|f| json!(f))
        ];
        let customer = prop::option::of(prop::sample::select(vec!["Ada", "نور", "דנה"]));
        let region = prop::sample::select(vec!["eu", "us", "mena"]);
        (kind, order, total, customer, region).prop_map(|(kind, order, total, customer, region)| {
            let mut payload = json!({ "order_id": format!("o-{order}"), "region": region, "total": total });
            if let Some(c) = customer {
                payload["customer"] = json!(c);
            }
            (kind.to_owned(), payload)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Incremental views, whatever the batching, equal the views recomputed from the whole log,
        /// and equal the changelog replayed from the start.
        #[test]
        fn incremental_equals_recomputed(events in prop::collection::vec(arb_event(), 0..120), cuts in prop::collection::vec(1usize..20, 1..10)) {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = open(dir.path());
            let mut batches = Vec::new();
            let mut rest = events.as_slice();
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                batches.push(&rest[..n]);
                rest = &rest[n..];
                i += 1;
            }
            let mut seq = 0;
            for batch in batches {
                let appends: Vec<_> = batch.iter().map(|(kind, payload)| { seq += 1; append("c", seq, kind, payload.clone()) }).collect();
                store.commit(&appends).expect("commit");
            }
            let log = store.read_after(0, usize::MAX).expect("read log");
            prop_assert_eq!(log.len(), events.len());
            for view in store.views().expect("views") {
                let snapshot = store.snapshot(&view.name).expect("snapshot");
                let expected = crate::view::recompute(&view, &log);
                prop_assert_eq!(&rows(&snapshot), &expected, "view {}", view.name);
                prop_assert_eq!(&replayed(&store, &view.name, snapshot.at.epoch), &expected, "changelog of {}", view.name);
            }
        }
    }

    #[test]
    fn appends_are_idempotent_by_client_and_seq() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let place = |seq| append("c1", seq, "place_order", json!({"order_id": "o-1", "total": 5}));
        let first = store.commit(&[place(1), place(1)]).expect("commit");
        assert_eq!(first.appended[0], Ok(Appended { position: 1, events: 1, duplicate: false }));
        assert_eq!(first.appended[1], Ok(Appended { position: 1, events: 1, duplicate: true }));
        let again = store.commit(&[place(1), place(2)]).expect("commit");
        assert!(again.appended[0].as_ref().is_ok_and(|a| a.duplicate));
        assert_eq!(again.appended[1], Ok(Appended { position: 2, events: 1, duplicate: false }));
        assert_eq!(store.head().expect("head"), 2);
        let orders = store.snapshot("orders").expect("snapshot");
        assert_eq!(orders.rows[0].row["total"], json!(10));
    }

    #[test]
    fn a_guard_reads_the_rows_as_they_stand_at_its_own_position_in_the_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        store
            .install_views(parse_views(crate::demo::VIEWS_SQL).expect("demo views"), |_, _, _| {})
            .expect("install");
        let commands = crate::demo::commands();
        let guarded = |seq, name: &str, id: &str| {
            let payload = json!({"order_id": id, "customer": "Ada", "total": 5});
            let Ok(crate::commands::Plan::Guarded(guard)) = commands.plan(name, &payload) else {
                panic!("{name} is decided against the view")
            };
            Append { key: CommandRef { client_id: "c".into(), seq }, events: vec![], guard: Some(guard) }
        };
        // One batch: place, pay, then cancel and pay again racing on the paid order; a pay of an
        // unknown order; then a ship of the paid one.
        let c = store
            .commit(&[
                guarded(1, "place_order", "o-1"),
                guarded(2, "pay_order", "o-1"),
                guarded(3, "pay_order", "o-1"),
                guarded(4, "pay_order", "o-404"),
                guarded(5, "place_order", "o-1"),
                guarded(6, "ship_order", "o-1"),
                guarded(7, "cancel_order", "o-1"),
            ])
            .expect("commit");
        let codes: Vec<Option<ErrorCode>> =
            c.appended.iter().map(|a| a.as_ref().err().map(|r| r.code)).collect();
        use ErrorCode::{NotFound, Rejected};
        assert_eq!(codes, [None, None, Some(Rejected), Some(NotFound), Some(Rejected), None, Some(Rejected)]);
        // Positions follow only what was appended; rejected commands left nothing.
        let positions: Vec<u64> =
            c.appended.iter().filter_map(|a| a.as_ref().ok()).map(|a| a.position).collect();
        assert_eq!(positions, [1, 2, 3]);
        assert_eq!(store.head().expect("head"), 3);
        let orders = c.changes.iter().find(|c| c.view == "orders").expect("orders changed");
        let acked: Vec<u64> = orders.acked.iter().map(|a| a.seq).collect();
        assert_eq!(acked, [1, 2, 6]);
        // A rejected seq keeps no dedup entry: sent again once it is allowed, it is applied.
        let c = store.commit(&[guarded(3, "place_order", "o-2")]).expect("commit");
        assert_eq!(c.appended[0], Ok(Appended { position: 4, events: 1, duplicate: false }));
        let status = |id: &str| {
            let snapshot = store.snapshot("orders").expect("snapshot");
            snapshot.rows.iter().find(|r| r.key == id).map(|r| r.row["status"].clone())
        };
        assert_eq!(status("o-1"), Some(json!("shipped")));
        assert_eq!(status("o-2"), Some(json!("placed")));
    }

    #[test]
    fn changes_carry_versions_ops_and_acks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let c = store
            .commit(&[append("a", 1, "place_order", json!({"order_id": "o-1", "total": 5, "region": "eu"}))])
            .expect("commit");
        let orders = c.changes.iter().find(|c| c.view == "orders").expect("orders changed");
        assert_eq!((orders.from, orders.to), (0, 1));
        assert_eq!(orders.acked, vec![CommandRef { client_id: "a".into(), seq: 1 }]);
        assert!(matches!(&orders.ops[..], [Op::Upsert { key, row }] if key == "o-1" && row["total"] == 5));
        assert!(c.changes.iter().all(|c| c.view != "other"), "a view of another stream is untouched");
    }

    #[test]
    fn resume_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        store.set_changelog_retention(3);
        store.install_views(parse_views(VIEWS).expect("valid"), |_, _, _| {}).expect("install");
        for seq in 1..=5 {
            store
                .commit(&[append("a", seq, "place_order", json!({"order_id": "o-1", "total": 1}))])
                .expect("commit");
        }
        let epoch = store.snapshot("orders").expect("snapshot").at.epoch;
        let check = |version, expected: Result<(u64, u64), ResyncReason>| {
            let got = match store.catch_up("orders", Position { epoch, version }).expect("catch up") {
                Catchup::Changes(changes, now) => Ok((changes.len() as u64, now.version)),
                Catchup::Resync(reason) => Err(reason),
            };
            assert_eq!(got, expected, "resume from {version}");
        };
        check(5, Ok((0, 5)));
        check(3, Ok((2, 5)));
        check(2, Ok((3, 5)));
        check(1, Err(ResyncReason::TooFarBehind));
        check(6, Err(ResyncReason::Ahead));
        let other = store.catch_up("orders", Position { epoch: epoch + 1, version: 5 }).expect("catch up");
        assert_eq!(other, Catchup::Resync(ResyncReason::EpochChanged));
    }

    #[test]
    fn reopening_keeps_views_and_a_changed_definition_rebuilds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = {
            let store = open(dir.path());
            for seq in 1..=50 {
                let payload = json!({"order_id": format!("o-{}", seq % 7), "total": seq, "region": "eu"});
                store.commit(&[append("a", seq, "place_order", payload)]).expect("commit");
            }
            store.snapshot("orders").expect("snapshot")
        };
        let store = open(dir.path());
        assert_eq!(store.snapshot("orders").expect("snapshot"), before, "same rows, epoch and version");
        drop(store);

        let mut store = Store::open(dir.path()).expect("open");
        let changed = VIEWS.replace("SUM(total) AS total", "SUM(total * 2) AS total");
        let mut progress = Vec::new();
        let rebuilt = store
            .install_views(parse_views(&changed).expect("valid"), |v, done, head| {
                progress.push((v.to_owned(), done, head))
            })
            .expect("install");
        assert_eq!(rebuilt, vec!["orders".to_owned()]);
        assert!(progress.contains(&("orders".to_owned(), 50, 50)), "{progress:?}");
        let after = store.snapshot("orders").expect("snapshot");
        assert_ne!(after.at.epoch, before.at.epoch);
        assert_eq!(after.rows.len(), before.rows.len());
        for (a, b) in after.rows.iter().zip(&before.rows) {
            assert_eq!(a.row["total"].as_i64(), b.row["total"].as_i64().map(|t| t * 2));
        }
    }

    fn meta_event(kind: &str, payload: Value, seq: u64) -> Append {
        Append {
            key: CommandRef { client_id: VIEWS_STREAM.into(), seq },
            events: vec![NewEvent { stream: VIEWS_STREAM.into(), kind: kind.into(), payload }],
            guard: None,
        }
    }

    fn build(store: &Store, committed: &Committed) -> Vec<u64> {
        let mut epochs = Vec::new();
        for change in &committed.views {
            if let ViewChange::Building { name, epoch } = change {
                let slot = Store::slot(name, *epoch);
                while !store.build_step(&slot).expect("build").finished {}
                epochs.push(*epoch);
            }
        }
        epochs
    }

    #[test]
    fn views_defined_replaced_and_dropped_at_runtime_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        for seq in 1..=30 {
            let payload = json!({"order_id": format!("o-{}", seq % 4), "total": seq, "region": "eu"});
            store.commit(&[append("a", seq, "place_order", payload)]).expect("commit");
        }
        let sql = "CREATE VIEW top AS SELECT order_id, MAX(total) AS hi FROM orders GROUP BY order_id";
        let defined = store.commit(&[meta_event("define_view", json!({ "sql": sql }), 1)]).expect("define");
        assert!(store.snapshot("top").is_err(), "not live before it is built");
        let epoch = build(&store, &defined)[0];
        let top = store.snapshot("top").expect("live");
        assert_eq!((top.at.epoch, top.rows.len()), (epoch, 4));
        let log = store.read_after(0, usize::MAX).expect("log");
        let view = store.view("top").expect("view");
        let rows: BTreeMap<_, _> = top.rows.iter().map(|r| (r.key.to_string(), r.row.clone())).collect();
        assert_eq!(rows, crate::view::recompute(&view, &log));

        // Replace: the old build stays live until the new one has caught up, then swaps.
        let replacement =
            "CREATE OR REPLACE VIEW top AS SELECT order_id, MIN(total) AS lo FROM orders GROUP BY order_id";
        let replaced =
            store.commit(&[meta_event("define_view", json!({ "sql": replacement }), 2)]).expect("replace");
        store
            .commit(&[append("a", 31, "place_order", json!({"order_id": "o-9", "total": 1}))])
            .expect("commit");
        let during = store.snapshot("top").expect("old still live");
        assert_eq!(during.at.epoch, epoch);
        assert_eq!(during.rows.len(), 5, "the old build keeps folding");
        let new_epoch = build(&store, &replaced)[0];
        let after = store.snapshot("top").expect("new live");
        assert_eq!(after.at.epoch, new_epoch);
        assert!(
            after.rows.iter().all(|r| r.row.contains_key("lo") && !r.row.contains_key("hi")),
            "no mixed rows"
        );
        assert_eq!(after.rows.len(), 5, "events during the build are in the new build");

        // Drop a view from the file; restart with the same file: runtime decisions stand.
        store.commit(&[meta_event("drop_view", json!({ "name": "total" }), 3)]).expect("drop");
        assert!(matches!(store.snapshot("total"), Err(StoreError::UnknownView(_))));
        drop(store);
        let store = open(dir.path());
        assert!(store.snapshot("total").is_err(), "still dropped");
        assert_eq!(store.snapshot("top").expect("top").at.epoch, new_epoch, "kept, not rebuilt");
        let names: Vec<_> = store.view_infos().expect("infos").into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["busy", "by_region", "feed", "orders", "other", "top"]);
    }

    #[test]
    fn the_fields_of_each_stream_are_known_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = open(dir.path());
            assert_eq!(store.stream_fields("orders"), None);
            store
                .commit(&[append("a", 1, "place_order", json!({"order_id": "o-1", "total": 1}))])
                .expect("commit");
            store
                .commit(&[append("a", 2, "place_order", json!({"order_id": "o-2", "customer": "Ada"}))])
                .expect("commit");
        }
        let store = open(dir.path());
        let fields: Vec<String> = store.stream_fields("orders").expect("known").into_iter().collect();
        assert_eq!(fields, ["customer", "order_id", "total"]);
        assert_eq!(store.streams(), ["orders"]);
    }

    #[test]
    fn a_view_over_two_streams_folds_both_by_their_shared_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let sql = "CREATE VIEW balance AS SELECT order_id, SUM(total) AS billed, SUM(amount) AS paid, \
                   COUNT(*) AS events FROM orders, payments GROUP BY order_id";
        store.install_views(parse_views(sql).expect("valid"), |_, _, _| {}).expect("install");
        let event = |stream: &str, seq, payload| Append {
            key: CommandRef { client_id: "a".into(), seq },
            events: vec![NewEvent { stream: stream.into(), kind: "e".into(), payload }],
            guard: None,
        };
        store
            .commit(&[
                event("orders", 1, json!({"order_id": "o-1", "total": 50})),
                event("payments", 2, json!({"order_id": "o-1", "amount": 20})),
                event("payments", 3, json!({"order_id": "o-1", "amount": 30})),
                event("elsewhere", 4, json!({"order_id": "o-1", "amount": 999})),
            ])
            .expect("commit");
        let snapshot = store.snapshot("balance").expect("snapshot");
        assert_eq!(
            Value::Object(snapshot.rows[0].row.clone()),
            json!({"order_id": "o-1", "billed": 50, "paid": 50, "events": 3})
        );
    }

    #[test]
    fn upcasters_lift_old_events_live_and_when_building() {
        let dir = tempfile::tempdir().expect("tempdir");
        let upcasters = || {
            Upcasters::new().register("orders", "place_order", 1, |mut p| {
                let cents = p["amount_cents"].as_i64().unwrap_or(0);
                p["total"] = json!(cents / 100);
                p
            })
        };
        let sql = "CREATE VIEW totals AS SELECT order_id, SUM(total) AS total FROM orders GROUP BY order_id";
        {
            let mut store = Store::open(dir.path()).expect("open");
            store.set_upcasters(upcasters());
            store.install_views(parse_views(sql).expect("valid"), |_, _, _| {}).expect("install");
            store
                .commit(&[
                    append("a", 1, "place_order", json!({"order_id": "o-1", "amount_cents": 4200})),
                    append("a", 2, "place_order", json!({"order_id": "o-1", "total": 8, "$v": 2})),
                ])
                .expect("commit");
            assert_eq!(store.snapshot("totals").expect("snapshot").rows[0].row["total"], json!(50));
            let raw = store.read_after(0, 1).expect("log");
            assert_eq!(
                raw[0].payload,
                json!({"order_id": "o-1", "amount_cents": 4200}),
                "the log keeps what was appended"
            );
        }
        // A view built from that log later sees the same shape.
        let mut store = Store::open(dir.path()).expect("open");
        store.set_upcasters(upcasters());
        let other = "CREATE VIEW big AS SELECT COUNT(*) AS n FROM orders WHERE total > 10";
        store
            .install_views(parse_views(&format!("{sql}; {other}")).expect("valid"), |_, _, _| {})
            .expect("install");
        assert_eq!(store.snapshot("big").expect("snapshot").rows[0].row["n"], json!(1));
    }
}
