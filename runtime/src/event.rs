//! What a subscription tells the app.

use lucarne_protocol::{Delta, ErrorCode, Position, ResyncReason, Row};
use std::time::Duration;

/// A live query: which view to watch, and optionally which of its rows.
///
/// ```
/// use lucarne_runtime::Query;
///
/// let q = Query::view("orders").filter("status = 'paid' AND region = 'eu'").order_by("total DESC").limit(20);
/// assert_eq!(q.view, "orders");
/// assert_eq!(q.limit, Some(20));
/// ```
///
/// The filter is a SQL expression over the view's columns, `order_by` a list of columns each
/// with `ASC` or `DESC`; the server keeps the window (the first `limit` rows in that order)
/// current and sends only the rows entering, changing in or leaving it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// The view's name.
    pub view: String,
    /// SQL condition over the view's columns.
    pub filter: Option<String>,
    /// SQL `ORDER BY` list over the view's columns.
    pub order_by: Option<String>,
    /// Largest number of rows.
    pub limit: Option<u64>,
}

impl Query {
    /// All rows of a view.
    pub fn view(name: impl Into<String>) -> Self {
        Query { view: name.into(), filter: None, order_by: None, limit: None }
    }

    /// Only rows for which this SQL condition holds.
    pub fn filter(mut self, condition: impl Into<String>) -> Self {
        self.filter = Some(condition.into());
        self
    }

    /// Rows in this order (`total DESC, order_id`).
    pub fn order_by(mut self, order: impl Into<String>) -> Self {
        self.order_by = Some(order.into());
        self
    }

    /// At most this many rows (the first ones in `order_by` order).
    pub fn limit(mut self, rows: u64) -> Self {
        self.limit = Some(rows);
        self
    }
}

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
        reason: String,
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
        /// All rows.
        rows: Vec<Row>,
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
