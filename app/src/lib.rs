//! The Lucarne reference app: a live order desk, written only against the public API of
//! Lucarne (the `lucarne` facade and `lucarne-widgets`), as any user would write it.
//!
//! ```no_run
//! // The desktop binary is this, plus argument parsing:
//! lucarne_app::run(lucarne_app::Config::new("ws://127.0.0.1:7300/ws")).ok();
//! ```
//!
//! - A table of orders from the `orders` view, live; changed rows glow briefly.
//! - Row actions (pay, ship, cancel) are sent as commands and shown at once (optimistically);
//!   the optimistic state is dropped when the delta that carries the command's ack arrives, or
//!   rolled back with the reason when the command is rejected.
//! - A summary of the `sales_by_region` view with a small bar chart.
//! - A filter box: `status = 'paid' order by total desc` becomes the live query.
//! - A search box: a live search of the server's `order_search` index (typos allowed, as typed)
//!   narrows the table; facet values with their counts (status, region), picked to narrow further.
//! - A connection badge. Offline, the data stays and commands wait in the runtime's outbox.
//! - "Export PDF" (the main screen, one page) and "Export orders" (every row, paginated): vector
//!   PDFs drawn from the same widgets by `lucarne-pdf` ([`export`]); in the browser by a module
//!   the page fetches when first used (`lucarne-web-pdf`), and downloaded.
//! - English, Arabic and Hebrew ([`i18n`], Fluent), switched at runtime; in Arabic and Hebrew
//!   the whole screen (and its PDFs) mirrors right to left.

#[cfg(all(target_arch = "wasm32", not(any(feature = "web-tiny-skia", feature = "web-webgl"))))]
compile_error!(
    "the browser build needs a renderer: the feature `web-tiny-skia` or `web-webgl` (lucarne-web turns one on)"
);

mod chart;
mod clock;
mod desk;
#[cfg(any(not(target_arch = "wasm32"), feature = "web-pdf"))]
pub mod export;
#[cfg(any(not(target_arch = "wasm32"), feature = "web-pdf"))]
pub mod headless;
pub mod i18n;

pub use desk::{
    Action, Config, DEFAULT_VIEWPORT, Desk, Download, Message, Order, OrderAction, Region, SEARCH_INDEX,
    Screen, parse_filter, subscription, title, update, view,
};

/// The connection state the desk's badge shows.
pub use lucarne::widgets::Connection;

/// The server (or servers of one cluster, separated by commas) the desk talks to unless told
/// otherwise: natively `LUCARNE_SERVER`, else `ws://127.0.0.1:7300/ws`; in a browser page its
/// address's `?server=`, else `/ws` on the page's own host (`lucarne::ClientConfig::default_servers`).
pub fn default_server() -> String {
    lucarne::ClientConfig::default_servers().all_servers().collect::<Vec<_>>().join(",")
}

/// The app's default font family (Noto Sans, bundled; see `lucarne::ui::with_fonts`).
pub const DEFAULT_FONT: lucarne::iced::Font = lucarne::ui::DEFAULT_FONT;

/// Runs the desktop app until its window is closed.
pub fn run(config: Config) -> lucarne::iced::Result {
    // The actions a previous run left unanswered are shown again and awaited.
    let boot = move || {
        let mut desk = Desk::new(config.clone());
        let resumed = desk.resume();
        (desk, resumed)
    };
    // The bundled fonts: every face natively; in the browser all but bold.
    lucarne::ui::with_fonts(lucarne::iced::application(boot, update, view))
        .title(title)
        .subscription(subscription)
        .window_size(DEFAULT_VIEWPORT)
        .run()
}
