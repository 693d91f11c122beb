//! Where pages go: the [`Sink`] trait (page space: points, origin at the top-left corner of
//! the sheet, y down) and its one implementation, [`PrintPdf`]: content streams written here
//! ([`content`]), the rest of the document by printpdf 0.12. Everything printpdf-specific lives
//! here, so another backend (krilla, say) is one more `impl Sink`.

use crate::PdfError;
use crate::reading::Readings;
use crate::scene::{Cap, Face, FontKey, Join, Paint, Path, Raster, Rgba, Seg, StrokeStyle, TextLine};
use crate::tags::{Bookmark, Mark, Role};
use content::{Content, RunGlyph};
use iced_core::Rectangle;
use printpdf::{
    Codepoint, ExtendedGraphicsState, ExtendedGraphicsStateId, FontId, GradientStop, Mm, Op, ParsedFont,
    PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Pt, RawImage, RawImageData, RawImageFormat, Rect,
    Shading, ShadingGeometry, TextItem, XObjectId,
};
use std::collections::{BTreeMap, HashMap};

/// What the composer draws, page by page, in page space.
pub(crate) trait Sink {
    /// Starts a sheet of the given size in points.
    fn begin_page(&mut self, width: f32, height: f32);
    /// Clips what follows to a rectangle, until the matching [`pop_clip`](Self::pop_clip).
    fn push_clip(&mut self, clip: Rectangle);
    /// Ends the innermost clip.
    fn pop_clip(&mut self);
    /// Fills a path.
    fn fill(&mut self, path: &Path, paint: &Paint, even_odd: bool);
    /// Strokes a path.
    fn stroke(&mut self, path: &Path, color: Rgba, style: &StrokeStyle);
    /// Draws one line of positioned glyphs, tagged with its role in the document's structure.
    fn text(&mut self, line: &TextLine, faces: &BTreeMap<FontKey, Face>, role: Role) -> Result<(), PdfError>;
    /// Draws raster `index` stretched over `bounds`, rounded by `radii`.
    fn image(&mut self, raster: &Raster, bounds: Rectangle, opacity: f32, radii: [f32; 4]);
    /// Finishes the sheet.
    fn end_page(&mut self);
    /// What is drawn until [`end_artifact`](Self::end_artifact) is not content (a box, a rule,
    /// a picture without words: decoration for a reader of the structure tree).
    fn begin_artifact(&mut self);
    /// Ends what [`begin_artifact`](Self::begin_artifact) began.
    fn end_artifact(&mut self);
}

/// Document information written with the file.
pub(crate) struct Metadata<'a> {
    pub title: &'a str,
    /// The document's language (`/Lang`), a BCP 47 tag.
    pub language: Option<&'a str>,
    pub author: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub keywords: &'a [String],
}

/// A [`Sink`] that builds a PDF: the pages' content streams are written here, as bytes
/// ([`content`]); printpdf builds the rest of the document (fonts embedded as subset CID
/// TrueType with a ToUnicode map, images as XObjects with their alpha as a soft mask,
/// transparency as ExtGStates, shadings, the page tree).
pub(crate) struct PrintPdf {
    doc: PdfDocument,
    /// The pages drawn: their sizes in points and their content.
    pages: Vec<((f32, f32), Content)>,
    content: Content,
    page_size: (f32, f32),
    fonts: HashMap<FontKey, Embedded>,
    /// Images embedded, by their pictures' hashes ([`Raster::same`] tells them apart).
    images: HashMap<u64, Vec<(Raster, XObjectId)>>,
    alphas: HashMap<u16, ExtendedGraphicsStateId>,
    /// What each glyph extracts as: a font has one string per glyph.
    readings: Readings,
    clip_depth: usize,
    /// The lines of content of the page being drawn, and of each page drawn (their tags).
    marks: Vec<Mark>,
    page_marks: Vec<Vec<Mark>>,
    /// The headings of the page being drawn, and of each page drawn (the outline).
    bookmarks: Vec<Bookmark>,
    page_bookmarks: Vec<Vec<Bookmark>>,
    /// The bottom of the last line of content drawn (a heading's next line starts there).
    last_bottom: f32,
}

