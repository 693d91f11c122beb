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
