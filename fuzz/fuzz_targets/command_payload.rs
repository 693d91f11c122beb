//! The command path of the demo app: any command name and JSON payload a client may send is
//! decided (accepted as events or rejected with a code), and accepted events fold into the
//! demo's views, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lucarne_server::demo;
use lucarne_server::log::Event;
use lucarne_server::sql::parse_views;
use lucarne_server::view::recompute;
use serde_json::Value;

const NAMES: [&str; 5] = ["place_order", "pay_order", "ship_order", "cancel_order", "refund"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Ok(payload) = serde_json::from_str::<Value>(text) else { return };
    let name = NAMES[usize::from(selector) % NAMES.len()];
    let commands = demo::commands();
    let Ok(events) = commands.decide(name, &payload) else { return };
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
