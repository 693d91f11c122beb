//! Differential test: for random event sequences, each view maintained incrementally by the
//! store == the view recomputed from the whole log == SQLite running the same SELECT over the
//! same events (with FIRST and LAST registered as aggregates that skip NULLs).

use std::collections::BTreeMap;

use lucarne_protocol::CommandRef;
use lucarne_server::Store;
use lucarne_server::log::{Append, Event, EventLog, NewEvent};
use lucarne_server::sql::{ViewDef, parse_views};
use lucarne_server::view::recompute;
use proptest::prelude::*;
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::Value as Sql;
use serde_json::{Map, Value, json};

const VIEWS: &str = "
    CREATE VIEW orders AS SELECT order_id, LAST(customer) AS customer, SUM(total) AS total,
        LAST(type) AS status, FIRST(region) AS region, COUNT(*) AS n, COUNT(customer) AS named
        FROM orders GROUP BY order_id;
    CREATE VIEW stats AS SELECT region, type, MIN(total) AS lo, MAX(total) AS hi, AVG(total) AS avg,
        SUM(total * 2 + 1) AS weird FROM orders WHERE total IS NOT NULL AND type <> 'note' GROUP BY region, type;
    CREATE VIEW big AS SELECT region, COUNT(*) AS n, SUM(total) AS revenue FROM orders
        WHERE total > 3 GROUP BY region HAVING COUNT(*) > 2 AND MAX(total) >= 10;
    CREATE VIEW states AS SELECT CASE WHEN type IN ('pay_order', 'ship_order') THEN 'done' ELSE 'open' END AS state,
        COUNT(*) AS n FROM orders GROUP BY CASE WHEN type IN ('pay_order', 'ship_order') THEN 'done' ELSE 'open' END;
    CREATE VIEW everything AS SELECT COUNT(*) AS n, SUM(total) AS sum, LAST(order_id) AS last FROM orders;";

/// `FIRST(x)` / `LAST(x)`: the first / latest non-null value, in scan (log) order.
struct Pick {
    last: bool,
}

impl Aggregate<Option<Sql>, Sql> for Pick {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Option<Sql>> {
        Ok(None)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Option<Sql>) -> rusqlite::Result<()> {
        let v: Sql = ctx.get(0)?;
        if v != Sql::Null && (self.last || acc.is_none()) {
            *acc = Some(v);
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<Option<Sql>>) -> rusqlite::Result<Sql> {
        Ok(acc.flatten().unwrap_or(Sql::Null))
    }
}

/// A canonical text of a row: floats to 9 significant digits (SQLite sums floats with
/// compensation, so the last bits may differ), keys sorted.
fn canonical(row: &Map<String, Value>) -> String {
    let fields: BTreeMap<&String, String> = row
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Number(n) if n.is_f64() => format!("{:.9e}", n.as_f64().unwrap_or(0.0)),
                Value::Number(n) => format!("{:.9e}", n.as_f64().unwrap_or(0.0)),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect();
    format!("{fields:?}")
}

fn sqlite_rows(view: &ViewDef, log: &[Event]) -> Vec<String> {
    let db = rusqlite::Connection::open_in_memory().expect("sqlite");
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    db.create_aggregate_function("FIRST", 1, flags, Pick { last: false }).expect("FIRST");
    db.create_aggregate_function("LAST", 1, flags, Pick { last: true }).expect("LAST");
    db.execute_batch(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, type TEXT, ts INTEGER, stream TEXT,
                              order_id TEXT, customer TEXT, total, region TEXT)",
    )
    .expect("table");
    for e in log {
        let field = |name: &str| -> Sql {
            match &e.payload[name] {
                Value::String(s) => Sql::Text(s.clone()),
                Value::Number(n) if n.is_i64() => Sql::Integer(n.as_i64().unwrap_or(0)),
                Value::Number(n) => Sql::Real(n.as_f64().unwrap_or(0.0)),
                _ => Sql::Null,
            }
        };
        db.execute(
            "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                e.position as i64,
                e.kind,
                e.ts as i64,
                e.stream,
                field("order_id"),
                field("customer"),
                field("total"),
                field("region")
            ],
        )
        .expect("insert");
    }
    // The view's own SELECT, over the events of its stream in log order.
    let (_, select) = view.sql.split_once(" AS ").expect("CREATE VIEW … AS SELECT");
    let source = &view.sources[0];
    let from = format!("FROM {source}");
    let select = select.replacen(
        &from,
        &format!("FROM (SELECT * FROM events WHERE stream = '{source}' ORDER BY position) AS src"),
        1,
    );
    let mut stmt = db.prepare(&select).unwrap_or_else(|e| panic!("SQLite refused {select}: {e}"));
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let rows = stmt
        .query_map([], |r| {
            let mut row = Map::new();
            for (i, name) in names.iter().enumerate() {
                let v = match r.get::<_, Sql>(i)? {
                    Sql::Null => Value::Null,
                    Sql::Integer(i) => json!(i),
                    Sql::Real(f) => json!(f),
                    Sql::Text(s) => json!(s),
                    Sql::Blob(_) => Value::Null,
                };
                row.insert(name.clone(), v);
            }
            Ok(canonical(&row))
        })
        .expect("query");
    let mut out: Vec<String> = rows.map(|r| r.expect("row")).collect();
    // SQLite returns one row for an aggregate without GROUP BY even over no events; Lucarne's
    // view has no row until an event arrives.
    if view.keys.is_empty() && log.iter().all(|e| !view.matches(e)) {
        out.clear();
    }
    out.sort();
    out
}

