//! The WebSocket gateway: one task per connection speaking `lucarne-protocol`, one task per
//! subscription streaming a snapshot (or the missed changes) and then live deltas in order.
//!
//! Bad input never drops the connection without a reason: malformed frames, unknown messages,
//! oversized frames, unknown views and commands, messages the connection's capability token does
//! not allow and messages over its rate are each answered with an `error` or `reject` carrying a
//! code, and the connection stays usable. A connection closes only on an unsupported protocol
//! version, a refused `hello` (no, invalid or expired token), an expired token, a missed
//! heartbeat, a frame beyond the hard limit (close code 1009), an unreadable frame (1002), a
//! sustained flood of messages or a client that reads too slowly (1008), each after an `error`
//! saying why.
//!
//! Each connection's outbound frames wait in one queue capped in bytes
//! ([`Limits::max_queued_bytes`]). Deltas and snapshot chunks wait for room; a delta that waits
//! longer than [`Limits::resync_after`] is dropped, and its subscription holds nothing until the
//! queue has drained to half the cap, then gets `resync slow_consumer` and a fresh snapshot.
//! Other messages (acks, errors, pings) are always queued, but when they alone pass the cap the
//! connection is closed (`slow_consumer`), and so is one whose socket does not take a frame within
//! [`Limits::slow_consumer_timeout`]. So a slow client costs bounded memory and never holds up
//! the writer or other clients.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use lucarne_protocol::{
    Ack, ClientMessage, Command, CommandDefined, CommandDropped, CommandRef, DefineCommand, DefineView,
    ErrorCode, Heartbeat, Reject, ServerMessage, Subscribe, Unsubscribed, ViewDefined, ViewDropped, ViewInfo,
    ViewList, ViewProgress, Welcome, decode_client, negotiate,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod http;
mod outbox;
mod push;
mod search;
mod search_stream;
mod stream;

pub use http::{OriginPolicy, content_security_policy, security_headers, serve};

use outbox::{Next, Outbox, write_frames};
use stream::SubStream;

use crate::auth::{Auth, Grant};
use crate::engine::{Build, Engine};
use crate::feed::{Feed, FeedKey};
use crate::limits::{Limits, RateLimit, Verdict, view_cost};
use crate::query::LiveQuery;

/// How long the last `error` and the close frame of a connection closed by the server get to
/// reach the client.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Each connection's WebSocket read buffer. tungstenite zero-fills the whole buffer on its first
/// read, so its default (128 KiB) is resident memory for every connection, idle or not; clients
/// send small frames, and the buffer grows for a larger one.
const READ_BUFFER_BYTES: usize = 2 * 1024;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// How often each side pings; a peer silent for twice this long is dropped.
    pub ping_interval: Duration,
    /// Largest text frame accepted; a larger one is answered `frame_too_large` and skipped.
    pub max_frame_bytes: usize,
    /// Frames beyond this many bytes close the connection (1009): they are not even read.
    pub hard_frame_limit: usize,
    /// Rows per `snapshot_rows` message.
    pub snapshot_chunk: usize,
    /// Who is let in and what they may do.
    pub auth: Auth,
    /// Per-connection limits.
    pub limits: Limits,
    /// Which browser origins may open the WebSocket.
    pub origins: OriginPolicy,
    /// The browser bundle served at `/` ([`crate::web`]); none when `None`.
    pub web_dir: Option<std::path::PathBuf>,
}

impl Default for GatewayConfig {
    /// Open to anonymous clients with every right (the engine's [`crate::engine::ViewPolicy`]
    /// still gates view definitions): for embedding and tests. `lucarne serve` requires tokens
    /// unless it runs the demo on loopback.
    fn default() -> Self {
        GatewayConfig {
            ping_interval: Duration::from_secs(15),
            max_frame_bytes: lucarne_protocol::DEFAULT_MAX_FRAME_BYTES,
            hard_frame_limit: 16 * lucarne_protocol::DEFAULT_MAX_FRAME_BYTES,
            snapshot_chunk: 500,
            auth: Auth::open(None, true),
            limits: Limits::default(),
            origins: OriginPolicy::default(),
            web_dir: None,
        }
    }
}

#[derive(Clone)]
struct Shared {
    engine: Arc<Engine>,
    config: GatewayConfig,
    sessions: Arc<AtomicU64>,
}

