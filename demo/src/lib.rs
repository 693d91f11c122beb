//! `lucarne-demo`: the demo of `lucarne serve --demo`, an order desk, written against the
//! server's public API as any server-side app would be. Commands `place_order`, `pay_order`, `ship_order`, `cancel_order`
//! on the `orders` stream, each checking its payload and the order's lifecycle against the
//! `orders` view (place a new order; pay only a placed one, ship only a paid one, cancel only a
//! placed or paid one; an unknown order is `not_found`), a seed of a few hundred orders, and a
//! live generator that keeps every screen moving.

use std::sync::Arc;
use std::time::Duration;

use lucarne_protocol::CommandRef;
use serde_json::{Value, json};

use lucarne_server::commands::{Commands, Rejection, ViewState};
use lucarne_server::engine::Engine;
use lucarne_server::log::NewEvent;

/// The demo's views (`demo/views.sql`).
pub const VIEWS_SQL: &str = include_str!("../views.sql");

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

/// An order's status in the `orders` view, or `not_found`.
fn status(state: &dyn ViewState, id: &str) -> Result<String, Rejection> {
    match state.row("orders", &json!(id))? {
        Some(row) => Ok(row.get("status").and_then(Value::as_str).unwrap_or("").to_owned()),
        None => Err(Rejection {
            code: lucarne_protocol::ErrorCode::NotFound,
            message: format!("there is no order {id}"),
        }),
    }
}

/// A lifecycle step: `kind` (doing `verb`, giving `done`) only from the statuses in `from`.
fn step(
    kind: &'static str,
    verb: &'static str,
    from: &'static [&'static str],
) -> impl Fn(&dyn ViewState, &Value) -> Result<Vec<NewEvent>, Rejection> + Send + Sync {
    move |state: &dyn ViewState, payload: &Value| {
        let id = order_id(payload)?;
        let now = status(state, &id)?;
        if !from.contains(&now.as_str()) {
            return Err(Rejection::refused(format!(
                "cannot {verb} order {id}: it is {now} (only a {} order can be)",
                from.join(" or ")
            )));
        }
        Ok(event(kind, json!({ "order_id": id })))
    }
}

/// The demo's commands, each checking its payload and the order's lifecycle.
pub fn commands() -> Commands {
    Commands::new()
        .stream(STREAM)
        .decide_with("place_order", |state: &dyn ViewState, payload: &Value| {
            let id = order_id(payload)?;
            let customer = payload.get("customer").and_then(Value::as_str).filter(|c| !c.trim().is_empty());
            let customer =
                customer.ok_or_else(|| Rejection::invalid("customer must be a non-empty string"))?;
            let total = payload.get("total").and_then(Value::as_f64).filter(|t| t.is_finite() && *t >= 0.0);
            total.ok_or_else(|| Rejection::invalid("total must be a number ≥ 0"))?;
            let region = payload.get("region").and_then(Value::as_str).unwrap_or("eu");
            if state.row("orders", &json!(id))?.is_some() {
                return Err(Rejection::refused(format!("order {id} exists already")));
            }
            Ok(event(
                "place_order",
                json!({ "order_id": id, "customer": customer, "total": payload["total"], "region": region }),
            ))
        })
        .decide_with("pay_order", step("pay_order", "pay", &["placed"]))
        .decide_with("ship_order", step("ship_order", "ship", &["paid"]))
        .decide_with("cancel_order", step("cancel_order", "cancel", &["placed", "paid"]))
}

