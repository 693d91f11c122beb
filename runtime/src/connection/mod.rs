//! The connection task: drives the sans-I/O [`Machine`](machine::Machine) with the transport.
//!
//! The machine decides (what to send, when to reconnect, which events a subscription gets); this
//! task does what it says: opens and closes links, sends and receives frames, sleeps until the
//! machine's next deadline, and hands events and answers to the app's channels.

mod machine;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use lucarne_protocol::{Ack, Found, SearchQuery, ViewInfo, encode};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::client::{ClientConfig, ClientError, CommandError};
use crate::event::{Query, SearchEvent, ViewEvent};
use crate::transport::{self, Instant, Link, LinkError, Saved, connect, sleep};
use machine::{Answer, Call, Machine, Output, Settings};

/// What the [`Client`](crate::Client) asks of its connection task, with where the answer goes.
pub(crate) enum Request {
    Subscribe {
        id: u64,
        query: Query,
        events: mpsc::UnboundedSender<ViewEvent>,
    },
    WatchSearch {
        id: u64,
        index: String,
        query: SearchQuery,
        events: mpsc::UnboundedSender<SearchEvent>,
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
    DefineSearch {
        sql: String,
        reply: oneshot::Sender<Result<String, ClientError>>,
    },
    DropSearch {
        name: String,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    RegisterPush {
        register: Box<lucarne_protocol::RegisterPush>,
        reply: oneshot::Sender<Result<String, ClientError>>,
    },
    UnregisterPush {
        registration: String,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    TestPush {
        client_id: String,
        title: String,
        reply: oneshot::Sender<Result<Vec<String>, ClientError>>,
    },
    Search {
        index: String,
        query: SearchQuery,
        reply: oneshot::Sender<Result<Found, ClientError>>,
    },
}

/// Where the answer to a request goes.
enum Replier {
    List(oneshot::Sender<Result<Vec<ViewInfo>, ClientError>>),
    Define {
        progress: mpsc::UnboundedSender<(u64, u64)>,
        reply: oneshot::Sender<Result<ViewInfo, ClientError>>,
    },
    Drop(oneshot::Sender<Result<(), ClientError>>),
    /// A definition answered with its name (a command, a search index).
    Named(oneshot::Sender<Result<String, ClientError>>),
    Found(oneshot::Sender<Result<Found, ClientError>>),
    /// A list of names (the registrations a test push went to).
    Names(oneshot::Sender<Result<Vec<String>, ClientError>>),
}

impl Replier {
    fn fail(self, error: ClientError) {
        // A caller that stopped waiting drops its receiver: nothing to do then.
        match self {
            Replier::List(reply) => drop(reply.send(Err(error))),
            Replier::Define { reply, .. } => drop(reply.send(Err(error))),
            Replier::Drop(reply) => drop(reply.send(Err(error))),
            Replier::Named(reply) => drop(reply.send(Err(error))),
            Replier::Found(reply) => drop(reply.send(Err(error))),
            Replier::Names(reply) => drop(reply.send(Err(error))),
        }
    }
}

/// The app's channels: subscriptions' event streams and whoever waits for an answer.
#[derive(Default)]
struct Callers {
    subs: HashMap<u64, mpsc::UnboundedSender<ViewEvent>>,
    searches: HashMap<u64, mpsc::UnboundedSender<SearchEvent>>,
    commands: HashMap<u64, oneshot::Sender<Result<Ack, CommandError>>>,
    requests: HashMap<u64, Replier>,
    next_request: u64,
}

impl Callers {
    /// Keeps the request's channels and gives the machine its call.
    fn register(&mut self, request: Request) -> Call {
        let mut waiting = |replier: Replier| {
            self.next_request += 1;
            self.requests.insert(self.next_request, replier);
            self.next_request
        };
        match request {
            Request::Subscribe { id, query, events } => {
                self.subs.insert(id, events);
                Call::Subscribe { id, query }
            }
            Request::WatchSearch { id, index, query, events } => {
                self.searches.insert(id, events);
                Call::WatchSearch { id, index, query }
            }
            Request::Unsubscribe { id } => {
                self.subs.remove(&id);
                self.searches.remove(&id);
                Call::Unsubscribe { id }
            }
            Request::Command { seq, name, payload, reply } => {
                self.commands.insert(seq, reply);
                Call::Command { seq, name, payload }
            }
            Request::ListViews { reply } => Call::ListViews { id: waiting(Replier::List(reply)) },
            Request::DefineView { sql, progress, reply } => {
                Call::DefineView { id: waiting(Replier::Define { progress, reply }), sql }
            }
            Request::DropView { name, reply } => Call::DropView { id: waiting(Replier::Drop(reply)), name },
            Request::DefineCommand { spec, reply } => {
                Call::DefineCommand { id: waiting(Replier::Named(reply)), spec }
            }
            Request::DropCommand { name, reply } => {
                Call::DropCommand { id: waiting(Replier::Drop(reply)), name }
            }
            Request::DefineSearch { sql, reply } => {
                Call::DefineSearch { id: waiting(Replier::Named(reply)), sql }
            }
            Request::DropSearch { name, reply } => {
                Call::DropSearch { id: waiting(Replier::Drop(reply)), name }
            }
            Request::RegisterPush { register, reply } => {
                Call::RegisterPush { id: waiting(Replier::Named(reply)), register }
            }
            Request::UnregisterPush { registration, reply } => {
                Call::UnregisterPush { id: waiting(Replier::Drop(reply)), registration }
            }
            Request::TestPush { client_id, title, reply } => {
                Call::TestPush { id: waiting(Replier::Names(reply)), client_id, title }
            }
            Request::Search { index, query, reply } => {
                Call::Search { id: waiting(Replier::Found(reply)), index, query }
            }
        }
    }

    fn view(&self, id: u64, event: ViewEvent) {
        if let Some(events) = self.subs.get(&id) {
            let _ = events.send(event);
        }
    }

    fn search(&self, id: u64, event: SearchEvent) {
        if let Some(events) = self.searches.get(&id) {
            let _ = events.send(event);
        }
    }

    fn answered(&mut self, seq: u64, result: Result<Ack, CommandError>) {
        if let Some(reply) = self.commands.remove(&seq) {
            let _ = reply.send(result);
        }
    }

    fn answer(&mut self, id: u64, answer: Answer) {
        if let Answer::Progress { done, total } = answer {
            if let Some(Replier::Define { progress, .. }) = self.requests.get(&id) {
                let _ = progress.send((done, total));
            }
            return;
        }
        let Some(replier) = self.requests.remove(&id) else { return };
        // The machine answers each request with an answer of its kind, or `Failed`.
        match (replier, answer) {
            (Replier::List(reply), Answer::Views(views)) => drop(reply.send(Ok(views))),
            (Replier::Define { reply, .. }, Answer::Defined(view)) => drop(reply.send(Ok(view))),
            (Replier::Drop(reply), Answer::Dropped) => drop(reply.send(Ok(()))),
            (Replier::Named(reply), Answer::Named(name)) => drop(reply.send(Ok(name))),
            (Replier::Found(reply), Answer::Found(found)) => drop(reply.send(Ok(found))),
            (Replier::Names(reply), Answer::Names(names)) => drop(reply.send(Ok(names))),
            (replier, Answer::Failed(error)) => replier.fail(error),
            (replier, other) => {
                tracing::error!(?other, "an answer of another kind; failing the request");
                replier.fail(ClientError::Offline("the connection answered out of kind".into()));
            }
        }
    }
}

/// Runs the connection until the client (every handle and subscription) is dropped.
pub(crate) async fn run(
    config: ClientConfig,
    mut requests: mpsc::UnboundedReceiver<Request>,
    saved: Saved,
    push_key: std::sync::Arc<std::sync::Mutex<Option<String>>>,
) {
    let settings = Settings {
        client_id: config.client_id.clone(),
        token: config.token.clone(),
        servers: config.all_servers().map(str::to_owned).collect(),
        backoff: config.backoff,
        greeting_timeout: config.connect_timeout,
    };
    let last_seq = saved.last_seq.max(config.last_seq);
    let mut machine = Machine::new(settings, saved.commands, last_seq, fastrand::Rng::new());
    // Keeps the outbox's store to this client while it runs.
    let _claim = saved.claim;
    let mut callers = Callers::default();
    let mut link: Option<Link> = None;
    loop {
        while let Some(output) = machine.poll() {
            match output {
                Output::Connect { url } => {
                    let opened = transport::timeout(config.connect_timeout, connect(&url)).await;
                    match opened {
                        Ok(Ok(opened)) => {
                            link = Some(opened);
                            machine.opened(Instant::now());
                        }
                        Ok(Err(e)) => machine.failed(Instant::now(), e),
                        Err(()) => machine.failed(Instant::now(), LinkError::ConnectTimeout { url }),
                    }
                }
                Output::Send(message) => {
                    if let Some(open) = link.as_mut()
                        && let Err(e) = open.send(encode(&message)).await
                    {
                        link = None;
                        machine.failed(Instant::now(), e);
                    }
                }
                Output::Close => {
                    if let Some(open) = link.take() {
                        open.close().await;
                    }
                }
                Output::View { id, event } => callers.view(id, event),
                Output::Search { id, event } => callers.search(id, event),
                Output::Answered { seq, result } => callers.answered(seq, result),
                Output::Answer { id, answer } => callers.answer(id, answer),
                Output::KeepOutbox => {
                    let (last_seq, mut commands) = machine.outbox();
                    transport::store(&config, last_seq, &mut commands);
                }
                Output::Welcomed { push_key: key } => {
                    *push_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = key;
                }
            }
        }
        let deadline = machine.deadline();
        tokio::select! {
            request = requests.recv() => match request {
                Some(request) => machine.call(Instant::now(), callers.register(request)),
                None => {
                    if let Some(open) = link.take() {
                        open.close().await;
                    }
                    return;
                }
            },
            frame = receive(&mut link) => match frame {
                Some(Ok(text)) => machine.frame(Instant::now(), &text),
                Some(Err(e)) => {
                    link = None;
                    machine.failed(Instant::now(), e);
                }
                None => {
                    link = None;
                    machine.failed(Instant::now(), LinkError::Closed);
                }
            },
            () = wait_until(deadline) => machine.tick(Instant::now()),
        }
    }
}

/// The next frame of the link; never, when there is none.
async fn receive(link: &mut Option<Link>) -> Option<Result<String, LinkError>> {
    match link {
        Some(open) => open.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`; never, when there is none.
async fn wait_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep(at.saturating_duration_since(Instant::now())).await,
        None => std::future::pending().await,
    }
}
