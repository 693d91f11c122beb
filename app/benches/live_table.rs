//! The live table under load: a desk holding `ROWS` orders (default 100 000), sorted by
//! total, receiving `RATE` single-row deltas per second (default 5 000). Each simulated frame
//! (60 per second) applies its share of deltas through `update`, then builds the view, lays it
//! out and draws it with the tiny-skia renderer (recording), then rasterizes it (a screenshot,
//! what presenting costs on the CPU). Prints percentiles of each phase.
//!
//! `cargo xtask bench live-table [ROWS RATE SECONDS]`

use std::time::{Duration, Instant};

use iced_test::core::renderer::{Headless, Style};
use iced_test::futures::futures::executor::block_on;
use iced_test::runtime::user_interface::{Cache, UserInterface};
use lucarne::iced::{Pixels, Size, Theme, mouse};
use lucarne::protocol::{Delta, Op, Position, Row};
use lucarne::{Client, ClientConfig, ViewEvent};
use lucarne_app::{Desk, Message, update, view};
use serde_json::json;

type Renderer = lucarne::iced::Renderer;

fn order(i: u64, total: f64, status: &str) -> Row {
    let id = format!("o-{i}");
    let region = ["eu", "us", "mena", "apac"][(i % 4) as usize];
    let row = json!({"order_id": id, "customer": format!("Customer {}", i % 977), "region": region, "total": total, "status": status});
    Row { key: json!(id), row: row.as_object().cloned().unwrap_or_default() }
}

fn percentiles(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |p: f64| samples[lucarne_testing::rank(samples.len(), p)];
    println!(
        "{name:<28} p50 {:>9.3} ms   p95 {:>9.3} ms   max {:>9.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rows = args.first().copied().unwrap_or(100_000);
    let rate = args.get(1).copied().unwrap_or(5_000);
    let seconds = args.get(2).copied().unwrap_or(5);
    let size = Size::new(1100.0, 700.0);
    if let Err(e) = lucarne::pdf::load_fonts() {
        eprintln!("fonts: {e}");
    }
    let Some(mut renderer) =
        block_on(<Renderer as Headless>::new(lucarne_app::DEFAULT_FONT, Pixels(16.0), Some("tiny-skia")))
    else {
        eprintln!("no tiny-skia renderer");
        std::process::exit(1);
    };

    let mut desk = Desk::with_client(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws")));
    let mut dice = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
    let statuses = ["placed", "paid", "shipped", "cancelled"];
    let snapshot: Vec<Row> = (0..rows)
        .map(|i| order(i, f64::from(dice.u32(..100_000)) / 100.0, statuses[(i % 4) as usize]))
        .collect();
    let started = Instant::now();
    let _ = update(
        &mut desk,
        Message::Orders(ViewEvent::Snapshot {
            at: Position { epoch: 1, version: 0 },
            rows: snapshot.into(),
            resynced: None,
        }),
    );
    let _ = update(&mut desk, Message::Sort(3));
    let _ = update(&mut desk, Message::Sort(3));
    let _ = desk.table().row(0);
    println!("live table: {rows} rows loaded and sorted by total in {:?}", started.elapsed());

    let frames = seconds * 60;
    let per_frame = rate as f64 / 60.0;
    let (mut apply, mut layout, mut draw, mut raster, mut total) = (vec![], vec![], vec![], vec![], vec![]);
    let mut cache = Cache::default();
    let mut version = 0;
    let mut owed = 0.0;
    for _ in 0..frames {
        owed += per_frame;
        let t0 = Instant::now();
        while owed >= 1.0 {
            owed -= 1.0;
            let i = dice.u64(..rows);
            let row = order(i, f64::from(dice.u32(..100_000)) / 100.0, statuses[dice.usize(..4)]);
            let delta = Delta {
                sub: 1,
                from: version,
                to: version + 1,
                ops: vec![Op::Upsert { key: row.key, row: row.row }],
                acked: vec![],
            };
            version += 1;
            let _ = update(&mut desk, Message::Orders(ViewEvent::Delta(delta)));
        }
        let t1 = Instant::now();
        let mut ui = UserInterface::build(view(&desk), size, cache, &mut renderer);
        let t2 = Instant::now();
        ui.draw(&mut renderer, &Theme::Light, &Style::default(), mouse::Cursor::Unavailable);
        let t3 = Instant::now();
        cache = ui.into_cache();
        let pixels = renderer.screenshot(Size::new(1100, 700), 1.0, lucarne::iced::Color::WHITE);
        let t4 = Instant::now();
        assert_eq!(pixels.len(), 1100 * 700 * 4);
        apply.push(t1 - t0);
        layout.push(t2 - t1);
        draw.push(t3 - t2);
        raster.push(t4 - t3);
        total.push(t4 - t0);
    }
    assert_eq!(desk.table().len() as u64, rows);
    println!("{frames} frames, {version} deltas ({rate}/s at 60 frames/s):");
    percentiles("apply deltas (update)", &mut apply);
    percentiles("view + layout", &mut layout);
    percentiles("draw (tiny-skia recording)", &mut draw);
    percentiles("rasterize (tiny-skia)", &mut raster);
    percentiles("frame total", &mut total);
}
