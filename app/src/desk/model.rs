//! The rows of the desk's views and the actions on an order.

use lucarne::Change;
use lucarne::protocol::Key;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::i18n::Locale;

/// A row of the `orders` view.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Order {
    /// Its id (the view's key).
    pub order_id: String,
    /// Who placed it.
    #[serde(default)]
    pub customer: String,
    /// Where.
    #[serde(default)]
    pub region: Option<String>,
    /// Its amount.
    #[serde(default)]
    pub total: f64,
    /// `placed`, `paid`, `shipped` or `cancelled`.
    #[serde(default)]
    pub status: Option<String>,
    /// When it last changed, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub updated_ms: Option<f64>,
}

/// A row of the `sales_by_region` view.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Region {
    /// The region (the view's key).
    pub region: String,
    /// Orders placed.
    #[serde(default)]
    pub orders: f64,
    /// Their total.
    #[serde(default)]
    pub revenue: f64,
}

/// An action on an order, sent as the command of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `pay_order`: placed → paid.
    Pay,
    /// `ship_order`: paid → shipped.
    Ship,
    /// `cancel_order`: placed or paid → cancelled.
    Cancel,
}

impl Action {
    /// The actions, in the order of the table's buttons.
    pub const ALL: [Action; 3] = [Action::Pay, Action::Ship, Action::Cancel];

    /// The button's label in English (see [`Action::label_in`]).
    pub fn label(self) -> &'static str {
        match self {
            Action::Pay => "Pay",
            Action::Ship => "Ship",
            Action::Cancel => "Cancel",
        }
    }

    /// Its short name (`pay`, `ship`, `cancel`): the selector of the locales' messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Pay => "pay",
            Action::Ship => "ship",
            Action::Cancel => "cancel",
        }
    }

    /// The button's label in `locale` (the action buttons' ids are `"{order id}:{label}"`).
    pub fn label_in(self, locale: Locale) -> String {
        locale.tr(&format!("action-{}", self.name()))
    }

    /// The command's name.
    pub fn command(self) -> &'static str {
        match self {
            Action::Pay => "pay_order",
            Action::Ship => "ship_order",
            Action::Cancel => "cancel_order",
        }
    }

    /// The status the order has once the command is applied.
    pub fn status(self) -> &'static str {
        match self {
            Action::Pay => "paid",
            Action::Ship => "shipped",
            Action::Cancel => "cancelled",
        }
    }

    /// Whether it makes sense from this status.
    pub fn allowed_from(self, status: &str) -> bool {
        match self {
            Action::Pay => status == "placed",
            Action::Ship => status == "paid",
            Action::Cancel => status == "placed" || status == "paid",
        }
    }
}

/// An action on one order: the desk's optimistic change to the `orders` view. Shown at once
/// (the order takes the action's status), dropped once the server's rows hold it, rolled back
/// when it is refused (see `lucarne::Optimistic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAction {
    /// The order.
    pub order_id: String,
    /// What is done to it.
    pub action: Action,
}

impl Change<Order> for OrderAction {
    fn command(&self) -> (String, Value) {
        (self.action.command().to_owned(), json!({ "order_id": self.order_id }))
    }

    fn key(&self) -> Key {
        json!(self.order_id)
    }

    fn apply(&self, row: Option<Order>) -> Option<Order> {
        row.map(|order| Order { status: Some(self.action.status().to_owned()), ..order })
    }

    fn from_command(name: &str, payload: &Value) -> Option<Self> {
        let action = Action::ALL.into_iter().find(|a| a.command() == name)?;
        Some(OrderAction { order_id: payload["order_id"].as_str()?.to_owned(), action })
    }
}
