//! Scalar expressions over events: compiled from SQL once, evaluated per event.
//!
//! Semantics follow SQL where it matters for views: `NULL` propagates through arithmetic and
//! comparisons, `AND`/`OR` use three-valued logic, and a `WHERE` keeps an event only when its
//! condition is true. Integers stay integers until a non-integer or an overflow appears.

use serde_json::{Number, Value};
use std::cmp::Ordering;

/// A field of an event an expression can read.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// `type`: the event's type (the command name by default).
    Type,
    /// `stream`: the stream the event was appended to.
    Stream,
    /// `position`: the event's log position.
    Position,
    /// `ts`: milliseconds since the Unix epoch when the event was appended.
    Ts,
    /// A payload field, or a path into nested payload objects (`address.city`).
    Path(Vec<String>),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `||`
    Concat,
}

/// Scalar functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `LOWER(s)`
    Lower,
    /// `UPPER(s)`
    Upper,
    /// `LENGTH(s)` in characters.
    Length,
    /// `ABS(n)`
    Abs,
    /// `COALESCE(a, b, …)`: the first non-null argument.
    Coalesce,
}

/// A compiled scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Lit(Value),
    /// An event field.
    Field(Field),
    /// `NOT e`
    Not(Box<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// `a op b`
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `e IS [NOT] NULL`
    IsNull(Box<Expr>, bool),
    /// `e [NOT] IN (list)`
    InList(Box<Expr>, Vec<Expr>, bool),
    /// `e [NOT] BETWEEN low AND high`
    Between(Box<Expr>, Box<Expr>, Box<Expr>, bool),
    /// `e [NOT] LIKE pattern` with `%` and `_`.
    Like(Box<Expr>, Box<Expr>, bool),
    /// `CASE [operand] WHEN … THEN … [ELSE …] END`
    Case {
        /// The simple-case operand, if any.
        operand: Option<Box<Expr>>,
        /// `(when, then)` pairs.
        whens: Vec<(Expr, Expr)>,
        /// The `ELSE` result.
        otherwise: Option<Box<Expr>>,
    },
    /// A scalar function call.
    Call(Func, Vec<Expr>),
}

/// What an expression is evaluated against.
pub trait Record {
    /// The value of a field, `Null` when absent.
    fn field(&self, field: &Field) -> Value;
}

