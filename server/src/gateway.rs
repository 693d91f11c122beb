//! The WebSocket gateway: one task per connection speaking `lucarne-protocol`, one task per
//! subscription streaming a snapshot (or the missed changes) and then live deltas in order.
//!
//! Bad input never drops the connection without a reason: malformed frames, unknown messages,
//! oversized frames, unknown views and commands are each answered with an `error` or `reject`
//! carrying a code, and the connection stays usable. A connection closes only on an unsupported
//! protocol version, a missed heartbeat, a frame beyond the hard limit (close code 1009) or an
//! unreadable frame (1002), each after an `error` saying why.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{
    Ack, ClientMessage, Command, CommandRef, DefineView, Delta, ErrorCode, ErrorMessage, Heartbeat, Position,
    Reject, Resumed, Resync, ResyncReason, ServerMessage, SnapshotBegin, SnapshotEnd, SnapshotRows,
    Subscribe, Unsubscribed, ViewDefined, ViewDropped, ViewList, ViewProgress, Welcome, decode_client,
    encode, negotiate,
};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::engine::{Build, Engine};
use crate::feed::{Feed, FeedEvent, FeedKey};
use crate::query::LiveQuery;
use crate::store::{Catchup, Change};

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
    /// Messages queued for one connection before its producers wait.
    pub outbound_queue: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            ping_interval: Duration::from_secs(15),
            max_frame_bytes: lucarne_protocol::DEFAULT_MAX_FRAME_BYTES,
            hard_frame_limit: 16 * lucarne_protocol::DEFAULT_MAX_FRAME_BYTES,
            snapshot_chunk: 500,
            outbound_queue: 1024,
        }
    }
}

#[derive(Clone)]
struct Shared {
    engine: Arc<Engine>,
    config: GatewayConfig,
    sessions: Arc<AtomicU64>,
}

/// The HTTP routes: `GET /ws` (WebSocket) and `GET /healthz`.
pub fn router(engine: Arc<Engine>, config: GatewayConfig) -> axum::Router {
    let shared = Shared { engine, config, sessions: Arc::new(AtomicU64::new(0)) };
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ws", get(upgrade))
        .with_state(shared)
}

/// Serves the routes on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Acks and deltas are small frames written back to back: Nagle's algorithm would hold the
    // second one for the peer's delayed ACK (tens of milliseconds).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, router(engine, config)).with_graceful_shutdown(shutdown).await
}

async fn upgrade(ws: WebSocketUpgrade, State(shared): State<Shared>) -> impl IntoResponse {
    let limit = shared.config.hard_frame_limit;
    ws.max_message_size(limit).max_frame_size(limit).on_upgrade(move |socket| connection(socket, shared))
}

/// What the connection's writer task sends.
enum Out {
    Text(String),
    Close(u16, String),
}

#[derive(Clone)]
struct Outbox(mpsc::Sender<Out>);

impl Outbox {
    /// Queues a message; false when the connection is gone.
    async fn send(&self, msg: &ServerMessage) -> bool {
        self.0.send(Out::Text(encode(msg))).await.is_ok()
    }

    async fn error(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        sub: Option<u64>,
        id: Option<u64>,
    ) -> bool {
        self.send(&ServerMessage::Error(ErrorMessage { code, message: message.into(), sub, id })).await
    }

    async fn close(&self, code: ErrorCode, message: String, close: u16) {
        self.error(code, message.clone(), None, None).await;
        let _ = self.0.send(Out::Close(close, message)).await;
    }
}

struct Connection {
    shared: Shared,
    out: Outbox,
    session: String,
    client_id: Option<String>,
    subs: HashMap<u64, JoinHandle<()>>,
}

async fn connection(socket: WebSocket, shared: Shared) {
    let session = format!("s{}", shared.sessions.fetch_add(1, Ordering::Relaxed) + 1);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Out>(shared.config.outbound_queue);
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let result = match out {
                Out::Text(text) => sink.send(Message::Text(text.into())).await,
                Out::Close(code, reason) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
            };
            if result.is_err() {
                break;
            }
        }
    });
    let interval = shared.config.ping_interval;
    let mut conn = Connection { shared, out: Outbox(tx), session, client_id: None, subs: HashMap::new() };
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
                        if !conn.on_text(text.as_str()).await {
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        conn.out.error(ErrorCode::BadFrame, "binary frames are not supported; send JSON text", None, None).await;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        tracing::debug!(session = %conn.session, "read failed: {e}");
                        // Best effort: the socket may already be gone.
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                            conn.out.close(ErrorCode::FrameTooLarge, format!("frame over the hard limit: {text}"), close_code::SIZE).await;
                        } else {
                            conn.out.close(ErrorCode::BadFrame, format!("unreadable frame: {text}"), close_code::PROTOCOL).await;
                        }
                        break;
                    }
                }
            }
            _ = ticker.tick() => {
                if last_heard.elapsed() > interval * 2 {
                    conn.out.close(ErrorCode::Timeout, format!("no message for {:?}", interval * 2), close_code::AWAY).await;
                    break;
                }
                nonce += 1;
                conn.out.send(&ServerMessage::Ping(Heartbeat { nonce })).await;
            }
        }
    }
    for (_, task) in conn.subs.drain() {
        task.abort();
    }
    tracing::debug!(session = %conn.session, "disconnected");
    drop(conn);
    let _ = writer.await;
}

