//! View definitions in SQL: `CREATE VIEW name AS SELECT … FROM stream [WHERE …] [GROUP BY …]`,
//! parsed with `sqlparser` and compiled to a [`ViewDef`] the projector folds events into.
//!
//! Anything outside the supported subset is refused with a [`SqlError`] naming the construct
//! and its line and column.

use serde_json::Value;
use sqlparser::ast::{
    self, BinaryOperator, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, SelectItem, SetExpr,
    Spanned, Statement, TableFactor, UnaryOperator,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Span, Token, Tokenizer};

use crate::expr::{BinOp, Expr, Field, Func};

/// A SQL error with the position (1-based line and column) of the offending construct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line}, column {column}")]
pub struct SqlError {
    /// What is wrong.
    pub message: String,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// Invalid SQL, or valid SQL over a budget.
    pub kind: SqlErrorKind,
}

/// Why a SQL text is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqlErrorKind {
    /// Not SQL, or outside the supported subset (`invalid_sql` on the wire).
    #[default]
    Invalid,
    /// Within the grammar but over a budget: nesting, size or terms (`too_complex`).
    TooComplex,
}

impl SqlError {
    /// An invalid-SQL error at a position.
    pub fn new(message: impl Into<String>, line: u64, column: u64) -> Self {
        SqlError { message: message.into(), line, column, kind: SqlErrorKind::Invalid }
    }

    /// The protocol code for this error.
    pub fn code(&self) -> lucarne_protocol::ErrorCode {
        match self.kind {
            SqlErrorKind::Invalid => lucarne_protocol::ErrorCode::InvalidSql,
            SqlErrorKind::TooComplex => lucarne_protocol::ErrorCode::TooComplex,
        }
    }

    /// Gives an error without a position (some statements carry no span) the statement's start.
    fn or_at(mut self, start: Option<Location>) -> Self {
        if let (0, Some(start)) = (self.line, start) {
            self.line = start.line;
            self.column = start.column;
        }
        self
    }

    fn at(span: Span, message: impl Into<String>) -> Self {
        SqlError::new(message, span.start.line, span.start.column)
    }
}

/// Aggregates a grouped view maintains incrementally (O(1) per event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// `COUNT(*)` or `COUNT(e)` (non-null values).
    Count,
    /// `SUM(e)` of non-null numbers.
    Sum,
    /// `MIN(e)`
    Min,
    /// `MAX(e)`
    Max,
    /// `AVG(e)`
    Avg,
    /// `FIRST(e)`: the first non-null value.
    First,
    /// `LAST(e)`: the latest non-null value.
    Last,
}

/// How one output column is computed.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// The value of the `GROUP BY` key with this index.
    Key(usize),
    /// An aggregate over an argument (`None` for `COUNT(*)`).
    Agg(Agg, Option<Expr>),
    /// A feed view's per-event expression.
    Scalar(Expr),
}

/// One output column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name (the alias, the field name, or the expression's text).
    pub name: String,
    /// How it's computed.
    pub kind: ColumnKind,
    /// Kept for `HAVING` only; not part of the row clients see.
    pub hidden: bool,
}

/// The shape of a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One row per `GROUP BY` key (one row in all when there are aggregates and no `GROUP BY`).
    Grouped,
    /// No aggregates and no `GROUP BY`: one row per matching event, keyed by log position,
    /// keeping the newest [`FEED_RETENTION`] rows.
    Feed,
}

/// How many rows a feed view keeps.
pub const FEED_RETENTION: u64 = 1000;

/// A compiled view definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewDef {
    /// The view's name.
    pub name: String,
    /// The SQL it was compiled from, in canonical form (one line, keywords upper-case, without
    /// `OR REPLACE`).
    pub sql: String,
    /// Written `CREATE OR REPLACE VIEW`: may replace an existing view of that name.
    pub replace: bool,
    /// The streams it reads (`FROM a` or `FROM a, b`: the events of every listed stream fold
    /// into the same rows, so the streams should share the `GROUP BY` key).
    pub sources: Vec<String>,
    /// The `WHERE` condition.
    pub filter: Option<Expr>,
    /// The `GROUP BY` keys.
    pub keys: Vec<Expr>,
    /// The output columns (and hidden ones `HAVING` needs).
    pub columns: Vec<Column>,
    /// The `HAVING` condition over the columns: a group whose row fails it is not in the view.
    pub having: Option<Expr>,
    /// Grouped or feed.
    pub shape: Shape,
}

