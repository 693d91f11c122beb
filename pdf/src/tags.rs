//! The document's structure for screen readers and accessibility checkers (a tagged PDF): every
//! line of content is a marked-content sequence with an id, page furniture (header, footer, a
//! table header repeated on a later page) is an artifact, and the structure tree gives each
//! sequence its role and reading order — a paragraph, or, in a document whose top band repeats
//! (a table), the cells of its rows: `Table` / `TR` / `TH` / `TD`. The catalog says it is tagged
//! (`/MarkInfo`) and in which language (`/Lang`). A line of text much larger than the body's is a
//! heading (`H1`, `H2`), and the headings are the document's bookmarks (`/Outlines`, each to
//! its place on its page); a document of several pages without headings has one bookmark per
//! page.

use lopdf::{Dictionary, Document, Object, ObjectId};

/// What a line of text is in the document's structure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Role {
    /// Page furniture: not content (read once, or not at all).
    Artifact,
    /// A paragraph: text that is not in a table.
    Paragraph,
    /// A heading of level 1 or 2 (its text is much larger than the body's).
    Heading(u8),
    /// A line of a header cell of a table, where it is on its page.
    Header(Span),
    /// A line of a data cell of a table, where it is on its page.
    Cell(Span),
}

/// Where a line of text is on its page, in points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Span {
    pub top: f32,
    pub bottom: f32,
    pub left: f32,
    pub right: f32,
}

impl Span {
    /// True when `next` goes on from this line in the same cell: it starts where this one ends
    /// and they share some width.
    fn continued_by(&self, next: &Span) -> bool {
        (next.top - self.bottom).abs() < 1.0 && next.left < self.right && self.left < next.right
    }
}

impl Role {
    /// The marked-content tag of the line.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Role::Artifact => "Artifact",
            Role::Paragraph => "P",
            Role::Heading(1) => "H1",
            Role::Heading(_) => "H2",
            Role::Header(_) => "TH",
            Role::Cell(_) => "TD",
        }
    }

    /// Where a cell's line is.
    fn span(self) -> Option<Span> {
        match self {
            Role::Header(span) | Role::Cell(span) => Some(span),
            Role::Artifact | Role::Paragraph | Role::Heading(_) => None,
        }
    }
}

/// A line of content on a page, with its marked-content id there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mark {
    pub mcid: i64,
    pub role: Role,
    /// The line goes on from the previous one (a heading wrapped over several lines): one
    /// element holds both.
    pub continues: bool,
    /// The line's text in logical order, and whether it holds right-to-left text: the glyphs
    /// of such a line stand in visual order, so its element says what it reads as
    /// (`/ActualText`), for what reads the structure tree (a screen reader).
    pub text: String,
    pub rtl: bool,
}

/// What an element reads as: its lines' texts, and whether one holds right-to-left text.
#[derive(Debug, Default)]
struct Reading {
    texts: Vec<String>,
    rtl: bool,
}

impl Reading {
    fn add(&mut self, mark: &Mark) {
        self.texts.push(mark.text.trim().to_owned());
        self.rtl |= mark.rtl;
    }

    /// Sets the element's `/ActualText` when its glyphs are not in reading order.
    fn apply(&self, elem: &mut Dictionary) {
        if self.rtl {
            elem.set("ActualText", text_string(&self.texts.join(" ")));
        }
    }
}

/// A heading's bookmark: its text, and the height of its top on its page (PDF space, points).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bookmark {
    pub title: String,
    pub top: f32,
}

/// A table row being filled.
struct Row {
    id: ObjectId,
    page: usize,
    /// The lowest bottom of its lines so far.
    bottom: f32,
    cells: Vec<Cell>,
}

/// A cell being filled: its element, its lines' ids and texts, its first line's left edge, its
/// last line.
struct Cell {
    id: ObjectId,
    tag: &'static str,
    mcids: Vec<i64>,
    reading: Reading,
    left: f32,
    last: Span,
}

impl Row {
    fn new(id: ObjectId, page: usize, bottom: f32) -> Row {
        Row { id, page, bottom, cells: Vec::new() }
    }

    /// Writes the row and its cells (on `page`), in reading order: from the left, or from the
    /// right in a right-to-left document; returns a reference to the row.
    fn close(mut self, doc: &mut Document, table: ObjectId, page: ObjectId, rtl: bool) -> Object {
        self.cells.sort_by(|a, b| if rtl { b.left.total_cmp(&a.left) } else { a.left.total_cmp(&b.left) });
        let mut cells = Vec::with_capacity(self.cells.len());
        for cell in self.cells {
            let mut elem = element(cell.tag, self.id);
            elem.set("Pg", Object::Reference(page));
            let k = match cell.mcids.as_slice() {
                [one] => Object::Integer(*one),
                many => Object::Array(many.iter().map(|m| Object::Integer(*m)).collect()),
            };
            elem.set("K", k);
            cell.reading.apply(&mut elem);
            doc.objects.insert(cell.id, Object::Dictionary(elem));
            cells.push(Object::Reference(cell.id));
        }
        let mut tr = element("TR", table);
        tr.set("K", Object::Array(cells));
        doc.objects.insert(self.id, Object::Dictionary(tr));
        Object::Reference(self.id)
    }
}

