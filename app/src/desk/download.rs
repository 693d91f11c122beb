//! Export PDF in the browser: the page (`start.js`'s `lucarneExport`) loads its PDF module the
//! first time (`lucarne-web-pdf`), has it print the screen with the desk's settings, and
//! downloads the file.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast as _, JsValue};

use super::Download;

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a page count and milliseconds from the page: finite, non-negative, small"
)]
/// Has the page export a screen (`settings`: JSON text, see `lucarne-web-pdf`); the file it
/// downloaded, or why not.
pub(super) async fn pdf(settings: String) -> Result<Download, String> {
    let why = |e: JsValue| {
        Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| format!("{e:?}"))
    };
    let export: Function =
        Reflect::get(&js_sys::global(), &"lucarneExport".into()).map_err(why)?.dyn_into().map_err(why)?;
    let promise: Promise =
        export.call1(&JsValue::NULL, &settings.into()).map_err(why)?.dyn_into().map_err(why)?;
    let done = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(why)?;
    let field = |name: &str| Reflect::get(&done, &name.into()).ok();
    let number = |name: &str| field(name).and_then(|v| v.as_f64()).filter(|n| n.is_finite() && *n >= 0.0);
    Ok(Download {
        file: field("file").and_then(|v| v.as_string()).ok_or("the page named no file")?,
        pages: number("pages").map_or(0, |n| n as usize),
        ms: number("ms").map_or(0, |n| n as u64),
    })
}
