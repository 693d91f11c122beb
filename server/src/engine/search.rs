//! The engine's search indexes: defined and dropped through the log (`define_search`,
//! `drop_search` in `$views`, in force from their commit: the index built so far is then
//! forgotten, here and on every node), searched through [`Searches`](crate::search::Searches).

use std::sync::Arc;

use lucarne_search::{Found, SearchQuery};
use serde_json::json;

use super::{Engine, ViewError};
use crate::log::NewEvent;
use crate::search::{Live, RowFilter, SearchDef, SearchFailure, parse_search};
use crate::store::VIEWS_STREAM;

impl Engine {
    /// Defines (or redefines) a search index from `CREATE SEARCH INDEX name ON view (columns)
    /// [FACETS (columns)]`, checked against the view's columns; recorded in the log. Returns its
    /// name. The index is built on its first search.
    pub async fn define_search(&self, sql: &str) -> Result<String, ViewError> {
        if !self.policy.allow_define {
            return Err(ViewError::NotAllowed);
        }
        let text = sql.to_owned();
        let def = crate::offload::run(move || parse_search(&text))
            .await
            .map_err(|e| ViewError::Internal(e.to_string()))??;
        let named = def
            .spec
            .searchable
            .iter()
            .map(|c| (c.as_str(), "("))
            .chain(def.spec.facets.iter().map(|c| (c.as_str(), "FACETS")));
        self.check_names(sql, &def.view, named).await?;
        let event = NewEvent {
            stream: VIEWS_STREAM.into(),
            kind: "define_search".into(),
            payload: json!({ "name": def.name, "sql": sql }),
        };
        self.meta(event).await?;
        Ok(def.name)
    }

    /// Drops a search index; recorded in the log.
    pub async fn drop_search(&self, name: &str) -> Result<(), ViewError> {
        if !self.policy.allow_define {
            return Err(ViewError::NotAllowed);
        }
        if self.search_def(name).is_none() {
            return Err(ViewError::UnknownSearch(name.to_owned()));
        }
        let event = NewEvent {
            stream: VIEWS_STREAM.into(),
            kind: "drop_search".into(),
            payload: json!({ "name": name }),
        };
        self.meta(event).await?;
        Ok(())
    }

    /// A search index's definition.
    pub fn search_def(&self, name: &str) -> Option<SearchDef> {
        let sql = self.shared.searches.read().ok()?.get(name)?.clone();
        parse_search(&sql).ok()
    }

    /// Searches an index (built from its view on the first search, current with the view's
    /// changes after that) for the rows `filter` keeps.
    pub async fn search(
        self: &Arc<Self>,
        name: &str,
        request: SearchQuery,
        filter: RowFilter,
    ) -> Result<Found, SearchFailure> {
        // An index redefined while the search waited for it is searched as it is now.
        match self.live_search(name)?.search(request.clone(), filter.clone()).await {
            Err(SearchFailure::Replaced(_)) => self.live_search(name)?.search(request, filter).await,
            answer => answer,
        }
    }

    /// The index as built and kept current now (built on first use).
    pub(crate) fn live_search(self: &Arc<Self>, name: &str) -> Result<Arc<Live>, SearchFailure> {
        let Some(def) = self.search_def(name) else {
            self.shared.live_searches.forget(name);
            return Err(SearchFailure::UnknownIndex(name.to_owned()));
        };
        self.shared.live_searches.get(self, def)
    }
}
