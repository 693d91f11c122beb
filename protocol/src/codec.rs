//! JSON text-frame codec.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ClientMessage, ErrorCode, ServerMessage};

/// Why a frame could not be decoded. Each maps to an [`ErrorCode`] the peer is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Malformed {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// JSON, but not an object with a string `type`.
    #[error("a message must be a JSON object with a string \"type\" field")]
    MissingType,
    /// A `type` this side does not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A known `type` whose fields don't fit.
    #[error("invalid {kind:?} message: {message}")]
    InvalidFields {
        /// The message's type.
        kind: String,
        /// What was wrong.
        message: String,
    },
}

impl DecodeError {
    /// The code to answer this error with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Malformed { .. } | DecodeError::MissingType => ErrorCode::BadFrame,
            DecodeError::UnknownType(_) => ErrorCode::UnknownMessage,
            DecodeError::InvalidFields { .. } => ErrorCode::InvalidMessage,
        }
    }
}

/// Decodes a frame a client sent.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    decode(text)
}

/// Decodes a frame a server sent.
///
/// The big frames — snapshot rows and deltas — are read straight into their struct when the
/// frame starts with their tag, as servers write it: the generic path reads a `Value` tree and
/// then serde's buffered copy of it for the tagged enum, three times the work on a
/// megabyte of rows. Any other frame, or one whose tag is elsewhere, takes the generic path.
/// (A frame that names its `type` twice is read by its first here, by its last there.)
pub fn decode_server(text: &str) -> Result<ServerMessage, DecodeError> {
    let tag = text.strip_prefix(r#"{"type":""#).and_then(|rest| rest.split_once('"')).map(|(tag, _)| tag);
    match tag {
        Some("snapshot_rows") => snapshot_rows(text).map(ServerMessage::SnapshotRows),
        Some("delta") => typed(text, "delta").map(ServerMessage::Delta),
        _ => decode(text),
    }
}

/// A `snapshot_rows` frame whose rows keep their columns' text ([`Rows`](crate::Rows)).
fn snapshot_rows(text: &str) -> Result<crate::SnapshotRows, DecodeError> {
    #[derive(serde::Deserialize)]
    struct Chunk<'a> {
        sub: u64,
        #[serde(borrow)]
        rows: Vec<RawRow<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct RawRow<'a> {
        key: crate::Key,
        #[serde(borrow)]
        row: &'a serde_json::value::RawValue,
    }
    let chunk: Chunk<'_> = typed(text, "snapshot_rows")?;
    let rows = chunk.rows.into_iter().map(|r| (r.key, r.row)).collect();
    let rows = crate::Rows::from_frame(text, rows).ok_or_else(|| DecodeError::InvalidFields {
        kind: "snapshot_rows".to_owned(),
        message: "every row's `row` must be an object of columns".to_owned(),
    })?;
    Ok(crate::SnapshotRows { sub: chunk.sub, rows })
}

/// Decodes one message's struct from the whole frame (its `type` field is ignored there).
fn typed<'a, T: serde::Deserialize<'a>>(text: &'a str, kind: &str) -> Result<T, DecodeError> {
    serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            DecodeError::InvalidFields { kind: kind.to_owned(), message: e.to_string() }
        }
        _ => DecodeError::Malformed { line: e.line(), column: e.column(), message: e.to_string() },
    })
}