/// The HTTP routes: `GET /ws` (WebSocket) and `GET /healthz`, every response with the security
/// headers of [`security_headers`]; on an open server, only for loopback `Host` names
/// ([`OriginPolicy::admits_host`]).
pub fn router(engine: Arc<Engine>, config: GatewayConfig) -> axum::Router {
    let open = config.auth.is_open();
    let origins = Arc::new(config.origins.clone());
    let web = crate::web::router(config.web_dir.clone());
    let shared = Shared { engine, config, sessions: Arc::new(AtomicU64::new(0)) };
    // Add routes here, before the layers: they wrap every route registered above them.
    let router = axum::Router::new()
        .route("/healthz", get(health))
        .route("/ws", get(upgrade))
        .with_state(shared)
        .merge(web);
    let router = if open {
        router.layer(axum::middleware::from_fn_with_state(origins, http::host_guard))
    } else {
        router
    };
    router.layer(axum::middleware::from_fn(security_headers))
}

/// `GET /healthz`: 200 `ok` while the store can write; 503 with the reason while it cannot.
async fn health(State(shared): State<Shared>) -> Response {
    match shared.engine.health() {
        crate::engine::Health::Ok => "ok\n".into_response(),
        crate::engine::Health::Unwritable(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("unavailable: the store cannot write: {reason}\n"))
                .into_response()
        }
        crate::engine::Health::Unreachable(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("unavailable: {reason}\n")).into_response()
        }
    }
}

async fn upgrade(ws: WebSocketUpgrade, headers: HeaderMap, State(shared): State<Shared>) -> Response {
    let header = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let origin = header(header::ORIGIN);
    if !shared.config.origins.allows(origin, header(header::HOST)) {
        tracing::info!(origin = origin.unwrap_or(""), "WebSocket refused: origin not allowed");
        return (StatusCode::FORBIDDEN, "origin not allowed (see lucarne serve --allowed-origin)\n")
            .into_response();
    }
    let limit = shared.config.hard_frame_limit;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| connection(socket, shared))
        .into_response()
}

struct Connection {
    shared: Shared,
    out: Outbox,
    session: String,
    client_id: Option<String>,
    /// What the connection may do; set by a successful `hello`.
    grant: Option<Grant>,
    rate: RateLimit,
    subs: HashMap<u64, JoinHandle<()>>,
    /// The subscriptions that are live queries (counted against `max_live_queries`).
    live: std::collections::HashSet<u64>,
    /// The client is connected (after `hello`): no push for it meanwhile.
    presence: Option<crate::push::Presence>,
}

async fn connection(socket: WebSocket, shared: Shared) {
    let session = format!("s{}", shared.sessions.fetch_add(1, Ordering::Relaxed) + 1);
    let (sink, mut stream) = socket.split();
    let limits = shared.config.limits.clone();
    let (out, rx) = Outbox::new(limits.max_queued_bytes);
    let writer = tokio::spawn(write_frames(sink, rx, out.clone(), limits.slow_consumer_timeout));
    let interval = shared.config.ping_interval;
    let rate = RateLimit::new(&limits, Instant::now().into_std());
    let mut conn = Connection {
        shared,
        out,
        session,
        client_id: None,
        grant: None,
        rate,
        subs: HashMap::new(),
        live: Default::default(),
        presence: None,
    };
    tracing::debug!(session = %conn.session, "connected");
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    let mut last_heard = Instant::now();
    let mut nonce = 0u64;
    loop {
        tokio::select! {
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        // Boxed: the idle connection's future stays small (its messages' futures
                        // are large and short-lived).
                        if Box::pin(conn.on_text(text.as_str())).await == Next::Close {
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if conn.on_binary() == Next::Close {
                            break;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        tracing::debug!(session = %conn.session, "read failed: {e}");
                        // Best effort: the socket may already be gone.
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                            conn.out.close(ErrorCode::FrameTooLarge, format!("frame over the hard limit: {text}"), close_code::SIZE);
                        } else {
                            conn.out.close(ErrorCode::BadFrame, format!("unreadable frame: {text}"), close_code::PROTOCOL);
                        }
                        break;
                    }
                }
            }
            _ = ticker.tick() => {
                if last_heard.elapsed() > interval * 2 {
                    conn.out.close(ErrorCode::Timeout, format!("no message for {:?}", interval * 2), close_code::AWAY);
                    break;
                }
                if !conn.token_valid() {
                    break;
                }
                nonce += 1;
                conn.out.send(&ServerMessage::Ping(Heartbeat { nonce }));
            }
            _ = conn.out.closed() => break,
        }
    }
    for (_, task) in conn.subs.drain() {
        task.abort();
    }
    tracing::debug!(session = %conn.session, "disconnected");
    conn.out.end();
    drop(conn);
    let _ = writer.await;
}

