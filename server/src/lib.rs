//! The Lucarne server: commands become events in an append-only log; views written in SQL are
//! folded from the events into an embedded store; every change to a view is pushed to the
//! clients subscribed to it over WebSocket.
//!
//! Invariant: the server never depends on iced or on the client runtime; it speaks to clients
//! only through `lucarne-protocol`.

pub mod auth;
pub mod budget;
pub mod commands;
pub mod engine;
pub mod expr;
pub mod feed;
pub mod gateway;
pub mod jetstream;
pub mod limits;
pub mod log;
pub mod offload;
pub mod push;
pub mod query;
pub mod search;
pub mod sql;
pub mod store;
pub mod upcast;
pub mod view;
pub mod web;

pub use auth::{Auth, Claims, Grant, TokenKey};
pub use commands::{CommandHandler, Commands, Rejection};
pub use engine::Engine;
pub use gateway::{GatewayConfig, OriginPolicy, router, serve};
pub use limits::Limits;
pub use store::{Store, StoreError};
