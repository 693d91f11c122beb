//! # Lucarne
//!
//! Real-time client apps in Rust: the server folds an append-only event log into **views**
//! written in SQL and pushes every change to the clients subscribed to them; the client is an
//! Elm-style iced app that declares which views it shows.
//!
//! This crate is the one dependency of an app: it re-exports the client runtime and, behind
//! features, iced itself, the widgets, the bundled fonts and PDF export, with the glue every app
//! needs between them ([`ui`]):
//!
//! | feature | gives |
//! |---|---|
//! | `iced` (default) | [`watch`] and [`watch_search`]: a live view, a live search, as an iced `Subscription` |
//! | `widgets` | [`iced`], [`widgets`] (live table, connection badge, bidi text and input), [`fonts`], [`ui`] |
//! | `desktop` | `widgets` + a window (wgpu with the tiny-skia fallback, X11) |
//! | `web` / `webgl` | `widgets` + the browser (a 2D canvas, or WebGL2), the fonts' subsets |
//! | `pdf` | `widgets` + [`pdf`]: any element as a vector PDF (also on wasm32: a browser app links it in a module of its own, loaded when first used; see `web/src/pdf.rs`) |
//! | `fira-sans` | iced's Fira Sans, which iced's test harness turns on (one build of iced for an app and its tests) |
//!
//! `widgets` alone gives iced no window to draw in: an app turns on `desktop` natively and `web`
//! or `webgl` in its wasm build (features per target in its `Cargo.toml`; see the guide).
//!
//! ```no_run
//! use lucarne::{Client, ClientConfig, LiveView, Query, ViewEvent};
//!
//! #[derive(Debug, Clone)]
//! enum Message {
//!     Orders(ViewEvent),
//! }
//!
//! struct Desk {
//!     client: Client,
//!     orders: LiveView<serde_json::Map<String, serde_json::Value>>,
//! }
//!
//! impl Desk {
//!     fn new() -> Self {
//!         let client = Client::connect(ClientConfig::new(lucarne::DEFAULT_SERVER));
//!         Desk { client, orders: LiveView::new() }
//!     }
//!
//!     fn update(&mut self, message: Message) {
//!         let Message::Orders(event) = message;
//!         self.orders.apply(&event);
//!     }
//!
//!     fn subscription(&self) -> iced_futures::Subscription<Message> {
//!         lucarne::watch(&self.client, Query::view("orders")).map(Message::Orders)
//!     }
//! }
//! # let _ = Desk::new;
//! ```

pub use lucarne_protocol as protocol;
pub use lucarne_runtime::{
    Answered, Backoff, Change, Changes, Client, ClientConfig, ClientError, Command, CommandError,
    DEFAULT_SERVER, FacetCount, Found, LinkError, LiveView, Optimistic, Outcome, Query, SearchEvent,
    SearchHit, SearchQuery, SearchSort, Status, Subscription, ViewEvent, build_version, describe_version,
};

#[cfg(feature = "iced")]
pub use lucarne_runtime::{watch, watch_search};

/// iced itself, the one version the widgets and PDF export are built for.
#[cfg(feature = "widgets")]
pub use iced;
/// The bundled fonts (Noto Sans, Arabic, Hebrew) as bytes.
#[cfg(feature = "widgets")]
pub use lucarne_fonts as fonts;
/// iced widgets for live data and for text in any direction.
#[cfg(feature = "widgets")]
pub use lucarne_widgets as widgets;

/// Any iced element as a vector PDF.
#[cfg(feature = "pdf")]
pub use lucarne_pdf as pdf;

#[cfg(feature = "widgets")]
pub mod ui;

/// The guide (`docs/guide.md`): its Rust blocks are doc tests of this crate, run with the
/// features a desktop app has (`cargo xtask test` builds the workspace so).
#[cfg(all(doctest, feature = "desktop", feature = "pdf"))]
#[doc = include_str!("../docs/guide.md")]
pub struct Guide;
