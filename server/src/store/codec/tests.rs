//! The store's encoding: what it writes reads back as it was, nothing it is handed makes it
//! panic, and no count read is past the bytes left.

use super::*;
use crate::store::rows::Touched;
use lucarne_protocol::packed::MAX_DEPTH;
use proptest::prelude::*;
use serde_json::json;

/// Values of the kinds a row holds (every kind's encoding is `packed`'s to test).
fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[a-z نור]{0,12}".prop_map(Value::String),
        prop::collection::vec(any::<u32>().prop_map(Value::from), 0..3).prop_map(Value::Array),
    ]
}

fn arb_acc() -> impl Strategy<Value = Acc> {
    prop_oneof![
        Just(Acc::Key),
        arb_value().prop_map(Acc::Value),
        any::<u64>().prop_map(Acc::Count),
        arb_value().prop_map(Acc::Sum),
        arb_value().prop_map(Acc::Min),
        arb_value().prop_map(Acc::Max),
        (any::<f64>().prop_filter("finite", |f| f.is_finite()), any::<u64>())
            .prop_map(|(sum, n)| Acc::Avg { sum, n }),
        arb_value().prop_map(Acc::First),
        arb_value().prop_map(Acc::Last),
    ]
}

fn arb_state() -> impl Strategy<Value = GroupState> {
    (prop::collection::vec(arb_value(), 0..3), prop::collection::vec(arb_acc(), 0..8))
        .prop_map(|(keys, accs)| GroupState { keys, accs })
}

fn arb_entry() -> impl Strategy<Value = EntryIn> {
    let acked = prop::collection::vec((".{0,8}", any::<u64>()), 0..4)
        .prop_map(|keys| keys.into_iter().map(|(client_id, seq)| CommandRef { client_id, seq }).collect());
    let touched = prop_oneof![
        (any::<bool>(), arb_state()).prop_map(|(was_visible, state)| Touched::Row { was_visible, state }),
        arb_value().prop_map(|key| Touched::Dropped { key }),
    ];
    (any::<u64>(), any::<u64>(), acked, prop::collection::vec(touched, 0..5))
        .prop_map(|(from, to, acked, rows)| EntryIn { from, to, acked, rows })
}

fn entry_of(entry: &EntryIn) -> Vec<u8> {
    let mut writer = EntryWriter::new(entry.from, entry.to, &entry.acked, entry.rows.len());
    for touched in &entry.rows {
        match touched {
            Touched::Row { was_visible, state } => writer.row(*was_visible, state),
            Touched::Dropped { key } => writer.dropped(key),
        }
    }
    writer.finish()
}

/// Every proper prefix of a record fails to read, with an error, never a panic.
fn check_prefixes_fail<T: std::fmt::Debug>(bytes: &[u8], read: impl Fn(&[u8]) -> Result<T, DecodeError>) {
    for cut in 0..bytes.len() {
        assert!(read(&bytes[..cut]).is_err(), "{cut} of {} bytes read as whole", bytes.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A row state reads back equal — numbers keep their kind (`5` stays an integer, `5.0` a
    /// float), object keys their order — and any part of it cut short is an error.
    #[test]
    fn a_state_reads_back_as_written(state in arb_state()) {
        let bytes = state_bytes(&state);
        prop_assert_eq!(bytes[0], STATE);
        prop_assert_eq!(read_state_bytes(&bytes[1..]), Ok(state.clone()));
        prop_assert_eq!(serde_json::to_string(&read_state_bytes(&bytes[1..]).expect("read")).ok(),
            serde_json::to_string(&state).ok());
        check_prefixes_fail(&bytes[1..], read_state_bytes);
        let mut longer = bytes[1..].to_vec();
        longer.push(0);
        prop_assert_eq!(read_state_bytes(&longer), Err(DecodeError::Trailing(1)));
    }

    /// A changelog entry reads back equal, and any part of it cut short is an error.
    #[test]
    fn an_entry_reads_back_as_written(entry in arb_entry()) {
        let bytes = entry_of(&entry);
        prop_assert_eq!(bytes[0], ENTRY);
        prop_assert_eq!(read_entry_bytes(&bytes[1..]), Ok(entry));
        check_prefixes_fail(&bytes[1..], read_entry_bytes);
    }

    /// Bytes that are no record — random, or a record with bytes changed — read as an error or
    /// as some record, never a panic.
    #[test]
    fn any_bytes_read_without_panicking(
        noise in prop::collection::vec(any::<u8>(), 0..200),
        state in arb_state(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let _ = read_state_bytes(&noise);
        let _ = read_entry_bytes(&noise);
        let mut bytes = state_bytes(&state);
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let _ = read_state_bytes(&bytes[1..]);
    }
}

#[test]
fn hostile_records_are_refused_with_where() {
    fn check(bytes: &[u8], expected: DecodeError) {
        assert_eq!(read_state_bytes(bytes).map(|_| ()), Err(expected), "{bytes:?}");
    }
    // One key: an array nested 200 deep.
    let mut deep = vec![1];
    deep.extend(std::iter::repeat_n([7, 1], 200).flatten());
    check(&deep, DecodeError::TooDeep(1 + 2 * MAX_DEPTH));
    // A count of keys no record of three bytes could hold: no allocation of that size.
    check(&[0xff, 0xff, 0xff, 0xff, 0x0f], DecodeError::BadLength(0));
    // A varint of eleven bytes.
    check(&[0x80; 11], DecodeError::BadLength(0));
    // A string key that is not UTF-8.
    check(&[1, 6, 2, 0xc3, 0x28, 0], DecodeError::NotUtf8(3));
    // An accumulator tag this version does not know.
    check(&[0, 1, 9], DecodeError::UnknownTag { tag: 9, at: 2 });
    // A count accumulator whose number is missing.
    check(&[0, 1, 2], DecodeError::Truncated(3));
}

#[test]
fn a_typical_row_is_smaller_than_as_message_pack() {
    let state = GroupState {
        keys: vec![json!("o-1234")],
        accs: vec![
            Acc::Key,
            Acc::Last(json!("Ada")),
            Acc::Sum(json!(1234.5)),
            Acc::Count(7),
            Acc::Last(json!("pay_order")),
        ],
    };
    let ours = state_bytes(&state).len();
    let message_pack = crate::store::rows::encode_message_pack(&state).len();
    assert!(ours < message_pack, "{ours} bytes against MessagePack's {message_pack}");
}
