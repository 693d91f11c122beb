//! The nesting budget of client SQL, checked on the tokens before anything recurses.
//!
//! sqlparser, the compiler ([`crate::sql::compile_expr`]), the evaluator and even `Drop` walk an
//! expression recursively, so one deeply nested expression (`NOT NOT NOT …`, `1+1+1+…`,
//! `((((…))))`) would overflow a thread's stack and abort the whole process. Before a text is
//! parsed, [`check_depth`] scans its tokens (a loop, no recursion) and bounds the depth of any
//! tree the parser could build from them; a text over [`MAX_DEPTH`] is refused with the position
//! of the token where the bound was passed, and never reaches the parser.
//!
//! ```
//! use lucarne_server::budget::{MAX_DEPTH, check_depth};
//!
//! assert!(check_depth("status = 'paid' AND total > 10").is_ok());
//! let deep = vec!["1"; 400].join(" + ");
//! let err = check_depth(&format!("{deep} > 0")).unwrap_err();
//! assert!(err.message.contains(&MAX_DEPTH.to_string()), "{err}");
//! ```
//!
//! The bound: every tree node on a path from the root is an operator or keyword token, or a
//! bracket around the path, so the depth of a tree is at most the number of open brackets plus
//! the operators and keywords met in each open bracket since its last comma (a comma starts a
//! sibling: `IN (-1, -2, …)` stays shallow however long the list). Identifiers, numbers, strings
//! and `.` between name parts count nothing. The bound overestimates (`a = 1 AND b = 2` counts
//! 3 where the tree is 2 deep): [`MAX_DEPTH`] leaves room for any expression a person writes.
//!
//! A second, tighter budget bounds time rather than stack: when a keyword form such as `CASE`,
//! `CAST(…)`, `POSITION(…)` or `ARRAY[…]` fails to parse, sqlparser tries the keyword again as a
//! plain name, so each unfinished level doubles (`POSITION` triples) the work: 14 nested
//! `POSITION(` took 4 s, 25 nested `CASE` would take minutes. At most [`MAX_FORMS`] keyword forms
//! may be open at once (a bracket right after a keyword, or a `CASE` before its `END`).

use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::sql::{SqlError, SqlErrorKind};

/// The deepest nesting a client's SQL text may have (operators, keywords and brackets, counted
/// as the module says). The server's parsing threads have room for far more; the async workers'
/// evaluation of a compiled expression of this depth takes a few kilobytes of stack.
pub const MAX_DEPTH: usize = 100;

/// The most keyword forms open at once: brackets right after a keyword (`CAST(`, `LOWER(`,
/// `ARRAY[`) and `CASE`s before their `END`. Parsing a failing text of this many costs
/// milliseconds.
pub const MAX_FORMS: usize = 8;

