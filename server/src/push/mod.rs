//! Platform push: a client registers a target (a Web Push subscription) and an interest (a view
//! and a `where`, within its token's row filter); while that client has no connection to this
//! server, each commit whose changes upsert a row the interest keeps plans a push in the same
//! transaction ([`crate::store::PushPlan`]): one pending push per registration, coalesced over
//! a short window, sent by `deliver` and taken out once the push service has it.
//!
//! ```no_run
//! # async fn run(engine: std::sync::Arc<lucarne_server::Engine>) -> Result<(), Box<dyn std::error::Error>> {
//! use lucarne_server::push::PushConfig;
//! let vapid = lucarne_push::Vapid::from_key(&std::fs::read_to_string("vapid.pem")?, "mailto:ops@example.com")?;
//! let config = PushConfig { web: Some(lucarne_push::WebPush::new(vapid)?), ..PushConfig::default() };
//! let kept = engine.enable_push(config).await?; // the registrations kept from before
//! # Ok(()) }
//! ```
//!
//! Registrations are this node's (a client registers where it connects; apps register again
//! on start). A push carries a [`PushNotice`]: the view, the last row's key and the view's
//! version, how many changes it stands for, and the notification's text rendered from the row.

pub(crate) mod deliver;
pub mod index;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use lucarne_protocol::{Columns, Key, NotificationTemplate, Op, PushInterest, PushNotice, PushTarget};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::query::LiveQuery;
use crate::store::{Change, Planned, PushPlan};

/// The push services' origins a Web Push endpoint may be on, by default (Chrome's, Firefox's,
/// Safari's, Edge's): a subscription elsewhere is refused, so that a client cannot make the
/// server post to an address of its choosing.
pub const DEFAULT_ENDPOINTS: &[&str] = &[
    "https://fcm.googleapis.com",
    "https://updates.push.services.mozilla.com",
    "https://*.push.apple.com",
    "https://*.notify.windows.com",
];

/// The longest title or body template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 512;

/// How a server pushes.
#[derive(Debug)]
pub struct PushConfig {
    /// The Web Push sender (its VAPID key); none: Web Push targets are refused.
    pub web: Option<lucarne_push::WebPush>,
    /// The APNs sender (the team's key, the app's bundle id); none: APNs targets are refused.
    pub apns: Option<lucarne_push::apns::Apns>,
    /// The FCM sender (a service account); none: FCM targets are refused.
    pub fcm: Option<lucarne_push::fcm::Fcm>,
    /// Origins (`https://host[:port]`, `*` for any run of characters) a Web Push endpoint may
    /// be on.
    pub endpoints: Vec<String>,
    /// How long a push waits for more changes to coalesce.
    pub window: Duration,
    /// How long a push service keeps a push for a device that is offline.
    pub ttl: Duration,
    /// Registrations one client id may hold.
    pub max_per_client: usize,
    /// Registrations the server holds in all.
    pub max_total: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            web: None,
            apns: None,
            fcm: None,
            endpoints: DEFAULT_ENDPOINTS.iter().map(|s| (*s).to_owned()).collect(),
            window: Duration::from_millis(250),
            ttl: Duration::from_secs(24 * 3600),
            max_per_client: 8,
            max_total: 10_000,
        }
    }
}

impl PushConfig {
    /// Whether a Web Push endpoint is on an allowed origin.
    pub fn allows_endpoint(&self, endpoint: &str) -> bool {
        let Ok(uri) = endpoint.parse::<http::Uri>() else { return false };
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else { return false };
        let origin = format!("{scheme}://{authority}");
        self.endpoints.iter().any(|pattern| crate::auth::glob_match(pattern, &origin))
    }
}

/// A registration as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// The client it is for.
    pub client_id: String,
    /// Where its pushes go.
    pub target: PushTarget,
    /// The changes it is for.
    pub interest: PushInterest,
    /// The token's row filter on the view when it registered.
    #[serde(default)]
    pub rows: Option<String>,
    /// The notification's text.
    #[serde(default)]
    pub notification: Option<NotificationTemplate>,
}

