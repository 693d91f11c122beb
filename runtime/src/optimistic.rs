//! Optimistic commands: a [`LiveView`] that shows the effect of the app's own commands before the
//! server has applied them.
//!
//! ```
//! use lucarne_runtime::optimistic::{Change, Optimistic};
//! use lucarne_runtime::protocol::{Ack, CommandRef, Delta, Key, Op, Position};
//! use lucarne_runtime::ViewEvent;
//! use serde_json::{json, Value};
//!
//! #[derive(Debug, Clone, serde::Deserialize)]
//! struct Todo { id: String, done: bool }
//!
//! // The app's command, and what it does to the row it names.
//! #[derive(Debug, Clone)]
//! struct Complete(String);
//!
//! impl Change<Todo> for Complete {
//!     fn command(&self) -> (String, Value) { ("complete_todo".into(), json!({ "id": self.0 })) }
//!     fn key(&self) -> Key { json!(self.0) }
//!     fn apply(&self, row: Option<Todo>) -> Option<Todo> { row.map(|t| Todo { done: true, ..t }) }
//! }
//!
//! let mut todos = Optimistic::<Todo, Complete>::new("desk-1");
//! let at = Position { epoch: 1, version: 7 };
//! let rows = vec![lucarne_runtime::protocol::Row {
//!     key: json!("t-1"), row: json!({ "id": "t-1", "done": false }).as_object().cloned().unwrap_or_default(),
//! }];
//! todos.apply(&ViewEvent::Snapshot { at, rows: rows.into(), resynced: None });
//!
//! // Sent: shown done at once (the runtime's `Client::send_optimistic` picks the seq).
//! let command = todos.begin(1, Complete("t-1".into()));
//! assert_eq!(command.name, "complete_todo");
//! assert!(todos.get(&json!("t-1")).is_some_and(|t| t.done));
//! assert!(!todos.view().get(&json!("t-1")).is_some_and(|t| t.done), "the server's copy is unchanged");
//!
//! // The delta that carries the command's effect lists it in `acked`: the pending change goes.
//! let row = json!({ "id": "t-1", "done": true }).as_object().cloned().unwrap_or_default();
//! todos.apply(&ViewEvent::Delta(Delta {
//!     sub: 1, from: 7, to: 8,
//!     ops: vec![Op::Upsert { key: json!("t-1"), row }],
//!     acked: vec![CommandRef { client_id: "desk-1".into(), seq: 1 }],
//! }));
//! assert_eq!(todos.pending().count(), 0);
//! assert!(todos.get(&json!("t-1")).is_some_and(|t| t.done));
//! ```
//!
//! The rules (`docs/protocol.md` §8.5: the delta carrying a command's effect and the command's
//! `ack` may come in either order):
//!
//! - [`begin`](Optimistic::begin) records the change; [`get`](Optimistic::get) and
//!   [`iter`](Optimistic::iter) show every pending change folded over the server's row, oldest
//!   first.
//! - A change is dropped **exactly once**, as soon as the rows shown from the server hold its
//!   effect: when a delta lists its command in `acked` (this client's id); when a snapshot (a
//!   resync) comes after its `ack`; or when the view's version reaches the log position the ack
//!   gives (a view's version never passes the position of a command it has not folded: on a
//!   cluster versions are log positions, on one server they count the view's commits); when its
//!   ack says `duplicate` (it was applied on an earlier link, which this link's snapshot or
//!   resume covers); or when it is accepted after a snapshot came while it was on its way (no
//!   delta may ever list it). A command that appended no event is dropped with its ack. A live
//!   query's window that the command did not touch still gets a delta listing it (without ops).
//!   (Brief lapses, never a double count: when the copy that ends it was read before the
//!   command's commit — a snapshot sent after the ack, a snapshot that came while it was on its
//!   way, or a duplicate ack overtaking the resumed deltas — the delta that carries the command
//!   follows, and the row shows the old state in between.)
//! - A rejection drops it at once and hands it back with the server's reason (a rollback).
//! - Through reconnects nothing changes: the runtime resends the command with the same seq and
//!   the server applies it once. Across restarts, [`restore`](Optimistic::restore) shows again
//!   the changes of the commands a previous run left unanswered (the runtime keeps them in its
//!   outbox file or the tab's `sessionStorage`) and hands them back to be awaited.

use std::borrow::Cow;
use std::collections::BTreeMap;

use lucarne_protocol::{Ack, Key};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{Client, CommandError};
use crate::event::ViewEvent;
use crate::live_view::{Changes, LiveView};

/// A command of the app whose effect on one row of a view can be shown before the server
/// applies it.
pub trait Change<T>: Sized {
    /// The command that makes the change on the server: its name and payload.
    fn command(&self) -> (String, Value);

    /// The key of the row it changes.
    fn key(&self) -> Key;

