//! Helpers shared by the integration tests: write a PDF and read it back with poppler and qpdf.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test helpers, each used by some tests: a failure is a test failure"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The renderer type of `iced::Renderer` in a default iced build (wgpu first, tiny-skia as
/// fallback), with tiny-skia standing in for wgpu so that the tests do not build wgpu.
pub(crate) type AppRenderer =
    iced_renderer::fallback::Renderer<iced_tiny_skia::Renderer, iced_tiny_skia::Renderer>;

/// An element as a default iced app's `view()` returns it.
pub(crate) type Element<'a, M> = iced_core::Element<'a, M, iced_core::Theme, AppRenderer>;

/// A PDF written to a temporary directory.
pub(crate) struct Pdf {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub(crate) fn write(bytes: &[u8]) -> Pdf {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.pdf");
    std::fs::write(&path, bytes).unwrap();
    if let Ok(keep) = std::env::var("LUCARNE_PDF_KEEP") {
        // Debugging aid: copy every PDF a test writes into that directory.
        let name = format!("{}.pdf", std::thread::current().name().unwrap_or("pdf").replace("::", "-"));
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&path, Path::new(&keep).join(name)).unwrap();
    }
    Pdf { _dir: dir, path }
}

/// Runs `program args… pdf` and returns its standard output; fails the test if the program
/// is missing or fails.
pub(crate) fn tool(program: &str, args: &[&str], pdf: &Pdf) -> String {
    let output = Command::new(program).args(args).arg(&pdf.path).output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}): install poppler-utils and qpdf with `cargo xtask setup`")
    });
    assert!(
        output.status.success(),
        "`{program} {args:?}` failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `pdftotext` of the whole file, or of one page.
pub(crate) fn text(pdf: &Pdf, page: Option<usize>) -> String {
    match page {
        Some(p) => {
            let p = p.to_string();
            tool_to_stdout("pdftotext", &["-f", &p, "-l", &p], pdf)
        }
        None => tool_to_stdout("pdftotext", &[], pdf),
    }
}

fn tool_to_stdout(program: &str, args: &[&str], pdf: &Pdf) -> String {
    let output = Command::new(program).args(args).arg(&pdf.path).arg("-").output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}): install poppler-utils with `cargo xtask setup`")
    });
    assert!(output.status.success(), "`{program}` failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Text with the bidi control marks poppler adds removed and all runs of whitespace made one
/// space.
pub(crate) fn normalize(s: &str) -> String {
    let stripped: String = s
        .chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{200E}' | '\u{200F}' | '\u{2066}'..='\u{2069}'))
        .collect();
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `qpdf --check` passes.
pub(crate) fn qpdf_check(pdf: &Pdf) {
    let out = tool("qpdf", &["--check"], pdf);
    assert!(out.contains("No syntax or stream encoding errors"), "qpdf --check:\n{out}");
}

/// The font rows of `pdffonts`: (name, type, emb, sub, uni).
pub(crate) fn fonts(pdf: &Pdf) -> Vec<(String, String, String, String, String)> {
    let out = tool("pdffonts", &[], pdf);
    out.lines()
        .skip(2)
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // name type... encoding emb sub uni object generation
            let n = cols.len();
            assert!(n >= 7, "unexpected pdffonts line: {line}");
            (
                cols[0].to_owned(),
                cols[1..n - 6].join(" "),
                cols[n - 5].to_owned(),
                cols[n - 4].to_owned(),
                cols[n - 3].to_owned(),
            )
        })
        .collect()
}

/// Image rows of `pdfimages -list` (type column: image, smask…).
pub(crate) fn images(pdf: &Pdf) -> Vec<String> {
    let out = tool("pdfimages", &["-list"], pdf);
    out.lines().skip(2).map(str::to_owned).collect()
}

/// A field of `pdfinfo`.
pub(crate) fn info(pdf: &Pdf, field: &str) -> String {
    let out = tool("pdfinfo", &[], pdf);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in pdfinfo:\n{out}"))
        .trim()
        .to_owned()
}

/// Word boxes of `pdftotext -bbox` for one page: (word, xmin, ymin, xmax, ymax) in points,
/// y from the top.
pub(crate) fn words(pdf: &Pdf, page: usize) -> Vec<(String, f32, f32, f32, f32)> {
    let p = page.to_string();
    let html = tool_to_stdout("pdftotext", &["-bbox", "-f", &p, "-l", &p], pdf);
    html.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("<word ")?;
            let attr = |name: &str| -> f32 {
                let key = format!("{name}=\"");
                let start = rest.find(&key).unwrap() + key.len();
                let end = start + rest[start..].find('"').unwrap();
                rest[start..end].parse().unwrap()
            };
            let start = rest.find('>')? + 1;
            let end = rest.find("</word>")?;
            Some((rest[start..end].to_owned(), attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax")))
        })
        .collect()
}

