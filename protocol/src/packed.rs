//! JSON values packed into bytes, for what the server keeps of rows (the store's row states and
//! changelog entries, the search index's rows): a tag byte per value, numbers as LEB128
//! varints, no names.
//!
//! ```
//! use lucarne_protocol::packed::{Reader, write_value};
//! use serde_json::json;
//!
//! let mut bytes = Vec::new();
//! write_value(&mut bytes, &json!({ "total": 12.5, "tags": ["a", null] }));
//! let mut reader = Reader::new(&bytes);
//! assert_eq!(reader.value()?, json!({ "total": 12.5, "tags": ["a", null] }));
//! reader.end()?;
//! # Ok::<(), lucarne_protocol::packed::PackedError>(())
//! ```
//!
//! ```text
//! value  := 0 null | 1 false | 2 true | 3 u64 varint | 4 negative i64 varint(!n) | 5 f64 (8 bytes LE)
//!         | 6 text | 7 array varint value* | 8 object varint (text value)*
//! text   := varint(len) utf-8
//! ```
//!
//! Reading is total: bytes cut short, a tag it does not know, text that is not UTF-8 (read, not
//! skipped), nesting past [`MAX_DEPTH`] or a count past the bytes left is a [`PackedError`] with
//! its offset from the reader's start, never a panic; a count reserves room for at most
//! [`RESERVED`] items ahead of reading them. (A `Number` keeps its kind: `5`
//! reads back an integer, `5.0` a float.)

use serde_json::{Map, Number, Value};

/// The deepest nesting of arrays and objects a value may have.
pub const MAX_DEPTH: usize = 128;

/// The items an array or object reserves room for before reading them (it grows past that as
/// they are read): a count is bounded by the bytes left, but each level of a nesting could
/// claim them all.
pub const RESERVED: usize = 64;

/// Why packed bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackedError {
    /// The bytes end before the value does.
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
    /// Arrays and objects nested past [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} at byte {0}")]
    TooDeep(usize),
    /// A varint longer than a `u64`, or a count past the bytes left.
    #[error("an impossible length at byte {0}")]
    BadLength(usize),
    /// Bytes left after the record.
    #[error("{0} bytes after the record")]
    Trailing(usize),
}

/// Writes a value.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => out.push(1 + u8::from(*b)),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(3);
                write_varint(out, u);
            } else if let Some(i) = n.as_i64() {
                // Negative: `!i` is `-i - 1`, not negative.
                out.push(4);
                write_varint(out, !(i as u64));
            } else {
                out.push(5);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(6);
            write_text(out, s);
        }
        Value::Array(items) => {
            out.push(7);
            write_varint(out, items.len() as u64);
            for item in items {
                write_value(out, item);
            }
        }
        Value::Object(map) => {
            out.push(8);
            write_varint(out, map.len() as u64);
            for (k, item) in map {
                write_text(out, k);
                write_value(out, item);
            }
        }
    }
}

/// Writes a text: its length, then its bytes.
pub fn write_text(out: &mut Vec<u8>, s: &str) {
    write_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a number as a LEB128 varint.
pub fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    let low = |n: u64| n.to_le_bytes()[0];
    while n >= 0x80 {
        out.push(low(n) | 0x80);
        n >>= 7;
    }
    out.push(low(n));
}