/// Runs a `define_view` request: progress while the view builds, then `view_defined`.
async fn define_view(engine: Arc<Engine>, out: Outbox, request: DefineView) {
    let id = request.id;
    let (name, mut build) = match engine.define_view(&request.sql).await {
        Ok(started) => started,
        Err(e) => {
            out.error(e.code(), e.to_string(), None, Some(id));
            return;
        }
    };
    loop {
        let status = build.borrow_and_update().clone();
        match status {
            Build::Progress { done, total } => {
                let progress = ViewProgress { id, view: name.clone(), done, total };
                if out.send(&ServerMessage::ViewProgress(progress)) == Next::Close {
                    return;
                }
            }
            Build::Live(_) => {
                let info =
                    engine.view_infos().await.ok().and_then(|v| v.into_iter().find(|v| v.name == name));
                match info {
                    Some(view) => out.send(&ServerMessage::ViewDefined(ViewDefined { id, view })),
                    None => out.error(ErrorCode::Internal, format!("view {name:?} vanished"), None, Some(id)),
                };
                return;
            }
            Build::Failed(message) => {
                out.error(ErrorCode::Internal, message, None, Some(id));
                return;
            }
        }
        if build.changed().await.is_err() {
            // The builder finished and its channel closed: read the final status once more.
            let last = build.borrow().clone();
            if matches!(last, Build::Progress { .. }) {
                out.error(ErrorCode::Internal, "the view build stopped", None, Some(id));
                return;
            }
        }
    }
}

impl Connection {
    /// Answers a binary frame (after the rate limit); [`Next::Close`] when the connection must close.
    fn on_binary(&mut self) -> Next {
        match self.rate.check(Instant::now().into_std()) {
            Verdict::Allow => {
                let message = "binary frames are not supported; send JSON text";
                self.out.error(ErrorCode::BadFrame, message, None, None)
            }
            Verdict::Refuse => self.out.error(ErrorCode::RateLimited, self.rate_message(), None, None),
            Verdict::Close => {
                self.close_flooding();
                Next::Close
            }
        }
    }

    fn rate_message(&self) -> String {
        let limits = &self.shared.config.limits;
        format!(
            "more than {} messages a second (bursts of {}); this message was not handled",
            limits.messages_per_second, limits.message_burst
        )
    }

    fn close_flooding(&self) {
        let limits = &self.shared.config.limits;
        let message = format!(
            "messages over the rate limit of {}/s for {:?}; closing",
            limits.messages_per_second, limits.rate_limit_close_after
        );
        tracing::info!(session = %self.session, "{message}");
        self.out.close(ErrorCode::RateLimited, message, close_code::POLICY);
    }

    /// False (and the connection closing with `token_expired`) once the token has expired.
    fn token_valid(&self) -> bool {
        if self.grant.as_ref().is_some_and(Grant::expired) {
            let message = "the capability token expired; connect again with a new one".to_owned();
            self.out.close(ErrorCode::TokenExpired, message, close_code::POLICY);
            return false;
        }
        true
    }

