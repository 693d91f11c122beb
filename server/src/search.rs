//! Search indexes over views: `CREATE SEARCH INDEX name ON view (columns) [FACETS (columns)]`,
//! defined at runtime through the log like views ([`Engine::define_search`]), each built in memory
//! from its view's rows when first searched and kept current from the view's changes after that,
//! answered by [`Engine::search`] with the caller's filter (the view SQL's `WHERE`, and a token's
//! row filter) applied to every hit and every facet count.
//!
//! ```
//! use lucarne_server::search::parse_search;
//!
//! let def = parse_search("CREATE SEARCH INDEX orders_search ON orders (customer, order_id)\n  FACETS (status)")?;
//! assert_eq!((def.name.as_str(), def.view.as_str()), ("orders_search", "orders"));
//! assert_eq!(def.spec.searchable, ["customer", "order_id"]);
//! let err = parse_search("CREATE SEARCH INDEX s ON orders customer").expect_err("no parenthesis");
//! assert_eq!((err.line, err.column), (1, 33));
//! # Ok::<(), lucarne_server::sql::SqlError>(())
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};

use lucarne_protocol::{Columns, Op, Position};
use lucarne_search::{Found, IndexSpec, SearchIndex, SearchQuery};
use tokio::sync::{broadcast, watch};

use crate::engine::Engine;
use crate::sql::SqlError;
use crate::store::Change;

/// A search index's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDef {
    /// The index.
    pub name: String,
    /// The view it searches.
    pub view: String,
    /// Its searched and faceted columns.
    pub spec: IndexSpec,
    /// The definition as written.
    pub sql: String,
}

/// One token of a definition: its text and where it starts (bytes).
fn tokens(sql: &str) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut end = start + c.len_utf8();
        if c.is_alphanumeric() || c == '_' {
            while let Some(&(i, n)) = chars.peek() {
                if !(n.is_alphanumeric() || n == '_') {
                    break;
                }
                end = i + n.len_utf8();
                chars.next();
            }
        }
        out.push((&sql[start..end], start));
    }
    out
}

/// Parses `CREATE SEARCH INDEX name ON view (column, …) [FACETS (column, …)] [;]`.
pub fn parse_search(sql: &str) -> Result<SearchDef, SqlError> {
    let tokens = tokens(sql);
    let mut at = 0;
    let error = |at: usize, what: &str| {
        let (offset, found) =
            tokens.get(at).map_or((sql.len(), "the end".to_string()), |(t, o)| (*o, format!("`{t}`")));
        let line = sql[..offset].matches('\n').count() as u64 + 1;
        let column = sql[..offset].rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
        SqlError::new(format!("expected {what}, found {found}"), line, column)
    };
    let keyword = |at: &mut usize, word: &str| -> Result<(), SqlError> {
        match tokens.get(*at) {
            Some((t, _)) if t.eq_ignore_ascii_case(word) => {
                *at += 1;
                Ok(())
            }
            _ => Err(error(*at, word)),
        }
    };
    let name = |at: &mut usize, what: &str| -> Result<String, SqlError> {
        match tokens.get(*at) {
            Some((t, _)) if t.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_') => {
                *at += 1;
                Ok((*t).to_owned())
            }
            _ => Err(error(*at, what)),
        }
    };
    let list = |at: &mut usize| -> Result<Vec<String>, SqlError> {
        keyword(at, "(")?;
        let mut columns = vec![name(at, "a column name")?];
        while tokens.get(*at).is_some_and(|(t, _)| *t == ",") {
            *at += 1;
            columns.push(name(at, "a column name")?);
        }
        keyword(at, ")")?;
        Ok(columns)
    };
    for word in ["CREATE", "SEARCH", "INDEX"] {
        keyword(&mut at, word)?;
    }
    let index = name(&mut at, "the index's name")?;
    keyword(&mut at, "ON")?;
    let view = name(&mut at, "a view name")?;
    let searchable = list(&mut at)?;
    let facets = if tokens.get(at).is_some_and(|(t, _)| t.eq_ignore_ascii_case("FACETS")) {
        at += 1;
        list(&mut at)?
    } else {
        Vec::new()
    };
    if tokens.get(at).is_some_and(|(t, _)| *t == ";") {
        at += 1;
    }
    if at < tokens.len() {
        return Err(error(at, "the end of the definition"));
    }
    Ok(SearchDef { name: index, view, spec: IndexSpec { searchable, facets }, sql: sql.to_owned() })
}

