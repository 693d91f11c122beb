//! What headless iced tests share: the re-run of a test under tiny-skia, iced settings with
//! Lucarne's bundled fonts, and the state a custom widget reports, found by its id.
//!
//! ```no_run
//! # fn draw() {}
//! #[test]
//! fn every_glyph_is_inside_its_box() {
//!     if !lucarne_testing::ui::tiny_skia("every_glyph_is_inside_its_box") {
//!         return; // it ran in a child process that renders with tiny-skia, and passed
//!     }
//!     draw();
//! }
//! ```

use std::borrow::Cow;
use std::process::Command;

use iced_test::Simulator;
use iced_test::selector::Candidate;

/// True when this process renders with tiny-skia (`ICED_TEST_BACKEND=tiny-skia`); otherwise
/// runs the test named `test` again in a child process that does, fails unless it passed, and
/// returns false. Snapshots are then the same on every machine (no GPU, no driver, the time
/// zone UTC).
#[track_caller]
pub fn tiny_skia(test: &str) -> bool {
    if std::env::var("ICED_TEST_BACKEND").is_ok_and(|b| b == "tiny-skia") {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let output = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("ICED_TEST_BACKEND", "tiny-skia")
        // Times shown on screen (a table's "Updated" column) read the same on every machine.
        .env("TZ", "UTC")
        .output()
        .expect("run the test again");
    let log =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && log.contains("1 passed"), "{test} under tiny-skia failed:\n{log}");
    false
}

/// iced settings with Lucarne's bundled fonts (Noto Sans, Arabic, Hebrew) and Noto Sans as
/// the default font, as Lucarne apps run.
pub fn settings() -> iced::Settings {
    iced::Settings {
        fonts: lucarne_fonts::fonts().into_iter().map(Cow::Borrowed).collect(),
        default_font: iced::Font::with_name(lucarne_fonts::DEFAULT_FAMILY),
        ..iced::Settings::default()
    }
}

/// The state of type `T` that the custom widget with `id` reports to operations (e.g.
/// `lucarne_widgets::Placed`, the glyph boxes of a `bidi_text`); `None` when no widget with
/// that id reports one.
pub fn state<T, Message>(ui: &mut Simulator<'_, Message>, id: &str) -> Option<T>
where
    T: Clone + Send + 'static,
{
    let id = iced::widget::Id::from(id.to_owned());
    ui.find(|candidate: Candidate<'_>| match candidate {
        Candidate::Custom { id: Some(found), state, .. } if *found == id => {
            state.downcast_ref::<T>().cloned()
        }
        _ => None,
    })
    .ok()
}

/// Physical pixels per logical pixel in iced_test's snapshots.
pub const SNAPSHOT_SCALE: f32 = 2.0;

/// The pixels of a snapshot, read back from its PNG, addressed in logical pixels: where ink
/// is, for tests that check what was drawn and not only what was laid out.
#[derive(Debug, Clone)]
pub struct Pixels {
    width: usize,
    height: usize,
    /// Physical pixels per logical pixel.
    scale: f32,
    rgba: Vec<u8>,
}

impl Pixels {
    /// The pixels of `snapshot` (iced_test draws them at [`SNAPSHOT_SCALE`]).
    pub fn of(snapshot: &iced_test::simulator::Snapshot) -> Pixels {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert!(snapshot.matches_image(dir.path().join("shot")).expect("write the snapshot"));
        let path =
            std::fs::read_dir(dir.path()).expect("snapshot dir").next().expect("a file").expect("entry");
        Pixels::read(path.path(), SNAPSHOT_SCALE)
    }

    /// The pixels of the RGBA PNG at `path`, drawn at `scale` physical pixels per logical one.
    pub fn read(path: impl AsRef<std::path::Path>, scale: f32) -> Pixels {
        let path = path.as_ref();
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().expect("a PNG header");
        let mut rgba = vec![0; reader.output_buffer_size().expect("a PNG size")];
        let info = reader.next_frame(&mut rgba).expect("a PNG frame");
        assert_eq!(info.color_type, png::ColorType::Rgba, "{}: RGBA", path.display());
        rgba.truncate(info.buffer_size());
        let (width, height) = (info.width as usize, info.height as usize);
        Pixels { width, height, scale, rgba }
    }

    /// The colour at a logical point.
    #[expect(clippy::cast_possible_truncation, reason = "pixel coordinates: `as` saturates, NaN is 0")]
    pub fn rgb_at(&self, x: f32, y: f32) -> [u8; 3] {
        self.rgb((x * self.scale) as usize, (y * self.scale) as usize)
    }

    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2]]
    }

    /// The horizontal extent (logical pixels) of the pixels in rows `top..bottom` (logical)
    /// that `is_ink` picks, over the whole width of the screen.
    pub fn extent(&self, top: f32, bottom: f32, is_ink: impl Fn([u8; 3]) -> bool) -> Option<(f32, f32)> {
        self.extent_in(0.0, self.width as f32 / self.scale, top, bottom, is_ink)
    }

    /// The same, in the columns `left..right` only.
    pub fn extent_in(
        &self,
        left: f32,
        right: f32,
        top: f32,
        bottom: f32,
        is_ink: impl Fn([u8; 3]) -> bool,
    ) -> Option<(f32, f32)> {
        #[expect(clippy::cast_possible_truncation, reason = "pixel coordinates: `as` saturates, NaN is 0")]
        let physical = |v: f32| (v * self.scale).max(0.0) as usize;
        let rows = physical(top)..physical(bottom).min(self.height);
        let columns = physical(left)..physical(right).min(self.width);
        let mut extent: Option<(usize, usize)> = None;
        for y in rows {
            for x in columns.clone() {
                if is_ink(self.rgb(x, y)) {
                    extent = Some(extent.map_or((x, x), |(l, r)| (l.min(x), r.max(x))));
                }
            }
        }
        extent.map(|(l, r)| (l as f32 / self.scale, (r + 1) as f32 / self.scale))
    }
}

/// Dark text on the light theme's white.
pub fn dark(rgb: [u8; 3]) -> bool {
    rgb.iter().map(|&c| u32::from(c)).sum::<u32>() < 3 * 150
}
