//! `lucarne-web-pdf`: the order desk's PDF export in the browser, a WebAssembly module of its own.
//!
//! The page's module does not link `lucarne-pdf` (printpdf would more than double the first
//! load). When "Export PDF" or "Export orders" is first pressed, `start.js` imports this module
//! (`pdf/lucarne-web-pdf.js`) and calls its `exportScreen` with the desk's settings as JSON text:
//!
//! ```js
//! const { pdf, pages } = await module.exportScreen(JSON.stringify({
//!   screen: 'main', locale: 'ar', filter: "status = 'paid'", width: 1100, height: 700,
//! }));
//! ```
//!
//! It loads the screen's views from the page's server as `lucarne-desktop --export` does
//! (`lucarne_app::headless`), in the desk's language and window size, and prints them with the
//! same code: the same document the desktop writes for the same data.

/// The module's export, for the page.
#[cfg(target_arch = "wasm32")]
pub mod module {
    use std::time::Duration;

    use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
    use lucarne_app::export::{Screen, export as print, options};
    use lucarne_app::headless::{Load, load_until};
    use lucarne_app::i18n::Locale;
    use wasm_bindgen::JsCast as _;
    use wasm_bindgen::prelude::*;

    /// How long the views may take to load.
    const TIMEOUT: Duration = Duration::from_secs(30);

    /// Exports a screen: `settings` is JSON text `{screen, locale, filter, width, height}`
    /// (`screen` `main` or `orders`; `filter` as typed in the filter box, may be empty).
    /// Resolves to `{pdf: Uint8Array, pages: number}`; rejects with an `Error` saying why.
    #[wasm_bindgen(js_name = exportScreen)]
    pub async fn export_screen(settings: String) -> Result<JsValue, JsValue> {
        let fail = |why: String| JsValue::from(js_sys::Error::new(&why));
        let settings: serde_json::Value =
            serde_json::from_str(&settings).map_err(|e| fail(format!("bad settings: {e}")))?;
        let text = |key: &str| settings.get(key).and_then(|v| v.as_str()).unwrap_or_default();
        // A window size as the desk measured it, kept to what a screen can be (JSON numbers are
        // finite).
        #[allow(clippy::cast_possible_truncation, reason = "clamped to a few thousand first")]
        let size = |key: &str, default: f32| {
            let n = settings.get(key).and_then(serde_json::Value::as_f64).unwrap_or(f64::from(default));
            n.clamp(100.0, 10_000.0) as f32
        };
        let screen = Screen::from_name(text("screen")).ok_or_else(|| fail("unknown screen".into()))?;
        let locale = Locale::parse(text("locale")).unwrap_or_default();
        let filter = Some(text("filter").to_owned()).filter(|f| !f.trim().is_empty());
        let window = lucarne::iced::Size::new(size("width", 1100.0), size("height", 700.0));
        // A client id of its own: the page's desk keeps its id and its unanswered commands in
        // the tab's `sessionStorage`, which a second client under that id would take over.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "in [0, 2^52)")]
        let id = format!("pdf-{:013x}", (js_sys::Math::random() * 2f64.powi(52)) as u64);
        let config = lucarne::ClientConfig::servers([lucarne_app::default_server()]).client_id(id);
        let client = lucarne::Client::connect(config);
        let what = Load { screen, filter, window, timeout: TIMEOUT };
        let loaded = load_until(client, &what, sleep(TIMEOUT)).await;
        let mut desk = loaded.map_err(|e| fail(e.to_string()))?;
        let _ = lucarne_app::update(&mut desk, lucarne_app::Message::Locale(locale));
        let exported =
            print(&desk, screen, &options(&desk, screen), &mut |_| {}).map_err(|e| fail(e.to_string()))?;
        let result = Object::new();
        Reflect::set(&result, &"pdf".into(), &Uint8Array::from(exported.pdf.as_slice()))?;
        Reflect::set(&result, &"pages".into(), &JsValue::from(exported.pages))?;
        Ok(result.into())
    }

    /// Completes after `duration`, on the page's timer.
    async fn sleep(duration: Duration) {
        let ms = JsValue::from(duration.as_millis() as f64);
        let promise = Promise::new(&mut |resolve, _| {
            let set_timeout = Reflect::get(&js_sys::global(), &"setTimeout".into())
                .ok()
                .and_then(|f| f.dyn_into::<Function>().ok());
            if let Some(set_timeout) = set_timeout {
                let _ = set_timeout.call2(&JsValue::NULL, &resolve, &ms);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
}

/// Nothing runs when the module starts: the page calls `exportScreen`.
fn main() {}