/// Page 1 rasterised by `pdftoppm` at `dpi`: width, height and RGB bytes.
pub(crate) fn raster(pdf: &Pdf, dpi: u32) -> (usize, usize, Vec<u8>) {
    let dpi = dpi.to_string();
    let out = Command::new("pdftoppm")
        .args(["-r", &dpi, "-f", "1", "-l", "1"])
        .arg(&pdf.path)
        .output()
        .expect("cannot run pdftoppm: install poppler-utils with `cargo xtask setup`");
    assert!(out.status.success(), "pdftoppm failed");
    let ppm = out.stdout;
    // Binary PPM: "P6\n<w> <h>\n255\n" then RGB bytes.
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8(ppm[start..i].to_vec()).unwrap());
    }
    assert_eq!(fields[0], "P6");
    let width: usize = fields[1].parse().unwrap();
    let height: usize = fields[2].parse().unwrap();
    (width, height, ppm[i + 1..].to_vec())
}

/// The document outline's entries, in order: (title, page number from 1).
pub(crate) fn bookmarks(bytes: &[u8]) -> Vec<(String, usize)> {
    let doc = lopdf::Document::load_mem(bytes).unwrap();
    let pages: Vec<lopdf::ObjectId> = doc.get_pages().into_values().collect();
    let catalog = doc.catalog().unwrap();
    let Ok(outlines) = catalog.get(b"Outlines").and_then(lopdf::Object::as_reference) else {
        return Vec::new();
    };
    let mut next =
        doc.get_dictionary(outlines).unwrap().get(b"First").and_then(lopdf::Object::as_reference).ok();
    let mut found = Vec::new();
    while let Some(id) = next {
        let item = doc.get_dictionary(id).unwrap();
        let title = lopdf::decode_text_string(item.get(b"Title").unwrap()).unwrap();
        let dest = item.get(b"Dest").and_then(lopdf::Object::as_array).unwrap();
        let page = dest[0].as_reference().unwrap();
        found.push((title, pages.iter().position(|p| *p == page).unwrap() + 1));
        next = item.get(b"Next").and_then(lopdf::Object::as_reference).ok();
    }
    found
}

/// The structure tree's elements in reading order (depth first): each one's type (`P`, `TD`…)
/// and its `/ActualText`, if it has one.
pub(crate) fn structure(bytes: &[u8]) -> Vec<(String, Option<String>)> {
    fn walk(doc: &lopdf::Document, id: lopdf::ObjectId, out: &mut Vec<(String, Option<String>)>) {
        let elem = doc.get_dictionary(id).unwrap();
        let kind = elem.get(b"S").and_then(lopdf::Object::as_name).unwrap();
        let actual = elem.get(b"ActualText").ok().map(|t| lopdf::decode_text_string(t).unwrap());
        out.push((String::from_utf8_lossy(kind).into_owned(), actual));
        let kids = match elem.get(b"K") {
            Ok(lopdf::Object::Array(kids)) => kids.clone(),
            Ok(one) => vec![one.clone()],
            Err(_) => Vec::new(),
        };
        for kid in kids {
            if let lopdf::Object::Reference(kid) = kid {
                walk(doc, kid, out);
            }
        }
    }
    let doc = lopdf::Document::load_mem(bytes).unwrap();
    let root = doc.catalog().unwrap().get(b"StructTreeRoot").and_then(lopdf::Object::as_reference).unwrap();
    let top = doc.get_dictionary(root).unwrap().get(b"K").and_then(lopdf::Object::as_reference).unwrap();
    let mut out = Vec::new();
    walk(&doc, top, &mut out);
    out
}

/// The operators that paint (fill, stroke, shading, image, text) outside any marked-content
/// sequence, on any page: in a tagged PDF everything drawn is content or an artifact.
pub(crate) fn unmarked_paint(bytes: &[u8]) -> Vec<String> {
    let doc = lopdf::Document::load_mem(bytes).unwrap();
    let mut found = Vec::new();
    for (number, page) in doc.get_pages() {
        let content = lopdf::content::Content::decode(&doc.get_page_content(page)).unwrap();
        let mut depth = 0_i32;
        for op in &content.operations {
            match op.operator.as_str() {
                "BMC" | "BDC" => depth += 1,
                "EMC" => depth -= 1,
                "f" | "F" | "f*" | "S" | "s" | "B" | "B*" | "b" | "b*" | "sh" | "Do" | "TJ" | "Tj" | "'"
                | "\""
                    if depth <= 0 =>
                {
                    found.push(format!("page {number}: {}", op.operator));
                }
                _ => {}
            }
        }
        assert_eq!(depth, 0, "page {number}: marked content sequences balanced");
    }
    found
}