/// The number after the highest `o-N` order in the `orders` view (1 when there is none), so a
/// generator started on an existing log goes on where the orders stop, not where the log does.
pub async fn next_order(engine: &Engine) -> u64 {
    let Ok(snapshot) = engine.snapshot("orders").await else { return 1 };
    let highest = snapshot
        .rows
        .iter()
        .filter_map(|r| r.key.as_str()?.strip_prefix("o-")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    highest + 1
}

/// Drives demo traffic through the engine as client `client_id`.
#[derive(Debug)]
pub struct Generator {
    engine: Arc<Engine>,
    client_id: String,
    seq: u64,
    next_order: u64,
    open: Vec<(String, u8)>,
    /// Seeded, so a seed gives the same demo every time.
    dice: fastrand::Rng,
}

impl Generator {
    /// A generator whose first new order is `o-{first_order}` ([`next_order`]).
    pub fn new(engine: Arc<Engine>, client_id: String, first_order: u64, seed: u64) -> Self {
        Generator {
            engine,
            client_id,
            seq: 0,
            next_order: first_order.saturating_sub(1),
            open: Vec::new(),
            dice: fastrand::Rng::with_seed(seed),
        }
    }

    /// Sends one command: a new order, or the next step of an open one.
    pub async fn step(&mut self) -> Result<(), Rejection> {
        let roll = self.dice.u8(0..10);
        let (name, payload) = if self.open.is_empty() || roll < 4 {
            self.next_order += 1;
            let id = format!("o-{}", self.next_order);
            self.open.push((id.clone(), 0));
            // Whole cents, so totals print as they would on a receipt.
            let total = f64::from(self.dice.u32(500..50_500)) / 100.0;
            let payload = json!({
                "order_id": id,
                "customer": CUSTOMERS[self.dice.usize(..CUSTOMERS.len())],
                "total": total,
                "region": REGIONS[self.dice.usize(..REGIONS.len())],
            });
            ("place_order", payload)
        } else {
            let i = self.dice.usize(..self.open.len());
            let (id, stage) = self.open[i].clone();
            let name = match (stage, self.dice.u8(0..8)) {
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
            match self.step().await {
                Ok(()) => {}
                // A person at a desk got to the order first (paid, shipped or cancelled it).
                Err(e)
                    if matches!(
                        e.code,
                        lucarne_protocol::ErrorCode::Rejected | lucarne_protocol::ErrorCode::NotFound
                    ) =>
                {
                    tracing::debug!("demo step skipped: {e}");
                }
                Err(e) => tracing::warn!("demo command failed: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One order, `o-1`, in a status.
    struct Order(&'static str);

    impl ViewState for Order {
        fn row(&self, view: &str, key: &Value) -> Result<Option<lucarne_protocol::Columns>, Rejection> {
            assert_eq!(view, "orders");
            Ok((key == "o-1").then(|| {
                json!({"order_id": "o-1", "status": self.0}).as_object().cloned().unwrap_or_default()
            }))
        }
    }

    /// Order ids go on from the highest order after a restart, not from the log's length.
    #[tokio::test]
    async fn a_restarted_generator_numbers_orders_after_the_last_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = lucarne_server::Store::open(dir.path()).expect("store");
        store
            .install_views(lucarne_server::sql::parse_views(VIEWS_SQL).expect("views"), |_, _, _| {})
            .expect("install");
        let engine = Engine::start(store, commands());
        assert_eq!(next_order(&engine).await, 1);
        let mut first = Generator::new(engine.clone(), "demo-a".into(), next_order(&engine).await, 7);
        first.burst(60).await.expect("burst");
        let ids = |rows: &[lucarne_protocol::Row]| -> Vec<u64> {
            rows.iter().filter_map(|r| r.key.as_str()?.strip_prefix("o-")?.parse().ok()).collect()
        };
        let before = ids(&engine.snapshot("orders").await.expect("snapshot").rows);
        let highest = *before.iter().max().expect("orders");
        assert_eq!(before.len() as u64, highest, "o-1 … o-{highest}, no gap");
        assert!(engine.head().await.expect("head") > highest, "more events than orders");
        // As `lucarne serve --demo` starts again on the same log.
        let mut again = Generator::new(engine.clone(), "demo-b".into(), next_order(&engine).await, 9);
        while ids(&engine.snapshot("orders").await.expect("snapshot").rows).len() == before.len() {
            again.step().await.expect("step");
        }
        let after = ids(&engine.snapshot("orders").await.expect("snapshot").rows);
        assert_eq!(after.iter().max(), Some(&(highest + 1)), "the next order is o-{}", highest + 1);
    }

    #[test]
    fn demo_commands_check_their_payloads() {
        fn check(name: &str, payload: Value, ok: bool) {
            assert_eq!(
                commands().decide_in(name, &payload, &Order("placed")).is_ok(),
                ok,
                "{name} {payload}"
            );
        }
        check("place_order", json!({"order_id":"o-2","customer":"Ada","total":42.5,"region":"eu"}), true);
        check("place_order", json!({"order_id":"o-2","customer":"Ada","total":-1}), false);
        check("place_order", json!({"order_id":"o-2","total":1}), false);
        check("place_order", json!({"customer":"Ada","total":1}), false);
        check("pay_order", json!({"order_id":"o-1"}), true);
        check("ship_order", json!({"order_id": 5}), false);
        check("refund", json!({}), false);
    }

    #[test]
    fn the_lifecycle_is_enforced() {
        use lucarne_protocol::ErrorCode::{NotFound, Rejected};
        fn check(
            name: &str,
            id: &str,
            status: &'static str,
            expected: Result<(), lucarne_protocol::ErrorCode>,
        ) {
            let payload = json!({"order_id": id, "customer": "Ada", "total": 1});
            let got = commands().decide_in(name, &payload, &Order(status)).map(|_| ()).map_err(|r| r.code);
            assert_eq!(got, expected, "{name} {id} when {status}");
        }
        for (name, allowed) in [
            ("pay_order", &["placed"][..]),
            ("ship_order", &["paid"][..]),
            ("cancel_order", &["placed", "paid"][..]),
        ] {
            for status in ["placed", "paid", "shipped", "cancelled"] {
                let expected = if allowed.contains(&status) { Ok(()) } else { Err(Rejected) };
                check(name, "o-1", status, expected);
            }
            check(name, "o-404", "placed", Err(NotFound));
        }
        check("place_order", "o-1", "placed", Err(Rejected));
        check("place_order", "o-2", "placed", Ok(()));
    }

    #[test]
    fn demo_views_parse() {
        let views = lucarne_server::sql::parse_views(VIEWS_SQL).expect("demo views are valid");
        let names: Vec<_> = views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["orders", "sales_by_region", "activity"]);
        let searches =
            lucarne_server::search::parse_search_indexes(VIEWS_SQL).expect("demo indexes are valid");
        let names: Vec<_> = searches.iter().map(|s| (s.name.as_str(), s.view.as_str())).collect();
        assert_eq!(names, [("order_search", "orders")]);
    }
}
