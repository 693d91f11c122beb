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

/// The filter box's text for a query: what [`parse_filter`] reads back as that query (the
/// browser's export passes the filter in force this way).
pub(super) fn filter_text(query: &Query) -> String {
    let condition = query.filter.as_deref().unwrap_or_default();
    match query.order_by.as_deref() {
        Some(order) => format!("{condition} order by {order}").trim_start().to_owned(),
        None => condition.to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_of_a_query_reads_back_as_that_query() {
        let check = |typed: &str| {
            let query = parse_filter(typed);
            assert_eq!(parse_filter(&filter_text(&query)), query, "{typed:?} → {:?}", filter_text(&query));
        };
        check("");
        check("status = 'paid'");
        check("order by total desc");
        check("status = 'paid' order by total desc, order_id");
        check("  total > 10   ORDER BY total  ");
        assert_eq!(filter_text(&parse_filter("total > 10 order by total")), "total > 10 order by total");
    }
}
