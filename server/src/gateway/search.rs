//! The search messages of a connection: `define_search` and `drop_search` (the define right),
//! `search` and `subscribe_search` (the index's view must be one the token may read; its row
//! filter narrows every hit and every facet count, as it narrows a subscription).

use std::sync::Arc;

use lucarne_protocol::{
    DefineSearch, DropSearch, ErrorCode, Search, SearchDefined, SearchDropped, SearchQuery, SearchResult,
    ServerMessage, SubscribeSearch,
};

use super::search_stream::SearchStream;
use super::{Asked, Connection, Next, define_refusal, too_long};
use crate::search::{RowFilter, SearchFailure};

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
        let filter = match self.search_filter(&s.index, &s.query).await {
            Ok((_, filter)) => filter,
            Err((code, message)) => return self.out.error(code, message, None, Some(s.id)),
        };
        match self.shared.engine.search(&s.index, s.query, filter).await {
            Ok(found) => self.out.send(&ServerMessage::SearchResult(SearchResult { id: s.id, found })),
            Err(e) => self.out.error(failure_code(&e), e.to_string(), None, Some(s.id)),
        }
    }

    /// `subscribe_search`: a search kept current by its own task ([`SearchStream`]), counted
    /// as a subscription and as a live query.
    pub(super) async fn subscribe_search(&mut self, s: SubscribeSearch) -> Next {
        self.subs.retain(|_, task| !task.is_finished());
        if self.subs.contains_key(&s.sub) {
            let message = format!("subscription {} is already in use", s.sub);
            return self.out.error(ErrorCode::DuplicateSubscription, message, Some(s.sub), None);
        }
        let max = self.shared.config.limits.max_subscriptions;
        if self.subs.len() >= max {
            let message = format!("this connection holds {max} subscriptions, the most allowed");
            return self.out.error(ErrorCode::TooManySubscriptions, message, Some(s.sub), None);
        }
        if let Err((code, message)) = self.room_for_live_query() {
            return self.out.error(code, message, Some(s.sub), None);
        }
        let (view, filter) = match self.search_filter(&s.index, &s.query).await {
            Ok(compiled) => compiled,
            Err((code, message)) => return self.out.error(code, message, Some(s.sub), None),
        };
        let stream = SearchStream {
            engine: self.shared.engine.clone(),
            out: self.out.clone(),
            sub: s.sub,
            index: s.index,
            view,
            query: s.query,
            filter,
            patience: self.shared.config.limits.resync_after,
            generation: Default::default(),
        };
        self.live.insert(s.sub);
        self.subs.insert(s.sub, tokio::spawn(stream.run()));
        Next::Serve
    }

    /// The view of a search's index and the search's filter: its `where` within the token's
    /// row filter ([`Connection::compile`]); or the error to answer.
    async fn search_filter(
        &self,
        index: &str,
        query: &SearchQuery,
    ) -> Result<(String, RowFilter), (ErrorCode, String)> {
        let engine = self.shared.engine.clone();
        let Some(def) = engine.search_def(index) else {
            return Err((ErrorCode::UnknownSearch, format!("no search index named {index:?}")));
        };
        let grant = self.grant();
        if !grant.may_view(&def.view) {
            return Err((grant.refusal(), unreadable(&def.view)));
        }
        let limits = &self.shared.config.limits;
        let filter = query.filter.as_deref().unwrap_or_default();
        for (what, text) in [("the search's text", query.text.as_str()), ("the search's where", filter)] {
            if let Some(message) = too_long(what, text, limits.max_query_bytes) {
                return Err((ErrorCode::TooComplex, message));
            }
        }
        let asked =
            Asked { what: "the search's where", filter: query.filter.clone(), order_by: None, limit: None };
        let query = self.compile(&def.view, asked, grant.row_filter(&def.view)).await?;
        Ok((def.view, Arc::new(move |row: &dyn crate::expr::Record| query.matches(row))))
    }
}

/// The code of a search that failed.
pub(super) fn failure_code(failure: &SearchFailure) -> ErrorCode {
    match failure {
        SearchFailure::UnknownIndex(_) | SearchFailure::Replaced(_) => ErrorCode::UnknownSearch,
        SearchFailure::Invalid(_) => ErrorCode::InvalidMessage,
        SearchFailure::Unavailable(..) => ErrorCode::Unavailable,
    }
}

/// Why a token may not define or search an index over `view`.
fn unreadable(view: &str) -> String {
    format!("this token may not read the view {view:?} the search index is over")
}
