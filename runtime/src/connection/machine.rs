//! The client's connection as a state machine without I/O.
//!
//! What the app asks ([`Call`]), what the link does (opened, a frame, lost) and the passing of
//! time go in; what to do comes out as [`Output`]s: open or close a link, send a message, hand a
//! subscription an event, answer a caller, keep the outbox. The driver (`super::run`) does the
//! I/O on the native and the browser transport; the tests drive the machine directly, with
//! made-up time, frame by frame.
//!
//! ```text
//! connecting ─opened→ greeting ─welcome→ live ─lost / silent→ offline ─backoff→ connecting …
//!                        └─ token refused → refused (every call answered with the refusal)
//! ```
//!
//! Subscriptions and unanswered commands live here, across links: after a reconnect every
//! subscription resumes from the position it reached (or takes the fresh snapshot the server
//! sends with `resync`), and every unanswered command is resent with its original
//! `(client_id, seq)`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use lucarne_protocol::{
    Ack, ClientMessage, Command, DefineCommand, DefineSearch, DefineView, DropCommand, DropSearch, DropView,
    ErrorCode, ErrorMessage, Found, Heartbeat, Hello, ListViews, Position, RegisterPush, ResyncReason, Rows,
    SUPPORTED_VERSIONS, Search, SearchQuery, ServerMessage, Subscribe, SubscribeSearch, TestPush,
    UnregisterPush, Unsubscribe, ViewInfo, decode_server,
};
use serde_json::Value;

use crate::backoff::Backoff;
use crate::client::{ClientError, CommandError};
use crate::event::{Query, SearchEvent, Status, ViewEvent};
use crate::transport::{Instant, LinkError};

/// How long a command refused `unavailable` waits before it is sent again.
pub(crate) const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);

/// The shortest heartbeat interval the client keeps, whatever `welcome` says.
const MIN_PING_INTERVAL: Duration = Duration::from_millis(100);

/// What the app asks of the connection. Request ids (`id`) are chosen by the caller, unique
/// per client; they are the ids on the wire.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    /// Watch a query; its events come out as [`Output::View`] with this subscription id.
    Subscribe {
        id: u64,
        query: Query,
    },
    /// Keep a search current; its events come out as [`Output::Search`] with this id (taken
    /// from the subscriptions' ids).
    WatchSearch {
        id: u64,
        index: String,
        query: SearchQuery,
    },
    /// Stop watching (a view or a search).
    Unsubscribe {
        id: u64,
    },
    /// Send a command (kept in the outbox until answered).
    Command {
        seq: u64,
        name: String,
        payload: Value,
    },
    ListViews {
        id: u64,
    },
    DefineView {
        id: u64,
        sql: String,
    },
    DropView {
        id: u64,
        name: String,
    },
    DefineCommand {
        id: u64,
        spec: String,
    },
    DropCommand {
        id: u64,
        name: String,
    },
    DefineSearch {
        id: u64,
        sql: String,
    },
    DropSearch {
        id: u64,
        name: String,
    },
    Search {
        id: u64,
        index: String,
        query: SearchQuery,
    },
    RegisterPush {
        id: u64,
        register: Box<RegisterPush>,
    },
    UnregisterPush {
        id: u64,
        registration: String,
    },
    TestPush {
        id: u64,
        client_id: String,
        title: String,
    },
}

/// What the driver does next, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// Open a link to `url`, then call [`Machine::opened`] or [`Machine::failed`].
    Connect { url: String },
    /// Send this message on the open link (dropped when there is none).
    Send(ClientMessage),
    /// Close the link, if one is open.
    Close,
    /// An event for subscription `id`.
    View { id: u64, event: ViewEvent },
    /// An event for live search `id`.
    Search { id: u64, event: SearchEvent },
    /// The answer to command `seq`.
    Answered { seq: u64, result: Result<Ack, CommandError> },
    /// An answer (or progress) for request `id`.
    Answer { id: u64, answer: Answer },
    /// The outbox changed: keep it ([`Machine::outbox`]) where the transport can.
    KeepOutbox,
    /// A server welcomed the client: its Web Push key, if it sends Web Push.
    Welcomed { push_key: Option<String> },
}

