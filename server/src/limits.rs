//! The server's budgets: per connection (a token bucket for messages, subscriptions, live
//! queries, queued bytes), per address (connections), per expression (bytes and terms; nesting
//! is bounded by [`crate::budget`]) and for the whole server (rows held by live queries,
//! connections), and the cost of a view definition.

use std::time::{Duration, Instant};

use crate::expr::Expr;
use crate::sql::{ColumnKind, ViewDef};

/// Limits each connection is held to. Every breach is answered with a code, never a crash.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Messages per second a connection may send, on average (a token bucket).
    pub messages_per_second: f64,
    /// Messages a connection may send at once, above the average (the bucket's size).
    pub message_burst: f64,
    /// A connection whose messages are refused (`rate_limited`) continuously for this long is
    /// closed.
    pub rate_limit_close_after: Duration,
    /// Subscriptions one connection may hold.
    pub max_subscriptions: usize,
    /// Bytes of encoded frames queued for one connection. Deltas and snapshots wait for room;
    /// a connection whose other messages (acks, errors, answers) alone pile up past this is
    /// closed (`slow_consumer`).
    pub max_queued_bytes: usize,
    /// A delta that waits this long for room in its connection's queue is dropped, and its
    /// subscription resyncs (`slow_consumer`) once the queue has drained to half.
    pub resync_after: Duration,
    /// A connection whose socket does not take a frame within this time is closed
    /// (`slow_consumer`).
    pub slow_consumer_timeout: Duration,
    /// Largest cost of a view defined at runtime ([`view_cost`]).
    pub max_view_cost: usize,
    /// Longest `define_view` SQL text, in bytes.
    pub max_view_sql_bytes: usize,
    /// Longest `where` or `order_by` text of a live query, in bytes.
    pub max_query_bytes: usize,
    /// Most terms of one live query ([`crate::query::LiveQuery::terms`]: expression nodes, each
    /// item of an `IN` list one, and order columns).
    pub max_query_terms: usize,
    /// Live-query subscriptions (with `where`, `order_by`, `limit`, or under a row filter) one
    /// connection may hold.
    pub max_live_queries: usize,
    /// Rows the windows of all live queries may hold together; a new live query that would
    /// pass it is refused (`over_budget`).
    pub max_live_query_rows: usize,
    /// Open connections (HTTP or WebSocket) from one IP address; more are closed at once.
    pub max_connections_per_address: usize,
    /// Open connections in all; more are closed at once.
    pub max_connections: usize,
    /// An HTTP request whose headers have not all arrived this long after the connection opened
    /// (or after its previous request) is answered 408 and closed.
    pub http_header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            messages_per_second: 2000.0,
            message_burst: 4000.0,
            rate_limit_close_after: Duration::from_secs(10),
            max_subscriptions: 256,
            max_queued_bytes: 2 * 1024 * 1024,
            resync_after: Duration::from_secs(2),
            slow_consumer_timeout: Duration::from_secs(30),
            max_view_cost: 500,
            max_view_sql_bytes: 64 * 1024,
            max_query_bytes: 16 * 1024,
            max_query_terms: 1000,
            max_live_queries: 64,
            max_live_query_rows: 200_000,
            max_connections_per_address: 256,
            max_connections: 50_000,
            http_header_timeout: Duration::from_secs(10),
        }
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        let burst = burst.max(1.0);
        TokenBucket { rate: rate.max(0.0), burst, tokens: burst, last: now }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What to do with a message, by the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Allow,
    /// Answer `rate_limited` and skip it.
    Refuse,
    /// Refused continuously for too long: close the connection.
    Close,
}

/// The message rate limit of one connection: a bucket, and how long it has been refusing.
#[derive(Debug, Clone)]
pub struct RateLimit {
    bucket: TokenBucket,
    close_after: Duration,
    /// When the current run of refusals began, and the last refusal. A second without a
    /// refusal ends the run.
    refusing: Option<(Instant, Instant)>,
}

impl RateLimit {
    /// The limit for one connection.
    pub fn new(limits: &Limits, now: Instant) -> RateLimit {
        RateLimit {
            bucket: TokenBucket::new(limits.messages_per_second, limits.message_burst, now),
            close_after: limits.rate_limit_close_after,
            refusing: None,
        }
    }

