//! Folding events into view rows: the per-group aggregate state and how one event changes it.
//!
//! Every supported aggregate folds in O(1) per event, whatever the size of the view, because
//! the log is append-only: a group's state never has to forget an event.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

use crate::expr::{BinOp, Expr, Field, Record, arith, compare};
use crate::log::Event;
use crate::sql::{Agg, ColumnKind, Shape, ViewDef};

/// The stored state of one row: one accumulator per output column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The row's key values (the `GROUP BY` values, or the event position for a feed).
    pub keys: Vec<Value>,
    /// One accumulator per column, in column order.
    pub accs: Vec<Acc>,
}

/// An accumulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acc {
    /// A key column: its value is in [`GroupState::keys`].
    Key,
    /// A value fixed when the row was made (feed views).
    Value(Value),
    /// Number of (non-null) values.
    Count(u64),
    /// Sum of non-null numbers, `Null` until the first one.
    Sum(Value),
    /// Least value so far.
    Min(Value),
    /// Greatest value so far.
    Max(Value),
    /// Sum and count for the average.
    Avg {
        /// Sum of the values.
        sum: f64,
        /// Number of values.
        n: u64,
    },
    /// First non-null value.
    First(Value),
    /// Latest non-null value.
    Last(Value),
}

impl Record for Event {
    fn field(&self, field: &Field) -> Value {
        match field {
            Field::Type => Value::String(self.kind.clone()),
            Field::Stream => Value::String(self.stream.clone()),
            Field::Position => Value::from(self.position),
            Field::Ts => Value::from(self.ts),
            Field::Path(path) => payload_at(self, path).cloned().unwrap_or(Value::Null),
        }
    }
}

/// The payload's value at `path`, if it has one.
fn payload_at<'e>(event: &'e Event, path: &[String]) -> Option<&'e Value> {
    path.iter().try_fold(&event.payload, |v, part| v.get(part))
}

impl ViewDef {
    /// True when the event feeds this view.
    pub fn matches(&self, event: &Event) -> bool {
        self.sources.contains(&event.stream) && self.filter.as_ref().is_none_or(|f| f.holds(event))
    }

    /// The key values of the row the event folds into.
    pub fn key_values(&self, event: &Event) -> Vec<Value> {
        match self.shape {
            Shape::Feed => vec![Value::from(event.position)],
            Shape::Grouped => self.keys.iter().map(|k| k.eval(event)).collect(),
        }
    }

    /// The row key as sent on the wire: the value for one key, an array for several, `null`
    /// for none.
    pub fn wire_key(keys: &[Value]) -> Value {
        match keys {
            [] => Value::Null,
            [one] => one.clone(),
            many => Value::Array(many.to_vec()),
        }
    }

    /// Folds one matching event into a row's state (`None` for a new row).
    pub fn fold(&self, state: Option<GroupState>, event: &Event) -> GroupState {
        let mut state = state.unwrap_or_else(|| GroupState {
            keys: self.key_values(event),
            accs: self.columns.iter().map(|c| empty(&c.kind)).collect(),
        });
        self.fold_in(&mut state, event);
        state
    }

    /// Folds one matching event into an existing row's state, in place.
    pub fn fold_in(&self, state: &mut GroupState, event: &Event) {
        for (acc, column) in state.accs.iter_mut().zip(&self.columns) {
            let value = match &column.kind {
                ColumnKind::Key(_) => continue,
                ColumnKind::Scalar(e) => {
                    *acc = Acc::Value(e.eval(event));
                    continue;
                }
                ColumnKind::Agg(_, None) => Cow::Owned(Value::Bool(true)), // COUNT(*)
                ColumnKind::Agg(_, Some(e)) => event_value(e, event),
            };
            if value.is_null() {
                continue;
            }
            match acc {
                Acc::Count(n) => *n += 1,
                Acc::Sum(s) if value.is_number() => {
                    *s = if s.is_null() { value.into_owned() } else { arith(BinOp::Add, s, &value) };
                }
                Acc::Min(m) => {
                    if m.is_null() || compare(&value, m) == Some(Ordering::Less) {
                        assign(m, value);
                    }
                }
                Acc::Max(m) => {
                    if m.is_null() || compare(&value, m) == Some(Ordering::Greater) {
                        assign(m, value);
                    }
                }
                Acc::Avg { sum, n } => {
                    if let Some(f) = value.as_f64() {
                        *sum = crate::expr::decimal_sum(*sum, f).unwrap_or(*sum + f);
                        *n += 1;
                    }
                }
                Acc::First(f) => {
                    if f.is_null() {
                        *f = value.into_owned();
                    }
                }
                Acc::Last(l) => assign(l, value),
                Acc::Key | Acc::Value(_) | Acc::Sum(_) => {}
            }
        }
    }

