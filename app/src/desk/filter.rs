//! The filter box's text as a live query, and the table's sort from the query's order.

use lucarne::Query;
use lucarne::widgets::Sort;

/// Splits the filter box's text into a live query: `CONDITION [order by COLUMNS]`.
///
/// ```
/// let q = lucarne_app::parse_filter("status = 'paid' ORDER BY total desc");
/// assert_eq!(q.filter.as_deref(), Some("status = 'paid'"));
/// assert_eq!(q.order_by.as_deref(), Some("total desc"));
/// assert_eq!(lucarne_app::parse_filter("  "), lucarne::Query::view("orders"));
/// ```
pub fn parse_filter(input: &str) -> Query {
    let lower = input.to_ascii_lowercase();
    let (condition, order) = match lower.find("order by") {
        Some(at) => (&input[..at], Some(&input[at + "order by".len()..])),
        None => (input, None),
    };
    let mut query = Query::view("orders");
    if !condition.trim().is_empty() {
        query = query.filter(condition.trim());
    }
    if let Some(order) = order.map(str::trim).filter(|o| !o.is_empty()) {
        query = query.order_by(order);
    }
    query
}

/// The table's sort for a query's `order by`: its first column, when the table shows it.
pub(super) fn table_sort(query: &Query) -> Option<Sort> {
    let first = query.order_by.as_deref()?.split(',').next()?;
    let mut words = first.split_whitespace();
    let name = words.next()?.to_ascii_lowercase();
    let descending = words.next().is_some_and(|w| w.eq_ignore_ascii_case("desc"));
    let column = TABLE_COLUMNS.iter().position(|c| *c == name)?;
    Some(Sort { column, descending })
}

/// The view column each table column shows, in order (the last one holds the actions).
const TABLE_COLUMNS: [&str; 6] = ["order_id", "customer", "region", "total", "status", "updated_ms"];
