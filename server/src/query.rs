//! Live queries over a view: `where`, `order_by`, `limit` and `offset` on subscribe.
//!
//! A [`Window`] holds the rows of the view that match the filter, in order, and the keys the
//! client holds (the first `limit` of them after the first `offset`). Each change to the view is turned into the ops
//! *this* subscriber needs: a row entering the window is upserted, a row changing inside it is
//! upserted, a row leaving it (filtered out, removed, or pushed past either end) is removed;
//! changes outside the window send nothing.
//!
//! ```
//! use lucarne_server::query::{LiveQuery, Window};
//! use lucarne_protocol::{Op, Row};
//! use serde_json::json;
//!
//! let columns = ["order_id".to_string(), "total".to_string()];
//! let q = LiveQuery::parse(Some("total > 10"), Some("total DESC"), Some(1), &columns).unwrap();
//! let row = |id: &str, total: i64| json!({"order_id": id, "total": total}).as_object().cloned().unwrap();
//! let mut w = Window::new(q);
//! let first = w.reset(vec![Row { key: json!("a"), row: row("a", 20) }, Row { key: json!("b"), row: row("b", 5) }]);
//! assert_eq!(first.len(), 1);
//! // "b" grows past "a": it enters the window and pushes "a" out.
//! let ops = w.apply(&[Op::Upsert { key: json!("b"), row: row("b", 30) }]);
//! assert_eq!(ops, vec![Op::Upsert { key: json!("b"), row: row("b", 30) }, Op::Remove { key: json!("a") }]);
//! ```

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use lucarne_protocol::{Columns, Key, Op, Row};
use serde_json::Value;
use sqlparser::ast::{self, Spanned};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::expr::Expr;
use crate::sql::{ColumnScope, SqlError, compile_expr};

/// Most columns an `order_by` may name: each is a value kept per row held.
pub const MAX_ORDER_COLUMNS: usize = 16;

/// A compiled live query.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveQuery {
    /// Rows must satisfy this.
    pub filter: Option<Expr>,
    /// Columns to order by, `true` for descending.
    pub order: Vec<(String, bool)>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Rows skipped before the window.
    pub offset: u64,
}

fn parser_for(text: &str) -> Result<Parser<'static>, SqlError> {
    static DIALECT: GenericDialect = GenericDialect {};
    crate::budget::check_depth(text)?;
    Parser::new(&DIALECT).try_with_sql(text).map_err(|e| SqlError::new(e.to_string(), 1, 1))
}

impl LiveQuery {
    /// Compiles `where` and `order_by` against the view's columns.
    pub fn parse(
        filter: Option<&str>,
        order_by: Option<&str>,
        limit: Option<u64>,
        columns: &[String],
    ) -> Result<LiveQuery, SqlError> {
        let filter = match filter {
            Some(text) => {
                let mut parser = parser_for(text)?;
                let expr = parser.parse_expr().map_err(crate::sql::parser_error)?;
                expect_end(&mut parser)?;
                Some(compile_expr(&expr, &mut ColumnScope { columns })?)
            }
            None => None,
        };
        let mut order = Vec::new();
        if let Some(text) = order_by {
            let mut parser = parser_for(text)?;
            let items = parser
                .parse_comma_separated(Parser::parse_order_by_expr)
                .map_err(crate::sql::parser_error)?;
            expect_end(&mut parser)?;
            if let Some(extra) = items.get(MAX_ORDER_COLUMNS) {
                let span = extra.expr.span();
                return Err(SqlError {
                    kind: crate::sql::SqlErrorKind::TooComplex,
                    ..SqlError::new(
                        format!("order_by names more than {MAX_ORDER_COLUMNS} columns"),
                        span.start.line,
                        span.start.column,
                    )
                });
            }
            for item in items {
                let name = match &item.expr {
                    ast::Expr::Identifier(i) if columns.contains(&i.value) => i.value.clone(),
                    other => {
                        let span = other.span();
                        let message = format!(
                            "order_by takes column names (columns: {}), not `{other}`",
                            columns.join(", ")
                        );
                        return Err(SqlError::new(message, span.start.line, span.start.column));
                    }
                };
                order.push((name, item.options.asc == Some(false)));
            }
        }
        Ok(LiveQuery { filter, order, limit, offset: 0 })
    }

