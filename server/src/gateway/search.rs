//! The search messages of a connection: `define_search` and `drop_search` (the define right),
//! and `search` (the index's view must be one the token may read; its row filter narrows every
//! hit and every facet count, as it narrows a subscription).

use lucarne_protocol::{
    DefineSearch, DropSearch, ErrorCode, Search, SearchDefined, SearchDropped, SearchResult, ServerMessage,
};

use super::{Connection, Next, define_refusal, too_long};
use crate::query::LiveQuery;

impl Connection {
    /// `define_search`.
    pub(super) async fn define_search(&mut self, d: DefineSearch) -> Next {
        let grant = self.grant();
        if !grant.can_define() {
            return self.out.error(grant.refusal(), define_refusal(&grant, ""), None, Some(d.id));
        }
        let limits = &self.shared.config.limits;
        if let Some(message) = too_long("the search index's definition", &d.sql, limits.max_view_sql_bytes) {
            return self.out.error(ErrorCode::TooComplex, message, None, Some(d.id));
        }
        let sql = d.sql.clone();
        if let Ok(Ok(def)) = crate::offload::run(move || crate::search::parse_search(&sql)).await
            && !grant.may_view(&def.view)
        {
            return self.out.error(grant.refusal(), unreadable(&def.view), None, Some(d.id));
        }
        match self.shared.engine.define_search(&d.sql).await {
            Ok(name) => self.out.send(&ServerMessage::SearchDefined(SearchDefined { id: d.id, name })),
            Err(e) => self.out.error(e.code(), e.to_string(), None, Some(d.id)),
        }
    }

    /// `drop_search`.
    pub(super) async fn drop_search(&mut self, d: DropSearch) -> Next {
        let grant = self.grant();
        if !grant.can_define() {
            return self.out.error(grant.refusal(), define_refusal(&grant, ""), None, Some(d.id));
        }
        match self.shared.engine.drop_search(&d.name).await {
            Ok(()) => self.out.send(&ServerMessage::SearchDropped(SearchDropped { id: d.id, name: d.name })),
            Err(e) => self.out.error(e.code(), e.to_string(), None, Some(d.id)),
        }
    }

    /// `search`: the request's `where` and the token's row filter, compiled off the async
    /// workers against the view's columns, filter the hits and the counts.
    pub(super) async fn search(&mut self, s: Search) -> Next {
        let engine = self.shared.engine.clone();
        let Some(def) = engine.search_def(&s.index) else {
            let message = format!("no search index named {:?}", s.index);
            return self.out.error(ErrorCode::UnknownSearch, message, None, Some(s.id));
        };
        let grant = self.grant();
        if !grant.may_view(&def.view) {
            return self.out.error(grant.refusal(), unreadable(&def.view), None, Some(s.id));
        }
        let limits = &self.shared.config.limits;
        let filter = s.query.filter.as_deref().unwrap_or_default();
        for (what, text) in [("the search's text", s.query.text.as_str()), ("the search's where", filter)] {
            if let Some(message) = too_long(what, text, limits.max_query_bytes) {
                return self.out.error(ErrorCode::TooComplex, message, None, Some(s.id));
            }
        }
        let columns = match engine.view_columns(&def.view).await {
            Ok(columns) => columns,
            Err(e) => return self.out.error(ErrorCode::UnknownView, e.to_string(), None, Some(s.id)),
        };
        let (own, rows) = (s.query.filter.clone(), grant.row_filter(&def.view));
        let compiled = crate::offload::run(move || {
            let own = LiveQuery::parse(own.as_deref(), None, None, &columns);
            (own, rows.map(|r| LiveQuery::parse(Some(&r), None, None, &columns)))
        })
        .await;
        let (own, rows) = match compiled {
            Ok(compiled) => compiled,
            Err(e) => return self.out.error(ErrorCode::Internal, e.to_string(), None, Some(s.id)),
        };
        let query = match own {
            Ok(query) => query,
            Err(e) => {
                return self.out.error(e.code(), format!("in the search's where: {e}"), None, Some(s.id));
            }
        };
        let query = match rows {
            None => query,
            Some(Ok(rows)) => query.within(rows),
            Some(Err(e)) => {
                let message =
                    format!("this token's row filter does not apply to the view {:?}: {e}", def.view);
                return self.out.error(ErrorCode::Forbidden, message, None, Some(s.id));
            }
        };
        if query.terms() > limits.max_query_terms {
            let message = format!(
                "the search's where has {} terms, over the limit of {}",
                query.terms(),
                limits.max_query_terms
            );
            return self.out.error(ErrorCode::TooComplex, message, None, Some(s.id));
        }
        match engine.search(&s.index, s.query, Box::new(move |row| query.matches(row))).await {
            Ok(found) => self.out.send(&ServerMessage::SearchResult(SearchResult { id: s.id, found })),
            Err(e) => {
                let code = match e {
                    crate::search::SearchFailure::UnknownIndex(_) => ErrorCode::UnknownSearch,
                    crate::search::SearchFailure::Invalid(_) => ErrorCode::InvalidMessage,
                    crate::search::SearchFailure::Unavailable(..) => ErrorCode::Unavailable,
                };
                self.out.error(code, e.to_string(), None, Some(s.id))
            }
        }
    }
}

/// Why a token may not define or search an index over `view`.
fn unreadable(view: &str) -> String {
    format!("this token may not read the view {view:?} the search index is over")
}
