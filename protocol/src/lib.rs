//! The Lucarne wire protocol: every message a client and a server exchange over one WebSocket,
//! and the JSON codec for them.
//!
//! ```
//! use lucarne_protocol::{ClientMessage, decode_client, encode};
//!
//! let text = r#"{"type":"subscribe","sub":1,"view":"orders","extra":"ignored"}"#;
//! let msg = decode_client(text).unwrap();
//! assert!(matches!(msg, ClientMessage::Subscribe(ref s) if s.query.view == "orders"));
//! let back = encode(&msg);
//! assert!(back.contains(r#""type":"subscribe""#));
//! ```
//!
//! Invariant: this crate is serde only — no I/O, no async runtime, no UI. Both the server and
//! every client (native, browser, other languages via `docs/protocol.md`) stand on it.
//!
//! Every message is a JSON object with a `"type"` tag; unknown fields are ignored so either
//! side may add fields without breaking the other.

mod codec;
mod message;
pub mod packed;
mod push;
mod rows;
mod search;

pub use codec::{DecodeError, EncodedOps, decode_client, decode_server, encode, encode_delta};
pub use message::*;
pub use push::{
    NotificationTemplate, PushInterest, PushNotice, PushRegistered, PushTarget, PushTested, PushUnregistered,
    RegisterPush, TestPush, UnregisterPush, WebPushKeys, WebPushSubscription,
};
pub use rows::{RowData, Rows};
pub use search::{
    DefineSearch, DropSearch, FacetCount, Found, Search, SearchDefined, SearchDelta, SearchDropped,
    SearchHit, SearchQuery, SearchResult, SearchSnapshot, SearchSort, SubscribeSearch,
};

/// The protocol versions this build speaks, newest last.
pub const SUPPORTED_VERSIONS: &[u32] = &[1];

/// The default largest text frame a peer accepts, in bytes.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Picks the newest version both sides speak, if any.
pub fn negotiate(offered: &[u32]) -> Option<u32> {
    SUPPORTED_VERSIONS.iter().rev().copied().find(|v| offered.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_newest_common_version() {
        fn check(offered: &[u32], expected: Option<u32>) {
            assert_eq!(negotiate(offered), expected, "offered {offered:?}");
        }
        check(&[1], Some(1));
        check(&[1, 2, 3], Some(1));
        check(&[2, 3], None);
        check(&[], None);
    }
}
