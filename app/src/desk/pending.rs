//! The actions the desk sent and the server has not yet reflected in the view: the row shows
//! the action's effect at once (`paid…`), the delta that carries its ack drops it exactly once,
//! a rejection rolls it back and says why.

use iced::Task;
use iced::time::Instant;
use lucarne::protocol::{Key, Op};
use lucarne::{Client, CommandError, Status, ViewEvent};
use lucarne_widgets::{Cell, Connection};
use serde_json::json;

use super::view::{plain, status_label};
use super::{Action, Desk, Message, Notice, Order, Pending, Sent};
use crate::clock;
use crate::i18n::Arg;

impl Desk {
    pub(super) fn cells(&self, order: &Order) -> Vec<Cell> {
        let locale = self.locale;
        let pending = self.pending.values().rev().find(|p| p.order_id == order.order_id);
        let server_status = order.status.clone().unwrap_or_default();
        let (status, shown) = match pending {
            // Not isolated: "paid · sending" is read in the locale's direction as one phrase.
            Some(p) => (
                p.action.status().to_owned(),
                plain(locale.tr_args(
                    "status-pending",
                    &[("status", Arg::from(status_label(locale, p.action.status())))],
                )),
            ),
            None => (server_status.clone(), status_label(locale, &server_status)),
        };
        let busy = pending.is_some();
        vec![
            Cell::text(order.order_id.clone()),
            Cell::text(order.customer.clone()),
            Cell::text(order.region.clone().unwrap_or_default()),
            Cell::number(order.total, locale.number(order.total, 2)),
            Cell::text(shown),
            updated(locale, order.updated_ms, self.today),
            Cell::actions(Action::ALL.map(|a| (a.label_in(locale), !busy && a.allowed_from(&status)))),
        ]
    }

    /// Rebuilds every row (their words and numbers are the locale's).
    pub(super) fn relabel(&mut self) {
        self.today = clock::local(clock::now_ms());
        let keys: Vec<Key> = self.orders.iter().map(|(k, _)| k.clone()).collect();
        for key in keys {
            self.refresh(&key, false);
        }
    }

    /// Rebuilds the table row of one order from the server's row and the pending commands.
    fn refresh(&mut self, key: &Key, highlight: bool) {
        let id = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
        match self.orders.get(key) {
            Some(order) => {
                let cells = self.cells(order);
                if highlight {
                    self.table.upsert(&id, cells);
                } else {
                    self.table.upsert_quiet(&id, cells);
                }
            }
            None => {
                self.table.remove(&id);
            }
        }
    }

    pub(super) fn on_orders(&mut self, event: ViewEvent) {
        // Once per event, not per row: a snapshot of 100 000 rows asks the clock once.
        self.today = clock::local(clock::now_ms());
        let acked: Vec<u64> = match &event {
            ViewEvent::Delta(delta) => {
                delta.acked.iter().filter(|c| c.client_id == self.client.client_id()).map(|c| c.seq).collect()
            }
            _ => Vec::new(),
        };
        let changes = self.orders.apply(&event);
        match &event {
            ViewEvent::Status(status) => self.connection = connection(status),
            ViewEvent::Failed { code, message } => {
                // A refused filter is an error on the filter, not a lost connection: the notice
                // says why, the box keeps the text to correct, and the table goes back to the
                // last query the server answered (iced subscribes to it again).
                self.notice = Some(Notice::QueryRefused { code: code.to_string(), message: message.clone() });
                self.query = self.answered.clone();
                // The server answered: the socket is up.
                self.connection = Connection::Live;
            }
            ViewEvent::Snapshot { resynced, .. } => {
                self.connection = Connection::Live;
                self.answered = self.query.clone();
                if resynced.is_some() {
                    // The fresh copy reflects every command the server accepted before it.
                    self.pending.retain(|_, p| !p.accepted);
                }
            }
            ViewEvent::Resumed { .. } => self.connection = Connection::Live,
            ViewEvent::Delta(_) => {}
        }
        if changes.out_of_order {
            return;
        }
        // Commands whose effect this delta carries: their optimistic state is dropped now,
        // exactly once (a delta is applied once; a seq is in `pending` at most once).
        let mut touched: Vec<Key> = Vec::new();
        for seq in acked {
            if let Some(p) = self.pending.remove(&seq) {
                touched.push(json!(p.order_id));
            }
        }
        if changes.reset {
            self.table.clear();
            let keys: Vec<Key> = self.orders.iter().map(|(k, _)| k.clone()).collect();
            for key in keys {
                self.refresh(&key, false);
            }
        } else {
            for key in changes.upserted.iter().chain(&changes.removed) {
                self.refresh(key, true);
            }
            for key in touched {
                self.refresh(&key, false);
            }
        }
        if let ViewEvent::Delta(delta) = &event {
            // Rows removed from the view that were never decoded still leave the table.
            for op in &delta.ops {
                if let Op::Remove { key } = op
                    && self.orders.get(key).is_none()
                {
                    self.refresh(key, false);
                }
            }
        }
    }