    /// The row's columns as clients see them, or `None` when `HAVING` keeps the group out.
    pub fn row(&self, state: &GroupState) -> Option<Map<String, Value>> {
        let mut row = self.full_row(state);
        if let Some(having) = &self.having {
            if !having.holds(&row) {
                return None;
            }
            for column in self.columns.iter().filter(|c| c.hidden) {
                row.remove(&column.name);
            }
        }
        Some(row)
    }

    /// True when clients see the row: `HAVING`, if any, keeps the group in.
    pub fn visible(&self, state: &GroupState) -> bool {
        self.having.as_ref().is_none_or(|having| having.holds(&self.full_row(state)))
    }

    /// Every column, hidden ones included.
    fn full_row(&self, state: &GroupState) -> Map<String, Value> {
        self.columns
            .iter()
            .zip(&state.accs)
            .map(|(column, acc)| (column.name.clone(), column_value(&column.kind, acc, state).into_owned()))
            .collect()
    }

    /// The row as [`ViewDef::row`] gives it, serialized straight from the state (no `Map` is
    /// built where `HAVING` does not need one); `None` when `HAVING` keeps the group out.
    pub fn row_json<'a>(&'a self, state: &'a GroupState) -> Option<RowJson<'a>> {
        match &self.having {
            None => Some(RowJson::Columns { view: self, state }),
            Some(_) => self.row(state).map(RowJson::Built),
        }
    }
}

/// An expression's value for an event, borrowed from its payload where it is a field of it (most
/// aggregates' arguments and `GROUP BY` keys are): a fold copies it only where it keeps it.
pub(crate) fn event_value<'e>(expr: &Expr, event: &'e Event) -> Cow<'e, Value> {
    match expr {
        Expr::Field(Field::Path(path)) => {
            payload_at(event, path).map_or(Cow::Owned(Value::Null), Cow::Borrowed)
        }
        _ => Cow::Owned(expr.eval(event)),
    }
}

/// Puts a value in an accumulator, reusing the text it held (a `LAST(customer)` of the same
/// length as before allocates nothing).
fn assign(slot: &mut Value, value: Cow<'_, Value>) {
    match (slot, value) {
        (Value::String(held), Cow::Borrowed(Value::String(new))) => held.clone_from(new),
        (slot, value) => *slot = value.into_owned(),
    }
}

/// A row's columns, serialized as the `row` object of the wire (see [`ViewDef::row_json`]).
#[derive(Debug)]
pub enum RowJson<'a> {
    /// Read from the state as it is serialized.
    Columns {
        /// The view.
        view: &'a ViewDef,
        /// The row's state.
        state: &'a GroupState,
    },
    /// Built to evaluate `HAVING`.
    Built(Map<String, Value>),
}

impl serde::Serialize for RowJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            RowJson::Built(row) => row.serialize(serializer),
            RowJson::Columns { view, state } => {
                let mut map = serializer.serialize_map(Some(view.columns.len()))?;
                for (column, acc) in view.columns.iter().zip(&state.accs) {
                    map.serialize_entry(&column.name, &column_value(&column.kind, acc, state))?;
                }
                map.end()
            }
        }
    }
}

/// One column's value in a row, from its accumulator.
fn column_value<'a>(kind: &ColumnKind, acc: &'a Acc, state: &'a GroupState) -> Cow<'a, Value> {
    match (acc, kind) {
        (Acc::Key, ColumnKind::Key(i)) => state.keys.get(*i).map_or(Cow::Owned(Value::Null), Cow::Borrowed),
        (Acc::Count(n), _) => Cow::Owned(Value::from(*n)),
        (Acc::Avg { n: 0, .. }, _) => Cow::Owned(Value::Null),
        (Acc::Avg { sum, n }, _) => {
            Cow::Owned(serde_json::Number::from_f64(sum / *n as f64).map_or(Value::Null, Value::Number))
        }
        (Acc::Value(v) | Acc::Sum(v) | Acc::Min(v) | Acc::Max(v) | Acc::First(v) | Acc::Last(v), _) => {
            Cow::Borrowed(v)
        }
        (Acc::Key, _) => Cow::Owned(Value::Null),
    }
}