/// Encodes any message as one JSON text frame.
pub fn encode<T: Serialize>(message: &T) -> String {
    // Serializing these types cannot fail: every map key is a string and no impl errors.
    serde_json::to_string(message)
        .unwrap_or_else(|e| format!(r#"{{"type":"error","code":"internal","message":"encode failed: {e}"}}"#))
}

/// A change's ops, encoded once for every subscriber it goes to (the `,"ops":[…]` part of a
/// `delta`): see [`encode_delta`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedOps(std::sync::Arc<str>);

impl EncodedOps {
    /// Encodes `ops`.
    pub fn new(ops: &[crate::Op]) -> EncodedOps {
        EncodedOps(format!(",\"ops\":{}", encode(&ops)).into())
    }
}

/// A `delta` for subscription `sub` from version `from` to `to`: byte for byte what
/// `encode(&ServerMessage::Delta(..))` writes, with the ops encoded once ([`EncodedOps`]) however
/// many subscribers receive the change, and `acked` as given (the receiving connection's own).
///
/// ```
/// use lucarne_protocol::{Delta, EncodedOps, Op, ServerMessage, encode, encode_delta};
///
/// let ops = vec![Op::Remove { key: "o-1".into() }];
/// let shared = EncodedOps::new(&ops);
/// let delta = Delta { sub: 1, from: 4, to: 5, ops, acked: vec![] };
/// assert_eq!(encode_delta(1, 4, 5, &shared, &[]), encode(&ServerMessage::Delta(delta)));
/// ```
pub fn encode_delta(sub: u64, from: u64, to: u64, ops: &EncodedOps, acked: &[crate::CommandRef]) -> String {
    let mut text = format!("{{\"type\":\"delta\",\"sub\":{sub},\"from\":{from},\"to\":{to}{}", ops.0);
    if !acked.is_empty() {
        text.push_str(",\"acked\":");
        text.push_str(&encode(&acked));
    }
    text.push('}');
    text
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::Malformed {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let kind = value.get("type").and_then(Value::as_str).ok_or(DecodeError::MissingType)?.to_owned();
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        // serde's own wording for a tag that matches no variant (and not a nested enum's).
        if message.starts_with(&format!("unknown variant `{kind}`")) {
            DecodeError::UnknownType(kind)
        } else {
            DecodeError::InvalidFields { kind, message }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;
    use serde_json::json;

    fn check_client(text: &str, expected: Result<ClientMessage, ErrorCode>) {
        let got = decode_client(text).map_err(|e| e.code());
        assert_eq!(got, expected, "decoding {text}");
        if let Ok(msg) = got {
            assert_eq!(decode_client(&encode(&msg)), Ok(msg), "round trip of {text}");
        }
    }

    #[test]
    fn client_frames() {
        check_client(
            r#"{"type":"hello","versions":[1],"client_id":"c1","future":true}"#,
            Ok(ClientMessage::Hello(Hello {
                versions: vec![1],
                token: None,
                client_id: "c1".into(),
                features: vec![],
            })),
        );
        check_client(
            r#"{"type":"subscribe","sub":7,"view":"orders","resume":{"epoch":3,"version":9}}"#,
            Ok(ClientMessage::Subscribe(Subscribe {
                sub: 7,
                query: Query::view("orders"),
                resume: Some(Position { epoch: 3, version: 9 }),
            })),
        );
        check_client(
            r#"{"type":"command","id":1,"client_id":"c","seq":4,"name":"pay_order","payload":{"order_id":"o-1"}}"#,
            Ok(ClientMessage::Command(Command {
                id: 1,
                client_id: "c".into(),
                seq: 4,
                name: "pay_order".into(),
                payload: json!({"order_id": "o-1"}),
            })),
        );
        check_client(r#"{"type":"ping","nonce":5}"#, Ok(ClientMessage::Ping(Heartbeat { nonce: 5 })));
        check_client(r#"{"type":"list_views","id":2}"#, Ok(ClientMessage::ListViews(ListViews { id: 2 })));
        check_client("{not json", Err(ErrorCode::BadFrame));
        check_client("[1,2]", Err(ErrorCode::BadFrame));
        check_client(r#"{"type":42}"#, Err(ErrorCode::BadFrame));
        check_client(r#"{"type":"launch_rockets"}"#, Err(ErrorCode::UnknownMessage));
        check_client(r#"{"type":"welcome","version":1}"#, Err(ErrorCode::UnknownMessage));
        check_client(r#"{"type":"subscribe","sub":"x"}"#, Err(ErrorCode::InvalidMessage));
    }

    #[test]
    fn malformed_json_reports_its_position() {
        let err = decode_client("{\n  \"type\": \"ping\",,\n}").unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { line: 2, column: 18, .. }), "{err:?}");
    }

    #[test]
    fn server_frames_round_trip() {
        let messages = vec![
            ServerMessage::Welcome(Welcome {
                version: 1,
                session: "s".into(),
                ping_interval_ms: 15000,
                max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
                push_key: Some("BKey".into()),
            }),
            ServerMessage::SnapshotBegin(SnapshotBegin {
                sub: 1,
                view: "orders".into(),
                at: Position { epoch: 1, version: 2 },
                rows: 1,
            }),
            ServerMessage::Delta(Delta {
                sub: 1,
                from: 2,
                to: 3,
                ops: vec![
                    Op::Upsert {
                        key: json!("o-1"),
                        row: json!({"order_id": "o-1"}).as_object().cloned().unwrap_or_default(),
                    },
                    Op::Remove { key: json!("o-2") },
                ],
                acked: vec![CommandRef { client_id: "c".into(), seq: 1 }],
            }),
            ServerMessage::Resync(Resync { sub: 1, reason: ResyncReason::TooFarBehind }),
            ServerMessage::Error(ErrorMessage {
                code: ErrorCode::UnknownView,
                message: "no view".into(),
                sub: Some(1),
                id: None,
            }),
        ];
        for msg in messages {
            let text = encode(&msg);
            assert_eq!(decode_server(&text), Ok(msg), "{text}");
        }
    }

    /// Snapshot rows and deltas, read straight into their struct, decode as the generic path
    /// decodes them, errors included.
    #[test]
    fn the_big_frames_decode_as_the_generic_path_does() {
        let row = |id: &str| json!({"order_id": id, "total": 1.5, "tags": ["a", {"b": null}]});
        let rows = SnapshotRows {
            sub: 7,
            rows: vec![
                Row { key: json!("o-1"), row: row("o-1").as_object().cloned().unwrap_or_default() },
                Row { key: json!(["eu", 2]), row: row("o-2").as_object().cloned().unwrap_or_default() },
            ]
            .into(),
        };
        let ops = vec![
            Op::Upsert { key: json!("o-1"), row: row("o-1").as_object().cloned().unwrap_or_default() },
            Op::Remove { key: json!(null) },
        ];
        let acked = [CommandRef { client_id: "c".into(), seq: 9 }];
        let frames = [
            encode(&ServerMessage::SnapshotRows(rows)),
            encode_delta(7, 3, 4, &EncodedOps::new(&ops), &acked),
            encode_delta(7, 4, 5, &EncodedOps::new(&[]), &[]),
            r#"{"type":"delta","sub":1,"from":1,"to":2,"ops":[{"op":"upsert","key":1}]}"#.to_owned(),
            r#"{"type":"delta","sub":1,"from":1,"to":2,"ops":[{"op":"sideways","key":1}]}"#.to_owned(),
            r#"{"type":"snapshot_rows","sub":1,"rows":[{"key":1,"row":{"a":1}},]}"#.to_owned(),
            r#"{"type":"snapshot_rows","sub":-1,"rows":[]}"#.to_owned(),
        ];
        for text in frames {
            let fast = decode_server(&text);
            let generic = decode::<ServerMessage>(&text);
            match (&fast, &generic) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{text}: {a:?} / {b:?}"),
                _ => panic!("{text}: {fast:?} / {generic:?}"),
            }
        }
    }

    #[test]
    fn every_type_is_known() {
        let client = [
            json!({"type":"hello","versions":[],"client_id":""}),
            json!({"type":"ping","nonce":0}),
            json!({"type":"pong","nonce":0}),
            json!({"type":"subscribe","sub":0,"view":""}),
            json!({"type":"unsubscribe","sub":0}),
            json!({"type":"command","id":0,"client_id":"","seq":0,"name":""}),
            json!({"type":"list_views","id":0}),
            json!({"type":"define_view","id":0,"sql":""}),
            json!({"type":"drop_view","id":0,"name":""}),
        ];
        for v in client {
            assert!(decode_client(&v.to_string()).is_ok(), "{v}");
        }
        let server = [
            "welcome",
            "ping",
            "pong",
            "snapshot_begin",
            "snapshot_rows",
            "snapshot_end",
            "resumed",
            "delta",
            "resync",
            "unsubscribed",
            "ack",
            "reject",
            "view_list",
            "view_progress",
            "view_defined",
            "view_dropped",
            "error",
        ];
        for name in server {
            let err = decode_server(&json!({ "type": name }).to_string());
            assert!(matches!(err, Err(DecodeError::InvalidFields { .. })), "{name}: {err:?}");
        }
    }

    #[test]
    fn unknown_codes_and_reasons_decode_as_other() {
        let msg = decode_server(r#"{"type":"error","code":"brand_new","message":"m"}"#);
        assert!(matches!(msg, Ok(ServerMessage::Error(ErrorMessage { code: ErrorCode::Other, .. }))));
        let msg = decode_server(r#"{"type":"resync","sub":1,"reason":"cosmic_rays"}"#);
        assert!(matches!(msg, Ok(ServerMessage::Resync(Resync { reason: ResyncReason::Other, .. }))));
    }

    #[test]
    fn code_strings_match_serde() {
        for code in [
            ErrorCode::BadFrame,
            ErrorCode::FrameTooLarge,
            ErrorCode::UnknownCommand,
            ErrorCode::Forbidden,
            ErrorCode::InvalidToken,
            ErrorCode::TokenExpired,
            ErrorCode::TooManySubscriptions,
        ] {
            assert_eq!(serde_json::to_value(code).ok(), Some(json!(code.as_str())));
        }
    }
}
