//! Redrawing only what changed: iced's tiny-skia compositor (the browser build's default, and
//! the desktop's fallback) keeps the previous frame and redraws only the rectangles where the
//! drawn primitives differ ("damage"). A widget that reports a text somewhere else than where
//! it draws it leaves pieces of old frames on screen. So: the desk drawn over its previous
//! frame in the damaged rectangles must equal the desk drawn whole, after each kind of change
//! the desk goes through.
//!
//! Drawn with `iced_tiny_skia` directly (its public `layers()`, `draw` and iced's damage
//! functions, as its window compositor uses them), headless.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

use std::borrow::Cow;

use iced_graphics::{Viewport, damage};
use iced_runtime::user_interface::{self, UserInterface};
use iced_tiny_skia::Layer;
use lucarne::iced::{Color, Rectangle, Size, Theme};
use lucarne::protocol::{Position, Row};
use lucarne::{Client, ClientConfig, Status, ViewEvent};
use lucarne_app::i18n::Locale;
use lucarne_app::{Desk, Message, update, view};
use serde_json::json;

/// The screen's width in pixels (scale 1).
const WIDTH_PX: usize = 1100;
const SIZE: Size = Size::new(WIDTH_PX as f32, 700.0);

/// How many pixels a redrawn frame may differ by (see `check`): a pixel with one channel off
/// by more than 64/255.
const STRAY: usize = 16;

/// What one frame left: its layers and its pixels.
struct Frame {
    layers: Vec<Layer>,
    pixels: tiny_skia::Pixmap,
}

/// Draws the desk's current screen whole, and, given the previous frame, also over it in the
/// damaged rectangles only, as the compositor does: (whole, redrawn), from the same layers.
fn draw(desk: &Desk, previous: Option<&Frame>) -> (Frame, Option<tiny_skia::Pixmap>) {
    let mut renderer = lucarne::iced::Renderer::Secondary(iced_tiny_skia::Renderer::new(
        lucarne_app::DEFAULT_FONT,
        lucarne::iced::Pixels(16.0),
    ));
    let mut ui = UserInterface::build(view(desk), SIZE, user_interface::Cache::default(), &mut renderer);
    let mut messages = Vec::new();
    let redraw = lucarne::iced::Event::Window(lucarne::iced::window::Event::RedrawRequested(
        lucarne::iced::time::Instant::now(),
    ));
    let _ = ui.update(
        &[redraw],
        lucarne::iced::mouse::Cursor::Unavailable,
        &mut renderer,
        &mut lucarne::iced::advanced::clipboard::Null,
        &mut messages,
    );
    let style = lucarne::iced::advanced::renderer::Style { text_color: Color::BLACK };
    ui.draw(&mut renderer, &Theme::Light, &style, lucarne::iced::mouse::Cursor::Unavailable);
    let lucarne::iced::Renderer::Secondary(renderer) = &mut renderer else {
        unreachable!("built as tiny-skia")
    };
    let layers = renderer.layers().to_vec();
    let whole = Rectangle::with_size(SIZE);
    #[expect(clippy::cast_possible_truncation, reason = "the window's size in whole pixels")]
    let (width, height) = (SIZE.width as u32, SIZE.height as u32);
    let viewport = Viewport::with_physical_size(lucarne::iced::Size::new(width, height), 1.0);
    let mut mask = tiny_skia::Mask::new(width, height).unwrap();
    let mut paint = |pixels: &mut tiny_skia::Pixmap, damage: &[Rectangle]| {
        renderer.draw(&mut pixels.as_mut(), &mut mask, &viewport, damage, Color::WHITE);
    };
    let mut pixels = tiny_skia::Pixmap::new(width, height).unwrap();
    paint(&mut pixels, &[whole]);
    let redrawn = previous.map(|previous| {
        let damage = damage::diff(&previous.layers, &layers, |layer| vec![layer.bounds], Layer::damage);
        let mut pixels = previous.pixels.clone();
        paint(&mut pixels, &damage::group(damage, whole));
        pixels
    });
    // The widget tree owns the paragraphs the layers point to: dropped after drawing.
    drop(ui);
    (Frame { layers, pixels }, redrawn)
}

