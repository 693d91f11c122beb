//! iced widgets for live data and for text in any direction, made for Lucarne apps and usable
//! by any iced app.
//!
//! ```no_run
//! use lucarne_widgets::{Cell, Column, Connection, Direction, TableRows, bidi_text, connection_status, live_table};
//!
//! let mut rows = TableRows::new();
//! rows.upsert("o-1", vec![Cell::text("o-1"), Cell::number(42.0, "42.00")]);
//! let connection = Connection::Live;
//! let table: iced_core::Element<'_, (), iced_core::Theme, iced_widget::Renderer> =
//!     live_table(vec![Column::new("Order"), Column::new("Total").align_right()], &rows).into();
//! let badge: iced_core::Element<'_, (), iced_core::Theme, iced_widget::Renderer> =
//!     connection_status(&connection).into();
//! let title: iced_core::Element<'_, (), iced_core::Theme, iced_widget::Renderer> =
//!     bidi_text("طلب رقم ٤٢").direction(Direction::Rtl).into();
//! # let _ = (table, badge, title);
//! ```
//!
//! - [`live_table`](mod@live_table): a virtualized table over keyed [`TableRows`] (sort by header, selection and
//!   scroll that follow rows by key, a brief highlight of changed rows, texts cut with an
//!   ellipsis to their cell).
//! - [`connection_status`](mod@connection_status): connecting / live / resyncing / offline with a retry countdown.
//! - [`Direction`], [`Align`] and [`dir_row`]: a layout direction set once from the locale, start
//!   and end instead of left and right, rows that mirror in right-to-left locales.
//! - [`bidi_text`](mod@bidi_text): text aligned to its paragraph's start by default, whose alignment keeps
//!   right-to-left and mixed text inside its box (single-line and wrapped).
//! - [`print_table`](mod@print_table): a table for paper — every row, columns sized to their
//!   content, long values wrapped (never cut), a header row a PDF repeats on every page.
//! - [`bidi_input`](mod@bidi_input): a one-line text input with a bidi-correct caret, visual arrow keys and
//!   selection.
//!
//! Invariant: no networking. The widgets take plain data (keys, cells, a [`Connection`],
//! strings); the app maps the runtime's `ViewEvent`s and `Changes` onto them. The bidi widgets
//! read the shaped lines of `iced_graphics`' paragraph ([`shaping::Shaped`]), so they work with
//! every iced renderer (wgpu, tiny-skia, and Lucarne's PDF recorder).

pub mod bidi_input;
pub mod bidi_text;
pub mod connection_status;
pub mod direction;
mod line;
pub mod live_table;
pub mod print_table;
pub mod reuse;
pub mod shaping;
pub mod table_rows;

pub use bidi_input::{BidiInput, InputReport, bidi_input};
pub use bidi_text::{BidiText, Placed, bidi_text};
pub use connection_status::{Connection, ConnectionStatus, connection_status};
pub use direction::{Align, Direction, dir_row};
pub use live_table::{Column, LiveTable, live_table};
pub use print_table::{PrintColumn, PrintTable, print_table};
pub use reuse::reuse_paragraphs;
pub use table_rows::{Action, Cell, RowRef, Sort, TableRows, natural};