/// Reads packed bytes front to back, knowing its offset for errors.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    /// Where it stands.
    pub fn at(&self) -> usize {
        self.at
    }

    /// True once every byte is read.
    pub fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, PackedError> {
        let b = *self.bytes.get(self.at).ok_or(PackedError::Truncated(self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PackedError> {
        let bytes = self.bytes;
        let end =
            self.at.checked_add(n).filter(|&e| e <= bytes.len()).ok_or(PackedError::Truncated(self.at))?;
        let out = &bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// A varint.
    pub fn varint(&mut self) -> Result<u64, PackedError> {
        let start = self.at;
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(PackedError::BadLength(start));
            }
            n |= bits << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(PackedError::BadLength(start))
    }

    /// A count of items that take at least `min` bytes each: never more than the bytes left
    /// could hold (a reader reserves room for at most [`RESERVED`] of them ahead).
    pub fn count(&mut self, min: usize) -> Result<usize, PackedError> {
        let at = self.at;
        let n = self.varint()?;
        let left = (self.bytes.len() - self.at) / min.max(1);
        usize::try_from(n).ok().filter(|&n| n <= left).ok_or(PackedError::BadLength(at))
    }

    /// A text, borrowed.
    pub fn text(&mut self) -> Result<&'a str, PackedError> {
        let len = self.count(1)?;
        let at = self.at;
        std::str::from_utf8(self.take(len)?).map_err(|_| PackedError::NotUtf8(at))
    }

    fn skip_text(&mut self) -> Result<(), PackedError> {
        let len = self.count(1)?;
        self.take(len)?;
        Ok(())
    }

    /// An `f64` (8 bytes, little-endian).
    pub fn f64(&mut self) -> Result<f64, PackedError> {
        let mut le = [0; 8];
        le.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(le))
    }

    /// A value.
    pub fn value(&mut self) -> Result<Value, PackedError> {
        self.nested(0)
    }

    /// The next value when it is a text, borrowed (the reader goes past it); `None`, having
    /// read nothing, when it is another kind of value.
    pub fn text_value(&mut self) -> Result<Option<&'a str>, PackedError> {
        if self.bytes.get(self.at) != Some(&6) {
            return Ok(None);
        }
        self.at += 1;
        self.text().map(Some)
    }

    /// Goes past a value without building it (its texts not checked as UTF-8).
    pub fn skip_value(&mut self) -> Result<(), PackedError> {
        self.skip(0)
    }

    fn nested(&mut self, depth: usize) -> Result<Value, PackedError> {
        let at = self.at;
        Ok(match self.byte()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::from(self.varint()?),
            4 => Value::from(!self.varint()? as i64),
            // A non-finite number is never written (JSON has none): read as `null`, as
            // serde_json would hold it.
            5 => Number::from_f64(self.f64()?).map_or(Value::Null, Value::Number),
            6 => Value::String(self.text()?.to_owned()),
            7 | 8 if depth >= MAX_DEPTH => return Err(PackedError::TooDeep(at)),
            7 => {
                let n = self.count(1)?;
                // Reserved a little at a time: each level of a nesting may claim the bytes left.
                let mut items = Vec::with_capacity(n.min(RESERVED));
                for _ in 0..n {
                    items.push(self.nested(depth + 1)?);
                }
                Value::Array(items)
            }
            8 => {
                let n = self.count(2)?;
                let mut map = Map::with_capacity(n.min(RESERVED));
                for _ in 0..n {
                    let k = self.text()?.to_owned();
                    map.insert(k, self.nested(depth + 1)?);
                }
                Value::Object(map)
            }
            tag => return Err(PackedError::UnknownTag { tag, at }),
        })
    }

    fn skip(&mut self, depth: usize) -> Result<(), PackedError> {
        let at = self.at;
        match self.byte()? {
            0..=2 => {}
            3 | 4 => {
                self.varint()?;
            }
            5 => {
                self.take(8)?;
            }
            // Texts skipped unread: not checked as UTF-8.
            6 => self.skip_text()?,
            7 | 8 if depth >= MAX_DEPTH => return Err(PackedError::TooDeep(at)),
            7 => {
                for _ in 0..self.count(1)? {
                    self.skip(depth + 1)?;
                }
            }
            8 => {
                for _ in 0..self.count(2)? {
                    self.skip_text()?;
                    self.skip(depth + 1)?;
                }
            }
            tag => return Err(PackedError::UnknownTag { tag, at }),
        }
        Ok(())
    }

    /// Checks that every byte was read.
    pub fn end(&self) -> Result<(), PackedError> {
        match self.bytes.len().saturating_sub(self.at) {
            0 => Ok(()),
            left => Err(PackedError::Trailing(left)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
            prop_oneof![".*", Just("نور ﻻ דנה 𝄞".to_owned())].prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-zé]{0,6}", inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A value reads back equal (numbers of the same kind, object keys in their order),
        /// is skipped to its end, and any part of it cut short is an error.
        #[test]
        fn a_value_reads_back_as_written(value in arb_value(), noise in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = Vec::new();
            write_value(&mut bytes, &value);
            let mut reader = Reader::new(&bytes);
            let back = reader.value().expect("reads");
            prop_assert_eq!(serde_json::to_string(&back).ok(), serde_json::to_string(&value).ok());
            prop_assert_eq!(&back, &value);
            prop_assert!(reader.end().is_ok());
            let mut skipping = Reader::new(&bytes);
            skipping.skip_value().expect("skips");
            prop_assert_eq!(skipping.at(), bytes.len());
            for cut in 0..bytes.len() {
                prop_assert!(Reader::new(&bytes[..cut]).value().is_err(), "{} of {} bytes", cut, bytes.len());
                prop_assert!(Reader::new(&bytes[..cut]).skip_value().is_err());
            }
            // Bytes that are no value: an error or some value, never a panic.
            let _ = Reader::new(&noise).value();
            let _ = Reader::new(&noise).skip_value();
        }
    }

    #[test]
    fn hostile_bytes_are_refused_with_where() {
        fn check(bytes: &[u8], expected: PackedError) {
            assert_eq!(Reader::new(bytes).value(), Err(expected.clone()), "{bytes:?}");
            assert_eq!(Reader::new(bytes).skip_value(), Err(expected), "{bytes:?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([7, 1], 200).flatten().collect();
        check(&deep, PackedError::TooDeep(2 * MAX_DEPTH));
        // An array count no four bytes could hold: no allocation of that size.
        check(&[7, 0xff, 0xff, 0xff, 0x0f], PackedError::BadLength(1));
        check(&[3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], PackedError::BadLength(1));
        // Text that is not UTF-8 is refused when read, and skipped unread.
        assert_eq!(Reader::new(&[6, 2, 0xc3, 0x28]).value(), Err(PackedError::NotUtf8(2)));
        assert_eq!(Reader::new(&[6, 2, 0xc3, 0x28]).skip_value(), Ok(()));
        check(&[9], PackedError::UnknownTag { tag: 9, at: 0 });
        check(&[5, 0, 0], PackedError::Truncated(1));
        let mut bytes = Vec::new();
        write_value(&mut bytes, &json!(5));
        write_value(&mut bytes, &json!(5.0));
        let mut reader = Reader::new(&bytes);
        assert!(reader.value().is_ok_and(|v| v.is_u64()), "5 stays an integer");
        assert!(reader.value().is_ok_and(|v| v.is_f64()), "5.0 stays a float");
        assert_eq!(Reader::new(&bytes).end(), Err(PackedError::Trailing(bytes.len())));
    }

    /// A text is read borrowed, and any other value is left for the reader to read.
    #[test]
    fn a_text_value_is_borrowed_and_another_value_left_unread() {
        let mut bytes = Vec::new();
        for value in [json!("نور"), json!(7), json!(["a"]), json!("")] {
            write_value(&mut bytes, &value);
        }
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.text_value(), Ok(Some("نور")));
        assert_eq!(reader.text_value(), Ok(None));
        assert_eq!(reader.value(), Ok(json!(7)), "left unread");
        assert_eq!(reader.text_value(), Ok(None));
        assert_eq!(reader.value(), Ok(json!(["a"])));
        assert_eq!(reader.text_value(), Ok(Some("")));
        assert!(reader.is_empty());
        assert_eq!(Reader::new(&[6, 2, 0xc3, 0x28]).text_value(), Err(PackedError::NotUtf8(2)));
        assert_eq!(Reader::new(&[6, 5, b'a']).text_value(), Err(PackedError::BadLength(1)));
    }
}
