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

use std::sync::mpsc;
use std::time::{Duration, Instant};

use lucarne::iced::Size;
use lucarne::iced::futures::{StreamExt, executor, stream};
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
/// the main screen.
pub fn load(client: Client, what: &Load) -> Result<Desk, LoadError> {
    let mut desk = Desk::with_client(client.clone());
    let _ = update(&mut desk, Message::Resized(what.window));
    if let Some(filter) = &what.filter {
        let _ = update(&mut desk, Message::FilterChanged(filter.clone()));
        let _ = update(&mut desk, Message::ApplyFilter);
    }
    // The subscriptions are read on a thread of their own; this one waits with a deadline.
    let (events, received) = mpsc::channel();
    let orders = client.subscribe(desk.query().clone()).map(|e| (true, e));
    let regions = client.subscribe(Query::view("sales_by_region")).map(|e| (false, e));
    std::thread::spawn(move || {
        executor::block_on(async move {
            let mut both = stream::select(orders, regions);
            while let Some(event) = both.next().await {
                // The desk is loaded (or given up on) once nobody listens.
                if events.send(event).is_err() {
                    break;
                }
            }
        });
    });
    let deadline = Instant::now() + what.timeout;
    let (mut orders_loaded, mut regions_loaded) = (false, what.screen == Screen::Orders);
    let mut reason = String::from("no answer yet");
    while !(orders_loaded && regions_loaded) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((is_orders, event)) = received.recv_timeout(left) else {
            return Err(LoadError::Timeout { waited: what.timeout, reason });
        };
        match &event {
            ViewEvent::Failed { code, message } => {
                return Err(LoadError::Refused { code: code.to_string(), message: message.clone() });
            }
            ViewEvent::Status(Status::Offline { reason: why, .. }) => reason = why.to_string(),
            ViewEvent::Snapshot { .. } if is_orders => orders_loaded = true,
            ViewEvent::Snapshot { .. } => regions_loaded = true,
            _ => {}
        }
        let message = if is_orders { Message::Orders(event) } else { Message::Regions(event) };
        let _ = update(&mut desk, message);
    }
    Ok(desk)
}
