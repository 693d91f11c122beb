//! Rough timings of an export (not a benchmark): a one-page screen and a 1 000-row document.
//!
//! `cargo build -p lucarne-pdf --release --example measure && target/release/examples/measure`

use iced_core::{Border, Color, Element, Length, Theme};
use iced_widget::{Column, button, column, container, row, text};
use lucarne_pdf::{PdfOptions, export_report};
use std::time::Instant;

type R = iced_tiny_skia::Renderer;

fn screen<'a>() -> Element<'a, (), Theme, R> {
    column![
        text("Quarterly Report").size(28),
        button("Approve order").on_press(()),
        container(text("A container with a background and a rounded border"))
            .padding(12)
            .width(Length::Fill)
            .style(|_: &Theme| container::Style {
                background: Some(Color::from_rgb(0.90, 0.94, 1.0).into()),
                border: Border { color: Color::from_rgb(0.2, 0.4, 0.8), width: 2.0, radius: 10.0.into() },
                ..container::Style::default()
            }),
        text("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(6)),
        text("مرحبا بالعالم"),
        text("שלום עולם"),
        text("Order #42 — طلب رقم ٤٢ (shipped)"),
    ]
    .spacing(12)
    .padding(24)
    .into()
}

fn table<'a>(rows: usize) -> Element<'a, (), Theme, R> {
    Column::with_children((0..rows).map(|i| {
        row![
            text(format!("{i:04}")).width(60),
            text(format!("Customer {}", i * 37 % 1000)).width(Length::Fill),
            text(format!("Item {}", i % 17)).width(120),
            text(format!("{}", i % 9 + 1)).width(40),
            text(format!("€{}.{:02}", i * 3 % 500, i % 100)).width(80),
        ]
        .spacing(8)
        .padding([2, 4])
        .into()
    }))
    .into()
}

fn time<F: FnMut() -> (usize, usize)>(label: &str, runs: usize, mut f: F) {
    let mut times = Vec::new();
    let mut last = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        last = f();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let first = times[0];
    times.sort_by(f64::total_cmp);
    println!(
        "{label}: first {first:.1} ms, median {:.1} ms over {runs} runs, {} pages, {} bytes",
        times[runs / 2],
        last.0,
        last.1
    );
}

fn main() -> Result<(), lucarne_pdf::PdfError> {
    let mut failed = None;
    time("screen", 20, || match export_report(screen(), &PdfOptions::default()) {
        Ok(e) => (e.pages, e.pdf.len()),
        Err(e) => {
            failed = Some(e);
            (0, 0)
        }
    });
    let options = PdfOptions { footer: Some("Page {page} of {pages}".into()), ..PdfOptions::document() };
    time("1000-row table", 5, || match export_report(table(1000), &options) {
        Ok(e) => (e.pages, e.pdf.len()),
        Err(e) => {
            failed = Some(e);
            (0, 0)
        }
    });
    failed.map_or(Ok(()), Err)
}