    /// The same query, its window starting after `offset` rows.
    pub fn skip(self, offset: u64) -> LiveQuery {
        LiveQuery { offset, ..self }
    }

    /// The query over only the rows `rows` lets through (a token's row filter): both filters
    /// must hold. Each was compiled on its own, so neither text can change the other's meaning.
    pub fn within(self, rows: LiveQuery) -> LiveQuery {
        let filter = match (rows.filter, self.filter) {
            (Some(r), Some(own)) => Some(Expr::Bin(crate::expr::BinOp::And, Box::new(r), Box::new(own))),
            (r, own) => r.or(own),
        };
        LiveQuery { filter, ..self }
    }

    /// What the query costs per row it looks at: the nodes of its filter (each item of an `IN`
    /// list is one) and its order columns.
    pub fn terms(&self) -> usize {
        self.filter.as_ref().map_or(0, crate::limits::expr_nodes) + self.order.len()
    }

    /// True when the query is the whole view.
    pub fn is_everything(&self) -> bool {
        self.filter.is_none() && self.limit.is_none() && self.offset == 0
    }

    /// The window's first place and how many places it has (`usize::MAX`: no limit).
    fn span(&self) -> (usize, usize) {
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        (offset, self.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
    }

    /// Whether `row` passes the filter.
    pub(crate) fn matches(&self, row: &dyn crate::expr::Record) -> bool {
        self.filter.as_ref().is_none_or(|f| f.holds(row))
    }

    fn sort_key(&self, key: &Key, row: &Columns) -> SortKey {
        SortKey {
            values: self
                .order
                .iter()
                .map(|(c, desc)| (row.get(c).cloned().unwrap_or(Value::Null), *desc))
                .collect(),
            key: key.to_string(),
        }
    }
}

/// Compiles a condition over a row's columns without knowing them yet (a command's
/// precondition, checked against its view when the server starts): a name is a column, a
/// missing column is `NULL`.
pub fn compile_condition(text: &str) -> Result<Expr, SqlError> {
    struct AnyColumn;
    impl crate::sql::Scope for AnyColumn {
        fn name(&mut self, parts: &[ast::Ident], span: sqlparser::tokenizer::Span) -> Result<Expr, SqlError> {
            match parts {
                [one] => Ok(Expr::Field(crate::expr::Field::Path(vec![one.value.clone()]))),
                _ => Err(SqlError::new(
                    "a condition names a view's columns (one word each)",
                    span.start.line,
                    span.start.column,
                )),
            }
        }
    }
    let mut parser = parser_for(text)?;
    let expr = parser.parse_expr().map_err(crate::sql::parser_error)?;
    expect_end(&mut parser)?;
    compile_expr(&expr, &mut AnyColumn)
}

fn expect_end(parser: &mut Parser<'_>) -> Result<(), SqlError> {
    let next = parser.peek_token();
    if next.token == sqlparser::tokenizer::Token::EOF {
        return Ok(());
    }
    Err(SqlError::new(format!("unexpected `{}`", next.token), next.span.start.line, next.span.start.column))
}

/// A total order over JSON values: `NULL` < booleans < numbers < strings < the rest.
fn total_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            _ => 4,
        }
    }
    rank(a).cmp(&rank(b)).then_with(|| crate::expr::compare(a, b).unwrap_or(Ordering::Equal))
}

/// A row's place in the query's order; ties broken by the key so the order is total.
#[derive(Debug, Clone, PartialEq)]
struct SortKey {
    values: Vec<(Value, bool)>,
    key: String,
}

impl Eq for SortKey {}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        for ((a, desc), (b, _)) in self.values.iter().zip(&other.values) {
            let o = total_cmp(a, b);
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        self.key.cmp(&other.key)
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One subscriber's view through a live query.
#[derive(Debug)]
pub struct Window {
    query: LiveQuery,
    /// Every matching row, by key text: its key, columns and place.
    rows: HashMap<String, (Key, Columns, SortKey)>,
    order: BTreeSet<SortKey>,
    /// Keys the client holds.
    shown: HashSet<String>,
}

impl Window {
    /// An empty window.
    pub fn new(query: LiveQuery) -> Self {
        Window { query, rows: HashMap::new(), order: BTreeSet::new(), shown: HashSet::new() }
    }

