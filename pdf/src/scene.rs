//! A renderer-neutral list of what was drawn, in logical pixels with the origin at the top
//! left of the laid-out element and y growing downwards. `translate` fills it from the
//! recording; `compose` cuts it into pages and hands it to a [`Sink`](crate::sink::Sink).

use iced_core::{Point, Rectangle};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An RGBA colour, straight (not premultiplied) alpha, components in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rgba {
    pub r: f32,
    pub g: f32,
    pub b: f32,
    pub a: f32,
}

impl From<iced_core::Color> for Rgba {
    fn from(c: iced_core::Color) -> Self {
        Self { r: c.r, g: c.g, b: c.b, a: c.a }
    }
}

/// One segment of a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Seg {
    Move(Point),
    Line(Point),
    Cubic(Point, Point, Point),
    Close,
}

/// A path made of subpaths; each `Move` starts one.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Path {
    pub segs: Vec<Seg>,
}

impl Path {
    /// A rectangle with the corner radii top-left, top-right, bottom-right, bottom-left, as
    /// iced_tiny_skia draws it (radii already clamped by the caller).
    pub(crate) fn rounded_rect(r: Rectangle, radii: [f32; 4]) -> Self {
        // Distance of the bezier control points for a quarter circle.
        const K: f32 = 0.552_284_8;
        let [tl, tr, br, bl] = radii;
        let (x0, y0, x1, y1) = (r.x, r.y, r.x + r.width, r.y + r.height);
        let p = Point::new;
        let mut segs = vec![Seg::Move(p(x0 + tl, y0)), Seg::Line(p(x1 - tr, y0))];
        if tr > 0.0 {
            segs.push(Seg::Cubic(p(x1 - tr + tr * K, y0), p(x1, y0 + tr - tr * K), p(x1, y0 + tr)));
        }
        segs.push(Seg::Line(p(x1, y1 - br)));
        if br > 0.0 {
            segs.push(Seg::Cubic(p(x1, y1 - br + br * K), p(x1 - br + br * K, y1), p(x1 - br, y1)));
        }
        segs.push(Seg::Line(p(x0 + bl, y1)));
        if bl > 0.0 {
            segs.push(Seg::Cubic(p(x0 + bl - bl * K, y1), p(x0, y1 - bl + bl * K), p(x0, y1 - bl)));
        }
        segs.push(Seg::Line(p(x0, y0 + tl)));
        if tl > 0.0 {
            segs.push(Seg::Cubic(p(x0, y0 + tl - tl * K), p(x0 + tl - tl * K, y0), p(x0 + tl, y0)));
        }
        segs.push(Seg::Close);
        Self { segs }
    }

    /// The same path with every point mapped.
    pub(crate) fn map(&self, f: impl Fn(Point) -> Point) -> Self {
        let segs = self
            .segs
            .iter()
            .map(|s| match *s {
                Seg::Move(a) => Seg::Move(f(a)),
                Seg::Line(a) => Seg::Line(f(a)),
                Seg::Cubic(a, b, c) => Seg::Cubic(f(a), f(b), f(c)),
                Seg::Close => Seg::Close,
            })
            .collect();
        Self { segs }
    }

    /// Bounding box of the points (control points included), if there is any point.
    pub(crate) fn bounds(&self) -> Option<Rectangle> {
        let mut it = self.segs.iter().flat_map(|s| match *s {
            Seg::Move(a) | Seg::Line(a) => vec![a],
            Seg::Cubic(a, b, c) => vec![a, b, c],
            Seg::Close => vec![],
        });
        let first = it.next()?;
        let (mut x0, mut y0, mut x1, mut y1) = (first.x, first.y, first.x, first.y);
        for p in it {
            x0 = x0.min(p.x);
            y0 = y0.min(p.y);
            x1 = x1.max(p.x);
            y1 = y1.max(p.y);
        }
        Some(Rectangle::new(Point::new(x0, y0), iced_core::Size::new(x1 - x0, y1 - y0)))
    }
}

/// How a path is filled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Paint {
    Solid(Rgba),
    /// A linear gradient from `start` to `end` (same space as the path).
    Linear {
        start: Point,
        end: Point,
        stops: Vec<(f32, Rgba)>,
    },
}

/// Line cap of a stroke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cap {
    Butt,
    Round,
    Square,
}

/// Line join of a stroke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Join {
    Miter,
    Round,
    Bevel,
}

/// Stroke settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StrokeStyle {
    pub width: f32,
    pub cap: Cap,
    pub join: Join,
    pub miter_limit: f32,
}

/// A font face used by the text, keyed by its cosmic-text (fontdb) id.
pub(crate) type FontKey = iced_graphics::text::cosmic_text::fontdb::ID;

/// The bytes of a face, and its index in a collection.
#[derive(Debug, Clone)]
pub(crate) struct Face {
    pub name: String,
    pub data: Arc<Vec<u8>>,
    pub index: u32,
}

/// One positioned glyph.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Glyph {
    pub font: FontKey,
    /// Font size (em) in the scene's units.
    pub size: f32,
    /// Pen position on the baseline.
    pub x: f32,
    pub y: f32,
    pub gid: u16,
    /// The left edge and width of the glyph's box on the line (its advance), which decide
    /// whether the glyph is inside its clip.
    pub left: f32,
    pub advance: f32,
    pub color: Rgba,
    /// The characters this glyph stands for, in logical order: a mark glyph its mark, a
    /// ligature its letters, the base glyph of a cluster what its marks and ligatures leave,
    /// the empty string for a glyph that adds none (see `translate::glyph_texts`).
    pub text: String,
    /// Where its first character is in the line's text: sorting by it puts the glyphs'
    /// texts in logical order.
    pub logical: usize,
    /// In a right-to-left run.
    pub rtl: bool,
    /// Synthetic italic (the face has no italic).
    pub skew: bool,
}