impl ViewDef {
    /// The payload fields the view reads from its events (first path segments).
    pub fn payload_fields(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for e in self.filter.iter().chain(&self.keys) {
            e.payload_fields(&mut out);
        }
        for c in &self.columns {
            match &c.kind {
                ColumnKind::Agg(_, Some(e)) | ColumnKind::Scalar(e) => e.payload_fields(&mut out),
                _ => {}
            }
        }
        out
    }
}

/// Where a word first appears in a SQL text (after `after`, a keyword, when given), for errors
/// found after compiling. `(0, 0)` when it can't be found.
pub fn position_of(sql: &str, word: &str, after: Option<&str>) -> (u64, u64) {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return (0, 0);
    };
    let mut armed = after.is_none();
    for t in tokens {
        if let Token::Word(w) = &t.token {
            if armed && w.value == word {
                return (t.span.start.line, t.span.start.column);
            }
            if after.is_some_and(|a| w.value.eq_ignore_ascii_case(a)) {
                armed = true;
            }
        }
    }
    (0, 0)
}

/// Parses every `CREATE VIEW` statement of a SQL text (such as a `views.sql` file); its
/// `CREATE SEARCH INDEX` statements are left to [`parse_search_indexes`](crate::search::parse_search_indexes).
pub fn parse_views(sql: &str) -> Result<Vec<ViewDef>, SqlError> {
    crate::budget::check_depth(sql)?;
    let (masked, _) = search_statements(sql);
    let sql = masked.as_str();
    let statements = Parser::parse_sql(&GenericDialect {}, sql).map_err(parser_error)?;
    let starts = statement_starts(sql);
    let mut views: Vec<ViewDef> = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        let view = compile(statement).map_err(|e| e.or_at(starts.get(i).copied()))?;
        if views.iter().any(|v| v.name == view.name) {
            return Err(SqlError::at(statement.span(), format!("view {:?} is defined twice", view.name)));
        }
        views.push(view);
    }
    Ok(views)
}

/// Parses exactly one `CREATE VIEW` statement.
pub fn parse_view(sql: &str) -> Result<ViewDef, SqlError> {
    crate::budget::check_depth(sql)?;
    let statements = Parser::parse_sql(&GenericDialect {}, sql).map_err(parser_error)?;
    match statements.as_slice() {
        [one] => compile(one).map_err(|e| e.or_at(statement_starts(sql).first().copied())),
        [] => Err(SqlError::new("expected a CREATE VIEW statement", 1, 1)),
        [_, second, ..] => Err(SqlError::at(second.span(), "expected a single statement")),
    }
}

/// A `CREATE SEARCH INDEX …` statement of a views file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchStatement {
    /// Its text, without the `;` that ends it.
    pub text: String,
    /// Where it starts (1-based line and column, in characters).
    pub line: u64,
    /// See `line`.
    pub column: u64,
}