fn element(kind: &str, parent: ObjectId) -> Dictionary {
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"StructElem".to_vec()));
    dict.set("S", Object::Name(kind.as_bytes().to_vec()));
    dict.set("P", Object::Reference(parent));
    dict
}

/// Writes the structure tree of `marks` (one list per page, in page order) into `doc`, and the
/// catalog's `/MarkInfo`, `/StructTreeRoot` and `/Lang`; then the bookmarks (`bookmarks`: the
/// headings of each page, in order).
pub(crate) fn build(
    doc: &mut Document,
    marks: &[Vec<Mark>],
    bookmarks: &[Vec<Bookmark>],
    language: Option<&str>,
) {
    let rtl = language.is_some_and(reads_rtl);
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    let root = doc.new_object_id();
    let document = doc.new_object_id();
    let mut kids: Vec<Object> = Vec::new();
    let mut nums: Vec<Object> = Vec::new();
    let mut table: Option<(ObjectId, Vec<Object>)> = None;
    // The row being filled (drawn row by row): its page, the lowest bottom of its lines, its id,
    // its cells; and the cell being filled: its element's id, its marks, its last line.
    let mut row: Option<Row> = None;
    // What the last paragraph or heading reads as (a heading's next line adds to it).
    let mut reading = Reading::default();
    for (index, (&page, page_marks)) in pages.iter().zip(marks).enumerate() {
        let mut parents = vec![Object::Null; page_marks.len()];
        for mark in page_marks {
            let Ok(slot) = usize::try_from(mark.mcid) else { continue };
            let Some(span) = mark.role.span() else {
                // The next line of a wrapped heading: one more id of its element.
                if mark.continues
                    && let Some(Object::Reference(id)) = kids.last()
                    && let Ok(Object::Dictionary(elem)) = doc.get_object_mut(*id)
                {
                    let mut ids = match elem.get(b"K") {
                        Ok(Object::Array(ids)) => ids.clone(),
                        Ok(one) => vec![one.clone()],
                        Err(_) => Vec::new(),
                    };
                    ids.push(Object::Integer(mark.mcid));
                    elem.set("K", Object::Array(ids));
                    reading.add(mark);
                    reading.apply(elem);
                    if let Some(parent) = parents.get_mut(slot) {
                        *parent = Object::Reference(*id);
                    }
                    continue;
                }
                // A paragraph or a heading, straight under the document.
                let id = doc.new_object_id();
                let mut elem = element(mark.role.tag(), document);
                elem.set("Pg", Object::Reference(page));
                elem.set("K", Object::Integer(mark.mcid));
                reading = Reading::default();
                reading.add(mark);
                reading.apply(&mut elem);
                doc.objects.insert(id, Object::Dictionary(elem));
                kids.push(Object::Reference(id));
                if let Some(parent) = parents.get_mut(slot) {
                    *parent = Object::Reference(id);
                }
                continue;
            };
            let table_id = match &table {
                Some((id, _)) => *id,
                None => {
                    let id = doc.new_object_id();
                    kids.push(Object::Reference(id));
                    table = Some((id, Vec::new()));
                    id
                }
            };
            // A new row once a line starts below every line of the row so far.
            if row.as_ref().is_none_or(|r| r.page != index || span.top >= r.bottom - 0.5) {
                if let Some(done) = row.take().map(|r| r.close(doc, table_id, page, rtl))
                    && let Some((_, rows)) = &mut table
                {
                    rows.push(done);
                }
                row = Some(Row::new(doc.new_object_id(), index, span.bottom));
            }
            let Some(current) = row.as_mut() else { continue };
            current.bottom = current.bottom.max(span.bottom);
            // The next line of the same cell, or a new cell.
            let cell = match current.cells.last_mut() {
                Some(cell) if cell.last.continued_by(&span) => cell,
                _ => {
                    let id = doc.new_object_id();
                    current.cells.push(Cell {
                        id,
                        tag: mark.role.tag(),
                        mcids: Vec::new(),
                        reading: Reading::default(),
                        left: span.left,
                        last: span,
                    });
                    let Some(cell) = current.cells.last_mut() else { continue };
                    cell
                }
            };
            cell.mcids.push(mark.mcid);
            cell.reading.add(mark);
            cell.last = span;
            if let Some(parent) = parents.get_mut(slot) {
                *parent = Object::Reference(cell.id);
            }
        }
        let key = i64::try_from(index).unwrap_or(i64::MAX);
        nums.push(Object::Integer(key));
        nums.push(Object::Array(parents));
        if let Ok(Object::Dictionary(dict)) = doc.get_object_mut(page) {
            dict.set("StructParents", Object::Integer(key));
        }
        // A row never spans pages.
        if let (Some(done), Some((table_id, rows))) = (row.take(), &mut table) {
            rows.push(done.close(doc, *table_id, page, rtl));
        }
    }
    if let Some((table_id, rows)) = table {
        let mut elem = element("Table", document);
        elem.set("K", Object::Array(rows));
        doc.objects.insert(table_id, Object::Dictionary(elem));
    }
    let mut elem = element("Document", root);
    elem.set("K", Object::Array(kids));
    doc.objects.insert(document, Object::Dictionary(elem));
    let mut parent_tree = Dictionary::new();
    parent_tree.set("Nums", Object::Array(nums));
    let mut tree = Dictionary::new();
    tree.set("Type", Object::Name(b"StructTreeRoot".to_vec()));
    tree.set("K", Object::Reference(document));
    tree.set("ParentTree", Object::Dictionary(parent_tree));
    tree.set("ParentTreeNextKey", Object::Integer(i64::try_from(pages.len()).unwrap_or(i64::MAX)));
    doc.objects.insert(root, Object::Dictionary(tree));
    let Ok(catalog) = doc.catalog_mut() else { return };
    catalog.set("StructTreeRoot", Object::Reference(root));
    let mut mark_info = Dictionary::new();
    mark_info.set("Marked", Object::Boolean(true));
    catalog.set("MarkInfo", Object::Dictionary(mark_info));
    if let Some(language) = language {
        catalog.set("Lang", Object::string_literal(language));
    }
    outline(doc, &pages, bookmarks);
}