    /// The row once the change is made: `row` as shown before it (`None`: the view has no such
    /// row yet); `None`: the change removes it.
    fn apply(&self, row: Option<T>) -> Option<T>;

    /// The change a command stands for, for the commands a previous run left unanswered
    /// ([`Optimistic::restore`]); `None` (the default) for commands this view does not show.
    fn from_command(name: &str, payload: &Value) -> Option<Self> {
        let _ = (name, payload);
        None
    }
}

/// A command on its way: what the server gets (`seq` is the client's, for exactly-once).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Its sequence number for this client.
    pub seq: u64,
    /// The command's name.
    pub name: String,
    /// Its payload.
    pub payload: Value,
}

impl Command {
    /// Sends it and waits for its answer, through reconnects (the runtime keeps it in its
    /// outbox and resends it with the same seq): what an iced `Task::perform` runs.
    pub async fn deliver(self, client: Client) -> Answered {
        let result = client.send_with_seq(self.seq, &self.name, self.payload).await;
        Answered { seq: self.seq, result }
    }
}

/// The server's answer to a [`Command`] (a message for [`Optimistic::answered`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    /// The command's sequence number.
    pub seq: u64,
    /// Its ack, or why it did not succeed.
    pub result: Result<Ack, CommandError>,
}

/// What an answer meant for a pending change.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<C> {
    /// The server applied it (its change stays shown until the rows hold it, if they do not yet).
    Accepted(C),
    /// The server refused it, or the client stopped first: the change is no longer shown.
    RolledBack {
        /// The change, as it was sent.
        change: C,
        /// Why.
        error: CommandError,
    },
    /// No pending change has this seq (answered before, or not sent through this view).
    Unknown,
}

#[derive(Debug, Clone)]
struct Entry<C> {
    change: C,
    key: Key,
    /// The log position of its last event, once its ack said it.
    applied_at: Option<u64>,
    /// The rows from the server hold its effect: no longer shown over them.
    held: bool,
    /// Its answer came (it is forgotten once also held).
    answered: bool,
    /// A copy of the view (a snapshot) came after it was sent, before its answer: if the answer
    /// says it was applied, that copy or the deltas after it hold it.
    copied: bool,
}

impl<C> Entry<C> {
    fn new(change: C, key: Key) -> Self {
        Entry { change, key, applied_at: None, held: false, answered: false, copied: false }
    }
}

/// A [`LiveView`] with the app's own pending changes shown over the server's rows.
#[derive(Debug, Clone)]
pub struct Optimistic<T, C> {
    view: LiveView<T>,
    client_id: String,
    pending: BTreeMap<u64, Entry<C>>,
}

impl<T: DeserializeOwned + Clone, C: Change<T> + Clone> Optimistic<T, C> {
    /// An empty view for the commands of `client_id` (the client's: [`Client::client_id`]).
    pub fn new(client_id: impl Into<String>) -> Self {
        Optimistic { view: LiveView::new(), client_id: client_id.into(), pending: BTreeMap::new() }
    }

    /// Shows `change` at once and gives the command to send with `seq` (a sequence number of
    /// this client never used before: [`Client::send_optimistic`] picks one and does both).
    pub fn begin(&mut self, seq: u64, change: C) -> Command {
        let (name, payload) = change.command();
        let key = change.key();
        self.pending.insert(seq, Entry::new(change, key));
        Command { seq, name, payload }
    }

    /// Shows again the changes of `commands` (those a previous run left unanswered:
    /// [`Client::unanswered`]) that are changes of this view, and gives them back to be awaited
    /// with [`Command::deliver`].
    pub fn restore(&mut self, commands: impl IntoIterator<Item = Command>) -> Vec<Command> {
        let mut restored = Vec::new();
        for command in commands {
            if let Some(change) = C::from_command(&command.name, &command.payload) {
                let key = change.key();
                self.pending.insert(command.seq, Entry::new(change, key));
                restored.push(command);
            }
        }
        restored
    }

    /// Applies one subscription event and says what changed as shown: the rows the event
    /// changed, and those whose pending changes it showed to be applied.
    pub fn apply(&mut self, event: &ViewEvent) -> Changes {
        let mut changes = self.view.apply(event);
        if changes.out_of_order {
            return changes;
        }
        let mut held: Vec<u64> = Vec::new();
        match event {
            ViewEvent::Delta(delta) => {
                held.extend(delta.acked.iter().filter(|c| c.client_id == self.client_id).map(|c| c.seq));
            }
            // A copy sent after a command's ack holds its effect; one sent before it, may.
            ViewEvent::Snapshot { .. } => {
                for (seq, entry) in &mut self.pending {
                    if entry.applied_at.is_some() {
                        held.push(*seq);
                    } else {
                        entry.copied = true;
                    }
                }
            }
            _ => {}
        }
        if let Some(at) = self.view.position() {
            let reached = self.pending.iter().filter(|(_, e)| e.applied_at.is_some_and(|p| p <= at.version));
            held.extend(reached.map(|(seq, _)| *seq));
        }
        for seq in held {
            if let Some(key) = self.hold(seq)
                && !changes.upserted.contains(&key)
            {
                changes.upserted.push(key);
            }
        }
        changes
    }

