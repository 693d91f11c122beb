//! Commands: how a named command with a JSON payload becomes events, or a rejection.
//!
//! By default a configured command appends one event of the same name, with the payload as its
//! fields, to its stream. An app that embeds the server registers a [`CommandHandler`] to
//! validate a command and decide its events from its payload, or a [`StateHandler`]
//! ([`Commands::decide_with`]) that also reads view rows: "pay only a placed order".
//!
//! **Deciding against the state.** A state handler runs on the writer, inside the commit that
//! will append its events, after every command queued before it (in this batch too) has been
//! folded into the views: [`ViewState::row`] reads the rows exactly as they stand at the
//! position its events will follow. The writer decides one command at a time, so two commands
//! can never both pass a check only one should ("pay" and "cancel" racing on one order: the
//! second sees the first's effect). A rejection appends nothing and records no dedup entry, so
//! the same `seq` may be sent again. Keep state handlers quick and pure: every write waits for
//! them.
//!
//! Without Rust, a route can carry a precondition on a view row ([`Precondition`], the
//! `--command` flag): `orders:pay_order ON orders(order_id) WHEN status = 'placed'`.
//!
//! ```
//! use lucarne_server::commands::{Commands, Rejection};
//! use lucarne_server::log::NewEvent;
//!
//! let commands = Commands::new()
//!     .route("place_order", "orders")
//!     .handle("refund", |payload: &serde_json::Value| {
//!         let amount = payload["amount"].as_f64().ok_or_else(|| Rejection::invalid("amount must be a number"))?;
//!         Ok(vec![NewEvent { stream: "orders".into(), kind: "refunded".into(), payload: serde_json::json!({ "amount": -amount }) }])
//!     });
//! assert!(commands.decide("refund", &serde_json::json!({"amount": "x"})).is_err());
//! assert_eq!(commands.decide("place_order", &serde_json::json!({})).map(|e| e.len()), Ok(1));
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use lucarne_protocol::ErrorCode;
use serde_json::Value;

use crate::log::NewEvent;

/// Why a command was refused. Nothing is stored for a refused command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    /// The code sent to the client.
    pub code: ErrorCode,
    /// The message sent to the client.
    pub message: String,
}

impl Rejection {
    /// The payload is malformed (`invalid_payload`).
    pub fn invalid(message: impl Into<String>) -> Self {
        Rejection { code: ErrorCode::InvalidPayload, message: message.into() }
    }

    /// Refused for a business reason (`rejected`).
    pub fn refused(message: impl Into<String>) -> Self {
        Rejection { code: ErrorCode::Rejected, message: message.into() }
    }
}

/// What a [`StateHandler`] may read: view rows at the position its command's events will follow.
pub trait ViewState {
    /// The row of `view` with this key (the `GROUP BY` value; an array for several keys), as
    /// clients see it; `None` when there is none. A view that does not exist is refused
    /// (`unknown_view`).
    fn row(&self, view: &str, key: &Value) -> Result<Option<lucarne_protocol::Columns>, Rejection>;
}

/// Decides the events of a command from its payload and the current view rows.
pub trait StateHandler: Send + Sync {
    /// The events to append, or why not.
    fn decide(&self, state: &dyn ViewState, payload: &Value) -> Result<Vec<NewEvent>, Rejection>;
}

impl<F> StateHandler for F
where
    F: Fn(&dyn ViewState, &Value) -> Result<Vec<NewEvent>, Rejection> + Send + Sync,
{
    fn decide(&self, state: &dyn ViewState, payload: &Value) -> Result<Vec<NewEvent>, Rejection> {
        self(state, payload)
    }
}

/// A command decided by the writer against the view rows of its position: its handler and
/// payload together.
#[derive(Clone)]
pub struct Guard {
    handler: Arc<dyn StateHandler>,
    payload: Value,
}

impl Guard {
    /// A guard deciding `payload` with `handler`.
    pub fn new(handler: Arc<dyn StateHandler>, payload: Value) -> Guard {
        Guard { handler, payload }
    }

