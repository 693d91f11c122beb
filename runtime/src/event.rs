//! What a subscription tells the app.

use lucarne_protocol::{Delta, ErrorCode, Found, Position, ResyncReason, Rows};

/// A live query: which view to watch, and optionally which of its rows (the protocol's one shape).
pub use lucarne_protocol::Query;
use std::time::Duration;

/// The state of a subscription, for a status badge.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Opening the socket or waiting for the first snapshot.
    Connecting,
    /// Up to date and receiving changes.
    Live,
    /// A fresh snapshot is on its way; rows shown are kept until it arrives.
    Resyncing(ResyncReason),
    /// No connection; the next attempt is in `retry_in`. Rows shown are kept.
    Offline {
        /// Time until the next connection attempt.
        retry_in: Duration,
        /// Why the connection failed or dropped.
        reason: crate::LinkError,
    },
}

/// One thing that happened to a subscription, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewEvent {
    /// The connection or subscription state changed.
    Status(Status),
    /// A complete copy of the view; replaces all rows. `resynced` says why a copy was sent
    /// again (`None` for the first one, or when resuming was not attempted).
    Snapshot {
        /// Where the copy stands.
        at: Position,
        /// All rows, each kept as the JSON text it came in until read (see [`Rows`]): a typed
        /// [`LiveView`](crate::LiveView) reads its type straight from that text.
        rows: Rows,
        /// Why the view was resent, if it was.
        resynced: Option<ResyncReason>,
    },
    /// After a reconnect the server resumed from `at`: the missed deltas follow; the rows shown
    /// stay valid.
    Resumed {
        /// The position resumed from.
        at: Position,
    },
    /// A change; apply it when `from` equals the current version.
    Delta(Delta),
    /// The server refused the subscription (e.g. `unknown_view`); nothing more will come.
    Failed {
        /// Why.
        code: ErrorCode,
        /// What the server said.
        message: String,
    },
}

/// One thing that happened to a live search ([`Client::watch_search`](crate::Client::watch_search)),
/// in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchEvent {
    /// The connection or subscription state changed.
    Status(Status),
    /// Everything the search finds now: the page, the total and the facet counts (the server's
    /// deltas already applied). Offline, the last one stays valid as of when it came.
    Found(Found),
    /// The server refused the search or ended it (e.g. `unknown_search`, `invalid_sql`, the
    /// index dropped); nothing more will come.
    Failed {
        /// Why.
        code: ErrorCode,
        /// What the server said.
        message: String,
    },
}