    /// The query the window follows.
    pub fn query(&self) -> &LiveQuery {
        &self.query
    }

    /// How many rows the window holds: every row that matches the filter (a limited window
    /// keeps the rows past its limit too, to know which enters when one leaves).
    pub fn held(&self) -> usize {
        self.rows.len()
    }

    /// The window's rows now, in order.
    pub fn rows(&self) -> Vec<Row> {
        self.visible()
            .into_iter()
            .filter_map(|k| self.rows.get(&k).map(|(key, row, _)| Row { key: key.clone(), row: row.clone() }))
            .collect()
    }

    /// Starts over from a snapshot of the whole view; returns the window's rows, in order.
    pub fn reset(&mut self, all: Vec<Row>) -> Vec<Row> {
        self.rows.clear();
        self.order.clear();
        for Row { key, row } in all {
            self.insert(key, row);
        }
        let visible = self.visible();
        self.shown = visible.iter().cloned().collect();
        visible
            .into_iter()
            .filter_map(|k| self.rows.get(&k).map(|(key, row, _)| Row { key: key.clone(), row: row.clone() }))
            .collect()
    }

    fn insert(&mut self, key: Key, row: Columns) {
        self.put(key.to_string(), Cow::Owned(key), Cow::Owned(row));
    }

    /// Puts a row in under its key text, in place of the one it had, when it matches; a
    /// borrowed row is copied only then.
    fn put(&mut self, text: String, key: Cow<'_, Key>, row: Cow<'_, Columns>) {
        self.remove(&text);
        if self.query.matches(&*row) {
            let place = self.query.sort_key(&key, &row);
            self.order.insert(place.clone());
            self.rows.insert(text, (key.into_owned(), row.into_owned(), place));
        }
    }

    fn remove(&mut self, text: &str) {
        if let Some((_, _, place)) = self.rows.remove(text) {
            self.order.remove(&place);
        }
    }

    /// False when no touched row was shown and none is inside the limit now: the window is as
    /// it was (a row that does not enter cannot push another out).
    fn may_have_moved(&self, touched: &HashSet<String>) -> bool {
        let (offset, limit) = self.query.span();
        if offset > 0 {
            // A row that was before the window shifts it, wherever it went (or if it is gone):
            // its old place is not kept, so every change is looked at.
            return !touched.is_empty();
        }
        let last = limit.checked_sub(1).and_then(|i| self.order.iter().nth(i));
        touched.iter().any(|text| {
            self.shown.contains(text)
                || self.rows.get(text).is_some_and(|(_, _, place)| last.is_none_or(|last| place <= last))
        })
    }

    /// The keys in the window now, in order.
    fn visible(&self) -> Vec<String> {
        let (offset, limit) = self.query.span();
        self.order.iter().skip(offset).take(limit).map(|p| p.key.clone()).collect()
    }

