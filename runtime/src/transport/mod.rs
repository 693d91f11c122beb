//! The transport: one WebSocket carrying JSON text frames, plus the few platform services the
//! connection task needs (spawn, sleep, a clock, the client's identity and where unanswered
//! commands are kept). The only place where the target decides the code:
//!
//! - native: tokio + tokio-tungstenite; commands are kept in memory (an app persists what it
//!   needs with [`Client::send_with_seq`](crate::Client::send_with_seq));
//! - `wasm32`: the browser's `WebSocket` (web-sys), `wasm-bindgen-futures`, the page's `setTimeout`,
//!   `web-time`; the client id, last sequence number and unanswered commands are kept in the
//!   tab's `sessionStorage`, so they survive a reload of the page.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::{Instant, Link, connect, fresh_client_id, saved, sleep, spawn, store};

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{Instant, Link, connect, fresh_client_id, saved, sleep, spawn, store};

/// What a previous run of this client left unanswered.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// The last sequence number it used.
    pub(crate) last_seq: u64,
    /// Its unanswered commands: `(seq, name, payload)`.
    pub(crate) commands: Vec<(u64, String, Value)>,
}

/// Runs `f` for at most `limit`.
pub(crate) async fn timeout<T>(limit: Duration, f: impl Future<Output = T>) -> Result<T, ()> {
    tokio::select! {
        value = f => Ok(value),
        () = sleep(limit) => Err(()),
    }
}
