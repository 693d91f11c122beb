//! From a scene to pages: the layout size for each mode, the scale, where pages break, and
//! the drawing of every page (content, header, footer) into a [`Sink`].

use crate::options::{Mode, POINTS_PER_PIXEL, PdfOptions};
use crate::scene::{Glyph, Item, Kind, Paint, Path, Scene, TextLine};
use crate::sink::Sink;
use crate::tags::{Role, Span};
use crate::{PdfError, translate};
use iced_core::theme::Base;
use iced_core::{Point, Rectangle, Size};
use iced_graphics::text::font_system;

/// The size the element is laid out at, in logical pixels.
pub(crate) fn layout_size(options: &PdfOptions) -> Size {
    let (_, _, cw, ch) = options.content_box();
    let k = POINTS_PER_PIXEL * options.zoom;
    match options.mode {
        Mode::Screen => options.viewport.unwrap_or(Size::new(cw / k, ch / k)),
        Mode::Document => Size::new(cw / k, f32::INFINITY),
    }
}

/// Where pages are cut and how pixels map to points.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Points per logical pixel.
    pub scale: f32,
    /// The part of the scene each page shows, in logical pixels.
    pub windows: Vec<Rectangle>,
    /// The top band drawn again above the window of every page after the first (its height in
    /// logical pixels; 0: none).
    pub band: f32,
}

/// Decides the scale and the page windows.
pub(crate) fn plan(scene: &Scene, layout: Size, options: &PdfOptions) -> Result<Plan, PdfError> {
    let (_, _, cw, ch) = options.content_box();
    let base = POINTS_PER_PIXEL * options.zoom;
    match options.mode {
        Mode::Screen => {
            let fit = (cw / (layout.width * base)).min(ch / (layout.height * base));
            Ok(Plan {
                scale: base * fit.min(1.0),
                windows: vec![Rectangle::new(Point::ORIGIN, layout)],
                band: 0.0,
            })
        }
        Mode::Document => {
            // iced lays the element out within the width it is given (fixed widths are
            // clamped, as in a window that narrow) and the recording is clipped to it, so
            // nothing is drawn beyond the content box.
            let extents: Vec<Rectangle> = scene.items.iter().filter_map(Item::extent).collect();
            let scale = base;
            let page = ch / scale;
            let bottom = extents.iter().map(|e| e.y + e.height).fold(0.0, f32::max);
            // Boxes that must not be cut: every text line, and every box shorter than half a
            // page (rows, cards, buttons, images).
            let mut atoms: Vec<(f32, f32)> = scene
                .items
                .iter()
                .filter_map(|item| match &item.kind {
                    Kind::Text(line) => Some((line.top, line.bottom)),
                    _ => item.extent().filter(|e| e.height < page / 2.0).map(|e| (e.y, e.y + e.height)),
                })
                .collect();
            atoms.sort_by(|a, b| a.0.total_cmp(&b.0));
            // A repeated band takes its height off every page after the first (never all of it).
            let band =
                options.repeat_top.filter(|b| b.is_finite() && *b > 0.0).map_or(0.0, |b| b.min(page / 2.0));
            let starts = breaks(&atoms, page, page - band, bottom, options.max_pages)?;
            let width = cw / scale;
            let windows = starts
                .iter()
                .enumerate()
                .map(|(i, &y)| {
                    let room = if i == 0 { page } else { page - band };
                    let end = starts.get(i + 1).copied().unwrap_or(y + room);
                    Rectangle::new(Point::new(0.0, y), Size::new(width, end - y))
                })
                .collect();
            Ok(Plan { scale, windows, band })
        }
    }
}

/// The tops of the pages: a page ends where the next atom that would straddle its bottom
/// begins; an atom taller than a page is cut. The first page holds `first` pixels, the others
/// `page` (less when a band is repeated on them).
fn breaks(
    atoms: &[(f32, f32)],
    first: f32,
    page: f32,
    bottom: f32,
    limit: usize,
) -> Result<Vec<f32>, PdfError> {
    let mut starts = vec![0.0_f32];
    let mut start = 0.0_f32;
    let mut room = first;
    while start + room < bottom - 0.01 {
        let mut cut = start + room;
        loop {
            let straddling = atoms
                .iter()
                .filter(|(a, b)| *a > start + 0.5 && *a < cut && *b > cut + 0.01)
                .map(|(a, _)| *a)
                .fold(f32::INFINITY, f32::min);
            if straddling.is_finite() {
                cut = straddling;
            } else {
                break;
            }
        }
        start = cut;
        room = page;
        starts.push(start);
        if starts.len() > limit {
            // Estimate without cutting further.
            #[expect(clippy::cast_possible_truncation, reason = "an estimate of pages: `as` saturates")]
            let needed = starts.len() + ((bottom - start) / page).ceil() as usize;
            return Err(PdfError::TooManyPages { needed, limit });
        }
    }
    Ok(starts)
}