    /// The rows hold the change sent with `seq`: it stops being shown over them (its key, if it
    /// was shown until now). Forgotten once answered too.
    fn hold(&mut self, seq: u64) -> Option<Key> {
        let entry = self.pending.get_mut(&seq)?;
        let was_shown = !std::mem::replace(&mut entry.held, true);
        let key = was_shown.then(|| entry.key.clone());
        if entry.answered {
            self.pending.remove(&seq);
        }
        key
    }

    /// Applies the server's answer to one of the commands (each is answered once: a second
    /// answer is [`Outcome::Unknown`]).
    pub fn answered(&mut self, answered: Answered) -> Outcome<C> {
        let Answered { seq, result } = answered;
        let Some(entry) = self.pending.get_mut(&seq).filter(|e| !e.answered) else { return Outcome::Unknown };
        match result {
            Ok(ack) => {
                entry.answered = true;
                entry.applied_at = Some(ack.position);
                let change = entry.change.clone();
                // A duplicate was applied on an earlier link: the copy this link brought (a
                // snapshot, or a resume with the deltas missed) holds it. After a snapshot that
                // came while it was on its way, no delta may ever list it (the snapshot held it).
                let reached = ack.events == 0
                    || ack.duplicate
                    || entry.copied
                    || self.view.position().is_some_and(|at| at.version >= ack.position);
                if reached || entry.held {
                    self.pending.remove(&seq);
                }
                Outcome::Accepted(change)
            }
            Err(error) => match self.pending.remove(&seq) {
                // The rows hold it: it was applied (the client stopped before its answer).
                Some(entry) if entry.held => Outcome::Accepted(entry.change),
                Some(entry) => Outcome::RolledBack { change: entry.change, error },
                None => Outcome::Unknown,
            },
        }
    }

    /// The row with this key as shown: the server's with every pending change to it folded
    /// over, oldest first (`None`: no such row, or a pending change removes it).
    pub fn get(&self, key: &Key) -> Option<Cow<'_, T>> {
        let mut changes = self.shown().filter(|e| &e.key == key).peekable();
        let row = self.view.get(key);
        if changes.peek().is_none() {
            return row.map(Cow::Borrowed);
        }
        changes.fold(row.cloned(), |row, e| e.change.apply(row)).map(Cow::Owned)
    }

    /// Every row as shown, with its key: the server's rows in key order (without those a
    /// pending change removes), then the rows only pending changes create.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, Cow<'_, T>)> {
        let server = self.view.iter().filter_map(|(key, _)| Some((key, self.get(key)?)));
        let mut created: Vec<&Key> = Vec::new();
        for entry in self.shown() {
            if self.view.get(&entry.key).is_none() && !created.contains(&&entry.key) {
                created.push(&entry.key);
            }
        }
        server.chain(created.into_iter().filter_map(|key| Some((key, self.get(key)?))))
    }

    /// Whether a change to this row is pending.
    pub fn is_pending(&self, key: &Key) -> bool {
        self.shown().any(|e| &e.key == key)
    }

    /// The pending changes (shown over the server's rows) with their seqs, oldest first.
    pub fn pending(&self) -> impl DoubleEndedIterator<Item = (u64, &C)> {
        self.pending.iter().filter(|(_, e)| !e.held).map(|(seq, e)| (*seq, &e.change))
    }

    /// The change sent with `seq`, while it is pending or waits for its answer.
    pub fn sent(&self, seq: u64) -> Option<&C> {
        self.pending.get(&seq).map(|e| &e.change)
    }

    /// The entries whose change is shown over the server's rows, oldest first.
    fn shown(&self) -> impl DoubleEndedIterator<Item = &Entry<C>> {
        self.pending.values().filter(|e| !e.held)
    }

    /// The rows as the server sent them, without pending changes (and the view's status and
    /// position).
    pub fn view(&self) -> &LiveView<T> {
        &self.view
    }
}

impl Client {
    /// Shows `change` in `view` at once and gives the command to deliver
    /// ([`Command::deliver`]), with the next sequence number of this client.
    pub fn send_optimistic<T, C>(&self, view: &mut Optimistic<T, C>, change: C) -> Command
    where
        T: DeserializeOwned + Clone,
        C: Change<T> + Clone,
    {
        view.begin(self.next_seq(), change)
    }
}

#[cfg(test)]
mod tests;
