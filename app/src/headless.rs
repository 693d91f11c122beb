//! A screen of the desk exported without a window (`lucarne-desktop --export main|orders`): the
//! desk's own state fed from a running server as its subscriptions would feed it, then printed
//! by [`export`](crate::export::export).
//!
//! ```no_run
//! use std::time::Duration;
//! use lucarne_app::export::Screen;
//! use lucarne_app::headless::{Load, load};
//!
//! let client = lucarne::Client::connect(lucarne::ClientConfig::new("ws://127.0.0.1:7300/ws"));
//! let desk = load(client, &Load { screen: Screen::Orders, filter: None, timeout: Duration::from_secs(30), ..Load::default() })?;
//! # Ok::<(), lucarne_app::headless::LoadError>(())
//! ```

use std::time::Duration;

use lucarne::iced::Size;
use lucarne::iced::futures::{FutureExt as _, StreamExt as _, select, stream};
#[cfg(not(target_arch = "wasm32"))]
use lucarne::iced::futures::{channel::oneshot, executor};
use lucarne::{Client, Query, Status, ViewEvent};

use crate::desk::{Desk, Message, Screen, update};

/// What to load.
#[derive(Debug, Clone)]
pub struct Load {
    /// The screen (the main screen needs sales by region too).
    pub screen: Screen,
    /// The table's live query, as typed in the filter box: `CONDITION [order by COLUMNS]`.
    pub filter: Option<String>,
    /// The window size the main screen is laid out at, in logical pixels.
    pub window: Size,
    /// How long to wait for the views.
    pub timeout: Duration,
}

impl Default for Load {
    fn default() -> Self {
        Load {
            screen: Screen::Orders,
            filter: None,
            window: Size::new(1100.0, 700.0),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why a screen could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The views did not come in time (the last reason the connection gave).
    #[error("the views did not load within {}s: {reason}", .waited.as_secs_f64())]
    Timeout {
        /// How long it waited.
        waited: Duration,
        /// Why, as the connection said.
        reason: String,
    },
    /// The client's subscriptions ended before the views came (the last reason the connection
    /// gave).
    #[error("the connection ended before the views loaded: {reason}")]
    Ended {
        /// Why, as the connection said.
        reason: String,
    },
    /// The server refused the query.
    #[error("the server refused the query ({code}): {message}")]
    Refused {
        /// Its code.
        code: String,
        /// Its message.
        message: String,
    },
}

/// Loads the desk for `what` from the server `client` talks to: its rows, and sales by region for
/// the main screen. Blocks this thread (natively; in the browser see [`load_until`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn load(client: Client, what: &Load) -> Result<Desk, LoadError> {
    let (ring, deadline) = oneshot::channel::<()>();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let timeout = what.timeout;
    // The deadline rings from a thread of its own, which ends as soon as the load does.
    std::thread::spawn(move || {
        if finished.recv_timeout(timeout) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            let _ = ring.send(());
        }
    });
    let loaded = executor::block_on(load_until(client, what, deadline.map(|_| ())));
    drop(done);
    loaded
}

/// Loads the desk for `what` as [`load`] does, giving up when `deadline` completes: the same
/// steps on any executor (the browser's PDF module awaits it with a timer of the page).
pub async fn load_until(
    client: Client,
    what: &Load,
    deadline: impl Future<Output = ()>,
) -> Result<Desk, LoadError> {
    let mut desk = Desk::with_client(client.clone());
    let _ = update(&mut desk, Message::Resized(what.window));
    if let Some(filter) = &what.filter {
        let _ = update(&mut desk, Message::FilterChanged(filter.clone()));
        let _ = update(&mut desk, Message::ApplyFilter);
    }
    let orders = client.subscribe(desk.query().clone()).map(|e| (true, e));
    let regions = client.subscribe(Query::view("sales_by_region")).map(|e| (false, e));
    let mut both = stream::select(orders, regions);
    let mut progress =
        Progress { orders: false, regions: what.screen == Screen::Orders, reason: "no answer yet".into() };
    let mut deadline = std::pin::pin!(deadline.fuse());
    loop {
        let next = select! {
            next = both.next() => Some(next),
            () = deadline => None,
        };
        let (is_orders, event) = match next {
            Some(Some(event)) => event,
            Some(None) => return Err(LoadError::Ended { reason: progress.reason }),
            None => return Err(LoadError::Timeout { waited: what.timeout, reason: progress.reason }),
        };
        if progress.apply(&mut desk, is_orders, event)? {
            return Ok(desk);
        }
    }
}

/// Which views have their snapshot, and the connection's last word.
struct Progress {
    orders: bool,
    regions: bool,
    reason: String,
}

impl Progress {
    /// Feeds one event of a view (`is_orders`, else sales by region) to the desk, as its
    /// subscription would; whether both views are loaded now.
    fn apply(&mut self, desk: &mut Desk, is_orders: bool, event: ViewEvent) -> Result<bool, LoadError> {
        match &event {
            ViewEvent::Failed { code, message } => {
                return Err(LoadError::Refused { code: code.to_string(), message: message.clone() });
            }
            ViewEvent::Status(Status::Offline { reason, .. }) => self.reason = reason.to_string(),
            ViewEvent::Snapshot { .. } if is_orders => self.orders = true,
            ViewEvent::Snapshot { .. } => self.regions = true,
            _ => {}
        }
        let message = if is_orders { Message::Orders(event) } else { Message::Regions(event) };
        let _ = update(desk, message);
        Ok(self.orders && self.regions)
    }
}