    /// The command's events against `state`, or why not.
    pub fn decide(&self, state: &dyn ViewState) -> Result<Vec<NewEvent>, Rejection> {
        self.handler.decide(state, &self.payload)
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("payload", &self.payload).finish_non_exhaustive()
    }
}

impl PartialEq for Guard {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.handler, &other.handler) && self.payload == other.payload
    }
}

/// How a command becomes events.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Decided from the payload alone.
    Events(Vec<NewEvent>),
    /// Decided by the writer against the view rows ([`Guard`]).
    Guarded(Guard),
}

/// Decides the events of a command.
pub trait CommandHandler: Send + Sync {
    /// The events to append for this payload, or why not.
    fn decide(&self, payload: &Value) -> Result<Vec<NewEvent>, Rejection>;
}

impl<F> CommandHandler for F
where
    F: Fn(&Value) -> Result<Vec<NewEvent>, Rejection> + Send + Sync,
{
    fn decide(&self, payload: &Value) -> Result<Vec<NewEvent>, Rejection> {
        self(payload)
    }
}

/// A command's handler: from its payload alone, or with the view rows.
#[derive(Clone)]
enum Handler {
    Payload(Arc<dyn CommandHandler>),
    State(Arc<dyn StateHandler>),
}

/// The commands a server knows.
#[derive(Clone, Default)]
pub struct Commands {
    handlers: BTreeMap<String, Handler>,
    streams: std::collections::BTreeSet<String>,
    preconditions: Vec<(String, Precondition)>,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.handlers.keys()).finish()
    }
}

impl Commands {
    /// No commands.
    pub fn new() -> Self {
        Self::default()
    }

    /// `name` appends one event of type `name` to `stream`, carrying the payload (which must be
    /// a JSON object).
    pub fn route(self, name: &str, stream: &str) -> Self {
        let this = self.without(name).stream(stream);
        let (kind, stream) = (name.to_owned(), stream.to_owned());
        this.handle(name, move |payload: &Value| {
            if !payload.is_object() {
                return Err(Rejection::invalid("the payload must be a JSON object"));
            }
            Ok(vec![NewEvent { stream: stream.clone(), kind: kind.clone(), payload: payload.clone() }])
        })
    }

    /// `name` is decided by a handler from its payload.
    pub fn handle(mut self, name: &str, handler: impl CommandHandler + 'static) -> Self {
        self.handlers.insert(name.to_owned(), Handler::Payload(Arc::new(handler)));
        self
    }

    /// `name` is decided by a handler that reads view rows as they stand where its events will
    /// be appended (see the module).
    pub fn decide_with(mut self, name: &str, handler: impl StateHandler + 'static) -> Self {
        self.handlers.insert(name.to_owned(), Handler::State(Arc::new(handler)));
        self
    }

    /// `name` appends one event of its own name to `stream`, carrying the payload, when the
    /// precondition holds on the view row it names.
    pub fn route_when(self, name: &str, stream: &str, precondition: Precondition) -> Self {
        let mut this = self.without(name).stream(stream);
        this.preconditions.push((name.to_owned(), precondition.clone()));
        let (kind, stream) = (name.to_owned(), stream.to_owned());
        this.decide_with(name, move |state: &dyn ViewState, payload: &Value| {
            if !payload.is_object() {
                return Err(Rejection::invalid("the payload must be a JSON object"));
            }
            precondition.check(&kind, state, payload)?;
            Ok(vec![NewEvent { stream: stream.clone(), kind: kind.clone(), payload: payload.clone() }])
        })
    }

