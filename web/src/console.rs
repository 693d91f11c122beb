//! The page's log: `tracing` events written to the browser's console, warnings and errors by
//! default, more with `?log=info|debug|trace` in the page's address (the connection's story:
//! connected, offline and why, resyncs). A few dozen lines rather than `tracing-subscriber`,
//! whose formatter would weigh more in the bundle than the whole feature is worth.

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Installs the console log at `level` (the most verbose level written).
pub(crate) fn install(level: Level) {
    let subscriber = Console { level, next_span: AtomicU64::new(1) };
    // Only fails if a subscriber is already set: then that one logs.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct Console {
    level: Level,
    next_span: AtomicU64,
}

impl Subscriber for Console {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= &self.level
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Spans are not written; each still needs an id of its own (never zero).
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut line = Line(format!("{} {}:", metadata.level(), metadata.target()));
        event.record(&mut line);
        let text = wasm_bindgen::JsValue::from_str(&line.0);
        match *metadata.level() {
            Level::ERROR => web_sys::console::error_1(&text),
            Level::WARN => web_sys::console::warn_1(&text),
            _ => web_sys::console::log_1(&text),
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// One event as `LEVEL target: message key=value …`.
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = if field.name() == "message" {
            write!(self.0, " {value:?}")
        } else {
            write!(self.0, " {}={value:?}", field.name())
        };
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = if field.name() == "message" {
            write!(self.0, " {value}")
        } else {
            write!(self.0, " {}={value}", field.name())
        };
    }
}