/// The `CREATE SEARCH INDEX` statements of a views file, and the file with each of their
/// characters blanked (line breaks kept), so that its views parse at their own positions. A text
/// that does not tokenize is returned as it is (its views' parse says what is wrong).
pub fn search_statements(sql: &str) -> (String, Vec<SearchStatement>) {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return (sql.to_owned(), Vec::new());
    };
    // Byte offset of a 1-based line and column (in characters).
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(sql.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let offset = |at: Location| {
        let start = line_starts.get(usize::try_from(at.line).unwrap_or(0).saturating_sub(1)).copied();
        let start = start.unwrap_or(sql.len());
        let column = usize::try_from(at.column).unwrap_or(0).saturating_sub(1);
        sql[start..].char_indices().nth(column).map_or(sql.len(), |(i, _)| start + i)
    };
    let mut found = Vec::new();
    // The statement being read: where it starts and its first words.
    let mut statement: Option<(Location, Vec<String>)> = None;
    let close = |start: Location, words: &[String], end: usize, found: &mut Vec<(Location, usize, usize)>| {
        let search = ["CREATE", "SEARCH", "INDEX"];
        if words.len() == 3 && words.iter().zip(search).all(|(w, k)| w.eq_ignore_ascii_case(k)) {
            found.push((start, offset(start), end));
        }
    };
    for t in &tokens {
        match &t.token {
            Token::Whitespace(_) => {}
            Token::SemiColon => {
                if let Some((start, words)) = statement.take() {
                    close(start, &words, offset(t.span.start), &mut found);
                }
            }
            token => {
                let (_, words) = statement.get_or_insert_with(|| (t.span.start, Vec::new()));
                if words.len() < 3 {
                    words.push(match token {
                        Token::Word(w) => w.value.clone(),
                        _ => String::new(),
                    });
                }
            }
        }
    }
    if let Some((start, words)) = statement.take() {
        close(start, &words, sql.len(), &mut found);
    }
    let mut masked = sql.to_owned();
    let mut statements = Vec::new();
    for (at, start, end) in found.into_iter().rev() {
        let text = &sql[start..end];
        // Through the `;`, if one ends it.
        let through = if sql[end..].starts_with(';') { end + 1 } else { end };
        let blank: String = sql[start..through].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
        masked.replace_range(start..through, &blank);
        statements.push(SearchStatement {
            text: text.trim_end().to_owned(),
            line: at.line,
            column: at.column,
        });
    }
    statements.reverse();
    (masked, statements)
}

/// Where each statement of a text starts: its first token, and the first after each `;`.
fn statement_starts(sql: &str) -> Vec<Location> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Vec::new();
    };
    let mut starts = Vec::new();
    let mut at_start = true;
    for t in tokens {
        match t.token {
            Token::Whitespace(_) => {}
            Token::SemiColon => at_start = true,
            _ if at_start => {
                starts.push(t.span.start);
                at_start = false;
            }
            _ => {}
        }
    }
    starts
}

