//! Shaping and layout cost of a mixed-script screen (Arabic, Hebrew and Latin, RTL and LTR
//! runs, Arabic-Indic digits) against the same screen in English: every string of an order desk
//! screen (title, headers, 30 rows of 6 cells, summary, status line) shaped and laid out by
//! iced's paragraph (cosmic-text), then read back as visual lines as `bidi_text` and
//! `bidi_input` do.
//!
//! `cargo bench -p lucarne-widgets --bench bidi` prints the time per screen and the ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use iced_core::text::{Alignment, Paragraph as _, Shaping, Text, Wrapping};
use iced_core::{Font, Size};
use lucarne_widgets::shaping::Shaped;

const FONTS: [&[u8]; 4] = [
    include_bytes!("../../assets/fonts/NotoSans-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSans-Bold.ttf"),
    include_bytes!("../../assets/fonts/NotoSansArabic-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSansHebrew-Regular.ttf"),
];

const ROWS: usize = 30;

/// The texts a screen is made of, in one language.
struct Texts {
    title: &'static str,
    headers: [&'static str; 6],
    statuses: [&'static str; 3],
    names: [&'static str; 5],
    summary: [&'static str; 4],
    line: &'static str,
}

const MIXED: Texts = Texts {
    title: "مكتب طلبات لوكارن · ٣٠ طلبًا",
    headers: ["الطلب", "العميل", "المنطقة", "الإجمالي", "الحالة", "الإجراءات"],
    statuses: ["مدفوع", "مشحون", "مُقدَّم"],
    names: ["نور الهدى", "דנה כהן", "Ada Lovelace", "محمد بن موسى", "Order #42 — طلب رقم ٤٢ (shipped)"],
    summary: ["المبيعات حسب المنطقة", "المنطقة", "الطلبات", "الإيرادات"],
    line: "الطلبات المعروضة: ٣٠ · الأوامر المعلّقة: ٢ · المُرسَلة: ٧",
};

const ENGLISH: Texts = Texts {
    title: "Lucarne order desk · 30 orders",
    headers: ["Order", "Customer", "Region", "Total", "Status", "Actions"],
    statuses: ["paid", "shipped", "placed"],
    names: [
        "Noor Alhuda",
        "Dana Cohen",
        "Ada Lovelace",
        "Muhammad ibn Musa",
        "Order #42 — order 42 (shipped)",
    ],
    summary: ["Sales by region", "Region", "Orders", "Revenue"],
    line: "30 orders shown · 2 commands pending · 7 sent",
};

/// The strings of one screen.
fn screen(mixed: bool) -> Vec<String> {
    let Texts { title, headers, statuses, names, summary, line } = if mixed { MIXED } else { ENGLISH };
    let mut strings: Vec<String> = vec![title.to_owned()];
    strings.extend(headers.iter().map(|h| h.to_string()));
    for i in 0..ROWS {
        let total = 1000.0 + i as f64 * 37.25;
        let total = if mixed { to_arabic_digits(&format!("{total:.2}")) } else { format!("{total:.2}") };
        strings.push(format!("o-{i}"));
        strings.push(names[i % names.len()].to_owned());
        strings.push(["eu", "mena", "us"][i % 3].to_owned());
        strings.push(total);
        strings.push(statuses[i % statuses.len()].to_owned());
        strings.push(headers[5].to_owned());
    }
    strings.extend(summary.iter().map(|s| s.to_string()));
    strings.push(line.to_owned());
    strings
}

fn to_arabic_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0x0660 + d).unwrap_or(c),
            None if c == '.' => '\u{066B}',
            None => c,
        })
        .collect()
}

/// Shapes and lays out every string, reads its lines; returns the glyph count (kept alive).
fn layout(strings: &[String]) -> usize {
    strings
        .iter()
        .map(|content| {
            let paragraph = iced_graphics::text::Paragraph::with_text(Text {
                content,
                bounds: Size::new(240.0, 1.0e5),
                size: 14.into(),
                line_height: Default::default(),
                font: Font::with_name("Noto Sans"),
                align_x: Alignment::Default,
                align_y: iced_core::alignment::Vertical::Top,
                shaping: Shaping::Advanced,
                wrapping: Wrapping::Word,
            });
            paragraph.lines().iter().map(|l| l.clusters.len()).sum::<usize>()
        })
        .sum()
}

/// The median time of one `layout` of the screen over `samples` runs.
fn measure(strings: &[String], samples: usize) -> (Duration, usize) {
    let glyphs = layout(strings); // warm up: font fallback lists, glyph outlines
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            let _ = black_box(layout(black_box(strings)));
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], glyphs)
}

fn main() {
    {
        let mut system = iced_graphics::text::font_system().write().expect("font system");
        for bytes in FONTS {
            system.load_font(std::borrow::Cow::Borrowed(bytes));
        }
    }
    let samples = std::env::var("SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let english = screen(false);
    let mixed = screen(true);
    let (en, en_glyphs) = measure(&english, samples);
    let (mx, mx_glyphs) = measure(&mixed, samples);
    println!("bidi shaping + layout, one screen of {} strings, median of {samples} runs:", english.len());
    println!("  english      {:>9.3} ms  ({en_glyphs} clusters)", en.as_secs_f64() * 1e3);
    println!("  mixed-script {:>9.3} ms  ({mx_glyphs} clusters)", mx.as_secs_f64() * 1e3);
    println!("  ratio mixed / english: {:.2}", mx.as_secs_f64() / en.as_secs_f64());
}
