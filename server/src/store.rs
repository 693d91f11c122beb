//! The embedded store: one redb file holding the event log, the dedup index, view rows, each
//! view's changelog and metadata.
//!
//! A batch of appends, the view rows it changes, the changelog entries it adds and each view's
//! version are written in **one** write transaction committed with `Durability::Immediate`
//! (fsync): a crash never leaves the views and the log apart, and whatever was acked survives.
//! Many commands share one commit (group commit, see `engine`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lucarne_protocol::{CommandRef, Op, Position, ResyncReason, Row, ViewInfo};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::log::{Append, Appended, Event, EventLog};
use crate::sql::{FEED_RETENTION, Shape, ViewDef};
use crate::view::GroupState;

const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const DEDUP: TableDefinition<'_, (&str, u64), (u64, u32)> = TableDefinition::new("dedup");
const VIEWS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("views");
const ROWS: TableDefinition<'_, (&str, &[u8]), &[u8]> = TableDefinition::new("view_rows");
const CHANGES: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("changelog");

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

/// A view's stored metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ViewMeta {
    sql: String,
    epoch: u64,
    version: u64,
    rows: u64,
    /// Set while the view is being built from the log: the last position folded so far.
    #[serde(default)]
    building: Option<u64>,
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
    /// Version after (`from + 1`).
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

/// What one committed batch did.
#[derive(Debug, Default)]
pub struct Committed {
    /// One outcome per append, in order.
    pub appended: Vec<Appended>,
    /// The view changes, to publish to subscribers.
    pub changes: Vec<Arc<Change>>,
}

/// The embedded store.
pub struct Store {
    db: Database,
    views: Vec<Arc<ViewDef>>,
    changelog_retention: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("views", &self.views.len()).finish_non_exhaustive()
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
fn store_key(view: &ViewDef, keys: &[serde_json::Value]) -> Vec<u8> {
    match (view.shape, keys) {
        (Shape::Feed, [serde_json::Value::Number(n)]) => n.as_u64().unwrap_or(0).to_be_bytes().to_vec(),
        _ => ViewDef::wire_key(keys).to_string().into_bytes(),
    }
}

impl Store {
    /// Opens (or creates) the store in a directory.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(redb::Error::Io(e)))?;
        let db = Database::create(dir.join("lucarne.redb"))?;
        let txn = db.begin_write()?;
        {
            txn.open_table(LOG)?;
            txn.open_table(DEDUP)?;
            txn.open_table(VIEWS)?;
            txn.open_table(ROWS)?;
            txn.open_table(CHANGES)?;
        }
        txn.commit()?;
        Ok(Store { db, views: Vec::new(), changelog_retention: 10_000 })
    }

    /// How many changes per view are kept for resuming clients.
    pub fn set_changelog_retention(&mut self, entries: u64) {
        self.changelog_retention = entries.max(1);
    }

    /// The views this store maintains.
    pub fn views(&self) -> &[Arc<ViewDef>] {
        &self.views
    }

