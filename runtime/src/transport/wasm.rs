//! Browser transport: the page's `WebSocket` through web-sys (already linked by iced's winit
//! and wgpu, so it adds no crate), wasm-bindgen-futures to spawn, one `setTimeout` per sleep,
//! web-time for the clock (`std::time::Instant` panics on `wasm32-unknown-unknown`).
//!
//! Sleeps are the page's own timers, not `wasmtimer`'s shared timer: wasmtimer 0.4.5 clears and
//! re-arms its one `setTimeout` whenever a sleep starts or ends, and each cleared callback (a
//! `Closure::once_into_js` never called) holds a reference to the timer until the page's garbage
//! collector frees it; when more than 20 are held at once it stops re-arming, and a page that
//! then only waits (offline, between reconnects) never wakes again. Seen in the browser test on
//! a loaded machine (fewer collections): the page stayed offline after the server came back.
//!
//! The tab's `sessionStorage` keeps the client id, the last sequence number and the unanswered
//! commands, so a reload resends them with their original `(client_id, seq)` and the server
//! applies each once. `sessionStorage` rather than `localStorage`: it survives a reload but is
//! private to the tab, so two tabs never share a client id (they would collide on sequence
//! numbers).

use std::future::Future;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

pub(crate) use web_time::Instant;

use super::{LinkError, Saved};
use crate::ClientConfig;

enum Incoming {
    Open,
    Text(String),
    Closed(LinkError),
}

/// An open WebSocket. Dropping it closes the socket and detaches its handlers.
pub(crate) struct Link {
    socket: WebSocket,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// Opens a WebSocket.
pub(crate) async fn connect(url: &str) -> Result<Link, LinkError> {
    let socket = WebSocket::new(url)
        .map_err(|e| LinkError::Connect { url: url.to_owned(), detail: format!("{e:?}") })?;
    let (tx, incoming) = mpsc::unbounded_channel();
    let open = tx.clone();
    let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        let _ = open.send(Incoming::Open);
    });
    let message = tx.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        // The server speaks JSON text frames; anything else is ignored.
        if let Some(text) = event.data().as_string() {
            let _ = message.send(Incoming::Text(text));
        }
    });
    // The browser reports a failed or lost socket as `error` then `close`: `close` alone says
    // everything there is to say (its code and reason).
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        let reason = match (event.code(), event.reason()) {
            (1006, _) => LinkError::Lost("connection lost".to_owned()),
            (code, reason) => LinkError::ClosedByServer { code: Some(code), reason },
        };
        let _ = tx.send(Incoming::Closed(reason));
    });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut link = Link { socket, incoming, _on_open: on_open, _on_message: on_message, _on_close: on_close };
    match link.incoming.recv().await {
        Some(Incoming::Open) => Ok(link),
        Some(Incoming::Closed(reason)) => Err(reason),
        Some(Incoming::Text(_)) | None => Err(LinkError::Closed),
    }
}

impl Link {
    /// Sends one text frame.
    pub(crate) async fn send(&mut self, text: String) -> Result<(), LinkError> {
        // A closing or closed browser socket drops frames silently: say so instead.
        if self.socket.ready_state() != WebSocket::OPEN {
            return Err(LinkError::Closed);
        }
        self.socket.send_with_str(&text).map_err(|e| LinkError::Send(format!("{e:?}")))
    }

    /// The next text frame; `None` when the link is closed.
    pub(crate) async fn recv(&mut self) -> Option<Result<String, LinkError>> {
        loop {
            match self.incoming.recv().await? {
                Incoming::Text(text) => return Some(Ok(text)),
                Incoming::Closed(reason) => return Some(Err(reason)),
                Incoming::Open => continue,
            }
        }
    }

    /// Closes the link politely.
    pub(crate) async fn close(self) {}
}

impl Drop for Link {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}