fn arb_event() -> impl Strategy<Value = (String, Value)> {
    let kind = prop::sample::select(vec!["place_order", "pay_order", "ship_order", "note"]);
    let total = prop_oneof![
        Just(Value::Null),
        (-5i64..40).prop_map(Value::from),
        (0.0f64..30.0).prop_map(|f| json!((f * 100.0).round() / 100.0))
    ];
    let customer = prop::option::of(prop::sample::select(vec!["Ada", "نور", "דנה", "Zoë"]));
    (kind, 0u8..10, total, customer, prop::sample::select(vec!["eu", "us", "mena"])).prop_map(
        |(kind, order, total, customer, region)| {
            let mut payload = json!({ "order_id": format!("o-{order}"), "region": region, "total": total });
            if let Some(c) = customer {
                payload["customer"] = json!(c);
            }
            (kind.to_owned(), payload)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn incremental_equals_recomputed_equals_sqlite(
        events in prop::collection::vec(arb_event(), 0..150),
        batch in 1usize..25,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("store");
        store.install_views(parse_views(VIEWS).expect("views"), |_, _, _| {}).expect("install");
        for (i, chunk) in events.chunks(batch).enumerate() {
            let appends: Vec<Append> = chunk
                .iter()
                .enumerate()
                .map(|(j, (kind, payload))| Append {
                    key: CommandRef { client_id: "t".into(), seq: (i * batch + j) as u64 },
                    events: vec![NewEvent { stream: "orders".into(), kind: kind.clone(), payload: payload.clone() }],
                    guard: None,
                })
                .collect();
            store.commit(&appends).expect("commit");
        }
        let log = store.read_after(0, usize::MAX).expect("log");
        for view in store.views().expect("views") {
            let snapshot = store.snapshot(&view.name).expect("snapshot");
            // The rows handed over one by one (a search index's build) are the snapshot's.
            let mut one_by_one = Vec::new();
            let at = store.each_row(&view.name, |row| {
                one_by_one.push(row);
                true
            });
            prop_assert_eq!(at.ok(), Some(snapshot.at), "where the rows stand: {}", view.name);
            prop_assert_eq!(&one_by_one, &snapshot.rows, "rows one by one vs the snapshot: {}", view.name);
            let mut incremental: Vec<String> = snapshot.rows.iter().map(|r| canonical(&r.row)).collect();
            incremental.sort();
            let mut recomputed: Vec<String> = recompute(&view, &log).values().map(canonical).collect();
            recomputed.sort();
            prop_assert_eq!(&incremental, &recomputed, "incremental vs recomputed: {}", view.name);
            prop_assert_eq!(&incremental, &sqlite_rows(&view, &log), "incremental vs SQLite: {}", view.name);
        }
    }
}
