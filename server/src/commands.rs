//! Commands: how a named command with a JSON payload becomes events, or a rejection.
//!
//! By default a configured command appends one event of the same name, with the payload as its
//! fields, to its stream. An app that embeds the server registers a [`CommandHandler`] to
//! validate a command and decide its events.
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

/// The commands a server knows.
#[derive(Clone, Default)]
pub struct Commands {
    handlers: BTreeMap<String, Arc<dyn CommandHandler>>,
    streams: std::collections::BTreeSet<String>,
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
        let this = self.stream(stream);
        let (kind, stream) = (name.to_owned(), stream.to_owned());
        this.handle(name, move |payload: &Value| {
            if !payload.is_object() {
                return Err(Rejection::invalid("the payload must be a JSON object"));
            }
            Ok(vec![NewEvent { stream: stream.clone(), kind: kind.clone(), payload: payload.clone() }])
        })
    }

    /// `name` is decided by a handler.
    pub fn handle(mut self, name: &str, handler: impl CommandHandler + 'static) -> Self {
        self.handlers.insert(name.to_owned(), Arc::new(handler));
        self
    }

    /// The events of a command, or why it is refused.
    pub fn decide(&self, name: &str, payload: &Value) -> Result<Vec<NewEvent>, Rejection> {
        match self.handlers.get(name) {
            Some(handler) => handler.decide(payload),
            None => Err(Rejection {
                code: ErrorCode::UnknownCommand,
                message: format!("no command named {name:?} (known: {})", self.names().join(", ")),
            }),
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

    /// The command names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }
}

/// Parses `STREAM:NAME[,NAME…]` (the `--command` flag): each name routed to the stream.
pub fn parse_routes(spec: &str, mut commands: Commands) -> Result<Commands, String> {
    let (stream, names) =
        spec.split_once(':').ok_or_else(|| format!("expected STREAM:NAME[,NAME…], got {spec:?}"))?;
    let stream = stream.trim();
    if stream.is_empty() {
        return Err(format!("no stream in {spec:?}"));
    }
    for name in names.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(format!("empty command name in {spec:?}"));
        }
        commands = commands.route(name, stream);
    }
    Ok(commands)
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
}
