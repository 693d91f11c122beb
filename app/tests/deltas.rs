//! The desk under 1 000 single-change deltas (the server coalesces changes committed together,
//! so this is the worst case for the client: one `update` per change), checked against a model.

use std::collections::BTreeMap;
use std::time::Instant;

use lucarne::protocol::{Delta, Op, Position, Row};
use lucarne::{Client, ClientConfig, ViewEvent};
use lucarne_app::{Desk, Message, update, view};
use serde_json::json;

fn row(id: &str, total: f64, status: &str) -> serde_json::Map<String, serde_json::Value> {
    json!({"order_id": id, "customer": "c", "region": "eu", "total": total, "status": status})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_thousand_deltas_leave_the_table_equal_to_the_model() {
    let client = Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws"));
    let mut desk = Desk::with_client(client);
    let _ = update(
        &mut desk,
        Message::Orders(ViewEvent::Snapshot {
            at: Position { epoch: 1, version: 0 },
            rows: Vec::<Row>::new().into(),
            resynced: None,
        }),
    );
    let _ = update(&mut desk, Message::Sort(3));
    let mut model: BTreeMap<String, (f64, &str)> = BTreeMap::new();
    let mut dice = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    for version in 0..1_000u64 {
        let id = format!("o-{}", dice.u32(..300));
        let op = if dice.u8(..7) == 0 {
            model.remove(&id);
            Op::Remove { key: json!(id) }
        } else {
            let status = ["placed", "paid", "shipped", "cancelled"][dice.usize(..4)];
            let total = f64::from(dice.u32(..1_000)) / 4.0;
            model.insert(id.clone(), (total, status));
            Op::Upsert { key: json!(id), row: row(&id, total, status) }
        };
        let delta = Delta { sub: 1, from: version, to: version + 1, ops: vec![op], acked: vec![] };
        let _ = update(&mut desk, Message::Orders(ViewEvent::Delta(delta)));
        if version.is_multiple_of(16) {
            // A frame every 16 deltas: the view is rebuilt (the table sorts lazily here).
            drop(view(&desk));
            let _ = desk.table().row(0);
        }
    }
    eprintln!("1 000 deltas applied (with a view every 16) in {:?}", started.elapsed());
    let mut expected: Vec<(f64, String)> = model.iter().map(|(k, (t, _))| (*t, k.clone())).collect();
    expected.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| lucarne::widgets::natural(&a.1, &b.1)));
    let keys: Vec<String> = expected.into_iter().map(|(_, k)| k).collect();
    assert_eq!(desk.table().keys(), keys, "same rows, sorted by total");
    for (key, (total, status)) in &model {
        let cells = desk.table().get(key).unwrap_or_default();
        assert_eq!(cells.get(3).map(|c| c.as_str().to_owned()), Some(format!("{total:.2}")));
        assert_eq!(cells.get(4).map(|c| c.as_str()), Some(*status));
    }
    assert_eq!(desk.orders().position().map(|p| p.version), Some(1_000));
}
