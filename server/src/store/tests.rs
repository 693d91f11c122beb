use super::*;
use crate::log::NewEvent;
use crate::sql::parse_views;
use crate::view::GroupState;
use lucarne_protocol::{ErrorCode, Op};
use proptest::prelude::*;
use rows::decode_state;
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

/// An order desk's `orders` view, its status from the lifecycle's events.
const ORDERS: &str = "
    CREATE VIEW orders AS SELECT order_id, LAST(customer) AS customer,
        LAST(CASE type WHEN 'place_order' THEN 'placed' WHEN 'pay_order' THEN 'paid'
                       WHEN 'ship_order' THEN 'shipped' WHEN 'cancel_order' THEN 'cancelled' END) AS status
        FROM orders GROUP BY order_id;";

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
        for op in c.ops().expect("ops").iter().cloned() {
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
    /// The key an event's row is stored under is the same whether written from the event
    /// (each view's, shared by the views that group alike) or from the row's key values.
    #[test]
    fn an_events_stored_key_is_its_rows_key(events in prop::collection::vec(arb_event(), 1..20)) {
        let views = parse_views(&format!("{VIEWS}
            CREATE VIEW pairs AS SELECT region, order_id, COUNT(*) AS n FROM orders GROUP BY region, order_id;
            CREATE VIEW same AS SELECT order_id, MAX(total) AS hi FROM orders GROUP BY order_id;
            CREATE VIEW computed AS SELECT total * 2 AS twice, COUNT(*) AS n FROM orders GROUP BY total * 2;"))
            .expect("views");
        let mut keys = fold::EventKeys::new(views.iter());
        for (position, (kind, payload)) in (1..).zip(events) {
            let event = NewEvent { stream: "orders".into(), kind, payload }
                .at(position, 7, &CommandRef { client_id: "c".into(), seq: position });
            keys.next_event();
            for (i, view) in views.iter().enumerate() {
                prop_assert_eq!(keys.key(i, view, &event).to_vec(), store_key(view, &view.key_values(&event)), "{}", view.name);
            }
        }
    }

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// Rows kept dirty in memory, written back under small budgets or when retention needs it,
    /// forgotten when over the cache's size, and a store closed and opened again (its journal
    /// written back) between commits: after every commit each view's snapshot equals the view
    /// recomputed from the log, and a changelog that reaches back to the start replays to it.
    #[test]
    fn rows_in_memory_and_their_journal_are_the_views_rows(
        events in prop::collection::vec(arb_event(), 1..100),
        cuts in prop::collection::vec(1usize..12, 1..8),
        reopen in prop::collection::vec(prop::bool::weighted(0.2), 1..16),
        (cached, dirty, journal) in (1usize..40, 1usize..30, 1u64..40),
        retention in prop_oneof![Just(1_000_000u64), 1u64..12],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = RowCacheLimits { rows: cached, dirty, journal };
        let open_small = || {
            let mut store = open(dir.path());
            store.set_changelog_retention(retention);
            store.set_row_cache(limits);
            store
        };
        let mut store = open_small();
        let (mut seq, mut done, mut commits) = (0, 0, 0);
        while done < events.len() {
            let n = cuts[commits % cuts.len()].min(events.len() - done);
            let appends: Vec<_> = events[done..done + n]
                .iter()
                .map(|(kind, payload)| { seq += 1; append("c", seq, kind, payload.clone()) })
                .collect();
            store.commit(&appends).expect("commit");
            done += n;
            commits += 1;
            if reopen[commits % reopen.len()] {
                drop(store);
                store = open_small();
            }
            let log = store.read_after(0, usize::MAX).expect("read log");
            for view in store.views().expect("views") {
                let snapshot = store.snapshot(&view.name).expect("snapshot");
                let expected = crate::view::recompute(&view, &log);
                prop_assert_eq!(&rows(&snapshot), &expected, "view {} after {} commits", view.name, commits);
                // The same rows as ready-made frames: the text encoding them gives.
                let chunk = 1 + commits % 4;
                let frames = store.snapshot_frames(&view.name, 3, chunk).expect("frames");
                let encoded: Vec<String> = snapshot
                    .rows
                    .chunks(chunk)
                    .map(|rows| lucarne_protocol::encode(&lucarne_protocol::ServerMessage::SnapshotRows(
                        lucarne_protocol::SnapshotRows { sub: 3, rows: rows.to_vec().into() },
                    )))
                    .collect();
                prop_assert_eq!(frames.at, snapshot.at);
                prop_assert_eq!(frames.rows, snapshot.rows.len() as u64);
                prop_assert_eq!(frames.frames, encoded, "frames of {}", view.name);
                if retention > commits as u64 {
                    prop_assert_eq!(&replayed(&store, &view.name, snapshot.at.epoch), &expected, "changelog of {}", view.name);
                }
            }
        }
    }
}

#[test]
fn a_commit_that_fails_after_folding_leaves_nothing_of_itself_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let place =
        |seq, id: &str, total| append("c", seq, "place_order", json!({"order_id": id, "total": total}));
    // Kept dirty in memory: the rows table is a checkpoint before them.
    store.commit(&[place(1, "o-1", 5), place(2, "o-2", 3)]).expect("commit");
    store.commit(&[place(3, "o-1", 1)]).expect("commit");
    let before = rows(&store.snapshot("orders").expect("snapshot"));
    // Folded into the rows in memory, then the commit fails on the bad definition after it.
    let mut failing = place(4, "o-1", 100);
    failing.events.push(NewEvent {
        stream: VIEWS_STREAM.into(),
        kind: "define_view".into(),
        payload: json!({ "sql": "CREATE VIEW broken AS SELEC" }),
    });
    assert!(matches!(store.commit(&[failing]), Err(StoreError::BadDefinition(..))));
    assert_eq!(rows(&store.snapshot("orders").expect("snapshot")), before);
    let committed = store.commit(&[place(4, "o-1", 2)]).expect("commit");
    let change = committed.changes.iter().find(|c| c.view == "orders").expect("a change to orders");
    let [Op::Upsert { row, .. }] = change.ops().expect("ops") else { panic!("one upsert: {change:?}") };
    assert_eq!((&row["total"], &row["n"]), (&json!(8), &json!(3)), "5 + 1 + 2 in three events");
    let after = rows(&store.snapshot("orders").expect("snapshot"));
    assert_eq!(after[r#""o-1""#]["total"], json!(8));
    assert_eq!(after[r#""o-2""#]["total"], json!(3));
    assert_eq!(replayed(&store, "orders", change.epoch), after);
    drop(store);
    assert_eq!(rows(&open(dir.path()).snapshot("orders").expect("snapshot")), after);
}

/// A change as the changelog stored it before entries held rows.
fn legacy(change: &Change) -> Value {
    json!({"view": change.view, "epoch": change.epoch, "from": change.from, "to": change.to,
           "ops": change.ops().expect("ops"), "acked": change.acked})
}

/// How an older version wrote rows and changelog entries.
#[derive(Debug, Clone, Copy)]
enum Older {
    /// JSON rows, and changes with their ops (before entries held rows).
    Json,
    /// MessagePack after the tag byte 1.
    MessagePack,
}

/// A store written by an older version — its rows in one table for all views, as JSON or as
/// MessagePack, its changelog entries likewise — still reads once opened: its rows are moved
/// into a table per view, and its snapshots, its changelog and a fold over a stored row are
/// what they were.
#[test]
fn rows_and_changes_written_by_older_versions_still_read() {
    check_older(Older::Json);
    check_older(Older::MessagePack);
}

fn check_older(older: Older) {
    let dir = tempfile::tempdir().expect("tempdir");
    let place = |seq, order: &str, total| {
        append("c", seq, "place_order", json!({"order_id": order, "total": total, "region": "eu"}))
    };
    let store = open(dir.path());
    store.commit(&[place(1, "o-1", 5), place(2, "o-2", 4), place(3, "o-3", 9)]).expect("commit");
    let names = ["orders", "by_region", "total", "busy", "feed"];
    let before: Vec<_> = names.iter().map(|v| rows(&store.snapshot(v).expect("snapshot"))).collect();
    assert!(before.iter().filter(|rows| !rows.is_empty()).count() >= 4, "rows in several views");
    let epoch = store.snapshot("orders").expect("snapshot").at.epoch;
    let from = Position { epoch, version: 0 };
    let Catchup::Changes(changes, _) = store.catch_up("orders", from).expect("catch up") else {
        panic!("the change is kept");
    };
    drop(store);
    drop(open(dir.path())); // writes the journal back into the rows table
    {
        let db = Database::create(dir.path().join("lucarne.redb")).expect("database");
        let txn = db.begin_write().expect("write");
        {
            let slots = read_slots(&txn.open_table(SLOTS).expect("slots")).expect("slots");
            let mut shared = txn.open_table(SHARED_ROWS).expect("the shared rows table");
            let mut moved = 0;
            for (slot, meta) in &slots {
                assert_eq!(meta.checkpoint, None, "opening wrote the rows back");
                let name = rows_table(slot);
                let definition = TableDefinition::<&[u8], &[u8]>::new(&name);
                let table = txn.open_table(definition).expect("rows");
                let stored: Vec<(Vec<u8>, Vec<u8>)> = table
                    .iter()
                    .expect("rows")
                    .map(|e| e.expect("row"))
                    .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                    .collect();
                drop(table);
                for (key, raw) in stored {
                    assert_eq!(raw.first(), Some(&codec::STATE), "written in the store's own encoding");
                    let state: GroupState = decode_state(&raw).expect("state");
                    let written = match older {
                        Older::Json => serde_json::to_vec(&state).expect("json"),
                        Older::MessagePack => rows::encode_message_pack(&state),
                    };
                    shared.insert((slot.as_str(), key.as_slice()), written.as_slice()).expect("insert");
                    moved += 1;
                }
                assert!(txn.delete_table(definition).expect("delete"), "{slot} had a rows table");
            }
            assert!(moved >= 6, "{moved} rows written as an older version would");
            let (slot, _) = slots.iter().find(|(_, m)| m.name == "orders").expect("orders");
            let mut changelog = txn.open_table(CHANGES).expect("changelog");
            let entry = match older {
                Older::Json => serde_json::to_vec(&legacy(&changes[0])).expect("json"),
                Older::MessagePack => {
                    let raw =
                        changelog.get((slot.as_str(), 1)).expect("get").expect("entry").value().to_vec();
                    assert_eq!(raw.first(), Some(&codec::ENTRY), "written in the store's own encoding");
                    let codec::EntryIn { from, to, acked, rows } =
                        codec::read_entry_bytes(&raw[1..]).expect("entry");
                    rows::encode_message_pack(&rows::Entry { from, to, acked, rows })
                }
            };
            changelog.insert((slot.as_str(), 1), entry.as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let store = open(dir.path());
    let after: Vec<_> = names.iter().map(|v| rows(&store.snapshot(v).expect("snapshot"))).collect();
    assert_eq!(after, before, "{older:?}");
    let Catchup::Changes(again, _) = store.catch_up("orders", from).expect("catch up") else {
        panic!("the change is kept");
    };
    assert_eq!(again, changes);
    store.commit(&[place(4, "o-1", 2)]).expect("commit");
    let orders = rows(&store.snapshot("orders").expect("snapshot"));
    assert_eq!(orders[r#""o-1""#]["total"], json!(7), "folded over the row an older version wrote");
    drop(store);
    let db = Database::create(dir.path().join("lucarne.redb")).expect("database");
    let txn = db.begin_read().expect("read");
    assert!(
        matches!(txn.open_table(SHARED_ROWS), Err(redb::TableError::TableDoesNotExist(_))),
        "the shared table is gone once its rows moved"
    );
    drop(txn);
    let txn = db.begin_write().expect("write");
    assert!(!move_shared_rows(&txn).expect("looked for"), "nothing to move a second time");
    assert!(
        !txn.list_tables().expect("tables").any(|t| redb::TableHandle::name(&t) == "view_rows"),
        "looking made no table"
    );
}

/// A feed keeps its newest rows past its retention, whatever the batches: a batch bigger than
/// the retention drops some of its own rows before anyone sees them, and the changelog replays
/// to the same rows.
#[test]
fn a_feed_keeps_its_newest_rows_whatever_the_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut seq = 0;
    for size in [700, 1, 1500, 299, 1200] {
        let batch: Vec<_> = (0..size)
            .map(|i| {
                seq += 1;
                append("c", seq, "place_order", json!({"order_id": format!("o-{seq}"), "total": 5 + i % 3}))
            })
            .collect();
        let committed = store.commit(&batch).expect("commit");
        let change = committed.changes.iter().find(|c| c.view == "feed").expect("the feed changed");
        let upserted = change.ops().expect("ops").iter().filter(|op| matches!(op, Op::Upsert { .. })).count();
        let kept = usize::try_from(crate::sql::FEED_RETENTION).expect("retention fits");
        assert_eq!(upserted, size.min(kept), "rows of a batch of {size} seen");
    }
    let log = store.read_after(0, usize::MAX).expect("log");
    let feed = store.view("feed").expect("feed");
    let snapshot = store.snapshot("feed").expect("snapshot");
    let expected = crate::view::recompute(&feed, &log);
    assert_eq!(expected.len() as u64, crate::sql::FEED_RETENTION);
    assert_eq!(rows(&snapshot), expected);
    assert_eq!(replayed(&store, "feed", snapshot.at.epoch), expected);
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
    store.install_views(parse_views(ORDERS).expect("views"), |_, _, _| {}).expect("install");
    // An order's lifecycle as routes with preconditions on the `orders` view.
    let commands = [
        "orders:place_order ON orders(order_id) NEW",
        "orders:pay_order ON orders(order_id) WHEN status = 'placed'",
        "orders:ship_order ON orders(order_id) WHEN status = 'paid'",
        "orders:cancel_order ON orders(order_id) WHEN status = 'placed' OR status = 'paid'",
    ]
    .into_iter()
    .try_fold(crate::Commands::new(), |commands, route| crate::commands::parse_routes(route, commands))
    .expect("routes");
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
    let codes: Vec<Option<ErrorCode>> = c.appended.iter().map(|a| a.as_ref().err().map(|r| r.code)).collect();
    use ErrorCode::{NotFound, Rejected};
    assert_eq!(codes, [None, None, Some(Rejected), Some(NotFound), Some(Rejected), None, Some(Rejected)]);
    // Positions follow only what was appended; rejected commands left nothing.
    let positions: Vec<u64> = c.appended.iter().filter_map(|a| a.as_ref().ok()).map(|a| a.position).collect();
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
    assert!(
        matches!(orders.ops().expect("ops"), [Op::Upsert { key, row }] if key == "o-1" && row["total"] == 5)
    );
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
        if let ViewChange::Building { name, epoch, .. } = change {
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
    store.commit(&[append("a", 31, "place_order", json!({"order_id": "o-9", "total": 1}))]).expect("commit");
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
    {
        let db = Database::create(dir.path().join("lucarne.redb")).expect("database");
        let txn = db.begin_read().expect("read");
        let tables: Vec<String> =
            txn.list_tables().expect("tables").map(|t| redb::TableHandle::name(&t).to_owned()).collect();
        assert!(tables.iter().any(|t| t.starts_with(&rows_table("orders#"))), "{tables:?}");
        assert!(
            !tables.iter().any(|t| t.starts_with(&rows_table("total#"))),
            "the dropped view's rows went: {tables:?}"
        );
    }
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

/// A cluster node's store: views numbered from the log.
fn node(dir: &Path, views: bool) -> Store {
    let mut store = Store::open(dir).expect("open store");
    store.set_numbering(Numbering::Log);
    store.set_changelog_retention(1_000_000);
    if views {
        store.install_views(parse_views(VIEWS).expect("valid views"), |_, _, _| {}).expect("install");
    }
    store
}

/// Folds `messages` as a node would, in commits of the sizes `cuts` gives in turn; returns
/// every change it made.
fn replicate_in(store: &Store, messages: &[(Append, u64)], cuts: &[usize]) -> Vec<Arc<Change>> {
    let (mut out, mut i, mut cuts) = (Vec::new(), 0, cuts.iter().cycle());
    while i < messages.len() {
        let n = (*cuts.next().expect("cuts")).min(messages.len() - i);
        let committed = store.replicate(&messages[i..i + n], (i + n) as u64).expect("replicate");
        assert_eq!(committed.sequence, (i + n) as u64);
        out.extend(committed.changes);
        i += n;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// On cluster nodes, epochs and versions are functions of the log: two nodes that fold the
    /// same messages in different commits make the same changes, a node that builds its views
    /// later reaches the same positions, and a client at any version one node gave it resumes
    /// on another with the changes it missed.
    #[test]
    fn cluster_nodes_number_views_from_the_log(
        events in prop::collection::vec(arb_event(), 1..60),
        cuts_a in prop::collection::vec(1usize..8, 1..6),
        cuts_b in prop::collection::vec(1usize..30, 1..6),
    ) {
        let messages: Vec<(Append, u64)> = events
            .iter()
            .enumerate()
            .map(|(i, (kind, payload))| (append("c", i as u64 + 1, kind, payload.clone()), 1_000 + i as u64))
            .collect();
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
        let (a, b) = (node(dirs[0].path(), true), node(dirs[1].path(), true));
        let changes_a = replicate_in(&a, &messages, &cuts_a);
        let changes_b = replicate_in(&b, &messages, &cuts_b);
        prop_assert_eq!(&changes_a, &changes_b, "the same deltas, whatever the commits");
        prop_assert_eq!(a.applied().expect("applied"), messages.len() as u64);
        let infos = a.view_infos().expect("views");
        prop_assert_eq!(&infos, &b.view_infos().expect("views"));

        // A node that copied the log first and builds its views after, in chunks.
        let c = node(dirs[2].path(), false);
        replicate_in(&c, &messages, &[7]);
        let mut c = c;
        c.install_views(parse_views(VIEWS).expect("valid views"), |_, _, _| {}).expect("install");
        prop_assert_eq!(&c.view_infos().expect("views"), &infos, "built later, same positions");
        for info in &infos {
            let (sa, sc) = (a.snapshot(&info.name).expect("snapshot"), c.snapshot(&info.name).expect("snapshot"));
            prop_assert_eq!(rows(&sa), rows(&sc));
        }

        // Every version a client of `a` could hold, resumed on `b`.
        for change in &changes_a {
            for version in change.from..change.to {
                let from = Position { epoch: change.epoch, version };
                let Catchup::Changes(missed, at) = b.catch_up(&change.view, from).expect("catch up") else {
                    panic!("{} at {version} must resume", change.view);
                };
                prop_assert_eq!(missed.first(), Some(&**change));
                let info = infos.iter().find(|i| i.name == change.view).expect("view");
                prop_assert_eq!(at, info.at);
            }
        }
    }
}

/// A snapshot handed out as it is written: where it stands and how many rows first, then its
/// frames; the reading stops as soon as the receiver stops taking them.
#[test]
fn a_snapshot_is_handed_out_frame_by_frame_and_stops_when_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let batch: Vec<Append> = (0..50)
        .map(|i| {
            append(
                "c",
                i + 1,
                "place_order",
                json!({ "order_id": format!("o-{i:02}"), "total": 1, "region": "eu" }),
            )
        })
        .collect();
    store.commit(&batch).expect("commit");
    fn check(store: &Store, take: usize, expected: &[&str]) {
        let mut seen = Vec::new();
        store
            .snapshot_parts("orders", 1, 20, |part| {
                seen.push(match part {
                    SnapshotPart::Begin { rows, .. } => format!("begin {rows}"),
                    SnapshotPart::Frame(text) => format!("frame {}", text.matches("\"key\"").count()),
                    SnapshotPart::End => "end".to_owned(),
                });
                seen.len() < take
            })
            .expect("snapshot");
        assert_eq!(seen, expected, "taking {take}");
    }
    check(&store, usize::MAX, &["begin 50", "frame 20", "frame 20", "frame 10", "end"]);
    check(&store, 2, &["begin 50", "frame 20"]);
    check(&store, 1, &["begin 50"]);
}
