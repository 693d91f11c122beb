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
//! value  := 0 null | 1 false | 2 true | 3 u64 varint | 4 negative i64 varint(!n) | 5 f64 (8 bytes LE)
//!         | 6 string | 7 array varint value* | 8 object varint (string value)*
//! string := varint(len) utf-8
//! entry  := varint from, varint to, varint(acked) (string varint)*, varint(rows) touched*
//! touched:= 0 state (clients did not see it before) | 1 state (they did) | 2 dropped key value
//! ```
//!
//! Reading is total: a record cut short, a tag it does not know, text that is not UTF-8, nesting
//! past [`MAX_DEPTH`] or a count past the bytes left is a [`DecodeError`] with its offset, never
//! a panic or an allocation the record's size does not bound.

use lucarne_protocol::CommandRef;
use serde_json::{Map, Number, Value};

use crate::view::{Acc, GroupState};

/// The first byte of a row state in this encoding (1 was MessagePack, `{` JSON).
pub(super) const STATE: u8 = 2;
/// The first byte of a changelog entry in this encoding.
pub(super) const ENTRY: u8 = 2;
/// The deepest nesting of arrays and objects a value may have.
const MAX_DEPTH: usize = 128;

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record ends before its fields do.
    #[error("cut short at byte {0}")]
    Truncated(usize),
    /// A tag this version does not know.
    #[error("unknown tag {tag} at byte {at}")]
    UnknownTag {
        /// The tag.
        tag: u8,
        /// Where.
        at: usize,
    },
    /// Text that is not UTF-8.
    #[error("text that is not UTF-8 at byte {0}")]
    NotUtf8(usize),
    /// Arrays and objects nested past the limit.
    #[error("nested deeper than {MAX_DEPTH} at byte {0}")]
    TooDeep(usize),
    /// A varint longer than a `u64`, or a count past the bytes left.
    #[error("an impossible length at byte {0}")]
    BadLength(usize),
    /// Bytes left after the record.
    #[error("{0} bytes after the record")]
    Trailing(usize),
}

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
    let mut r = Reader { bytes: body, at: 0 };
    let state = r.state()?;
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
        varint(&mut out, from);
        varint(&mut out, to);
        varint(&mut out, acked.len() as u64);
        for key in acked {
            string(&mut out, &key.client_id);
            varint(&mut out, key.seq);
        }
        varint(&mut out, rows as u64);
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
        value(&mut self.out, key);
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
    let mut r = Reader { bytes: body, at: 0 };
    let (from, to) = (r.varint()?, r.varint()?);
    let n = r.count(2)?;
    let mut acked = Vec::with_capacity(n);
    for _ in 0..n {
        acked.push(CommandRef { client_id: r.string()?, seq: r.varint()? });
    }
    let n = r.count(2)?;
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let at = r.at;
        rows.push(match r.byte()? {
            tag @ (0 | 1) => Touched::Row { was_visible: tag == 1, state: r.state()? },
            2 => Touched::Dropped { key: r.value(0)? },
            tag => return Err(DecodeError::UnknownTag { tag, at }),
        });
    }
    r.end()?;
    Ok(EntryIn { from, to, acked, rows })
}

fn write_state(out: &mut Vec<u8>, state: &GroupState) {
    varint(out, state.keys.len() as u64);
    for key in &state.keys {
        value(out, key);
    }
    varint(out, state.accs.len() as u64);
    for acc in &state.accs {
        match acc {
            Acc::Key => out.push(0),
            Acc::Value(v) => tagged(out, 1, v),
            Acc::Count(n) => {
                out.push(2);
                varint(out, *n);
            }
            Acc::Sum(v) => tagged(out, 3, v),
            Acc::Min(v) => tagged(out, 4, v),
            Acc::Max(v) => tagged(out, 5, v),
            Acc::Avg { sum, n } => {
                out.push(6);
                out.extend_from_slice(&sum.to_le_bytes());
                varint(out, *n);
            }
            Acc::First(v) => tagged(out, 7, v),
            Acc::Last(v) => tagged(out, 8, v),
        }
    }
}