/// A row as an expression input: its columns by name.
impl Record for Map<String, Value> {
    fn field(&self, field: &Field) -> Value {
        match field {
            Field::Path(path) if path.len() == 1 => self.get(&path[0]).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }
}

/// A row a search index holds, read by its filter as a view row is.
impl Record for lucarne_search::RowRef<'_> {
    fn field(&self, field: &Field) -> Value {
        match field {
            Field::Path(path) if path.len() == 1 => self.get(&path[0]).unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }
}

fn empty(kind: &ColumnKind) -> Acc {
    match kind {
        ColumnKind::Key(_) => Acc::Key,
        ColumnKind::Scalar(_) => Acc::Value(Value::Null),
        ColumnKind::Agg(agg, _) => match agg {
            Agg::Count => Acc::Count(0),
            Agg::Sum => Acc::Sum(Value::Null),
            Agg::Min => Acc::Min(Value::Null),
            Agg::Max => Acc::Max(Value::Null),
            Agg::Avg => Acc::Avg { sum: 0.0, n: 0 },
            Agg::First => Acc::First(Value::Null),
            Agg::Last => Acc::Last(Value::Null),
        },
    }
}

/// Computes a view from scratch over a whole sequence of events: the reference the
/// incremental store is checked against. Rows by their key's JSON text.
pub fn recompute(view: &ViewDef, events: &[Event]) -> std::collections::BTreeMap<String, Map<String, Value>> {
    let mut states: std::collections::BTreeMap<String, GroupState> = Default::default();
    for event in events.iter().filter(|e| view.matches(e)) {
        let key = ViewDef::wire_key(&view.key_values(event)).to_string();
        let state = states.remove(&key);
        states.insert(key, view.fold(state, event));
    }
    if view.shape == Shape::Feed {
        while states.len() as u64 > crate::sql::FEED_RETENTION {
            // Feed keys are positions; the oldest is the smallest number.
            let oldest = states.keys().min_by_key(|k| k.parse::<u64>().unwrap_or(0)).cloned();
            if let Some(k) = oldest {
                states.remove(&k);
            }
        }
    }
    states.into_iter().filter_map(|(k, s)| Some((k, view.row(&s)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse_view;
    use serde_json::json;

    fn event(position: u64, kind: &str, payload: Value) -> Event {
        Event {
            position,
            stream: "orders".into(),
            kind: kind.into(),
            payload,
            ts: 1000 + position,
            origin: None,
        }
    }

    #[test]
    fn folds_the_orders_view() {
        let view = parse_view(
            "CREATE VIEW orders AS SELECT order_id, LAST(customer) AS customer, SUM(total) AS total, \
             LAST(type) AS status, COUNT(*) AS events, MIN(total) AS lo, MAX(total) AS hi, \
             AVG(total) AS avg, FIRST(ts) AS since FROM orders GROUP BY order_id",
        )
        .expect("valid");
        let events = [
            event(1, "place_order", json!({"order_id": "o-1", "customer": "Ada", "total": 40})),
            event(2, "place_order", json!({"order_id": "o-2", "customer": "نور", "total": 10.5})),
            event(3, "pay_order", json!({"order_id": "o-1"})),
            event(4, "place_order", json!({"order_id": "o-1", "total": 2})),
        ];
        let rows = recompute(&view, &events);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            Value::Object(rows[r#""o-1""#].clone()),
            json!({"order_id": "o-1", "customer": "Ada", "total": 42, "status": "place_order",
                   "events": 3, "lo": 2, "hi": 40, "avg": 21.0, "since": 1001})
        );
        assert_eq!(rows[r#""o-2""#]["customer"], json!("نور"));
        assert_eq!(rows[r#""o-2""#]["total"], json!(10.5));
    }

    #[test]
    fn filters_and_feeds() {
        let feed = parse_view("CREATE VIEW big AS SELECT order_id, total FROM orders WHERE total >= 10")
            .expect("valid");
        let events: Vec<_> = (1..=2500)
            .map(|i| event(i, "place_order", json!({"order_id": format!("o-{i}"), "total": i % 20})))
            .collect();
        let rows = recompute(&feed, &events);
        assert_eq!(rows.len() as u64, crate::sql::FEED_RETENTION);
        assert!(rows.values().all(|r| r["total"].as_i64().is_some_and(|t| t >= 10)));
        assert!(rows.contains_key("2499") && !rows.contains_key("2480") && !rows.contains_key("10"));
    }
}
