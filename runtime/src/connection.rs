//! The connection task: the client's state machine.
//!
//! connecting → (hello/welcome) → live → (link lost) → offline, waiting a backoff delay →
//! connecting … Subscriptions and unanswered commands live here, across links: after a
//! reconnect every subscription resumes from the position it reached (or takes the fresh
//! snapshot the server sends with `resync`), and every unanswered command is resent with its
//! original `(client_id, seq)`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use lucarne_protocol::{
    Ack, ClientMessage, Command, DefineCommand, DefineView, DropCommand, DropView, ErrorCode, ErrorMessage,
    Heartbeat, Hello, ListViews, Position, ResyncReason, Row, SUPPORTED_VERSIONS, ServerMessage, Subscribe,
    Unsubscribe, ViewInfo, decode_server, encode,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::client::{ClientConfig, ClientError, CommandError};
use crate::event::{Query, Status, ViewEvent};
use crate::transport::{self, Instant, Link, LinkError, Saved, connect, sleep};

pub(crate) enum Request {
    Subscribe {
        id: u64,
        query: Query,
        events: mpsc::UnboundedSender<ViewEvent>,
    },
    Unsubscribe {
        id: u64,
    },
    Command {
        seq: u64,
        name: String,
        payload: Value,
        reply: oneshot::Sender<Result<Ack, CommandError>>,
    },
    ListViews {
        reply: oneshot::Sender<Result<Vec<ViewInfo>, ClientError>>,
    },
    DefineView {
        sql: String,
        progress: mpsc::UnboundedSender<(u64, u64)>,
        reply: oneshot::Sender<Result<ViewInfo, ClientError>>,
    },
    DropView {
        name: String,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    DefineCommand {
        spec: String,
        reply: oneshot::Sender<Result<String, ClientError>>,
    },
    DropCommand {
        name: String,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
}

type DefineWaiter = (mpsc::UnboundedSender<(u64, u64)>, oneshot::Sender<Result<ViewInfo, ClientError>>);

struct Sub {
    query: Query,
    events: mpsc::UnboundedSender<ViewEvent>,
    /// The position of the rows the app holds.
    at: Option<Position>,
    /// The subscription id on the current link.
    wire: Option<u64>,
    /// A snapshot being received.
    incoming: Option<(Position, Vec<Row>)>,
    /// Why the next snapshot is sent, once the server said `resync`.
    resync: Option<ResyncReason>,
    /// The server refused it: don't subscribe again.
    failed: bool,
}

impl Sub {
    fn emit(&self, event: ViewEvent) {
        let _ = self.events.send(event);
    }
}

struct Pending {
    name: String,
    payload: Value,
    reply: Option<oneshot::Sender<Result<Ack, CommandError>>>,
}

/// Why a link ended.
enum End {
    /// The client was dropped: stop.
    Stopped,
    /// The link was lost (or never came up): reconnect.
    Lost(LinkError),
    /// The server refused this client's credentials (`unauthorized`, `invalid_token`,
    /// `token_expired`, `forbidden` in answer to `hello`): retrying with the same token cannot
    /// help.
    Refused(ErrorCode, String),
}

/// How long a command refused `unavailable` waits before it is sent again.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);

struct State {
    config: ClientConfig,
    subs: HashMap<u64, Sub>,
    wire: HashMap<u64, u64>,
    next_wire: u64,
    outbox: BTreeMap<u64, Pending>,
    /// The highest sequence number seen (kept with the outbox).
    last_seq: u64,
    lists: HashMap<u64, oneshot::Sender<Result<Vec<ViewInfo>, ClientError>>>,
    defines: HashMap<u64, DefineWaiter>,
    drops: HashMap<u64, oneshot::Sender<Result<(), ClientError>>>,
    command_defines: HashMap<u64, oneshot::Sender<Result<String, ClientError>>>,
    next_request: u64,
    /// Commands the server refused `unavailable` (it could not write): kept in the outbox and
    /// sent again at this time, with their seq.
    retry: Option<(Instant, Vec<u64>)>,
    /// Which of the config's servers the next link goes to.
    server: usize,
    /// Keeps the outbox's store to this client while it runs.
    _claim: transport::Claim,
}

pub(crate) async fn run(config: ClientConfig, mut requests: mpsc::UnboundedReceiver<Request>, saved: Saved) {
    let backoff = config.backoff;
    // Commands a previous run left unanswered (kept by the transport where it can): resent on
    // connect with their original seq, nobody waiting for their answer.
    let outbox = saved
        .commands
        .into_iter()
        .map(|(seq, name, payload)| (seq, Pending { name, payload, reply: None }))
        .collect();
    let last_seq = saved.last_seq.max(config.last_seq);
    let mut state = State {
        config,
        subs: HashMap::new(),
        wire: HashMap::new(),
        next_wire: 1,
        outbox,
        last_seq,
        lists: HashMap::new(),
        defines: HashMap::new(),
        drops: HashMap::new(),
        command_defines: HashMap::new(),
        next_request: 1,
        retry: None,
        server: 0,
        _claim: saved.claim,
    };
    let mut attempt = 0u32;
    loop {
        state.status(Status::Connecting);
        let reason = match state.link(&mut requests, &mut attempt).await {
            End::Stopped => return,
            End::Lost(reason) => reason,
            End::Refused(code, message) => {
                tracing::warn!(%code, %message, "the server refused this client's token; not retrying");
                state.refused(code, &message);
                // Every later request gets the same answer, until the client is dropped.
                while let Some(request) = requests.recv().await {
                    refuse(request, code, &message);
                }
                return;
            }
        };
        state.went_offline(&reason);
        let delay = backoff.delay(attempt);
        attempt = attempt.saturating_add(1);
        tracing::debug!(?delay, %reason, "offline");
        state.status(Status::Offline { retry_in: delay, reason: reason.clone() });
        let wait = sleep(delay);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                request = requests.recv() => match request {
                    Some(request) => state.offline_request(request, &reason),
                    None => return,
                },
            }
        }
    }
}

