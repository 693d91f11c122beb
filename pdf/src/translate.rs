//! The only module that reads iced_tiny_skia's recording: its public `Layer`s (quads, canvas
//! primitives, images, text) become a renderer-neutral [`Scene`]. Text is taken glyph by glyph
//! from the very cosmic-text buffers the widgets laid out, so line breaks and shaping are the
//! screen's. The layer types are an implementation detail of iced_tiny_skia 0.14, which is why
//! the crate pins it with `=`.

use crate::scene::{
    Cap, Face, FontKey, Glyph, Item, Join, Kind, Paint, Path, Raster, Rgba, Scene, Seg, StrokeStyle, TextLine,
};
use iced_core::renderer::Quad;
use iced_core::text::Alignment;
use iced_core::{Background, Color, Font, Gradient, Point, Rectangle, Size, Transformation, alignment};
use iced_graphics::text::cosmic_text::{self, CacheKeyFlags};
use iced_graphics::text::{Text, cache};
use iced_tiny_skia::{Layer, Primitive};
use std::collections::HashMap;
use std::sync::Arc;

/// Rectangles are kept inside this finite world: iced uses infinite bounds for "no clip" and
/// for layouts of unbounded height, and infinities do not survive arithmetic.
const WORLD: Rectangle = Rectangle { x: -1.0e7, y: -1.0e7, width: 2.0e7, height: 2.0e7 };

/// A rectangle made finite; `None` when empty or not a number.
pub(crate) fn finite(r: Rectangle) -> Option<Rectangle> {
    let r = r.intersection(&WORLD)?;
    (r.x.is_finite() && r.y.is_finite() && r.width.is_finite() && r.height.is_finite()).then_some(r)
}

/// Translates recorded layers into a scene. `font_system` is iced's shared one, locked by the
/// caller for the whole translation.
pub(crate) fn scene(layers: &[Layer], font_system: &mut cosmic_text::FontSystem) -> Scene {
    let mut t = Translator {
        scene: Scene::default(),
        fs: font_system,
        cache: cache::Cache::new(),
        images: HashMap::new(),
    };
    for layer in layers {
        let Some(layer_bounds) = finite(layer.bounds) else {
            continue;
        };
        // Same order as iced_tiny_skia draws a layer.
        for (quad, background) in &layer.quads {
            t.quad(quad, background, layer_bounds);
        }
        for group in &layer.primitives {
            let Some(clip) = finite(group.clip_bounds()).and_then(|c| c.intersection(&layer_bounds)) else {
                continue;
            };
            for primitive in group.as_slice() {
                t.primitive(primitive, group.transformation(), clip);
            }
        }
        for image in &layer.images {
            t.image(image, layer_bounds);
        }
        for group in &layer.text {
            for text in group.as_slice() {
                t.text(text, group.transformation(), layer_bounds);
            }
        }
    }
    t.scene
}

struct Translator<'a> {
    scene: Scene,
    fs: &'a mut cosmic_text::FontSystem,
    /// Shapes `Text::Cached` exactly as iced_tiny_skia does.
    cache: cache::Cache,
    /// Decoded images by handle id (`None`: failed to decode).
    images: HashMap<iced_core::image::Id, Option<usize>>,
}

