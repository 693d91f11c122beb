//! The file's bytes from its objects: PDF 1.5, every object that may be (all but streams) in
//! compressed object streams, a compressed cross-reference stream.
//!
//! lopdf's own writer clones each object into its object streams and deflates them one after
//! the other; a 1 000-row table's ~7 000 structure elements made that a fifth of the export.
//! Here each object is written once, straight into its stream's buffer, and all streams are
//! deflated in one pass on up to four threads.

use lopdf::{Dictionary, Object, ObjectId, StringFormat};
use std::io::Write as _;

/// Objects per object stream: small enough to deflate on several cores, large enough to
/// compress well.
const PER_STREAM: usize = 200;

/// Writes `doc` (its objects and its trailer's `/Root`, `/Info` and `/ID`; it is not encrypted:
/// printpdf never encrypts, and an encryption dictionary may not be in an object stream).
/// Every stream is deflated here, once: the document's that may be and are not yet, with the
/// object streams, in one pass on up to four threads.
pub(crate) fn document(doc: &mut lopdf::Document) -> Vec<u8> {
    debug_assert!(doc.trailer.get(b"Encrypt").is_err(), "an encrypted document");
    // Each group of objects that may be packed as an object stream: the pairs "number
    // offset", then the objects.
    let mut groups: Vec<Vec<ObjectId>> = Vec::new();
    for (&id, object) in &doc.objects {
        if packable(id, object) {
            match groups.last_mut() {
                Some(group) if group.len() < PER_STREAM => group.push(id),
                _ => groups.push(vec![id]),
            }
        }
    }
    let mut streams: Vec<lopdf::Stream> = groups
        .iter()
        .map(|group| {
            let mut body = Vec::new();
            let mut header = Vec::new();
            for id in group {
                let _ = write!(header, "{} {} ", id.0, body.len());
                if let Some(object) = doc.objects.get(id) {
                    write_object(&mut body, object);
                }
                body.push(b'\n');
            }
            let first = header.len();
            header.extend_from_slice(&body);
            let mut dict = Dictionary::new();
            dict.set("Type", Object::Name(b"ObjStm".to_vec()));
            dict.set("N", Object::Integer(i64::try_from(group.len()).unwrap_or(i64::MAX)));
            dict.set("First", Object::Integer(i64::try_from(first).unwrap_or(i64::MAX)));
            lopdf::Stream::new(dict, header)
        })
        .collect();
    let mut deflatable: Vec<&mut lopdf::Stream> = doc
        .objects
        .values_mut()
        .filter_map(|object| match object {
            Object::Stream(stream) if stream.allows_compression && stream.dict.get(b"Filter").is_err() => {
                Some(stream)
            }
            _ => None,
        })
        .collect();
    deflatable.extend(streams.iter_mut());
    deflate_all(deflatable);

    let mut out: Vec<u8> = Vec::with_capacity(1 << 16);
    out.extend_from_slice(b"%PDF-1.5\n%\xE2\xE3\xCF\xD3\n");
    // Where each object is: (offset) written as itself, or (stream id, index) in a stream.
    let mut direct: Vec<(ObjectId, usize)> = Vec::new();
    let mut packed: Vec<(ObjectId, u32, u16)> = Vec::new();
    for (&id, object) in &doc.objects {
        if !packable(id, object) {
            direct.push((id, out.len()));
            indirect(&mut out, id, object);
        }
    }
    // New numbers after every number the document gave out, used or not.
    let mut next = doc.objects.keys().map(|id| id.0).max().unwrap_or(0).max(doc.max_id) + 1;
    for (group, stream) in groups.iter().zip(&streams) {
        let id = (next, 0);
        next += 1;
        direct.push((id, out.len()));
        for (index, member) in group.iter().enumerate() {
            packed.push((*member, id.0, u16::try_from(index).unwrap_or(u16::MAX)));
        }
        write_indirect_stream(&mut out, id, stream);
    }
    // The cross-reference stream: one entry per object number, `[type offset-or-stream index]`
    // in 1 + 4 (8 past 4 GiB) + 2 bytes; object 0 is the head of the (empty) free list.
    let xref_id = next;
    let size = xref_id + 1;
    let xref_at = out.len();
    direct.push(((xref_id, 0), xref_at));
    let width = if u32::try_from(xref_at).is_ok() { 4 } else { 8 };
    let mut entries = vec![0u8; (1 + width + 2) * size as usize];
    let mut entry = |number: u32, kind: u8, field: u64, index: u16| {
        let at = number as usize * (1 + width + 2);
        entries[at] = kind;
        entries[at + 1..at + 1 + width].copy_from_slice(&field.to_be_bytes()[8 - width..]);
        entries[at + 1 + width..at + 3 + width].copy_from_slice(&index.to_be_bytes());
    };
    entry(0, 0, 0, 0xFFFF);
    for ((number, generation), offset) in &direct {
        entry(*number, 1, *offset as u64, *generation);
    }
    for ((number, _), stream, index) in &packed {
        entry(*number, 2, u64::from(*stream), *index);
    }
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"XRef".to_vec()));
    dict.set("Size", Object::Integer(i64::from(size)));
    dict.set("W", Object::Array(vec![Object::Integer(1), Object::Integer(width as i64), Object::Integer(2)]));
    for key in [b"Root".as_slice(), b"Info", b"ID"] {
        if let Ok(value) = doc.trailer.get(key) {
            dict.set(key.to_vec(), value.clone());
        }
    }
    let mut xref = lopdf::Stream::new(dict, entries);
    deflate(&mut xref);
    write_indirect_stream(&mut out, (xref_id, 0), &xref);
    let _ = write!(out, "startxref\n{xref_at}\n%%EOF");
    out
}

