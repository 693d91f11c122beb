//! `lucarne-web`: the reference app (`lucarne-app`) in the browser. This is only its entry: the
//! same `Desk` as the desktop, rendered by iced into a `<canvas>` (tiny-skia through a 2D context
//! by default; WebGL2 through wgpu with the feature `webgl`), talking to the server over the
//! browser's WebSocket. `?log=debug` in the page's address writes the runtime's log to the
//! console. The desk speaks the first of the browser's languages it knows (English, Arabic,
//! Hebrew; else English); `?locale=ar` chooses one.
//!
//! The page (`index.html`, served with the bundle by `lucarne serve`) connects to
//! `ws[s]://<its host>/ws`; `?server=ws://HOST:PORT/ws` chooses another server (or several of
//! one cluster, separated by commas: the page moves to the next when one is lost).
//!
//! Build with `cargo xtask web` (see `web/README.md`).

#[cfg(target_arch = "wasm32")]
mod console;

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    console::install(log_level(&search).unwrap_or(tracing::Level::WARN));
    let languages: Vec<String> = web_sys::window()
        .map(|w| w.navigator().languages().iter().filter_map(|l| l.as_string()).collect())
        .unwrap_or_default();
    let locale = language(&search, &languages, lucarne_app::i18n::Locale::parse).unwrap_or_default();
    let config = lucarne_app::Config::new(lucarne_app::default_server()).locale(locale);
    // On the web the event loop is handed to the browser: this returns at once.
    if let Err(error) = lucarne_app::run(config) {
        panic!("the order desk could not start: {error}");
    }
}

/// The log level `?log=error|warn|info|debug|trace` in the page's address asks for, if any.
#[cfg(any(target_arch = "wasm32", test))]
fn log_level(search: &str) -> Option<tracing::Level> {
    param(search, "log")?.parse().ok()
}

/// The desk's language: `?locale=` if `parse` knows it, else the first of the browser's
/// `languages` (`navigator.languages`, in the user's order) it knows; `None` (English) when
/// neither names one.
#[cfg(any(target_arch = "wasm32", test))]
fn language<L>(search: &str, languages: &[String], parse: impl Fn(&str) -> Option<L>) -> Option<L> {
    param(search, "locale").and_then(&parse).or_else(|| languages.iter().find_map(|tag| parse(tag)))
}

/// The raw value of `name` in a page address's query (`?a=1&b=2`).
#[cfg(any(target_arch = "wasm32", test))]
fn param<'a>(search: &'a str, name: &str) -> Option<&'a str> {
    search.trim_start_matches('?').split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("lucarne-web is the browser build of the order desk: run `cargo xtask web`");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_address_chooses_the_log_level() {
        fn check(search: &str, expected: Option<tracing::Level>) {
            assert_eq!(log_level(search), expected, "{search:?}");
        }
        check("", None);
        check("?log=debug", Some(tracing::Level::DEBUG));
        check("?server=ws://h/ws&log=info", Some(tracing::Level::INFO));
        check("?log=loud", None);
        check("?catalog=debug", None);
    }

    #[test]
    fn the_page_address_then_the_browser_choose_the_language() {
        // The desk's languages, as `Locale::parse` knows them (by their language subtag).
        let parse = |tag: &str| ["en", "ar", "he"].into_iter().find(|l| tag.starts_with(l));
        let check = |search: &str, languages: &[&str], expected: Option<&str>| {
            let languages: Vec<String> = languages.iter().map(|l| l.to_string()).collect();
            assert_eq!(language(search, &languages, parse), expected, "{search:?} {languages:?}");
        };
        check("", &[], None);
        check("", &["fr-FR", "he-IL", "en"], Some("he"));
        check("?locale=ar", &["he"], Some("ar"));
        check("?server=ws://h/ws&locale=he", &[], Some("he"));
        // A language the desk does not speak in the address: the browser's.
        check("?locale=fr", &["ar-EG"], Some("ar"));
        check("", &["fr", "de"], None);
    }
}