/// The pages' headers and footers drawn by widgets ([`Furniture`](crate::Furniture)).
#[derive(Debug, Default)]
pub(crate) struct Furnished {
    pub header: Option<Bands>,
    pub footer: Option<Bands>,
}

/// Every page's header (or footer), one under the other, each `band` big (its margin, in
/// logical pixels): page `i`'s is the part of the scene `i` bands down, and `pages[i]` the
/// items drawn there (so that each page looks at its own, not at every page's).
#[derive(Debug)]
pub(crate) struct Bands {
    scene: Scene,
    band: Size,
    pages: Vec<Vec<usize>>,
}

impl Bands {
    pub(crate) fn new(scene: Scene, band: Size, count: usize) -> Bands {
        let mut pages = vec![Vec::new(); count];
        if count == 0 {
            return Bands { scene, band, pages };
        }
        let last = count - 1;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a band's index, clamped to the pages: the casts saturate"
        )]
        let at = |y: f32| ((y / band.height).floor().max(0.0) as usize).min(last);
        for (index, item) in scene.items.iter().enumerate() {
            // Each band is clipped to itself: an item's clip says which one it is in.
            let (top, bottom) = (item.clip.y, item.clip.y + item.clip.height);
            for page in &mut pages[at(top)..=at((bottom - 0.01).max(top))] {
                page.push(index);
            }
        }
        Bands { scene, band, pages }
    }
}

/// Draws every page of the plan into the sink, with its furniture. Returns the page count.
pub(crate) fn compose<S: Sink>(
    scene: &mut Scene,
    plan: &Plan,
    options: &PdfOptions,
    furnished: &Furnished,
    sink: &mut S,
    progress: &mut dyn FnMut(crate::Progress),
) -> Result<usize, PdfError> {
    let (page_w, page_h) = options.page_points();
    let (left, top, _, _) = options.content_box();
    let count = plan.windows.len();
    // A widget header or footer takes the place of the text one.
    let drawn = (furnished.header.is_some(), furnished.footer.is_some());
    let headers = header_footer_lines(scene, options, count, (page_w, page_h), drawn)?;
    let k = plan.scale;
    // Headings only in a document of paragraphs (a table's lines are its cells).
    let headings = if plan.band > 0.0 { Vec::new() } else { heading_sizes(scene) };
    for (index, window) in plan.windows.iter().enumerate() {
        sink.begin_page(page_w, page_h);
        if options.paint_background {
            let bg = options.theme.base().background_color;
            let sheet =
                Path::rounded_rect(Rectangle::new(Point::ORIGIN, Size::new(page_w, page_h)), [0.0; 4]);
            sink.begin_artifact();
            sink.fill(&sheet, &Paint::Solid(bg.into()), false);
            sink.end_artifact();
        }
        // The repeated band first, at the top of the content box; the window below it.
        let band = if index > 0 { plan.band } else { 0.0 };
        if band > 0.0 {
            // A repetition: furniture for a reader, the header was read on the first page.
            let top_band = Rectangle::new(Point::ORIGIN, Size::new(window.width, band));
            draw_items(scene, &scene.items, top_band, (left, top), k, sink, Structure::Artifact)?;
        }
        // A document whose top band repeats is a table: its lines are cells of rows (those of
        // the band header cells); any other document's are paragraphs.
        let structure = if plan.band > 0.0 {
            Structure::Table { band: plan.band }
        } else {
            Structure::Paragraphs { headings: &headings }
        };
        draw_items(scene, &scene.items, *window, (left, top + band * k), k, sink, structure)?;
        if let Some(lines) = headers.get(index) {
            for line in lines {
                sink.text(line, &scene.faces, Role::Artifact)?;
            }
        }
        for (bands, top) in [(&furnished.header, 0.0), (&furnished.footer, page_h - options.margins.bottom)] {
            let Some(Bands { scene, band, pages }) = bands else { continue };
            #[expect(clippy::cast_precision_loss, reason = "a page index: far below 2^24")]
            let window = Rectangle::new(Point::new(0.0, band.height * index as f32), *band);
            let items = pages.get(index).into_iter().flatten().filter_map(|&i| scene.items.get(i));
            draw_items(scene, items, window, (left, top), POINTS_PER_PIXEL, sink, Structure::Artifact)?;
        }
        sink.end_page();
        progress(crate::Progress::Page { done: index + 1, pages: count });
    }
    Ok(count)
}

