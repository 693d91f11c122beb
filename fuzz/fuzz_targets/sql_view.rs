//! Any `CREATE VIEW` text a client developer may send: parsing never panics, an error points
//! inside the text, and a view that parses folds events without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lucarne_server::log::Event;
use lucarne_server::sql::{parse_view, parse_views};
use lucarne_server::view::recompute;
use serde_json::json;

fuzz_target!(|sql: &str| {
    let _ = parse_views(sql);
    match parse_view(sql) {
        Ok(view) => {
            let events: Vec<Event> = [
                json!({"order_id": "o-1", "customer": "Ada", "total": 12.5, "region": "eu"}),
                json!({"order_id": "o-1", "total": -3, "nested": {"a": [1, 2, {"b": null}]}}),
                json!({"order_id": 7, "customer": "مريم", "total": "12", "region": null}),
                json!({}),
                json!({"total": 1e308, "customer": ""}),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, payload)| Event {
                position: i as u64 + 1,
                stream: ["orders", "payments"][i % 2].to_owned(),
                kind: ["place_order", "pay_order", "ship_order"][i % 3].to_owned(),
                payload,
                ts: 1_700_000_000_000 + i as u64,
                origin: None,
            })
            .collect();
            let _ = recompute(&view, &events);
        }
        Err(error) => {
            let text = error.to_string();
            assert!(!text.is_empty(), "an error says what is wrong");
        }
    }
});
