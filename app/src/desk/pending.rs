//! The table's rows from the orders as shown (the server's, with the actions not yet in them
//! shown over: `lucarne::Optimistic`), the actions sent and their answers.

use lucarne::iced::Task;
use lucarne::protocol::Key;
use lucarne::ui::{row_id, sync_table, track};
use lucarne::widgets::Cell;
use lucarne::{Answered, CommandError, Outcome, ViewEvent};
use serde_json::json;

use super::view::{plain, status_label};
use super::{Action, Desk, Message, Notice, Order, OrderAction};
use crate::clock;
use crate::i18n::{Arg, Locale};

impl Desk {
    /// Rebuilds every row (their words and numbers are the locale's).
    pub(super) fn relabel(&mut self) {
        self.today = clock::local(clock::now_ms());
        let keys: Vec<Key> = self.orders.iter().map(|(k, _)| k.clone()).collect();
        for key in keys {
            self.refresh(&key, false);
        }
    }

    /// Rebuilds the table row of one order as shown.
    pub(super) fn refresh(&mut self, key: &Key, highlight: bool) {
        let id = row_id(key);
        match self.orders.get(key).filter(|_| self.search.keeps(key)) {
            Some(order) => {
                let cells = cells(self.locale, self.today, self.orders.is_pending(key), &order);
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
        // The rows it changed as shown, with those whose pending action it shows applied.
        let changes = self.orders.apply(&event);
        if let ViewEvent::Snapshot { rows, .. } = &event {
            tracing::debug!(rows = rows.len(), shown = self.orders.view().len(), "orders snapshot applied");
        }
        // A refused filter is an error on the filter, not a lost connection (the badge stays
        // live).
        track(&mut self.connection, &event);
        match &event {
            ViewEvent::Failed { code, message } => {
                // The notice says why, the box keeps the text to correct, and the table goes
                // back to the last query the server answered (iced subscribes to it again).
                self.notice = Some(Notice::QueryRefused { code: code.to_string(), message: message.clone() });
                self.query = self.answered.clone();
            }
            ViewEvent::Snapshot { .. } => self.answered = self.query.clone(),
            _ => {}
        }
        let (orders, search) = (&self.orders, &self.search);
        sync_table(&mut self.table, &changes, orders.iter().map(|(k, _)| k), |key| {
            let order = orders.get(key).filter(|_| search.keeps(key))?;
            Some(cells(self.locale, self.today, orders.is_pending(key), &order))
        });
    }

    pub(super) fn act(&mut self, order_id: String, action: Action) -> Task<Message> {
        let Some(status) = self.shown_status(&order_id) else { return Task::none() };
        if !action.allowed_from(&status) {
            return Task::none();
        }
        let key = json!(order_id);
        let command = self.client.send_optimistic(&mut self.orders, OrderAction { order_id, action });
        self.last_sent = Some(command.clone());
        self.refresh(&key, false);
        Task::perform(command.deliver(self.client.clone()), Message::Answered)
    }

    pub(super) fn answered(&mut self, answered: Answered) {
        match self.orders.answered(answered) {
            Outcome::Accepted(OrderAction { order_id, action }) => {
                self.confirmed += 1;
                // Named, so that the user sees which order it was even when its row moved or
                // left the filtered view (the delta carrying the ack may have come first).
                self.refresh(&json!(order_id), false);
                self.notice = Some(Notice::CommandDone { action, order: order_id });
            }
            Outcome::RolledBack { change: OrderAction { order_id, action }, error } => {
                // Answered, though not applied.
                self.confirmed += usize::from(matches!(error, CommandError::Rejected { .. }));
                let reason = match error {
                    CommandError::Rejected { message, .. } => Some(message),
                    CommandError::Stopped => None,
                };
                self.refresh(&json!(order_id), false);
                self.notice = Some(Notice::CommandFailed { action, order: order_id, reason });
            }
            Outcome::Unknown => {}
        }
    }
}

/// The table's cells of an order as shown (`busy`: an action on it is on its way).
fn cells(locale: Locale, today: Option<clock::LocalTime>, busy: bool, order: &Order) -> Vec<Cell> {
    let status = order.status.clone().unwrap_or_default();
    let shown = if busy {
        // Not isolated: "paid · sending" is read in the locale's direction as one phrase.
        plain(locale.tr_args("status-pending", &[("status", Arg::from(status_label(locale, &status)))]))
    } else {
        status_label(locale, &status)
    };
    vec![
        Cell::text(order.order_id.clone()),
        Cell::text(order.customer.clone()),
        Cell::text(order.region.clone().unwrap_or_default()),
        Cell::number(order.total, locale.number(order.total, 2)),
        Cell::text(shown),
        updated(locale, order.updated_ms, today),
        Cell::actions(Action::ALL.map(|a| (a.label_in(locale), !busy && a.allowed_from(&status)))),
    ]
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