impl Expr {
    /// Evaluates the expression.
    pub fn eval(&self, rec: &dyn Record) -> Value {
        match self {
            Expr::Lit(v) => v.clone(),
            Expr::Field(f) => rec.field(f),
            Expr::Not(e) => match truth(&e.eval(rec)) {
                Some(b) => Value::Bool(!b),
                None => Value::Null,
            },
            Expr::Neg(e) => arith(BinOp::Sub, &Value::from(0), &e.eval(rec)),
            Expr::Bin(BinOp::And, a, b) => {
                let (a, b) = (truth(&a.eval(rec)), truth(&b.eval(rec)));
                match (a, b) {
                    (Some(false), _) | (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                }
            }
            Expr::Bin(BinOp::Or, a, b) => {
                let (a, b) = (truth(&a.eval(rec)), truth(&b.eval(rec)));
                match (a, b) {
                    (Some(true), _) | (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                }
            }
            Expr::Bin(op, a, b) => binary(*op, &a.eval(rec), &b.eval(rec)),
            Expr::IsNull(e, negated) => Value::Bool(e.eval(rec).is_null() != *negated),
            Expr::InList(e, list, negated) => {
                let v = e.eval(rec);
                if v.is_null() {
                    return Value::Null;
                }
                let mut saw_null = false;
                for item in list {
                    let item = item.eval(rec);
                    match compare(&v, &item) {
                        Some(Ordering::Equal) => return Value::Bool(!negated),
                        None if item.is_null() => saw_null = true,
                        _ => {}
                    }
                }
                if saw_null { Value::Null } else { Value::Bool(*negated) }
            }
            Expr::Between(e, low, high, negated) => {
                let v = e.eval(rec);
                let ge = binary(BinOp::Ge, &v, &low.eval(rec));
                let le = binary(BinOp::Le, &v, &high.eval(rec));
                let both = match (truth(&ge), truth(&le)) {
                    (Some(a), Some(b)) => Some(a && b),
                    (Some(false), None) | (None, Some(false)) => Some(false),
                    _ => None,
                };
                match both {
                    Some(b) => Value::Bool(b != *negated),
                    None => Value::Null,
                }
            }
            Expr::Like(e, pattern, negated) => match (e.eval(rec), pattern.eval(rec)) {
                (Value::String(s), Value::String(p)) => Value::Bool(like(&s, &p) != *negated),
                _ => Value::Null,
            },
            Expr::Case { operand, whens, otherwise } => {
                let operand = operand.as_ref().map(|o| o.eval(rec));
                for (when, then) in whens {
                    let hit = match &operand {
                        Some(o) => compare(o, &when.eval(rec)) == Some(Ordering::Equal),
                        None => truth(&when.eval(rec)) == Some(true),
                    };
                    if hit {
                        return then.eval(rec);
                    }
                }
                otherwise.as_ref().map_or(Value::Null, |o| o.eval(rec))
            }
            Expr::Call(func, args) => call(*func, args, rec),
        }
    }

    /// Adds the first segment of every payload path the expression reads to `out`.
    pub fn payload_fields(&self, out: &mut std::collections::BTreeSet<String>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Field(Field::Path(path)) => {
                if let Some(first) = path.first() {
                    out.insert(first.clone());
                }
            }
            Expr::Field(_) => {}
            Expr::Not(e) | Expr::Neg(e) | Expr::IsNull(e, _) => e.payload_fields(out),
            Expr::Bin(_, a, b) | Expr::Like(a, b, _) => {
                a.payload_fields(out);
                b.payload_fields(out);
            }
            Expr::InList(e, list, _) => {
                e.payload_fields(out);
                list.iter().for_each(|x| x.payload_fields(out));
            }
            Expr::Between(a, b, c, _) => [a, b, c].iter().for_each(|x| x.payload_fields(out)),
            Expr::Case { operand, whens, otherwise } => {
                operand.iter().chain(otherwise.iter()).for_each(|x| x.payload_fields(out));
                for (w, t) in whens {
                    w.payload_fields(out);
                    t.payload_fields(out);
                }
            }
            Expr::Call(_, args) => args.iter().for_each(|x| x.payload_fields(out)),
        }
    }

    /// True when the expression evaluates to SQL true (the `WHERE` rule).
    pub fn holds(&self, rec: &dyn Record) -> bool {
        truth(&self.eval(rec)) == Some(true)
    }
}

/// SQL truth of a value: booleans as they are, numbers non-zero, `NULL` unknown.
pub fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::Null => None,
        _ => Some(false),
    }
}

/// Compares two values of the same kind; `None` for `NULL` or mixed kinds.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    use BinOp::*;
    match op {
        Add | Sub | Mul | Div | Rem => arith(op, a, b),
        Concat => match (text(a), text(b)) {
            (Some(a), Some(b)) => Value::String(a + &b),
            _ => Value::Null,
        },
        Eq | Ne | Lt | Le | Gt | Ge => {
            if a.is_null() || b.is_null() {
                return Value::Null;
            }
            let Some(ord) = compare(a, b) else {
                // Different kinds are never equal.
                return match op {
                    Eq => Value::Bool(false),
                    Ne => Value::Bool(true),
                    _ => Value::Null,
                };
            };
            Value::Bool(match op {
                Eq => ord == Ordering::Equal,
                Ne => ord != Ordering::Equal,
                Lt => ord == Ordering::Less,
                Le => ord != Ordering::Greater,
                Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            })
        }
        And | Or => Value::Null, // handled with short-circuit logic in `eval`
    }
}