/// Answers a request of a client whose token the server refused.
fn refuse(request: Request, code: ErrorCode, message: &str) {
    let server = || ClientError::Server { code, message: message.to_owned() };
    match request {
        Request::Subscribe { events, .. } => {
            let _ = events.send(ViewEvent::Failed { code, message: message.to_owned() });
        }
        Request::Unsubscribe { .. } => {}
        Request::Command { reply, .. } => {
            let _ = reply.send(Err(CommandError::Rejected { code, message: message.to_owned() }));
        }
        Request::ListViews { reply } => {
            let _ = reply.send(Err(server()));
        }
        Request::DefineView { reply, .. } => {
            let _ = reply.send(Err(server()));
        }
        Request::DropView { reply, .. } | Request::DropCommand { reply, .. } => {
            let _ = reply.send(Err(server()));
        }
        Request::DefineCommand { reply, .. } => {
            let _ = reply.send(Err(server()));
        }
    }
}

impl State {
    /// The server refused the token: every subscription fails and every waiting command is
    /// rejected with the server's code (they were never applied: the server took no message).
    fn refused(&mut self, code: ErrorCode, message: &str) {
        self.went_offline(&LinkError::Refused { code, message: message.to_owned() });
        for sub in self.subs.values_mut().filter(|s| !s.failed) {
            sub.failed = true;
            sub.emit(ViewEvent::Failed { code, message: message.to_owned() });
        }
        for (_, pending) in std::mem::take(&mut self.outbox) {
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err(CommandError::Rejected { code, message: message.to_owned() }));
            }
        }
        self.keep_outbox();
    }

    fn status(&self, status: Status) {
        for sub in self.subs.values().filter(|s| !s.failed) {
            sub.emit(ViewEvent::Status(status.clone()));
        }
    }

    fn went_offline(&mut self, reason: &LinkError) {
        self.wire.clear();
        for sub in self.subs.values_mut() {
            sub.wire = None;
            sub.incoming = None;
        }
        let offline =
            || ClientError::Offline(format!("{reason} (the server may still complete the request)"));
        for (_, reply) in self.lists.drain() {
            let _ = reply.send(Err(ClientError::Offline(reason.to_string())));
        }
        for (_, (_, reply)) in self.defines.drain() {
            let _ = reply.send(Err(offline()));
        }
        for (_, reply) in self.drops.drain() {
            let _ = reply.send(Err(offline()));
        }
    }

    fn offline_request(&mut self, request: Request, reason: &LinkError) {
        match request {
            Request::Subscribe { id, query, events } => {
                let _ = events.send(ViewEvent::Status(Status::Offline {
                    retry_in: Duration::ZERO,
                    reason: reason.clone(),
                }));
                self.subs.insert(
                    id,
                    Sub { query, events, at: None, wire: None, incoming: None, resync: None, failed: false },
                );
            }
            Request::Unsubscribe { id } => {
                self.subs.remove(&id);
            }
            Request::Command { seq, name, payload, reply } => {
                self.queue(seq, Pending { name, payload, reply: Some(reply) });
            }
            Request::ListViews { reply } => {
                let _ = reply.send(Err(ClientError::Offline(reason.to_string())));
            }
            Request::DefineView { reply, .. } => {
                let _ = reply.send(Err(ClientError::Offline(reason.to_string())));
            }
            Request::DropView { reply, .. } | Request::DropCommand { reply, .. } => {
                let _ = reply.send(Err(ClientError::Offline(reason.to_string())));
            }
            Request::DefineCommand { reply, .. } => {
                let _ = reply.send(Err(ClientError::Offline(reason.to_string())));
            }
        }
    }

    /// One link: connect, greet, restore subscriptions and the outbox, then serve until lost.
    async fn link(&mut self, requests: &mut mpsc::UnboundedReceiver<Request>, attempt: &mut u32) -> End {
        let limit = self.config.connect_timeout;
        let url = self.config.all_servers().nth(self.server).unwrap_or(&self.config.url).to_owned();
        let mut link = match transport::timeout(limit, connect(&url)).await {
            Ok(Ok(link)) => link,
            Ok(Err(e)) => return self.lost(e),
            Err(_) => return self.lost(LinkError::ConnectTimeout { url }),
        };
        let hello = ClientMessage::Hello(Hello {
            versions: SUPPORTED_VERSIONS.to_vec(),
            token: self.config.token.clone(),
            client_id: self.config.client_id.clone(),
            features: Vec::new(),
        });
        if let Err(e) = link.send(encode(&hello)).await {
            return self.lost(e);
        }
        let welcome = match transport::timeout(limit, link.recv()).await {
            Ok(Some(Ok(text))) => match decode_server(&text) {
                Ok(ServerMessage::Welcome(w)) => w,
                Ok(ServerMessage::Error(e))
                    if matches!(
                        e.code,
                        ErrorCode::Unauthorized
                            | ErrorCode::InvalidToken
                            | ErrorCode::TokenExpired
                            | ErrorCode::Forbidden
                    ) =>
                {
                    return End::Refused(e.code, e.message);
                }
                Ok(ServerMessage::Error(e)) => {
                    return self.lost(LinkError::Refused { code: e.code, message: e.message });
                }
                Ok(other) => return self.lost(LinkError::NotWelcome(format!("{other:?}"))),
                Err(e) => return self.lost(LinkError::NotWelcome(e.to_string())),
            },
            Ok(Some(Err(e))) => return self.lost(e),
            Ok(None) => return self.lost(LinkError::Closed),
            Err(_) => return self.lost(LinkError::NoWelcome),
        };
        *attempt = 0;
        tracing::debug!(session = %welcome.session, "connected");
        let interval = Duration::from_millis(welcome.ping_interval_ms.max(100));

        let ids: Vec<u64> = self.subs.iter().filter(|(_, s)| !s.failed).map(|(id, _)| *id).collect();
        for id in ids {
            if let Err(e) = self.open_sub(&mut link, id).await {
                return self.lost(e);
            }
        }
        let unanswered: Vec<u64> = self.outbox.keys().copied().collect();
        for seq in unanswered {
            if let Err(e) = self.send_command(&mut link, seq).await {
                return self.lost(e);
            }
        }

        // Everything unanswered was just sent again.
        self.retry = None;
        let mut next_tick = Instant::now() + interval;
        let mut last_heard = Instant::now();
        let mut nonce = 0;
        loop {
            let retry_in = self.retry.as_ref().map(|(at, _)| at.saturating_duration_since(Instant::now()));
            let result = tokio::select! {
                () = async {
                    match retry_in {
                        Some(wait) => sleep(wait).await,
                        None => std::future::pending().await,
                    }
                } => self.resend_refused(&mut link).await,
                frame = link.recv() => match frame {
                    Some(Ok(text)) => {
                        last_heard = Instant::now();
                        self.on_frame(&mut link, &text).await
                    }
                    Some(Err(e)) => Err(e),
                    None => Err(LinkError::Closed),
                },
                request = requests.recv() => match request {
                    Some(request) => self.online_request(&mut link, request).await,
                    None => {
                        link.close().await;
                        return End::Stopped;
                    }
                },
                () = sleep(next_tick.saturating_duration_since(Instant::now())) => {
                    next_tick += interval;
                    if last_heard.elapsed() > interval * 2 {
                        Err(LinkError::Silent(interval * 2))
                    } else {
                        nonce += 1;
                        link.send(encode(&ClientMessage::Ping(Heartbeat { nonce }))).await
                    }
                }
            };
            if let Err(reason) = result {
                return self.lost(reason);
            }
        }
    }

    /// A link to the current server was lost or never came up: the next one goes to the next
    /// server of the list (round it).
    fn lost(&mut self, reason: LinkError) -> End {
        let servers = 1 + self.config.fallbacks.len();
        if servers > 1 {
            self.server = (self.server + 1) % servers;
            tracing::debug!(
                next = self.config.all_servers().nth(self.server).unwrap_or_default(),
                "moving to the next server"
            );
        }
        End::Lost(reason)
    }

    async fn open_sub(&mut self, link: &mut Link, id: u64) -> Result<(), LinkError> {
        let Some(sub) = self.subs.get_mut(&id) else { return Ok(()) };
        let wire = self.next_wire;
        self.next_wire += 1;
        if let Some(old) = sub.wire.replace(wire) {
            self.wire.remove(&old);
            link.send(encode(&ClientMessage::Unsubscribe(Unsubscribe { sub: old }))).await?;
        }
        self.wire.insert(wire, id);
        sub.incoming = None;
        let msg = ClientMessage::Subscribe(Subscribe { sub: wire, query: sub.query.clone(), resume: sub.at });
        link.send(encode(&msg)).await
    }

    /// Sends again the commands the server could not write.
    async fn resend_refused(&mut self, link: &mut Link) -> Result<(), LinkError> {
        let Some((_, seqs)) = self.retry.take() else { return Ok(()) };
        for seq in seqs {
            self.send_command(link, seq).await?;
        }
        Ok(())
    }

    async fn send_command(&mut self, link: &mut Link, seq: u64) -> Result<(), LinkError> {
        let Some(p) = self.outbox.get(&seq) else { return Ok(()) };
        let msg = ClientMessage::Command(Command {
            id: seq,
            client_id: self.config.client_id.clone(),
            seq,
            name: p.name.clone(),
            payload: p.payload.clone(),
        });
        link.send(encode(&msg)).await
    }

    async fn online_request(&mut self, link: &mut Link, request: Request) -> Result<(), LinkError> {
        match request {
            Request::Subscribe { id, query, events } => {
                self.subs.insert(
                    id,
                    Sub { query, events, at: None, wire: None, incoming: None, resync: None, failed: false },
                );
                if let Some(sub) = self.subs.get(&id) {
                    sub.emit(ViewEvent::Status(Status::Connecting));
                }
                self.open_sub(link, id).await
            }
            Request::Unsubscribe { id } => match self.subs.remove(&id).and_then(|s| s.wire) {
                Some(wire) => {
                    self.wire.remove(&wire);
                    link.send(encode(&ClientMessage::Unsubscribe(Unsubscribe { sub: wire }))).await
                }
                None => Ok(()),
            },
            Request::Command { seq, name, payload, reply } => {
                self.queue(seq, Pending { name, payload, reply: Some(reply) });
                self.send_command(link, seq).await
            }
            Request::ListViews { reply } => {
                let id = self.request_id();
                self.lists.insert(id, reply);
                link.send(encode(&ClientMessage::ListViews(ListViews { id }))).await
            }
            Request::DefineView { sql, progress, reply } => {
                let id = self.request_id();
                self.defines.insert(id, (progress, reply));
                link.send(encode(&ClientMessage::DefineView(DefineView { id, sql }))).await
            }
            Request::DropView { name, reply } => {
                let id = self.request_id();
                self.drops.insert(id, reply);
                link.send(encode(&ClientMessage::DropView(DropView { id, name }))).await
            }
            Request::DefineCommand { spec, reply } => {
                let id = self.request_id();
                self.command_defines.insert(id, reply);
                link.send(encode(&ClientMessage::DefineCommand(DefineCommand { id, spec }))).await
            }
            Request::DropCommand { name, reply } => {
                let id = self.request_id();
                self.drops.insert(id, reply);
                link.send(encode(&ClientMessage::DropCommand(DropCommand { id, name }))).await
            }
        }
    }

    /// Adds a command to the outbox (and keeps the outbox where the transport can).
    fn queue(&mut self, seq: u64, pending: Pending) {
        self.outbox.insert(seq, pending);
        self.last_seq = self.last_seq.max(seq);
        self.keep_outbox();
    }

    /// Takes an answered command out of the outbox.
    fn answered(&mut self, seq: u64) -> Option<Pending> {
        let pending = self.outbox.remove(&seq)?;
        self.keep_outbox();
        Some(pending)
    }

    fn keep_outbox(&self) {
        let mut commands = self.outbox.iter().map(|(seq, p)| (*seq, p.name.as_str(), &p.payload));
        transport::store(&self.config, self.last_seq, &mut commands);
    }

    fn request_id(&mut self) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    fn sub_for(&mut self, wire: u64) -> Option<&mut Sub> {
        let id = self.wire.get(&wire)?;
        self.subs.get_mut(id)
    }

    async fn on_frame(&mut self, link: &mut Link, text: &str) -> Result<(), LinkError> {
        let msg = match decode_server(text) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::warn!("ignoring a frame from the server: {e}");
                return Ok(());
            }
        };
        match msg {
            ServerMessage::Ping(h) => return link.send(encode(&ClientMessage::Pong(h))).await,
            ServerMessage::Pong(_) | ServerMessage::Welcome(_) | ServerMessage::Unsubscribed(_) => {}
            ServerMessage::SnapshotBegin(b) => {
                if let Some(sub) = self.sub_for(b.sub) {
                    sub.incoming = Some((b.at, Vec::with_capacity(b.rows.min(100_000) as usize)));
                }
            }
            ServerMessage::SnapshotRows(r) => {
                if let Some((_, rows)) = self.sub_for(r.sub).and_then(|s| s.incoming.as_mut()) {
                    rows.extend(r.rows);
                }
            }
            ServerMessage::SnapshotEnd(e) => {
                if let Some(sub) = self.sub_for(e.sub)
                    && let Some((at, rows)) = sub.incoming.take()
                {
                    tracing::debug!(view = %sub.query.view, ?at, rows = rows.len(), "snapshot");
                    sub.at = Some(at);
                    let resynced = sub.resync.take();
                    sub.emit(ViewEvent::Snapshot { at, rows, resynced });
                    sub.emit(ViewEvent::Status(Status::Live));
                }
            }
            ServerMessage::Resumed(r) => {
                if let Some(sub) = self.sub_for(r.sub) {
                    sub.emit(ViewEvent::Resumed { at: r.at });
                    sub.emit(ViewEvent::Status(Status::Live));
                }
            }
            ServerMessage::Resync(r) => {
                if let Some(sub) = self.sub_for(r.sub) {
                    tracing::debug!(view = %sub.query.view, reason = ?r.reason, "resync");
                    sub.resync = Some(r.reason);
                    sub.emit(ViewEvent::Status(Status::Resyncing(r.reason)));
                }
            }
            ServerMessage::Delta(d) => {
                let wire = d.sub;
                let Some(id) = self.wire.get(&wire).copied() else { return Ok(()) };
                let Some(sub) = self.subs.get_mut(&id) else { return Ok(()) };
                match &mut sub.at {
                    Some(at) if sub.incoming.is_none() && at.version == d.from => {
                        at.version = d.to;
                        sub.emit(ViewEvent::Delta(d));
                    }
                    _ => {
                        // A gap: never apply it; start over from a fresh snapshot.
                        tracing::warn!(view = %sub.query.view, from = d.from, "delta out of order; resubscribing");
                        sub.at = None;
                        sub.resync = Some(ResyncReason::TooFarBehind);
                        sub.emit(ViewEvent::Status(Status::Resyncing(ResyncReason::TooFarBehind)));
                        return self.open_sub(link, id).await;
                    }
                }
            }
            ServerMessage::Ack(a) => {
                if let Some(p) = self.answered(a.seq)
                    && let Some(reply) = p.reply
                {
                    let _ = reply.send(Ok(a));
                }
            }
            // The server could not write it (a full disk): it stored nothing, so the same seq is
            // sent again a little later; whoever waits for the answer keeps waiting.
            ServerMessage::Reject(r)
                if r.code == ErrorCode::Unavailable && self.outbox.contains_key(&r.seq) =>
            {
                tracing::debug!(
                    seq = r.seq,
                    "the server cannot write now ({}); sending again in {UNAVAILABLE_RETRY:?}",
                    r.message
                );
                let (_, seqs) =
                    self.retry.get_or_insert_with(|| (Instant::now() + UNAVAILABLE_RETRY, Vec::new()));
                if !seqs.contains(&r.seq) {
                    seqs.push(r.seq);
                }
            }
            ServerMessage::Reject(r) => {
                if let Some(p) = self.answered(r.seq)
                    && let Some(reply) = p.reply
                {
                    let _ = reply.send(Err(CommandError::Rejected { code: r.code, message: r.message }));
                }
            }
            ServerMessage::ViewList(l) => {
                if let Some(reply) = self.lists.remove(&l.id) {
                    let _ = reply.send(Ok(l.views));
                }
            }
            ServerMessage::ViewProgress(p) => {
                if let Some((progress, _)) = self.defines.get(&p.id) {
                    let _ = progress.send((p.done, p.total));
                }
            }
            ServerMessage::ViewDefined(d) => {
                if let Some((_, reply)) = self.defines.remove(&d.id) {
                    let _ = reply.send(Ok(d.view));
                }
            }
            ServerMessage::ViewDropped(d) => {
                if let Some(reply) = self.drops.remove(&d.id) {
                    let _ = reply.send(Ok(()));
                }
            }
            ServerMessage::CommandDefined(d) => {
                if let Some(reply) = self.command_defines.remove(&d.id) {
                    let _ = reply.send(Ok(d.name));
                }
            }
            ServerMessage::CommandDropped(d) => {
                if let Some(reply) = self.drops.remove(&d.id) {
                    let _ = reply.send(Ok(()));
                }
            }
            ServerMessage::Error(e) => self.on_error(e),
        }
        Ok(())
    }

    fn on_error(&mut self, e: ErrorMessage) {
        if let Some(wire) = e.sub
            && let Some(sub) = self.sub_for(wire)
        {
            tracing::warn!(view = %sub.query.view, code = %e.code, "subscription refused: {}", e.message);
            sub.failed = true;
            sub.emit(ViewEvent::Failed { code: e.code, message: e.message });
            return;
        }
        if let Some(id) = e.id {
            let error = ClientError::Server { code: e.code, message: e.message.clone() };
            if let Some(reply) = self.lists.remove(&id) {
                let _ = reply.send(Err(error));
                return;
            }
            if let Some((_, reply)) = self.defines.remove(&id) {
                let _ = reply.send(Err(error));
                return;
            }
            if let Some(reply) = self.drops.remove(&id) {
                let _ = reply.send(Err(error));
                return;
            }
            if let Some(reply) = self.command_defines.remove(&id) {
                let _ = reply.send(Err(error));
                return;
            }
        }
        tracing::warn!(code = %e.code, "server error: {}", e.message);
    }
}
