//! What every app needs between its live views and the widgets, written once: the connection
//! badge from a subscription's status, a table's rows from a view's changes, and the bundled
//! fonts (Latin, Arabic, Hebrew) on an iced application.
//!
//! ```
//! use lucarne::protocol::{Position, Row};
//! use lucarne::ui::{connection, sync_table, track};
//! use lucarne::widgets::{Cell, Connection, TableRows};
//! use lucarne::{LiveView, Status, ViewEvent};
//! use serde_json::json;
//!
//! #[derive(serde::Deserialize)]
//! struct Message { id: String, text: String }
//!
//! let mut messages = LiveView::<Message>::new();
//! let mut table = TableRows::new();
//! let row = json!({ "id": "m-1", "text": "שלום" }).as_object().cloned().unwrap_or_default();
//! let event = ViewEvent::Snapshot { at: Position { epoch: 1, version: 3 }, rows: vec![Row { key: json!("m-1"), row }].into(), resynced: None };
//! let changes = messages.apply(&event);
//! sync_table(&mut table, &changes, messages.iter().map(|(k, _)| k), |key| {
//!     messages.get(key).map(|m| vec![Cell::text(m.id.clone()), Cell::text(m.text.clone())])
//! });
//! assert_eq!(table.get("m-1").map(|cells| cells[1].as_str().to_owned()).as_deref(), Some("שלום"));
//! assert_eq!(connection(&Status::Live), Connection::Live);
//! let mut badge = Connection::Connecting;
//! track(&mut badge, &event);
//! assert_eq!(badge, Connection::Live, "a snapshot came: live");
//! ```

use crate::iced;
use crate::iced::time::Instant;
use crate::protocol::Key;
use crate::widgets::{Cell, Connection, TableRows};
use crate::{Changes, Status, ViewEvent};

/// The badge of a subscription in this status (offline: the countdown to the next attempt and
/// the reason).
pub fn connection(status: &Status) -> Connection {
    match status {
        Status::Connecting => Connection::Connecting,
        Status::Live => Connection::Live,
        Status::Resyncing(_) => Connection::Resyncing,
        Status::Offline { retry_in, reason } => {
            Connection::Offline { retry_at: Some(Instant::now() + *retry_in), reason: reason.to_string() }
        }
    }
}

/// Keeps a badge's `connection` in step with a subscription's events: a status is shown as
/// [`connection`] maps it; a snapshot, a resume or a refusal (the server answered: the socket is
/// up) make it live; a delta leaves it.
pub fn track(connection: &mut Connection, event: &ViewEvent) {
    match event {
        ViewEvent::Status(status) => *connection = self::connection(status),
        ViewEvent::Snapshot { .. } | ViewEvent::Resumed { .. } | ViewEvent::Failed { .. } => {
            *connection = Connection::Live;
        }
        ViewEvent::Delta(_) => {}
    }
}

/// The id of a view's row in a [`TableRows`]: a string key as it is, any other key as its JSON
/// text.
pub fn row_id(key: &Key) -> String {
    key.as_str().map_or_else(|| key.to_string(), str::to_owned)
}

/// Brings `table` up to date with what applying one event changed (`changes`, from
/// `LiveView::apply` or `Optimistic::apply`). A snapshot rebuilds every row, from `keys` (every
/// key of the view as shown); otherwise the rows it changed are rebuilt and glow briefly, and
/// the rows it removed (or that no longer decode) leave. `cells` draws the row with a key, `None`
/// when it is not shown.
pub fn sync_table<'k>(
    table: &mut TableRows,
    changes: &Changes,
    keys: impl IntoIterator<Item = &'k Key>,
    mut cells: impl FnMut(&Key) -> Option<Vec<Cell>>,
) {
    if changes.out_of_order {
        return;
    }
    if changes.reset {
        table.clear();
        for key in keys {
            if let Some(row) = cells(key) {
                table.upsert_quiet(&row_id(key), row);
            }
        }
        return;
    }
    let gone = changes.removed.iter().chain(changes.invalid.iter().map(|(key, _)| key));
    for key in changes.upserted.iter().chain(gone) {
        match cells(key) {
            Some(row) => table.upsert(&row_id(key), row),
            None => {
                table.remove(&row_id(key));
            }
        }
    }
}

/// `app` with the bundled fonts loaded (Noto Sans with its Arabic and Hebrew companions; in the
/// browser build their subsets, bold left out) and Noto Sans as its default font, so that the
/// screen, the tests and the PDF shape text with the same faces.
pub fn with_fonts<P: iced::Program>(app: iced::Application<P>) -> iced::Application<P> {
    lucarne_fonts::screen().iter().fold(app, |app, font| app.font(*font)).default_font(DEFAULT_FONT)
}

/// The default font of a Lucarne app (Noto Sans, bundled).
pub const DEFAULT_FONT: iced::Font = iced::Font::with_name(lucarne_fonts::DEFAULT_FAMILY);