impl PrintPdf {
    pub(crate) fn new(title: &str) -> Self {
        Self {
            doc: PdfDocument::new(title),
            pages: Vec::new(),
            content: Content::default(),
            page_size: (0.0, 0.0),
            fonts: HashMap::new(),
            images: HashMap::new(),
            alphas: HashMap::new(),
            readings: Readings::default(),
            clip_depth: 0,
            marks: Vec::new(),
            page_marks: Vec::new(),
            bookmarks: Vec::new(),
            page_bookmarks: Vec::new(),
            last_bottom: f32::NEG_INFINITY,
        }
    }

    /// Writes the file.
    pub(crate) fn finish(mut self, meta: &Metadata<'_>) -> Result<Vec<u8>, PdfError> {
        let info = &mut self.doc.metadata.info;
        info.document_title = meta.title.to_owned();
        info.author = meta.author.unwrap_or_default().to_owned();
        info.subject = meta.subject.unwrap_or_default().to_owned();
        info.keywords = meta.keywords.to_vec();
        info.creator = "lucarne-pdf".to_owned();
        info.producer = format!("lucarne-pdf {} (printpdf)", env!("CARGO_PKG_VERSION"));
        // printpdf embeds the glyphs its pages show, numbered anew in each font's subset. Its
        // first page shows every glyph of the document once, each font's in ascending order:
        // the codes it writes there are the glyphs' codes, and every page's content is then
        // ours, with those codes.
        let inventory = self.inventory();
        let mut ops = vec![Op::StartTextSection];
        for (font, glyphs) in &inventory {
            let id = self
                .fonts
                .get(font)
                .map(|e| e.id.clone())
                .ok_or_else(|| PdfError::Font(format!("{font:?}")))?;
            ops.push(Op::SetFont { font: PdfFontHandle::External(id), size: Pt(1.0) });
            let codepoints =
                glyphs.iter().map(|(gid, text)| Codepoint::with_cid(*gid, 0.0, text.clone())).collect();
            ops.push(Op::ShowText { items: vec![TextItem::GlyphIds(codepoints)] });
        }
        ops.push(Op::EndTextSection);
        let mut ops = Some(ops);
        let sheets = self
            .pages
            .iter()
            .map(|((w, h), _)| {
                let mut page =
                    PdfPage::new(Mm(w * 25.4 / 72.0), Mm(h * 25.4 / 72.0), ops.take().unwrap_or_default());
                // Exact sizes in points (the millimetre round trip is not).
                let sheet = Rect::from_wh(Pt(*w), Pt(*h));
                page.media_box = sheet.clone();
                page.trim_box = sheet.clone();
                page.crop_box = sheet;
                page
            })
            .collect();
        let _ = self.doc.with_pages(sheets);
        let options = PdfSaveOptions {
            // Compressed by `write.rs`, faster than printpdf would (it asks for zlib's best level).
            optimize: false,
            subset_fonts: true,
            secure: true,
            // Keep images lossless, as drawn.
            image_optimization: None,
        };
        let mut warnings = Vec::new();
        let mut doc = self.doc.to_lopdf_document(&options, &mut warnings);
        let page_ids: Vec<lopdf::ObjectId> = doc.get_pages().into_values().collect();
        let codes = match page_ids.first() {
            Some(first) => Self::codes(&doc, *first, &inventory)?,
            None => HashMap::new(),
        };
        for (id, (_, content)) in page_ids.iter().zip(std::mem::take(&mut self.pages)) {
            let bytes = content.finish(|font, gid| codes.get(&(font, gid)).copied().unwrap_or(0));
            let stream = doc
                .get_dictionary(*id)
                .and_then(|page| page.get(b"Contents"))
                .and_then(lopdf::Object::as_reference)
                .map_err(|e| PdfError::Assembly(format!("printpdf's page has no content stream: {e}")))?;
            doc.objects
                .insert(stream, lopdf::Object::Stream(lopdf::Stream::new(lopdf::Dictionary::new(), bytes)));
        }
        crate::tags::build(&mut doc, &self.page_marks, &self.page_bookmarks, meta.language);
        // The structure tree is thousands of small dictionaries (a 1 000-row table: ~7 000):
        // packed into compressed object streams with a compressed cross-reference stream
        // (PDF 1.5), they take a fraction of their plain size (`write.rs`).
        let bytes = crate::write::document(&mut doc);
        // Both documents are some hundred thousand small allocations (a 1 000-row table).
        crate::free_later(doc);
        crate::free_later(self);
        Ok(bytes)
    }

