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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use lucarne_protocol::{
    Ack, ClientMessage, Command, CommandDefined, CommandDropped, CommandRef, DefineCommand, DefineView,
    Delta, ErrorCode, ErrorMessage, Heartbeat, Position, Reject, Resumed, Resync, ResyncReason,
    ServerMessage, SnapshotBegin, SnapshotEnd, SnapshotRows, Subscribe, Unsubscribed, ViewDefined,
    ViewDropped, ViewInfo, ViewList, ViewProgress, Welcome, decode_client, encode, negotiate,
};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod http;

pub use http::{OriginPolicy, content_security_policy, security_headers, serve};

use crate::auth::{Auth, Grant};
use crate::engine::{Build, Engine};
use crate::feed::{Feed, FeedEvent, FeedKey};
use crate::limits::{Limits, RateLimit, Verdict, view_cost};
use crate::query::LiveQuery;
use crate::store::{Catchup, Change};

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
    let shared = Shared { engine, config, sessions: Arc::new(AtomicU64::new(0)) };
    // Add routes here, before the layers: they wrap every route registered above them.
    let router = axum::Router::new()
        .route("/healthz", get(health))
        .route("/ws", get(upgrade))
        .with_state(shared)
        .merge(crate::web::router());
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

/// What the connection's writer task sends.
enum Out {
    /// A snapshot frame, counted in the queue's bytes.
    Text(String),
    /// A delta, counted in the queue's bytes; skipped if its subscription has resynced since.
    Delta(String, Stamp),
    /// Any other frame (acks, errors, pings, answers), counted in the queue's bytes and apart.
    Control(String),
    /// The `error` before a close: never dropped.
    Final(String),
    Close(u16, String),
    /// The connection ended: stop.
    End,
}

/// A delta's subscription generation when it was queued. A subscription that gives up on its
/// queued deltas (it will resync) moves its generation on, and the writer skips them: the
/// client gets the `resync` and the fresh snapshot sooner, without stale deltas before them.
struct Stamp {
    generation: Arc<AtomicU64>,
    at: u64,
}

impl Stamp {
    /// A delta queued now by the subscription whose generation is `generation`.
    fn now(generation: &Arc<AtomicU64>) -> Stamp {
        Stamp { generation: generation.clone(), at: generation.load(Ordering::Acquire) }
    }

    fn stale(&self) -> bool {
        self.generation.load(Ordering::Acquire) != self.at
    }
}

/// One connection's outbound queue: frames in order, their bytes counted.
struct Queue {
    tx: mpsc::UnboundedSender<Out>,
    /// Bytes of `Out::Text`, `Out::Delta` and `Out::Control` frames queued and not yet written.
    bytes: AtomicUsize,
    /// Bytes of `Out::Control` frames queued and not yet written.
    control: AtomicUsize,
    cap: usize,
    /// No more frames are taken.
    closed: AtomicBool,
    /// The queued frames are dropped instead of written (a slow consumer is being closed).
    discard: AtomicBool,
    /// Bytes went down while someone waits for room, or the queue closed.
    room: Notify,
    /// Tasks waiting on `room`: the writer notifies only when there are some.
    room_waiters: AtomicUsize,
    /// The queue closed.
    closing: Notify,
}

/// Counts a waiter while it lives (also when its future is dropped by a timeout).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What became of a frame offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Push {
    Sent,
    /// No room within the patience given: not queued.
    Full,
    Closed,
}

#[derive(Clone)]
struct Outbox(Arc<Queue>);

impl Outbox {
    fn new(cap: usize) -> (Outbox, mpsc::UnboundedReceiver<Out>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Queue {
            tx,
            bytes: AtomicUsize::new(0),
            control: AtomicUsize::new(0),
            cap: cap.max(1),
            closed: AtomicBool::new(false),
            discard: AtomicBool::new(false),
            room: Notify::new(),
            room_waiters: AtomicUsize::new(0),
            closing: Notify::new(),
        };
        (Outbox(Arc::new(queue)), rx)
    }

    fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// Queues a message other than a delta or snapshot whatever the queue holds, unless such
    /// messages already queued come to more than the cap: then the connection is closed as a
    /// slow consumer. False when the connection is gone.
    fn push(&self, text: String) -> bool {
        if self.is_closed() {
            return false;
        }
        let queued = self.0.control.load(Ordering::Acquire);
        if queued > self.0.cap {
            let message = format!(
                "the client does not read fast enough: {queued} bytes of answers waiting for it, over \
                 the limit of {}",
                self.0.cap
            );
            self.close_slow(message);
            return false;
        }
        let len = text.len();
        self.0.control.fetch_add(len, Ordering::AcqRel);
        self.0.bytes.fetch_add(len, Ordering::AcqRel);
        if self.0.tx.send(Out::Control(text)).is_err() {
            self.0.control.fetch_sub(len, Ordering::AcqRel);
            self.0.bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Queues a frame that was given room by the cap's rules (a delta with its stamp, or a
    /// snapshot frame).
    fn enqueue(&self, text: String, stamp: Option<Stamp>) -> bool {
        if self.is_closed() {
            return false;
        }
        let len = text.len();
        self.0.bytes.fetch_add(len, Ordering::AcqRel);
        let frame = match stamp {
            Some(stamp) => Out::Delta(text, stamp),
            None => Out::Text(text),
        };
        if self.0.tx.send(frame).is_err() {
            self.0.bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Queues a message (see [`Outbox::push`]).
    fn send(&self, msg: &ServerMessage) -> bool {
        self.push(encode(msg))
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>, sub: Option<u64>, id: Option<u64>) -> bool {
        self.send(&ServerMessage::Error(ErrorMessage { code, message: message.into(), sub, id }))
    }

    /// Queues a delta of the subscription whose generation is `generation` once the queue has
    /// room for it (or is empty), waiting at most `patience`: `Full` when the client did not
    /// make room in time.
    async fn send_delta(&self, msg: &ServerMessage, patience: Duration, generation: &Arc<AtomicU64>) -> Push {
        self.send_delta_text(encode(msg), patience, generation).await
    }

    /// [`Outbox::send_delta`] of an encoded delta.
    async fn send_delta_text(&self, text: String, patience: Duration, generation: &Arc<AtomicU64>) -> Push {
        let len = text.len();
        let cap = self.0.cap;
        let fits = |queued: usize| queued == 0 || queued + len <= cap;
        if self.is_closed() {
            return Push::Closed;
        }
        if !fits(self.0.bytes.load(Ordering::Acquire)) {
            match tokio::time::timeout(patience, self.wait_until(fits)).await {
                Ok(true) => {}
                Ok(false) => return Push::Closed,
                Err(_) => return Push::Full,
            }
        }
        if self.enqueue(text, Some(Stamp::now(generation))) { Push::Sent } else { Push::Closed }
    }

    /// Queues a snapshot message once the queue is at most half full (or empty), so deltas
    /// after it find room.
    async fn send_waiting(&self, msg: &ServerMessage) -> bool {
        let text = encode(msg);
        let len = text.len();
        let fits = |queued: usize| queued == 0 || queued + len <= self.0.cap / 2;
        if self.wait_until(fits).await { self.enqueue(text, None) } else { false }
    }

    /// Waits until the queue has drained to half its cap; false when the connection is gone.
    async fn wait_room(&self) -> bool {
        self.wait_until(|queued| queued <= self.0.cap / 2).await
    }

    async fn wait_until(&self, ready: impl Fn(usize) -> bool) -> bool {
        let queue = &self.0;
        loop {
            let room = queue.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            // Counted before the check, so the writer, which counts after taking bytes off,
            // either sees this waiter or this check sees its bytes gone.
            let _waiting = Waiting::new(&queue.room_waiters);
            if self.is_closed() {
                return false;
            }
            if ready(queue.bytes.load(Ordering::SeqCst)) {
                return true;
            }
            room.await;
        }
    }

    /// Resolves once the queue is closed.
    async fn closed(&self) {
        loop {
            let closing = self.0.closing.notified();
            tokio::pin!(closing);
            closing.as_mut().enable();
            if self.is_closed() {
                return;
            }
            closing.await;
        }
    }

    fn notify_closed(&self) {
        self.0.room.notify_waiters();
        self.0.closing.notify_waiters();
    }

    /// The writer wrote (or dropped) a frame of `len` bytes.
    fn written(&self, len: usize, control: bool) {
        if control {
            self.0.control.fetch_sub(len, Ordering::AcqRel);
        }
        self.0.bytes.fetch_sub(len, Ordering::SeqCst);
        if self.0.room_waiters.load(Ordering::SeqCst) > 0 {
            self.0.room.notify_waiters();
        }
    }

    /// Ends the connection with a reason: `error`, then a close frame, after what is queued.
    fn close(&self, code: ErrorCode, message: String, close: u16) {
        if self.0.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let error = ErrorMessage { code, message: message.clone(), sub: None, id: None };
        let _ = self.0.tx.send(Out::Final(encode(&ServerMessage::Error(error))));
        let _ = self.0.tx.send(Out::Close(close, message));
        self.notify_closed();
    }

    /// Closes a connection that does not read: what is queued for it is dropped.
    fn close_slow(&self, message: String) {
        tracing::info!("closing a slow consumer: {message}");
        self.0.discard.store(true, Ordering::Release);
        self.close(ErrorCode::SlowConsumer, message, close_code::POLICY);
    }

    /// The connection ended: the writer stops after what is queued.
    fn end(&self) {
        if !self.0.closed.swap(true, Ordering::AcqRel) {
            let _ = self.0.tx.send(Out::End);
        }
        self.notify_closed();
    }

    /// The writer stopped.
    fn stopped(&self) {
        self.0.closed.store(true, Ordering::Release);
        self.notify_closed();
    }
}

/// Bytes fed to the socket before it is flushed, at most (one flush per batch of frames). Kept
/// small: the socket's write buffer keeps the capacity its largest batch needed.
const WRITE_BATCH_BYTES: usize = 8 * 1024;

/// Writes the queued frames to the socket: every frame already queued is fed, then one flush
/// (so a backlog costs one write, not one per frame). A batch not written within `stuck`
/// closes the connection as a slow consumer.
async fn write_frames<S: futures_util::Sink<Message> + Unpin>(
    mut sink: S,
    mut rx: mpsc::UnboundedReceiver<Out>,
    out: Outbox,
    stuck: Duration,
) {
    let mut grace: Option<Instant> = None;
    // Frames fed and not yet flushed: (bytes, control).
    let mut fed: Vec<(usize, bool)> = Vec::new();
    'frames: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut bytes = 0;
        while let Some(frame) = next.take() {
            let control = matches!(frame, Out::Control(_));
            match frame {
                // A delta its subscription gave up on is never written.
                Out::Delta(text, stamp) if stamp.stale() => out.written(text.len(), false),
                Out::Text(text) | Out::Control(text) | Out::Delta(text, _)
                    if out.0.discard.load(Ordering::Acquire) =>
                {
                    out.written(text.len(), control);
                }
                Out::Text(text) | Out::Control(text) | Out::Delta(text, _) => {
                    let len = text.len();
                    fed.push((len, control));
                    bytes += len;
                    match tokio::time::timeout(stuck, sink.feed(Message::Text(text.into()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break 'frames,
                        Err(_) => {
                            out.close_slow(format!("a frame waited {stuck:?} for the client to read it"));
                        }
                    }
                }
                Out::Final(text) => {
                    if !flush(&mut sink, &mut fed, &out, stuck).await {
                        break 'frames;
                    }
                    let deadline = *grace.get_or_insert_with(|| Instant::now() + CLOSE_GRACE);
                    if !matches!(
                        tokio::time::timeout_at(deadline, sink.send(Message::Text(text.into()))).await,
                        Ok(Ok(()))
                    ) {
                        break 'frames;
                    }
                }
                Out::Close(code, reason) => {
                    let _ = flush(&mut sink, &mut fed, &out, stuck).await;
                    let deadline = *grace.get_or_insert_with(|| Instant::now() + CLOSE_GRACE);
                    let close = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
                    let _ = tokio::time::timeout_at(deadline, sink.send(close)).await;
                    break 'frames;
                }
                Out::End => {
                    let _ = flush(&mut sink, &mut fed, &out, stuck).await;
                    break 'frames;
                }
            }
            if bytes < WRITE_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if !flush(&mut sink, &mut fed, &out, stuck).await {
            break;
        }
    }
    // Frames fed but never written still leave the byte count.
    for (len, control) in fed.drain(..) {
        out.written(len, control);
    }
    out.stopped();
}

/// Flushes the frames fed to the socket and takes their bytes off the queue's count; false when
/// the socket failed.
async fn flush<S: futures_util::Sink<Message> + Unpin>(
    sink: &mut S,
    fed: &mut Vec<(usize, bool)>,
    out: &Outbox,
    stuck: Duration,
) -> bool {
    if fed.is_empty() {
        return true;
    }
    let flushed = tokio::time::timeout(stuck, sink.flush()).await;
    for (len, control) in fed.drain(..) {
        out.written(len, control);
    }
    match flushed {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            out.close_slow(format!("a frame waited {stuck:?} for the client to read it"));
            true
        }
    }
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
                        if !Box::pin(conn.on_text(text.as_str())).await {
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if !conn.on_binary() {
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
                if !out.send(&ServerMessage::ViewProgress(progress)) {
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
    /// Answers a binary frame (after the rate limit); false when the connection must close.
    fn on_binary(&mut self) -> bool {
        match self.rate.check(Instant::now().into_std()) {
            Verdict::Allow => {
                let message = "binary frames are not supported; send JSON text";
                self.out.error(ErrorCode::BadFrame, message, None, None)
            }
            Verdict::Refuse => self.out.error(ErrorCode::RateLimited, self.rate_message(), None, None),
            Verdict::Close => {
                self.close_flooding();
                false
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
    fn refuse_rate(&self, msg: &ClientMessage) -> bool {
        let message = self.rate_message();
        match msg {
            ClientMessage::Pong(_) => true,
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
            ClientMessage::Hello(_) | ClientMessage::Ping(_) => {
                self.out.error(ErrorCode::RateLimited, message, None, None)
            }
        }
    }

    /// Handles one text frame; false when the connection must close.
    async fn on_text(&mut self, text: &str) -> bool {
        let verdict = self.rate.check(Instant::now().into_std());
        if verdict == Verdict::Close {
            self.close_flooding();
            return false;
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
            return false;
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
                    return false;
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
                        return false;
                    }
                };
                tracing::debug!(
                    session = %self.session,
                    client = %hello.client_id,
                    subject = grant.subject.as_deref().unwrap_or(if grant.is_anonymous() { "(anonymous)" } else { "" }),
                    "hello"
                );
                self.client_id = Some(hello.client_id);
                self.grant = Some(grant);
                self.out.send(&ServerMessage::Welcome(Welcome {
                    version,
                    session: self.session.clone(),
                    ping_interval_ms: self.shared.config.ping_interval.as_millis() as u64,
                    max_frame_bytes: max,
                }))
            }
            ClientMessage::Ping(h) => self.out.send(&ServerMessage::Pong(h)),
            ClientMessage::Pong(_) => true,
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

    async fn define_view(&mut self, d: DefineView) -> bool {
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
        true
    }

    /// `define_command`: the define right and, for the command's name, the token's `commands`.
    async fn define_command(&mut self, d: DefineCommand) -> bool {
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

    async fn subscribe(&mut self, s: Subscribe) -> bool {
        self.subs.retain(|_, task| !task.is_finished());
        if self.subs.contains_key(&s.sub) {
            let message = format!("subscription {} is already in use", s.sub);
            return self.out.error(ErrorCode::DuplicateSubscription, message, Some(s.sub), None);
        }
        let grant = self.grant();
        // Checked before the view's existence, so a token learns nothing of views it may not see.
        if !grant.may_view(&s.view) {
            let message = format!("this token may not subscribe to the view {:?}", s.view);
            return self.out.error(grant.refusal(), message, Some(s.sub), None);
        }
        let max = self.shared.config.limits.max_subscriptions;
        if self.subs.len() >= max {
            let message = format!("this connection holds {max} subscriptions, the most allowed");
            return self.out.error(ErrorCode::TooManySubscriptions, message, Some(s.sub), None);
        }
        let Some(changes) = self.shared.engine.changes(&s.view) else {
            let message = format!("no view named {:?}", s.view);
            return self.out.error(ErrorCode::UnknownView, message, Some(s.sub), None);
        };
        let stream = SubStream {
            engine: self.shared.engine.clone(),
            out: self.out.clone(),
            sub: s.sub,
            view: s.view.clone(),
            client_id: self.client_id.clone().unwrap_or_default(),
            chunk: self.shared.config.snapshot_chunk.max(1),
            patience: self.shared.config.limits.resync_after,
            client_version: 0,
            generation: Arc::new(AtomicU64::new(0)),
        };
        // Rows the token may not see never leave the server: its row filter makes the
        // subscription a live query over the rows it may see.
        let row_filter = grant.row_filter(&s.view);
        if row_filter.is_some() || s.filter.is_some() || s.order_by.is_some() || s.limit.is_some() {
            drop(changes);
            let sub = s.sub;
            return match self.live_query(s, row_filter).await {
                Ok((feed, resume)) => {
                    self.live.insert(sub);
                    self.subs.insert(sub, tokio::spawn(stream.run_feed(feed, resume)));
                    true
                }
                Err((code, message)) => self.out.error(code, message, Some(sub), None),
            };
        }
        self.subs.insert(s.sub, tokio::spawn(stream.run(changes, s.resume)));
        true
    }

    /// The shared feed of a live query, within the connection's and the server's budgets; and
    /// whether the client asked to resume.
    async fn live_query(
        &mut self,
        s: Subscribe,
        row_filter: Option<String>,
    ) -> Result<(Arc<Feed>, bool), (ErrorCode, String)> {
        let limits = &self.shared.config.limits;
        self.live.retain(|sub| self.subs.contains_key(sub));
        if self.live.len() >= limits.max_live_queries {
            let message = format!(
                "this connection holds {} live queries (subscriptions with where, order_by or limit), the most allowed",
                limits.max_live_queries
            );
            return Err((ErrorCode::OverBudget, message));
        }
        for (what, text) in
            [("the live query's where", &s.filter), ("the live query's order_by", &s.order_by)]
        {
            if let Some(message) = text.as_deref().and_then(|t| too_long(what, t, limits.max_query_bytes)) {
                return Err((ErrorCode::TooComplex, message));
            }
        }
        let engine = &self.shared.engine;
        let columns =
            engine.view_columns(&s.view).await.map_err(|e| (ErrorCode::UnknownView, e.to_string()))?;
        // Parsed and compiled off the async workers, each text on its own, so that errors point
        // into the client's own text and neither can change the other's meaning.
        let (filter, order_by, limit, rows) =
            (s.filter.clone(), s.order_by.clone(), s.limit, row_filter.clone());
        let (own, rows) = crate::offload::run(move || {
            let own = LiveQuery::parse(filter.as_deref(), order_by.as_deref(), limit, &columns);
            let rows = rows.map(|r| LiveQuery::parse(Some(&r), None, None, &columns));
            (own, rows)
        })
        .await
        .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        let query = own.map_err(|e| (e.code(), format!("in the live query: {e}")))?;
        let query = match rows {
            None => query,
            Some(Ok(rows)) => query.within(rows),
            Some(Err(e)) => {
                tracing::warn!(view = %s.view, "a token's row filter does not apply: {e}");
                let message = format!("this token's row filter does not apply to the view {:?}: {e}", s.view);
                return Err((ErrorCode::Forbidden, message));
            }
        };
        if query.terms() > limits.max_query_terms {
            let message = format!(
                "the live query has {} terms (expression nodes, IN items and order columns), over the limit of {}",
                query.terms(),
                limits.max_query_terms
            );
            return Err((ErrorCode::TooComplex, message));
        }
        let key = FeedKey {
            view: s.view,
            rows: row_filter,
            filter: s.filter,
            order_by: s.order_by,
            limit: s.limit,
        };
        let feed = engine
            .feeds()
            .get(engine, key, query, limits.max_live_query_rows)
            .await
            .map_err(|e| (e.code(), e.to_string()))?;
        Ok((feed, s.resume.is_some()))
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
        true
    }
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

/// A change's `view`, `epoch` and `to`, and its `delta`'s `,"ops":[…]`.
type DeltaOps = (String, u64, u64, Arc<str>);

thread_local! {
    /// The ops of the last change's `delta` encoded on this thread: every subscriber of a view
    /// is sent the same change, so its rows are encoded once per worker thread rather than once
    /// per subscriber.
    static DELTA_OPS: std::cell::RefCell<Option<DeltaOps>> = const { std::cell::RefCell::new(None) };
}

/// The `delta` of `change` for subscription `sub` holding version `from`, on the connection of
/// `client_id`: the bytes of `encode(&ServerMessage::Delta(..))`, with the change's ops encoded
/// once, and `acked` listing only that client's commands (a client learns nothing of others').
fn delta_text(sub: u64, from: u64, change: &Change, client_id: &str) -> String {
    let ops = DELTA_OPS.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some((view, epoch, to, ops)) = cached.as_ref()
            && (view.as_str(), *epoch, *to) == (change.view.as_str(), change.epoch, change.to)
        {
            return ops.clone();
        }
        let ops: Arc<str> = format!(",\"ops\":{}", encode(&change.ops)).into();
        *cached = Some((change.view.clone(), change.epoch, change.to, ops.clone()));
        ops
    });
    let mut text = format!("{{\"type\":\"delta\",\"sub\":{sub},\"from\":{from},\"to\":{}{ops}", change.to);
    let own = own_acks(&change.acked, client_id);
    if !own.is_empty() {
        text.push_str(",\"acked\":");
        text.push_str(&encode(&own));
    }
    text.push('}');
    text
}

/// The commands of `client_id` among `acked`.
fn own_acks(acked: &[CommandRef], client_id: &str) -> Vec<CommandRef> {
    acked.iter().filter(|c| c.client_id == client_id).cloned().collect()
}

/// Where a subscription's stream goes next.
enum Flow {
    /// Live at this position.
    At(Position),
    /// A delta did not fit in the connection's queue: resync once it has drained.
    Stale,
    /// The connection or the view is gone.
    End,
}

/// One subscription's stream: snapshot or catch-up, then live changes in version order.
struct SubStream {
    engine: Arc<Engine>,
    out: Outbox,
    sub: u64,
    view: String,
    /// The connection's client: `acked` lists only its own commands.
    client_id: String,
    chunk: usize,
    /// How long a delta waits for room in the queue before the subscription resyncs.
    patience: Duration,
    /// The version of the rows the client holds.
    client_version: u64,
    /// Moved on when the subscription gives up on its queued deltas (see [`Stamp`]).
    generation: Arc<AtomicU64>,
}

impl SubStream {
    async fn run(mut self, changes: broadcast::Receiver<Arc<Change>>, resume: Option<Position>) {
        // `changes` was subscribed before the store is read, so nothing falls between them.
        let mut changes = Some(changes);
        let mut flow = match resume {
            Some(from) => Box::pin(self.resume(from)).await,
            None => Box::pin(self.snapshot()).await,
        };
        loop {
            let mut at = match flow {
                Flow::At(at) => at,
                Flow::End => return,
                Flow::Stale => {
                    // Hold nothing while the client catches up, then start afresh.
                    drop(changes.take());
                    if !self.out.wait_room().await {
                        return;
                    }
                    tracing::debug!(sub = self.sub, "slow consumer caught up; resyncing");
                    changes = self.engine.changes(&self.view);
                    if changes.is_none() {
                        self.dropped();
                        return;
                    }
                    flow = Box::pin(self.resync(ResyncReason::SlowConsumer)).await;
                    continue;
                }
            };
            let Some(receiver) = changes.as_mut() else { return };
            flow = loop {
                let change = match receiver.recv().await {
                    Ok(change) => change,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(sub = self.sub, missed, "subscriber lagged; resyncing");
                        break Box::pin(self.resync(ResyncReason::SlowConsumer)).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        self.dropped();
                        break Flow::End;
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
                    break Box::pin(self.resync(reason)).await;
                }
                match self.delta(&change).await {
                    Push::Sent => at.version = change.to,
                    Push::Full => break Flow::Stale,
                    Push::Closed => break Flow::End,
                }
            };
        }
    }

    fn dropped(&self) {
        let message = format!("view {:?} was dropped", self.view);
        self.out.error(ErrorCode::UnknownView, message, Some(self.sub), None);
    }

    async fn delta(&mut self, change: &Change) -> Push {
        let text = delta_text(self.sub, self.client_version, change, &self.client_id);
        let pushed = self.out.send_delta_text(text, self.patience, &self.generation).await;
        match pushed {
            Push::Sent => self.client_version = change.to,
            Push::Full => self.purge(),
            Push::Closed => {}
        }
        pushed
    }

    /// Gives up on the deltas queued for this subscription: it will resync.
    fn purge(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A live query: a copy of the shared window, then its deltas; a fresh copy whenever the
    /// feed is rebuilt or the client fell behind. A resume always starts afresh (the window
    /// can't be rebuilt from the changelog).
    async fn run_feed(self, feed: Arc<Feed>, resume: bool) {
        let mut reason = resume.then_some(ResyncReason::LiveQuery);
        loop {
            if let Some(reason) = reason.take()
                && !self.out.send_waiting(&ServerMessage::Resync(Resync { sub: self.sub, reason })).await
            {
                return;
            }
            let Some(joined) = feed.join() else { return };
            let Flow::At(_) = Box::pin(self.send_snapshot(joined.at, joined.rows)).await else { return };
            let (mut held, mut events) = (joined.at.version, joined.events);
            let mut stale = false;
            reason = loop {
                match events.recv().await {
                    Ok(FeedEvent::Delta { from, to, ops, acked }) => {
                        if from != held {
                            break Some(ResyncReason::TooFarBehind);
                        }
                        let acked = own_acks(&acked, &self.client_id);
                        let delta = Delta { sub: self.sub, from, to, ops, acked };
                        match self
                            .out
                            .send_delta(&ServerMessage::Delta(delta), self.patience, &self.generation)
                            .await
                        {
                            Push::Sent => held = to,
                            Push::Full => {
                                self.purge();
                                stale = true;
                                break Some(ResyncReason::SlowConsumer);
                            }
                            Push::Closed => return,
                        }
                    }
                    Ok(FeedEvent::Reset(why)) => break Some(why),
                    Err(broadcast::error::RecvError::Lagged(_)) => break Some(ResyncReason::SlowConsumer),
                    Ok(FeedEvent::Dropped) | Err(broadcast::error::RecvError::Closed) => {
                        self.dropped();
                        return;
                    }
                }
            };
            drop(events);
            if stale && !self.out.wait_room().await {
                return;
            }
        }
    }

    async fn resume(&mut self, from: Position) -> Flow {
        match self.engine.catch_up(&self.view, from).await {
            Ok(Catchup::Changes(missed, now)) => {
                if !self.out.send_waiting(&ServerMessage::Resumed(Resumed { sub: self.sub, at: from })).await
                {
                    return Flow::End;
                }
                self.client_version = from.version;
                for change in &missed {
                    match self.delta(change).await {
                        Push::Sent => {}
                        Push::Full => return Flow::Stale,
                        Push::Closed => return Flow::End,
                    }
                }
                Flow::At(now)
            }
            Ok(Catchup::Resync(reason)) => self.resync(reason).await,
            Err(e) => {
                self.out.error(ErrorCode::Internal, e.to_string(), Some(self.sub), None);
                Flow::End
            }
        }
    }

    async fn resync(&mut self, reason: ResyncReason) -> Flow {
        if !self.out.send_waiting(&ServerMessage::Resync(Resync { sub: self.sub, reason })).await {
            return Flow::End;
        }
        self.snapshot().await
    }

    async fn snapshot(&mut self) -> Flow {
        let snapshot = match self.engine.snapshot(&self.view).await {
            Ok(s) => s,
            Err(e) => {
                self.out.error(ErrorCode::Internal, e.to_string(), Some(self.sub), None);
                return Flow::End;
            }
        };
        self.client_version = snapshot.at.version;
        self.send_snapshot(snapshot.at, snapshot.rows).await
    }

    /// `snapshot_begin`, the rows in chunks, `snapshot_end`, each waiting for room in the queue.
    async fn send_snapshot(&self, at: Position, mut rows: Vec<lucarne_protocol::Row>) -> Flow {
        let begin = SnapshotBegin { sub: self.sub, view: self.view.clone(), at, rows: rows.len() as u64 };
        if !self.out.send_waiting(&ServerMessage::SnapshotBegin(begin)).await {
            return Flow::End;
        }
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(self.chunk));
            if !self
                .out
                .send_waiting(&ServerMessage::SnapshotRows(SnapshotRows { sub: self.sub, rows }))
                .await
            {
                return Flow::End;
            }
            rows = rest;
        }
        if !self.out.send_waiting(&ServerMessage::SnapshotEnd(SnapshotEnd { sub: self.sub })).await {
            return Flow::End;
        }
        Flow::At(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_encoded_once_per_change_is_the_encoded_message_with_only_the_clients_own_acks() {
        let row = |total: f64| {
            let mut row = lucarne_protocol::Columns::new();
            row.insert("order_id".into(), serde_json::json!("o-1"));
            row.insert("total".into(), serde_json::json!(total));
            row
        };
        let change = |to: u64, acked: Vec<CommandRef>| Change {
            view: "orders".into(),
            epoch: 7,
            from: to - 1,
            to,
            ops: vec![
                lucarne_protocol::Op::Upsert { key: "o-1".into(), row: row(to as f64 + 0.5) },
                lucarne_protocol::Op::Remove { key: "o-\"2\"".into() },
            ],
            acked,
        };
        let (mine, theirs) =
            (CommandRef { client_id: "c".into(), seq: 3 }, CommandRef { client_id: "d".into(), seq: 9 });
        let both = vec![theirs.clone(), mine.clone()];
        for (sub, from, change, own) in [
            (1, 41, change(42, both.clone()), vec![mine.clone()]),
            (2, 40, change(42, both), vec![mine]),
            (1, 42, change(43, vec![theirs]), vec![]),
            (1, 43, change(44, vec![]), vec![]),
        ] {
            let delta = Delta { sub, from, to: change.to, ops: change.ops.clone(), acked: own };
            assert_eq!(delta_text(sub, from, &change, "c"), encode(&ServerMessage::Delta(delta)));
        }
    }

    #[tokio::test]
    async fn the_queue_counts_bytes_and_refuses_deltas_over_the_cap() {
        let (out, mut rx) = Outbox::new(200);
        let generation = Arc::new(AtomicU64::new(0));
        let msg = |n: usize| {
            ServerMessage::Error(ErrorMessage {
                code: ErrorCode::Internal,
                message: "x".repeat(n),
                sub: None,
                id: None,
            })
        };
        let bytes = |out: &Outbox| out.0.bytes.load(Ordering::Acquire);
        let drain = |rx: &mut mpsc::UnboundedReceiver<Out>, out: &Outbox| {
            loop {
                match rx.try_recv() {
                    Ok(Out::Text(text) | Out::Delta(text, _)) => out.written(text.len(), false),
                    Ok(Out::Control(text)) => out.written(text.len(), true),
                    _ => break,
                }
            }
        };
        let patience = Duration::from_millis(20);
        assert_eq!(
            out.send_delta(&msg(300), patience, &generation).await,
            Push::Sent,
            "an empty queue takes anything"
        );
        assert_eq!(out.send_delta(&msg(1), patience, &generation).await, Push::Full, "no room in time");
        assert_eq!(out.0.room_waiters.load(Ordering::SeqCst), 0, "the timed-out waiter is gone");
        // A delta waiting for room gets in once the writer drains.
        let waiting = tokio::spawn({
            let out = out.clone();
            let generation = generation.clone();
            async move { out.send_delta(&msg(1), Duration::from_secs(10), &generation).await }
        });
        tokio::task::yield_now().await;
        if let Ok(Out::Text(text) | Out::Delta(text, _)) = rx.try_recv() {
            out.written(text.len(), false);
        }
        assert_eq!(waiting.await.ok(), Some(Push::Sent));
        drain(&mut rx, &out);
        assert_eq!(bytes(&out), 0);
        assert_eq!(out.send_delta(&msg(10), patience, &generation).await, Push::Sent);
        assert_eq!(bytes(&out), encode(&msg(10)).len());
        // A snapshot chunk waits until the queue is at most half full.
        let waiter = tokio::spawn({
            let out = out.clone();
            async move { out.send_waiting(&msg(60)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the queue is not half empty");
        drain(&mut rx, &out);
        assert!(waiter.await.unwrap_or(false));
        drain(&mut rx, &out);
        // Other messages go in whatever the queue holds, until they alone come to more than the
        // cap; then the connection closes as a slow consumer, dropping what is queued.
        assert_eq!(out.send_delta(&msg(300), patience, &generation).await, Push::Sent);
        assert!(out.send(&msg(100)) && out.send(&msg(250)));
        assert!(bytes(&out) > 600);
        assert!(!out.is_closed());
        assert!(!out.send(&msg(1)));
        assert!(out.is_closed());
        assert_eq!(out.send_delta(&msg(1), patience, &generation).await, Push::Closed);
        let mut frames = vec![];
        while let Ok(frame) = rx.try_recv() {
            frames.push(match frame {
                Out::Text(_) | Out::Delta(..) => "text",
                Out::Control(_) => "control",
                Out::Final(t) if t.contains("slow_consumer") => "final",
                Out::Final(_) => "other final",
                Out::Close(code, _) if code == close_code::POLICY => "close",
                Out::Close(..) => "other close",
                Out::End => "end",
            });
        }
        assert_eq!(frames, ["text", "control", "control", "final", "close"]);
        assert!(out.0.discard.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn the_writer_skips_the_deltas_of_a_subscription_that_gave_up_on_them() {
        let (out, rx) = Outbox::new(1 << 20);
        let (slow, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let delta = |text: &str, generation: &Arc<AtomicU64>| {
            assert!(out.enqueue(text.to_owned(), Some(Stamp::now(generation))));
        };
        delta("slow 1", &slow);
        delta("other 1", &other);
        delta("slow 2", &slow);
        // The slow subscription gives up on what it queued, then resyncs: its snapshot and
        // the deltas after it are written.
        slow.fetch_add(1, Ordering::AcqRel);
        assert!(out.enqueue("slow snapshot".to_owned(), None));
        delta("slow 3", &slow);
        delta("other 2", &other);
        out.end();
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = futures_util::sink::unfold(written.clone(), |written, frame: Message| async move {
            if let Message::Text(text) = frame
                && let Ok(mut written) = written.lock()
            {
                written.push(text.as_str().to_owned());
            }
            Ok::<_, std::convert::Infallible>(written)
        });
        write_frames(Box::pin(sink), rx, out.clone(), Duration::from_secs(5)).await;
        let written = written.lock().map(|w| w.clone()).unwrap_or_default();
        assert_eq!(written, ["other 1", "slow snapshot", "slow 3", "other 2"]);
        assert_eq!(out.0.bytes.load(Ordering::Acquire), 0, "skipped frames leave the count too");
    }
}