    /// Answers a message refused by the rate limit, in the shape its sender waits for.
    fn refuse_rate(&self, msg: &ClientMessage) -> Next {
        let message = self.rate_message();
        match msg {
            ClientMessage::Pong(_) => Next::Serve,
            ClientMessage::Command(c) => self.out.send(&ServerMessage::Reject(Reject {
                id: c.id,
                client_id: c.client_id.clone(),
                seq: c.seq,
                code: ErrorCode::RateLimited,
                message,
            })),
            ClientMessage::Subscribe(s) => self.out.error(ErrorCode::RateLimited, message, Some(s.sub), None),
            ClientMessage::Unsubscribe(u) => {
                self.out.error(ErrorCode::RateLimited, message, Some(u.sub), None)
            }
            ClientMessage::ListViews(l) => self.out.error(ErrorCode::RateLimited, message, None, Some(l.id)),
            ClientMessage::DefineView(d) => self.out.error(ErrorCode::RateLimited, message, None, Some(d.id)),
            ClientMessage::DropView(d) => self.out.error(ErrorCode::RateLimited, message, None, Some(d.id)),
            ClientMessage::DefineCommand(d) => {
                self.out.error(ErrorCode::RateLimited, message, None, Some(d.id))
            }
            ClientMessage::DropCommand(d) => {
                self.out.error(ErrorCode::RateLimited, message, None, Some(d.id))
            }
            ClientMessage::DefineSearch(d) => {
                self.out.error(ErrorCode::RateLimited, message, None, Some(d.id))
            }
            ClientMessage::DropSearch(d) => self.out.error(ErrorCode::RateLimited, message, None, Some(d.id)),
            ClientMessage::Search(s) => self.out.error(ErrorCode::RateLimited, message, None, Some(s.id)),
            ClientMessage::SubscribeSearch(s) => {
                self.out.error(ErrorCode::RateLimited, message, Some(s.sub), None)
            }
            ClientMessage::RegisterPush(r) => {
                self.out.error(ErrorCode::RateLimited, message, None, Some(r.id))
            }
            ClientMessage::UnregisterPush(u) => {
                self.out.error(ErrorCode::RateLimited, message, None, Some(u.id))
            }
            ClientMessage::TestPush(t) => self.out.error(ErrorCode::RateLimited, message, None, Some(t.id)),
            ClientMessage::Hello(_) | ClientMessage::Ping(_) => {
                self.out.error(ErrorCode::RateLimited, message, None, None)
            }
        }
    }

