//! The transport: one WebSocket carrying JSON text frames, plus the few platform services the
//! connection task needs (spawn, sleep, a clock, the client's identity and where unanswered
//! commands are kept). The only place where the target decides the code:
//!
//! - native: tokio + tokio-tungstenite; unanswered commands are kept in memory, and in a file
//!   when [`ClientConfig::outbox_file`](crate::ClientConfig::outbox_file) names one;
//! - `wasm32`: the browser's `WebSocket` (web-sys), `wasm-bindgen-futures`, the page's `setTimeout`,
//!   `web-time`; the client id, last sequence number and unanswered commands are kept in the
//!   tab's `sessionStorage`, so they survive a reload of the page.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::{
    Instant, Link, app_outbox, connect, default_servers, fresh_client_id, saved, sleep, spawn, store,
};

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{
    Instant, Link, app_outbox, connect, default_servers, fresh_client_id, saved, sleep, spawn, store,
};

/// Why a link to a server could not be opened, or ended: shown in
/// [`Status::Offline`](crate::Status::Offline); the next attempt follows with backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The socket could not be opened (refused, unreachable, a bad URL, a failed handshake).
    #[error("cannot connect to {url}: {detail}")]
    Connect {
        /// The server's URL.
        url: String,
        /// What the socket said.
        detail: String,
    },
    /// The socket did not open within the connect timeout.
    #[error("cannot connect to {url}: timed out")]
    ConnectTimeout {
        /// The server's URL.
        url: String,
    },
    /// The server answered `hello` with an error that another attempt may not meet.
    #[error("refused ({code}): {message}")]
    Refused {
        /// Its code.
        code: lucarne_protocol::ErrorCode,
        /// Its message.
        message: String,
    },
    /// The server's first message was not `welcome` (or did not decode).
    #[error("expected welcome, got {0}")]
    NotWelcome(String),
    /// No `welcome` within the connect timeout.
    #[error("no welcome in time")]
    NoWelcome,
    /// The server closed the socket, with its close code and reason when it gave them.
    #[error("closed by server{}{}", code.map(|c| format!(": {c}")).unwrap_or_default(), if reason.is_empty() { String::new() } else { format!(" {reason}") })]
    ClosedByServer {
        /// The close code.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// The socket ended without a close frame (dropped, reset), with what the platform said.
    #[error("{0}")]
    Lost(String),
    /// The socket is closed.
    #[error("connection closed")]
    Closed,
    /// The server sent nothing for twice its heartbeat interval.
    #[error("no message from the server for {0:?}")]
    Silent(Duration),
    /// A frame could not be sent.
    #[error("{0}")]
    Send(String),
}

/// Natively, the lock that keeps an outbox file to one running client (released when dropped);
/// nothing in the browser, where each tab has its own storage.
#[derive(Debug, Default)]
pub(crate) struct Claim {
    /// The locked `FILE.lock` (held for its drop).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) _lock: Option<std::fs::File>,
}

/// What a previous run of this client left unanswered.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// The client id it ran with, where the store keeps it (the native outbox file).
    pub(crate) client_id: Option<String>,
    /// The last sequence number it used.
    pub(crate) last_seq: u64,
    /// Its unanswered commands: `(seq, name, payload)`.
    pub(crate) commands: Vec<(u64, String, Value)>,
    /// Where it is kept, held for this client while it runs.
    pub(crate) claim: Claim,
}

impl Saved {
    /// The kept form: `{"client_id", "last_seq", "commands": [[seq, name, payload], …]}`.
    pub(crate) fn encode(
        client_id: &str,
        last_seq: u64,
        commands: &mut dyn Iterator<Item = (u64, &str, &Value)>,
    ) -> String {
        let commands: Vec<Value> = commands.map(|(seq, name, payload)| json!([seq, name, payload])).collect();
        json!({ "client_id": client_id, "last_seq": last_seq, "commands": commands }).to_string()
    }

    /// Reads the kept form; `None` when it is not that (entries that are not commands are
    /// skipped).
    pub(crate) fn decode(text: &str) -> Option<Saved> {
        let value = serde_json::from_str::<Value>(text).ok()?;
        let commands = value.get("commands")?.as_array()?;
        Some(Saved {
            client_id: value["client_id"].as_str().map(str::to_owned),
            last_seq: value["last_seq"].as_u64().unwrap_or(0),
            commands: commands
                .iter()
                .filter_map(|c| Some((c[0].as_u64()?, c[1].as_str()?.to_owned(), c[2].clone())))
                .collect(),
            claim: Claim::default(),
        })
    }
}

/// Runs `f` for at most `limit`.
pub(crate) async fn timeout<T>(limit: Duration, f: impl Future<Output = T>) -> Result<T, ()> {
    tokio::select! {
        value = f => Ok(value),
        () = sleep(limit) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_errors_say_what_happened() {
        let check = |error: LinkError, text: &str| assert_eq!(error.to_string(), text);
        check(
            LinkError::ClosedByServer { code: Some(1008), reason: "token expired".into() },
            "closed by server: 1008 token expired",
        );
        check(
            LinkError::ClosedByServer { code: Some(1001), reason: String::new() },
            "closed by server: 1001",
        );
        check(LinkError::ClosedByServer { code: None, reason: String::new() }, "closed by server");
        check(
            LinkError::ConnectTimeout { url: "ws://a/ws".into() },
            "cannot connect to ws://a/ws: timed out",
        );
        check(LinkError::Silent(Duration::from_secs(30)), "no message from the server for 30s");
        let refused =
            LinkError::Refused { code: lucarne_protocol::ErrorCode::Unavailable, message: "later".into() };
        check(refused, "refused (unavailable): later");
    }

    #[test]
    fn the_kept_outbox_reads_back() {
        let payload = json!({"order_id": "o-1", "total": 5});
        let commands = [(7, "pay_order", &payload), (9, "ship_order", &payload)];
        let text = Saved::encode("c-1", 9, &mut commands.iter().copied());
        let saved = Saved::decode(&text).expect("decodes");
        assert_eq!(saved.client_id.as_deref(), Some("c-1"));
        assert_eq!(saved.last_seq, 9);
        let kept: Vec<(u64, &str)> = saved.commands.iter().map(|(s, n, _)| (*s, n.as_str())).collect();
        assert_eq!(kept, [(7, "pay_order"), (9, "ship_order")]);
        assert_eq!(saved.commands[0].2, payload);
        assert!(Saved::decode("not json").is_none());
        assert!(Saved::decode("{}").is_none());
    }
}