fn tagged(out: &mut Vec<u8>, tag: u8, v: &Value) {
    out.push(tag);
    value(out, v);
}

fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => out.push(1 + u8::from(*b)),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(3);
                varint(out, u);
            } else if let Some(i) = n.as_i64() {
                // Negative: `!i` is `-i - 1`, not negative.
                out.push(4);
                varint(out, !(i as u64));
            } else {
                out.push(5);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(6);
            string(out, s);
        }
        Value::Array(items) => {
            out.push(7);
            varint(out, items.len() as u64);
            for item in items {
                value(out, item);
            }
        }
        Value::Object(map) => {
            out.push(8);
            varint(out, map.len() as u64);
            for (k, item) in map {
                string(out, k);
                value(out, item);
            }
        }
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    let low = |n: u64| n.to_le_bytes()[0];
    while n >= 0x80 {
        out.push(low(n) | 0x80);
        n >>= 7;
    }
    out.push(low(n));
}

/// Reads a record front to back, knowing its offset for errors.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.at).ok_or(DecodeError::Truncated(self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(DecodeError::Truncated(self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::BadLength(start));
            }
            n |= bits << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(DecodeError::BadLength(start))
    }

    /// A count of items that take at least `min` bytes each: never more than the bytes left
    /// could hold, so no allocation outgrows the record.
    fn count(&mut self, min: usize) -> Result<usize, DecodeError> {
        let at = self.at;
        let n = self.varint()?;
        let left = (self.bytes.len() - self.at) / min.max(1);
        usize::try_from(n).ok().filter(|&n| n <= left).ok_or(DecodeError::BadLength(at))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.count(1)?;
        let at = self.at;
        let raw = self.take(len)?;
        std::str::from_utf8(raw).map(str::to_owned).map_err(|_| DecodeError::NotUtf8(at))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let raw = self.take(8)?;
        let mut le = [0; 8];
        le.copy_from_slice(raw);
        Ok(f64::from_le_bytes(le))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.at;
        Ok(match self.byte()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::from(self.varint()?),
            4 => Value::from(!self.varint()? as i64),
            // A non-finite number never reaches a state (JSON has none): read as `null`, as
            // serde_json would hold it.
            5 => Number::from_f64(self.f64()?).map_or(Value::Null, Value::Number),
            6 => Value::String(self.string()?),
            7 | 8 if depth >= MAX_DEPTH => return Err(DecodeError::TooDeep(at)),
            7 => {
                let n = self.count(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            8 => {
                let n = self.count(2)?;
                let mut map = Map::with_capacity(n);
                for _ in 0..n {
                    let k = self.string()?;
                    map.insert(k, self.value(depth + 1)?);
                }
                Value::Object(map)
            }
            tag => return Err(DecodeError::UnknownTag { tag, at }),
        })
    }

    fn state(&mut self) -> Result<GroupState, DecodeError> {
        let n = self.count(1)?;
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            keys.push(self.value(0)?);
        }
        let n = self.count(1)?;
        let mut accs = Vec::with_capacity(n);
        for _ in 0..n {
            let at = self.at;
            accs.push(match self.byte()? {
                0 => Acc::Key,
                1 => Acc::Value(self.value(0)?),
                2 => Acc::Count(self.varint()?),
                3 => Acc::Sum(self.value(0)?),
                4 => Acc::Min(self.value(0)?),
                5 => Acc::Max(self.value(0)?),
                6 => Acc::Avg { sum: self.f64()?, n: self.varint()? },
                7 => Acc::First(self.value(0)?),
                8 => Acc::Last(self.value(0)?),
                tag => return Err(DecodeError::UnknownTag { tag, at }),
            });
        }
        Ok(GroupState { keys, accs })
    }

    fn end(&self) -> Result<(), DecodeError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            left => Err(DecodeError::Trailing(left)),
        }
    }
}

#[cfg(test)]
mod tests;
