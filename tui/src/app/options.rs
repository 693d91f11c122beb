//! How the client starts: its options, the row actions and the chart it is given, and the
//! reference order desk (`desk()`).

use std::str::FromStr;

use lucarne_protocol::Key;
use lucarne_runtime::Change;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::bidi::Bidi;
use crate::locale::Locale;

/// How the client starts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A view to open at once (none: the list of views).
    pub view: Option<String>,
    /// The chrome's language.
    pub locale: Locale,
    /// Who orders right-to-left text.
    pub bidi: Bidi,
    /// Keys that send a command about the selected row.
    pub actions: Vec<Action>,
    /// A second view drawn beside the table as horizontal bars.
    pub chart: Option<ChartSpec>,
    /// Views of more rows than this are watched a window at a time (a live query with `limit`
    /// and `offset` around the rows on screen) instead of whole (`None`: 100 000).
    pub window_above: Option<u64>,
    /// The client's id: its own commands' acks are recognized in the deltas by it
    /// ([`run`](crate::run) fills it in from the client).
    pub client_id: String,
}

/// The reference order desk in the terminal (`lucarne tui --desk`): the `orders` view of
/// `lucarne serve --demo` with its lifecycle on keys — P pay, S ship, C cancel the selected
/// order, each shown at once as the status it gives and rolled back if refused — and sales by
/// region as bars beside it. It runs the same scripted scenario as the iced desk
/// (`tests/fixtures/desk.scenario`).
pub fn desk() -> Options {
    let action = |key: char, command: &str, status: &str| Action {
        key,
        command: command.to_owned(),
        columns: vec!["order_id".to_owned()],
        shows: Some(("status".to_owned(), Value::String(status.to_owned()))),
    };
    Options {
        view: Some("orders".to_owned()),
        actions: vec![
            action('P', "pay_order", "paid"),
            action('S', "ship_order", "shipped"),
            action('C', "cancel_order", "cancelled"),
        ],
        chart: Some(ChartSpec {
            view: "sales_by_region".into(),
            label: "region".into(),
            value: "revenue".into(),
        }),
        ..Options::default()
    }
}

/// A row action: a key that sends a command whose payload is columns of the selected row, and
/// optionally what the row shows until the server's rows hold the command
/// (`p=pay_order:order_id>status=paid` sends `pay_order {"order_id": …}` and shows the row as
/// paid at once; a rejection rolls it back).
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The key.
    pub key: char,
    /// The command's name.
    pub command: String,
    /// The row's columns put in the payload under their own names.
    pub columns: Vec<String>,
    /// A column and the value it shows while the command is pending.
    pub shows: Option<(String, Value)>,
}

/// Why an action's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an action is KEY=COMMAND[:COLUMN,…][>COLUMN=VALUE] (e.g. p=pay_order:order_id>status=paid), not {0:?}"
)]
pub struct BadAction(String);

impl FromStr for Action {
    type Err = BadAction;

    fn from_str(text: &str) -> Result<Action, BadAction> {
        let bad = || BadAction(text.to_owned());
        let (key, rest) = text.split_once('=').ok_or_else(bad)?;
        let mut chars = key.chars();
        let (Some(key), None) = (chars.next(), chars.next()) else { return Err(bad()) };
        let (rest, shows) = match rest.split_once('>') {
            Some((rest, shows)) => {
                let (column, value) = shows.split_once('=').ok_or_else(bad)?;
                // A JSON value (`true`, `3`, `"x"`), else the text itself.
                let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
                (rest, Some((column.to_owned(), value)))
            }
            None => (rest, None),
        };
        let (command, columns) = rest.split_once(':').unwrap_or((rest, ""));
        if command.is_empty() || key.is_control() || RESERVED.contains(&key) {
            return Err(bad());
        }
        let columns = columns.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect();
        Ok(Action { key, command: command.to_owned(), columns, shows })
    }
}

/// A view drawn as bars beside the table: one bar per row, its label and its length from two
/// columns (`sales_by_region:region:revenue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartSpec {
    /// The view.
    pub view: String,
    /// The column that names each bar.
    pub label: String,
    /// The numeric column that gives its length.
    pub value: String,
}

/// Why a chart's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a chart is VIEW:LABEL_COLUMN:VALUE_COLUMN (e.g. sales_by_region:region:revenue), not {0:?}")]
pub struct BadChart(String);

impl FromStr for ChartSpec {
    type Err = BadChart;

    fn from_str(text: &str) -> Result<ChartSpec, BadChart> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [view, label, value] if !view.is_empty() && !label.is_empty() && !value.is_empty() => {
                Ok(ChartSpec {
                    view: (*view).to_owned(),
                    label: (*label).to_owned(),
                    value: (*value).to_owned(),
                })
            }
            _ => Err(BadChart(text.to_owned())),
        }
    }
}

/// A row action sent: the optimistic change the runtime's [`Optimistic`](lucarne_runtime::Optimistic) tracks until the
/// server's rows hold it (an ack-carrying delta, a snapshot after the ack, the ack's position
/// reached) or the server refuses it. The rows themselves are the table's: only the change's
/// bookkeeping is kept there, and what it shows is laid over the row when drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct RowAction {
    /// The command's name.
    pub command: String,
    /// Its payload.
    pub payload: Value,
    /// The row's key.
    pub key: Key,
    /// What the row shows while the command is pending.
    pub shows: Option<(String, Value)>,
}

impl Change<IgnoredAny> for RowAction {
    fn command(&self) -> (String, Value) {
        (self.command.clone(), self.payload.clone())
    }

    fn key(&self) -> Key {
        self.key.clone()
    }

    fn apply(&self, row: Option<IgnoredAny>) -> Option<IgnoredAny> {
        row
    }
}

/// Keys the table already uses.
const RESERVED: &[char] = &['q', 's', 'b', 'j', 'k', 'h', 'l', 'g', 'G', '/', ':'];
