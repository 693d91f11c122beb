//! Where pages go: the [`Sink`] trait (page space: points, origin at the top-left corner of
//! the sheet, y down) and its one implementation on printpdf 0.12, [`PrintPdf`]. Everything
//! printpdf-specific lives here, so another backend (krilla, say) is one more `impl Sink`.

use crate::PdfError;
use crate::reading::Readings;
use crate::scene::{Cap, Face, FontKey, Join, Paint, Path, Raster, Rgba, Seg, StrokeStyle, TextLine};
use crate::tags::{Bookmark, Mark, Role};
use iced_core::Rectangle;
use printpdf::{
    Codepoint, Color, DictItem, ExtendedGraphicsState, ExtendedGraphicsStateId, FontId, GradientStop, Line,
    LineCapStyle, LineJoinStyle, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle,
    PdfPage, PdfSaveOptions, Polygon, PolygonRing, Pt, RawImage, RawImageData, RawImageFormat, Rect, Rgb,
    Shading, ShadingGeometry, TextItem, TextMatrix, WindingOrder, XObjectId, XObjectTransform,
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

/// A [`Sink`] that builds a PDF with printpdf: fonts embedded as subset CID TrueType with a
/// ToUnicode map, images as XObjects (alpha as soft mask), transparency as ExtGStates.
pub(crate) struct PrintPdf {
    doc: PdfDocument,
    pages: Vec<PdfPage>,
    ops: Vec<Op>,
    page_size: (f32, f32),
    fonts: HashMap<FontKey, Embedded>,
    /// Images embedded, by their pictures' hashes ([`Raster::same`] tells them apart).
    images: HashMap<u64, Vec<(Raster, XObjectId)>>,
    alphas: HashMap<u16, ExtendedGraphicsStateId>,
    /// What each glyph extracts as: printpdf keeps one string per glyph and font.
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
            ops: Vec::new(),
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
    pub(crate) fn finish(mut self, meta: &Metadata<'_>) -> Vec<u8> {
        let info = &mut self.doc.metadata.info;
        info.document_title = meta.title.to_owned();
        info.author = meta.author.unwrap_or_default().to_owned();
        info.subject = meta.subject.unwrap_or_default().to_owned();
        info.keywords = meta.keywords.to_vec();
        info.creator = "lucarne-pdf".to_owned();
        info.producer = format!("lucarne-pdf {} (printpdf)", env!("CARGO_PKG_VERSION"));
        let pages = std::mem::take(&mut self.pages);
        let _ = self.doc.with_pages(pages);
        let options = PdfSaveOptions {
            // Compressed below, faster than printpdf would (it asks for zlib's best level).
            optimize: false,
            subset_fonts: true,
            secure: true,
            // Keep images lossless, as drawn.
            image_optimization: None,
        };
        let mut warnings = Vec::new();
        let mut doc = self.doc.to_lopdf_document(&options, &mut warnings);
        crate::tags::build(&mut doc, &self.page_marks, &self.page_bookmarks, meta.language);
        // The structure tree is thousands of small dictionaries (a 1 000-row table: ~7 000):
        // packed into compressed object streams with a compressed cross-reference stream
        // (PDF 1.5), they take a fraction of their plain size (`write.rs`).
        let bytes = crate::write::document(&mut doc);
        // Both documents are some hundred thousand small allocations (a 1 000-row table).
        crate::free_later(doc);
        crate::free_later(self);
        bytes
    }

    fn y(&self, y: f32) -> Pt {
        Pt(self.page_size.1 - y)
    }

    fn point(&self, p: iced_core::Point) -> printpdf::Point {
        printpdf::Point { x: Pt(p.x), y: self.y(p.y) }
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
        let gs = self
            .alphas
            .entry(key)
            .or_insert_with(|| {
                let a = f32::from(key) / 1000.0;
                doc.add_graphics_state(
                    ExtendedGraphicsState::default().with_current_fill_alpha(a).with_current_stroke_alpha(a),
                )
            })
            .clone();
        self.ops.push(Op::SaveGraphicsState);
        self.ops.push(Op::LoadGraphicsState { gs });
        true
    }

    fn end_alpha(&mut self, saved: bool) {
        if saved {
            self.ops.push(Op::RestoreGraphicsState);
        }
    }

    /// The path's subpaths as rings of printpdf points (control points flagged).
    fn rings(&self, path: &Path) -> Vec<(Vec<LinePoint>, bool)> {
        let mut rings: Vec<(Vec<LinePoint>, bool)> = Vec::new();
        let point = |p, bezier| LinePoint { p: self.point(p), bezier };
        for seg in &path.segs {
            match *seg {
                Seg::Move(a) => rings.push((vec![point(a, false)], false)),
                Seg::Line(a) => {
                    if let Some((ring, _)) = rings.last_mut() {
                        ring.push(point(a, false));
                    }
                }
                Seg::Cubic(a, b, c) => {
                    if let Some((ring, _)) = rings.last_mut() {
                        ring.extend([point(a, true), point(b, true), point(c, false)]);
                    }
                }
                Seg::Close => {
                    if let Some((_, closed)) = rings.last_mut() {
                        *closed = true;
                    }
                }
            }
        }
        rings.retain(|(ring, _)| ring.len() > 1);
        rings
    }

    fn polygon(&self, path: &Path, mode: PaintMode, even_odd: bool) -> Option<Op> {
        let rings: Vec<PolygonRing> =
            self.rings(path).into_iter().map(|(points, _)| PolygonRing { points }).collect();
        (!rings.is_empty()).then(|| Op::DrawPolygon {
            polygon: Polygon {
                rings,
                mode,
                winding_order: if even_odd { WindingOrder::EvenOdd } else { WindingOrder::NonZero },
            },
        })
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
    fn show(&mut self, run: &mut Vec<Codepoint>) {
        if !run.is_empty() {
            self.ops.push(Op::ShowText { items: vec![TextItem::GlyphIds(std::mem::take(run))] });
        }
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

fn color(c: Rgba) -> Color {
    Color::Rgb(Rgb::new(c.r, c.g, c.b, None))
}

/// `text` as a PDF text string (UTF-16BE with byte order mark).
fn text_string(text: &str) -> DictItem {
    DictItem::String { data: crate::tags::utf16_text(text), literal: false }
}

impl Sink for PrintPdf {
    fn begin_page(&mut self, width: f32, height: f32) {
        self.page_size = (width, height);
        self.ops.clear();
        self.clip_depth = 0;
    }

    fn push_clip(&mut self, clip: Rectangle) {
        self.ops.push(Op::SaveGraphicsState);
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(clip.x),
                y: self.y(clip.y + clip.height),
                width: Pt(clip.width),
                height: Pt(clip.height),
                mode: Some(PaintMode::Clip),
                winding_order: Some(WindingOrder::NonZero),
            },
        });
        self.clip_depth += 1;
    }

    fn pop_clip(&mut self) {
        if self.clip_depth > 0 {
            self.ops.push(Op::RestoreGraphicsState);
            self.clip_depth -= 1;
        }
    }

    fn fill(&mut self, path: &Path, paint: &Paint, even_odd: bool) {
        match paint {
            Paint::Solid(c) => {
                let Some(op) = self.polygon(path, PaintMode::Fill, even_odd) else {
                    return;
                };
                let saved = self.begin_alpha(c.a);
                self.ops.push(Op::SetFillColor { col: color(*c) });
                self.ops.push(op);
                self.end_alpha(saved);
            }
            Paint::Linear { start, end, stops } => {
                let Some(clip) = self.polygon(path, PaintMode::Clip, even_odd) else {
                    return;
                };
                let (a, b) = (self.point(*start), self.point(*end));
                let id = self.doc.add_shading(Shading {
                    geometry: ShadingGeometry::Axial { coords: [a.x.0, a.y.0, b.x.0, b.y.0] },
                    stops: stops
                        .iter()
                        .map(|(offset, c)| GradientStop { offset: *offset, color: [c.r, c.g, c.b] })
                        .collect(),
                    extend: (true, true),
                });
                self.ops.push(Op::SaveGraphicsState);
                self.ops.push(clip);
                self.ops.push(Op::PaintShading { id });
                self.ops.push(Op::RestoreGraphicsState);
            }
        }
    }

    fn stroke(&mut self, path: &Path, c: Rgba, style: &StrokeStyle) {
        let rings = self.rings(path);
        if rings.is_empty() || style.width <= 0.0 {
            return;
        }
        let saved = self.begin_alpha(c.a);
        self.ops.push(Op::SetOutlineColor { col: color(c) });
        self.ops.push(Op::SetOutlineThickness { pt: Pt(style.width) });
        self.ops.push(Op::SetLineCapStyle {
            cap: match style.cap {
                Cap::Butt => LineCapStyle::Butt,
                Cap::Round => LineCapStyle::Round,
                Cap::Square => LineCapStyle::ProjectingSquare,
            },
        });
        self.ops.push(Op::SetLineJoinStyle {
            join: match style.join {
                Join::Miter => LineJoinStyle::Miter,
                Join::Round => LineJoinStyle::Round,
                Join::Bevel => LineJoinStyle::Bevel,
            },
        });
        self.ops.push(Op::SetMiterLimit { limit: Pt(style.miter_limit.max(1.0)) });
        for (points, is_closed) in rings {
            self.ops.push(Op::DrawLine { line: Line { points, is_closed } });
        }
        self.end_alpha(saved);
    }

    fn text(&mut self, line: &TextLine, faces: &BTreeMap<FontKey, Face>, role: Role) -> Result<(), PdfError> {
        // The line's tag: an artifact, or content with its id on the page (the structure tree
        // gives it its place; `tags.rs`).
        if role == Role::Artifact {
            self.ops.push(Op::BeginMarkedContent { tag: role.tag().to_owned() });
        } else {
            let mcid = i64::try_from(self.marks.len()).unwrap_or(i64::MAX);
            // A heading wrapped over several lines is one heading: a line that starts where the
            // previous one of the same level ended, with nothing between, goes on from it.
            let continues = matches!(role, Role::Heading(_))
                && self.marks.last().is_some_and(|m| m.role == role)
                && (line.top - self.last_bottom).abs() < 1.0;
            self.marks.push(Mark { mcid, role, continues, text: line.text.clone(), rtl: line.has_rtl });
            if let Role::Heading(_) = role {
                let title = line.text.trim();
                match self.bookmarks.last_mut() {
                    Some(last) if continues => {
                        last.title.push(' ');
                        last.title.push_str(title);
                    }
                    _ => self.bookmarks.push(Bookmark { title: title.to_owned(), top: self.y(line.top).0 }),
                }
            }
            self.last_bottom = line.bottom;
            let mut map = BTreeMap::new();
            let _ = map.insert("MCID".to_owned(), DictItem::Int(mcid));
            self.ops.push(Op::BeginMarkedContentWithProperties {
                tag: role.tag().to_owned(),
                properties: DictItem::Dict { map },
            });
        }
        // What the glyphs read as, and the runs that read as an /ActualText instead (`reading.rs`).
        let plan = self.readings.plan(line);
        let alpha = line.glyphs.first().map_or(1.0, |g| g.color.a);
        let saved = self.begin_alpha(alpha);
        self.ops.push(Op::StartTextSection);
        let mut state: Option<(FontKey, f32)> = None;
        let mut fill: Option<(f32, f32, f32)> = None;
        let mut spans = plan.spans.iter().peekable();
        // Glyphs on one baseline in one font, size and colour are shown by one operator: the
        // text matrix at the first, each next one placed by a kerning number from the pen
        // position the font's width leaves. (printpdf merged a matrix and an operator per glyph
        // into such runs itself, but for slanted ones, so the file is nearly the same; the
        // operations held in memory, and its work on them, were several times as many.)
        let mut run: Vec<Codepoint> = Vec::new();
        // The run's baseline and slant, its text matrix's x, and where the viewer's pen is
        // after its last glyph (thousandths of an em from that x): each kerning number is taken
        // from the pen itself, so that roundings do not add up along the run.
        let mut run_line: Option<(f32, bool)> = None;
        let (mut origin, mut pen) = (0.0_f32, 0.0_f64);
        for (i, (g, code)) in line.glyphs.iter().zip(plan.codes).enumerate() {
            if let Some((range, actual)) = spans.peek()
                && range.start == i
            {
                self.show(&mut run);
                let mut map = BTreeMap::new();
                let _ = map.insert("ActualText".to_owned(), text_string(actual));
                self.ops.push(Op::BeginMarkedContentWithProperties {
                    tag: "Span".to_owned(),
                    properties: DictItem::Dict { map },
                });
            }
            if state != Some((g.font, g.size)) {
                self.show(&mut run);
                let font = self.font(g.font, faces)?.id.clone();
                self.ops.push(Op::SetFont { font: PdfFontHandle::External(font), size: Pt(g.size) });
                state = Some((g.font, g.size));
            }
            if fill != Some((g.color.r, g.color.g, g.color.b)) {
                self.show(&mut run);
                self.ops.push(Op::SetFillColor { col: color(g.color) });
                fill = Some((g.color.r, g.color.g, g.color.b));
            }
            if run_line != Some((g.y, g.skew)) {
                self.show(&mut run);
            }
            let width = self.font(g.font, faces)?.width(g.gid);
            let target = f64::from(g.x - origin) * 1000.0 / f64::from(g.size);
            if let Some(previous) = run.last_mut() {
                match kern(pen, target) {
                    Some(kern) => {
                        previous.offset = kern;
                        pen -= f64::from(kern);
                    }
                    // No number moves the pen there (a glyph of no size): a matrix of its own.
                    None => self.show(&mut run),
                }
            }
            if run.is_empty() {
                let (x, y) = (Pt(g.x), self.y(g.y));
                let matrix = if g.skew {
                    // cosmic-text's synthetic italic slants by about 14 degrees.
                    TextMatrix::Raw([1.0, 0.0, 0.25, 1.0, x.0, y.0])
                } else {
                    TextMatrix::Translate(x, y)
                };
                self.ops.push(Op::SetTextMatrix { matrix });
                run_line = Some((g.y, g.skew));
                (origin, pen) = (g.x, 0.0);
            }
            run.push(Codepoint::with_cid(g.gid, 0.0, code));
            pen += f64::from(width);
            if let Some((range, _)) = spans.peek()
                && range.end == i + 1
            {
                self.show(&mut run);
                self.ops.push(Op::EndMarkedContent);
                let _ = spans.next();
            }
        }
        self.show(&mut run);
        self.ops.push(Op::EndTextSection);
        self.end_alpha(saved);
        self.ops.push(Op::EndMarkedContent);
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
        self.ops.push(Op::SaveGraphicsState);
        let half = (bounds.width / 2.0).min(bounds.height / 2.0);
        let radii = radii.map(|r| r.max(0.0).min(half));
        if radii.iter().any(|r| *r > 0.0)
            && let Some(op) = self.polygon(&Path::rounded_rect(bounds, radii), PaintMode::Clip, false)
        {
            self.ops.push(op);
        }
        let saved = self.begin_alpha(opacity);
        // At 72 dpi one image pixel is one point before scaling.
        self.ops.push(Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(Pt(bounds.x)),
                translate_y: Some(self.y(bounds.y + bounds.height)),
                rotate: None,
                scale_x: Some(bounds.width / raster.width as f32),
                scale_y: Some(bounds.height / raster.height as f32),
                dpi: Some(72.0),
                no_auto_scale: false,
            },
        });
        self.end_alpha(saved);
        self.ops.push(Op::RestoreGraphicsState);
    }

    fn begin_artifact(&mut self) {
        self.ops.push(Op::BeginMarkedContent { tag: Role::Artifact.tag().to_owned() });
    }

    fn end_artifact(&mut self) {
        self.ops.push(Op::EndMarkedContent);
    }

    fn end_page(&mut self) {
        while self.clip_depth > 0 {
            self.pop_clip();
        }
        let (w, h) = self.page_size;
        let mut page = PdfPage::new(Mm(w * 25.4 / 72.0), Mm(h * 25.4 / 72.0), std::mem::take(&mut self.ops));
        // Exact sizes in points (the millimetre round trip is not).
        let sheet = Rect::from_wh(Pt(w), Pt(h));
        page.media_box = sheet.clone();
        page.trim_box = sheet.clone();
        page.crop_box = sheet;
        self.pages.push(page);
        self.page_marks.push(std::mem::take(&mut self.marks));
        self.page_bookmarks.push(std::mem::take(&mut self.bookmarks));
    }
}

#[cfg(test)]
mod tests;