/// Runs a `define_view` request: progress while the view builds, then `view_defined`.
async fn define_view(engine: Arc<Engine>, out: Outbox, request: DefineView) {
    let id = request.id;
    let (name, mut build) = match engine.define_view(&request.sql).await {
        Ok(started) => started,
        Err(e) => {
            out.error(e.code(), e.to_string(), None, Some(id)).await;
            return;
        }
    };
    loop {
        let status = build.borrow_and_update().clone();
        match status {
            Build::Progress { done, total } => {
                let progress = ViewProgress { id, view: name.clone(), done, total };
                if !out.send(&ServerMessage::ViewProgress(progress)).await {
                    return;
                }
            }
            Build::Live(_) => {
                let info =
                    engine.view_infos().await.ok().and_then(|v| v.into_iter().find(|v| v.name == name));
                match info {
                    Some(view) => out.send(&ServerMessage::ViewDefined(ViewDefined { id, view })).await,
                    None => {
                        out.error(ErrorCode::Internal, format!("view {name:?} vanished"), None, Some(id))
                            .await
                    }
                };
                return;
            }
            Build::Failed(message) => {
                out.error(ErrorCode::Internal, message, None, Some(id)).await;
                return;
            }
        }
        if build.changed().await.is_err() {
            // The builder finished and its channel closed: read the final status once more.
            let last = build.borrow().clone();
            if matches!(last, Build::Progress { .. }) {
                out.error(ErrorCode::Internal, "the view build stopped", None, Some(id)).await;
                return;
            }
        }
    }
}

impl Connection {
    /// Handles one text frame; false when the connection must close.
    async fn on_text(&mut self, text: &str) -> bool {
        let max = self.shared.config.max_frame_bytes;
        if text.len() > max {
            let message =
                format!("frame of {} bytes is over the limit of {max} bytes; it was ignored", text.len());
            return self.out.error(ErrorCode::FrameTooLarge, message, None, None).await;
        }
        let msg = match decode_client(text) {
            Ok(msg) => msg,
            Err(e) => return self.out.error(e.code(), e.to_string(), None, None).await,
        };
        match msg {
            ClientMessage::Hello(hello) => {
                if self.client_id.is_some() {
                    return self
                        .out
                        .error(ErrorCode::AlreadyGreeted, "hello was already received", None, None)
                        .await;
                }
                let Some(version) = negotiate(&hello.versions) else {
                    let message = format!(
                        "no common protocol version: client speaks {:?}, server {:?}",
                        hello.versions,
                        lucarne_protocol::SUPPORTED_VERSIONS
                    );
                    self.out.close(ErrorCode::UnsupportedVersion, message, close_code::PROTOCOL).await;
                    return false;
                };
                if hello.client_id.is_empty() || hello.client_id.starts_with('$') {
                    let message =
                        "client_id must be non-empty and must not start with `$` (reserved for the server)";
                    return self.out.error(ErrorCode::InvalidMessage, message, None, None).await;
                }
                tracing::debug!(session = %self.session, client = %hello.client_id, "hello");
                self.client_id = Some(hello.client_id);
                self.out
                    .send(&ServerMessage::Welcome(Welcome {
                        version,
                        session: self.session.clone(),
                        ping_interval_ms: self.shared.config.ping_interval.as_millis() as u64,
                        max_frame_bytes: max,
                    }))
                    .await
            }
            ClientMessage::Ping(h) => self.out.send(&ServerMessage::Pong(h)).await,
            ClientMessage::Pong(_) => true,
            _ if self.client_id.is_none() => {
                self.out.error(ErrorCode::HelloRequired, "send hello first", None, None).await
            }
            ClientMessage::Subscribe(s) => self.subscribe(s).await,
            ClientMessage::Unsubscribe(u) => match self.subs.remove(&u.sub) {
                Some(task) => {
                    task.abort();
                    self.out.send(&ServerMessage::Unsubscribed(Unsubscribed { sub: u.sub })).await
                }
                None => {
                    let message = format!("no subscription {}", u.sub);
                    self.out.error(ErrorCode::UnknownSubscription, message, Some(u.sub), None).await
                }
            },
            ClientMessage::Command(c) => self.command(c).await,
            ClientMessage::DefineView(d) => {
                let (engine, out) = (self.shared.engine.clone(), self.out.clone());
                tokio::spawn(define_view(engine, out, d));
                true
            }
            ClientMessage::DropView(d) => match self.shared.engine.drop_view(&d.name).await {
                Ok(()) => {
                    self.out.send(&ServerMessage::ViewDropped(ViewDropped { id: d.id, view: d.name })).await
                }
                Err(e) => self.out.error(e.code(), e.to_string(), None, Some(d.id)).await,
            },
            ClientMessage::ListViews(l) => match self.shared.engine.view_infos().await {
                Ok(views) => self.out.send(&ServerMessage::ViewList(ViewList { id: l.id, views })).await,
                Err(e) => self.out.error(ErrorCode::Internal, e.to_string(), None, Some(l.id)).await,
            },
        }
    }