/// An answer to a request other than a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Views(Vec<ViewInfo>),
    /// A view being defined is built from the log: `done` of `total` events (more may follow).
    Progress {
        done: u64,
        total: u64,
    },
    Defined(ViewInfo),
    /// The view or command was dropped.
    Dropped,
    /// A command or a search index was defined: its name.
    Named(String),
    /// What a search found.
    Found(Found),
    /// The registrations a test push went to.
    Names(Vec<String>),
    Failed(ClientError),
}

/// What the machine needs of the client's config.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) client_id: String,
    pub(crate) token: Option<String>,
    /// The servers of the cluster, tried in turn (at least one).
    pub(crate) servers: Vec<String>,
    pub(crate) backoff: Backoff,
    /// How long `welcome` may take once the link is open.
    pub(crate) greeting_timeout: Duration,
}

/// The kinds of request that wait for an answer by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Define,
    /// A view or a command to drop.
    Drop,
    DefineCommand,
    DefineSearch,
    Search,
    RegisterPush,
    TestPush,
}

enum Phase {
    /// The driver is opening a link to the current server.
    Connecting,
    /// The link is open and `hello` sent; `welcome` is due by `deadline`.
    Greeting {
        deadline: Instant,
    },
    Live(Pulse),
    /// Waiting until `until` to connect again.
    Offline {
        until: Instant,
        reason: LinkError,
    },
    /// The server refused this client's token: retrying with it cannot help.
    Refused {
        code: ErrorCode,
        message: String,
    },
}

/// The heartbeat of a live link.
struct Pulse {
    interval: Duration,
    next_tick: Instant,
    last_heard: Instant,
    nonce: u64,
}

struct Sub {
    query: Query,
    /// The position of the rows the app holds.
    at: Option<Position>,
    /// The subscription id on the current link.
    wire: Option<u64>,
    /// A snapshot being received.
    incoming: Option<(Position, Rows)>,
    /// Why the next snapshot is sent, once the server said `resync`.
    resync: Option<ResyncReason>,
    /// The server refused it: don't subscribe again.
    failed: bool,
}

/// A live search.
struct Watched {
    index: String,
    query: SearchQuery,
    /// What it found, at its version on the current link.
    held: Option<(u64, Found)>,
    /// The subscription id on the current link.
    wire: Option<u64>,
    /// The server refused or ended it: don't subscribe again.
    failed: bool,
}

struct Outgoing {
    name: String,
    payload: Value,
}

/// The connection's state; see the module docs.
pub(crate) struct Machine {
    settings: Settings,
    /// Which of the servers the current (or next) link goes to.
    server: usize,
    /// Links that failed in a row (the backoff grows with it).
    attempt: u32,
    rng: fastrand::Rng,
    phase: Phase,
    subs: BTreeMap<u64, Sub>,
    /// Subscription id on the link → the app's subscription id.
    wire: BTreeMap<u64, u64>,
    searches: BTreeMap<u64, Watched>,
    /// Live search id on the link → the app's id.
    search_wire: BTreeMap<u64, u64>,
    next_wire: u64,
    outbox: BTreeMap<u64, Outgoing>,
    /// The highest sequence number seen (kept with the outbox).
    last_seq: u64,
    /// Requests waiting for their answer.
    requests: BTreeMap<u64, Kind>,
    /// Requests made before `welcome`, sent once it comes.
    unsent: Vec<ClientMessage>,
    /// Commands the server refused `unavailable` (it could not write): kept in the outbox and
    /// sent again at this time, with their seq.
    retry: Option<(Instant, Vec<u64>)>,
    out: VecDeque<Output>,
}

impl Machine {
    /// A machine that starts by connecting to the first server, with the commands a previous
    /// run left unanswered (`(seq, name, payload)`: resent on connect, nobody waiting for their
    /// answer) and the last sequence number it used.
    pub(crate) fn new(
        settings: Settings,
        saved: Vec<(u64, String, Value)>,
        last_seq: u64,
        rng: fastrand::Rng,
    ) -> Machine {
        let outbox: BTreeMap<u64, Outgoing> =
            saved.into_iter().map(|(seq, name, payload)| (seq, Outgoing { name, payload })).collect();
        let last_seq = outbox.keys().copied().fold(last_seq, u64::max);
        let mut machine = Machine {
            settings,
            server: 0,
            attempt: 0,
            rng,
            phase: Phase::Connecting,
            subs: BTreeMap::new(),
            wire: BTreeMap::new(),
            searches: BTreeMap::new(),
            search_wire: BTreeMap::new(),
            next_wire: 1,
            outbox,
            last_seq,
            requests: BTreeMap::new(),
            unsent: Vec::new(),
            retry: None,
            out: VecDeque::new(),
        };
        machine.connect();
        machine
    }

