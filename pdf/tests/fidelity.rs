//! Pixel fidelity: the PDF rasterised by poppler at the screen's scale against the tiny-skia
//! snapshot of the same view (at most 1 % of pixels differ by more than 64/255).

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns unwrap too; a failure fails the test")]

mod common;

use iced_core::renderer::Headless;
use iced_core::{Border, Color, Event, Length, Pixels, Size, Theme, clipboard, mouse, renderer, window};
use iced_runtime::user_interface::{Cache, UserInterface};
use iced_widget::{button, column, container, row, text};
use lucarne_pdf::{DEFAULT_FONT, PdfOptions, export};

type R = iced_tiny_skia::Renderer;
type Element<'a> = iced_core::Element<'a, (), Theme, R>;

fn view<'a>() -> Element<'a> {
    column![
        text("Quarterly Report").size(28),
        row![button("Approve").on_press(()), button("Reject").on_press(())].spacing(8),
        container(text("A container with a background and a rounded border"))
            .padding(12)
            .width(Length::Fill)
            .style(|_: &Theme| container::Style {
                background: Some(Color::from_rgb(0.90, 0.94, 1.0).into()),
                border: Border { color: Color::from_rgb(0.2, 0.4, 0.8), width: 2.0, radius: 10.0.into() },
                ..container::Style::default()
            }),
        text("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(5)),
        text("مرحبا بالعالم"),
        text("שלום עולם"),
        text("Order #42 — طلب رقم ٤٢ (shipped)"),
    ]
    .spacing(12)
    .padding(24)
    .into()
}

/// The tiny-skia snapshot of `view` laid out at `size`, RGBA.
fn snapshot(size: Size<u32>) -> Vec<u8> {
    lucarne_pdf::load_fonts().unwrap();
    let mut renderer = R::new(DEFAULT_FONT, Pixels(16.0));
    let bounds = Size::new(size.width as f32, size.height as f32);
    let mut ui = UserInterface::build(view(), bounds, Cache::default(), &mut renderer);
    let _ = ui.update(
        &[Event::Window(window::Event::RedrawRequested(iced_core::time::Instant::now()))],
        mouse::Cursor::Unavailable,
        &mut renderer,
        &mut clipboard::Null,
        &mut Vec::new(),
    );
    ui.draw(
        &mut renderer,
        &Theme::Light,
        &renderer::Style { text_color: Color::BLACK },
        mouse::Cursor::Unavailable,
    );
    renderer.screenshot(size, 1.0, Color::WHITE)
}

#[test]
fn the_pdf_looks_like_the_screen() {
    // A viewport of whole pixels that fits the A4 content box (697.7 × 1026.5 px) at zoom 1.
    let size = Size::new(696, 1024);
    let options = PdfOptions {
        viewport: Some(Size::new(size.width as f32, size.height as f32)),
        ..PdfOptions::default()
    };
    let pdf = common::write(&export(view(), &options).unwrap());
    // At 96 dpi one logical pixel is one device pixel; the content box starts at 36 pt = 48 px.
    let (width, _, page) = common::raster(&pdf, 96);
    let screen = snapshot(size);

    let (mut differing, mut ink) = (0usize, 0usize);
    for y in 0..size.height as usize {
        for x in 0..size.width as usize {
            let s = &screen[(y * size.width as usize + x) * 4..][..3];
            let p = &page[((y + 48) * width + x + 48) * 3..][..3];
            let diff = s.iter().zip(p).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            if s != [255, 255, 255] || p != [255, 255, 255] {
                ink += 1;
            }
            if diff > 64 {
                differing += 1;
            }
        }
    }
    let total = (size.width * size.height) as usize;
    let share = differing as f64 / total as f64;
    eprintln!("{differing} of {total} pixels ({:.2} %) differ by more than 64; {ink} inked", share * 100.0);
    assert!(ink > 10_000, "nothing drawn? {ink} inked pixels");
    assert!(share <= 0.01, "{:.2} % of pixels differ by more than 64/255", share * 100.0);
    // Also relative to what is drawn, so a mostly blank page cannot hide a broken drawing.
    let of_ink = differing as f64 / ink as f64;
    assert!(of_ink <= 0.25, "{:.1} % of inked pixels differ", of_ink * 100.0);
}