/// True for what may be in an object stream: everything but streams and objects of a later
/// generation.
fn packable(id: ObjectId, object: &Object) -> bool {
    !matches!(object, Object::Stream(_)) && id.1 == 0
}

fn indirect(out: &mut Vec<u8>, id: ObjectId, object: &Object) {
    let _ = writeln!(out, "{} {} obj", id.0, id.1);
    write_object(out, object);
    out.extend_from_slice(b"\nendobj\n");
}

fn write_indirect_stream(out: &mut Vec<u8>, id: ObjectId, stream: &lopdf::Stream) {
    let _ = writeln!(out, "{} {} obj", id.0, id.1);
    write_stream(out, stream);
    out.extend_from_slice(b"\nendobj\n");
}

fn write_stream(out: &mut Vec<u8>, stream: &lopdf::Stream) {
    out.extend_from_slice(b"<<");
    for (key, value) in stream.dict.iter().filter(|(key, _)| key.as_slice() != b"Length") {
        write_name(out, key);
        out.push(b' ');
        write_object(out, value);
    }
    let _ = writeln!(out, "/Length {}>>stream", stream.content.len());
    out.extend_from_slice(&stream.content);
    out.extend_from_slice(b"\nendstream");
}

/// One object in PDF syntax.
fn write_object(out: &mut Vec<u8>, object: &Object) {
    match object {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Boolean(true) => out.extend_from_slice(b"true"),
        Object::Boolean(false) => out.extend_from_slice(b"false"),
        Object::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        // Rust writes a float without an exponent, as PDF wants it; a whole one past an
        // integer's range keeps a decimal point, so that it reads as a real.
        Object::Real(r) if r.is_finite() => {
            let at = out.len();
            let _ = write!(out, "{r}");
            if r.abs() >= 2_147_483_648.0 && !out[at..].contains(&b'.') {
                out.extend_from_slice(b".0");
            }
        }
        Object::Real(_) => out.push(b'0'),
        Object::Name(name) => write_name(out, name),
        Object::String(bytes, StringFormat::Literal) => {
            out.push(b'(');
            for &b in bytes {
                match b {
                    b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    _ => out.push(b),
                }
            }
            out.push(b')');
        }
        Object::String(bytes, StringFormat::Hexadecimal) => {
            out.push(b'<');
            write_hex(out, bytes);
            out.push(b'>');
        }
        Object::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_object(out, item);
            }
            out.push(b']');
        }
        Object::Dictionary(dict) => {
            out.extend_from_slice(b"<<");
            for (key, value) in dict.iter() {
                write_name(out, key);
                out.push(b' ');
                write_object(out, value);
            }
            out.extend_from_slice(b">>");
        }
        Object::Stream(stream) => write_stream(out, stream),
        Object::Reference(id) => {
            let _ = write!(out, "{} {} R", id.0, id.1);
        }
    }
}

/// `bytes` as hex digits (a hexadecimal string's inside).
pub(crate) fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
    }
}

/// A name: bytes outside `!`…`~`, white space, delimiters and `#` written as `#XX`.
pub(crate) fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'/');
    for &b in name {
        if (b'!'..=b'~').contains(&b) && !b"()<>[]{}/%#".contains(&b) {
            out.push(b);
        } else {
            let _ = write!(out, "#{b:02X}");
        }
    }
}

/// Deflates `streams` at zlib level 3 (within a tenth of level 6's size for content streams and
/// fonts, in two thirds of its time; level 9 was half the export time of a 1 000-row table),
/// shared among up to four threads (one per core) where there are threads.
#[cfg(target_arch = "wasm32")]
fn deflate_all(streams: Vec<&mut lopdf::Stream>) {
    streams.into_iter().for_each(deflate);
}

/// Deflates `streams` at zlib level 3 (within a tenth of level 6's size for content streams and
/// fonts, in two thirds of its time; level 9 was half the export time of a 1 000-row table),
/// shared among up to four threads (one per core) where there are threads.
#[cfg(not(target_arch = "wasm32"))]
fn deflate_all(mut streams: Vec<&mut lopdf::Stream>) {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(4);
    if workers < 2 || streams.len() < 2 {
        streams.into_iter().for_each(deflate);
        return;
    }
    // The largest first, dealt in turn: shares of about the same size.
    streams.sort_by_key(|stream| std::cmp::Reverse(stream.content.len()));
    let mut shares: Vec<Vec<&mut lopdf::Stream>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, stream) in streams.into_iter().enumerate() {
        shares[i % workers].push(stream);
    }
    let mut shares = shares.into_iter();
    let own = shares.next().unwrap_or_default();
    std::thread::scope(|scope| {
        for share in shares {
            // A thread that cannot start leaves its streams as they are: the file is only larger.
            let _ = std::thread::Builder::new()
                .name("lucarne-pdf-deflate".to_owned())
                .spawn_scoped(scope, move || share.into_iter().for_each(deflate));
        }
        own.into_iter().for_each(deflate);
    });
}

fn deflate(stream: &mut lopdf::Stream) {
    use std::io::Write as _;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(3));
    let Ok(compressed) = encoder.write_all(&stream.content).and_then(|()| encoder.finish()) else {
        return;
    };
    if compressed.len() + 19 < stream.content.len() {
        stream.dict.set("Filter", "FlateDecode");
        stream.set_content(compressed);
    }
}

#[cfg(test)]
mod tests;