/// A parser error with its position.
pub(crate) fn parser_error(e: sqlparser::parser::ParserError) -> SqlError {
    let text = e.to_string();
    // sqlparser reports "… at Line: L, Column: C".
    let number_after = |tag: &str| {
        text.find(tag).and_then(|i| {
            text[i + tag.len()..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
        })
    };
    let (line, column) = (number_after("Line: ").unwrap_or(0), number_after("Column: ").unwrap_or(0));
    let message = match text.find(" at Line: ") {
        Some(i) => text[..i].to_owned(),
        None => text.clone(),
    };
    SqlError::new(message.replace("sql parser error: ", "syntax error: "), line, column)
}

fn unsupported(span: Span, what: &str) -> SqlError {
    SqlError::at(span, format!("{what} is not supported in a view"))
}

fn compile(statement: &Statement) -> Result<ViewDef, SqlError> {
    let Statement::CreateView { name, query, materialized, columns, to, temporary, or_replace, .. } =
        statement
    else {
        return Err(SqlError::at(statement.span(), "expected CREATE VIEW name AS SELECT …"));
    };
    if *materialized || *temporary || to.is_some() || !columns.is_empty() {
        return Err(unsupported(statement.span(), "this CREATE VIEW form"));
    }
    let view_name = single_name(name)?;
    if query.with.is_some() {
        return Err(unsupported(query.span(), "WITH"));
    }
    if let Some(order_by) = &query.order_by {
        return Err(unsupported(order_by.span(), "ORDER BY (ask for an order when subscribing)"));
    }
    if let Some(limit) = &query.limit_clause {
        return Err(unsupported(limit.span(), "LIMIT"));
    }
    if query.fetch.is_some() || !query.locks.is_empty() || !query.pipe_operators.is_empty() {
        return Err(unsupported(query.span(), "this query clause"));
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(unsupported(query.body.span(), "a query other than a single SELECT"));
    };
    if select.distinct.is_some() {
        return Err(unsupported(select.span(), "SELECT DISTINCT"));
    }
    if select.top.is_some()
        || select.into.is_some()
        || !select.lateral_views.is_empty()
        || select.prewhere.is_some()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
        || !select.named_window.is_empty()
        || select.qualify.is_some()
        || select.connect_by.is_some()
    {
        return Err(unsupported(select.span(), "this SELECT clause"));
    }
    if select.from.is_empty() {
        return Err(SqlError::at(select.span(), "a view needs FROM stream"));
    }
    let mut sources: Vec<String> = Vec::with_capacity(select.from.len());
    for from in &select.from {
        if let Some(join) = from.joins.first() {
            return Err(SqlError::at(
                join.span(),
                "JOIN is not supported in a view (list streams that share the key as FROM a, b)",
            ));
        }
        let stream = match &from.relation {
            TableFactor::Table { name, args: None, alias: None, .. } => single_name(name)?,
            other => return Err(unsupported(other.span(), "this FROM item")),
        };
        if sources.contains(&stream) {
            return Err(SqlError::at(from.span(), format!("stream {stream:?} is listed twice")));
        }
        sources.push(stream);
    }
    let filter = select.selection.as_ref().map(scalar).transpose()?;
    let group_exprs = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.as_slice(),
        other => return Err(unsupported(other.span(), "this GROUP BY form")),
    };
    let keys = group_exprs.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;

    let mut out = Vec::new();
    let mut any_aggregate = false;
    for item in &select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => return Err(unsupported(other.span(), "SELECT *")),
        };
        let name = alias.unwrap_or_else(|| default_name(expr));
        if out.iter().any(|(_, c): &(Span, Column)| c.name == name) {
            return Err(SqlError::at(
                item.span(),
                format!("column {name:?} appears twice; give it an alias"),
            ));
        }
        let kind = match aggregate(expr)? {
            Some((agg, arg)) => {
                any_aggregate = true;
                ColumnKind::Agg(agg, arg)
            }
            None => ColumnKind::Scalar(scalar(expr)?),
        };
        out.push((item.span(), Column { name, kind, hidden: false }));
    }
    let shape = if keys.is_empty() && !any_aggregate { Shape::Feed } else { Shape::Grouped };
    let mut columns = Vec::with_capacity(out.len());
    for (span, mut column) in out {
        if shape == Shape::Grouped
            && let ColumnKind::Scalar(e) = &column.kind
        {
            let Some(i) = keys.iter().position(|k| *k == *e) else {
                return Err(SqlError::at(
                    span,
                    format!("column {:?} must appear in GROUP BY or be used in an aggregate", column.name),
                ));
            };
            column.kind = ColumnKind::Key(i);
        }
        columns.push(column);
    }
    let having = match &select.having {
        Some(h) if shape == Shape::Feed => {
            return Err(SqlError::at(h.span(), "HAVING needs GROUP BY or an aggregate"));
        }
        Some(h) => Some(compile_expr(h, &mut HavingScope { columns: &mut columns })?),
        None => None,
    };
    // The stored text is the definition itself: `OR REPLACE` is how it was asked for, not what it is.
    let mut plain = statement.clone();
    if let Statement::CreateView { or_replace, .. } = &mut plain {
        *or_replace = false;
    }
    Ok(ViewDef {
        name: view_name,
        sql: plain.to_string(),
        replace: *or_replace,
        sources,
        filter,
        keys,
        columns,
        having,
        shape,
    })
}

fn single_name(name: &ast::ObjectName) -> Result<String, SqlError> {
    match name.0.as_slice() {
        [ast::ObjectNamePart::Identifier(ident)] => Ok(ident.value.clone()),
        _ => Err(unsupported(name.span(), "a qualified name")),
    }
}

fn default_name(expr: &ast::Expr) -> String {
    match expr {
        ast::Expr::Identifier(i) => i.value.clone(),
        ast::Expr::CompoundIdentifier(parts) => parts.last().map_or_else(String::new, |p| p.value.clone()),
        other => other.to_string(),
    }
}