/// Applies `message`, then checks that the frame redrawn over the previous one equals the
/// frame drawn whole; returns the new frame.
fn check(desk: &mut Desk, previous: Frame, what: &str, message: Message) -> Frame {
    let _ = update(desk, message);
    let (whole, redrawn) = draw(desk, Some(&previous));
    let redrawn = redrawn.unwrap();
    let differ: Vec<(usize, usize)> = redrawn
        .pixels()
        .iter()
        .zip(whole.pixels.pixels())
        .enumerate()
        .filter(|(_, (a, b))| {
            let channels = [(a.red(), b.red()), (a.green(), b.green()), (a.blue(), b.blue())];
            channels.iter().any(|(a, b)| a.abs_diff(*b) > 64)
        })
        .map(|(i, _)| (i % WIDTH_PX, i / WIDTH_PX))
        .collect();
    // A few pixels may stay: marks that reach above their line's box (Arabic vowel marks)
    // are outside the area iced reports for a paragraph, so a changed line can leave them.
    if differ.len() > STRAY {
        let path = std::env::temp_dir().join(format!("lucarne-damage-{}.png", what.replace(' ', "-")));
        save_png(&redrawn, &path);
        save_png(&whole.pixels, &path.with_extension("whole.png"));
        let (xs, ys): (Vec<usize>, Vec<usize>) = differ.iter().copied().unzip();
        panic!(
            "{what}: {} pixels redrawn differently from a whole frame, within x {}..{} y {}..{} \
             (the redrawn frame: {}, and .whole.png)",
            differ.len(),
            xs.iter().min().unwrap(),
            xs.iter().max().unwrap(),
            ys.iter().min().unwrap(),
            ys.iter().max().unwrap(),
            path.display()
        );
    }
    whole
}

/// Keeps a frame to look at (its pixels are opaque: premultiplied or not, the same).
fn save_png(pixels: &tiny_skia::Pixmap, path: &std::path::Path) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, pixels.width(), pixels.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(pixels.data()).unwrap();
}

fn rows(n: usize, first: usize, status: &str) -> Vec<Row> {
    let customers = ["Ada Lovelace", "مريم العلي", "יוסף לוי", "Grace Hopper"];
    let regions = ["eu", "us", "mena"];
    (first..first + n)
        .map(|i| Row {
            key: json!(format!("o-{i:04}")),
            row: json!({
                "order_id": format!("o-{i:04}"),
                "customer": customers[i % customers.len()],
                "region": regions[i % 3],
                "total": (i * 37 % 1000) as f64 + 0.5,
                "status": status,
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        })
        .collect()
}

/// The `sales_by_region` view: `orders` orders in each region, revenues growing by `step`.
fn regions(orders: [u32; 4], step: f64, version: u64) -> Message {
    let rows = ["eu", "us", "mena", "apac"]
        .iter()
        .zip(orders)
        .enumerate()
        .map(|(i, (region, orders))| Row {
            key: json!(region),
            row: json!({"region": region, "orders": orders, "revenue": step * (i as f64 + 1.0) * f64::from(orders)})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    Message::Regions(ViewEvent::Snapshot { at: Position { epoch: 1, version }, rows, resynced: None })
}

fn snapshot(rows: Vec<Row>, version: u64) -> Message {
    Message::Orders(ViewEvent::Snapshot {
        at: Position { epoch: 1, version },
        rows: rows.into(),
        resynced: None,
    })
}

#[test]
fn redrawing_only_the_damage_gives_the_whole_frame() {
    {
        let mut fonts = iced_graphics::text::font_system().write().unwrap();
        for font in lucarne::fonts::fonts() {
            fonts.load_font(Cow::Borrowed(font));
        }
    }
    let mut desk = Desk::with_client(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws")));
    let (frame, _) = draw(&desk, None);
    let frame = check(&mut desk, frame, "first rows", snapshot(rows(30, 10, "placed"), 1));
    let frame = check(&mut desk, frame, "live", Message::Orders(ViewEvent::Status(Status::Live)));
    let frame = check(&mut desk, frame, "regions", regions([3, 5, 2, 1], 100.0, 1));
    let frame = check(&mut desk, frame, "regions change", regions([1, 2, 8, 4], 50.0, 2));
    // Every row moves down one (a new first key) and every status changes.
    let frame = check(&mut desk, frame, "rows shifted", snapshot(rows(31, 9, "paid"), 2));
    let frame = check(&mut desk, frame, "sorted by total", Message::Sort(3));
    let frame = check(&mut desk, frame, "filter typed", Message::FilterChanged("status = 'paid'".into()));
    let offline =
        Status::Offline { retry_in: std::time::Duration::from_secs(3), reason: lucarne::LinkError::Closed };
    let frame = check(&mut desk, frame, "offline", Message::Orders(ViewEvent::Status(offline)));
    let frame = check(&mut desk, frame, "arabic", Message::Locale(Locale::Ar));
    let frame = check(&mut desk, frame, "arabic rows shifted", snapshot(rows(30, 12, "shipped"), 3));
    let frame = check(&mut desk, frame, "arabic regions change", regions([4, 1, 1, 9], 70.0, 3));
    let _ = check(&mut desk, frame, "hebrew", Message::Locale(Locale::He));
}
