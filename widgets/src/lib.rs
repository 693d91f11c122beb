//! iced widgets for live data, made for Lucarne apps and usable by any iced app.
//!
//! ```no_run
//! use lucarne_widgets::{Cell, Column, Connection, TableRows, connection_status, live_table};
//!
//! let mut rows = TableRows::new();
//! rows.upsert("o-1", vec![Cell::text("o-1"), Cell::number(42.0, "42.00")]);
//! let connection = Connection::Live;
//! let table: iced_core::Element<'_, (), iced_core::Theme, iced_widget::Renderer> =
//!     live_table(vec![Column::new("Order"), Column::new("Total").align_right()], &rows).into();
//! let badge: iced_core::Element<'_, (), iced_core::Theme, iced_widget::Renderer> =
//!     connection_status(&connection).into();
//! # let _ = (table, badge);
//! ```
//!
//! - [`live_table`]: a virtualized table over keyed [`TableRows`] (sort by header, selection and
//!   scroll that follow rows by key, a brief highlight of changed rows).
//! - [`connection_status`]: connecting / live / resyncing / offline with a retry countdown.
//!
//! Invariant: no networking. The widgets take plain data (keys, cells, a [`Connection`]); the
//! app maps the runtime's `ViewEvent`s and `Changes` onto them.

pub mod connection_status;
pub mod live_table;
pub mod table_rows;

pub use connection_status::{Connection, ConnectionStatus, connection_status};
pub use live_table::{Column, LiveTable, live_table};
pub use table_rows::{Action, Cell, RowRef, Sort, TableRows};