/// One visual line of text: the unit that pagination never cuts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextLine {
    /// Top and bottom of the line box.
    pub top: f32,
    pub bottom: f32,
    /// Advance width of the whole line.
    pub width: f32,
    /// Glyphs in visual order (left to right): text extraction builds words from glyphs
    /// that follow each other on the line (poppler makes every right-to-left glyph drawn
    /// leftwards a word of its own, which splits words and turns ligatures around).
    pub glyphs: Vec<Glyph>,
    /// The line's text in logical order.
    pub text: String,
    /// True when the line holds right-to-left runs.
    pub has_rtl: bool,
}

impl TextLine {
    /// The line as far as `clip` shows it, so that the text layer holds what is seen and
    /// nothing else: none when less than half of its box is inside, else without the glyphs
    /// less than half inside (a mark goes with its letter).
    pub(crate) fn within(mut self, clip: Rectangle) -> Option<TextLine> {
        let middle = (self.top + self.bottom) / 2.0;
        if middle < clip.y || middle >= clip.y + clip.height {
            return None;
        }
        let (left, right) = (clip.x, clip.x + clip.width);
        let count = self.glyphs.len();
        // A mark (no advance) goes with its letter: the glyph with an advance whose characters
        // come last before the mark's in logical order. Only lines with marks need those.
        let letters: Vec<(usize, f32)> = if self.glyphs.iter().any(|g| g.advance == 0.0) {
            let mut letters: Vec<(usize, f32)> = self
                .glyphs
                .iter()
                .filter(|g| g.advance > 0.0)
                .map(|g| (g.logical, g.left + g.advance / 2.0))
                .collect();
            letters.sort_by_key(|(at, _)| *at);
            letters
        } else {
            Vec::new()
        };
        let shown = |g: &Glyph| {
            let centre = if g.advance > 0.0 {
                g.left + g.advance / 2.0
            } else {
                let before = letters.partition_point(|(at, _)| *at <= g.logical);
                before.checked_sub(1).and_then(|k| letters.get(k)).map_or(g.left, |(_, c)| *c)
            };
            centre >= left && centre < right
        };
        self.glyphs.retain(shown);
        if self.glyphs.is_empty() {
            return None;
        }
        if self.glyphs.len() < count {
            let mut kept: Vec<&Glyph> = self.glyphs.iter().collect();
            kept.sort_by_key(|g| g.logical);
            self.text = kept.iter().map(|g| g.text.as_str()).collect();
        }
        Some(self)
    }
}

/// A decoded raster image, RGBA8, straight alpha.
#[derive(Debug, Clone)]
pub(crate) struct Raster {
    pub width: u32,
    pub height: u32,
    pub rgba: Arc<Vec<u8>>,
    /// A hash of the pixels, taken once: with the size, where the sink looks for the same
    /// picture embedded already (one image per picture, however many scenes — a page
    /// header's logo on every page — and handles draw it; the pixels compared on a match).
    pub hash: u64,
}

impl Raster {
    pub(crate) fn new(width: u32, height: u32, rgba: Vec<u8>) -> Raster {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        rgba.hash(&mut hasher);
        Raster { width, height, rgba: Arc::new(rgba), hash: hasher.finish() }
    }

    /// True when both are the same picture.
    pub(crate) fn same(&self, other: &Raster) -> bool {
        (self.width, self.height, self.hash) == (other.width, other.height, other.hash)
            && (Arc::ptr_eq(&self.rgba, &other.rgba) || self.rgba == other.rgba)
    }
}

/// What an item draws.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Fill {
        path: Path,
        paint: Paint,
        even_odd: bool,
    },
    Stroke {
        path: Path,
        color: Rgba,
        style: StrokeStyle,
    },
    Text(TextLine),
    Image {
        /// Index into [`Scene::images`].
        image: usize,
        bounds: Rectangle,
        opacity: f32,
        radii: [f32; 4],
    },
}

/// One drawing, with the rectangle it is clipped to.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub clip: Rectangle,
    pub kind: Kind,
}

impl Item {
    /// The part of the scene the item can paint on: its own extent within its clip.
    pub(crate) fn extent(&self) -> Option<Rectangle> {
        let own = match &self.kind {
            Kind::Fill { path, .. } => path.bounds()?,
            Kind::Stroke { path, style, .. } => path.bounds()?.expand(style.width / 2.0),
            Kind::Text(line) => {
                let first = line.glyphs.first()?;
                let last = line.glyphs.last()?;
                let x0 = line.glyphs.iter().map(|g| g.x).fold(first.x, f32::min);
                let x1 = line.glyphs.iter().map(|g| g.x + g.size).fold(last.x + last.size, f32::max);
                Rectangle::new(
                    Point::new(x0, line.top),
                    iced_core::Size::new(x1 - x0, line.bottom - line.top),
                )
            }
            Kind::Image { bounds, .. } => *bounds,
        };
        own.intersection(&self.clip)
    }
}

/// Everything drawn, in paint order, with the fonts and images it refers to.
#[derive(Debug, Default)]
pub(crate) struct Scene {
    pub items: Vec<Item>,
    pub faces: BTreeMap<FontKey, Face>,
    pub images: Vec<Raster>,
    /// Things that could not be drawn, for [`Exported::warnings`](crate::Exported).
    pub warnings: Vec<String>,
}
