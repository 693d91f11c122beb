//! The registrations of each view, found for a changed row without testing them all: one whose
//! condition requires a column to equal a string (`customer = 'Ada' AND …`, its own `where` or
//! its token's row filter) is filed under that column and value, and only a row with that value
//! is tested against it; the others are tested on every row of their view.
//!
//! ```
//! use lucarne_server::expr::{BinOp, Expr, Field};
//! use lucarne_server::push::index::equality;
//! use serde_json::json;
//!
//! let column = |name: &str| Box::new(Expr::Field(Field::Path(vec![name.into()])));
//! let ada = Expr::Bin(BinOp::Eq, column("customer"), Box::new(Expr::Lit(json!("Ada"))));
//! let big = Expr::Bin(BinOp::Gt, column("total"), Box::new(Expr::Lit(json!(100))));
//! let both = Expr::Bin(BinOp::And, Box::new(big.clone()), Box::new(ada));
//! assert_eq!(equality(&both), Some(("customer".to_owned(), "Ada".to_owned())));
//! assert_eq!(equality(&big), None); // tested on every row
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use lucarne_protocol::Columns;
use serde_json::Value;

use super::Registration;
use crate::expr::{BinOp, Expr, Field};

/// A column and the string it must equal, if the condition requires one (a conjunct
/// `column = 'text'`, either way round).
pub fn equality(condition: &Expr) -> Option<(String, String)> {
    match condition {
        Expr::Bin(BinOp::And, a, b) => equality(a).or_else(|| equality(b)),
        Expr::Bin(BinOp::Eq, a, b) => match (a.as_ref(), b.as_ref()) {
            (Expr::Field(Field::Path(path)), Expr::Lit(Value::String(text)))
            | (Expr::Lit(Value::String(text)), Expr::Field(Field::Path(path)))
                if path.len() == 1 =>
            {
                Some((path[0].clone(), text.clone()))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The registrations of one view.
#[derive(Debug, Default)]
pub(crate) struct ViewInterests {
    /// Tested on every row.
    every: Vec<Arc<Registration>>,
    /// By column, then by the string it must equal.
    equal: HashMap<String, HashMap<String, Vec<Arc<Registration>>>>,
}

impl ViewInterests {
    pub(crate) fn insert(&mut self, registration: Arc<Registration>) {
        match registration.query.filter.as_ref().and_then(equality) {
            Some((column, text)) => {
                self.equal.entry(column).or_default().entry(text).or_default().push(registration);
            }
            None => self.every.push(registration),
        }
    }

    pub(crate) fn remove(&mut self, id: &str) {
        self.every.retain(|r| r.id != id);
        for values in self.equal.values_mut() {
            for registrations in values.values_mut() {
                registrations.retain(|r| r.id != id);
            }
            values.retain(|_, registrations| !registrations.is_empty());
        }
        self.equal.retain(|_, values| !values.is_empty());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.every.is_empty() && self.equal.is_empty()
    }

    /// The registrations a row may concern (each still to be tested against it).
    pub(crate) fn candidates<'a>(
        &'a self,
        row: &'a Columns,
    ) -> impl Iterator<Item = &'a Arc<Registration>> + 'a {
        let filed = self.equal.iter().flat_map(move |(column, values)| match row.get(column) {
            Some(Value::String(text)) => values.get(text).map_or(&[][..], Vec::as_slice),
            _ => &[][..],
        });
        self.every.iter().chain(filed)
    }
}