    /// The routes' preconditions, by command name (to check them against the views).
    pub fn preconditions(&self) -> impl Iterator<Item = (&str, &Precondition)> {
        self.preconditions.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// How a command becomes events: decided now from its payload, or a [`Guard`] for the
    /// writer; or why it is refused.
    pub fn plan(&self, name: &str, payload: &Value) -> Result<Plan, Rejection> {
        match self.handlers.get(name) {
            Some(Handler::Payload(handler)) => handler.decide(payload).map(Plan::Events),
            Some(Handler::State(handler)) => Ok(Plan::Guarded(Guard::new(handler.clone(), payload.clone()))),
            None => Err(Rejection {
                code: ErrorCode::UnknownCommand,
                message: format!("no command named {name:?} (known: {})", self.names().join(", ")),
            }),
        }
    }

    /// The events of a command decided from its payload alone, or why it is refused; a command
    /// decided against the view rows is decided here against no rows at all (every row absent).
    pub fn decide(&self, name: &str, payload: &Value) -> Result<Vec<NewEvent>, Rejection> {
        self.decide_in(name, payload, &NoRows)
    }

    /// The events of a command against these view rows, or why it is refused (the writer
    /// decides against the rows of the command's position; tests and tools against their own).
    pub fn decide_in(
        &self,
        name: &str,
        payload: &Value,
        state: &dyn ViewState,
    ) -> Result<Vec<NewEvent>, Rejection> {
        match self.plan(name, payload)? {
            Plan::Events(events) => Ok(events),
            Plan::Guarded(guard) => guard.decide(state),
        }
    }

    /// Declares a stream these commands write to, so views over it can be defined before its
    /// first event (streams of [`Commands::route`] are declared already).
    pub fn stream(mut self, stream: &str) -> Self {
        self.streams.insert(stream.to_owned());
        self
    }

    /// The declared streams, sorted.
    pub fn streams(&self) -> impl Iterator<Item = &str> {
        self.streams.iter().map(String::as_str)
    }

    /// These commands without `name` (and its precondition).
    pub fn without(mut self, name: &str) -> Self {
        self.handlers.remove(name);
        self.preconditions.retain(|(n, _)| n != name);
        self
    }

    /// The command names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }
}

/// A view that has no rows: what [`Commands::decide`] shows a state handler.
struct NoRows;

impl ViewState for NoRows {
    fn row(&self, _: &str, _: &Value) -> Result<Option<lucarne_protocol::Columns>, Rejection> {
        Ok(None)
    }
}

/// Parses `STREAM:NAME[,NAME…] [ON VIEW(FIELD) [WHEN CONDITION | NEW]]` (the `--command`
/// flag): each name routed to the stream, with a [`Precondition`] when given.
pub fn parse_routes(spec: &str, mut commands: Commands) -> Result<Commands, String> {
    let (route, guard) = match find_word(spec, "ON") {
        Some(at) => (&spec[..at], Some(&spec[at + 2..])),
        None => (spec, None),
    };
    let (stream, names) = route
        .split_once(':')
        .ok_or_else(|| format!("expected STREAM:NAME[,NAME…] [ON VIEW(FIELD) [WHEN …]], got {spec:?}"))?;
    let stream = stream.trim();
    if stream.is_empty() {
        return Err(format!("no stream in {spec:?}"));
    }
    let precondition = guard.map(Precondition::parse).transpose()?;
    for name in names.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(format!("empty command name in {spec:?}"));
        }
        commands = match &precondition {
            Some(p) => commands.route_when(name, stream, p.clone()),
            None => commands.route(name, stream),
        };
    }
    Ok(commands)
}

/// Where `word` first stands alone (spaces around it, any case) in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let upper = text.to_ascii_uppercase();
    let mut from = 0;
    while let Some(i) = upper[from..].find(word) {
        let at = from + i;
        let before = at == 0 || upper.as_bytes()[at - 1] == b' ';
        let after = upper.as_bytes().get(at + word.len()).is_none_or(|b| *b == b' ');
        if before && after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// What a routed command needs of a view row: the row keyed by one of its payload's fields
/// exists (else `not_found`) and meets a condition over the view's columns (else `rejected`,
/// saying what the row holds), or does not exist yet (`NEW`; else `rejected`).
///
/// ```
/// use lucarne_server::commands::Precondition;
///
/// let p = Precondition::parse("orders(order_id) WHEN status = 'placed'").unwrap();
/// assert_eq!((p.view.as_str(), p.key_field.as_str()), ("orders", "order_id"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Precondition {
    /// The view whose row is checked.
    pub view: String,
    /// The payload field holding the row's key.
    pub key_field: String,
    /// What the row must be.
    pub rule: RowRule,
}