impl Translator<'_> {
    fn push(&mut self, clip: Rectangle, kind: Kind) {
        self.scene.items.push(Item { clip, kind });
    }

    fn warn(&mut self, message: String) {
        if !self.scene.warnings.contains(&message) {
            self.scene.warnings.push(message);
        }
    }

    fn quad(&mut self, quad: &Quad, background: &Background, clip: Rectangle) {
        // Quad bounds are recorded already transformed.
        let Some(bounds) = finite(quad.bounds) else {
            return;
        };
        if bounds.width <= 0.0 || bounds.height <= 0.0 {
            return;
        }
        if quad.shadow.color.a > 0.0 {
            self.warn("box shadows are not drawn".to_owned());
        }
        let half = (bounds.width / 2.0).min(bounds.height / 2.0);
        let radii = <[f32; 4]>::from(quad.border.radius).map(|r| r.max(0.0).min(half));
        let path = Path::rounded_rect(bounds, radii);
        let paint = match background {
            Background::Color(c) if c.a > 0.0 => Some(Paint::Solid((*c).into())),
            Background::Color(_) => None,
            Background::Gradient(Gradient::Linear(linear)) => {
                let (start, end) = linear.angle.to_distance(&bounds);
                let stops: Vec<(f32, Rgba)> =
                    linear.stops.iter().flatten().map(|s| (s.offset, s.color.into())).collect();
                if stops.iter().any(|(_, c)| c.a < 1.0) {
                    self.warn("gradient stop transparency is drawn opaque".to_owned());
                }
                (!stops.is_empty()).then_some(Paint::Linear { start, end, stops })
            }
        };
        if let Some(paint) = paint {
            self.push(clip, Kind::Fill { path, paint, even_odd: false });
        }
        // Borders are drawn inside the bounds, as a stroke centred half a width in.
        let width = quad.border.width.min(half);
        if width > 0.0 && quad.border.color.a > 0.0 {
            let inner = Rectangle {
                x: bounds.x + width / 2.0,
                y: bounds.y + width / 2.0,
                width: bounds.width - width,
                height: bounds.height - width,
            };
            let inner_half = (inner.width / 2.0).min(inner.height / 2.0).max(0.0);
            let radii = <[f32; 4]>::from(quad.border.radius)
                .map(|r| if r > width / 2.0 { (r - width / 2.0).min(inner_half) } else { 0.0 });
            self.push(
                clip,
                Kind::Stroke {
                    path: Path::rounded_rect(inner, radii),
                    color: quad.border.color.into(),
                    style: StrokeStyle { width, cap: Cap::Butt, join: Join::Miter, miter_limit: 4.0 },
                },
            );
        }
    }

    fn primitive(&mut self, primitive: &Primitive, transformation: Transformation, clip: Rectangle) {
        let (path, paint) = match primitive {
            Primitive::Fill { path, paint, .. } | Primitive::Stroke { path, paint, .. } => (path, paint),
        };
        let tiny_skia::Shader::SolidColor(color) = paint.shader else {
            self.warn("canvas gradients and patterns are not drawn".to_owned());
            return;
        };
        // iced_tiny_skia draws into BGRA pixmaps and records its paint colours with red and
        // blue swapped.
        let color = Rgba { r: color.blue(), g: color.green(), b: color.red(), a: color.alpha() };
        let path = convert_path(path).map(|p| p * transformation);
        match primitive {
            Primitive::Fill { rule, .. } => self.push(
                clip,
                Kind::Fill {
                    path,
                    paint: Paint::Solid(color),
                    even_odd: *rule == tiny_skia::FillRule::EvenOdd,
                },
            ),
            Primitive::Stroke { stroke, .. } => {
                if stroke.dash.is_some() {
                    self.warn("dashed canvas strokes are drawn solid".to_owned());
                }
                let style = StrokeStyle {
                    width: stroke.width * transformation.scale_factor(),
                    cap: match stroke.line_cap {
                        tiny_skia::LineCap::Butt => Cap::Butt,
                        tiny_skia::LineCap::Round => Cap::Round,
                        tiny_skia::LineCap::Square => Cap::Square,
                    },
                    join: match stroke.line_join {
                        tiny_skia::LineJoin::Miter | tiny_skia::LineJoin::MiterClip => Join::Miter,
                        tiny_skia::LineJoin::Round => Join::Round,
                        tiny_skia::LineJoin::Bevel => Join::Bevel,
                    },
                    miter_limit: stroke.miter_limit,
                };
                self.push(clip, Kind::Stroke { path, color, style });
            }
        }
    }

    fn image(&mut self, image: &iced_graphics::Image, layer_bounds: Rectangle) {
        match image {
            iced_graphics::Image::Raster { image, bounds, clip_bounds } => {
                let (Some(bounds), Some(clip)) =
                    (finite(*bounds), finite(*clip_bounds).and_then(|c| c.intersection(&layer_bounds)))
                else {
                    return;
                };
                if image.rotation.0 != 0.0 {
                    self.warn("rotated images are drawn unrotated".to_owned());
                }
                let id = image.handle.id();
                let index = match self.images.get(&id) {
                    Some(index) => *index,
                    None => {
                        let raster = match iced_graphics::image::load(&image.handle) {
                            Ok(buffer) if buffer.width() > 0 && buffer.height() > 0 => {
                                Some(Raster::new(buffer.width(), buffer.height(), buffer.as_raw().to_vec()))
                            }
                            Ok(_) => None,
                            Err(error) => {
                                self.warn(format!("an image was skipped: {error}"));
                                None
                            }
                        };
                        let index = raster.map(|raster| {
                            self.scene.images.push(raster);
                            self.scene.images.len() - 1
                        });
                        let _ = self.images.insert(id, index);
                        index
                    }
                };
                if let Some(index) = index {
                    self.push(
                        clip,
                        Kind::Image {
                            image: index,
                            bounds,
                            opacity: image.opacity,
                            radii: <[f32; 4]>::from(image.border_radius),
                        },
                    );
                }
            }
            iced_graphics::Image::Vector { .. } => {
                self.warn("SVG images are not drawn".to_owned());
            }
        }
    }

    fn text(&mut self, text: &Text, group: Transformation, layer_bounds: Rectangle) {
        match text {
            Text::Paragraph { paragraph, position, color, clip_bounds, transformation } => {
                let transformation = group * *transformation;
                let Some(clip) = clip_within(*clip_bounds * transformation, layer_bounds) else {
                    return;
                };
                if let Some(paragraph) = paragraph.upgrade() {
                    self.buffer(paragraph.buffer(), *position, *color, transformation, clip);
                }
            }
            Text::Editor { editor, position, color, clip_bounds, transformation } => {
                let transformation = group * *transformation;
                let Some(clip) = clip_within(*clip_bounds * transformation, layer_bounds) else {
                    return;
                };
                if let Some(editor) = editor.upgrade() {
                    self.buffer(editor.buffer(), *position, *color, transformation, clip);
                }
            }
            Text::Cached {
                content,
                bounds,
                color,
                size,
                line_height,
                font,
                align_x,
                align_y,
                shaping,
                clip_bounds,
            } => {
                let Some(clip) = clip_within(*clip_bounds * group, layer_bounds) else {
                    return;
                };
                let key = cache::Key {
                    content,
                    size: size.0,
                    line_height: line_height.0,
                    font: *font,
                    bounds: bounds.size(),
                    shaping: *shaping,
                    align_x: *align_x,
                };
                let (_, entry) = self.cache.allocate(self.fs, key);
                let Size { width, height } = entry.min_bounds;
                let x = match align_x {
                    Alignment::Default | Alignment::Left | Alignment::Justified => bounds.x,
                    Alignment::Center => bounds.x - width / 2.0,
                    Alignment::Right => bounds.x - width,
                };
                let y = match align_y {
                    alignment::Vertical::Top => bounds.y,
                    alignment::Vertical::Center => bounds.y - height / 2.0,
                    alignment::Vertical::Bottom => bounds.y - height,
                };
                let lines = buffer_lines(self.fs, &entry.buffer, Point::new(x, y), *color, group);
                self.push_lines(lines, clip);
            }
            Text::Raw { raw, transformation } => {
                let transformation = group * *transformation;
                let Some(clip) = clip_within(raw.clip_bounds * transformation, layer_bounds) else {
                    return;
                };
                if let Some(buffer) = raw.buffer.upgrade() {
                    self.buffer(&buffer, raw.position, raw.color, transformation, clip);
                }
            }
        }
    }

    fn buffer(
        &mut self,
        buffer: &cosmic_text::Buffer,
        position: Point,
        color: Color,
        transformation: Transformation,
        clip: Rectangle,
    ) {
        let lines = buffer_lines(self.fs, buffer, position, color, transformation);
        self.push_lines(lines, clip);
    }

    fn push_lines(&mut self, lines: Vec<TextLine>, clip: Rectangle) {
        for line in lines.into_iter().filter_map(|line| line.within(clip)) {
            for glyph in &line.glyphs {
                register_face(&mut self.scene.faces, self.fs, glyph.font);
            }
            self.push(clip, Kind::Text(line));
        }
    }
}