    /// Handles one text frame; [`Next::Close`] when the connection must close.
    async fn on_text(&mut self, text: &str) -> Next {
        let verdict = self.rate.check(Instant::now().into_std());
        if verdict == Verdict::Close {
            self.close_flooding();
            return Next::Close;
        }
        let max = self.shared.config.max_frame_bytes;
        if text.len() > max {
            if verdict == Verdict::Refuse {
                return self.out.error(ErrorCode::RateLimited, self.rate_message(), None, None);
            }
            let message =
                format!("frame of {} bytes is over the limit of {max} bytes; it was ignored", text.len());
            return self.out.error(ErrorCode::FrameTooLarge, message, None, None);
        }
        let msg = match decode_client(text) {
            Ok(msg) => msg,
            Err(_) if verdict == Verdict::Refuse => {
                return self.out.error(ErrorCode::RateLimited, self.rate_message(), None, None);
            }
            Err(e) => return self.out.error(e.code(), e.to_string(), None, None),
        };
        if verdict == Verdict::Refuse {
            return self.refuse_rate(&msg);
        }
        if !self.token_valid() {
            return Next::Close;
        }
        match msg {
            ClientMessage::Hello(hello) => {
                if self.client_id.is_some() {
                    return self.out.error(
                        ErrorCode::AlreadyGreeted,
                        "hello was already received",
                        None,
                        None,
                    );
                }
                let Some(version) = negotiate(&hello.versions) else {
                    let message = format!(
                        "no common protocol version: client speaks {:?}, server {:?}",
                        hello.versions,
                        lucarne_protocol::SUPPORTED_VERSIONS
                    );
                    self.out.close(ErrorCode::UnsupportedVersion, message, close_code::PROTOCOL);
                    return Next::Close;
                };
                if hello.client_id.is_empty() || hello.client_id.starts_with('$') {
                    let message =
                        "client_id must be non-empty and must not start with `$` (reserved for the server)";
                    return self.out.error(ErrorCode::InvalidMessage, message, None, None);
                }
                let grant = match self.shared.config.auth.admit(hello.token.as_deref()) {
                    Ok(grant) => grant,
                    Err((code, message)) => {
                        tracing::info!(session = %self.session, client = %hello.client_id, %code, "hello refused: {message}");
                        self.out.close(code, message, close_code::POLICY);
                        return Next::Close;
                    }
                };
                tracing::debug!(
                    session = %self.session,
                    client = %hello.client_id,
                    subject = grant.subject.as_deref().unwrap_or(if grant.is_anonymous() { "(anonymous)" } else { "" }),
                    "hello"
                );
                // While connected, its push registrations are not pushed to.
                self.presence = Some(self.shared.engine.pushes().present(&hello.client_id));
                self.client_id = Some(hello.client_id);
                self.grant = Some(grant);
                self.out.send(&ServerMessage::Welcome(Welcome {
                    version,
                    session: self.session.clone(),
                    ping_interval_ms: u64::try_from(self.shared.config.ping_interval.as_millis())
                        .unwrap_or(u64::MAX),
                    max_frame_bytes: max,
                    push_key: self.shared.engine.pushes().web_key(),
                }))
            }
            ClientMessage::Ping(h) => self.out.send(&ServerMessage::Pong(h)),
            ClientMessage::Pong(_) => Next::Serve,
            _ if self.client_id.is_none() => {
                self.out.error(ErrorCode::HelloRequired, "send hello first", None, None)
            }
            ClientMessage::Subscribe(s) => self.subscribe(s).await,
            ClientMessage::Unsubscribe(u) => match self.subs.remove(&u.sub) {
                Some(task) => {
                    task.abort();
                    self.out.send(&ServerMessage::Unsubscribed(Unsubscribed { sub: u.sub }))
                }
                None => {
                    let message = format!("no subscription {}", u.sub);
                    self.out.error(ErrorCode::UnknownSubscription, message, Some(u.sub), None)
                }
            },
            ClientMessage::Command(c) => self.command(c).await,
            ClientMessage::DefineView(d) => self.define_view(d).await,
            ClientMessage::DropView(d) => {
                let grant = self.grant();
                if !grant.may_define(&d.name) {
                    let message = define_refusal(&grant, &d.name);
                    return self.out.error(grant.refusal(), message, None, Some(d.id));
                }
                match self.shared.engine.drop_view(&d.name).await {
                    Ok(()) => {
                        self.out.send(&ServerMessage::ViewDropped(ViewDropped { id: d.id, view: d.name }))
                    }
                    Err(e) => self.out.error(e.code(), e.to_string(), None, Some(d.id)),
                }
            }
            ClientMessage::DefineCommand(d) => self.define_command(d).await,
            ClientMessage::DefineSearch(d) => self.define_search(d).await,
            ClientMessage::DropSearch(d) => self.drop_search(d).await,
            ClientMessage::Search(s) => self.search(s).await,
            ClientMessage::SubscribeSearch(s) => self.subscribe_search(s).await,
            ClientMessage::RegisterPush(r) => self.register_push(r).await,
            ClientMessage::UnregisterPush(u) => self.unregister_push(u).await,
            ClientMessage::TestPush(t) => self.test_push(t).await,
            ClientMessage::DropCommand(d) => {
                let grant = self.grant();
                if !grant.can_define() || !grant.may_send(&d.name) {
                    let message = command_refusal(&grant, &d.name);
                    return self.out.error(grant.refusal(), message, None, Some(d.id));
                }
                match self.shared.engine.drop_command(&d.name).await {
                    Ok(()) => self
                        .out
                        .send(&ServerMessage::CommandDropped(CommandDropped { id: d.id, name: d.name })),
                    Err(e) => self.out.error(e.code(), e.to_string(), None, Some(d.id)),
                }
            }
            ClientMessage::ListViews(l) => match self.view_list().await {
                Ok(views) => self.out.send(&ServerMessage::ViewList(ViewList { id: l.id, views })),
                Err(e) => self.out.error(ErrorCode::Internal, e.to_string(), None, Some(l.id)),
            },
        }
    }