/// The text sizes of headings in the scene: those at least 1.1 times the size most glyphs have
/// (the body's), largest first (`[0]` is level 1, the rest level 2).
fn heading_sizes(scene: &Scene) -> Vec<f32> {
    let mut counts: Vec<(f32, usize)> = Vec::new();
    for item in &scene.items {
        let Kind::Text(line) = &item.kind else { continue };
        for g in &line.glyphs {
            match counts.iter_mut().find(|(size, _)| (*size - g.size).abs() < 0.01) {
                Some((_, n)) => *n += 1,
                None => counts.push((g.size, 1)),
            }
        }
    }
    let body = counts.iter().max_by_key(|(_, n)| *n).map_or(f32::INFINITY, |(size, _)| *size);
    let mut sizes: Vec<f32> = counts.into_iter().map(|(size, _)| size).filter(|s| *s >= body * 1.1).collect();
    sizes.sort_by(|a, b| b.total_cmp(a));
    sizes
}

/// A line's heading level (1 for the largest heading size, else 2), from its largest glyph.
fn heading_level(line: &TextLine, headings: &[f32]) -> Option<u8> {
    let size = line.glyphs.iter().map(|g| g.size).fold(0.0, f32::max);
    if line.text.trim().is_empty() {
        return None;
    }
    let at = headings.iter().position(|h| (h - size).abs() < 0.01)?;
    Some(if at == 0 { 1 } else { 2 })
}

/// What the lines drawn are in the document's structure.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Structure<'a> {
    /// Furniture.
    Artifact,
    /// Paragraphs, and headings: lines in one of the `headings` sizes ([`heading_sizes`]).
    Paragraphs { headings: &'a [f32] },
    /// Cells of a table whose header row is the top `band` logical pixels of the element.
    Table { band: f32 },
}

/// Draws the scene's items in `window` (logical pixels) with the window's top-left corner at
/// `origin` (points), `k` points per pixel, each line of text tagged as `structure` says.
fn draw_items<'s, S: Sink>(
    scene: &'s Scene,
    items: impl IntoIterator<Item = &'s Item>,
    window: Rectangle,
    (left, top): (f32, f32),
    k: f32,
    sink: &mut S,
    structure: Structure<'_>,
) -> Result<(), PdfError> {
    let map = |p: Point| Point::new(left + (p.x - window.x) * k, top + (p.y - window.y) * k);
    let map_rect = |r: Rectangle| {
        let a = map(Point::new(r.x, r.y));
        Rectangle::new(a, Size::new(r.width * k, r.height * k))
    };
    let mut current_clip: Option<Rectangle> = None;
    for item in items {
        // Every page looks at every item: the cheap test first (a line's middle), the extent
        // (a walk of a line's glyphs) only for what is not text.
        let clip = match &item.kind {
            Kind::Text(line) => {
                // A line belongs to the one page that holds its middle.
                let middle = (line.top + line.bottom) / 2.0;
                if middle < window.y || middle >= window.y + window.height {
                    continue;
                }
                let y0 = window.y.min(line.top);
                let y1 = (window.y + window.height).max(line.bottom);
                let room = Rectangle::new(Point::new(window.x, y0), Size::new(window.width, y1 - y0));
                item.clip.intersection(&room)
            }
            _ => {
                if !item.extent().is_some_and(|extent| extent.intersects(&window)) {
                    continue;
                }
                item.clip.intersection(&window)
            }
        };
        let Some(clip) = clip else {
            continue;
        };
        let clip = map_rect(clip);
        if current_clip != Some(clip) {
            if current_clip.is_some() {
                sink.pop_clip();
            }
            sink.push_clip(clip);
            current_clip = Some(clip);
        }
        match &item.kind {
            Kind::Fill { path, paint, even_odd } => {
                let paint = match paint {
                    Paint::Solid(c) => Paint::Solid(*c),
                    Paint::Linear { start, end, stops } => {
                        Paint::Linear { start: map(*start), end: map(*end), stops: stops.clone() }
                    }
                };
                sink.begin_artifact();
                sink.fill(&path.map(map), &paint, *even_odd);
                sink.end_artifact();
            }
            Kind::Stroke { path, color, style } => {
                let mut style = *style;
                style.width *= k;
                sink.begin_artifact();
                sink.stroke(&path.map(map), *color, &style);
                sink.end_artifact();
            }
            Kind::Text(line) => {
                let mapped = map_line(line, &map, k);
                let left = mapped.glyphs.iter().map(|g| g.x).fold(f32::INFINITY, f32::min);
                let span = Span { top: mapped.top, bottom: mapped.bottom, left, right: left + mapped.width };
                let role = match structure {
                    Structure::Artifact => Role::Artifact,
                    Structure::Paragraphs { headings } => match heading_level(line, headings) {
                        Some(level) => Role::Heading(level),
                        None => Role::Paragraph,
                    },
                    Structure::Table { band } if line.top < band => Role::Header(span),
                    Structure::Table { .. } => Role::Cell(span),
                };
                sink.text(&mapped, &scene.faces, role)?;
            }
            Kind::Image { image, bounds, opacity, radii } => {
                if let Some(raster) = scene.images.get(*image) {
                    sink.begin_artifact();
                    sink.image(raster, map_rect(*bounds), *opacity, radii.map(|r| r * k));
                    sink.end_artifact();
                }
            }
        }
    }
    if current_clip.is_some() {
        sink.pop_clip();
    }
    Ok(())
}