    /// Counts one message.
    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.bucket.take(now) {
            return Verdict::Allow;
        }
        let began = match self.refusing {
            Some((began, last)) if now.saturating_duration_since(last) < Duration::from_secs(1) => began,
            _ => now,
        };
        self.refusing = Some((began, now));
        if now.saturating_duration_since(began) >= self.close_after {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

/// The cost of a view: its output columns, `GROUP BY` keys and sources, plus every node of every
/// expression it evaluates per event (`WHERE`, keys, aggregate arguments, `HAVING`). The work
/// of folding one event grows with it.
pub fn view_cost(def: &ViewDef) -> usize {
    let columns: usize = def
        .columns
        .iter()
        .map(|c| {
            1 + match &c.kind {
                ColumnKind::Key(_) | ColumnKind::Agg(_, None) => 0,
                ColumnKind::Agg(_, Some(e)) | ColumnKind::Scalar(e) => expr_nodes(e),
            }
        })
        .sum();
    let keys: usize = def.keys.iter().map(|k| 1 + expr_nodes(k)).sum();
    columns
        + keys
        + def.sources.len()
        + def.filter.as_ref().map_or(0, expr_nodes)
        + def.having.as_ref().map_or(0, expr_nodes)
}

/// Nodes in an expression tree.
pub fn expr_nodes(e: &Expr) -> usize {
    1 + match e {
        Expr::Lit(_) | Expr::Field(_) => 0,
        Expr::Not(a) | Expr::Neg(a) | Expr::IsNull(a, _) => expr_nodes(a),
        Expr::Bin(_, a, b) | Expr::Like(a, b, _) => expr_nodes(a) + expr_nodes(b),
        Expr::Between(a, b, c, _) => expr_nodes(a) + expr_nodes(b) + expr_nodes(c),
        Expr::InList(a, list, _) => expr_nodes(a) + list.iter().map(expr_nodes).sum::<usize>(),
        Expr::Case { operand, whens, otherwise } => {
            operand.as_deref().map_or(0, expr_nodes)
                + whens.iter().map(|(w, t)| expr_nodes(w) + expr_nodes(t)).sum::<usize>()
                + otherwise.as_deref().map_or(0, expr_nodes)
        }
        Expr::Call(_, args) => args.iter().map(expr_nodes).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_bursts_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5.0, start);
        let taken = (0..20).filter(|_| bucket.take(start)).count();
        assert_eq!(taken, 5, "the burst");
        assert!(!bucket.take(start + Duration::from_millis(50)), "half a token");
        assert!(bucket.take(start + Duration::from_millis(100)), "one token after 0.1 s");
        let later = start + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| bucket.take(later)).count(), 5, "never more than the burst");
    }

    #[test]
    fn sustained_refusal_closes() {
        let limits = Limits {
            messages_per_second: 10.0,
            message_burst: 10.0,
            rate_limit_close_after: Duration::from_secs(2),
            ..Limits::default()
        };
        fn check(limit: &mut RateLimit, at: Instant, expected: Verdict) {
            assert_eq!(limit.check(at), expected, "at {at:?}");
        }
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut limit = RateLimit::new(&limits, t0);
        for _ in 0..10 {
            check(&mut limit, t0, Verdict::Allow);
        }
        check(&mut limit, t0, Verdict::Refuse);
        // Flooding: refused every 10 ms but for the tokens that drip in; closed after 2 s.
        let mut verdicts = vec![];
        for i in 1..=250 {
            verdicts.push(limit.check(ms(i * 10)));
        }
        assert!(verdicts[..190].iter().all(|v| *v != Verdict::Close));
        assert!(verdicts[..190].contains(&Verdict::Allow) && verdicts[..190].contains(&Verdict::Refuse));
        assert_eq!(verdicts.last(), Some(&Verdict::Close));

        // A pause of a second ends a run of refusals.
        let mut limit = RateLimit::new(&limits, t0);
        for _ in 0..11 {
            limit.check(t0);
        }
        check(&mut limit, ms(1900), Verdict::Allow);
        for _ in 0..30 {
            limit.check(ms(1900));
        }
        check(&mut limit, ms(3000), Verdict::Allow);
    }

    #[test]
    fn view_cost_counts_columns_keys_and_expressions() {
        fn check(sql: &str, expected: usize) {
            let def = crate::sql::parse_view(sql).expect("valid view");
            assert_eq!(view_cost(&def), expected, "{sql}");
        }
        // 1 source + 1 key (+1 node) + 2 columns (key; COUNT(*)).
        check("CREATE VIEW v AS SELECT customer, COUNT(*) AS n FROM orders GROUP BY customer", 5);
        // + SUM(total): 1 + 1; + WHERE type = 'x': 3 nodes.
        check(
            "CREATE VIEW v AS SELECT customer, COUNT(*) AS n, SUM(total) AS s FROM orders \
             WHERE type = 'x' GROUP BY customer",
            10,
        );
        let wide: Vec<String> = (0..50).map(|i| format!("SUM(a{i} + b{i} * c{i}) AS s{i}")).collect();
        let sql = format!("CREATE VIEW v AS SELECT k, {} FROM orders GROUP BY k", wide.join(", "));
        let def = crate::sql::parse_view(&sql).expect("valid view");
        assert!(view_cost(&def) > 300, "{}", view_cost(&def));
    }
}
