//! End-to-end tests: real server processes, real sockets on loopback, real clients.

mod bad_input;
mod cli;
mod live_queries;
mod skeleton;
mod support;
mod views;