/// Refuses a text whose expressions could nest deeper than [`MAX_DEPTH`], with the position of
/// the token that passed it (a text that does not tokenize is left to the parser's error).
pub fn check_depth(text: &str) -> Result<(), SqlError> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, text).tokenize_with_location() else {
        return Ok(());
    };
    // Operators and keywords since the last comma, in each open bracket (the first: the text).
    let mut open: Vec<usize> = vec![0];
    let mut counted = 0usize;
    // Whether each open bracket (after the first) followed a keyword; open CASEs; their sum.
    let mut keyword_brackets: Vec<bool> = Vec::new();
    let mut cases = 0usize;
    let mut after_keyword = false;
    for t in tokens {
        let keyword =
            matches!(&t.token, Token::Word(w) if w.keyword != Keyword::NoKeyword && w.quote_style.is_none());
        let was_after_keyword = std::mem::replace(&mut after_keyword, keyword);
        match &t.token {
            Token::Whitespace(_) | Token::EOF | Token::Period => {
                after_keyword = was_after_keyword;
                continue;
            }
            Token::LParen | Token::LBracket | Token::LBrace => {
                open.push(0);
                keyword_brackets.push(was_after_keyword);
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                if open.len() > 1 {
                    counted -= open.pop().unwrap_or(0);
                    keyword_brackets.pop();
                }
                continue;
            }
            Token::Comma => {
                if let Some(last) = open.last_mut() {
                    counted -= *last;
                    *last = 0;
                }
                continue;
            }
            Token::Word(w) if w.keyword == Keyword::NoKeyword || w.quote_style.is_some() => continue,
            Token::Number(..)
            | Token::Char(_)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Placeholder(_) => continue,
            _ => {
                match &t.token {
                    Token::Word(w) if w.keyword == Keyword::CASE => cases += 1,
                    Token::Word(w) if w.keyword == Keyword::END => cases = cases.saturating_sub(1),
                    _ => {}
                }
                if let Some(last) = open.last_mut() {
                    *last += 1;
                    counted += 1;
                }
            }
        }
        let forms = cases + keyword_brackets.iter().filter(|k| **k).count();
        if forms > MAX_FORMS {
            return Err(SqlError {
                message: format!(
                    "the expression nests too many keyword forms: more than {MAX_FORMS} of CASE, CAST(…), \
                     POSITION(…), LOWER(…) and the like open at once"
                ),
                line: t.span.start.line,
                column: t.span.start.column,
                kind: SqlErrorKind::TooComplex,
            });
        }
        let bound = open.len() + counted;
        if bound > MAX_DEPTH {
            return Err(SqlError {
                message: format!(
                    "the expression nests too deeply: more than {MAX_DEPTH} levels of operators and \
                     brackets (split it, or use IN (…) for long lists)"
                ),
                line: t.span.start.line,
                column: t.span.start.column,
                kind: SqlErrorKind::TooComplex,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_texts_are_refused_where_they_pass_the_bound_and_wide_ones_pass() {
        fn check(text: &str, refused_at: Option<(u64, u64)>) {
            let got = check_depth(text).err().map(|e| {
                assert_eq!(e.kind, SqlErrorKind::TooComplex, "{e}");
                (e.line, e.column)
            });
            assert_eq!(got, refused_at, "{}…", &text[..text.len().min(60)]);
        }
        check("status = 'paid' AND total > 10", None);
        check("CREATE VIEW v AS SELECT a, COUNT(*) AS n FROM s WHERE x IN (1, 2, 3) GROUP BY a", None);
        let list: Vec<String> = (1..=100_000).map(|i| format!("-{i}")).collect();
        check(&format!("total IN ({})", list.join(",")), None);
        // 1 + 1 + …: the 100th `+` makes the bound 101 (one for the text itself).
        check(&vec!["1"; 400].join("+"), Some((1, 2 * 100)));
        check(&"NOT ".repeat(200), Some((1, 4 * 99 + 1)));
        check(&format!("{}1{}", "(".repeat(150), ")".repeat(150)), Some((1, 100)));
        check(&vec!["'a'"; 5000].join("||"), Some((1, 5 * 99 + 4)));
        // Brackets closed in between do not add up.
        check(&vec!["(a + b)"; 1000].join(", "), None);
        check(&vec!["f(NOT a)"; 1000].join(" AND "), Some((1, 13 * 98 + 3)));
        // Keyword forms: nine open at once are too many, however shallow otherwise.
        check(&format!("{}1", "CASE WHEN a THEN ".repeat(9)), Some((1, 17 * 8 + 1)));
        check(&format!("{}1", "POSITION(".repeat(9)), Some((1, 9 * 8 + 9)));
        check(&format!("{}1", "CAST(".repeat(9)), Some((1, 5 * 8 + 5)));
        check(&format!("CAST({}1", "CASE WHEN a THEN ".repeat(8)), Some((1, 5 + 17 * 7 + 1)));
        // Closed ones do not count, nor brackets after names.
        check(&vec!["CASE WHEN a THEN LOWER(b) END"; 15].join(" || "), None);
        check(&format!("{}1{}", "f(".repeat(40), ")".repeat(40)), None);
    }
}