fn aggregate(expr: &ast::Expr) -> Result<Option<(Agg, Option<Expr>)>, SqlError> {
    let ast::Expr::Function(f) = expr else {
        return Ok(None);
    };
    let fname = f.name.to_string().to_ascii_uppercase();
    let agg = match fname.as_str() {
        "COUNT" => Agg::Count,
        "SUM" => Agg::Sum,
        "MIN" => Agg::Min,
        "MAX" => Agg::Max,
        "AVG" => Agg::Avg,
        "FIRST" => Agg::First,
        "LAST" => Agg::Last,
        _ => return Ok(None),
    };
    if f.over.is_some() || f.filter.is_some() || f.null_treatment.is_some() || !f.within_group.is_empty() {
        return Err(unsupported(f.span(), "a window or filtered aggregate"));
    }
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::at(f.span(), format!("{fname} takes one argument")));
    };
    if list.duplicate_treatment.is_some() {
        return Err(unsupported(f.span(), &format!("{fname}(DISTINCT …)")));
    }
    if !list.clauses.is_empty() {
        return Err(unsupported(f.span(), "a clause inside an aggregate"));
    }
    let arg = match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if agg == Agg::Count => None,
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => {
            if aggregate(e)?.is_some() {
                return Err(unsupported(e.span(), "an aggregate inside an aggregate"));
            }
            Some(scalar(e)?)
        }
        _ => {
            return Err(SqlError::at(f.span(), format!("{fname} takes exactly one argument")));
        }
    };
    Ok(Some((agg, arg)))
}

fn field(parts: &[ast::Ident]) -> Field {
    match parts {
        [one] => match one.value.to_ascii_lowercase().as_str() {
            "type" if one.quote_style.is_none() => Field::Type,
            "stream" if one.quote_style.is_none() => Field::Stream,
            "position" if one.quote_style.is_none() => Field::Position,
            "ts" if one.quote_style.is_none() => Field::Ts,
            _ => Field::Path(vec![one.value.clone()]),
        },
        _ => {
            // `payload.x.y` and `x.y` both address the payload.
            let skip = usize::from(parts.len() > 1 && parts[0].value.eq_ignore_ascii_case("payload"));
            Field::Path(parts[skip..].iter().map(|p| p.value.clone()).collect())
        }
    }
}

/// What names in an expression refer to.
pub trait Scope {
    /// A name (`a` or `a.b.c`).
    fn name(&mut self, parts: &[ast::Ident], span: Span) -> Result<Expr, SqlError>;
    /// An aggregate call such as `COUNT(*)`.
    fn aggregate(&mut self, call: &ast::Expr, span: Span) -> Result<Expr, SqlError> {
        let name = call.to_string();
        Err(SqlError::at(
            span,
            format!("aggregate {name} is only allowed as a whole SELECT column or in HAVING"),
        ))
    }
}

/// Names are event fields (`type`, `stream`, `position`, `ts`, or payload paths).
#[derive(Debug)]
pub struct EventScope;

impl Scope for EventScope {
    fn name(&mut self, parts: &[ast::Ident], _: Span) -> Result<Expr, SqlError> {
        Ok(Expr::Field(field(parts)))
    }
}

/// Names are a view's columns (for `HAVING` and live-query filters).
#[derive(Debug)]
pub struct ColumnScope<'a> {
    /// The column names.
    pub columns: &'a [String],
}

impl Scope for ColumnScope<'_> {
    fn name(&mut self, parts: &[ast::Ident], span: Span) -> Result<Expr, SqlError> {
        match parts {
            [one] if self.columns.contains(&one.value) => {
                Ok(Expr::Field(Field::Path(vec![one.value.clone()])))
            }
            _ => {
                let name = parts.iter().map(|p| p.value.as_str()).collect::<Vec<_>>().join(".");
                Err(SqlError::at(
                    span,
                    format!("unknown column {name:?} (columns: {})", self.columns.join(", ")),
                ))
            }
        }
    }
}

/// `HAVING`: names are the view's columns; an aggregate is one of its columns, or a hidden
/// column added for it.
struct HavingScope<'a> {
    columns: &'a mut Vec<Column>,
}

