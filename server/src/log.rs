//! Events and the event-log seam.
//!
//! The log is append-only and totally ordered by a `u64` position starting at 1. Appends are
//! idempotent by a dedup key, the command's `(client_id, seq)`. The projector never writes the
//! log and reads events only as [`Event`] values, so another log (NATS JetStream, where the
//! stream is the replicated log and `Nats-Msg-Id` is the dedup key) can feed the same projector:
//! see [`EventLog`].

use lucarne_protocol::CommandRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The stream (views read one stream: `FROM stream`).
    pub stream: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's fields.
    pub payload: Value,
}

/// An event in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log, from 1, without gaps.
    pub position: u64,
    /// The stream.
    pub stream: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's fields.
    pub payload: Value,
    /// Milliseconds since the Unix epoch when it was appended.
    pub ts: u64,
    /// The command that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<CommandRef>,
}

impl NewEvent {
    /// It, in the log at `position`, appended at `ts` by the command `origin`.
    pub fn at(&self, position: u64, ts: u64, origin: &CommandRef) -> Event {
        Event {
            position,
            stream: self.stream.clone(),
            kind: self.kind.clone(),
            payload: self.payload.clone(),
            ts,
            origin: Some(origin.clone()),
        }
    }
}

/// The events of one command, appended together or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Append {
    /// Dedup key: a second append with the same key appends nothing.
    pub key: CommandRef,
    /// The events (with a guard: none; the guard decides them).
    pub events: Vec<NewEvent>,
    /// Decides the events against the view rows at the append's position, or rejects the
    /// command (nothing is appended, no dedup entry is kept).
    pub guard: Option<crate::commands::Guard>,
}

impl Append {
    /// An append of events decided already.
    pub fn new(key: CommandRef, events: Vec<NewEvent>) -> Append {
        Append { key, events, guard: None }
    }
}

/// What an [`Append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Position of the last event (of the first append, for a duplicate; 0 if none).
    pub position: u64,
    /// Number of events.
    pub events: u32,
    /// True when the key had been appended before.
    pub duplicate: bool,
}

/// An event log: what a backend must provide so the projector can fold it.
pub trait EventLog: Send + Sync {
    /// The error of this backend.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends a batch durably, in order; each append is idempotent by its key, and one whose
    /// guard refuses it appends nothing.
    fn append(
        &self,
        batch: &[Append],
    ) -> Result<Vec<Result<Appended, crate::commands::Rejection>>, Self::Error>;

    /// Up to `limit` events after `position`, in order.
    fn read_after(&self, position: u64, limit: usize) -> Result<Vec<Event>, Self::Error>;

    /// The position of the last event (0 when empty).
    fn head(&self) -> Result<u64, Self::Error>;
}