    pub(super) fn act(&mut self, order_id: String, action: Action) -> Task<Message> {
        let Some(status) = self.shown_status(&order_id) else { return Task::none() };
        if !action.allowed_from(&status) {
            return Task::none();
        }
        self.next_seq = self.next_seq.max(self.client.last_seq()) + 1;
        let seq = self.next_seq;
        let payload = json!({ "order_id": order_id });
        self.pending.insert(seq, Pending { order_id: order_id.clone(), action, accepted: false });
        self.sent.push(Sent { seq, name: action.command(), payload: payload.clone() });
        self.refresh(&json!(order_id), false);
        let sent = Sent { seq, name: action.command(), payload };
        Task::perform(deliver(self.client.clone(), sent), std::convert::identity)
    }

    /// The action and order of the command sent with `seq`.
    fn sent_action(&self, seq: u64) -> Option<(Action, String)> {
        let sent = self.sent.iter().rev().find(|s| s.seq == seq)?;
        let action = Action::ALL.into_iter().find(|a| a.command() == sent.name)?;
        Some((action, sent.payload["order_id"].as_str()?.to_owned()))
    }

    pub(super) fn answered(&mut self, seq: u64, result: Result<(), CommandError>) {
        match result {
            Ok(()) => {
                self.confirmed += 1;
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.accepted = true;
                }
                // Named, so that the user sees which order it was even when its row moved or
                // left the filtered view (the delta carrying the ack may have come first).
                if let Some((action, order)) = self.sent_action(seq) {
                    self.notice = Some(Notice::CommandDone { action, order });
                }
            }
            Err(error) => {
                // Answered, though not applied.
                self.confirmed += usize::from(matches!(error, CommandError::Rejected { .. }));
                if let Some(p) = self.pending.remove(&seq) {
                    let reason = match error {
                        CommandError::Rejected { message, .. } => Some(message),
                        CommandError::Stopped => None,
                    };
                    self.notice =
                        Some(Notice::CommandFailed { action: p.action, order: p.order_id.clone(), reason });
                    self.refresh(&json!(p.order_id), false);
                }
            }
        }
    }
}

/// When an order last changed, sorted by the time (an order without one sorts first).
fn updated(locale: crate::i18n::Locale, ms: Option<f64>, today: Option<clock::LocalTime>) -> Cell {
    let Some((ms, at)) = ms.and_then(clock::millis).and_then(|ms| Some((ms, clock::local(ms)?))) else {
        return Cell::number(f64::NEG_INFINITY, String::new());
    };
    #[expect(clippy::cast_precision_loss, reason = "milliseconds of this era are below 2⁵³")]
    let key = ms as f64;
    Cell::number(key, clock::when(locale, at, today))
}

/// Sends a command the desk recorded (what the `Task` returned by [`update`](crate::update) for an action
/// runs): waits for the answer, through reconnects (the runtime keeps it in its outbox and
/// resends it with the same sequence number, so the server applies it once).
pub async fn deliver(client: Client, sent: Sent) -> Message {
    let result = client.send_with_seq(sent.seq, sent.name, sent.payload).await.map(|_| ());
    Message::Answered(sent.seq, result)
}

fn connection(status: &Status) -> Connection {
    match status {
        Status::Connecting => Connection::Connecting,
        Status::Live => Connection::Live,
        Status::Resyncing(_) => Connection::Resyncing,
        Status::Offline { retry_in, reason } => {
            Connection::Offline { retry_at: Some(Instant::now() + *retry_in), reason: reason.to_string() }
        }
    }
}
