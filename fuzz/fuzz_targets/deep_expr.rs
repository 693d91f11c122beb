//! Expressions built to be deep and wide — long operator chains, nested brackets, runs of `NOT`
//! and unary minus, long `IN` lists, `CASE` in `CASE` — as a live query's `where` / `order_by`
//! and inside a view's `WHERE` and `HAVING`: parsing and compiling never overflow the stack or
//! panic (the nesting budget refuses what is too deep, with a position inside the text), and a
//! query that compiles evaluates on rows without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lucarne_server::query::{LiveQuery, Window};
use lucarne_server::sql::parse_view;
use lucarne_protocol::Row;
use serde_json::json;

/// Turns the fuzzer's bytes into an expression text: each byte picks a piece, the next a count.
fn expression(data: &[u8]) -> String {
    let mut out = String::new();
    let mut bytes = data.iter().copied();
    while let (Some(piece), Some(count)) = (bytes.next(), bytes.next()) {
        let n = usize::from(count) * 4 + 1;
        match piece % 12 {
            0 => out.push_str(&vec!["total"; n].join(" + ")),
            1 => out.push_str(&"NOT ".repeat(n)),
            2 => out.push_str(&"(".repeat(n)),
            3 => out.push_str(&")".repeat(n)),
            4 => out.push_str(&"- ".repeat(n)),
            5 => {
                let items: Vec<String> = (0..n * 8).map(|i| format!("-{i}")).collect();
                out.push_str(&format!("total IN ({})", items.join(",")));
            }
            6 => out.push_str(&vec!["customer = 'a'"; n].join(" AND ")),
            7 => out.push_str(&"CASE WHEN total > 1 THEN ".repeat(n)),
            8 => out.push_str(&" END".repeat(n)),
            9 => out.push_str(&vec!["'x'"; n].join(" || ")),
            10 => out.push_str(&"COALESCE(".repeat(n)),
            _ => out.push_str(" > 0 OR "),
        }
        out.push(' ');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len() / 2);
    let (filter, order) = (expression(head), expression(rest));
    let columns: Vec<String> = ["order_id", "customer", "total"].iter().map(|c| c.to_string()).collect();
    for (filter, order_by) in [(Some(filter.as_str()), None), (None, Some(order.as_str()))] {
        match LiveQuery::parse(filter, order_by, Some(5), &columns) {
            Ok(query) => {
                let rows = (0..4)
                    .map(|i| Row {
                        key: json!(format!("o-{i}")),
                        row: json!({"order_id": format!("o-{i}"), "customer": "a", "total": i - 1})
                            .as_object()
                            .cloned()
                            .unwrap_or_default(),
                    })
                    .collect();
                let _ = query.terms();
                let _ = Window::new(query).reset(rows);
            }
            Err(e) => {
                let text = filter.or(order_by).unwrap_or("");
                assert!(e.line <= 1 + text.lines().count() as u64, "{e} points outside the text");
            }
        }
    }
    let sql = format!(
        "CREATE VIEW v AS SELECT order_id, COUNT(*) AS n FROM orders WHERE {filter} GROUP BY order_id HAVING {order}"
    );
    let _ = parse_view(&sql);
});