/// Parses the `CREATE SEARCH INDEX` statements of a views file (its views are
/// [`parse_views`](crate::sql::parse_views)'); errors at their place in the file.
///
/// ```
/// use lucarne_server::search::parse_search_indexes;
///
/// let file = "CREATE VIEW v AS SELECT k, COUNT(*) AS n FROM s GROUP BY k;\nCREATE SEARCH INDEX vs ON v (k) FACETS n;";
/// let err = parse_search_indexes(file).expect_err("FACETS takes a list");
/// assert_eq!((err.line, err.column), (2, 40));
/// let defs = parse_search_indexes(&file.replace("FACETS n", "FACETS (n)"))?;
/// assert_eq!((defs[0].name.as_str(), defs[0].spec.facets.as_slice()), ("vs", ["n".to_owned()].as_slice()));
/// # Ok::<(), lucarne_server::sql::SqlError>(())
/// ```
pub fn parse_search_indexes(sql: &str) -> Result<Vec<SearchDef>, SqlError> {
    let mut defs: Vec<SearchDef> = Vec::new();
    for statement in crate::sql::search_statements(sql).1 {
        let at = |mut e: SqlError| {
            if e.line <= 1 {
                e.column += statement.column.saturating_sub(1);
            }
            e.line += statement.line.saturating_sub(1);
            e
        };
        let def = parse_search(&statement.text).map_err(at)?;
        if defs.iter().any(|d| d.name == def.name) {
            let message = format!("search index {:?} is defined twice", def.name);
            return Err(SqlError::new(message, statement.line, statement.column));
        }
        defs.push(def);
    }
    Ok(defs)
}

/// Whether an index can be searched yet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stage {
    Building,
    Searchable,
    Failed(String),
    /// Dropped or redefined: a new search finds its definition again.
    Replaced,
}

/// A filter over a view's rows (the search's `where` and the token's row filter, compiled).
pub type RowFilter = Arc<dyn Fn(&dyn crate::expr::Record) -> bool + Send + Sync>;

/// A commit that changed more rows than this makes every live search of its index run again
/// (testing them one by one would cost more).
pub(crate) const MAX_ROWS_TESTED: usize = 1024;

/// The index's last commit: its number, and the rows it changed as they were before and after
/// (`None`: any may have — the index was built afresh, or the commit changed more than
/// [`MAX_ROWS_TESTED`] rows, or nobody was watching).
#[derive(Debug, Clone, Default)]
pub(crate) struct Commit {
    pub(crate) seq: u64,
    pub(crate) touched: Option<Arc<[Columns]>>,
}

/// A built index and the view position it reflects.
struct Held {
    index: SearchIndex,
    at: Position,
}

/// One index being built or kept current.
pub(crate) struct Live {
    def: SearchDef,
    held: RwLock<Option<Held>>,
    ready: watch::Sender<Stage>,
    commits: watch::Sender<Commit>,
}

/// The indexes built so far, by name (an index is built on its first search).
#[derive(Default)]
pub(crate) struct Searches {
    live: Mutex<HashMap<String, Arc<Live>>>,
}

impl std::fmt::Debug for Searches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.live.lock().map(|l| l.keys().cloned().collect()).unwrap_or_default();
        f.debug_struct("Searches").field("built", &names).finish()
    }
}

/// Why a search was not answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchFailure {
    /// No index of that name.
    #[error("no search index named {0:?}")]
    UnknownIndex(String),
    /// The index could not be built or followed (its view was dropped, say).
    #[error("search index {0:?} is unavailable: {1}")]
    Unavailable(String, String),
    /// The request names a facet the index does not have.
    #[error("{0}")]
    Invalid(String),
    /// The index was dropped or redefined while the search waited.
    #[error("search index {0:?} was dropped or redefined")]
    Replaced(String),
}