    async fn subscribe(&mut self, s: Subscribe) -> bool {
        self.subs.retain(|_, task| !task.is_finished());
        if self.subs.contains_key(&s.sub) {
            let message = format!("subscription {} is already in use", s.sub);
            return self.out.error(ErrorCode::DuplicateSubscription, message, Some(s.sub), None).await;
        }
        let Some(changes) = self.shared.engine.changes(&s.view) else {
            let message = format!("no view named {:?}", s.view);
            return self.out.error(ErrorCode::UnknownView, message, Some(s.sub), None).await;
        };
        let stream = SubStream {
            engine: self.shared.engine.clone(),
            out: self.out.clone(),
            sub: s.sub,
            view: s.view.clone(),
            chunk: self.shared.config.snapshot_chunk.max(1),
            client_version: 0,
        };
        if s.filter.is_some() || s.order_by.is_some() || s.limit.is_some() {
            let engine = &self.shared.engine;
            let columns = match engine.view_columns(&s.view).await {
                Ok(columns) => columns,
                Err(e) => {
                    return self.out.error(ErrorCode::UnknownView, e.to_string(), Some(s.sub), None).await;
                }
            };
            let query = match LiveQuery::parse(s.filter.as_deref(), s.order_by.as_deref(), s.limit, &columns)
            {
                Ok(query) => query,
                Err(e) => {
                    let message = format!("in the live query: {e}");
                    return self.out.error(ErrorCode::InvalidSql, message, Some(s.sub), None).await;
                }
            };
            let key = FeedKey { view: s.view, filter: s.filter, order_by: s.order_by, limit: s.limit };
            let feed = match engine.feeds().get(engine, key, query).await {
                Ok(feed) => feed,
                Err(e) => {
                    return self.out.error(ErrorCode::UnknownView, e.to_string(), Some(s.sub), None).await;
                }
            };
            drop(changes);
            self.subs.insert(s.sub, tokio::spawn(stream.run_feed(feed, s.resume.is_some())));
            return true;
        }
        self.subs.insert(s.sub, tokio::spawn(stream.run(changes, s.resume)));
        true
    }

    async fn command(&mut self, c: Command) -> bool {
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
            return self.out.send(&reject(ErrorCode::Unauthorized, message)).await;
        }
        let events = match self.shared.engine.commands().decide(&c.name, &c.payload) {
            Ok(events) => events,
            Err(r) => return self.out.send(&reject(r.code, r.message)).await,
        };
        // Queued now, in the connection's order; acked when the commit is durable, while the
        // connection keeps reading.
        let key = CommandRef { client_id: c.client_id.clone(), seq: c.seq };
        let outcome = match self.shared.engine.submit(key, events).await {
            Ok(outcome) => outcome,
            Err(r) => return self.out.send(&reject(r.code, r.message)).await,
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
            out.send(&msg).await;
        });
        true
    }
}

/// One subscription's stream: snapshot or catch-up, then live changes in version order.
struct SubStream {
    engine: Arc<Engine>,
    out: Outbox,
    sub: u64,
    view: String,
    chunk: usize,
    /// The version of the rows the client holds.
    client_version: u64,
}

