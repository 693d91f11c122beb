//! Bad input gets an error with a code and a message; the connection and the data survive.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{ErrorCode, ServerMessage, decode_server};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Server, Socket, client, next, raw, send_text as send, subscribed};

/// Sends a frame and expects an error (or reject) with this code.
async fn check(ws: &mut Socket, frame: impl Into<String>, code: ErrorCode) {
    send(ws, frame).await;
    match next(ws).await {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, code, "{}", e.message);
            assert!(!e.message.is_empty());
        }
        ServerMessage::Reject(r) => {
            assert_eq!(r.code, code, "{}", r.message);
            assert!(!r.message.is_empty());
        }
        other => panic!("expected {code}, got {other:?}"),
    }
    // Still usable.
    send(ws, r#"{"type":"ping","nonce":77}"#).await;
    assert!(matches!(next(ws).await, ServerMessage::Pong(h) if h.nonce == 77));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_message_gets_a_code_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let writer = client(&server.url());
    writer.send("place_order", json!({"order_id": "o-1", "customer": "Ada", "total": 5})).await.expect("ack");

    let mut ws = raw(&server).await;
    check(&mut ws, r#"{"type":"subscribe","sub":1,"view":"orders"}"#, ErrorCode::HelloRequired).await;
    check(&mut ws, r#"{"type":"hello","versions":[1],"client_id":"$views"}"#, ErrorCode::InvalidMessage)
        .await;
    send(&mut ws, r#"{"type":"hello","versions":[1],"client_id":"raw"}"#).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::Welcome(w) if w.version == 1));

    check(&mut ws, "{this is not json", ErrorCode::BadFrame).await;
    check(&mut ws, "[1,2,3]", ErrorCode::BadFrame).await;
    check(&mut ws, r#"{"type":"launch_rockets"}"#, ErrorCode::UnknownMessage).await;
    check(&mut ws, r#"{"type":"subscribe","sub":"one"}"#, ErrorCode::InvalidMessage).await;
    check(&mut ws, "x".repeat(2 * 1024 * 1024), ErrorCode::FrameTooLarge).await;
    check(&mut ws, r#"{"type":"subscribe","sub":1,"view":"nope"}"#, ErrorCode::UnknownView).await;
    check(&mut ws, r#"{"type":"unsubscribe","sub":9}"#, ErrorCode::UnknownSubscription).await;
    check(&mut ws, r#"{"type":"hello","versions":[1],"client_id":"raw"}"#, ErrorCode::AlreadyGreeted).await;
    check(
        &mut ws,
        r#"{"type":"command","id":1,"client_id":"raw","seq":1,"name":"drop_tables","payload":{}}"#,
        ErrorCode::UnknownCommand,
    )
    .await;
    check(
        &mut ws,
        r#"{"type":"command","id":2,"client_id":"raw","seq":2,"name":"place_order","payload":"not an object"}"#,
        ErrorCode::InvalidPayload,
    )
    .await;
    check(
        &mut ws,
        r#"{"type":"command","id":3,"client_id":"someone-else","seq":3,"name":"place_order","payload":{}}"#,
        ErrorCode::Unauthorized,
    )
    .await;
    check(
        &mut ws,
        r#"{"type":"subscribe","sub":2,"view":"orders","where":"total >"}"#,
        ErrorCode::InvalidSql,
    )
    .await;
    check(
        &mut ws,
        r#"{"type":"subscribe","sub":2,"view":"orders","where":"price > 1"}"#,
        ErrorCode::InvalidSql,
    )
    .await;
    ws.send(Message::Binary(vec![1, 2, 3].into())).await.expect("send");
    assert!(matches!(next(&mut ws).await, ServerMessage::Error(e) if e.code == ErrorCode::BadFrame));

    // The same connection subscribes fine, and the stored order is intact.
    send(&mut ws, r#"{"type":"subscribe","sub":3,"view":"orders","unknown_field":true}"#).await;
    assert!(matches!(next(&mut ws).await, ServerMessage::SnapshotBegin(b) if b.rows == 1));
    match next(&mut ws).await {
        ServerMessage::SnapshotRows(r) => assert_eq!(r.rows[0].row["total"], json!(5)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut ws).await, ServerMessage::SnapshotEnd(e) if e.sub == 3));
    check(&mut ws, r#"{"type":"subscribe","sub":3,"view":"orders"}"#, ErrorCode::DuplicateSubscription).await;
    let (_, snapshot) = subscribed(&writer, "orders").await;
    assert!(matches!(snapshot, lucarne_runtime::ViewEvent::Snapshot { rows, .. } if rows.len() == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_cases_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--ping-interval", "0.3"]);

    // No common version: an error, then a close.
    let mut ws = raw(&server).await;
    send(&mut ws, r#"{"type":"hello","versions":[99],"client_id":"future"}"#).await;
    assert!(matches!(next_any(&mut ws).await, Some(Value::String(code)) if code == "unsupported_version"));

    // A silent peer is dropped after two ping intervals, with a reason.
    let mut ws = raw(&server).await;
    send(&mut ws, r#"{"type":"hello","versions":[1],"client_id":"quiet"}"#).await;
    let started = std::time::Instant::now();
    let mut code = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        if let Message::Text(t) = frame
            && let Ok(ServerMessage::Error(e)) = decode_server(t.as_str())
        {
            code = Some(e.code);
        }
    }
    assert_eq!(code, Some(ErrorCode::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3), "detected within the interval plus slack");

    // A frame over the hard limit closes with 1009.
    let mut ws = raw(&server).await;
    let _ = ws.send(Message::Text("y".repeat(17 * 1024 * 1024).into())).await;
    let mut close = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        if let Message::Close(Some(c)) = frame {
            close = Some(u16::from(c.code));
        }
    }
    assert_eq!(close, Some(1009));
    // And the server is still up for everyone else.
    let c = client(&server.url());
    subscribed(&c, "orders").await;
}

/// The `code` of the next error frame, reading until the socket closes.
async fn next_any(ws: &mut Socket) -> Option<Value> {
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str()).ok()?;
            if v["type"] == "error" {
                return Some(v["code"].clone());
            }
        }
    }
    None
}