impl Searches {
    /// The live index for a definition: the one held when its definition is the same, else a new
    /// one, built from the view and followed from then on.
    pub(crate) fn get(&self, engine: &Arc<Engine>, def: SearchDef) -> Result<Arc<Live>, SearchFailure> {
        let mut live =
            self.live.lock().map_err(|e| SearchFailure::Unavailable(def.name.clone(), e.to_string()))?;
        // A failed build is tried again.
        if let Some(held) = live.get(&def.name)
            && held.def == def
            && !matches!(*held.ready.borrow(), Stage::Failed(_) | Stage::Replaced)
        {
            return Ok(held.clone());
        }
        // One built for another definition: its live searches move to this one.
        if let Some(old) = live.get(&def.name) {
            old.ready.send_replace(Stage::Replaced);
        }
        let fresh = Arc::new(Live {
            def: def.clone(),
            held: RwLock::new(None),
            ready: watch::channel(Stage::Building).0,
            commits: watch::channel(Commit::default()).0,
        });
        live.insert(def.name.clone(), fresh.clone());
        let changes = engine.changes(&def.view);
        tokio::spawn(follow(Arc::downgrade(engine), Arc::downgrade(&fresh), changes));
        Ok(fresh)
    }

    /// Forgets an index (dropped, or its definition replaced); its live searches find its
    /// definition again.
    pub(crate) fn forget(&self, name: &str) {
        let gone = self.live.lock().ok().and_then(|mut live| live.remove(name));
        if let Some(gone) = gone {
            gone.ready.send_replace(Stage::Replaced);
        }
    }
}

impl Live {
    /// Its definition.
    pub(crate) fn def(&self) -> &SearchDef {
        &self.def
    }

    /// Its stage, to watch.
    pub(crate) fn stage(&self) -> watch::Receiver<Stage> {
        self.ready.subscribe()
    }

    /// Its commits, to watch.
    pub(crate) fn commits(&self) -> watch::Receiver<Commit> {
        self.commits.subscribe()
    }

    /// Searches the index once it is built.
    pub(crate) async fn search(
        self: &Arc<Self>,
        request: SearchQuery,
        filter: RowFilter,
    ) -> Result<Found, SearchFailure> {
        let name = self.def.name.clone();
        let mut ready = self.ready.subscribe();
        let state = ready
            .wait_for(|r| *r != Stage::Building)
            .await
            .map_err(|e| SearchFailure::Unavailable(name.clone(), e.to_string()))?
            .clone();
        match state {
            Stage::Failed(why) => return Err(SearchFailure::Unavailable(name, why)),
            Stage::Replaced => return Err(SearchFailure::Replaced(name)),
            Stage::Building | Stage::Searchable => {}
        }
        let live = self.clone();
        crate::offload::run(move || {
            let held = live
                .held
                .read()
                .map_err(|e| SearchFailure::Unavailable(live.def.name.clone(), e.to_string()))?;
            let held = held
                .as_ref()
                .ok_or_else(|| SearchFailure::Unavailable(live.def.name.clone(), "not built".into()))?;
            let filter = |row: &lucarne_search::RowRef<'_>| filter(row);
            held.index.search(&request, &filter).map_err(|e| SearchFailure::Invalid(e.to_string()))
        })
        .await
        .map_err(|e| SearchFailure::Unavailable(name, e.to_string()))?
    }
}