impl Scope for HavingScope<'_> {
    fn name(&mut self, parts: &[ast::Ident], span: Span) -> Result<Expr, SqlError> {
        let names: Vec<String> = self.columns.iter().filter(|c| !c.hidden).map(|c| c.name.clone()).collect();
        ColumnScope { columns: &names }.name(parts, span)
    }

    fn aggregate(&mut self, call: &ast::Expr, span: Span) -> Result<Expr, SqlError> {
        let Some((agg, arg)) = aggregate(call)? else {
            return Err(SqlError::at(span, "expected an aggregate"));
        };
        let kind = ColumnKind::Agg(agg, arg);
        let name = match self.columns.iter().find(|c| c.kind == kind) {
            Some(c) => c.name.clone(),
            None => {
                let name = format!("$having{}", self.columns.len());
                self.columns.push(Column { name: name.clone(), kind, hidden: true });
                name
            }
        };
        Ok(Expr::Field(Field::Path(vec![name])))
    }
}

/// Compiles a scalar SQL expression over event fields.
pub fn scalar(expr: &ast::Expr) -> Result<Expr, SqlError> {
    compile_expr(expr, &mut EventScope)
}

/// Compiles a scalar SQL expression whose names mean what `scope` says.
pub fn compile_expr(expr: &ast::Expr, scope: &mut dyn Scope) -> Result<Expr, SqlError> {
    use ast::Expr as E;
    macro_rules! b {
        ($e:expr) => {
            compile_expr($e, scope).map(Box::new)
        };
    }
    Ok(match expr {
        E::Identifier(i) => scope.name(std::slice::from_ref(i), expr.span())?,
        E::CompoundIdentifier(parts) => scope.name(parts, expr.span())?,
        E::Value(v) => Expr::Lit(literal(&v.value, v.span)?),
        E::Nested(e) => compile_expr(e, scope)?,
        E::UnaryOp { op: UnaryOperator::Not, expr } => Expr::Not(b!(expr)?),
        E::UnaryOp { op: UnaryOperator::Minus, expr } => Expr::Neg(b!(expr)?),
        E::UnaryOp { op: UnaryOperator::Plus, expr } => compile_expr(expr, scope)?,
        E::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Plus => BinOp::Add,
                BinaryOperator::Minus => BinOp::Sub,
                BinaryOperator::Multiply => BinOp::Mul,
                BinaryOperator::Divide => BinOp::Div,
                BinaryOperator::Modulo => BinOp::Rem,
                BinaryOperator::Eq => BinOp::Eq,
                BinaryOperator::NotEq => BinOp::Ne,
                BinaryOperator::Lt => BinOp::Lt,
                BinaryOperator::LtEq => BinOp::Le,
                BinaryOperator::Gt => BinOp::Gt,
                BinaryOperator::GtEq => BinOp::Ge,
                BinaryOperator::And => BinOp::And,
                BinaryOperator::Or => BinOp::Or,
                BinaryOperator::StringConcat => BinOp::Concat,
                other => return Err(unsupported(expr.span(), &format!("operator {other}"))),
            };
            Expr::Bin(op, b!(left)?, b!(right)?)
        }
        E::IsNull(e) => Expr::IsNull(b!(e)?, false),
        E::IsNotNull(e) => Expr::IsNull(b!(e)?, true),
        E::InList { expr, list, negated } => Expr::InList(
            b!(expr)?,
            list.iter().map(|e| compile_expr(e, scope)).collect::<Result<_, _>>()?,
            *negated,
        ),
        E::Between { expr, negated, low, high } => Expr::Between(b!(expr)?, b!(low)?, b!(high)?, *negated),
        E::Like { negated, any: false, expr, pattern, escape_char: None } => {
            Expr::Like(b!(expr)?, b!(pattern)?, *negated)
        }
        E::Case { operand, conditions, else_result, .. } => {
            let operand = match operand.as_deref() {
                Some(o) => Some(b!(o)?),
                None => None,
            };
            let mut whens = Vec::with_capacity(conditions.len());
            for w in conditions {
                whens.push((compile_expr(&w.condition, scope)?, compile_expr(&w.result, scope)?));
            }
            let otherwise = match else_result.as_deref() {
                Some(e) => Some(b!(e)?),
                None => None,
            };
            Expr::Case { operand, whens, otherwise }
        }
        E::Function(f) => {
            let fname = f.name.to_string().to_ascii_uppercase();
            let func = match fname.as_str() {
                "LOWER" => Func::Lower,
                "UPPER" => Func::Upper,
                "LENGTH" => Func::Length,
                "ABS" => Func::Abs,
                "COALESCE" => Func::Coalesce,
                "COUNT" | "SUM" | "MIN" | "MAX" | "AVG" | "FIRST" | "LAST" => {
                    return scope.aggregate(expr, f.span());
                }
                _ => return Err(unsupported(f.span(), &format!("function {fname}"))),
            };
            let FunctionArguments::List(list) = &f.args else {
                return Err(SqlError::at(f.span(), format!("{fname} needs arguments")));
            };
            let args = list
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => compile_expr(e, scope),
                    other => Err(unsupported(other.span(), "this function argument")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let arity_ok = match func {
                Func::Coalesce => !args.is_empty(),
                _ => args.len() == 1,
            };
            if !arity_ok {
                return Err(SqlError::at(f.span(), format!("wrong number of arguments to {fname}")));
            }
            Expr::Call(func, args)
        }
        other => return Err(unsupported(other.span(), &format!("expression `{other}`"))),
    })
}

