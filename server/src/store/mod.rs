//! The embedded store: one redb file holding the event log, the dedup index, view rows, each
//! view's changelog and metadata.
//!
//! A batch of appends, the view rows it changes (or the changelog entries that hold them, see
//! `rows`), the changelog entries it adds and each view's version are written in **one** write
//! transaction committed with `Durability::Immediate` (fsync): a crash never leaves the views
//! and the log apart, and whatever was acked survives. Many commands share one commit (group
//! commit, see `engine`).
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

use lucarne_protocol::{CommandRef, Position, ResyncReason, Row, ViewInfo};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::commands::Rejection;
use crate::log::{Append, Appended, Event, EventLog};
use crate::sql::{Shape, ViewDef, parse_view};
use crate::upcast::Upcasters;

mod change;
mod codec;
mod defined;
mod fold;
mod push;
mod replica;
mod rows;

use replica::sql_epoch;
pub use replica::{Decision, REPLICA_SYNC_EVERY};

pub use change::{Change, UnreadableChange};
pub use codec::DecodeError;
use fold::{BatchState, Dirty, EventKeys, Fold, Working, flush, fold_into};
pub use push::{Pending, Planned, PushPlan};
#[cfg(test)]
use rows::SHARED_ROWS;
use rows::{Hot, Lease, ReadSlotRows, SlotRows, move_shared_rows, read_slot_rows, rows_table, slot_rows};
pub use rows::{RowCacheLimits, SnapshotFrames, SnapshotPart};

const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const DEDUP: TableDefinition<'_, (&str, u64), (u64, u32)> = TableDefinition::new("dedup");
const SLOTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("slots");
const CHANGES: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("changelog");
/// The top-level payload fields seen in each stream: `(stream, field)`; `(stream, "")` marks
/// a stream that has events.
const FIELDS: TableDefinition<'_, (&str, &str), ()> = TableDefinition::new("fields");
/// Views defined or dropped at runtime: name → SQL, or `null` for dropped.
const DEFINED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("defined");
/// Commands defined or dropped at runtime: name → route spec, or `null` for dropped.
const DEFINED_COMMANDS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("defined_commands");
/// Search indexes defined (`CREATE SEARCH INDEX …`) or dropped (`null`) at runtime, by name.
const DEFINED_SEARCHES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("defined_searches");
/// A node's place in its cluster's stream: `"stream"` (its name and creation time, JSON) and
/// `"applied"` (the last stream sequence folded, 8 bytes big-endian), written in the commit that
/// folds the messages.
const REPLICA: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("replica");
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
    /// A stored binary record could not be decoded.
    #[error("store: corrupt record: {0}")]
    CorruptBinary(#[from] rmp_serde::decode::Error),
    /// A stored record of the store's own encoding could not be decoded.
    #[error("store: corrupt record: {0}")]
    CorruptRecord(#[from] codec::DecodeError),
    /// A row a change touched was not in memory when its changelog entry was written (a bug).
    #[error("store: a row a change touched left memory before its entry was written")]
    RowLeftMemory,
    /// No such view.
    #[error("no view named {0:?}")]
    UnknownView(String),
    /// A stored definition no longer compiles.
    #[error("stored definition of {0:?} is invalid: {1}")]
    BadDefinition(String, crate::sql::SqlError),
    /// The database is closed while it is being reopened.
    #[error("store: closed while it reopens after an I/O error")]
    Reopening,
    /// The store belongs to another log: a single node's own, or another cluster stream.
    #[error("store: {0}")]
    OtherLog(String),
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

/// How a store numbers the epochs and versions of its views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numbering {
    /// One node with its own log: a random epoch per build; a version counts the commits that
    /// changed the view (one per group commit).
    #[default]
    Commits,
    /// A node of a cluster, folding the cluster's stream: epochs and versions are functions of
    /// the log, so every node that folded the same messages gives the same ones. A view from the
    /// server's file has the epoch of its SQL (a hash), one defined at runtime the position of its
    /// `define_view` event; a version is the position of the last event folded into the view, so
    /// a change goes from the position of the view's previous change to its own (`to` may be
    /// more than `from + 1`). Each change's ops are the rows' final states, so a client at any
    /// version `v` with `from <= v < to` may apply it: a client resumes on any node.
    Log,
}

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
    /// Changelog entries kept ([`Numbering::Log`], whose versions have gaps).
    #[serde(default)]
    changes: u64,
    /// Set while rows newer than the rows table are in memory (see `rows`): the version the
    /// rows table holds; the changelog entries after it hold the rest.
    #[serde(default)]
    checkpoint: Option<u64>,
    /// Row states in the changelog entries after the checkpoint.
    #[serde(default)]
    journal: u64,
}