/// Builds an index from its view, then applies the view's changes to it until the index is
/// forgotten, the view dropped or the engine stopped; a gap (lag, a new epoch) rebuilds it. It
/// holds neither the index nor the engine between changes.
async fn follow(engine: Weak<Engine>, live: Weak<Live>, changes: Option<broadcast::Receiver<Arc<Change>>>) {
    let Some(mut changes) = changes else {
        if let Some(live) = live.upgrade() {
            let _ = live.ready.send(Stage::Failed(format!("no view named {:?}", live.def.view)));
        }
        return;
    };
    let mut rebuild = true;
    loop {
        if rebuild {
            let (Some(strong), Some(engine)) = (live.upgrade(), engine.upgrade()) else { return };
            if let Err(e) = build(&engine, &strong).await {
                let _ = strong.ready.send(Stage::Failed(e));
                return;
            }
            let _ = strong.ready.send(Stage::Searchable);
        }
        // Every change waiting, applied in one commit of the index.
        let mut batch = Vec::new();
        match changes.recv().await {
            Ok(change) => batch.push(change),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                rebuild = true;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => {
                if let Some(live) = live.upgrade() {
                    let _ =
                        live.ready.send(Stage::Failed(format!("the view {:?} was dropped", live.def.view)));
                }
                return;
            }
        }
        while let Ok(change) = changes.try_recv() {
            batch.push(change);
        }
        let Some(strong) = live.upgrade() else { return };
        let applied = tokio::task::spawn_blocking(move || apply(&strong, &batch)).await;
        // A change that does not follow the index's position (or a failure) rebuilds it.
        rebuild = !matches!(applied, Ok(Ok(())));
    }
}

/// Builds the index from its view's rows, handed over one by one in one read of the store
/// (never the whole view at once: a snapshot of 100 000 rows took ~220 MB while held). That
/// read transaction lasts the build (~0.7 s for 100 000 rows): meanwhile the store keeps the
/// pages it reads from for it, however the view changes.
async fn build(engine: &Arc<Engine>, live: &Arc<Live>) -> Result<(), String> {
    // Its writer starts tantivy's threads: off the async workers.
    let spec = live.def.spec.clone();
    let index = tokio::task::spawn_blocking(move || SearchIndex::new(spec))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let (at, (mut index, failed)) = engine
        .each_row(&live.def.view, (index, None), |(index, failed), row| {
            match index.upsert(row.key, row.row) {
                Ok(()) => true,
                Err(e) => {
                    *failed = Some(e);
                    false
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(e.to_string());
    }
    let live = live.clone();
    tokio::task::spawn_blocking(move || {
        index.finish_build().map_err(|e| e.to_string())?;
        let mut held = live.held.write().map_err(|e| e.to_string())?;
        *held = Some(Held { index, at });
        live.commits.send_modify(|c| *c = Commit { seq: c.seq + 1, touched: None });
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Applies changes that follow the index's position; `Err` when one does not (a rebuild).
fn apply(live: &Live, changes: &[Arc<Change>]) -> Result<(), String> {
    let mut held = live.held.write().map_err(|e| e.to_string())?;
    let held = held.as_mut().ok_or("not built")?;
    // Every row changed, before and after, for live searches to tell whether theirs moved:
    // kept only while one watches, and up to the most they test one by one.
    let mut touched = (live.commits.receiver_count() > 0).then(Vec::new);
    for change in changes {
        if change.epoch == held.at.epoch && change.to <= held.at.version {
            continue; // in the snapshot already
        }
        if change.epoch != held.at.epoch || change.from != held.at.version {
            return Err("a gap in the view's changes".into());
        }
        for op in change.ops().map_err(|e| e.to_string())? {
            let (key, row) = match op {
                Op::Upsert { key, row } => (key, Some(row)),
                Op::Remove { key } => (key, None),
            };
            if let Some(rows) = &mut touched {
                rows.extend(row.cloned());
                rows.extend(held.index.row(key).map(|row| row.to_columns()));
                if rows.len() > MAX_ROWS_TESTED {
                    touched = None;
                }
            }
            match row {
                Some(row) => held.index.upsert(key.clone(), row.clone()).map_err(|e| e.to_string())?,
                None => held.index.remove(key),
            }
        }
        held.at.version = change.to;
    }
    held.index.commit().map_err(|e| e.to_string())?;
    let touched = touched.map(Arc::from);
    live.commits.send_modify(|c| *c = Commit { seq: c.seq + 1, touched });
    Ok(())
}
