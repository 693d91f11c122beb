//! `LiveView<T>`: the rows of a subscribed view, kept current by applying its events.

use std::collections::BTreeMap;

use lucarne_protocol::{Key, Op, Position};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::event::{Status, ViewEvent};

/// What one [`LiveView::apply`] changed, so a widget can highlight it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// All rows were replaced (a snapshot).
    pub reset: bool,
    /// Keys of rows inserted or changed.
    pub upserted: Vec<Key>,
    /// Keys of rows removed.
    pub removed: Vec<Key>,
    /// Rows that did not decode as `T` (kept out of the view), with the reason.
    pub invalid: Vec<(Key, String)>,
    /// The status changed.
    pub status: bool,
    /// A delta did not follow the current version and was not applied.
    pub out_of_order: bool,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// The rows of a view, by key (in the order of the keys' JSON text), with the view's status
/// and version.
///
/// ```
/// use lucarne_runtime::{LiveView, ViewEvent};
/// use lucarne_runtime::protocol::{Delta, Op, Position, Row};
/// use serde_json::json;
///
/// #[derive(serde::Deserialize)]
/// struct Order { order_id: String, total: f64 }
///
/// let mut orders = LiveView::<Order>::new();
/// let row = |id: &str, total: f64| json!({"order_id": id, "total": total}).as_object().cloned().unwrap();
/// orders.apply(&ViewEvent::Snapshot {
///     at: Position { epoch: 7, version: 1 },
///     rows: vec![Row { key: json!("o-1"), row: row("o-1", 5.0) }].into(),
///     resynced: None,
/// });
/// let changed = orders.apply(&ViewEvent::Delta(Delta {
///     sub: 1, from: 1, to: 2, acked: vec![],
///     ops: vec![Op::Upsert { key: json!("o-2"), row: row("o-2", 9.5) }],
/// }));
/// assert_eq!(changed.upserted, vec![json!("o-2")]);
/// assert_eq!(orders.len(), 2);
/// assert_eq!(orders.get(&json!("o-2")).map(|o| o.total), Some(9.5));
/// ```
#[derive(Debug, Clone)]
pub struct LiveView<T> {
    rows: BTreeMap<String, (Key, T)>,
    at: Option<Position>,
    status: Status,
}

impl<T> Default for LiveView<T> {
    fn default() -> Self {
        LiveView { rows: BTreeMap::new(), at: None, status: Status::Connecting }
    }
}

impl<T: DeserializeOwned> LiveView<T> {
    /// An empty view, connecting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one subscription event and says what changed.
    pub fn apply(&mut self, event: &ViewEvent) -> Changes {
        let mut changes = Changes::default();
        match event {
            ViewEvent::Status(status) => {
                changes.status = *status != self.status;
                self.status = status.clone();
            }
            ViewEvent::Snapshot { at, rows, .. } => {
                self.at = Some(*at);
                changes.reset = true;
                // Built in one pass rather than row by row (a snapshot comes in key order, which
                // the map's sort finds already sorted). A key sent twice keeps its last row, and
                // none if that one did not decode, as inserts and removals in turn would.
                let mut built = Vec::with_capacity(rows.len());
                for (at, (key, row)) in rows.entries().enumerate() {
                    let decoded = match row.decode::<T>() {
                        Ok(value) => {
                            changes.upserted.push(key.clone());
                            Some((key.clone(), value))
                        }
                        Err(e) => {
                            changes.invalid.push((key.clone(), e.to_string()));
                            None
                        }
                    };
                    built.push((map_key(key), at, decoded));
                }
                // One row per key, its last (in key order, then as sent: a snapshot in key
                // order is sorted in one pass), none when that one did not decode.
                built.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
                built.dedup_by(|later, earlier| {
                    let same = later.0 == earlier.0;
                    if same {
                        std::mem::swap(later, earlier);
                    }
                    same
                });
                self.rows = built.into_iter().filter_map(|(key, _, row)| Some((key, row?))).collect();
            }
            ViewEvent::Resumed { at } => {
                if self.at != Some(*at) {
                    changes.out_of_order = true;
                }
            }
            ViewEvent::Delta(delta) => match &mut self.at {
                Some(at) if at.version == delta.from => {
                    at.version = delta.to;
                    for op in &delta.ops {
                        match op {
                            Op::Upsert { key, row } => self.upsert(key, row, &mut changes),
                            Op::Remove { key } => {
                                if self.rows.remove(&map_key(key)).is_some() {
                                    changes.removed.push(key.clone());
                                }
                            }
                        }
                    }
                }
                _ => changes.out_of_order = true,
            },
            ViewEvent::Failed { code, message } => {
                let reason = crate::LinkError::Refused { code: *code, message: message.clone() };
                changes.status = true;
                self.status = Status::Offline { retry_in: std::time::Duration::ZERO, reason };
            }
        }
        changes
    }

