//! A cluster node's store: the stream's messages folded into it ([`Store::replicate`]), the
//! stream it is bound to and the sequence it reached ([`Store::bind_stream`],
//! [`Store::applied`]), commands decided against its rows without writing
//! ([`Store::decide_all`]), and its relaxed syncing.

use lucarne_protocol::CommandRef;
use redb::{Durability, ReadableDatabase, ReadableTable};

use super::fold::{BatchState, EventKeys, fold_into};
use super::{Committed, DEDUP, LOG, REPLICA, SLOTS, Store, StoreError, now_ms, read_slot_rows};
use crate::commands::Rejection;
use crate::log::{Append, Appended};

/// The epoch of a view from the server's file on a cluster node: its SQL's 64-bit FNV-1a hash,
/// folded into 53 bits (exact in a JavaScript number) and made non-zero.
pub(super) fn sql_epoch(sql: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ((hash >> 11) ^ (hash & 0x7ff)).max(1)
}

/// How [`Store::decide_all`] decided a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Its events, to append (in this order after the ones accepted before it).
    Accepted(Vec<crate::log::NewEvent>),
    /// Refused by its guard.
    Rejected(Rejection),
    /// In the log already: what its first append did.
    Appended(Appended),
}

/// How often a cluster node syncs its copy of the stream to disk.
pub const REPLICA_SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Store {
    /// Folds messages of a cluster's stream, in stream order, each with the time the stream
    /// took it, like [`Store::commit`]; `through` (the stream sequence of the last message read,
    /// including any that carried nothing to fold) is recorded in the same commit
    /// ([`Store::applied`]).
    pub fn replicate(&self, messages: &[(Append, u64)], through: u64) -> Result<Committed, StoreError> {
        self.commit_with(messages.iter().map(|(a, ts)| (a, Some(*ts))), Some(through))
    }

    /// How a commit is made durable. A node's own log: every commit synced before it is acked.
    /// A cluster node's copy of the stream: the stream is what must survive, so the copy is
    /// synced at most once every [`REPLICA_SYNC_EVERY`]; after a crash the node folds again from
    /// the last synced commit, which recorded the stream sequence it had reached.
    pub(super) fn durability(&self, replica: bool) -> Durability {
        if !replica {
            return Durability::Immediate;
        }
        let Ok(mut last) = self.last_synced.lock() else { return Durability::Immediate };
        if last.elapsed() >= REPLICA_SYNC_EVERY {
            *last = std::time::Instant::now();
            Durability::Immediate
        } else {
            Durability::None
        }
    }

    /// The last sequence of the cluster's stream folded into this store (0 for none).
    pub fn applied(&self) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(REPLICA)?;
        let raw = table.get("applied")?.map(|v| v.value().to_vec()).unwrap_or_default();
        Ok(raw.try_into().map_or(0, u64::from_be_bytes))
    }

    /// Binds this store to a cluster stream (`name`: its name and creation time), or checks that
    /// it was bound to the same one. A store with events of its own, or bound to another stream
    /// (one deleted and created again included), is refused: its positions would not be the
    /// stream's.
    pub fn bind_stream(&self, name: &str) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut table = txn.open_table(REPLICA)?;
            let bound = table.get("stream")?.map(|v| String::from_utf8_lossy(v.value()).into_owned());
            match bound {
                Some(bound) if bound == name => {}
                Some(bound) => {
                    return Err(StoreError::OtherLog(format!(
                        "this data directory folds the stream {bound}, not {name}: give the node a new \
                         directory (it rebuilds from the stream)"
                    )));
                }
                None => {
                    if txn.open_table(LOG)?.last()?.is_some() {
                        return Err(StoreError::OtherLog(
                            "this data directory holds a single node's own log; a cluster node needs a \
                             new directory (it rebuilds from the stream)"
                                .into(),
                        ));
                    }
                    table.insert("stream", name.as_bytes())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// What the first append of a key did (from the dedup index), if it was appended.
    pub fn appended(&self, key: &CommandRef) -> Result<Option<Appended>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let dedup = txn.open_table(DEDUP)?;
        Ok(dedup.get((key.client_id.as_str(), key.seq))?.map(|v| {
            let (position, events) = v.value();
            Appended { position, events, duplicate: false }
        }))
    }

    /// Decides guarded commands in order against the live views' rows as committed now, each
    /// against the rows as the ones accepted before it would leave them (nothing is written);
    /// with the cluster stream's sequence the committed rows reflect ([`Store::applied`]). A
    /// command already in the log is answered from it.
    pub fn decide_all(
        &self,
        commands: &[(&CommandRef, &crate::commands::Guard)],
    ) -> Result<(Vec<Decision>, u64), StoreError> {
        let txn = self.db()?.begin_read()?;
        let mut folds = self.live_folds(&txn.open_table(SLOTS)?)?;
        let rows = folds.iter().map(|f| read_slot_rows(&txn, &f.slot)).collect::<Result<Vec<_>, _>>()?;
        let dedup = txn.open_table(DEDUP)?;
        let mut position = txn.open_table(LOG)?.last()?.map_or(0, |(k, _)| k.value());
        let now = now_ms();
        let mut out = Vec::with_capacity(commands.len());
        let mut event_keys = EventKeys::new(folds.iter().map(|f| f.view.as_ref()));
        for (key, guard) in commands {
            if let Some(seen) = dedup.get((key.client_id.as_str(), key.seq))? {
                let (position, events) = seen.value();
                out.push(Decision::Appended(Appended { position, events, duplicate: true }));
                continue;
            }
            match guard.decide(&BatchState { folds: &folds, rows: &rows }) {
                Err(rejection) => out.push(Decision::Rejected(rejection)),
                Ok(events) => {
                    for e in &events {
                        position += 1;
                        let event = e.at(position, now, key);
                        let lifted = self.upcasters.apply(&event);
                        event_keys.next_event();
                        let each = folds.iter_mut().zip(&rows).enumerate();
                        for (i, (fold, stored)) in each.filter(|(_, (f, _))| f.view.matches(&lifted)) {
                            let row = event_keys.key(i, &fold.view, &lifted);
                            fold_into(&fold.view, &lifted, row, stored, &mut fold.work)?;
                        }
                    }
                    out.push(Decision::Accepted(events));
                }
            }
        }
        let raw = txn.open_table(REPLICA)?.get("applied")?.map(|v| v.value().to_vec()).unwrap_or_default();
        Ok((out, raw.try_into().map_or(0, u64::from_be_bytes)))
    }
}