fn clip_within(clip: Rectangle, layer_bounds: Rectangle) -> Option<Rectangle> {
    finite(clip).and_then(|c| c.intersection(&layer_bounds))
}

/// Remembers the bytes of a face the first time a glyph of it is seen.
pub(crate) fn register_face(
    faces: &mut std::collections::BTreeMap<FontKey, Face>,
    fs: &mut cosmic_text::FontSystem,
    id: FontKey,
) {
    if faces.contains_key(&id) {
        return;
    }
    let db = fs.db();
    let name = db.face(id).map(|f| f.post_script_name.clone()).unwrap_or_else(|| format!("{id:?}"));
    if let Some((data, index)) = db.with_face_data(id, |data, index| (data.to_vec(), index)) {
        let _ = faces.insert(id, Face { name, data: Arc::new(data), index });
    }
}

/// The visual lines of a laid-out buffer as positioned glyphs, mirroring iced_tiny_skia's
/// `draw` (position and glyph offsets scaled by the transformation) without its pixel
/// rounding. Each line's glyphs are in visual order, left to right, and each carries the
/// characters it stands for ([`glyph_texts`]).
pub(crate) fn buffer_lines(
    fs: &mut cosmic_text::FontSystem,
    buffer: &cosmic_text::Buffer,
    position: Point,
    color: Color,
    transformation: Transformation,
) -> Vec<TextLine> {
    let origin = position * transformation;
    let scale = transformation.scale_factor();
    let mut lines = Vec::new();
    for run in buffer.layout_runs() {
        let texts = glyph_texts(fs, &run);
        let mut glyphs = Vec::with_capacity(run.glyphs.len());
        let (mut start, mut end) = (usize::MAX, 0);
        for (g, (mut text, logical)) in run.glyphs.iter().zip(texts) {
            start = start.min(g.start);
            end = end.max(g.end);
            // Bidi controls (Fluent's isolates around an argument, marks) are not seen: the
            // shaper draws them as nothing, and the text layer leaves them out (a glyph that
            // read as one would make its line a span of its own, with the controls in it).
            if text.chars().any(is_bidi_control) {
                text.retain(|c| !is_bidi_control(c));
                if text.is_empty() && g.w == 0.0 {
                    continue;
                }
            }
            let mut c: Rgba = color.into();
            if let Some(gc) = g.color_opt {
                let [r, gg, b, a] = gc.as_rgba();
                c = Rgba {
                    r: f32::from(r) / 255.0,
                    g: f32::from(gg) / 255.0,
                    b: f32::from(b) / 255.0,
                    a: color.a * f32::from(a) / 255.0,
                };
            }
            glyphs.push(Glyph {
                font: g.font_id,
                size: g.font_size * scale,
                x: origin.x + (g.x + g.font_size * g.x_offset) * scale,
                y: origin.y + (run.line_y + g.y - g.font_size * g.y_offset) * scale,
                gid: g.glyph_id,
                left: origin.x + g.x * scale,
                advance: g.w * scale,
                color: c,
                text,
                logical,
                rtl: g.level.is_rtl(),
                skew: g.cache_key_flags.contains(CacheKeyFlags::FAKE_ITALIC),
            });
        }
        if glyphs.is_empty() {
            continue;
        }
        // cosmic-text keeps a right-to-left run's glyphs in logical order; the page wants them
        // as they stand on the line. Stable: a mark keeps its place beside its base.
        glyphs.sort_by(|a, b| a.left.total_cmp(&b.left));
        let top = origin.y + run.line_top * scale;
        lines.push(TextLine {
            top,
            bottom: top + run.line_height * scale,
            width: run.line_w * scale,
            glyphs,
            text: run
                .text
                .get(start..end)
                .unwrap_or_default()
                .chars()
                .filter(|c| !is_bidi_control(*c))
                .collect(),
            has_rtl: run.rtl || run.glyphs.iter().any(|g| g.level.is_rtl()),
        });
    }
    lines
}