/// Arithmetic with SQL's integer rules: integer in, integer out (division truncates);
/// any float makes a float; overflow falls back to float; division by zero is `NULL`.
pub fn arith(op: BinOp, a: &Value, b: &Value) -> Value {
    let (Value::Number(x), Value::Number(y)) = (a, b) else {
        return Value::Null;
    };
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        let r = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div if y == 0 => return Value::Null,
            BinOp::Div => x.checked_div(y),
            BinOp::Rem if y == 0 => return Value::Null,
            BinOp::Rem => x.checked_rem(y),
            _ => return Value::Null,
        };
        if let Some(r) = r {
            return Value::from(r);
        }
    }
    let (Some(x), Some(y)) = (x.as_f64(), y.as_f64()) else {
        return Value::Null;
    };
    let r = match op {
        // Sums as decimals (money): 0.1 + 0.2 is 0.3, not 0.30000000000000004.
        BinOp::Add => decimal_sum(x, y).unwrap_or(x + y),
        BinOp::Sub => decimal_sum(x, -y).unwrap_or(x - y),
        BinOp::Mul => x * y,
        BinOp::Div if y == 0.0 => return Value::Null,
        BinOp::Div => x / y,
        BinOp::Rem if y == 0.0 => return Value::Null,
        BinOp::Rem => x % y,
        _ => return Value::Null,
    };
    Number::from_f64(r).map_or(Value::Null, Value::Number)
}

/// `x + y` computed on the decimals the two numbers are written as (their shortest round-trip
/// forms: `0.1`, `17893.36`), then rounded once to the nearest `f64`; `None` when either is not
/// finite or the exact sum does not fit 38 digits (the caller adds them as binary numbers).
pub(crate) fn decimal_sum(x: f64, y: f64) -> Option<f64> {
    // Whole numbers up to 2^53 are exact in binary, and so is their sum up to 2^53.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if x.fract() == 0.0 && y.fract() == 0.0 && x.abs() <= EXACT && y.abs() <= EXACT && (x + y).abs() <= EXACT
    {
        return Some(x + y);
    }
    // Amounts with a few decimals (money): the coefficients added as integers, without
    // writing either number out.
    if let (Some((a, ka)), Some((b, kb))) = (few_decimals(x), few_decimals(y)) {
        let k = ka.max(kb);
        let scaled = |m: i64, from: u32| m.checked_mul(10i64.pow(k - from));
        let sum = scaled(a, ka).zip(scaled(b, kb)).and_then(|(a, b)| a.checked_add(b));
        if let Some(sum) = sum.filter(|s| s.unsigned_abs() < 1 << 53) {
            // Both exact in binary: one division, rounded once, as reading the decimal would.
            #[expect(clippy::cast_precision_loss, reason = "below 2^53: exact")]
            return Some(sum as f64 / POWERS_OF_TEN[k as usize]);
        }
    }
    written_decimal_sum(x, y)
}

/// Powers of ten exact in binary, as far as [`few_decimals`] looks.
const POWERS_OF_TEN: [f64; 13] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];

/// `x` as `m / 10^k` with the fewest decimals `k` (at most 12) and `|m| < 2^50` — the decimal it
/// is written as (its shortest round-trip form) where there is one: the nearest integer to
/// `x·10^k` is then the only one within half a step of it, and dividing it by `10^k` (both exact)
/// gives back `x` only from `k` on.
fn few_decimals(x: f64) -> Option<(i64, u32)> {
    const LIMIT: f64 = (1u64 << 50) as f64;
    for (k, power) in (0u32..).zip(POWERS_OF_TEN) {
        let m = (x * power).round();
        if m.abs() >= LIMIT {
            return None;
        }
        if m / power == x {
            #[expect(clippy::cast_possible_truncation, reason = "a whole number below 2^50")]
            return Some((m as i64, k));
        }
    }
    None
}

/// [`decimal_sum`] on the numbers' written forms (any exponent).
fn written_decimal_sum(x: f64, y: f64) -> Option<f64> {
    let (a, ea) = decimal(x)?;
    let (b, eb) = decimal(y)?;
    let exponent = ea.min(eb);
    let scale = |m: i128, e: i32| -> Option<i128> {
        m.checked_mul(10i128.checked_pow(u32::try_from(e - exponent).ok()?)?)
    };
    let sum = scale(a, ea)?.checked_add(scale(b, eb)?)?;
    format!("{sum}e{exponent}").parse().ok()
}