    /// Installs the set of views: a view whose SQL is unchanged keeps its data, epoch and
    /// version; a new or changed one is built from the whole log under a new epoch; a stored
    /// view not in the set is dropped. Returns the names of the views that were (re)built.
    pub fn install_views(
        &mut self,
        defs: Vec<ViewDef>,
        mut progress: impl FnMut(&str, u64, u64),
    ) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut rebuilt = Vec::new();
        {
            let mut metas = txn.open_table(VIEWS)?;
            let mut rows = txn.open_table(ROWS)?;
            let mut changes = txn.open_table(CHANGES)?;
            let stored: Vec<(String, ViewMeta)> = metas
                .iter()?
                .map(|r| -> Result<_, StoreError> {
                    let (k, v) = r?;
                    Ok((k.value().to_owned(), serde_json::from_slice(v.value())?))
                })
                .collect::<Result<_, _>>()?;
            for (name, meta) in &stored {
                let keep = defs.iter().any(|d| &d.name == name && d.sql == meta.sql);
                if !keep {
                    rows.retain_in((name.as_str(), &[][..]).., |k, _| k.0 != name)?;
                    changes.retain_in((name.as_str(), 0)..=(name.as_str(), u64::MAX), |k, _| k.0 != name)?;
                    metas.remove(name.as_str())?;
                }
            }
            for def in &defs {
                let unchanged = stored.iter().any(|(n, m)| n == &def.name && m.sql == def.sql);
                if !unchanged {
                    let meta = ViewMeta {
                        sql: def.sql.clone(),
                        epoch: new_epoch(),
                        version: 0,
                        rows: 0,
                        building: Some(0),
                    };
                    metas.insert(def.name.as_str(), serde_json::to_vec(&meta)?.as_slice())?;
                    rebuilt.push(def.name.clone());
                }
            }
        }
        txn.commit()?;
        self.views = defs.into_iter().map(Arc::new).collect();
        self.finish_builds(&mut progress)?;
        Ok(rebuilt)
    }

    /// Folds the log into every view still being built, in chunks, each chunk one commit.
    fn finish_builds(&self, progress: &mut impl FnMut(&str, u64, u64)) -> Result<(), StoreError> {
        const CHUNK: usize = 5000;
        let head = self.head()?;
        for view in &self.views {
            loop {
                let txn = self.db.begin_write()?;
                let mut meta = read_meta(&txn, &view.name)?;
                let Some(done) = meta.building else { break };
                let events = self.read_after(done, CHUNK)?;
                {
                    let mut rows = txn.open_table(ROWS)?;
                    let mut cache = Cache::new();
                    for event in events.iter().filter(|e| view.matches(e)) {
                        fold_into(view, event, &rows, &mut cache)?;
                    }
                    flush(view, &mut rows, cache, &mut meta)?;
                }
                let last = events.last().map_or(done, |e| e.position);
                progress(&view.name, last, head);
                meta.building = if events.len() < CHUNK { None } else { Some(last) };
                write_meta(&txn, &view.name, &meta)?;
                txn.commit()?;
            }
        }
        Ok(())
    }

    /// A consistent snapshot of a view.
    pub fn snapshot(&self, view: &str) -> Result<Snapshot, StoreError> {
        let def = self.view(view)?;
        let txn = self.db.begin_read()?;
        let meta: ViewMeta = {
            let metas = txn.open_table(VIEWS)?;
            let raw = metas.get(view)?.ok_or_else(|| StoreError::UnknownView(view.to_owned()))?;
            serde_json::from_slice(raw.value())?
        };
        let table = txn.open_table(ROWS)?;
        let mut rows = Vec::with_capacity(meta.rows as usize);
        for entry in table.range((view, &[][..])..)? {
            let (k, v) = entry?;
            if k.value().0 != view {
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
        self.view(view)?;
        let txn = self.db.begin_read()?;
        let meta: ViewMeta = {
            let metas = txn.open_table(VIEWS)?;
            let raw = metas.get(view)?.ok_or_else(|| StoreError::UnknownView(view.to_owned()))?;
            serde_json::from_slice(raw.value())?
        };
        if meta.epoch != from.epoch {
            return Ok(Catchup::Resync(ResyncReason::EpochChanged));
        }
        if from.version > meta.version {
            return Ok(Catchup::Resync(ResyncReason::Ahead));
        }
        let table = txn.open_table(CHANGES)?;
        let mut out = Vec::new();
        for entry in table.range((view, from.version + 1)..=(view, meta.version))? {
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

    /// Every view with its SQL, position and size.
    pub fn view_infos(&self) -> Result<Vec<ViewInfo>, StoreError> {
        let txn = self.db.begin_read()?;
        let metas = txn.open_table(VIEWS)?;
        let mut out = Vec::new();
        for view in &self.views {
            let Some(raw) = metas.get(view.name.as_str())? else {
                continue;
            };
            let meta: ViewMeta = serde_json::from_slice(raw.value())?;
            out.push(ViewInfo {
                name: view.name.clone(),
                sql: meta.sql,
                at: Position { epoch: meta.epoch, version: meta.version },
                rows: meta.rows,
            });
        }
        Ok(out)
    }

    /// The compiled definition of a view.
    pub fn view(&self, name: &str) -> Result<&Arc<ViewDef>, StoreError> {
        self.views.iter().find(|v| v.name == name).ok_or_else(|| StoreError::UnknownView(name.to_owned()))
    }

    /// Appends a batch and folds it into every view in one durable commit.
    pub fn commit(&self, batch: &[Append]) -> Result<Committed, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut appended = Vec::with_capacity(batch.len());
        let mut new_events: Vec<Event> = Vec::new();
        {
            let mut log = txn.open_table(LOG)?;
            let mut dedup = txn.open_table(DEDUP)?;
            let mut position = log.last()?.map_or(0, |(k, _)| k.value());
            let ts = now_ms();
            for append in batch {
                let key = (append.key.client_id.as_str(), append.key.seq);
                if let Some(seen) = dedup.get(key)? {
                    let (position, events) = seen.value();
                    appended.push(Appended { position, events, duplicate: true });
                    continue;
                }
                for e in &append.events {
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
                    new_events.push(event);
                }
                let last = if append.events.is_empty() { 0 } else { position };
                let count = append.events.len() as u32;
                dedup.insert(key, (last, count))?;
                appended.push(Appended { position: last, events: count, duplicate: false });
            }
        }
        let mut changes = Vec::new();
        {
            let mut rows = txn.open_table(ROWS)?;
            let mut changelog = txn.open_table(CHANGES)?;
            for view in &self.views {
                let matching: Vec<&Event> = new_events.iter().filter(|e| view.matches(e)).collect();
                if matching.is_empty() {
                    continue;
                }
                let mut meta = read_meta(&txn, &view.name)?;
                if meta.building.is_some() {
                    continue; // folded by `finish_builds`
                }
                let mut cache = Cache::new();
                let mut acked = BTreeSet::new();
                for event in matching {
                    fold_into(view, event, &rows, &mut cache)?;
                    if let Some(origin) = &event.origin {
                        acked.insert(origin.clone());
                    }
                }
                let ops = flush(view, &mut rows, cache, &mut meta)?;
                if ops.is_empty() {
                    // Only groups `HAVING` keeps out changed: nothing a client sees.
                    write_meta(&txn, &view.name, &meta)?;
                    continue;
                }
                let change = Change {
                    view: view.name.clone(),
                    epoch: meta.epoch,
                    from: meta.version,
                    to: meta.version + 1,
                    ops,
                    acked: acked.into_iter().collect(),
                };
                meta.version += 1;
                changelog.insert((view.name.as_str(), change.to), serde_json::to_vec(&change)?.as_slice())?;
                if change.to > self.changelog_retention {
                    changelog.remove((view.name.as_str(), change.to - self.changelog_retention))?;
                }
                write_meta(&txn, &view.name, &meta)?;
                changes.push(Arc::new(change));
            }
        }
        txn.commit()?;
        Ok(Committed { appended, changes })
    }
}

/// The rows a batch touched: whether each was in the view before the batch, and its state now.
type Cache = BTreeMap<Vec<u8>, (bool, GroupState)>;

/// Folds one event into the batch's cache of touched rows.
fn fold_into(
    view: &ViewDef,
    event: &Event,
    rows: &redb::Table<'_, (&str, &[u8]), &[u8]>,
    cache: &mut Cache,
) -> Result<(), StoreError> {
    let key = store_key(view, &view.key_values(event));
    let (was_visible, state) = match cache.remove(&key) {
        Some((was_visible, state)) => (was_visible, Some(state)),
        None => match rows.get((view.name.as_str(), key.as_slice()))? {
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
    rows: &mut redb::Table<'_, (&str, &[u8]), &[u8]>,
    cache: Cache,
    meta: &mut ViewMeta,
) -> Result<Vec<Op>, StoreError> {
    let mut ops = Vec::with_capacity(cache.len());
    for (key, (was_visible, state)) in cache {
        rows.insert((view.name.as_str(), key.as_slice()), serde_json::to_vec(&state)?.as_slice())?;
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
                .range((view.name.as_str(), &[][..])..)?
                .next()
                .transpose()?
                .filter(|(k, _)| k.value().0 == view.name)
                .map(|(k, _)| k.value().1.to_vec());
            let Some(oldest) = oldest else { break };
            rows.remove((view.name.as_str(), oldest.as_slice()))?;
            meta.rows -= 1;
            let key = u64::from_be_bytes(oldest.as_slice().try_into().unwrap_or([0; 8]));
            let key = serde_json::Value::from(key);
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

fn read_meta(txn: &redb::WriteTransaction, view: &str) -> Result<ViewMeta, StoreError> {
    let metas = txn.open_table(VIEWS)?;
    let raw = metas.get(view)?.ok_or_else(|| StoreError::UnknownView(view.to_owned()))?;
    Ok(serde_json::from_slice(raw.value())?)
}

fn write_meta(txn: &redb::WriteTransaction, view: &str, meta: &ViewMeta) -> Result<(), StoreError> {
    txn.open_table(VIEWS)?.insert(view, serde_json::to_vec(meta)?.as_slice())?;
    Ok(())
}

impl EventLog for Store {
    type Error = StoreError;

    fn append(&self, batch: &[Append]) -> Result<Vec<Appended>, StoreError> {
        Ok(self.commit(batch)?.appended)
    }

    fn read_after(&self, position: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let txn = self.db.begin_read()?;
        let log = txn.open_table(LOG)?;
        let mut out = Vec::new();
        for entry in log.range(position + 1..)?.take(limit) {
            let (_, v) = entry?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    fn head(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
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
            for view in store.views() {
                let snapshot = store.snapshot(&view.name).expect("snapshot");
                let expected = crate::view::recompute(view, &log);
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
        assert_eq!(first.appended[0], Appended { position: 1, events: 1, duplicate: false });
        assert_eq!(first.appended[1], Appended { position: 1, events: 1, duplicate: true });
        let again = store.commit(&[place(1), place(2)]).expect("commit");
        assert!(again.appended[0].duplicate);
        assert_eq!(again.appended[1], Appended { position: 2, events: 1, duplicate: false });
        assert_eq!(store.head().expect("head"), 2);
        let orders = store.snapshot("orders").expect("snapshot");
        assert_eq!(orders.rows[0].row["total"], json!(10));
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
}