/// A character that only steers the bidi algorithm: the marks (ALM, LRM, RLM), embeddings and
/// overrides, and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What each glyph of a run stands for, and where that starts in the run's text.
///
/// A cluster drawn with one glyph stands for all its characters (a lam-alef ligature for both
/// letters). A cluster of several glyphs (a letter and its harakat or niqqud) is split: a
/// glyph that the font's character map gives for one of the cluster's characters (a mark is
/// drawn with its own glyph) stands for that character; the rest go to the widest remaining
/// glyph, the base (drawn in a contextual form, which no character maps to). So every glyph
/// id of a font reads the same wherever it is used, which a font's single ToUnicode map needs,
/// and no mark is lost to a glyph that stands for nothing.
fn glyph_texts(fs: &mut cosmic_text::FontSystem, run: &cosmic_text::LayoutRun<'_>) -> Vec<(String, usize)> {
    let glyphs = run.glyphs;
    let mut out = vec![(String::new(), 0); glyphs.len()];
    let mut members: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < glyphs.len() {
        let cluster = (glyphs[i].start, glyphs[i].end);
        members.clear();
        // A cluster's glyphs are adjacent in the run.
        while i < glyphs.len() && (glyphs[i].start, glyphs[i].end) == cluster {
            members.push(i);
            i += 1;
        }
        let text = run.text.get(cluster.0..cluster.1).unwrap_or_default();
        if let [only] = members.as_slice() {
            out[*only] = (text.to_owned(), cluster.0);
            continue;
        }
        let chars: Vec<(usize, char)> = text.char_indices().map(|(at, c)| (cluster.0 + at, c)).collect();
        let mut owner: Vec<Option<usize>> = vec![None; chars.len()];
        for &m in &members {
            let g = &glyphs[m];
            let Some(font) = fs.get_font(g.font_id, g.font_weight) else { continue };
            let charmap = font.as_swash().charmap();
            if let Some(k) =
                (0..chars.len()).find(|&k| owner[k].is_none() && charmap.map(chars[k].1) == g.glyph_id)
            {
                owner[k] = Some(m);
            }
        }
        let widest = |of: &mut dyn Iterator<Item = usize>| {
            of.reduce(|a, b| if glyphs[b].w > glyphs[a].w { b } else { a })
        };
        let base = widest(&mut members.iter().copied().filter(|m| !owner.contains(&Some(*m))))
            .or_else(|| widest(&mut members.iter().copied()));
        for (k, (at, c)) in chars.iter().enumerate() {
            let Some(m) = owner[k].or(base) else { continue };
            let (s, logical) = &mut out[m];
            if s.is_empty() {
                *logical = *at;
            }
            s.push(*c);
        }
    }
    out
}