/// The document outline: a bookmark per heading to its place, or one per page (titled with its
/// number) in a document of several pages without headings.
fn outline(doc: &mut Document, pages: &[ObjectId], bookmarks: &[Vec<Bookmark>]) {
    let mut entries: Vec<(String, ObjectId, Option<f32>)> = pages
        .iter()
        .zip(bookmarks)
        .flat_map(|(page, marks)| marks.iter().map(|b| (b.title.clone(), *page, Some(b.top))))
        .collect();
    if entries.is_empty() && pages.len() > 1 {
        entries = pages.iter().enumerate().map(|(i, page)| ((i + 1).to_string(), *page, None)).collect();
    }
    if entries.is_empty() {
        return;
    }
    let root = doc.new_object_id();
    let ids: Vec<ObjectId> = entries.iter().map(|_| doc.new_object_id()).collect();
    for (i, (title, page, top)) in entries.into_iter().enumerate() {
        let mut item = Dictionary::new();
        item.set("Title", text_string(&title));
        item.set("Parent", Object::Reference(root));
        if let Some(prev) = i.checked_sub(1).and_then(|p| ids.get(p)) {
            item.set("Prev", Object::Reference(*prev));
        }
        if let Some(next) = ids.get(i + 1) {
            item.set("Next", Object::Reference(*next));
        }
        let dest = match top {
            Some(top) => vec![
                Object::Reference(page),
                Object::Name(b"XYZ".to_vec()),
                Object::Null,
                Object::Real(top),
                Object::Null,
            ],
            None => vec![Object::Reference(page), Object::Name(b"Fit".to_vec())],
        };
        item.set("Dest", Object::Array(dest));
        doc.objects.insert(ids[i], Object::Dictionary(item));
    }
    let mut root_dict = Dictionary::new();
    root_dict.set("Type", Object::Name(b"Outlines".to_vec()));
    if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
        root_dict.set("First", Object::Reference(*first));
        root_dict.set("Last", Object::Reference(*last));
    }
    root_dict.set("Count", Object::Integer(i64::try_from(ids.len()).unwrap_or(i64::MAX)));
    doc.objects.insert(root, Object::Dictionary(root_dict));
    if let Ok(catalog) = doc.catalog_mut() {
        catalog.set("Outlines", Object::Reference(root));
    }
}

/// A text string (UTF-16BE with its byte-order mark): any script.
fn text_string(text: &str) -> Object {
    Object::String(utf16_text(text), lopdf::StringFormat::Hexadecimal)
}

/// The bytes of a PDF text string in UTF-16BE, byte-order mark first.
pub(crate) fn utf16_text(text: &str) -> Vec<u8> {
    let mut data = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        data.extend_from_slice(&unit.to_be_bytes());
    }
    data
}

/// True for the languages written right to left (their tables are read from the right).
fn reads_rtl(tag: &str) -> bool {
    let primary = tag.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
    matches!(primary.as_str(), "ar" | "he" | "iw" | "fa" | "ur" | "yi" | "ps" | "dv" | "syr")
}