    /// The ops this subscriber needs for a change to the view.
    pub fn apply(&mut self, ops: &[Op]) -> Vec<Op> {
        let mut touched = HashSet::with_capacity(ops.len());
        for op in ops {
            let text = op.key().to_string();
            match op {
                Op::Upsert { key, row } => self.put(text.clone(), Cow::Borrowed(key), Cow::Borrowed(row)),
                Op::Remove { .. } => self.remove(&text),
            }
            touched.insert(text);
        }
        if self.query.limit.is_none() && self.query.offset == 0 {
            // The window is every matching row: only the touched keys can have moved.
            let mut out = Vec::with_capacity(touched.len());
            for op in ops {
                let text = op.key().to_string();
                match self.rows.get(&text) {
                    Some((key, row, _)) => {
                        self.shown.insert(text);
                        out.push(Op::Upsert { key: key.clone(), row: row.clone() });
                    }
                    None if self.shown.remove(&text) => out.push(Op::Remove { key: op.key().clone() }),
                    None => {}
                }
            }
            return out;
        }
        if !self.may_have_moved(&touched) {
            return Vec::new();
        }
        let now: Vec<String> = self.visible();
        let now_set: HashSet<&String> = now.iter().collect();
        let mut out = Vec::new();
        // Rows that entered, or changed while inside.
        for text in &now {
            if (!self.shown.contains(text) || touched.contains(text))
                && let Some((key, row, _)) = self.rows.get(text)
            {
                out.push(Op::Upsert { key: key.clone(), row: row.clone() });
            }
        }
        // Rows that left.
        let mut left: Vec<&String> = self.shown.iter().filter(|k| !now_set.contains(k)).collect();
        left.sort();
        for text in left {
            if let Ok(key) = serde_json::from_str::<Key>(text) {
                out.push(Op::Remove { key });
            }
        }
        self.shown = now.into_iter().collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn columns() -> Vec<String> {
        ["id", "status", "total"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_errors_name_the_problem() {
        fn check(filter: Option<&str>, order: Option<&str>, message: &str) {
            let err = LiveQuery::parse(filter, order, None, &columns()).expect_err("invalid");
            assert!(err.message.contains(message), "{err}");
        }
        check(Some("nope = 1"), None, "unknown column \"nope\"");
        check(Some("total >"), None, "syntax error");
        check(Some("total > 1 garbage"), None, "unexpected `garbage`");
        check(None, Some("total + 1"), "order_by takes column names");
        check(None, Some("missing DESC"), "order_by takes column names");
        let q = LiveQuery::parse(
            Some("status = 'paid' AND total > 10"),
            Some("total DESC, id"),
            Some(5),
            &columns(),
        )
        .expect("valid");
        assert_eq!(q.order, vec![("total".to_string(), true), ("id".to_string(), false)]);
    }

    fn row(id: i64, status: &str, total: i64) -> Columns {
        json!({"id": id, "status": status, "total": total}).as_object().cloned().unwrap_or_default()
    }

    /// The query run from scratch on a whole view.
    fn expected(q: &LiveQuery, view: &BTreeMap<i64, Columns>) -> Vec<(String, Columns)> {
        let mut rows: Vec<(SortKey, Columns)> = view
            .iter()
            .filter(|(_, r)| q.matches(*r))
            .map(|(k, r)| (q.sort_key(&json!(k), r), r.clone()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.into_iter()
            .skip(usize::try_from(q.offset).unwrap_or(usize::MAX))
            .take(q.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
            .map(|(s, r)| (s.key, r))
            .collect()
    }

    proptest! {
        /// After any sequence of changes, the client's rows equal the query run on the final view,
        /// and every op it received was needed.
        #[test]
        fn the_window_follows_the_query(
            changes in prop::collection::vec(prop::collection::vec((0i64..12, prop::option::of((0usize..3, 0i64..40))), 1..4), 0..60),
        // `None`: no limit, the fast path.
            limit in prop::option::of(1u64..6),
            // A window further down: rows before it shift it.
            offset in prop::option::of(1u64..5),
            descending in any::<bool>(),
        ) {
            let order = if descending { "total DESC" } else { "total" };
            let q = LiveQuery::parse(Some("status <> 'cancelled' AND total >= 5"), Some(order), limit, &columns()).expect("valid");
            let q = q.skip(offset.unwrap_or(0));
            let mut window = Window::new(q.clone());
            let mut view: BTreeMap<i64, Columns> = BTreeMap::new();
            let mut client: BTreeMap<String, Columns> =
                window.reset(vec![]).into_iter().map(|r| (r.key.to_string(), r.row)).collect();
            for change in changes {
                let mut ops = Vec::new();
                let mut seen = HashSet::new();
                for (id, what) in change {
                    if !seen.insert(id) { continue; } // at most one op per key per change
                    match what {
                        Some((s, total)) => {
                            let r = row(id, ["placed", "paid", "cancelled"][s], total);
                            view.insert(id, r.clone());
                            ops.push(Op::Upsert { key: json!(id), row: r });
                        }
                        None => {
                            view.remove(&id);
                            ops.push(Op::Remove { key: json!(id) });
                        }
                    }
                }
                let want: BTreeMap<String, Columns> = expected(&q, &view).into_iter().collect();
                for op in window.apply(&ops) {
                    match op {
                        Op::Upsert { key, row } => {
                            prop_assert!(want.contains_key(&key.to_string()), "upsert of {key} outside the window");
                            client.insert(key.to_string(), row);
                        }
                        Op::Remove { key } => {
                            prop_assert!(client.remove(&key.to_string()).is_some(), "remove of {key} the client did not hold");
                        }
                    }
                }
                prop_assert_eq!(&client, &want);
            }
        }
    }
}