    /// Every glyph drawn, by font (fonts in the order of their resource names), each with its
    /// ToUnicode string, in ascending glyph order.
    fn inventory(&self) -> Vec<(FontKey, Vec<(u16, String)>)> {
        let mut by_font: HashMap<FontKey, Vec<(u16, String)>> = HashMap::new();
        for ((font, gid), text) in self.readings.known() {
            by_font.entry(*font).or_default().push((*gid, text.to_owned()));
        }
        let mut fonts: Vec<(FontKey, Vec<(u16, String)>)> = by_font.into_iter().collect();
        fonts.sort_by_cached_key(|(font, _)| self.fonts.get(font).map(|e| e.id.0.clone()));
        for (_, glyphs) in &mut fonts {
            glyphs.sort_unstable_by_key(|(gid, _)| *gid);
        }
        fonts
    }

    /// The code of each glyph of the inventory, read back from what printpdf wrote on page
    /// `first`: its fonts in their order, each glyph's code in turn.
    fn codes(
        doc: &lopdf::Document,
        first: lopdf::ObjectId,
        inventory: &[(FontKey, Vec<(u16, String)>)],
    ) -> Result<HashMap<(FontKey, u16), u16>, PdfError> {
        let unreadable = |why: String| PdfError::Assembly(format!("the glyph codes printpdf wrote: {why}"));
        let bytes = doc.get_page_content(first);
        let content = lopdf::content::Content::decode(&bytes).map_err(|e| unreadable(e.to_string()))?;
        let mut written: Vec<Vec<u16>> = Vec::new();
        for op in &content.operations {
            match op.operator.as_str() {
                "Tf" => written.push(Vec::new()),
                "TJ" | "Tj" => {
                    let codes =
                        written.last_mut().ok_or_else(|| unreadable("text before a font".to_owned()))?;
                    let items = match op.operands.first() {
                        Some(lopdf::Object::Array(items)) => items.as_slice(),
                        Some(one) => std::slice::from_ref(one),
                        None => &[],
                    };
                    for item in items {
                        if let lopdf::Object::String(bytes, _) = item {
                            codes.extend(bytes.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])));
                        }
                    }
                }
                _ => {}
            }
        }
        if written.len() != inventory.len() {
            return Err(unreadable(format!("{} fonts shown, {} read back", inventory.len(), written.len())));
        }
        let mut codes = HashMap::new();
        for ((font, glyphs), written) in inventory.iter().zip(written) {
            if glyphs.len() != written.len() {
                return Err(unreadable(format!(
                    "{} glyphs shown, {} read back",
                    glyphs.len(),
                    written.len()
                )));
            }
            codes.extend(glyphs.iter().zip(written).map(|((gid, _), code)| ((*font, *gid), code)));
        }
        Ok(codes)
    }

    fn y(&self, y: f32) -> f32 {
        self.page_size.1 - y
    }

    /// Sets fill and stroke transparency when `alpha` < 1; returns whether a graphics state
    /// was saved (to restore afterwards).
    fn begin_alpha(&mut self, alpha: f32) -> bool {
        if alpha >= 0.999 {
            return false;
        }
        #[expect(clippy::cast_possible_truncation, reason = "0 to 1000 after the clamp")]
        let key = (alpha.clamp(0.0, 1.0) * 1000.0).round() as u16;
        let doc = &mut self.doc;
        let gs = self.alphas.entry(key).or_insert_with(|| {
            let a = f32::from(key) / 1000.0;
            doc.add_graphics_state(
                ExtendedGraphicsState::default().with_current_fill_alpha(a).with_current_stroke_alpha(a),
            )
        });
        self.content.op("q");
        self.content.named(&gs.0, "gs");
        true
    }

    fn end_alpha(&mut self, saved: bool) {
        if saved {
            self.content.op("Q");
        }
    }

    /// Writes the path's subpaths that draw something (a lone move draws nothing); returns
    /// whether there was one.
    fn path(&mut self, path: &Path) -> bool {
        let h = self.page_size.1;
        let mut pending: Option<iced_core::Point> = None;
        let mut any = false;
        let c = &mut self.content;
        for seg in &path.segs {
            match *seg {
                Seg::Move(a) => pending = Some(a),
                Seg::Line(a) => {
                    if let Some(m) = pending.take() {
                        c.numbers(&[m.x, h - m.y], "m");
                        any = true;
                    }
                    if any {
                        c.numbers(&[a.x, h - a.y], "l");
                    }
                }
                Seg::Cubic(a, b, d) => {
                    if let Some(m) = pending.take() {
                        c.numbers(&[m.x, h - m.y], "m");
                        any = true;
                    }
                    if any {
                        c.numbers(&[a.x, h - a.y, b.x, h - b.y, d.x, h - d.y], "c");
                    }
                }
                Seg::Close => {
                    if any && pending.is_none() {
                        c.op("h");
                    }
                }
            }
        }
        any
    }

    fn font(&mut self, key: FontKey, faces: &BTreeMap<FontKey, Face>) -> Result<&mut Embedded, PdfError> {
        if !self.fonts.contains_key(&key) {
            let face = faces.get(&key).ok_or_else(|| PdfError::Font(format!("{key:?}")))?;
            let mut warnings = Vec::new();
            let parsed = ParsedFont::from_bytes(&face.data, face.index as usize, &mut warnings)
                .ok_or_else(|| PdfError::Font(face.name.clone()))?;
            let id = self.doc.add_font(&parsed);
            let _ = self.fonts.insert(key, Embedded { id, parsed, widths: HashMap::new() });
        }
        self.fonts.get_mut(&key).ok_or_else(|| PdfError::Font(format!("{key:?}")))
    }

    /// Ends the run of glyphs being shown, if any.
    fn show(&mut self, font: Option<FontKey>, run: &mut Vec<RunGlyph>) {
        if let Some(font) = font {
            self.content.show(font, run);
        }
        run.clear();
    }
}

