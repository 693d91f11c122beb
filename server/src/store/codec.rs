//! The store's own encoding of view row states and changelog entries: a tag byte
//! ([`STATE`], [`ENTRY`]), then the fields in a fixed order, numbers as LEB128 varints, no
//! names. It replaces serde-driven MessagePack (tag 1, which wrote each accumulator's variant
//! name as a string) where it is written the most: every row a commit touches is written in its
//! changelog entry, and again when the rows are written back.
//!
//! ```text
//! state  := varint(keys) value* varint(accs) acc*
//! acc    := 0 key | 1 value | 2 count varint | 3 sum value | 4 min value | 5 max value
//!         | 6 avg f64 varint | 7 first value | 8 last value
//! entry  := varint from, varint to, varint(acked) (text varint)*, varint(rows) touched*
//! touched:= 0 state (clients did not see it before) | 1 state (they did) | 2 dropped key value
//! ```
//!
//! Values and texts are [`lucarne_protocol::packed`]'s. Reading is total: a record cut short, a
//! tag it does not know, text that is not UTF-8, nesting past its limit or a count past the bytes
//! left is a [`DecodeError`] with its offset (counted after the tag byte), never a panic.

use lucarne_protocol::CommandRef;
pub use lucarne_protocol::packed::PackedError as DecodeError;
use lucarne_protocol::packed::{RESERVED, Reader, write_text, write_value, write_varint};
use serde_json::Value;

use crate::view::{Acc, GroupState};

/// The first byte of a row state in this encoding (1 was MessagePack, `{` JSON).
pub(super) const STATE: u8 = 2;
/// The first byte of a changelog entry in this encoding.
pub(super) const ENTRY: u8 = 2;

/// A row state as stored: [`STATE`], then the state.
#[cfg(test)]
pub(super) fn state_bytes(state: &GroupState) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    state_into(&mut out, state);
    out
}

/// A row state as stored — [`STATE`], then the state — written into `out` in place of what it
/// held (a buffer reused row to row).
pub(super) fn state_into(out: &mut Vec<u8>, state: &GroupState) {
    out.clear();
    out.push(STATE);
    write_state(out, state);
}

/// Reads a row state written by [`state_into`] (the tag already checked and skipped).
pub(super) fn read_state_bytes(body: &[u8]) -> Result<GroupState, DecodeError> {
    let mut r = Reader::new(body);
    let state = read_state(&mut r)?;
    r.end()?;
    Ok(state)
}

/// Writes a changelog entry, its rows written by `rows` (see [`EntryWriter`]).
pub(super) struct EntryWriter {
    out: Vec<u8>,
}

impl EntryWriter {
    /// An entry from version `from` to `to`, acking `acked`, with `rows` touched rows to follow.
    pub(super) fn new(from: u64, to: u64, acked: &[CommandRef], rows: usize) -> EntryWriter {
        let mut out = Vec::with_capacity(32 + rows * 64);
        out.push(ENTRY);
        write_varint(&mut out, from);
        write_varint(&mut out, to);
        write_varint(&mut out, acked.len() as u64);
        for key in acked {
            write_text(&mut out, &key.client_id);
            write_varint(&mut out, key.seq);
        }
        write_varint(&mut out, rows as u64);
        EntryWriter { out }
    }

    /// A touched row's state, and whether clients saw it before.
    pub(super) fn row(&mut self, was_visible: bool, state: &GroupState) {
        self.out.push(u8::from(was_visible));
        write_state(&mut self.out, state);
    }

    /// A row that left the view, by its key on the wire.
    pub(super) fn dropped(&mut self, key: &Value) {
        self.out.push(2);
        write_value(&mut self.out, key);
    }

    /// The entry's bytes.
    pub(super) fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// A changelog entry as read back.
#[derive(Debug, PartialEq)]
pub(super) struct EntryIn {
    pub(super) from: u64,
    pub(super) to: u64,
    pub(super) acked: Vec<CommandRef>,
    pub(super) rows: Vec<super::rows::Touched>,
}

/// Reads a changelog entry written by [`EntryWriter`] (the tag already checked and skipped).
pub(super) fn read_entry_bytes(body: &[u8]) -> Result<EntryIn, DecodeError> {
    use super::rows::Touched;
    let mut r = Reader::new(body);
    let (from, to) = (r.varint()?, r.varint()?);
    let n = r.count(2)?;
    let mut acked = Vec::with_capacity(n.min(RESERVED));
    for _ in 0..n {
        acked.push(CommandRef { client_id: r.text()?.to_owned(), seq: r.varint()? });
    }
    let n = r.count(2)?;
    let mut rows = Vec::with_capacity(n.min(RESERVED));
    for _ in 0..n {
        let at = r.at();
        rows.push(match r.byte()? {
            tag @ (0 | 1) => Touched::Row { was_visible: tag == 1, state: read_state(&mut r)? },
            2 => Touched::Dropped { key: r.value()? },
            tag => return Err(DecodeError::UnknownTag { tag, at }),
        });
    }
    r.end()?;
    Ok(EntryIn { from, to, acked, rows })
}

fn write_state(out: &mut Vec<u8>, state: &GroupState) {
    write_varint(out, state.keys.len() as u64);
    for key in &state.keys {
        write_value(out, key);
    }
    write_varint(out, state.accs.len() as u64);
    for acc in &state.accs {
        match acc {
            Acc::Key => out.push(0),
            Acc::Value(v) => tagged(out, 1, v),
            Acc::Count(n) => {
                out.push(2);
                write_varint(out, *n);
            }
            Acc::Sum(v) => tagged(out, 3, v),
            Acc::Min(v) => tagged(out, 4, v),
            Acc::Max(v) => tagged(out, 5, v),
            Acc::Avg { sum, n } => {
                out.push(6);
                out.extend_from_slice(&sum.to_le_bytes());
                write_varint(out, *n);
            }
            Acc::First(v) => tagged(out, 7, v),
            Acc::Last(v) => tagged(out, 8, v),
        }
    }
}

fn tagged(out: &mut Vec<u8>, tag: u8, v: &Value) {
    out.push(tag);
    write_value(out, v);
}

fn read_state(r: &mut Reader<'_>) -> Result<GroupState, DecodeError> {
    let n = r.count(1)?;
    let mut keys = Vec::with_capacity(n.min(RESERVED));
    for _ in 0..n {
        keys.push(r.value()?);
    }
    let n = r.count(1)?;
    let mut accs = Vec::with_capacity(n.min(RESERVED));
    for _ in 0..n {
        let at = r.at();
        accs.push(match r.byte()? {
            0 => Acc::Key,
            1 => Acc::Value(r.value()?),
            2 => Acc::Count(r.varint()?),
            3 => Acc::Sum(r.value()?),
            4 => Acc::Min(r.value()?),
            5 => Acc::Max(r.value()?),
            6 => Acc::Avg { sum: r.f64()?, n: r.varint()? },
            7 => Acc::First(r.value()?),
            8 => Acc::Last(r.value()?),
            tag => return Err(DecodeError::UnknownTag { tag, at }),
        });
    }
    Ok(GroupState { keys, accs })
}

#[cfg(test)]
mod tests;
