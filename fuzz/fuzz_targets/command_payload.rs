//! The command path of the demo app: any command name and JSON payload a client may send is
//! decided (accepted as events or rejected with a code) against an order in any status, and
//! accepted events fold into the demo's views, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lucarne_server::commands::{Rejection, ViewState};
use lucarne_demo as demo;
use lucarne_server::log::Event;
use lucarne_server::sql::parse_views;
use lucarne_server::view::recompute;
use serde_json::Value;

const NAMES: [&str; 5] = ["place_order", "pay_order", "ship_order", "cancel_order", "refund"];
const STATUSES: [Option<&str>; 5] = [None, Some("placed"), Some("paid"), Some("shipped"), Some("cancelled")];

/// Every order is in one status (or there is none).
struct Orders(Option<&'static str>);

impl ViewState for Orders {
    fn row(&self, _: &str, key: &Value) -> Result<Option<lucarne_protocol::Columns>, Rejection> {
        Ok(self.0.map(|status| {
            let mut row = lucarne_protocol::Columns::new();
            row.insert("order_id".into(), key.clone());
            row.insert("status".into(), Value::from(status));
            row
        }))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Ok(payload) = serde_json::from_str::<Value>(text) else { return };
    let name = NAMES[usize::from(selector) % NAMES.len()];
    let commands = demo::commands();
    let state = Orders(STATUSES[usize::from(selector / 5) % STATUSES.len()]);
    let Ok(events) = commands.decide_in(name, &payload, &state) else { return };
    let views = parse_views(demo::VIEWS_SQL).expect("the demo's views parse");
    let events: Vec<Event> = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| Event {
            position: i as u64 + 1,
            stream: e.stream,
            kind: e.kind,
            payload: e.payload,
            ts: 1_700_000_000_000,
            origin: None,
        })
        .collect();
    for view in &views {
        let _ = recompute(view, &events);
    }
});