impl Stored {
    /// Its id: the same for the same client, target and interest.
    pub fn id(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            self.client_id.as_str(),
            &serde_json::to_string(&self.target).unwrap_or_default(),
            &self.interest.view,
            self.interest.filter.as_deref().unwrap_or_default(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("p{hex}")
    }

    /// Its interest compiled against the view's columns, within the row filter.
    pub fn compile(&self, columns: &[String]) -> Result<LiveQuery, String> {
        let own = LiveQuery::parse(self.interest.filter.as_deref(), None, None, columns)
            .map_err(|e| e.to_string())?;
        match &self.rows {
            None => Ok(own),
            Some(rows) => {
                Ok(own.within(LiveQuery::parse(Some(rows), None, None, columns).map_err(|e| e.to_string())?))
            }
        }
    }
}

/// A registration in force.
#[derive(Debug)]
pub struct Registration {
    /// Its id (also the pushes' topic).
    pub id: String,
    /// What is kept of it.
    pub stored: Stored,
    pub(crate) query: LiveQuery,
}

impl Registration {
    /// A registration whose interest is compiled.
    pub fn new(stored: Stored, query: LiveQuery) -> Registration {
        Registration { id: stored.id(), stored, query }
    }
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Over a budget of registrations.
    #[error("{0}")]
    OverBudget(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The registrations in force: by id, and by view as the commit looks them up
/// ([`index::ViewInterests`]).
#[derive(Debug, Default)]
struct Registry {
    by_id: HashMap<String, Arc<Registration>>,
    by_view: HashMap<String, index::ViewInterests>,
}

/// The registrations in force, who is connected, and the wake-up of the sender.
#[derive(Debug, Default)]
pub struct Pushes {
    config: std::sync::OnceLock<Arc<PushConfig>>,
    registry: RwLock<Registry>,
    /// Connections open per client id.
    present: Mutex<HashMap<String, usize>>,
    wake: Notify,
}

/// A client connected: while held, its registrations are not pushed to.
#[derive(Debug)]
pub struct Presence {
    pushes: Arc<Pushes>,
    client_id: String,
}

impl Drop for Presence {
    fn drop(&mut self) {
        let mut present = self.pushes.present.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = present.get_mut(&self.client_id) {
            *n -= 1;
            if *n == 0 {
                present.remove(&self.client_id);
            }
        }
    }
}

impl Pushes {
    /// How this server pushes; none until [`crate::Engine::enable_push`].
    pub fn config(&self) -> Option<&Arc<PushConfig>> {
        self.config.get()
    }

    /// The VAPID public key, when this server sends Web Push (the browser's
    /// `applicationServerKey`, given to each client in `welcome`).
    pub fn web_key(&self) -> Option<String> {
        Some(self.config()?.web.as_ref()?.vapid().public_key().to_owned())
    }

    pub(crate) fn set_config(&self, config: Arc<PushConfig>) -> bool {
        self.config.set(config).is_ok()
    }

    /// Marks a client connected until the presence is dropped.
    pub fn present(self: &Arc<Self>, client_id: &str) -> Presence {
        *self
            .present
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(client_id.to_owned())
            .or_default() += 1;
        Presence { pushes: self.clone(), client_id: client_id.to_owned() }
    }

    /// Whether a client has a connection.
    pub fn is_present(&self, client_id: &str) -> bool {
        self.present.lock().unwrap_or_else(PoisonError::into_inner).contains_key(client_id)
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A registration in force.
    pub fn get(&self, id: &str) -> Option<Arc<Registration>> {
        self.registry().by_id.get(id).cloned()
    }

    /// How many registrations are in force.
    pub fn len(&self) -> usize {
        self.registry().by_id.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Puts a registration in force, within the budgets (one that replaces another of the same
    /// id is not counted twice).
    pub(crate) fn insert(
        &self,
        registration: Registration,
        config: &PushConfig,
    ) -> Result<(), RegisterError> {
        let mut registry = self.registry.write().unwrap_or_else(PoisonError::into_inner);
        let Registry { by_id, by_view } = &mut *registry;
        if !by_id.contains_key(&registration.id) {
            let client = &registration.stored.client_id;
            let held = by_id.values().filter(|r| &r.stored.client_id == client).count();
            if held >= config.max_per_client {
                let max = config.max_per_client;
                return Err(RegisterError::OverBudget(format!(
                    "client {client:?} holds {max} push registrations, the most allowed"
                )));
            }
            if by_id.len() >= config.max_total {
                let max = config.max_total;
                return Err(RegisterError::OverBudget(format!(
                    "the server holds {max} push registrations, the most allowed"
                )));
            }
        }
        let registration = Arc::new(registration);
        if let Some(old) = by_id.insert(registration.id.clone(), registration.clone()) {
            by_view.entry(old.stored.interest.view.clone()).or_default().remove(&old.id);
        }
        by_view.entry(registration.stored.interest.view.clone()).or_default().insert(registration);
        Ok(())
    }

    /// Takes a registration out of force.
    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Registration>> {
        let mut registry = self.registry.write().unwrap_or_else(PoisonError::into_inner);
        let removed = registry.by_id.remove(id)?;
        let view = &removed.stored.interest.view;
        if let Some(interests) = registry.by_view.get_mut(view) {
            interests.remove(id);
            if interests.is_empty() {
                registry.by_view.remove(view);
            }
        }
        Some(removed)
    }

    /// A client's registrations.
    pub fn of_client(&self, client_id: &str) -> Vec<Arc<Registration>> {
        self.registry().by_id.values().filter(|r| r.stored.client_id == client_id).cloned().collect()
    }

    /// Wakes the sender: pushes were planned.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

impl PushPlan for Pushes {
    fn plan(&self, changes: &[Arc<Change>]) -> Vec<Planned> {
        let registry = self.registry();
        if registry.by_view.is_empty() {
            return Vec::new();
        }
        let present = self.present.lock().unwrap_or_else(PoisonError::into_inner);
        // The last matching row and the count, per registration.
        let mut planned: HashMap<&str, (&Registration, &Change, &Key, &Columns, u32)> = HashMap::new();
        for change in changes {
            let Some(interests) = registry.by_view.get(&change.view) else { continue };
            let ops = match change.ops() {
                Ok(ops) => ops,
                Err(e) => {
                    tracing::error!("{e}: its pushes are not planned");
                    continue;
                }
            };
            for op in ops {
                let Op::Upsert { key, row } = op else { continue };
                for registration in interests.candidates(row) {
                    if present.contains_key(&registration.stored.client_id)
                        || !registration.query.matches(row)
                    {
                        continue;
                    }
                    let entry = planned.entry(registration.id.as_str()).or_insert((
                        registration,
                        change,
                        key,
                        row,
                        0,
                    ));
                    *entry = (registration, change, key, row, entry.4 + 1);
                }
            }
        }
        planned
            .into_values()
            .map(|(registration, change, key, row, changes)| Planned {
                registration: registration.id.clone(),
                payload: notice(registration, change, key, row, changes),
                changes,
            })
            .collect()
    }

    fn window_ms(&self) -> u64 {
        self.config().map_or(250, |c| u64::try_from(c.window.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A push's payload: the [`PushNotice`] of the last row, within what a push carries (the texts,
/// then the key, left out when too long).
fn notice(registration: &Registration, change: &Change, key: &Key, row: &Columns, changes: u32) -> String {
    let (title, body) = match &registration.stored.notification {
        Some(t) => (Some(cut(&render(&t.title, row), 200)), Some(cut(&render(&t.body, row), 1000))),
        None => (None, None),
    };
    let mut notice = PushNotice {
        registration: registration.id.clone(),
        view: change.view.clone(),
        key: key.clone(),
        version: change.to,
        changes,
        title,
        body,
    };
    let fits =
        |n: &PushNotice| serde_json::to_string(n).ok().filter(|s| s.len() <= lucarne_push::MAX_PAYLOAD);
    if let Some(text) = fits(&notice) {
        return text;
    }
    (notice.title, notice.body) = (None, None);
    if let Some(text) = fits(&notice) {
        return text;
    }
    notice.key = Value::Null;
    serde_json::to_string(&notice).unwrap_or_default()
}

/// A test push's payload for a registration: no row, the title given.
pub(crate) fn test_notice(registration: &Registration, title: &str) -> String {
    let notice = PushNotice {
        registration: registration.id.clone(),
        view: registration.stored.interest.view.clone(),
        key: Value::Null,
        version: 0,
        changes: 0,
        title: Some(cut(title, 200)),
        body: None,
    };
    serde_json::to_string(&notice).unwrap_or_default()
}

/// A template with `{column}` replaced by the row's value (`{{`, `}}`: braces; an unknown
/// column: nothing).
pub fn render(template: &str, row: &Columns) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if let Some(end) = tail.strip_prefix('{').and_then(|t| t.find('}')) {
            match row.get(&tail[1..=end]) {
                Some(Value::String(s)) => out.push_str(s),
                Some(Value::Null) | None => {}
                Some(other) => out.push_str(&other.to_string()),
            }
            rest = &tail[end + 2..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// At most `chars` characters of `text` (an ellipsis marks the cut).
fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const CUSTOMERS: [&str; 4] = ["Ada", "Grace", "نور", "Alan"];

    /// A registration of client `n` over `orders` with `filter` (and a row filter, maybe).
    fn registration(n: usize, filter: Option<&str>, rows: Option<&str>) -> Registration {
        let columns: Vec<String> = ["order_id", "customer", "total"].map(String::from).to_vec();
        let stored = Stored {
            client_id: format!("c{n}"),
            target: PushTarget::Fcm { token: format!("t{n}") },
            interest: PushInterest { view: "orders".into(), filter: filter.map(str::to_owned) },
            rows: rows.map(str::to_owned),
            notification: None,
        };
        let query = stored.compile(&columns).expect("compiles");
        Registration::new(stored, query)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The registrations a commit plans are exactly those whose condition a changed row
        /// meets (every one tested by brute force), whether filed by an equality or not.
        #[test]
        fn a_commit_plans_exactly_the_registrations_a_changed_row_meets(
            kinds in proptest::collection::vec((0usize..6, 0usize..4, 0u32..50), 1..12),
            rows in proptest::collection::vec((0usize..4, 0u32..50), 1..8),
        ) {
            let pushes = Pushes::default();
            let config = PushConfig { max_per_client: 100, ..PushConfig::default() };
            let mut all = Vec::new();
            for (n, (kind, who, total)) in kinds.into_iter().enumerate() {
                let customer = CUSTOMERS[who];
                let (filter, rows) = match kind {
                    0 => (None, None),
                    1 => (Some(format!("customer = '{customer}'")), None),
                    2 => (Some(format!("total > {total} AND customer = '{customer}'")), None),
                    3 => (Some(format!("'{customer}' = customer OR total < {total}")), None),
                    4 => (Some(format!("total >= {total}")), Some(format!("customer = '{customer}'"))),
                    _ => (Some(format!("customer <> '{customer}'")), None),
                };
                let r = registration(n, filter.as_deref(), rows.as_deref());
                all.push((r.id.clone(), r.query.clone()));
                pushes.insert(r, &config).expect("within the budget");
            }
            let ops: Vec<Op> = rows
                .iter()
                .enumerate()
                .map(|(i, (who, total))| {
                    let row = json!({"order_id": format!("o-{i}"), "customer": CUSTOMERS[*who], "total": total});
                    Op::Upsert { key: json!(format!("o-{i}")), row: row.as_object().cloned().unwrap_or_default() }
                })
                .collect();
            let change = Arc::new(Change::new("orders".into(), 1, (0, 1), ops.clone(), Vec::new()));
            let mut planned: Vec<(String, u32)> =
                pushes.plan(&[change]).into_iter().map(|p| (p.registration, p.changes)).collect();
            planned.sort();
            let mut expected: Vec<(String, u32)> = all
                .iter()
                .filter_map(|(id, query)| {
                    let n = ops.iter().filter(|op| matches!(op, Op::Upsert { row, .. } if query.matches(row))).count();
                    (n > 0).then(|| (id.clone(), u32::try_from(n).unwrap_or(u32::MAX)))
                })
                .collect();
            expected.sort();
            prop_assert_eq!(planned, expected);
        }
    }

    #[test]
    fn a_connected_client_is_not_planned_and_a_removed_registration_never_again() {
        let pushes = Arc::new(Pushes::default());
        let config = PushConfig::default();
        let ada = registration(1, Some("customer = 'Ada'"), None);
        let ada_id = ada.id.clone();
        pushes.insert(ada, &config).expect("in");
        let row = json!({"order_id": "o-1", "customer": "Ada", "total": 1})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let change = || {
            let op = Op::Upsert { key: json!("o-1"), row: row.clone() };
            Arc::new(Change::new("orders".into(), 1, (0, 1), vec![op], Vec::new()))
        };
        let here = pushes.present("c1");
        assert!(pushes.plan(&[change()]).is_empty(), "connected");
        drop(here);
        assert_eq!(pushes.plan(&[change()]).len(), 1, "away");
        pushes.remove(&ada_id);
        assert!(pushes.plan(&[change()]).is_empty(), "removed");
    }

    #[test]
    fn a_template_takes_the_rows_columns_and_keeps_doubled_braces() {
        let row = json!({"order_id": "o-1", "customer": "نور", "total": 42.5, "note": null});
        let row = row.as_object().cloned().unwrap_or_default();
        let check =
            |template: &str, expected: &str| assert_eq!(render(template, &row), expected, "{template}");
        check("Order {order_id} for {customer}: {total}", "Order o-1 for نور: 42.5");
        check("{{literal}} {note}{missing}!", "{literal} !");
        check("unclosed {order_id", "unclosed {order_id");
        check("stray } brace", "stray } brace");
        check("", "");
    }

    #[test]
    fn endpoints_are_allowed_by_their_origin_only() {
        let config = PushConfig::default();
        assert!(config.allows_endpoint("https://fcm.googleapis.com/fcm/send/abc"));
        assert!(config.allows_endpoint("https://web.push.apple.com/QGx"));
        for refused in [
            "http://fcm.googleapis.com/fcm/send/abc",
            "https://fcm.googleapis.com.evil.example/x",
            "https://169.254.169.254/latest/meta-data",
            "https://evil.example/?https://fcm.googleapis.com",
            "not a url",
        ] {
            assert!(!config.allows_endpoint(refused), "{refused}");
        }
    }

    #[test]
    fn the_id_is_the_same_for_the_same_client_target_and_interest() {
        let stored = |client: &str, filter: Option<&str>| Stored {
            client_id: client.into(),
            target: PushTarget::Fcm { token: "t".into() },
            interest: PushInterest { view: "orders".into(), filter: filter.map(str::to_owned) },
            rows: None,
            notification: None,
        };
        assert_eq!(stored("a", None).id(), stored("a", None).id());
        assert_ne!(stored("a", None).id(), stored("b", None).id());
        assert_ne!(stored("a", None).id(), stored("a", Some("total > 1")).id());
        assert!(stored("a", None).id().len() <= 32, "a topic is at most 32 characters");
    }
}
