//! End-to-end tests: real server processes, real sockets on loopback, real clients.

mod app_load;
mod bad_input;
mod cli;
mod desktop;
mod live_queries;
mod skeleton;
mod support;
mod views;