/// A font added to the document, and the widths its `/W` array gives its glyphs.
struct Embedded {
    id: FontId,
    parsed: ParsedFont,
    widths: HashMap<u16, f32>,
}

impl Embedded {
    /// The advance a viewer moves the pen by after glyph `gid`, in thousandths of an em: the
    /// font's advance as printpdf writes it into `/W` (truncated to a whole thousandth).
    fn width(&mut self, gid: u16) -> f32 {
        let parsed = &self.parsed;
        *self.widths.entry(gid).or_insert_with(|| {
            let units = f32::from(parsed.pdf_font_metrics.units_per_em.max(1));
            let advance = parsed.get_or_decode_glyph(gid).map_or(0.0, |g| f32::from(g.horz_advance));
            (advance * 1000.0 / units).trunc()
        })
    }
}

/// The kerning number that takes the viewer's pen from `pen` to `target` (both in thousandths
/// of an em from the run's text matrix), rounded to a hundredth of a thousandth of an em;
/// `None` when there is none (a glyph of no size).
fn kern(pen: f64, target: f64) -> Option<f32> {
    #[expect(clippy::cast_possible_truncation, reason = "a kerning number: thousandths of an em")]
    let kern = (((pen - target) * 100.0).round() / 100.0) as f32;
    kern.is_finite().then_some(if kern == 0.0 { 0.0 } else { kern })
}

impl Sink for PrintPdf {
    fn begin_page(&mut self, width: f32, height: f32) {
        self.page_size = (width, height);
        self.content = Content::default();
        self.clip_depth = 0;
    }

    fn push_clip(&mut self, clip: Rectangle) {
        self.content.op("q");
        let bottom = self.y(clip.y + clip.height);
        self.content.numbers(&[clip.x, bottom, clip.width, clip.height], "re");
        self.content.op("W n");
        self.clip_depth += 1;
    }

    fn pop_clip(&mut self) {
        if self.clip_depth > 0 {
            self.content.op("Q");
            self.clip_depth -= 1;
        }
    }

