//! Rows kept as text read as the generic decode reads them.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{Row, Rows, ServerMessage, SnapshotRows, decode_server, encode};

/// The rows of a `snapshot_rows` frame, by the fast path (text kept).
fn text_rows(frame: &str) -> Rows {
    match decode_server(frame) {
        Ok(ServerMessage::SnapshotRows(chunk)) => chunk.rows,
        other => panic!("{frame}: {other:?}"),
    }
}

fn frame(rows: Vec<Row>) -> String {
    encode(&ServerMessage::SnapshotRows(SnapshotRows { sub: 1, rows: rows.into() }))
}

fn row(key: Value, columns: Value) -> Row {
    Row { key, row: columns.as_object().cloned().unwrap_or_default() }
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        // Escapes, astral characters, right-to-left text.
        "[a-z\"\\\\/\n\t\u{0}\u{1F600}ي ש]{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z\"é]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_row() -> impl Strategy<Value = Row> {
    let key = prop_oneof![json_leaf(), prop::collection::vec(json_leaf(), 1..3).prop_map(Value::from)];
    let columns = prop::collection::vec(("[a-z_\"ä]{1,8}", json_value()), 0..6);
    (key, columns).prop_map(|(key, columns)| Row { key, row: columns.into_iter().collect() })
}

proptest! {
    /// Whatever the rows hold, the text kept reads back as the generic decode: as rows, as
    /// entries read into `Value`, and encoded again to the same frame.
    #[test]
    fn rows_kept_as_text_read_as_decoded_rows(rows in prop::collection::vec(any_row(), 0..8)) {
        let text = frame(rows.clone());
        let held = text_rows(&text);
        prop_assert_eq!(held.len(), rows.len());
        let typed: Vec<(Value, Value)> =
            held.entries().map(|(key, row)| (key.clone(), row.decode::<Value>().expect("a value"))).collect();
        let expected: Vec<(Value, Value)> =
            rows.iter().map(|r| (r.key.clone(), Value::Object(r.row.clone()))).collect();
        prop_assert_eq!(typed, expected);
        prop_assert_eq!(&*held, &rows[..]);
        prop_assert_eq!(frame(held.to_vec()), text.clone());
        prop_assert_eq!(encode(&ServerMessage::SnapshotRows(SnapshotRows { sub: 1, rows: held })), text);
    }
}

/// What a run of frames appended into one snapshot holds, in order.
#[test]
fn appended_rows_keep_their_order_whatever_they_hold() {
    fn check(parts: Vec<Rows>, expected: &[&str]) {
        let mut all = Rows::new();
        for part in parts {
            all.append(part);
        }
        let keys: Vec<&str> = all.entries().filter_map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, expected);
        let decoded: Vec<&str> = all.iter().filter_map(|r| r.key.as_str()).collect();
        assert_eq!(decoded, expected);
        assert_eq!(all.len(), expected.len());
    }
    let one = |k: &str| row(json!(k), json!({ "id": k }));
    let text = |keys: &[&str]| text_rows(&frame(keys.iter().map(|k| one(k)).collect()));
    let decoded = |keys: &[&str]| Rows::from(keys.iter().map(|k| one(k)).collect::<Vec<_>>());
    check(vec![text(&["a", "b"]), text(&["c"]), text(&[])], &["a", "b", "c"]);
    check(vec![decoded(&["a"]), decoded(&["b"])], &["a", "b"]);
    check(vec![text(&["a"]), decoded(&["b"]), text(&["c"])], &["a", "b", "c"]);
    check(vec![Rows::new(), text(&["a"])], &["a"]);
    check(vec![text(&["a"]), Rows::new(), text(&["b"])], &["a", "b"]);
    // Nothing appended: rows kept as text stay text (not decoded to join an empty list).
    let mut all = text(&["a"]);
    all.append(Rows::new());
    assert!(format!("{all:?}").contains("Text("), "{all:?}");
    // Read as rows once, then appended to: the rows read before are not kept stale.
    let mut all = text(&["a"]);
    assert_eq!(all.iter().count(), 1);
    all.append(text(&["b"]));
    assert_eq!(all.iter().filter_map(|r| r.key.as_str()).collect::<Vec<_>>(), ["a", "b"]);
}

/// A frame whose rows are not objects is refused whole, as the generic decode refuses it.
#[test]
fn a_row_that_is_not_an_object_is_refused() {
    for rows in [r#"[{"key":1,"row":[1]}]"#, r#"[{"key":1,"row":"x"}]"#, r#"[{"key":1}]"#] {
        let text = format!(r#"{{"type":"snapshot_rows","sub":1,"rows":{rows}}}"#);
        let error = decode_server(&text).expect_err(&text);
        assert_eq!(error.code(), crate::ErrorCode::InvalidMessage, "{text}: {error}");
    }
}

/// A row nested deeper than `serde_json` decodes: kept as text (its decode says why it fails), left
/// out of the rows read as columns; the rows beside it stay.
#[test]
fn a_row_nested_too_deep_fails_alone() {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let text = format!(
        r#"{{"type":"snapshot_rows","sub":1,"rows":[{{"key":"a","row":{{"x":1}}}},{{"key":"b","row":{{"x":{deep}}}}}]}}"#
    );
    let Ok(ServerMessage::SnapshotRows(chunk)) = decode_server(&text) else { panic!("{text}") };
    let decoded: Vec<Result<Value, _>> = chunk.rows.entries().map(|(_, row)| row.decode::<Value>()).collect();
    assert!(decoded[0].is_ok() && decoded[1].is_err(), "{decoded:?}");
    assert_eq!(chunk.rows.len(), 2);
    assert_eq!(chunk.rows.iter().filter_map(|r| r.key.as_str()).collect::<Vec<_>>(), ["a"]);
}
