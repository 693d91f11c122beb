//! Lucarne in a terminal: any view the token may see, live, on the same runtime as the iced
//! apps, drawn with ratatui (which writes only the cells that changed) inside synchronized-output
//! updates.
//!
//! The client is Elm-style and its logic has no I/O: [`app::App`] is the state,
//! [`app::Msg`] what happens, [`app::App::update`] gives [`app::Effect`]s, [`view::view`]
//! draws; [`run`] is the driver that connects them to a terminal and a [`runtime::Client`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), lucarne_tui::TuiError> {
//! use lucarne_tui::app::Options;
//! use lucarne_tui::runtime::{Client, ClientConfig};
//!
//! let client = Client::connect(ClientConfig::new("ws://127.0.0.1:7878/ws"));
//! let options = Options { view: Some("orders".into()), actions: vec!["p=pay_order:order_id".parse()?], ..Options::default() };
//! lucarne_tui::run(client, options).await
//! # }
//! ```

pub mod app;
pub mod bidi;
pub mod driver;
pub mod locale;
pub mod view;

pub use driver::{TuiError, run};
/// The runtime the client runs on.
pub use lucarne_runtime as runtime;