    /// The next thing to do, if any.
    pub(crate) fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Machine::tick`] has something to do (a timeout, a heartbeat, a retry), if ever.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Connecting | Phase::Refused { .. } => None,
            Phase::Greeting { deadline } => Some(*deadline),
            Phase::Offline { until, .. } => Some(*until),
            Phase::Live(pulse) => {
                let retry = self.retry.as_ref().map(|(at, _)| *at);
                Some(retry.map_or(pulse.next_tick, |at| at.min(pulse.next_tick)))
            }
        }
    }

    /// The last sequence number and the unanswered commands, to keep.
    pub(crate) fn outbox(&self) -> (u64, impl Iterator<Item = (u64, &str, &Value)>) {
        (self.last_seq, self.outbox.iter().map(|(seq, o)| (*seq, o.name.as_str(), &o.payload)))
    }

    /// The link asked for by [`Output::Connect`] is open: greet the server.
    pub(crate) fn opened(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Connecting) {
            return;
        }
        self.send(ClientMessage::Hello(Hello {
            versions: SUPPORTED_VERSIONS.to_vec(),
            token: self.settings.token.clone(),
            client_id: self.settings.client_id.clone(),
            features: Vec::new(),
        }));
        self.phase = Phase::Greeting { deadline: now + self.settings.greeting_timeout };
    }

    /// The link could not be opened, or ended: go offline and connect again after a backoff
    /// delay, to the next server of the list.
    pub(crate) fn failed(&mut self, now: Instant, reason: LinkError) {
        if matches!(self.phase, Phase::Connecting | Phase::Greeting { .. } | Phase::Live(_)) {
            self.lost(now, reason);
        }
    }

    /// Time passed: act on whatever fell due by `now`.
    pub(crate) fn tick(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Greeting { deadline } if now >= *deadline => self.lost(now, LinkError::NoWelcome),
            Phase::Offline { until, .. } if now >= *until => self.connect(),
            Phase::Live(pulse) => {
                if now >= pulse.next_tick {
                    pulse.next_tick += pulse.interval;
                    let silence = pulse.interval * 2;
                    if now.saturating_duration_since(pulse.last_heard) > silence {
                        return self.lost(now, LinkError::Silent(silence));
                    }
                    pulse.nonce += 1;
                    let nonce = pulse.nonce;
                    self.send(ClientMessage::Ping(Heartbeat { nonce }));
                }
                if self.retry.as_ref().is_some_and(|(at, _)| now >= *at) {
                    self.resend_refused();
                }
            }
            _ => {}
        }
    }

    /// A text frame from the server.
    pub(crate) fn frame(&mut self, now: Instant, text: &str) {
        match &mut self.phase {
            Phase::Greeting { .. } => self.greeted(now, text),
            Phase::Live(pulse) => {
                pulse.last_heard = now;
                match decode_server(text) {
                    Ok(message) => self.on_message(message),
                    Err(e) => tracing::warn!("ignoring a frame from the server: {e}"),
                }
            }
            _ => {}
        }
    }

    /// Something the app asks.
    pub(crate) fn call(&mut self, now: Instant, call: Call) {
        if let Phase::Refused { code, message } = &self.phase {
            let (code, message) = (*code, message.clone());
            return self.refuse(call, code, &message);
        }
        let live = matches!(self.phase, Phase::Live(_));
        match call {
            Call::Subscribe { id, query } => {
                self.subs.insert(
                    id,
                    Sub { query, at: None, wire: None, incoming: None, resync: None, failed: false },
                );
                let status = self.link_status(now);
                self.emit(id, ViewEvent::Status(status));
                if live {
                    self.open_sub(id);
                }
            }
            Call::WatchSearch { id, index, query } => {
                self.searches.insert(id, Watched { index, query, held: None, wire: None, failed: false });
                let status = self.link_status(now);
                self.out.push_back(Output::Search { id, event: SearchEvent::Status(status) });
                if live {
                    self.open_search(id);
                }
            }
            Call::Unsubscribe { id } => {
                if let Some(wire) = self.subs.remove(&id).and_then(|s| s.wire) {
                    self.wire.remove(&wire);
                    self.send(ClientMessage::Unsubscribe(Unsubscribe { sub: wire }));
                }
                if let Some(wire) = self.searches.remove(&id).and_then(|s| s.wire) {
                    self.search_wire.remove(&wire);
                    self.send(ClientMessage::Unsubscribe(Unsubscribe { sub: wire }));
                }
            }
            Call::Command { seq, name, payload } => {
                self.last_seq = self.last_seq.max(seq);
                // One already in the outbox (a previous run's, awaited again) was sent on this
                // link, or will be with the others at welcome: its caller only waits.
                if self.outbox.contains_key(&seq) {
                    return;
                }
                self.outbox.insert(seq, Outgoing { name, payload });
                self.out.push_back(Output::KeepOutbox);
                if live {
                    self.send_command(seq);
                }
            }
            Call::ListViews { id } => {
                self.request(id, Kind::List, ClientMessage::ListViews(ListViews { id }))
            }
            Call::DefineView { id, sql } => {
                self.request(id, Kind::Define, ClientMessage::DefineView(DefineView { id, sql }));
            }
            Call::DropView { id, name } => {
                self.request(id, Kind::Drop, ClientMessage::DropView(DropView { id, name }));
            }
            Call::DefineCommand { id, spec } => {
                let message = ClientMessage::DefineCommand(DefineCommand { id, spec });
                self.request(id, Kind::DefineCommand, message);
            }
            Call::DropCommand { id, name } => {
                self.request(id, Kind::Drop, ClientMessage::DropCommand(DropCommand { id, name }));
            }
            Call::DefineSearch { id, sql } => {
                self.request(id, Kind::DefineSearch, ClientMessage::DefineSearch(DefineSearch { id, sql }));
            }
            Call::DropSearch { id, name } => {
                self.request(id, Kind::Drop, ClientMessage::DropSearch(DropSearch { id, name }));
            }
            Call::RegisterPush { id, register } => {
                let message = ClientMessage::RegisterPush(RegisterPush { id, ..*register });
                self.request(id, Kind::RegisterPush, message);
            }
            Call::TestPush { id, client_id, title } => {
                self.request(id, Kind::TestPush, ClientMessage::TestPush(TestPush { id, client_id, title }));
            }
            Call::UnregisterPush { id, registration } => {
                let message = ClientMessage::UnregisterPush(UnregisterPush { id, registration });
                self.request(id, Kind::Drop, message);
            }
            Call::Search { id, index, query } => {
                self.request(id, Kind::Search, ClientMessage::Search(Search { id, index, query }));
            }
        }
    }

    /// The status of a subscription made now, before the link is live.
    fn link_status(&self, now: Instant) -> Status {
        match &self.phase {
            Phase::Offline { until, reason } => {
                Status::Offline { retry_in: until.saturating_duration_since(now), reason: reason.clone() }
            }
            _ => Status::Connecting,
        }
    }

    /// A request answered by id: sent now when live, after `welcome` while connecting, and
    /// refused while offline.
    fn request(&mut self, id: u64, kind: Kind, message: ClientMessage) {
        match &self.phase {
            Phase::Live(_) => {
                self.requests.insert(id, kind);
                self.send(message);
            }
            Phase::Connecting | Phase::Greeting { .. } => {
                self.requests.insert(id, kind);
                self.unsent.push(message);
            }
            Phase::Offline { reason, .. } => {
                let answer = Answer::Failed(ClientError::Offline(reason.to_string()));
                self.out.push_back(Output::Answer { id, answer });
            }
            Phase::Refused { .. } => {}
        }
    }

    fn connect(&mut self) {
        self.phase = Phase::Connecting;
        self.status(&Status::Connecting);
        let url = self.settings.servers.get(self.server).cloned().unwrap_or_default();
        self.out.push_back(Output::Connect { url });
    }

    /// The first frame of a link: `welcome`, or why not.
    fn greeted(&mut self, now: Instant, text: &str) {
        let welcome = match decode_server(text) {
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
                return self.refused(e.code, e.message);
            }
            Ok(ServerMessage::Error(e)) => {
                return self.lost(now, LinkError::Refused { code: e.code, message: e.message });
            }
            Ok(other) => return self.lost(now, LinkError::NotWelcome(format!("{other:?}"))),
            Err(e) => return self.lost(now, LinkError::NotWelcome(e.to_string())),
        };
        tracing::debug!(session = %welcome.session, "connected");
        self.out.push_back(Output::Welcomed { push_key: welcome.push_key });
        self.attempt = 0;
        let interval = Duration::from_millis(welcome.ping_interval_ms).max(MIN_PING_INTERVAL);
        self.phase = Phase::Live(Pulse { interval, next_tick: now + interval, last_heard: now, nonce: 0 });
        let ids: Vec<u64> = self.subs.iter().filter(|(_, s)| !s.failed).map(|(id, _)| *id).collect();
        for id in ids {
            self.open_sub(id);
        }
        let ids: Vec<u64> = self.searches.iter().filter(|(_, s)| !s.failed).map(|(id, _)| *id).collect();
        for id in ids {
            self.open_search(id);
        }
        // Everything unanswered is sent again now.
        self.retry = None;
        let unanswered: Vec<u64> = self.outbox.keys().copied().collect();
        for seq in unanswered {
            self.send_command(seq);
        }
        for message in std::mem::take(&mut self.unsent) {
            self.send(message);
        }
    }

    /// The link is gone (or never came up): answer what waited on it, wait a backoff delay,
    /// then connect to the next server of the list (round it).
    fn lost(&mut self, now: Instant, reason: LinkError) {
        self.out.push_back(Output::Close);
        self.went_offline(&reason);
        let servers = self.settings.servers.len().max(1);
        self.server = (self.server + 1) % servers;
        let delay = self.settings.backoff.jittered(self.attempt, &mut self.rng);
        self.attempt = self.attempt.saturating_add(1);
        tracing::debug!(?delay, %reason, "offline");
        self.status(&Status::Offline { retry_in: delay, reason: reason.clone() });
        self.phase = Phase::Offline { until: now + delay, reason };
    }

    fn went_offline(&mut self, reason: &LinkError) {
        self.wire.clear();
        for sub in self.subs.values_mut() {
            sub.wire = None;
            sub.incoming = None;
        }
        self.search_wire.clear();
        for search in self.searches.values_mut() {
            search.wire = None;
        }
        self.unsent.clear();
        self.retry = None;
        for (id, kind) in std::mem::take(&mut self.requests) {
            let error = match kind {
                Kind::List | Kind::Search => ClientError::Offline(reason.to_string()),
                Kind::Define
                | Kind::Drop
                | Kind::DefineCommand
                | Kind::DefineSearch
                | Kind::RegisterPush
                | Kind::TestPush => {
                    ClientError::Offline(format!("{reason} (the server may still complete the request)"))
                }
            };
            self.out.push_back(Output::Answer { id, answer: Answer::Failed(error) });
        }
    }

    /// The server refused the token: every subscription fails and every waiting command is
    /// rejected with the server's code (they were never applied: the server took no message).
    fn refused(&mut self, code: ErrorCode, message: String) {
        tracing::warn!(%code, %message, "the server refused this client's token; not retrying");
        self.out.push_back(Output::Close);
        self.went_offline(&LinkError::Refused { code, message: message.clone() });
        let failing: Vec<u64> = self.subs.iter().filter(|(_, s)| !s.failed).map(|(id, _)| *id).collect();
        for id in failing {
            if let Some(sub) = self.subs.get_mut(&id) {
                sub.failed = true;
            }
            self.emit(id, ViewEvent::Failed { code, message: message.clone() });
        }
        for (id, search) in self.searches.iter_mut().filter(|(_, s)| !s.failed) {
            search.failed = true;
            let event = SearchEvent::Failed { code, message: message.clone() };
            self.out.push_back(Output::Search { id: *id, event });
        }
        let rejected = std::mem::take(&mut self.outbox);
        for seq in rejected.into_keys() {
            let result = Err(CommandError::Rejected { code, message: message.clone() });
            self.out.push_back(Output::Answered { seq, result });
        }
        self.out.push_back(Output::KeepOutbox);
        self.phase = Phase::Refused { code, message };
    }

    /// Answers a call of a client whose token the server refused.
    fn refuse(&mut self, call: Call, code: ErrorCode, message: &str) {
        let failed = || Answer::Failed(ClientError::Server { code, message: message.to_owned() });
        let output = match call {
            Call::Subscribe { id, .. } => {
                Output::View { id, event: ViewEvent::Failed { code, message: message.to_owned() } }
            }
            Call::WatchSearch { id, .. } => {
                Output::Search { id, event: SearchEvent::Failed { code, message: message.to_owned() } }
            }
            Call::Unsubscribe { .. } => return,
            Call::Command { seq, .. } => Output::Answered {
                seq,
                result: Err(CommandError::Rejected { code, message: message.to_owned() }),
            },
            Call::ListViews { id }
            | Call::DefineView { id, .. }
            | Call::DropView { id, .. }
            | Call::DefineCommand { id, .. }
            | Call::DropCommand { id, .. }
            | Call::DefineSearch { id, .. }
            | Call::DropSearch { id, .. }
            | Call::RegisterPush { id, .. }
            | Call::UnregisterPush { id, .. }
            | Call::TestPush { id, .. }
            | Call::Search { id, .. } => Output::Answer { id, answer: failed() },
        };
        self.out.push_back(output);
    }

    fn send(&mut self, message: ClientMessage) {
        self.out.push_back(Output::Send(message));
    }

    fn emit(&mut self, id: u64, event: ViewEvent) {
        self.out.push_back(Output::View { id, event });
    }

    /// Tells every subscription that has not failed.
    fn status(&mut self, status: &Status) {
        let ids: Vec<u64> = self.subs.iter().filter(|(_, s)| !s.failed).map(|(id, _)| *id).collect();
        for id in ids {
            self.emit(id, ViewEvent::Status(status.clone()));
        }
        for (id, _) in self.searches.iter().filter(|(_, s)| !s.failed) {
            self.out.push_back(Output::Search { id: *id, event: SearchEvent::Status(status.clone()) });
        }
    }

    /// Subscribes (again) on the link, from the position the app holds.
    fn open_sub(&mut self, id: u64) {
        let Some(sub) = self.subs.get_mut(&id) else { return };
        let wire = self.next_wire;
        self.next_wire += 1;
        let old = sub.wire.replace(wire);
        sub.incoming = None;
        let subscribe =
            ClientMessage::Subscribe(Subscribe { sub: wire, query: sub.query.clone(), resume: sub.at });
        if let Some(old) = old {
            self.wire.remove(&old);
            self.send(ClientMessage::Unsubscribe(Unsubscribe { sub: old }));
        }
        self.wire.insert(wire, id);
        self.send(subscribe);
    }

    /// Subscribes a live search (again) on the link: it starts from everything found.
    fn open_search(&mut self, id: u64) {
        let Some(search) = self.searches.get_mut(&id) else { return };
        let wire = self.next_wire;
        self.next_wire += 1;
        let old = search.wire.replace(wire);
        search.held = None;
        let subscribe = ClientMessage::SubscribeSearch(SubscribeSearch {
            sub: wire,
            index: search.index.clone(),
            query: search.query.clone(),
        });
        if let Some(old) = old {
            self.search_wire.remove(&old);
            self.send(ClientMessage::Unsubscribe(Unsubscribe { sub: old }));
        }
        self.search_wire.insert(wire, id);
        self.send(subscribe);
    }

    /// Sends again the commands the server could not write.
    fn resend_refused(&mut self) {
        let Some((_, seqs)) = self.retry.take() else { return };
        for seq in seqs {
            self.send_command(seq);
        }
    }

    fn send_command(&mut self, seq: u64) {
        let Some(o) = self.outbox.get(&seq) else { return };
        let message = ClientMessage::Command(Command {
            id: seq,
            client_id: self.settings.client_id.clone(),
            seq,
            name: o.name.clone(),
            payload: o.payload.clone(),
        });
        self.send(message);
    }

    /// Takes an answered command out of the outbox and answers it.
    fn answered(&mut self, seq: u64, result: Result<Ack, CommandError>) {
        if self.outbox.remove(&seq).is_some() {
            self.out.push_back(Output::KeepOutbox);
            self.out.push_back(Output::Answered { seq, result });
        }
    }

    /// The pending request `id`, if it is of `kind`.
    fn take_request(&mut self, id: u64, kind: Kind) -> bool {
        let matches = self.requests.get(&id) == Some(&kind);
        if matches {
            self.requests.remove(&id);
        }
        matches
    }

    fn on_message(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Ping(h) => self.send(ClientMessage::Pong(h)),
            ServerMessage::Pong(_) | ServerMessage::Welcome(_) | ServerMessage::Unsubscribed(_) => {}
            ServerMessage::SnapshotBegin(b) => {
                if let Some(sub) = self.sub_for(b.sub) {
                    sub.incoming = Some((b.at, Rows::new()));
                }
            }
            ServerMessage::SnapshotRows(r) => {
                if let Some((_, rows)) = self.sub_for(r.sub).and_then(|s| s.incoming.as_mut()) {
                    rows.append(r.rows);
                }
            }
            ServerMessage::SnapshotEnd(e) => {
                let Some(&id) = self.wire.get(&e.sub) else { return };
                let Some(sub) = self.subs.get_mut(&id) else { return };
                let Some((at, rows)) = sub.incoming.take() else { return };
                tracing::debug!(view = %sub.query.view, ?at, rows = rows.len(), "snapshot");
                sub.at = Some(at);
                let resynced = sub.resync.take();
                self.emit(id, ViewEvent::Snapshot { at, rows, resynced });
                self.emit(id, ViewEvent::Status(Status::Live));
            }
            ServerMessage::Resumed(r) => {
                if let Some(&id) = self.wire.get(&r.sub) {
                    self.emit(id, ViewEvent::Resumed { at: r.at });
                    self.emit(id, ViewEvent::Status(Status::Live));
                }
            }
            ServerMessage::Resync(r) => {
                if let Some(&id) = self.wire.get(&r.sub)
                    && let Some(sub) = self.subs.get_mut(&id)
                {
                    tracing::debug!(view = %sub.query.view, reason = ?r.reason, "resync");
                    sub.resync = Some(r.reason);
                    self.emit(id, ViewEvent::Status(Status::Resyncing(r.reason)));
                }
            }
            ServerMessage::Delta(d) => {
                let Some(&id) = self.wire.get(&d.sub) else { return };
                let Some(sub) = self.subs.get_mut(&id) else { return };
                match &mut sub.at {
                    Some(at) if sub.incoming.is_none() && at.version == d.from => {
                        at.version = d.to;
                        self.emit(id, ViewEvent::Delta(d));
                    }
                    _ => {
                        // A gap: never apply it; start over from a fresh snapshot.
                        tracing::warn!(view = %sub.query.view, from = d.from, "delta out of order; resubscribing");
                        sub.at = None;
                        sub.resync = Some(ResyncReason::TooFarBehind);
                        self.emit(id, ViewEvent::Status(Status::Resyncing(ResyncReason::TooFarBehind)));
                        self.open_sub(id);
                    }
                }
            }
            ServerMessage::Ack(a) => self.answered(a.seq, Ok(a)),
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
                let Phase::Live(pulse) = &self.phase else { return };
                let at = pulse.last_heard + UNAVAILABLE_RETRY;
                let (_, seqs) = self.retry.get_or_insert_with(|| (at, Vec::new()));
                if !seqs.contains(&r.seq) {
                    seqs.push(r.seq);
                }
            }
            ServerMessage::Reject(r) => {
                self.answered(r.seq, Err(CommandError::Rejected { code: r.code, message: r.message }));
            }
            ServerMessage::ViewList(l) => {
                if self.take_request(l.id, Kind::List) {
                    self.out.push_back(Output::Answer { id: l.id, answer: Answer::Views(l.views) });
                }
            }
            ServerMessage::ViewProgress(p) => {
                if self.requests.get(&p.id) == Some(&Kind::Define) {
                    let answer = Answer::Progress { done: p.done, total: p.total };
                    self.out.push_back(Output::Answer { id: p.id, answer });
                }
            }
            ServerMessage::ViewDefined(d) => {
                if self.take_request(d.id, Kind::Define) {
                    self.out.push_back(Output::Answer { id: d.id, answer: Answer::Defined(d.view) });
                }
            }
            ServerMessage::ViewDropped(d) => {
                if self.take_request(d.id, Kind::Drop) {
                    self.out.push_back(Output::Answer { id: d.id, answer: Answer::Dropped });
                }
            }
            ServerMessage::CommandDefined(d) => {
                if self.take_request(d.id, Kind::DefineCommand) {
                    self.out.push_back(Output::Answer { id: d.id, answer: Answer::Named(d.name) });
                }
            }
            ServerMessage::CommandDropped(d) => {
                if self.take_request(d.id, Kind::Drop) {
                    self.out.push_back(Output::Answer { id: d.id, answer: Answer::Dropped });
                }
            }
            ServerMessage::SearchDefined(d) => {
                if self.take_request(d.id, Kind::DefineSearch) {
                    self.out.push_back(Output::Answer { id: d.id, answer: Answer::Named(d.name) });
                }
            }
            ServerMessage::SearchDropped(d) => {
                if self.take_request(d.id, Kind::Drop) {
                    self.out.push_back(Output::Answer { id: d.id, answer: Answer::Dropped });
                }
            }
            ServerMessage::PushRegistered(r) => {
                if self.take_request(r.id, Kind::RegisterPush) {
                    self.out.push_back(Output::Answer { id: r.id, answer: Answer::Named(r.registration) });
                }
            }
            ServerMessage::PushTested(t) => {
                if self.take_request(t.id, Kind::TestPush) {
                    self.out.push_back(Output::Answer { id: t.id, answer: Answer::Names(t.registrations) });
                }
            }
            ServerMessage::PushUnregistered(u) => {
                if self.take_request(u.id, Kind::Drop) {
                    self.out.push_back(Output::Answer { id: u.id, answer: Answer::Dropped });
                }
            }
            ServerMessage::SearchResult(r) => {
                if self.take_request(r.id, Kind::Search) {
                    self.out.push_back(Output::Answer { id: r.id, answer: Answer::Found(r.found) });
                }
            }
            ServerMessage::SearchSnapshot(snapshot) => {
                let Some(&id) = self.search_wire.get(&snapshot.sub) else { return };
                let Some(search) = self.searches.get_mut(&id) else { return };
                search.held = Some((snapshot.version, snapshot.found.clone()));
                self.out.push_back(Output::Search { id, event: SearchEvent::Found(snapshot.found) });
                self.out.push_back(Output::Search { id, event: SearchEvent::Status(Status::Live) });
            }
            ServerMessage::SearchDelta(delta) => {
                let Some(&id) = self.search_wire.get(&delta.sub) else { return };
                let Some(search) = self.searches.get_mut(&id) else { return };
                match &mut search.held {
                    Some((version, found)) if *version == delta.from => {
                        found.apply(&delta);
                        *version = delta.to;
                        let event = SearchEvent::Found(found.clone());
                        self.out.push_back(Output::Search { id, event });
                    }
                    _ => {
                        // A gap: never apply it; start over from everything found.
                        tracing::warn!(index = %search.index, from = delta.from, "search delta out of order; resubscribing");
                        let event = SearchEvent::Status(Status::Resyncing(ResyncReason::TooFarBehind));
                        self.out.push_back(Output::Search { id, event });
                        self.open_search(id);
                    }
                }
            }
            ServerMessage::Error(e) => self.on_error(e),
        }
    }

    fn sub_for(&mut self, wire: u64) -> Option<&mut Sub> {
        let id = self.wire.get(&wire)?;
        self.subs.get_mut(id)
    }

    fn on_error(&mut self, e: ErrorMessage) {
        if let Some(wire) = e.sub
            && let Some(id) = self.search_wire.remove(&wire)
            && let Some(search) = self.searches.get_mut(&id)
        {
            tracing::warn!(index = %search.index, code = %e.code, "live search refused or ended: {}", e.message);
            search.failed = true;
            search.wire = None;
            let event = SearchEvent::Failed { code: e.code, message: e.message };
            self.out.push_back(Output::Search { id, event });
            return;
        }
        if let Some(wire) = e.sub
            && let Some(&id) = self.wire.get(&wire)
            && let Some(sub) = self.subs.get_mut(&id)
        {
            tracing::warn!(view = %sub.query.view, code = %e.code, "subscription refused: {}", e.message);
            sub.failed = true;
            // A snapshot cut short by the error is not the view: its rows are dropped.
            sub.incoming = None;
            // The server holds no subscription it refused: nothing to unsubscribe.
            sub.wire = None;
            self.wire.remove(&wire);
            self.emit(id, ViewEvent::Failed { code: e.code, message: e.message });
            return;
        }
        if let Some(id) = e.id
            && self.requests.remove(&id).is_some()
        {
            let answer = Answer::Failed(ClientError::Server { code: e.code, message: e.message });
            self.out.push_back(Output::Answer { id, answer });
            return;
        }
        tracing::warn!(code = %e.code, "server error: {}", e.message);
    }
}