fn slot_name(name: &str, epoch: u64) -> String {
    format!("{name}#{epoch}")
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
#[derive(Debug, PartialEq)]
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
        /// The append that defined it (its requester follows the build under this key).
        origin: Option<CommandRef>,
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
    /// A search index was defined at runtime (`define_search {name, sql}` in `$views`).
    SearchDefined {
        /// The index.
        name: String,
        /// Its definition (`CREATE SEARCH INDEX …`).
        sql: String,
    },
    /// A search index was dropped.
    SearchDropped {
        /// The index.
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
    /// The position of the log's last event after the commit.
    pub head: u64,
    /// The cluster stream's sequence folded through ([`Store::replicate`]; 0 otherwise).
    pub sequence: u64,
    /// Pushes written to the outbox (see `push`).
    pub pushed: usize,
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
    numbering: Numbering,
    /// When a cluster node's copy of the stream was last synced to disk.
    last_synced: std::sync::Mutex<std::time::Instant>,
    /// View rows kept in memory between commits (see `rows`).
    hot: std::sync::Mutex<Hot>,
    /// What decides a commit's pushes (see `push`); none: no push is planned.
    push_plan: std::sync::OnceLock<Arc<dyn PushPlan>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A fresh epoch: random, non-zero, exact in a JavaScript number.
fn new_epoch() -> u64 {
    rand::random_range(1..(1u64 << 53))
}

/// The key a row is stored under: order-preserving for feeds (big-endian position), the key's
/// JSON text for grouped views.
fn store_key(view: &ViewDef, keys: &[Value]) -> Vec<u8> {
    if let (Shape::Feed, [Value::Number(n)]) = (view.shape, keys) {
        return n.as_u64().unwrap_or(0).to_be_bytes().to_vec();
    }
    // The JSON text of `ViewDef::wire_key(keys)`, written without copying the keys into it.
    let json = match keys {
        [] => Ok(b"null".to_vec()),
        [one] => serde_json::to_vec(one),
        many => serde_json::to_vec(many),
    };
    // A `Value` always serializes (its map keys are strings).
    json.unwrap_or_else(|_| ViewDef::wire_key(keys).to_string().into_bytes())
}

/// Writes the key of the row `event` folds into, as [`store_key`] gives it, into `out`
/// (without building the key's values: fields of the payload are written where they are).
fn write_store_key(out: &mut Vec<u8>, view: &ViewDef, event: &Event) {
    let json = |out: &mut Vec<u8>, key: &crate::expr::Expr| {
        let value = crate::view::event_value(key, event);
        // A `Value` always serializes (its map keys are strings).
        let start = out.len();
        if serde_json::to_writer(&mut *out, value.as_ref()).is_err() {
            out.truncate(start);
            out.extend_from_slice(value.to_string().as_bytes());
        }
    };
    match (view.shape, view.keys.as_slice()) {
        (Shape::Feed, _) => out.extend_from_slice(&event.position.to_be_bytes()),
        (Shape::Grouped, []) => out.extend_from_slice(b"null"),
        (Shape::Grouped, [one]) => json(out, one),
        (Shape::Grouped, many) => {
            out.push(b'[');
            for (i, key) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json(out, key);
            }
            out.push(b']');
        }
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
    txn.delete_table(TableDefinition::<&[u8], &[u8]>::new(&rows_table(slot)))?;
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
        if move_shared_rows(&txn)? {
            tracing::info!("view rows moved into a table per view slot");
        }
        {
            txn.open_table(LOG)?;
            txn.open_table(DEDUP)?;
            txn.open_table(CHANGES)?;
            txn.open_table(DEFINED)?;
            txn.open_table(DEFINED_COMMANDS)?;
            txn.open_table(DEFINED_SEARCHES)?;
            txn.open_table(SLOTS)?;
            txn.open_table(FIELDS)?;
            txn.open_table(REPLICA)?;
            txn.open_table(push::REGISTRATIONS)?;
            txn.open_table(push::OUTBOX)?;
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
            numbering: Numbering::Commits,
            last_synced: std::sync::Mutex::new(std::time::Instant::now()),
            hot: std::sync::Mutex::new(Hot::default()),
            push_plan: std::sync::OnceLock::new(),
        })
        .and_then(|store| {
            store.write_back_all()?;
            Ok(store)
        })
    }

    /// How many view rows are kept in memory (see [`RowCacheLimits`]).
    pub fn set_row_cache(&mut self, limits: RowCacheLimits) {
        self.hot().limits = limits;
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
        drop(slot);
        probe?;
        // A commit that failed may still have reached the disk: the rows in memory are not
        // trusted, the journal is.
        self.write_back_all()
    }

    /// Lifts events through these upcasters before every fold (see [`Upcasters`]).
    pub fn set_upcasters(&mut self, upcasters: Upcasters) {
        self.upcasters = upcasters;
    }

    /// How many changes per view are kept for resuming clients.
    pub fn set_changelog_retention(&mut self, entries: u64) {
        self.changelog_retention = entries.max(1);
    }

    /// How epochs and versions are numbered from now on (a cluster node: [`Numbering::Log`]).
    pub fn set_numbering(&mut self, numbering: Numbering) {
        self.numbering = numbering;
    }

    /// How this store numbers epochs and versions.
    pub fn numbering(&self) -> Numbering {
        self.numbering
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
                let epoch = match self.numbering {
                    Numbering::Commits => new_epoch(),
                    Numbering::Log => sql_epoch(&def.sql),
                };
                let (slot, _) = self.new_slot(&txn, def.clone(), epoch)?;
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

    /// Creates an empty building slot for a definition under an epoch.
    fn new_slot(
        &self,
        txn: &WriteTransaction,
        def: Arc<ViewDef>,
        epoch: u64,
    ) -> Result<(String, u64), StoreError> {
        let slot = slot_name(&def.name, epoch);
        let meta = SlotMeta {
            name: def.name.clone(),
            sql: def.sql.clone(),
            epoch,
            version: 0,
            rows: 0,
            building: Some(0),
            changes: 0,
            checkpoint: None,
            journal: 0,
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
            let mut rows = slot_rows(&txn, slot)?;
            let mut work = Working::default();
            let mut keys = EventKeys::new([def.as_ref()]);
            for event in events.iter().map(|e| self.upcasters.apply(e)).filter(|e| def.matches(e)) {
                keys.next_event();
                fold_into(&def, &event, keys.key(0, &def, &event), &rows, &mut work)?;
                if self.numbering == Numbering::Log {
                    // The position of the last event folded in, whatever the chunks.
                    meta.version = event.position;
                }
            }
            flush(&def, &mut rows, &mut work, &mut meta)?;
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
        let (at, def, states) = self.snapshot_states(view)?;
        let rows = states
            .iter()
            .filter_map(|state| Some(Row { key: ViewDef::wire_key(&state.keys), row: def.row(state)? }))
            .collect();
        Ok(Snapshot { at, rows })
    }

    /// The changes a client at `from` missed, or why it must resync.
    pub fn catch_up(&self, view: &str, from: Position) -> Result<Catchup, StoreError> {
        let txn = self.db()?.begin_read()?;
        let (slot, meta, def) = self.live(&txn, view)?;
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
            out.push(rows::change_of(v.value(), &def, meta.epoch)?);
        }
        let contiguous = match self.numbering {
            Numbering::Commits => {
                out.first().is_none_or(|c| c.from == from.version)
                    && out.len() as u64 == meta.version - from.version
            }
            // Versions are positions: the first change missed starts at or before the client's
            // version (nothing changed in between), and each follows the one before.
            Numbering::Log => {
                out.first().is_none_or(|c| c.from <= from.version)
                    && out.windows(2).all(|w| w[1].from == w[0].to)
                    && out.last().map_or(from.version, |c| c.to) == meta.version
            }
        };
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
        self.commit_with(batch.iter().map(|a| (a, None)), None)
    }

    fn commit_with<'a>(
        &self,
        batch: impl ExactSizeIterator<Item = (&'a Append, Option<u64>)>,
        through: Option<u64>,
    ) -> Result<Committed, StoreError> {
        let mut txn = self.db()?.begin_write()?;
        txn.set_durability(self.durability(through.is_some()))?;
        // Until this commit is durable, the rows in memory it folds into are forgotten by any
        // failure (`Lease`); a failure before left them stale, and the journal is written back.
        let mut hot = Lease::new(self.hot());
        if hot.stale {
            hot.clear();
            self.write_journals_back(&txn)?;
        }
        // Every live view, with its rows in memory: each event is folded into them as it is
        // appended, so a guard reads the rows as they stand at its own position.
        let mut folds = self.live_folds(&txn.open_table(SLOTS)?)?;
        for fold in &mut folds {
            fold.work.rows = hot.take(&fold.slot);
        }
        let mut dirty = Dirty {
            limits: hot.limits,
            rows: hot.dirty() + folds.iter().map(|f| f.work.rows.dirty).sum::<usize>(),
        };
        let mut appended = Vec::with_capacity(batch.len());
        let mut new_events: Vec<Event> = Vec::new();
        let mut changes = Vec::new();
        let head;
        {
            let mut log = txn.open_table(LOG)?;
            let mut dedup = txn.open_table(DEDUP)?;
            // Each fold's rows table, in the folds' order.
            let mut rows = folds.iter().map(|f| slot_rows(&txn, &f.slot)).collect::<Result<Vec<_>, _>>()?;
            let mut changelog = txn.open_table(CHANGES)?;
            let mut position = log.last()?.map_or(0, |(k, _)| k.value());
            let now = now_ms();
            // The batch's commands that appended, in order: a fold's `acked` holds their places.
            let mut keys: Vec<&CommandRef> = Vec::with_capacity(batch.len());
            let mut event_keys = EventKeys::new(folds.iter().map(|f| f.view.as_ref()));
            for (append, stamped) in batch {
                let ts = stamped.unwrap_or(now);
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
                    let event = e.at(position, ts, &append.key);
                    log.insert(position, serde_json::to_vec(&event)?.as_slice())?;
                    // Views see events in their current shape.
                    let lifted = self.upcasters.apply(&event);
                    event_keys.next_event();
                    let each = folds.iter_mut().zip(&rows).enumerate();
                    for (i, (fold, stored)) in each.filter(|(_, (f, _))| f.view.matches(&lifted)) {
                        let key = event_keys.key(i, &fold.view, &lifted);
                        fold_into(&fold.view, &lifted, key, stored, &mut fold.work)?;
                        if fold.acked.last() != Some(&keys.len()) {
                            fold.acked.push(keys.len());
                        }
                        fold.last = position;
                    }
                    drop(lifted);
                    new_events.push(event);
                }
                let last = if events.is_empty() { 0 } else { position };
                // A command appends far fewer events than this (`limits`); saturated, never wrapped.
                let count = u32::try_from(events.len()).unwrap_or(u32::MAX);
                dedup.insert(key, (last, count))?;
                appended.push(Ok(Appended { position: last, events: count, duplicate: false }));
                keys.push(&append.key);
                if self.numbering == Numbering::Log {
                    // One change per command: every node sends the same deltas, however its
                    // commits group the stream's messages.
                    for (fold, rows) in folds.iter_mut().zip(rows.iter_mut()) {
                        changes.extend(self.close(fold, rows, &mut changelog, &mut dirty, &keys)?);
                    }
                }
            }
            for (fold, rows) in folds.iter_mut().zip(rows.iter_mut()) {
                changes.extend(self.close(fold, rows, &mut changelog, &mut dirty, &keys)?);
            }
            head = position;
        }
        let views = self.apply_view_events(&txn, &new_events)?;
        // The field index new views are checked against records the lifted shape too.
        let lifted: Vec<std::borrow::Cow<'_, Event>> =
            new_events.iter().map(|e| self.upcasters.apply(e)).collect();
        let new_fields = self.record_fields(&txn, lifted.iter().map(|e| e.as_ref()))?;
        // A view dropped by a `$views` event of this batch keeps nothing of it (its rows and
        // changes went with its slot).
        let live: BTreeSet<String> =
            read_slots(&txn.open_table(SLOTS)?)?.into_iter().map(|(s, _)| s).collect();
        for fold in folds.iter().filter(|f| f.changed && live.contains(&f.slot)) {
            write_slot(&txn, &fold.slot, &fold.meta)?;
        }
        changes.retain(|c: &Arc<Change>| live.contains(&slot_name(&c.view, c.epoch)));
        // The pushes these changes cause, durable with them.
        let pushed = match self.push_plan.get() {
            Some(plan) => push::write_planned(&txn, plan.as_ref(), &changes)?,
            None => 0,
        };
        if let Some(through) = through {
            txn.open_table(REPLICA)?.insert("applied", through.to_be_bytes().as_slice())?;
        }
        txn.commit()?;
        for fold in folds.into_iter().filter(|f| live.contains(&f.slot)) {
            hot.put(fold.slot, fold.work.rows);
        }
        hot.trim(&live);
        hot.keep();
        if let Ok(mut known) = self.fields.write() {
            for (stream, field) in new_fields {
                let fields = known.entry(stream).or_default();
                if !field.is_empty() {
                    fields.insert(field);
                }
            }
        }
        Ok(Committed { appended, changes, views, head, sequence: through.unwrap_or(0), pushed })
    }

    /// A fold, touching nothing yet, of every live view.
    fn live_folds(
        &self,
        slots: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<Vec<Fold>, StoreError> {
        Ok(read_slots(slots)?
            .into_iter()
            .filter(|(_, meta)| meta.building.is_none())
            .filter_map(|(slot, meta)| {
                let view = self.def(&slot)?;
                let (work, acked) = (Working::default(), Vec::new());
                Some(Fold { view, slot, meta, work, acked, last: 0, changed: false })
            })
            .collect())
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
mod tests;