/// Shapes one line of plain text (headers and footers) at `size` with the top of its line box
/// at y = 0 and its pen starting at x = 0.
pub(crate) fn shape_line(
    fs: &mut cosmic_text::FontSystem,
    text: &str,
    font: Font,
    size: f32,
) -> Vec<TextLine> {
    let metrics = cosmic_text::Metrics::new(size, size * 1.3);
    let mut buffer = cosmic_text::Buffer::new(fs, metrics);
    buffer.set_size(fs, None, None);
    buffer.set_text(
        fs,
        text,
        &iced_graphics::text::to_attributes(font),
        cosmic_text::Shaping::Advanced,
        None,
    );
    buffer.shape_until_scroll(fs, false);
    buffer_lines(fs, &buffer, Point::ORIGIN, Color::BLACK, Transformation::IDENTITY)
}

/// A tiny-skia path as ours (quadratic curves raised to cubic).
fn convert_path(path: &tiny_skia::Path) -> Path {
    let mut segs = Vec::new();
    let mut current = Point::ORIGIN;
    let mut start = Point::ORIGIN;
    let p = |q: tiny_skia::Point| Point::new(q.x, q.y);
    for segment in path.segments() {
        match segment {
            tiny_skia::PathSegment::MoveTo(a) => {
                current = p(a);
                start = current;
                segs.push(Seg::Move(current));
            }
            tiny_skia::PathSegment::LineTo(a) => {
                current = p(a);
                segs.push(Seg::Line(current));
            }
            tiny_skia::PathSegment::QuadTo(c, a) => {
                let (c, a) = (p(c), p(a));
                let c1 = Point::new(
                    current.x + 2.0 / 3.0 * (c.x - current.x),
                    current.y + 2.0 / 3.0 * (c.y - current.y),
                );
                let c2 = Point::new(a.x + 2.0 / 3.0 * (c.x - a.x), a.y + 2.0 / 3.0 * (c.y - a.y));
                segs.push(Seg::Cubic(c1, c2, a));
                current = a;
            }
            tiny_skia::PathSegment::CubicTo(c1, c2, a) => {
                current = p(a);
                segs.push(Seg::Cubic(p(c1), p(c2), current));
            }
            tiny_skia::PathSegment::Close => {
                segs.push(Seg::Close);
                current = start;
            }
        }
    }
    Path { segs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_rectangles_become_finite() {
        let r = finite(Rectangle::INFINITE).unwrap();
        assert_eq!(r, WORLD);
        let tall = Rectangle::new(Point::ORIGIN, Size::new(100.0, f32::INFINITY));
        let r = finite(tall).unwrap();
        assert_eq!((r.x, r.y, r.width), (0.0, 0.0, 100.0));
        assert!(r.height.is_finite());
        assert!(finite(Rectangle::new(Point::ORIGIN, Size::ZERO)).is_none());
    }

    #[test]
    fn quadratic_segments_become_cubic() {
        let mut b = tiny_skia::PathBuilder::new();
        b.move_to(0.0, 0.0);
        b.quad_to(3.0, 3.0, 6.0, 0.0);
        b.close();
        let path = convert_path(&b.finish().unwrap());
        assert_eq!(
            path.segs,
            vec![
                Seg::Move(Point::new(0.0, 0.0)),
                Seg::Cubic(Point::new(2.0, 2.0), Point::new(4.0, 2.0), Point::new(6.0, 0.0)),
                Seg::Close
            ]
        );
    }
}
