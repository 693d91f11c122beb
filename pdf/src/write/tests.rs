//! What is written reads back as the same objects (lopdf's reader), whatever they hold.

use super::*;

fn check(objects: Vec<Object>) {
    let mut doc = lopdf::Document::with_version("1.5");
    let ids: Vec<ObjectId> = objects.into_iter().map(|o| doc.add_object(o)).collect();
    let mut catalog = Dictionary::new();
    catalog.set("Type", Object::Name(b"Catalog".to_vec()));
    let root = doc.add_object(catalog);
    doc.trailer.set("Root", Object::Reference(root));
    let bytes = document(&mut doc.clone());
    assert!(bytes.starts_with(b"%PDF-1.5") && bytes.ends_with(b"%%EOF"));
    let read = lopdf::Document::load_mem(&bytes).unwrap();
    assert_eq!(read.trailer.get(b"Root").unwrap(), &Object::Reference(root));
    for id in ids {
        let (want, got) = (doc.get_object(id).unwrap(), read.get_object(id).unwrap());
        match (want, got) {
            (Object::Stream(want), Object::Stream(got)) => {
                assert_eq!(got.decompressed_content().unwrap_or_else(|_| got.content.clone()), want.content);
                assert_eq!(got.dict.get(b"Subtype").ok(), want.dict.get(b"Subtype").ok());
            }
            (want, got) => assert_eq!(got, want, "object {id:?}"),
        }
    }
}

#[test]
fn every_kind_of_object_reads_back() {
    let mut dict = Dictionary::new();
    dict.set("Plain", Object::Integer(-7));
    dict.set(b"With space#and/slash".to_vec(), Object::Name(b"A(b)c\x01\xFF".to_vec()));
    dict.set("Nested", Object::Array(vec![Object::Real(0.25), Object::Real(-1e-6), Object::Real(123456.5)]));
    check(vec![
        Object::Null,
        Object::Boolean(true),
        Object::Boolean(false),
        Object::Integer(i64::from(i32::MAX) * 4),
        Object::Real(3.5),
        Object::Real(1e20),
        Object::string_literal(b"parens ( ) (nested) \\ back\\slash \r cr \n nl".to_vec()),
        Object::String(vec![0xFE, 0xFF, 0x06, 0x44, 0x00, 0x29], StringFormat::Hexadecimal),
        Object::Array(vec![
            Object::Integer(1),
            Object::Name(b"N".to_vec()),
            Object::Array(vec![]),
            Object::Null,
        ]),
        Object::Dictionary(dict),
        Object::Reference((1, 0)),
        Object::Stream(lopdf::Stream::new(
            {
                let mut d = Dictionary::new();
                d.set("Subtype", Object::Name(b"XML".to_vec()));
                d
            },
            b"stream content, long enough to be worth deflating: ".repeat(20),
        )),
    ]);
}

#[test]
fn more_objects_than_one_stream_holds_read_back() {
    check((0..(PER_STREAM as i64 * 3 + 17)).map(|n| Object::Array(vec![Object::Integer(n)])).collect());
}