    fn upsert(&mut self, key: &Key, row: &serde_json::Map<String, Value>, changes: &mut Changes) {
        match T::deserialize(row) {
            Ok(value) => {
                self.rows.insert(map_key(key), (key.clone(), value));
                changes.upserted.push(key.clone());
            }
            Err(e) => {
                self.rows.remove(&map_key(key));
                changes.invalid.push((key.clone(), e.to_string()));
            }
        }
    }
}

/// A key's place in the map: its JSON text (what `Display` gives), built directly for the
/// usual key, a string that needs no escaping.
fn map_key(key: &Key) -> String {
    match key {
        Value::String(s) if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') => {
            let mut text = String::with_capacity(s.len() + 2);
            text.push('"');
            text.push_str(s);
            text.push('"');
            text
        }
        other => other.to_string(),
    }
}

impl<T> LiveView<T> {
    /// The row with this key.
    pub fn get(&self, key: &Key) -> Option<&T> {
        self.rows.get(&map_key(key)).map(|(_, v)| v)
    }

    /// All rows with their keys.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Key, &T)> + ExactSizeIterator {
        self.rows.values().map(|(k, v)| (k, v))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The connection status.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The version the rows stand at (`None` before the first snapshot).
    pub fn position(&self) -> Option<Position> {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucarne_protocol::{Columns, Delta, Row};
    use proptest::prelude::*;
    use serde_json::json;

    fn row(n: i64) -> serde_json::Map<String, Value> {
        json!({ "n": n }).as_object().cloned().unwrap_or_default()
    }

    fn delta(from: u64, ops: Vec<Op>) -> ViewEvent {
        ViewEvent::Delta(Delta { sub: 1, from, to: from + 1, ops, acked: vec![] })
    }

    fn snapshot(version: u64, keys: &[(i64, i64)]) -> ViewEvent {
        ViewEvent::Snapshot {
            at: Position { epoch: 1, version },
            rows: keys.iter().map(|(k, n)| Row { key: json!(k), row: row(*n) }).collect(),
            resynced: None,
        }
    }

    #[test]
    fn applies_in_order_and_refuses_gaps() {
        let mut v = LiveView::<Columns>::new();
        assert!(v.apply(&delta(0, vec![])).out_of_order, "no delta before a snapshot");
        let c = v.apply(&snapshot(3, &[(1, 10), (2, 20)]));
        assert!(c.reset);
        assert_eq!(v.len(), 2);
        let c = v
            .apply(&delta(3, vec![Op::Remove { key: json!(1) }, Op::Upsert { key: json!(3), row: row(30) }]));
        assert_eq!((c.removed, c.upserted), (vec![json!(1)], vec![json!(3)]));
        assert_eq!(v.position().map(|p| p.version), Some(4));
        let before: Vec<_> = v.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
        for stale in
            [delta(3, vec![Op::Remove { key: json!(2) }]), delta(9, vec![Op::Remove { key: json!(2) }])]
        {
            assert!(v.apply(&stale).out_of_order);
        }
        let after: Vec<_> = v.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
        assert_eq!(before, after, "a duplicated or gapped delta changes nothing");
    }

    #[test]
    fn a_key_is_placed_by_its_json_text() {
        for key in [
            json!("o-1"),
            json!("say \"hi\""),
            json!("back\\slash"),
            json!("tab\there"),
            json!("\u{1}"),
            json!("طلب ١"),
            json!(""),
            json!(42),
            json!(-1.5),
            json!(["a", 1]),
            json!(null),
        ] {
            assert_eq!(map_key(&key), key.to_string(), "{key:?}");
        }
    }

    #[test]
    fn a_snapshot_in_any_order_is_read_in_key_order_and_its_last_row_for_a_key_wins() {
        let mut v = LiveView::<Columns>::new();
        let rows = [("b", 1), ("a", 2), ("c", 3), ("a", 4)]
            .into_iter()
            .map(|(k, n)| Row { key: json!(k), row: row(n) })
            .collect();
        let changes =
            v.apply(&ViewEvent::Snapshot { at: Position { epoch: 1, version: 1 }, rows, resynced: None });
        assert!(changes.reset);
        let seen: Vec<(String, i64)> =
            v.iter().map(|(k, r)| (k.to_string(), r["n"].as_i64().unwrap_or_default())).collect();
        assert_eq!(seen, [("\"a\"".to_owned(), 4), ("\"b\"".to_owned(), 1), ("\"c\"".to_owned(), 3)]);
        assert_eq!(v.get(&json!("a")).map(|r| r["n"].clone()), Some(json!(4)));
    }

    #[test]
    fn a_snapshot_row_that_does_not_decode_after_one_that_did_leaves_no_row() {
        #[derive(serde::Deserialize, Debug)]
        struct N {
            #[allow(dead_code, reason = "decoded to check the row's shape")]
            n: i64,
        }
        let mut v = LiveView::<N>::new();
        let bad = json!({ "n": "seven" }).as_object().cloned().unwrap_or_default();
        let rows = vec![
            Row { key: json!("a"), row: row(1) },
            Row { key: json!("a"), row: bad.clone() },
            Row { key: json!("b"), row: bad },
            Row { key: json!("b"), row: row(2) },
        ];
        let changes = v.apply(&ViewEvent::Snapshot {
            at: Position { epoch: 1, version: 1 },
            rows: rows.into(),
            resynced: None,
        });
        assert!(v.get(&json!("a")).is_none(), "its last row did not decode");
        assert_eq!(v.get(&json!("b")).map(|n| n.n), Some(2), "its last row did");
        assert_eq!(changes.invalid.len(), 2);
    }

    #[test]
    fn rows_that_do_not_decode_are_reported() {
        #[derive(serde::Deserialize, Debug)]
        struct Typed {
            #[allow(dead_code, reason = "only decoded, to fail")]
            n: String,
        }
        let mut v = LiveView::<Typed>::new();
        let c = v.apply(&snapshot(0, &[(1, 10)]));
        assert_eq!(c.invalid.len(), 1);
        assert!(v.is_empty());
    }

    proptest! {
        /// A snapshot as it comes off the wire (each row's text kept, in several frames) applies
        /// exactly as the same rows decoded: the same rows, the same changes, the same refusals.
        #[test]
        fn rows_read_from_frames_apply_as_decoded_rows(
            rows in prop::collection::vec((0i64..8, prop::option::of(-5i64..5)), 0..30),
            split in 0usize..30,
        ) {
            #[derive(serde::Deserialize, Debug, PartialEq)]
            struct N { n: i64 }
            let rows: Vec<Row> = rows.into_iter().map(|(k, n)| {
                let columns = match n { Some(n) => row(n), None => json!({ "n": "none" }).as_object().cloned().unwrap_or_default() };
                Row { key: json!(format!("k{k}")), row: columns }
            }).collect();
            let split = split.min(rows.len());
            let mut text = lucarne_protocol::Rows::new();
            for part in [&rows[..split], &rows[split..]] {
                let frame = lucarne_protocol::encode(&lucarne_protocol::ServerMessage::SnapshotRows(
                    lucarne_protocol::SnapshotRows { sub: 1, rows: part.to_vec().into() },
                ));
                match lucarne_protocol::decode_server(&frame) {
                    Ok(lucarne_protocol::ServerMessage::SnapshotRows(chunk)) => text.append(chunk.rows),
                    other => panic!("{frame}: {other:?}"),
                }
            }
            let at = Position { epoch: 1, version: 1 };
            let (mut decoded_view, mut text_view) = (LiveView::<N>::new(), LiveView::<N>::new());
            let decoded_changes = decoded_view.apply(&ViewEvent::Snapshot { at, rows: rows.into(), resynced: None });
            let mut text_changes = text_view.apply(&ViewEvent::Snapshot { at, rows: text, resynced: None });
            // Read from text, the reason also says where in the row's text it failed.
            prop_assert_eq!(text_changes.invalid.len(), decoded_changes.invalid.len());
            for ((text_key, text_reason), (key, reason)) in text_changes.invalid.drain(..).zip(&decoded_changes.invalid) {
                prop_assert_eq!(&text_key, key);
                prop_assert!(text_reason.starts_with(reason.as_str()), "{} / {}", text_reason, reason);
            }
            prop_assert_eq!(text_changes, Changes { invalid: vec![], ..decoded_changes });
            prop_assert_eq!(text_view.iter().collect::<Vec<_>>(), decoded_view.iter().collect::<Vec<_>>());
        }

        /// Whatever order deltas arrive in (duplicated, dropped, reordered), the view only ever
        /// holds a state the server actually had: the state after some prefix of the deltas.
        #[test]
        fn never_applies_a_delta_wrongly(
            ops in prop::collection::vec((0i64..6, prop::option::of(0i64..100)), 1..40),
            order in prop::collection::vec(0usize..40, 0..80),
        ) {
            let deltas: Vec<ViewEvent> = ops.iter().enumerate().map(|(i, (k, n))| {
                let op = match n { Some(n) => Op::Upsert { key: json!(k), row: row(*n) }, None => Op::Remove { key: json!(k) } };
                delta(i as u64, vec![op])
            }).collect();
            // The states the server went through.
            let mut truth = LiveView::<Columns>::new();
            truth.apply(&snapshot(0, &[]));
            let mut states = vec![truth.iter().map(|(k, r)| (k.to_string(), r.clone())).collect::<Vec<_>>()];
            for d in &deltas {
                truth.apply(d);
                states.push(truth.iter().map(|(k, r)| (k.to_string(), r.clone())).collect());
            }
            let mut v = LiveView::<Columns>::new();
            v.apply(&snapshot(0, &[]));
            for i in order.into_iter().filter(|i| *i < deltas.len()) {
                v.apply(&deltas[i]);
                let version = usize::try_from(v.position().map_or(0, |p| p.version)).expect("a small version");
                let now: Vec<_> = v.iter().map(|(k, r)| (k.to_string(), r.clone())).collect();
                prop_assert_eq!(&now, &states[version]);
            }
        }
    }
}