/// A finite `f64` as the decimal it is written as: `(coefficient, exponent)`, its value
/// `coefficient × 10^exponent` (`0.1` → `(1, -1)`).
fn decimal(x: f64) -> Option<(i128, i32)> {
    if !x.is_finite() {
        return None;
    }
    // The shortest form that reads back as `x`, in scientific notation: `1.7893e4`.
    let written = format!("{x:e}");
    let (mantissa, exponent) = written.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let coefficient: i128 = format!("{whole}{fraction}").parse().ok()?;
    Some((coefficient, exponent - i32::try_from(fraction.len()).ok()?))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn call(func: Func, args: &[Expr], rec: &dyn Record) -> Value {
    let first = || args.first().map_or(Value::Null, |a| a.eval(rec));
    match func {
        Func::Lower => match first() {
            Value::String(s) => Value::String(s.to_lowercase()),
            _ => Value::Null,
        },
        Func::Upper => match first() {
            Value::String(s) => Value::String(s.to_uppercase()),
            _ => Value::Null,
        },
        Func::Length => match first() {
            Value::String(s) => Value::from(s.chars().count() as u64),
            _ => Value::Null,
        },
        Func::Abs => match first() {
            Value::Number(n) if n.as_i64().is_some_and(|i| i < 0) => {
                arith(BinOp::Sub, &Value::from(0), &Value::Number(n))
            }
            Value::Number(n) => match n.as_f64() {
                Some(f) if f < 0.0 => Number::from_f64(-f).map_or(Value::Null, Value::Number),
                _ => Value::Number(n),
            },
            _ => Value::Null,
        },
        Func::Coalesce => args.iter().map(|a| a.eval(rec)).find(|v| !v.is_null()).unwrap_or(Value::Null),
    }
}

/// SQL `LIKE`: `%` matches any run of characters, `_` exactly one; case-sensitive.
fn like(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Iterative matcher with backtracking to the last `%`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < p.len() && (p[j] == '_' || p[j] == s[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Payload(Value);
    impl Record for Payload {
        fn field(&self, field: &Field) -> Value {
            match field {
                Field::Type => json!("t"),
                Field::Path(path) => {
                    let mut v = &self.0;
                    for p in path {
                        v = match v.get(p) {
                            Some(x) => x,
                            None => return Value::Null,
                        };
                    }
                    v.clone()
                }
                _ => Value::Null,
            }
        }
    }

    fn lit(v: Value) -> Box<Expr> {
        Box::new(Expr::Lit(v))
    }

    #[test]
    fn arithmetic_keeps_integers_and_handles_edges() {
        fn check(op: BinOp, a: Value, b: Value, expected: Value) {
            assert_eq!(arith(op, &a, &b), expected, "{a} {op:?} {b}");
        }
        check(BinOp::Add, json!(2), json!(3), json!(5));
        check(BinOp::Add, json!(2), json!(0.5), json!(2.5));
        check(BinOp::Div, json!(7), json!(2), json!(3));
        check(BinOp::Div, json!(7), json!(0), Value::Null);
        check(BinOp::Mul, json!(i64::MAX), json!(2), json!(i64::MAX as f64 * 2.0));
        check(BinOp::Add, json!(1), Value::Null, Value::Null);
        check(BinOp::Add, json!("1"), json!(1), Value::Null);
        // Decimals add as decimals.
        check(BinOp::Add, json!(0.1), json!(0.2), json!(0.3));
        check(BinOp::Sub, json!(0.3), json!(0.1), json!(0.2));
        check(BinOp::Add, json!(17893.35), json!(0.01), json!(17893.36));
        check(BinOp::Add, json!(-0.1), json!(0.1), json!(0.0));
        check(BinOp::Add, json!(1e300), json!(1e-300), json!(1e300 + 1e-300));
        check(BinOp::Add, json!(2), json!(0.1), json!(2.1));
    }

    proptest::proptest! {
        /// Sums of amounts with few decimals, added as integers, are the sums of their written
        /// forms: a few decimals, whole numbers, negative, tiny and huge numbers, any `f64`.
        #[test]
        fn sums_of_few_decimals_are_the_written_sums(
            a in (-1i64 << 50..1 << 50, 0u32..15),
            b in (-1i64 << 50..1 << 50, 0u32..15),
            bits in proptest::prelude::any::<u64>(),
        ) {
            #[expect(clippy::cast_precision_loss, reason = "a test of every kind of number")]
            let decimal = |(m, k): (i64, u32)| m as f64 / 10f64.powi(k.cast_signed());
            let any = f64::from_bits(bits);
            let (x, y) = (decimal(a), decimal(b));
            for (x, y) in [(x, y), (x, any), (any, y), (x / 1e7, y), (x * 1e9, y)] {
                let sum = decimal_sum(x, y);
                let written = written_decimal_sum(x, y);
                proptest::prop_assert!(
                    sum.map(f64::to_bits) == written.map(f64::to_bits),
                    "{x} + {y}: {sum:?} against {written:?}"
                );
            }
        }

        /// Amounts with cents summed in any number and order give the exact sum of the cents.
        #[test]
        fn sums_of_amounts_are_exact(cents in proptest::collection::vec(-100_000_000i64..100_000_000, 1..200)) {
            #[expect(clippy::cast_precision_loss, reason = "amounts far below 2^53 cents")]
            let amount = |c: i64| json!(c as f64 / 100.0);
            let sum = cents.iter().fold(json!(0), |sum, c| arith(BinOp::Add, &sum, &amount(*c)));
            let exact = amount(cents.iter().sum());
            proptest::prop_assert_eq!(sum, exact);
        }
    }

    #[test]
    fn three_valued_logic() {
        fn check(e: Expr, expected: Value) {
            assert_eq!(e.eval(&Payload(json!({}))), expected, "{e:?}");
        }
        let null = || lit(Value::Null);
        check(Expr::Bin(BinOp::And, lit(json!(false)), null()), json!(false));
        check(Expr::Bin(BinOp::And, lit(json!(true)), null()), Value::Null);
        check(Expr::Bin(BinOp::Or, lit(json!(true)), null()), json!(true));
        check(Expr::Bin(BinOp::Or, lit(json!(false)), null()), Value::Null);
        check(Expr::Not(null()), Value::Null);
        check(Expr::Bin(BinOp::Eq, lit(json!(1)), lit(json!(1.0))), json!(true));
        check(Expr::Bin(BinOp::Eq, lit(json!("1")), lit(json!(1))), json!(false));
        check(Expr::Bin(BinOp::Lt, lit(json!("a")), lit(json!("b"))), json!(true));
        check(
            Expr::InList(lit(json!(2)), vec![Expr::Lit(json!(1)), Expr::Lit(Value::Null)], false),
            Value::Null,
        );
        check(
            Expr::InList(lit(json!(1)), vec![Expr::Lit(json!(1)), Expr::Lit(Value::Null)], false),
            json!(true),
        );
        check(Expr::Between(lit(json!(5)), lit(json!(1)), lit(json!(9)), false), json!(true));
        check(Expr::Between(lit(json!(5)), lit(json!(6)), null(), false), json!(false));
    }

    #[test]
    fn like_patterns() {
        fn check(s: &str, p: &str, expected: bool) {
            assert_eq!(like(s, p), expected, "{s:?} LIKE {p:?}");
        }
        check("order-42", "order-%", true);
        check("order-42", "%42", true);
        check("order-42", "%-4_", true);
        check("order-42", "order", false);
        check("", "%", true);
        check("طلب", "ط%", true);
        check("abc", "a%c%d", false);
    }

    #[test]
    fn fields_case_and_functions() {
        let rec = Payload(json!({"a": {"b": 4}, "s": "Hi"}));
        let path = Expr::Field(Field::Path(vec!["a".into(), "b".into()]));
        assert_eq!(path.eval(&rec), json!(4));
        let case = Expr::Case {
            operand: Some(Box::new(Expr::Field(Field::Type))),
            whens: vec![
                (Expr::Lit(json!("x")), Expr::Lit(json!(1))),
                (Expr::Lit(json!("t")), Expr::Lit(json!(2))),
            ],
            otherwise: None,
        };
        assert_eq!(case.eval(&rec), json!(2));
        let s = Expr::Field(Field::Path(vec!["s".into()]));
        assert_eq!(Expr::Call(Func::Upper, vec![s.clone()]).eval(&rec), json!("HI"));
        assert_eq!(Expr::Call(Func::Length, vec![s]).eval(&rec), json!(2));
        assert_eq!(Expr::Call(Func::Abs, vec![Expr::Lit(json!(-3))]).eval(&rec), json!(3));
        assert_eq!(
            Expr::Call(Func::Coalesce, vec![Expr::Lit(Value::Null), Expr::Lit(json!(7))]).eval(&rec),
            json!(7)
        );
    }
}