    /// The views this connection may see, with the rows it may see counted: a view under the
    /// token's row filter counts the rows that pass it (read from a snapshot, counted off the
    /// async workers), so not even the number of the others leaves the server; nor does its
    /// version (0: it would count the changes to hidden rows).
    async fn view_list(&self) -> Result<Vec<ViewInfo>, crate::store::StoreError> {
        let grant = self.grant();
        let engine = &self.shared.engine;
        let mut views = engine.view_infos().await?;
        views.retain(|v| grant.may_view(&v.name));
        for view in &mut views {
            let Some(rows) = grant.row_filter(&view.name) else { continue };
            let columns = engine.view_columns(&view.name).await?;
            let snapshot = engine.snapshot(&view.name).await?;
            let counted =
                crate::offload::run(move || match LiveQuery::parse(Some(&rows), None, None, &columns) {
                    Ok(query) => snapshot.rows.iter().filter(|r| query.matches(&r.row)).count() as u64,
                    // Its subscriptions are refused (and logged) the same way: nothing to count.
                    Err(_) => 0,
                })
                .await;
            view.rows = counted.unwrap_or(0);
            view.at.version = 0;
        }
        Ok(views)
    }

    /// The connection's grant (after `hello`; none before, which gives nothing).
    fn grant(&self) -> Grant {
        self.grant.clone().unwrap_or_else(|| Grant::from_claims(Default::default()))
    }

    async fn define_view(&mut self, d: DefineView) -> Next {
        let grant = self.grant();
        // Check the right first, then the size, then the name and cost when the SQL parses (when
        // it does not, the engine answers with the line and column).
        if !grant.can_define() {
            let message = define_refusal(&grant, "");
            return self.out.error(grant.refusal(), message, None, Some(d.id));
        }
        let limits = &self.shared.config.limits;
        if let Some(message) = too_long("the view's SQL", &d.sql, limits.max_view_sql_bytes) {
            return self.out.error(ErrorCode::TooComplex, message, None, Some(d.id));
        }
        let sql = d.sql.clone();
        let parsed = crate::offload::run(move || {
            crate::sql::parse_view(&sql).map(|def| (def.name.clone(), view_cost(&def)))
        })
        .await;
        if let Ok(Ok((name, cost))) = parsed {
            if !grant.may_define(&name) {
                let message = define_refusal(&grant, &name);
                return self.out.error(grant.refusal(), message, None, Some(d.id));
            }
            let limit = limits.max_view_cost;
            if cost > limit {
                let message = format!(
                    "the view costs {cost} per event (columns, keys, sources and expression nodes), \
                     over the limit of {limit}"
                );
                return self.out.error(ErrorCode::ViewTooLarge, message, None, Some(d.id));
            }
        }
        tokio::spawn(define_view(self.shared.engine.clone(), self.out.clone(), d));
        Next::Serve
    }