fn literal(v: &ast::Value, span: Span) -> Result<Value, SqlError> {
    Ok(match v {
        ast::Value::Number(n, _) => {
            if let Ok(i) = n.parse::<i64>() {
                Value::from(i)
            } else {
                n.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| SqlError::at(span, format!("bad number {n}")))?
            }
        }
        ast::Value::SingleQuotedString(s) => Value::String(s.clone()),
        ast::Value::Boolean(b) => Value::Bool(*b),
        ast::Value::Null => Value::Null,
        other => return Err(unsupported(span, &format!("literal {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = "CREATE VIEW orders AS SELECT order_id, LAST(customer) AS customer, \
        SUM(total) AS total, LAST(type) AS status FROM orders GROUP BY order_id";

    #[test]
    fn compiles_the_orders_view() {
        let v = parse_view(ORDERS).expect("valid view");
        assert_eq!(v.name, "orders");
        assert_eq!(v.sources, ["orders"]);
        assert_eq!(v.shape, Shape::Grouped);
        assert_eq!(v.keys, vec![Expr::Field(Field::Path(vec!["order_id".into()]))]);
        let names: Vec<_> = v.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["order_id", "customer", "total", "status"]);
        assert_eq!(v.columns[0].kind, ColumnKind::Key(0));
        assert_eq!(v.columns[3].kind, ColumnKind::Agg(Agg::Last, Some(Expr::Field(Field::Type))));
        assert_eq!(v.sql, ORDERS);
    }

    #[test]
    fn shapes() {
        fn check(sql: &str, shape: Shape, keys: usize) {
            let v = parse_view(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!((v.shape, v.keys.len()), (shape, keys), "{sql}");
        }
        check("CREATE VIEW n AS SELECT COUNT(*) AS n FROM orders", Shape::Grouped, 0);
        check(
            "CREATE VIEW f AS SELECT order_id, total * 2 AS double FROM orders WHERE total > 10",
            Shape::Feed,
            0,
        );
        check(
            "CREATE VIEW r AS SELECT region, LOWER(customer) AS c, COUNT(*) AS n, AVG(total) AS avg, \
             MIN(total) AS lo, MAX(total) AS hi, FIRST(ts) AS since FROM orders \
             WHERE type = 'place_order' AND total BETWEEN 1 AND 100 GROUP BY region, LOWER(customer)",
            Shape::Grouped,
            2,
        );
        check("CREATE VIEW a AS SELECT a.b.c AS abc, COUNT(*) AS n FROM s GROUP BY a.b.c", Shape::Grouped, 1);
        let v = parse_view(
            "CREATE VIEW both AS SELECT order_id, COUNT(*) AS n FROM orders, payments GROUP BY order_id",
        )
        .expect("two streams");
        assert_eq!(v.sources, ["orders", "payments"]);
        let v = parse_view(
            "CREATE VIEW h AS SELECT r, COUNT(*) AS n FROM s GROUP BY r HAVING COUNT(*) > 1 AND MAX(x) < 5",
        )
        .expect("valid");
        let hidden: Vec<_> = v.columns.iter().filter(|c| c.hidden).map(|c| c.kind.clone()).collect();
        assert_eq!(hidden, vec![ColumnKind::Agg(Agg::Max, Some(Expr::Field(Field::Path(vec!["x".into()]))))]);
    }

    #[test]
    fn refusals_name_the_construct_and_its_position() {
        fn check(sql: &str, message: &str, line: u64, column: u64) {
            let err = parse_views(sql).expect_err(sql);
            assert!(err.message.contains(message), "{sql}: got {err}");
            assert_eq!((err.line, err.column), (line, column), "{sql}: got {err}");
        }
        check("CREATE VIEW v AS SELECT x FROM s HAVING COUNT(*) > 1", "HAVING needs GROUP BY", 1, 41);
        check(
            "CREATE VIEW v AS SELECT a, COUNT(*) AS n FROM s GROUP BY a HAVING b > 1",
            "unknown column \"b\"",
            1,
            67,
        );
        check("CREATE VIEW v AS SELECT DISTINCT a FROM s", "SELECT DISTINCT", 1, 18);
        check("CREATE VIEW v AS\nSELECT a, COUNT(*) FROM s\nJOIN t ON s.id = t.id GROUP BY a", "JOIN", 3, 6);
        check("CREATE VIEW v AS SELECT b, COUNT(*) AS n FROM s GROUP BY a", "must appear in GROUP BY", 1, 25);
        check("CREATE VIEW v AS SELECT a, COUNT(DISTINCT b) AS n FROM s GROUP BY a", "COUNT(DISTINCT", 1, 28);
        check("CREATE VIEW v AS SELECT a, NOW() AS t FROM s", "function NOW", 1, 28);
        check("CREATE VIEW v AS SELECT * FROM s", "SELECT *", 1, 25);
        check("CREATE VIEW v AS SELECT a FROM s ORDER BY a", "ORDER BY", 1, 43);
        check("CREATE VIEW v AS SELECT a, SUM(b) + 1 AS n FROM s GROUP BY a", "aggregate SUM", 1, 28);
        check("CREATE VIEW v AS SELEC a FROM s", "syntax error", 1, 18);
        check("DROP TABLE x", "expected CREATE VIEW", 1, 1);
        check("CREATE VIEW n AS SELECT COUNT(*) AS n FROM s;\n  DROP TABLE x", "expected CREATE VIEW", 2, 3);
        check(
            "CREATE VIEW v AS SELECT COUNT(*) AS n FROM s;\nCREATE VIEW v AS SELECT COUNT(*) AS n FROM s",
            "defined twice",
            2,
            13,
        );
    }

    #[test]
    fn a_file_of_views_keeps_each_statement_text() {
        let views = parse_views(&format!(
            "-- demo\n{ORDERS};\n\nCREATE VIEW n AS\n  SELECT COUNT(*) AS n\n  FROM orders;\n"
        ))
        .expect("valid views");
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].sql, ORDERS);
        assert_eq!(views[1].sql, "CREATE VIEW n AS SELECT COUNT(*) AS n FROM orders");
    }

    #[test]
    fn a_file_of_views_may_hold_search_indexes_each_error_at_its_place() {
        let file = format!(
            "{ORDERS};\ncreate search index s ON orders (customer)\n  FACETS (status);\nCREATE VIEW n AS SELECT COUNT(*) AS n FROM orders WHERE nope(1);\nCREATE SEARCH INDEX t ON orders (customer)"
        );
        let err = parse_views(&file).expect_err("nope() is no function");
        assert_eq!(err.line, 4, "{err}");
        let (_, searches) = search_statements(&file);
        let found: Vec<(&str, u64, u64)> =
            searches.iter().map(|s| (s.text.as_str(), s.line, s.column)).collect();
        assert_eq!(
            found,
            [
                ("create search index s ON orders (customer)\n  FACETS (status)", 2, 1),
                ("CREATE SEARCH INDEX t ON orders (customer)", 5, 1)
            ]
        );
        let file = file.replace(" WHERE nope(1)", "");
        let views: Vec<String> = parse_views(&file).expect("views").into_iter().map(|v| v.name).collect();
        assert_eq!(views, ["orders", "n"]);
    }
}
