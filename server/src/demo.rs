//! The demo: an order desk. Commands `place_order`, `pay_order`, `ship_order`, `cancel_order`
//! on the `orders` stream (validated by handlers), a seed of a few hundred orders, and a live
//! generator that keeps every screen moving.

use std::sync::Arc;
use std::time::Duration;

use lucarne_protocol::CommandRef;
use serde_json::{Value, json};

use crate::commands::{Commands, Rejection};
use crate::engine::Engine;
use crate::log::NewEvent;

/// The demo's views (`assets/demo/views.sql`).
pub const VIEWS_SQL: &str = include_str!("../../assets/demo/views.sql");

/// The stream the demo's commands append to.
pub const STREAM: &str = "orders";

const CUSTOMERS: &[&str] = &[
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Sofía García",
    "Chidi Okafor",
    "نور الهدى",
    "مريم العلي",
    "عمر الخيام",
    "דנה כהן",
    "יוסף לוי",
    "אורית ברק",
];

const REGIONS: &[&str] = &["eu", "us", "mena", "apac"];

fn order_id(payload: &Value) -> Result<String, Rejection> {
    match payload.get("order_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 64 => Ok(id.to_owned()),
        _ => Err(Rejection::invalid("order_id must be a non-empty string of at most 64 bytes")),
    }
}

fn event(kind: &str, payload: Value) -> Vec<NewEvent> {
    vec![NewEvent { stream: STREAM.into(), kind: kind.into(), payload }]
}

/// The demo's commands, each checking its payload.
pub fn commands() -> Commands {
    let status_change = |kind: &'static str| {
        move |payload: &Value| -> Result<Vec<NewEvent>, Rejection> {
            Ok(event(kind, json!({ "order_id": order_id(payload)? })))
        }
    };
    Commands::new()
        .stream(STREAM)
        .handle("place_order", |payload: &Value| {
            let id = order_id(payload)?;
            let customer = payload.get("customer").and_then(Value::as_str).filter(|c| !c.trim().is_empty());
            let customer =
                customer.ok_or_else(|| Rejection::invalid("customer must be a non-empty string"))?;
            let total = payload.get("total").and_then(Value::as_f64).filter(|t| t.is_finite() && *t >= 0.0);
            total.ok_or_else(|| Rejection::invalid("total must be a number ≥ 0"))?;
            let region = payload.get("region").and_then(Value::as_str).unwrap_or("eu");
            Ok(event(
                "place_order",
                json!({ "order_id": id, "customer": customer, "total": payload["total"], "region": region }),
            ))
        })
        .handle("pay_order", status_change("pay_order"))
        .handle("ship_order", status_change("ship_order"))
        .handle("cancel_order", status_change("cancel_order"))
}

/// A small deterministic generator (xorshift), so a seed gives the same demo every time.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// Drives demo traffic through the engine as client `client_id`.
pub struct Generator {
    engine: Arc<Engine>,
    client_id: String,
    seq: u64,
    next_order: u64,
    open: Vec<(String, u8)>,
    dice: Dice,
}

impl Generator {
    /// A generator whose order ids start after `first_order`.
    pub fn new(engine: Arc<Engine>, client_id: String, first_order: u64, seed: u64) -> Self {
        Generator {
            engine,
            client_id,
            seq: 0,
            next_order: first_order,
            open: Vec::new(),
            dice: Dice(seed | 1),
        }
    }

    /// Sends one command: a new order, or the next step of an open one.
    pub async fn step(&mut self) -> Result<(), Rejection> {
        let roll = self.dice.next() % 10;
        let (name, payload) = if self.open.is_empty() || roll < 4 {
            self.next_order += 1;
            let id = format!("o-{}", self.next_order);
            self.open.push((id.clone(), 0));
            // Whole cents, so totals print as they would on a receipt.
            let total = (self.dice.next() % 50_000 + 500) as f64 / 100.0;
            let payload = json!({
                "order_id": id,
                "customer": self.dice.pick(CUSTOMERS),
                "total": total,
                "region": self.dice.pick(REGIONS),
            });
            ("place_order", payload)
        } else {
            let i = (self.dice.next() % self.open.len() as u64) as usize;
            let (id, stage) = self.open[i].clone();
            let name = match (stage, self.dice.next() % 8) {
                (0, 0) => "cancel_order",
                (0, _) => "pay_order",
                _ => "ship_order",
            };
            if name == "pay_order" {
                self.open[i].1 = 1;
            } else {
                self.open.swap_remove(i);
            }
            (name, json!({ "order_id": id }))
        };
        self.seq += 1;
        let key = CommandRef { client_id: self.client_id.clone(), seq: self.seq };
        self.engine.execute(key, name, &payload).await.map(|_| ())
    }

    /// Runs `count` steps as fast as the engine takes them.
    pub async fn burst(&mut self, count: usize) -> Result<(), Rejection> {
        for _ in 0..count {
            self.step().await?;
        }
        Ok(())
    }

    /// Runs forever at about `per_second` commands a second.
    pub async fn run(mut self, per_second: f64) {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(0.01)));
        loop {
            tick.tick().await;
            if let Err(e) = self.step().await {
                tracing::warn!("demo command failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_commands_check_their_payloads() {
        fn check(name: &str, payload: Value, ok: bool) {
            assert_eq!(commands().decide(name, &payload).is_ok(), ok, "{name} {payload}");
        }
        check("place_order", json!({"order_id":"o-1","customer":"Ada","total":42.5,"region":"eu"}), true);
        check("place_order", json!({"order_id":"o-1","customer":"Ada","total":-1}), false);
        check("place_order", json!({"order_id":"o-1","total":1}), false);
        check("place_order", json!({"customer":"Ada","total":1}), false);
        check("pay_order", json!({"order_id":"o-1"}), true);
        check("ship_order", json!({"order_id": 5}), false);
        check("refund", json!({}), false);
    }

    #[test]
    fn demo_views_parse() {
        let views = crate::sql::parse_views(VIEWS_SQL).expect("demo views are valid");
        let names: Vec<_> = views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["orders", "sales_by_region", "activity"]);
    }
}
