//! # Lucarne
//!
//! Real-time client apps in Rust: the server folds an append-only event log into **views**
//! written in SQL and pushes every change to the clients subscribed to them; the client is an
//! Elm-style iced app that declares which views it shows.
//!
//! This crate is the facade: it re-exports the client runtime (and, behind features, the
//! widgets and the PDF export as they land). It has no code of its own.
//!
//! ```no_run
//! use lucarne::{Client, ClientConfig, LiveView, Query, ViewEvent};
//!
//! #[derive(Debug, Clone)]
//! enum Message {
//!     Orders(ViewEvent),
//! }
//!
//! struct Desk {
//!     client: Client,
//!     orders: LiveView<serde_json::Map<String, serde_json::Value>>,
//! }
//!
//! impl Desk {
//!     fn new() -> Self {
//!         let client = Client::connect(ClientConfig::new(lucarne::DEFAULT_SERVER));
//!         Desk { client, orders: LiveView::new() }
//!     }
//!
//!     fn update(&mut self, message: Message) {
//!         let Message::Orders(event) = message;
//!         self.orders.apply(&event);
//!     }
//!
//!     fn subscription(&self) -> iced_futures::Subscription<Message> {
//!         lucarne::watch(&self.client, Query::view("orders")).map(Message::Orders)
//!     }
//! }
//! # let _ = Desk::new;
//! ```

pub use lucarne_protocol as protocol;
pub use lucarne_runtime::{
    Answered, Backoff, Change, Changes, Client, ClientConfig, ClientError, Command, CommandError,
    DEFAULT_SERVER, LinkError, LiveView, Optimistic, Outcome, Query, Status, Subscription, ViewEvent,
};

#[cfg(feature = "iced")]
pub use lucarne_runtime::watch;