    /// `define_command`: the define right and, for the command's name, the token's `commands`.
    async fn define_command(&mut self, d: DefineCommand) -> Next {
        let grant = self.grant();
        if !grant.can_define() {
            let message = command_refusal(&grant, "");
            return self.out.error(grant.refusal(), message, None, Some(d.id));
        }
        let limits = &self.shared.config.limits;
        if let Some(message) = too_long("the command's spec", &d.spec, limits.max_view_sql_bytes) {
            return self.out.error(ErrorCode::TooComplex, message, None, Some(d.id));
        }
        let spec = d.spec.clone();
        let parsed = crate::offload::run(move || {
            crate::commands::parse_routes(&spec, crate::commands::Commands::new())
                .map(|c| c.names().iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        })
        .await;
        if let Ok(Ok(names)) = parsed
            && let Some(name) = names.iter().find(|n| !grant.may_send(n))
        {
            let message = command_refusal(&grant, name);
            return self.out.error(grant.refusal(), message, None, Some(d.id));
        }
        match self.shared.engine.define_command(&d.spec).await {
            Ok(name) => self.out.send(&ServerMessage::CommandDefined(CommandDefined { id: d.id, name })),
            Err(e) => self.out.error(e.code(), e.to_string(), None, Some(d.id)),
        }
    }

    async fn subscribe(&mut self, s: Subscribe) -> Next {
        self.subs.retain(|_, task| !task.is_finished());
        if self.subs.contains_key(&s.sub) {
            let message = format!("subscription {} is already in use", s.sub);
            return self.out.error(ErrorCode::DuplicateSubscription, message, Some(s.sub), None);
        }
        let grant = self.grant();
        // Checked before the view's existence, so a token learns nothing of views it may not see.
        if !grant.may_view(&s.query.view) {
            let message = format!("this token may not subscribe to the view {:?}", s.query.view);
            return self.out.error(grant.refusal(), message, Some(s.sub), None);
        }
        let max = self.shared.config.limits.max_subscriptions;
        if self.subs.len() >= max {
            let message = format!("this connection holds {max} subscriptions, the most allowed");
            return self.out.error(ErrorCode::TooManySubscriptions, message, Some(s.sub), None);
        }
        let Some(changes) = self.shared.engine.changes(&s.query.view) else {
            let message = format!("no view named {:?}", s.query.view);
            return self.out.error(ErrorCode::UnknownView, message, Some(s.sub), None);
        };
        let stream = SubStream {
            engine: self.shared.engine.clone(),
            out: self.out.clone(),
            sub: s.sub,
            view: s.query.view.clone(),
            client_id: self.client_id.clone().unwrap_or_default(),
            chunk: self.shared.config.snapshot_chunk.max(1),
            patience: self.shared.config.limits.resync_after,
            client_version: 0,
            generation: Arc::new(AtomicU64::new(0)),
        };
        // Rows the token may not see never leave the server: its row filter makes the
        // subscription a live query over the rows it may see.
        let row_filter = grant.row_filter(&s.query.view);
        if row_filter.is_some() || s.query.is_live() {
            drop(changes);
            let sub = s.sub;
            return match self.live_query(s, row_filter).await {
                Ok((feed, resume)) => {
                    self.live.insert(sub);
                    self.subs.insert(sub, tokio::spawn(stream.run_feed(feed, resume)));
                    Next::Serve
                }
                Err((code, message)) => self.out.error(code, message, Some(sub), None),
            };
        }
        self.subs.insert(s.sub, tokio::spawn(stream.run(changes, s.resume)));
        Next::Serve
    }

    /// Whether the connection may start one more live query (or live search).
    fn room_for_live_query(&mut self) -> Result<(), (ErrorCode, String)> {
        let max = self.shared.config.limits.max_live_queries;
        self.live.retain(|sub| self.subs.contains_key(sub));
        if self.live.len() >= max {
            let message = format!(
                "this connection holds {max} live queries (subscriptions with where, order_by or limit, and live searches), the most allowed"
            );
            return Err((ErrorCode::OverBudget, message));
        }
        Ok(())
    }

    /// The shared feed of a live query, within the connection's and the server's budgets; and
    /// whether the client asked to resume.
    async fn live_query(
        &mut self,
        s: Subscribe,
        row_filter: Option<String>,
    ) -> Result<(Arc<Feed>, bool), (ErrorCode, String)> {
        self.room_for_live_query()?;
        let limits = &self.shared.config.limits;
        for (what, text) in
            [("the live query's where", &s.query.filter), ("the live query's order_by", &s.query.order_by)]
        {
            if let Some(message) = text.as_deref().and_then(|t| too_long(what, t, limits.max_query_bytes)) {
                return Err((ErrorCode::TooComplex, message));
            }
        }
        let asked = Asked {
            what: "the live query",
            filter: s.query.filter.clone(),
            order_by: s.query.order_by.clone(),
            limit: s.query.limit,
        };
        let offset = s.query.offset.unwrap_or(0);
        let query = self.compile(&s.query.view, asked, row_filter.clone()).await?.skip(offset);
        let engine = &self.shared.engine;
        let key = FeedKey { query: s.query, rows: row_filter };
        let feed = engine
            .feeds()
            .get(engine, key, query, limits.max_live_query_rows)
            .await
            .map_err(|e| (e.code(), e.to_string()))?;
        Ok((feed, s.resume.is_some()))
    }

    /// A client's query over `view`, within the token's row filter `rows`: parsed and compiled
    /// off the async workers against the view's columns, each text on its own (errors point into
    /// the client's own text, and neither can change the other's meaning), within the terms
    /// budget.
    async fn compile(
        &self,
        view: &str,
        asked: Asked<'_>,
        rows: Option<String>,
    ) -> Result<LiveQuery, (ErrorCode, String)> {
        let engine = &self.shared.engine;
        let columns = engine.view_columns(view).await.map_err(|e| (ErrorCode::UnknownView, e.to_string()))?;
        let Asked { what, filter, order_by, limit } = asked;
        let (own, rows) = crate::offload::run(move || {
            let own = LiveQuery::parse(filter.as_deref(), order_by.as_deref(), limit, &columns);
            let rows = rows.map(|r| LiveQuery::parse(Some(&r), None, None, &columns));
            (own, rows)
        })
        .await
        .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        let query = own.map_err(|e| (e.code(), format!("in {what}: {e}")))?;
        let query = match rows {
            None => query,
            Some(Ok(rows)) => query.within(rows),
            Some(Err(e)) => {
                tracing::warn!(%view, "a token's row filter does not apply: {e}");
                let message = format!("this token's row filter does not apply to the view {view:?}: {e}");
                return Err((ErrorCode::Forbidden, message));
            }
        };
        let max = self.shared.config.limits.max_query_terms;
        if query.terms() > max {
            let message = format!(
                "{what} has {} terms (expression nodes, IN items and order columns), over the limit of {max}",
                query.terms(),
            );
            return Err((ErrorCode::TooComplex, message));
        }
        Ok(query)
    }

    async fn command(&mut self, c: Command) -> Next {
        let reject = |code: ErrorCode, message: String| {
            ServerMessage::Reject(Reject {
                id: c.id,
                client_id: c.client_id.clone(),
                seq: c.seq,
                code,
                message,
            })
        };
        if self.client_id.as_deref() != Some(c.client_id.as_str()) {
            let message = "a command's client_id must be the one given in hello".to_owned();
            return self.out.send(&reject(ErrorCode::Unauthorized, message));
        }
        let grant = self.grant();
        // Checked before the command's existence, like views.
        if !grant.may_send(&c.name) {
            let message = format!("this token may not send the command {:?}", c.name);
            return self.out.send(&reject(grant.refusal(), message));
        }
        // Decided now from the payload, or later by the writer against the view rows.
        let plan = match self.shared.engine.plan(&c.name, &c.payload) {
            Ok(plan) => plan,
            Err(r) => return self.out.send(&reject(r.code, r.message)),
        };
        // Queued now, in the connection's order; acked when the commit is durable, while the
        // connection keeps reading.
        let key = CommandRef { client_id: c.client_id.clone(), seq: c.seq };
        let outcome = match self.shared.engine.submit_plan(key, plan).await {
            Ok(outcome) => outcome,
            Err(r) => return self.out.send(&reject(r.code, r.message)),
        };
        let out = self.out.clone();
        tokio::spawn(async move {
            let msg = match outcome.await {
                Ok(a) => ServerMessage::Ack(Ack {
                    id: c.id,
                    client_id: c.client_id,
                    seq: c.seq,
                    position: a.position,
                    events: a.events,
                    duplicate: a.duplicate,
                }),
                Err(r) => ServerMessage::Reject(Reject {
                    id: c.id,
                    client_id: c.client_id,
                    seq: c.seq,
                    code: r.code,
                    message: r.message,
                }),
            };
            out.send(&msg);
        });
        Next::Serve
    }
}

/// A client's own query over a view, and how errors name it ("the live query").
struct Asked<'a> {
    what: &'a str,
    filter: Option<String>,
    order_by: Option<String>,
    limit: Option<u64>,
}

/// The refusal of a client text longer than its budget, if it is.
fn too_long(what: &str, text: &str, limit: usize) -> Option<String> {
    (text.len() > limit).then(|| format!("{what} is {} bytes, over the limit of {limit} bytes", text.len()))
}

/// Why a `define_command` / `drop_command` is refused.
fn command_refusal(grant: &Grant, name: &str) -> String {
    if grant.is_anonymous() {
        "defining commands is not allowed on this server (start it with --allow-define, or connect with a \
         token that has the define right)"
            .to_owned()
    } else if !grant.can_define() {
        "this token may not define or drop commands (it lacks the define right, or has row filters)"
            .to_owned()
    } else {
        format!("this token may not define or drop a command named {name:?} (outside its commands)")
    }
}

/// Why a `define_view` / `drop_view` is refused.
fn define_refusal(grant: &Grant, name: &str) -> String {
    if grant.is_anonymous() {
        "defining views is not allowed on this server (start it with --allow-define, or connect with a \
         token that has the define right)"
            .to_owned()
    } else if !grant.can_define() {
        "this token may not define or drop views (it lacks the define right, or has row filters)".to_owned()
    } else {
        format!("this token may not define or drop a view named {name:?} (outside its views)")
    }
}