/// Waits `d`: a `setTimeout` of the page, cleared (and its callback freed) if the sleep is
/// dropped first.
pub(crate) async fn sleep(d: Duration) {
    let Some(window) = web_sys::window() else {
        // Not a page (a worker): the transport only runs in pages, so this never returns.
        tracing::error!("no window to set a timer on");
        return std::future::pending().await;
    };
    let (done, fired) = tokio::sync::oneshot::channel::<()>();
    let mut done = Some(done);
    let callback = Closure::<dyn FnMut()>::new(move || {
        if let Some(done) = done.take() {
            let _ = done.send(());
        }
    });
    let ms = i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
    let handle =
        window.set_timeout_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), ms);
    let _armed = Armed { window, handle: handle.ok(), _callback: callback };
    let _ = fired.await;
}

/// A `setTimeout` that is cleared when dropped, before its callback is freed.
struct Armed {
    window: web_sys::Window,
    handle: Option<i32>,
    _callback: Closure<dyn FnMut()>,
}

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(handle) = self.handle {
            self.window.clear_timeout_with_handle(handle);
        }
    }
}

/// Runs a task on the page's event loop.
pub(crate) fn spawn(task: impl Future<Output = ()> + 'static) {
    seed();
    wasm_bindgen_futures::spawn_local(task);
}

/// fastrand seeds itself from the clock natively; the browser build has no seed, so every tab
/// would draw the same reconnect jitter. Seed it from the page's random numbers.
fn seed() {
    static SEED: Once = Once::new();
    SEED.call_once(|| fastrand::seed(random_u64()));
}

fn random_u64() -> u64 {
    #[expect(clippy::cast_possible_truncation, reason = "a random number below 2³²")]
    let half = || (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
    (half() << 32) ^ half()
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn outbox_key(client_id: &str) -> String {
    format!("lucarne.outbox.{client_id}")
}

/// The servers an app in a page talks to unless told otherwise: the page address's `?server=`
/// (one URL, or several of one cluster separated by commas) when it has one, else `/ws` on the
/// page's own host (`wss` for an `https` page); `None` outside a page.
pub(crate) fn default_servers() -> Option<String> {
    let location = web_sys::window()?.location();
    let search = location.search().unwrap_or_default();
    let given = search.trim_start_matches('?').split('&').find_map(|pair| pair.strip_prefix("server="));
    if let Some(given) = given.and_then(|g| js_sys::decode_uri_component(g).ok()) {
        return Some(String::from(given));
    }
    let scheme = if location.protocol().is_ok_and(|p| p == "https:") { "wss" } else { "ws" };
    location.host().ok().filter(|h| !h.is_empty()).map(|host| format!("{scheme}://{host}/ws"))
}

/// In a browser the tab's `sessionStorage` keeps the unanswered commands: no file.
pub(crate) fn app_outbox(_app: &str, _server: &str) -> Option<std::path::PathBuf> {
    None
}

/// The tab's client id: the one kept in `sessionStorage`, or a new random one (then kept). The
/// n-th config made in a page gets the n-th id of the tab, so a page with two clients (in the
/// same order after a reload) never gives both the same id.
pub(crate) fn fresh_client_id() -> String {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    let key = format!("lucarne.client_id.{}", MADE.fetch_add(1, Ordering::Relaxed));
    let storage = storage();
    if let Some(id) = storage.as_ref().and_then(|s| s.get_item(&key).ok().flatten()) {
        return id;
    }
    let id = format!("c-{:016x}", random_u64());
    if let Some(storage) = storage {
        let _ = storage.set_item(&key, &id);
    }
    id
}

/// What a previous page of this tab left for this client id.
pub(crate) fn saved(config: &mut ClientConfig) -> Saved {
    let text = storage().and_then(|s| s.get_item(&outbox_key(&config.client_id)).ok().flatten());
    // The id is the key: the kept one is the config's.
    text.and_then(|t| Saved::decode(&t)).map(|s| Saved { client_id: None, ..s }).unwrap_or_default()
}

/// Keeps the last sequence number and the unanswered commands in `sessionStorage`.
pub(crate) fn store(
    config: &ClientConfig,
    last_seq: u64,
    commands: &mut dyn Iterator<Item = (u64, &str, &Value)>,
) {
    let Some(storage) = storage() else { return };
    let text = Saved::encode(&config.client_id, last_seq, commands);
    if let Err(e) = storage.set_item(&outbox_key(&config.client_id), &text) {
        tracing::warn!("cannot keep the outbox in sessionStorage: {e:?}");
    }
}
