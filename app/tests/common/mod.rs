//! What the desk's headless UI tests share: the tiny-skia re-run and the app's fonts.

use std::borrow::Cow;
use std::process::Command;

use iced::Settings;

/// True when this process renders with tiny-skia; otherwise runs `test` in a child that does,
/// checks it passed, and returns false.
pub(crate) fn tiny_skia(test: &str) -> bool {
    if std::env::var("ICED_TEST_BACKEND").is_ok_and(|b| b == "tiny-skia") {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary");
    let output = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("ICED_TEST_BACKEND", "tiny-skia")
        .output()
        .expect("run the test again");
    let log =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && log.contains("1 passed"), "{test} under tiny-skia failed:\n{log}");
    false
}

/// iced settings with the app's bundled fonts, as the desktop app runs.
pub(crate) fn settings() -> Settings {
    Settings {
        fonts: lucarne_app::fonts().into_iter().map(Cow::Borrowed).collect(),
        default_font: lucarne_app::DEFAULT_FONT,
        ..Settings::default()
    }
}