    fn fill(&mut self, path: &Path, paint: &Paint, even_odd: bool) {
        match paint {
            Paint::Solid(c) => {
                let saved = self.begin_alpha(c.a);
                self.content.numbers(&[c.r, c.g, c.b], "rg");
                if self.path(path) {
                    self.content.op(if even_odd { "f*" } else { "f" });
                }
                self.end_alpha(saved);
            }
            Paint::Linear { start, end, stops } => {
                let (a, b) = ((start.x, self.y(start.y)), (end.x, self.y(end.y)));
                self.content.op("q");
                if self.path(path) {
                    self.content.op(if even_odd { "W* n" } else { "W n" });
                    let id = self.doc.add_shading(Shading {
                        geometry: ShadingGeometry::Axial { coords: [a.0, a.1, b.0, b.1] },
                        stops: stops
                            .iter()
                            .map(|(offset, c)| GradientStop { offset: *offset, color: [c.r, c.g, c.b] })
                            .collect(),
                        extend: (true, true),
                    });
                    self.content.named(&id.0, "sh");
                }
                self.content.op("Q");
            }
        }
    }

    fn stroke(&mut self, path: &Path, c: Rgba, style: &StrokeStyle) {
        if style.width <= 0.0 {
            return;
        }
        let saved = self.begin_alpha(c.a);
        self.content.numbers(&[c.r, c.g, c.b], "RG");
        self.content.numbers(&[style.width], "w");
        let cap = match style.cap {
            Cap::Butt => "0 J",
            Cap::Round => "1 J",
            Cap::Square => "2 J",
        };
        let join = match style.join {
            Join::Miter => "0 j",
            Join::Round => "1 j",
            Join::Bevel => "2 j",
        };
        self.content.op(cap);
        self.content.op(join);
        self.content.numbers(&[style.miter_limit.max(1.0)], "M");
        if self.path(path) {
            self.content.op("S");
        }
        self.end_alpha(saved);
    }

    fn text(&mut self, line: &TextLine, faces: &BTreeMap<FontKey, Face>, role: Role) -> Result<(), PdfError> {
        // The line's tag: an artifact, or content with its id on the page (the structure tree
        // gives it its place; `tags.rs`).
        if role == Role::Artifact {
            self.content.begin_marked(role.tag());
        } else {
            let mcid = self.marks.len();
            // A heading wrapped over several lines is one heading: a line that starts where the
            // previous one of the same level ended, with nothing between, goes on from it.
            let continues = matches!(role, Role::Heading(_))
                && self.marks.last().is_some_and(|m| m.role == role)
                && (line.top - self.last_bottom).abs() < 1.0;
            let id = i64::try_from(mcid).unwrap_or(i64::MAX);
            self.marks.push(Mark { mcid: id, role, continues, text: line.text.clone(), rtl: line.has_rtl });
            if let Role::Heading(_) = role {
                let title = line.text.trim();
                match self.bookmarks.last_mut() {
                    Some(last) if continues => {
                        last.title.push(' ');
                        last.title.push_str(title);
                    }
                    _ => self.bookmarks.push(Bookmark { title: title.to_owned(), top: self.y(line.top) }),
                }
            }
            self.last_bottom = line.bottom;
            self.content.begin_marked_id(role.tag(), mcid);
        }
        // What the glyphs read as, and the runs that read as an /ActualText instead (`reading.rs`).
        let plan = self.readings.plan(line);
        let alpha = line.glyphs.first().map_or(1.0, |g| g.color.a);
        let saved = self.begin_alpha(alpha);
        self.content.op("BT");
        let mut state: Option<(FontKey, f32)> = None;
        let mut fill: Option<(f32, f32, f32)> = None;
        let mut spans = plan.spans.iter().peekable();
        // Glyphs on one baseline in one font, size and colour are shown by one operator: the
        // text matrix at the first, each next one placed by a kerning number from the pen
        // position the font's width leaves.
        let mut run: Vec<RunGlyph> = Vec::new();
        let font = |state: Option<(FontKey, f32)>| state.map(|(font, _)| font);
        // The run's baseline and slant, its text matrix's x, and where the viewer's pen is
        // after its last glyph (thousandths of an em from that x): each kerning number is taken
        // from the pen itself, so that roundings do not add up along the run.
        let mut run_line: Option<(f32, bool)> = None;
        let (mut origin, mut pen) = (0.0_f32, 0.0_f64);
        for (i, g) in line.glyphs.iter().enumerate() {
            if let Some((range, actual)) = spans.peek()
                && range.start == i
            {
                self.show(font(state), &mut run);
                self.content.begin_actual_text("Span", actual);
            }
            if state != Some((g.font, g.size)) {
                self.show(font(state), &mut run);
                let id = self.font(g.font, faces)?.id.clone();
                self.content.font(&id.0, g.size);
                state = Some((g.font, g.size));
            }
            if fill != Some((g.color.r, g.color.g, g.color.b)) {
                self.show(font(state), &mut run);
                self.content.numbers(&[g.color.r, g.color.g, g.color.b], "rg");
                fill = Some((g.color.r, g.color.g, g.color.b));
            }
            if run_line != Some((g.y, g.skew)) {
                self.show(font(state), &mut run);
            }
            let width = self.font(g.font, faces)?.width(g.gid);
            let target = f64::from(g.x - origin) * 1000.0 / f64::from(g.size);
            if let Some(previous) = run.last_mut() {
                match kern(pen, target) {
                    Some(kern) => {
                        previous.kern = kern;
                        pen -= f64::from(kern);
                    }
                    // No number moves the pen there (a glyph of no size): a matrix of its own.
                    None => self.show(font(state), &mut run),
                }
            }
            if run.is_empty() {
                let y = self.y(g.y);
                // cosmic-text's synthetic italic slants by about 14 degrees.
                let slant = if g.skew { 0.25 } else { 0.0 };
                self.content.numbers(&[1.0, 0.0, slant, 1.0, g.x, y], "Tm");
                run_line = Some((g.y, g.skew));
                (origin, pen) = (g.x, 0.0);
            }
            run.push(RunGlyph { gid: g.gid, kern: 0.0 });
            pen += f64::from(width);
            if let Some((range, _)) = spans.peek()
                && range.end == i + 1
            {
                self.show(font(state), &mut run);
                self.content.op("EMC");
                let _ = spans.next();
            }
        }
        self.show(font(state), &mut run);
        self.content.op("ET");
        self.end_alpha(saved);
        self.content.op("EMC");
        Ok(())
    }