/// What a [`Precondition`] asks of its row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowRule {
    /// The row exists.
    Exists,
    /// The row exists and the condition (its text and compiled form) holds on it.
    Meets(String, crate::expr::Expr),
    /// No such row yet.
    Absent,
}

impl Precondition {
    /// Parses `VIEW(FIELD) [WHEN CONDITION | NEW]`; the condition is the view SQL's expression
    /// grammar over the view's columns.
    pub fn parse(text: &str) -> Result<Precondition, String> {
        let text = text.trim();
        let (view, rest) = text.split_once('(').ok_or_else(|| format!("expected VIEW(FIELD) in {text:?}"))?;
        let (key_field, rest) =
            rest.split_once(')').ok_or_else(|| format!("expected VIEW(FIELD) in {text:?}"))?;
        let (view, key_field, rest) = (view.trim(), key_field.trim(), rest.trim());
        let name_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !name_ok(view) || !name_ok(key_field) {
            return Err(format!("expected VIEW(FIELD) with plain names in {text:?}"));
        }
        let rule = if rest.is_empty() {
            RowRule::Exists
        } else if rest.eq_ignore_ascii_case("NEW") {
            RowRule::Absent
        } else if rest.len() > 4 && rest[..4].eq_ignore_ascii_case("WHEN") && rest.as_bytes()[4] == b' ' {
            let condition = rest[5..].trim();
            let expr = crate::query::compile_condition(condition)
                .map_err(|e| format!("in the condition {condition:?}: {e}"))?;
            RowRule::Meets(condition.to_owned(), expr)
        } else {
            return Err(format!("expected WHEN CONDITION or NEW after {view}({key_field}), got {rest:?}"));
        };
        Ok(Precondition { view: view.to_owned(), key_field: key_field.to_owned(), rule })
    }

