//! The Lucarne client runtime: one connection per [`Client`], live views over it, commands with
//! an outbox, and glue for iced apps.
//!
//! ```no_run
//! # async fn demo() {
//! use lucarne_runtime::{Client, ClientConfig, LiveView, Query};
//! use futures_util::StreamExt;
//!
//! let client = Client::connect(ClientConfig::new("ws://127.0.0.1:7300/ws"));
//! let mut orders: LiveView<serde_json::Map<String, serde_json::Value>> = LiveView::new();
//! let mut events = client.subscribe(Query::view("orders"));
//! while let Some(event) = events.next().await {
//!     let changed = orders.apply(&event);
//!     println!("{} rows, {} changed", orders.len(), changed.upserted.len());
//! }
//! # }
//! ```
//!
//! Invariant: the runtime never depends on the server; it speaks only `lucarne-protocol`.
//! Target-specific code (`cfg(target_arch = "wasm32")`) stays in `transport`.

mod backoff;
mod client;
mod connection;
mod event;
mod live_view;
pub mod optimistic;
mod transport;
mod version;

#[cfg(feature = "iced")]
mod iced;

pub use backoff::Backoff;
pub use client::{Client, ClientConfig, ClientError, CommandError, DEFAULT_SERVER, Subscription};
pub use event::{Query, SearchEvent, Status, ViewEvent};
pub use live_view::{Changes, LiveView};
pub use lucarne_protocol as protocol;
pub use lucarne_protocol::{FacetCount, Found, SearchHit, SearchQuery, SearchSort};
pub use optimistic::{Answered, Change, Command, Optimistic, Outcome};
pub use transport::LinkError;
pub use version::describe_version;

#[cfg(feature = "iced")]
pub use iced::{watch, watch_search};
