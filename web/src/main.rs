//! `lucarne-web`: the reference app (`lucarne-app`) in the browser. This is only its entry: the
//! same `Desk` as the desktop, rendered by iced with wgpu on WebGL2 into a `<canvas>`, talking to
//! the server over the browser's WebSocket.
//!
//! The page (`index.html`, served with the bundle by `lucarne serve`) connects to
//! `ws[s]://<its host>/ws`; `?server=ws://HOST:PORT/ws` chooses another server.
//!
//! Build with `cargo xtask web` (see `web/README.md`).

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    let config = lucarne_app::Config::new(server_url());
    // On the web the event loop is handed to the browser: this returns at once.
    if let Err(error) = lucarne_app::run(config) {
        panic!("the order desk could not start: {error}");
    }
}

/// Where the page looks when it has no location (never in a browser tab).
#[cfg(target_arch = "wasm32")]
const FALLBACK: &str = "ws://127.0.0.1:7300/ws";

/// The server's WebSocket URL: `?server=` if given, else `/ws` on the page's own host.
#[cfg(target_arch = "wasm32")]
fn server_url() -> String {
    let Some(location) = web_sys::window().map(|w| w.location()) else {
        return FALLBACK.to_owned();
    };
    let search = location.search().unwrap_or_default();
    let given = search.trim_start_matches('?').split('&').find_map(|pair| pair.strip_prefix("server="));
    if let Some(given) = given.and_then(|g| js_sys::decode_uri_component(g).ok()) {
        return String::from(given);
    }
    let scheme = if location.protocol().is_ok_and(|p| p == "https:") { "wss" } else { "ws" };
    match location.host() {
        Ok(host) if !host.is_empty() => format!("{scheme}://{host}/ws"),
        _ => FALLBACK.to_owned(),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("lucarne-web is the browser build of the order desk: run `cargo xtask web`");
}