    /// The column names the condition reads.
    pub fn columns(&self) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        if let RowRule::Meets(_, expr) = &self.rule {
            expr.payload_fields(&mut out);
        }
        out.into_iter().collect()
    }

    /// Refuses `command` unless its row is as the precondition says.
    pub fn check(&self, command: &str, state: &dyn ViewState, payload: &Value) -> Result<(), Rejection> {
        let key = payload.get(&self.key_field).filter(|k| !k.is_null()).ok_or_else(|| {
            Rejection::invalid(format!(
                "{command} needs {:?} in its payload (the {} row's key)",
                self.key_field, self.view
            ))
        })?;
        let row = state.row(&self.view, key)?;
        match (&self.rule, row) {
            (RowRule::Absent, None) => Ok(()),
            (RowRule::Absent, Some(_)) => {
                Err(Rejection::refused(format!("{command}: {} {key} exists already", self.view)))
            }
            (_, None) => Err(Rejection {
                code: ErrorCode::NotFound,
                message: format!("{command}: no {} row {key}", self.view),
            }),
            (RowRule::Exists, Some(_)) => Ok(()),
            (RowRule::Meets(text, expr), Some(row)) => {
                if expr.holds(&row) {
                    return Ok(());
                }
                let holds: Vec<String> = self
                    .columns()
                    .iter()
                    .map(|c| format!("{c} is {}", row.get(c).unwrap_or(&Value::Null)))
                    .collect();
                Err(Rejection::refused(format!(
                    "{command} needs {text} on {} {key} ({})",
                    self.view,
                    holds.join(", ")
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_and_refusals() {
        fn check(commands: &Commands, name: &str, payload: Value, expected: Result<&str, ErrorCode>) {
            let got = commands.decide(name, &payload);
            match expected {
                Ok(stream) => {
                    let events = got.unwrap_or_else(|r| panic!("{name}: {r}"));
                    assert_eq!(events, vec![NewEvent { stream: stream.into(), kind: name.into(), payload }]);
                }
                Err(code) => assert_eq!(got.map_err(|r| r.code), Err(code), "{name}"),
            }
        }
        let commands = parse_routes("orders: place_order, pay_order", Commands::new()).expect("valid spec");
        check(&commands, "place_order", json!({"order_id": "o-1"}), Ok("orders"));
        check(&commands, "pay_order", json!({}), Ok("orders"));
        check(&commands, "pay_order", json!([1]), Err(ErrorCode::InvalidPayload));
        check(&commands, "launch", json!({}), Err(ErrorCode::UnknownCommand));
        assert!(parse_routes("nocolon", Commands::new()).is_err());
        assert!(parse_routes("s:a,,b", Commands::new()).is_err());
    }

    /// Rows of one view, `orders`, by key.
    struct Rows(Vec<Value>);

    impl ViewState for Rows {
        fn row(&self, view: &str, key: &Value) -> Result<Option<lucarne_protocol::Columns>, Rejection> {
            if view != "orders" {
                return Err(Rejection { code: ErrorCode::UnknownView, message: format!("no view {view}") });
            }
            Ok(self.0.iter().find(|r| &r["order_id"] == key).and_then(|r| r.as_object().cloned()))
        }
    }

    #[test]
    fn routes_with_preconditions_check_the_row() {
        let rows = Rows(vec![
            json!({"order_id": "o-1", "status": "placed", "total": 5}),
            json!({"order_id": "o-2", "status": "shipped", "total": 50}),
        ]);
        let mut commands = Commands::new();
        for spec in [
            "orders:pay_order ON orders(order_id) WHEN status = 'placed' AND total < 10",
            "orders:note ON orders(order_id)",
            "orders:place_order on orders(order_id) new",
        ] {
            commands = parse_routes(spec, commands).unwrap_or_else(|e| panic!("{spec}: {e}"));
        }
        let check = |name: &str, id: &str, expected: Result<(), (ErrorCode, &str)>| {
            let payload = json!({"order_id": id});
            let got = commands.decide_in(name, &payload, &rows);
            match expected {
                Ok(()) => assert_eq!(
                    got,
                    Ok(vec![NewEvent { stream: "orders".into(), kind: name.into(), payload }])
                ),
                Err((code, says)) => {
                    let r = got.expect_err(name);
                    assert_eq!(r.code, code, "{name} {id}: {}", r.message);
                    assert!(r.message.contains(says), "{name} {id}: {} should say {says:?}", r.message);
                }
            }
        };
        check("pay_order", "o-1", Ok(()));
        check("pay_order", "o-2", Err((ErrorCode::Rejected, "status is \"shipped\", total is 50")));
        check("pay_order", "o-3", Err((ErrorCode::NotFound, "no orders row \"o-3\"")));
        check("note", "o-2", Ok(()));
        check("note", "o-9", Err((ErrorCode::NotFound, "o-9")));
        check("place_order", "o-3", Ok(()));
        check("place_order", "o-1", Err((ErrorCode::Rejected, "exists already")));
        let names: Vec<_> = commands.preconditions().map(|(n, p)| (n, p.columns())).collect();
        assert_eq!(names[0], ("pay_order", vec!["status".to_string(), "total".to_string()]));
        assert_eq!(
            commands.decide_in("pay_order", &json!({}), &rows).map_err(|r| r.code),
            Err(ErrorCode::InvalidPayload)
        );

        for bad in [
            "orders:pay ON orders",
            "orders:pay ON orders(order_id) WHEN",
            "orders:pay ON orders(order_id) WHEN status =",
            "orders:pay ON orders(order_id) MAYBE",
            "orders:pay ON or ders(id)",
        ] {
            assert!(parse_routes(bad, Commands::new()).is_err(), "{bad}");
        }
    }
}
