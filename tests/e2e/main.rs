//! End-to-end tests: real server processes, real sockets on loopback, real clients.

mod app_load;
mod bad_input;
mod browser;
mod browser_export;
mod cli;
mod cluster;
mod desktop;
mod examples;
mod faults;
mod guide;
mod hostile;
mod install;
mod live_queries;
mod live_search;
mod pdf;
mod protocol_doc;
mod push;
mod search;
mod security;
mod skeleton;
mod support;
mod tui;
mod views;
mod webdriver;
