//! A scripted scenario of the order desk, in a plain text file that several surfaces run (the
//! iced desk and the terminal): what the server sends, what the person does, what the order's
//! row shows. The file's own comments describe the steps (`tests/fixtures/desk.scenario`).
//!
//! ```
//! use lucarne_testing::scenario::{Step, parse};
//!
//! let steps = parse("order o-1 Ada placed 42.5\nact o-1 pay\nshows o-1 paid pending\n").expect("a scenario");
//! assert_eq!(steps[1], Step::Act { order: "o-1".into(), action: "pay".into() });
//! ```

/// A row of the first snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Its id (the view's key).
    pub id: String,
    /// Who placed it.
    pub customer: String,
    /// Its status.
    pub status: String,
    /// Its total.
    pub total: f64,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The first snapshot's rows.
    Snapshot(Vec<Order>),
    /// The server changes an order's status; the delta carries the N-th command sent, if any.
    Delta {
        /// The order.
        order: String,
        /// Its new status.
        status: String,
        /// The command it carries (1 for the first sent).
        acked: Option<usize>,
    },
    /// The person acts on an order's row.
    Act {
        /// The order.
        order: String,
        /// `pay`, `ship` or `cancel`.
        action: String,
    },
    /// The server accepts the N-th command sent, at a log position.
    Ack {
        /// Which command (1 for the first sent).
        command: usize,
        /// The log position of its event.
        position: u64,
    },
    /// The server refuses the N-th command sent.
    Reject {
        /// Which command.
        command: usize,
        /// The server's message.
        message: String,
    },
    /// What an order's row shows.
    Shows {
        /// The order.
        order: String,
        /// The status shown.
        status: String,
        /// Whether an action on it is shown on its way.
        pending: bool,
    },
}

/// Reads a scenario; `Err` names the line it cannot read.
pub fn parse(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut snapshot = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("line {}: cannot read {line:?}", number + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        let step = match words.as_slice() {
            ["order", id, customer, status, total] => {
                let total = total.parse().map_err(|_| bad())?;
                snapshot.push(Order {
                    id: (*id).into(),
                    customer: (*customer).into(),
                    status: (*status).into(),
                    total,
                });
                continue;
            }
            ["delta", order, status] => {
                Step::Delta { order: (*order).into(), status: (*status).into(), acked: None }
            }
            ["delta", order, status, "acked", n] => Step::Delta {
                order: (*order).into(),
                status: (*status).into(),
                acked: Some(n.parse().map_err(|_| bad())?),
            },
            ["act", order, action] => Step::Act { order: (*order).into(), action: (*action).into() },
            ["ack", n, "at", position] => Step::Ack {
                command: n.parse().map_err(|_| bad())?,
                position: position.parse().map_err(|_| bad())?,
            },
            ["reject", n, message @ ..] if !message.is_empty() => {
                Step::Reject { command: n.parse().map_err(|_| bad())?, message: message.join(" ") }
            }
            ["shows", order, status] => {
                Step::Shows { order: (*order).into(), status: (*status).into(), pending: false }
            }
            ["shows", order, status, "pending"] => {
                Step::Shows { order: (*order).into(), status: (*status).into(), pending: true }
            }
            _ => return Err(bad()),
        };
        if !snapshot.is_empty() {
            steps.push(Step::Snapshot(std::mem::take(&mut snapshot)));
        }
        steps.push(step);
    }
    if !snapshot.is_empty() {
        steps.push(Step::Snapshot(snapshot));
    }
    Ok(steps)
}

/// The order desk's scenario (`tests/fixtures/desk.scenario`), read.
pub fn desk() -> Vec<Step> {
    // The file is part of the repository: a mistake in it fails every surface's test at once.
    parse(include_str!("../../tests/fixtures/desk.scenario")).unwrap_or_else(|e| panic!("desk.scenario: {e}"))
}

/// What the client receives for a server's step of a scenario.
#[cfg(feature = "scenario")]
#[derive(Debug, Clone, PartialEq)]
pub enum Served {
    /// The `orders` view's snapshot.
    Snapshot {
        /// Where it stands.
        at: lucarne_protocol::Position,
        /// Its rows.
        rows: Vec<lucarne_protocol::Row>,
    },
    /// A change to one order (carrying a command of the client's, maybe).
    Delta(lucarne_protocol::Delta),
    /// The answer to a command: its ack, or the server's refusal (`rejected`, this message).
    Answer {
        /// The command's seq.
        seq: u64,
        /// The ack, or the refusal's message.
        result: Result<lucarne_protocol::Ack, String>,
    },
}

/// The server's side of a scenario for one client: its steps as protocol messages, the commands
/// the client sent numbered in the order it sent them (every surface replays it the same way).
#[cfg(feature = "scenario")]
#[derive(Debug, Clone)]
pub struct Replay {
    client: String,
    orders: Vec<Order>,
    sent: Vec<u64>,
    version: u64,
}

#[cfg(feature = "scenario")]
impl Replay {
    /// The server of a scenario for the client `client_id`.
    pub fn new(client_id: impl Into<String>) -> Replay {
        Replay { client: client_id.into(), orders: Vec::new(), sent: Vec::new(), version: 1 }
    }

    /// The client sent its next command with this seq (`ack 1` answers the first).
    pub fn sent(&mut self, seq: u64) {
        self.sent.push(seq);
    }

    fn seq(&self, command: usize) -> u64 {
        self.sent
            .get(command.saturating_sub(1))
            .copied()
            .unwrap_or_else(|| panic!("no command {command} sent"))
    }

    fn row(order: &Order, status: &str) -> lucarne_protocol::Row {
        let row = serde_json::json!({
            "order_id": order.id, "customer": order.customer, "region": "eu", "total": order.total, "status": status,
        });
        lucarne_protocol::Row {
            key: serde_json::json!(order.id),
            row: row.as_object().cloned().unwrap_or_default(),
        }
    }

    /// What the client receives for `step`; `None` for the person's steps (act, shows).
    pub fn serve(&mut self, step: &Step) -> Option<Served> {
        use lucarne_protocol::{Ack, CommandRef, Delta, Op, Position};
        match step {
            Step::Snapshot(orders) => {
                self.orders = orders.clone();
                let rows = orders.iter().map(|o| Self::row(o, &o.status)).collect();
                Some(Served::Snapshot { at: Position { epoch: 1, version: self.version }, rows })
            }
            Step::Delta { order, status, acked } => {
                let Some(o) = self.orders.iter().find(|o| &o.id == order) else { panic!("no order {order}") };
                let lucarne_protocol::Row { key, row } = Self::row(o, status);
                let acked = acked
                    .map(|n| CommandRef { client_id: self.client.clone(), seq: self.seq(n) })
                    .into_iter()
                    .collect();
                let (from, to) = (self.version, self.version + 1);
                self.version = to;
                Some(Served::Delta(Delta { sub: 1, from, to, ops: vec![Op::Upsert { key, row }], acked }))
            }
            Step::Ack { command, position } => {
                let seq = self.seq(*command);
                let ack = Ack {
                    id: 1,
                    client_id: self.client.clone(),
                    seq,
                    position: *position,
                    events: 1,
                    duplicate: false,
                };
                Some(Served::Answer { seq, result: Ok(ack) })
            }
            Step::Reject { command, message } => {
                Some(Served::Answer { seq: self.seq(*command), result: Err(message.clone()) })
            }
            Step::Act { .. } | Step::Shows { .. } => None,
        }
    }
}