    fn image(&mut self, raster: &Raster, bounds: Rectangle, opacity: f32, radii: [f32; 4]) {
        if raster.width == 0 || raster.height == 0 || bounds.width <= 0.0 || bounds.height <= 0.0 {
            return;
        }
        let embedded =
            self.images.get(&raster.hash).and_then(|same| same.iter().find(|(r, _)| r.same(raster)));
        let id = match embedded {
            Some((_, id)) => id.clone(),
            None => {
                let id = self.doc.add_image(&RawImage {
                    pixels: RawImageData::U8(raster.rgba.to_vec()),
                    width: raster.width as usize,
                    height: raster.height as usize,
                    data_format: RawImageFormat::RGBA8,
                    tag: Vec::new(),
                });
                self.images.entry(raster.hash).or_default().push((raster.clone(), id.clone()));
                id
            }
        };
        self.content.op("q");
        let half = (bounds.width / 2.0).min(bounds.height / 2.0);
        let radii = radii.map(|r| r.max(0.0).min(half));
        if radii.iter().any(|r| *r > 0.0) && self.path(&Path::rounded_rect(bounds, radii)) {
            self.content.op("W n");
        }
        let saved = self.begin_alpha(opacity);
        // An image is drawn into the unit square: scaled to its box, its bottom-left corner moved.
        let bottom = self.y(bounds.y + bounds.height);
        self.content.numbers(&[bounds.width, 0.0, 0.0, bounds.height, bounds.x, bottom], "cm");
        self.content.named(&id.0, "Do");
        self.end_alpha(saved);
        self.content.op("Q");
    }

    fn begin_artifact(&mut self) {
        self.content.begin_marked(Role::Artifact.tag());
    }

    fn end_artifact(&mut self) {
        self.content.op("EMC");
    }

    fn end_page(&mut self) {
        while self.clip_depth > 0 {
            self.pop_clip();
        }
        let content = std::mem::take(&mut self.content);
        self.pages.push((self.page_size, content));
        self.page_marks.push(std::mem::take(&mut self.marks));
        self.page_bookmarks.push(std::mem::take(&mut self.bookmarks));
    }
}

mod content;
#[cfg(test)]
mod tests;
