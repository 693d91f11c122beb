//! Upcasters: old events read in the current shape.
//!
//! An event's schema version is its payload's `"$v"` field (1 when absent). An upcaster
//! registered for `(stream, type, v)` turns a version-`v` payload into version `v + 1`; at read
//! time (when folding, live or while building a view from the log) each event is lifted through
//! every upcaster from its version up, so views are written against the newest shape while the
//! log keeps what was appended.
//!
//! ```
//! use lucarne_server::upcast::Upcasters;
//! use serde_json::json;
//!
//! // Version 1 of `place_order` had `amount_cents`; version 2 has `total`.
//! let upcasters = Upcasters::new().register("orders", "place_order", 1, |mut p| {
//!     let cents = p["amount_cents"].as_i64().unwrap_or(0);
//!     p["total"] = json!(cents as f64 / 100.0);
//!     p
//! });
//! let old = json!({"order_id": "o-1", "amount_cents": 4250});
//! let now = upcasters.lift("orders", "place_order", old);
//! assert_eq!(now["total"], json!(42.5));
//! assert_eq!(now["$v"], json!(2));
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::log::Event;

/// The payload field that carries an event's schema version.
pub const VERSION_FIELD: &str = "$v";

type Upcast = Arc<dyn Fn(Value) -> Value + Send + Sync>;

/// The upcasters of a server.
#[derive(Clone, Default)]
pub struct Upcasters {
    map: HashMap<(String, String, u64), Upcast>,
}

impl std::fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl Upcasters {
    /// None.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns version-`from` payloads of `(stream, kind)` into version `from + 1`.
    pub fn register(
        mut self,
        stream: &str,
        kind: &str,
        from: u64,
        upcast: impl Fn(Value) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.map.insert((stream.to_owned(), kind.to_owned(), from), Arc::new(upcast));
        self
    }

    /// True when none is registered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Lifts a payload through every upcaster from its version up.
    pub fn lift(&self, stream: &str, kind: &str, mut payload: Value) -> Value {
        loop {
            let version = payload.get(VERSION_FIELD).and_then(Value::as_u64).unwrap_or(1);
            let Some(upcast) = self.map.get(&(stream.to_owned(), kind.to_owned(), version)) else {
                return payload;
            };
            payload = upcast(payload);
            if let Value::Object(map) = &mut payload {
                map.insert(VERSION_FIELD.to_owned(), Value::from(version + 1));
            } else {
                return payload;
            }
        }
    }

    /// The event as views see it.
    pub fn apply<'a>(&self, event: &'a Event) -> Cow<'a, Event> {
        if self.map.is_empty() {
            return Cow::Borrowed(event);
        }
        let lifted = self.lift(&event.stream, &event.kind, event.payload.clone());
        if lifted == event.payload {
            Cow::Borrowed(event)
        } else {
            Cow::Owned(Event { payload: lifted, ..event.clone() })
        }
    }
}
