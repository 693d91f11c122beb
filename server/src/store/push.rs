//! The store's part of platform push: registrations kept durably, and the push **outbox**,
//! written in the same transaction as the events whose changes it pushes — so a push is never
//! lost once the command that caused it is acked, even by kill -9.
//!
//! The outbox holds at most one pending push per registration: a change planned while one is
//! pending replaces its payload (counting the changes it stands for) and keeps its due time, so a
//! burst within the coalescing window is one push. A push is taken out only once sent, and only
//! if no newer change replaced it meanwhile ([`Store::push_sent`]); a crash between sending and
//! taking it out sends it again once after the restart (the push service replaces it by topic).

use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Change, Store, StoreError, now_ms};

/// Registrations by id: their stored form is the push module's.
pub(super) const REGISTRATIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("push_registrations");
/// Pending pushes by registration id.
pub(super) const OUTBOX: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("push_outbox");

/// Decides, inside a commit, which registrations a commit's changes push to: each with the
/// payload of its push (the last change wins) and how many changes it stands for.
pub trait PushPlan: Send + Sync + std::fmt::Debug {
    /// The pushes the changes cause, by registration id.
    fn plan(&self, changes: &[Arc<Change>]) -> Vec<Planned>;
    /// How long a push waits for more changes to coalesce, in milliseconds.
    fn window_ms(&self) -> u64;
}

/// A push planned by a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The registration.
    pub registration: String,
    /// The payload.
    pub payload: String,
    /// The changes it stands for.
    pub changes: u32,
}

/// A push waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The payload to send (the last change's).
    pub payload: String,
    /// The changes it stands for.
    pub changes: u32,
    /// Moved on each time a change replaces the payload: a push is taken out only if it is the
    /// one sent.
    pub seq: u64,
    /// When it may first be sent (its first change plus the coalescing window), ms since 1970.
    pub due_ms: u64,
    /// When to try again after a failed try (0: not tried yet).
    pub retry_ms: u64,
    /// Tries so far.
    pub attempts: u32,
    /// Sent even while its client is connected (a test push).
    #[serde(default)]
    pub forced: bool,
}

impl Pending {
    /// When it may be sent.
    pub fn ready_ms(&self) -> u64 {
        self.due_ms.max(self.retry_ms)
    }
}

/// Writes a commit's planned pushes into the outbox (in the commit's transaction); returns how
/// many.
pub(super) fn write_planned(
    txn: &WriteTransaction,
    plan: &dyn PushPlan,
    changes: &[Arc<Change>],
) -> Result<usize, StoreError> {
    let planned = plan.plan(changes);
    if planned.is_empty() {
        return Ok(0);
    }
    let mut outbox = txn.open_table(OUTBOX)?;
    let now = now_ms();
    for p in &planned {
        let before: Option<Pending> = match outbox.get(p.registration.as_str())? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        };
        let pending = match before {
            Some(old) => Pending {
                payload: p.payload.clone(),
                changes: old.changes.saturating_add(p.changes),
                seq: old.seq + 1,
                ..old
            },
            None => Pending {
                payload: p.payload.clone(),
                changes: p.changes,
                seq: 1,
                due_ms: now + plan.window_ms(),
                retry_ms: 0,
                attempts: 0,
                forced: false,
            },
        };
        outbox.insert(p.registration.as_str(), serde_json::to_vec(&pending)?.as_slice())?;
    }
    Ok(planned.len())
}

impl Store {
    /// Installs what decides a commit's pushes (once; later calls are ignored).
    pub fn set_push_plan(&self, plan: Arc<dyn PushPlan>) {
        let _ = self.push_plan.set(plan);
    }

    /// Every registration kept: id and stored form.
    pub fn push_registrations(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(REGISTRATIONS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Keeps a registration (durably), in place of one with its id.
    pub fn put_push_registration(&self, id: &str, stored: &[u8]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(REGISTRATIONS)?.insert(id, stored)?;
        txn.commit()?;
        Ok(())
    }

    /// Forgets a registration and its pending push; false when there was none.
    pub fn remove_push_registration(&self, id: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let existed = txn.open_table(REGISTRATIONS)?.remove(id)?.is_some();
        txn.open_table(OUTBOX)?.remove(id)?;
        txn.commit()?;
        Ok(existed)
    }

    /// Queues pushes to send now, even to connected clients (test pushes): each takes the place
    /// of its registration's pending push, if any (its changes still counted).
    pub fn queue_forced_pushes(&self, planned: &[Planned]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut outbox = txn.open_table(OUTBOX)?;
            for p in planned {
                let before: Option<Pending> = match outbox.get(p.registration.as_str())? {
                    Some(v) => Some(serde_json::from_slice(v.value())?),
                    None => None,
                };
                let pending = Pending {
                    payload: p.payload.clone(),
                    changes: before.as_ref().map_or(0, |b| b.changes).saturating_add(p.changes),
                    seq: before.map_or(1, |b| b.seq + 1),
                    due_ms: now_ms(),
                    retry_ms: 0,
                    attempts: 0,
                    forced: true,
                };
                outbox.insert(p.registration.as_str(), serde_json::to_vec(&pending)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Every pending push, by registration id.
    pub fn pending_pushes(&self) -> Result<Vec<(String, Pending)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_owned(), serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }

    /// Takes a pending push out once sent (or given up), unless a newer change replaced it
    /// since it was read (`seq`): that one is sent next.
    pub fn push_sent(&self, id: &str, seq: u64) -> Result<(), StoreError> {
        self.update_pending(id, seq, None)
    }

    /// A failed try: the push (or the newer one that replaced it) stays, to be tried again at
    /// `retry_ms`.
    pub fn push_failed(&self, id: &str, seq: u64, retry_ms: u64) -> Result<(), StoreError> {
        self.update_pending(id, seq, Some(retry_ms))
    }

    fn update_pending(&self, id: &str, seq: u64, retry_ms: Option<u64>) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut outbox = txn.open_table(OUTBOX)?;
            let pending: Option<Pending> = match outbox.get(id)? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            };
            match (pending, retry_ms) {
                // Gone with its registration meanwhile.
                (None, _) => {}
                (Some(p), None) if p.seq == seq => {
                    outbox.remove(id)?;
                }
                // Replaced by a newer change since: that one is sent next.
                (Some(_), None) => {}
                // Failed: it, or the newer one, waits (a newer change does not skip the backoff).
                (Some(p), Some(retry_ms)) => {
                    let later = Pending { retry_ms, attempts: p.attempts.saturating_add(1), ..p };
                    outbox.insert(id, serde_json::to_vec(&later)?.as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}