impl SubStream {
    async fn run(mut self, mut changes: broadcast::Receiver<Arc<Change>>, resume: Option<Position>) {
        // `changes` was subscribed before the store is read, so nothing falls between them.
        let start = match resume {
            Some(from) => self.resume(from).await,
            None => self.snapshot().await,
        };
        let Some(mut at) = start else { return };
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(sub = self.sub, missed, "subscriber lagged; resyncing");
                    match self.resync(ResyncReason::SlowConsumer).await {
                        Some(now) => at = now,
                        None => return,
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let message = format!("view {:?} was dropped", self.view);
                    self.out.error(ErrorCode::UnknownView, message, Some(self.sub), None).await;
                    return;
                }
            };
            if change.epoch == at.epoch && change.to <= at.version {
                continue; // already in the snapshot
            }
            if change.epoch != at.epoch || change.from != at.version {
                let reason = if change.epoch != at.epoch {
                    ResyncReason::EpochChanged
                } else {
                    ResyncReason::TooFarBehind
                };
                match self.resync(reason).await {
                    Some(now) => at = now,
                    None => return,
                }
                continue;
            }
            if !self.delta(&change).await {
                return;
            }
            at.version = change.to;
        }
    }

    async fn delta(&mut self, change: &Change) -> bool {
        let delta = Delta {
            sub: self.sub,
            from: self.client_version,
            to: change.to,
            ops: change.ops.clone(),
            acked: change.acked.clone(),
        };
        self.client_version = change.to;
        self.out.send(&ServerMessage::Delta(delta)).await
    }

    /// A live query: a copy of the shared window, then its deltas; a fresh copy whenever the
    /// feed is rebuilt. A resume always starts afresh (the window can't be rebuilt from the
    /// changelog).
    async fn run_feed(self, feed: Arc<Feed>, resume: bool) {
        let mut reason = resume.then_some(ResyncReason::LiveQuery);
        loop {
            if let Some(reason) = reason.take()
                && !self.out.send(&ServerMessage::Resync(Resync { sub: self.sub, reason })).await
            {
                return;
            }
            let Some(joined) = feed.join() else { return };
            if self.send_snapshot(joined.at, joined.rows).await.is_none() {
                return;
            }
            let (mut held, mut events) = (joined.at.version, joined.events);
            reason = loop {
                match events.recv().await {
                    Ok(FeedEvent::Delta { from, to, ops, acked }) => {
                        if from != held {
                            break Some(ResyncReason::TooFarBehind);
                        }
                        let delta = Delta { sub: self.sub, from, to, ops, acked };
                        if !self.out.send(&ServerMessage::Delta(delta)).await {
                            return;
                        }
                        held = to;
                    }
                    Ok(FeedEvent::Reset(why)) => break Some(why),
                    Err(broadcast::error::RecvError::Lagged(_)) => break Some(ResyncReason::SlowConsumer),
                    Ok(FeedEvent::Dropped) | Err(broadcast::error::RecvError::Closed) => {
                        let message = format!("view {:?} was dropped", self.view);
                        self.out.error(ErrorCode::UnknownView, message, Some(self.sub), None).await;
                        return;
                    }
                }
            };
        }
    }

    async fn resume(&mut self, from: Position) -> Option<Position> {
        match self.engine.catch_up(&self.view, from).await {
            Ok(Catchup::Changes(missed, now)) => {
                self.out
                    .send(&ServerMessage::Resumed(Resumed { sub: self.sub, at: from }))
                    .await
                    .then_some(())?;
                self.client_version = from.version;
                for change in &missed {
                    self.delta(change).await.then_some(())?;
                }
                Some(now)
            }
            Ok(Catchup::Resync(reason)) => self.resync(reason).await,
            Err(e) => {
                self.out.error(ErrorCode::Internal, e.to_string(), Some(self.sub), None).await;
                None
            }
        }
    }

    async fn resync(&mut self, reason: ResyncReason) -> Option<Position> {
        self.out.send(&ServerMessage::Resync(Resync { sub: self.sub, reason })).await.then_some(())?;
        self.snapshot().await
    }

    async fn snapshot(&mut self) -> Option<Position> {
        let snapshot = match self.engine.snapshot(&self.view).await {
            Ok(s) => s,
            Err(e) => {
                self.out.error(ErrorCode::Internal, e.to_string(), Some(self.sub), None).await;
                return None;
            }
        };
        self.client_version = snapshot.at.version;
        self.send_snapshot(snapshot.at, snapshot.rows).await
    }

    /// `snapshot_begin`, the rows in chunks, `snapshot_end`.
    async fn send_snapshot(&self, at: Position, mut rows: Vec<lucarne_protocol::Row>) -> Option<Position> {
        let begin = SnapshotBegin { sub: self.sub, view: self.view.clone(), at, rows: rows.len() as u64 };
        self.out.send(&ServerMessage::SnapshotBegin(begin)).await.then_some(())?;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(self.chunk));
            self.out
                .send(&ServerMessage::SnapshotRows(SnapshotRows { sub: self.sub, rows }))
                .await
                .then_some(())?;
            rows = rest;
        }
        self.out.send(&ServerMessage::SnapshotEnd(SnapshotEnd { sub: self.sub })).await.then_some(())?;
        Some(at)
    }
}