fn map_line(line: &TextLine, map: &impl Fn(Point) -> Point, k: f32) -> TextLine {
    let glyphs = line
        .glyphs
        .iter()
        .map(|g| {
            let p = map(Point::new(g.x, g.y));
            let left = map(Point::new(g.left, g.y)).x;
            Glyph { x: p.x, y: p.y, size: g.size * k, left, advance: g.advance * k, ..g.clone() }
        })
        .collect();
    let top = map(Point::new(0.0, line.top)).y;
    TextLine {
        top,
        bottom: top + (line.bottom - line.top) * k,
        width: line.width * k,
        glyphs,
        text: line.text.clone(),
        has_rtl: line.has_rtl,
    }
}

/// Header and footer lines of every page, shaped with the default font, centred in the top
/// and bottom margins, in page space.
fn header_footer_lines(
    scene: &mut Scene,
    options: &PdfOptions,
    count: usize,
    (page_w, page_h): (f32, f32),
    (header_drawn, footer_drawn): (bool, bool),
) -> Result<Vec<Vec<TextLine>>, PdfError> {
    let header = options.header.as_ref().filter(|_| !header_drawn);
    let footer = options.footer.as_ref().filter(|_| !footer_drawn);
    if header.is_none() && footer.is_none() {
        return Ok(Vec::new());
    }
    let mut guard = font_system().write().map_err(|_| PdfError::FontSystem)?;
    let fs = guard.raw();
    let m = options.margins;
    let mut pages = Vec::with_capacity(count);
    for page in 1..=count {
        let mut lines = Vec::new();
        for (template, band_top, band_height) in [(header, 0.0, m.top), (footer, page_h - m.bottom, m.bottom)]
        {
            let Some(template) = template else {
                continue;
            };
            let text = template
                .replace("{page}", &options.numerals.format(page))
                .replace("{pages}", &options.numerals.format(count));
            for line in translate::shape_line(fs, &text, options.default_font, options.header_footer_size) {
                let height = line.bottom - line.top;
                let dx = (page_w - line.width) / 2.0;
                let dy = band_top + (band_height - height) / 2.0 - line.top;
                for g in &line.glyphs {
                    translate::register_face(&mut scene.faces, fs, g.font);
                }
                lines.push(map_line(&line, &|p| Point::new(p.x + dx, p.y + dy), 1.0));
            }
        }
        pages.push(lines);
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_break_before_a_straddling_row() {
        // Rows of 30 px every 30 px; a page of 100 px holds 3 rows, not 3⅓.
        let atoms: Vec<(f32, f32)> = (0..10).map(|i| (i as f32 * 30.0, i as f32 * 30.0 + 30.0)).collect();
        let starts = breaks(&atoms, 100.0, 100.0, 300.0, 100).unwrap();
        assert_eq!(starts, vec![0.0, 90.0, 180.0, 270.0]);
    }

    #[test]
    fn an_atom_taller_than_a_page_is_cut() {
        let atoms = vec![(10.0, 500.0)];
        let starts = breaks(&atoms, 100.0, 100.0, 500.0, 100).unwrap();
        assert_eq!(starts, vec![0.0, 10.0, 110.0, 210.0, 310.0, 410.0]);
    }

    #[test]
    fn the_page_limit_is_an_error() {
        let err = breaks(&[], 10.0, 10.0, 1000.0, 5).unwrap_err();
        assert!(matches!(err, PdfError::TooManyPages { limit: 5, .. }), "{err:?}");
    }

    #[test]
    fn content_that_fits_is_one_page() {
        assert_eq!(breaks(&[(0.0, 50.0)], 100.0, 100.0, 50.0, 1).unwrap(), vec![0.0]);
        assert_eq!(breaks(&[], 100.0, 100.0, 0.0, 1).unwrap(), vec![0.0]);
    }

    #[test]
    fn pages_after_the_first_hold_less_when_a_band_repeats_on_them() {
        // Rows of 30 px; the first page holds 3 rows (100 px), the others 2 (100 − a 30 px band).
        let atoms: Vec<(f32, f32)> = (0..10).map(|i| (i as f32 * 30.0, i as f32 * 30.0 + 30.0)).collect();
        let starts = breaks(&atoms, 100.0, 70.0, 300.0, 100).unwrap();
        assert_eq!(starts, vec![0.0, 90.0, 150.0, 210.0, 270.0]);
    }
}
