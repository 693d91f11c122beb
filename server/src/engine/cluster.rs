//! A node of a cluster: the engine over a NATS JetStream stream instead of its own log.
//!
//! The stream is the one log of the cluster. Every node folds it, message by message in stream
//! order, into its own store ([`Store::replicate`], numbering epochs and versions from the log:
//! [`Numbering::Log`]), so every node holds the same views at the same positions and a client
//! can move between nodes and resume. A node takes commands like a single node does, but instead
//! of committing them it publishes them to the stream:
//!
//! - **Publisher.** Takes the engine's queue in order. A command decided from its payload is
//!   published at once on its own subject with `Nats-Expected-Last-Subject-Sequence: 0` (the
//!   stream refuses a second message for that command for good: permanent dedup, see
//!   [`crate::jetstream`]); many are in flight together. Commands decided against view rows (a
//!   [`crate::commands::Guard`]) wait until everything the node published before them is folded;
//!   those waiting form a run, decided in order against the node's rows at the stream sequence
//!   `s` they reflect and published as a chain (the first only if the stream's last sequence is
//!   still `s`, each next only if the stream's last message is the one before it): if another
//!   node appended meanwhile, the stream refuses the rest of the chain, the node folds what came
//!   and decides those again (optimistic, no lock).
//! - **Follower.** An ordered consumer from the last sequence the store folded; each batch that
//!   arrives is one store commit recording the sequence it reached, then its changes go to the
//!   subscribers as on a single node.
//! - **Acks.** A command is answered once JetStream acknowledged it (stored on a quorum of the
//!   stream's replicas) **and** this node folded it, so its ack and its changes arrive together
//!   and a client that reads right after sees its write.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, context::PublishErrorKind};
use futures_util::{FutureExt, StreamExt};
use lucarne_protocol::{CommandRef, ErrorCode};
use tokio::sync::mpsc;

use super::{Commands, Engine, Folded, MAX_BATCH, Reply, Shared, ViewPolicy, publish};
use crate::commands::{Guard, Rejection};
use crate::jetstream::{JetStreamError, Stored, first_on_subject, nats, open_stream, server_addrs, subject};
use crate::log::{Append, Appended};
use crate::store::{Decision, Numbering, Store, StoreError};

/// How long a command waits for the node to fold what JetStream acknowledged.
const FOLD_PATIENCE: Duration = Duration::from_secs(30);

/// How long a request to JetStream (a publish's ack included) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the follower waits for a message before it checks that the stream has none for it.
const STALL_CHECK: Duration = Duration::from_secs(2);

/// How often a command decided against view rows is decided again when the stream moved on
/// under it, before it is refused `unavailable`.
const MAX_ATTEMPTS: usize = 200;

/// Where a node finds its cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// NATS servers, `nats://host:port`, separated by commas.
    pub urls: String,
    /// The JetStream stream that is the log (created when missing, subjects `NAME.>`).
    pub stream: String,
    /// Copies of the stream when it is created; `None`: 3 when the NATS cluster has three
    /// servers or more, else one per server.
    pub replicas: Option<usize>,
    /// This node's name, in logs and in the NATS connection's name.
    pub node_id: String,
    /// JetStream's duplicate window for a new stream (its default, 2 min, when `None`); Lucarne's
    /// dedup does not depend on it.
    pub duplicate_window: Option<Duration>,
}

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// NATS or the stream failed.
    #[error(transparent)]
    Nats(#[from] JetStreamError),
    /// The node's store failed or belongs to another log.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store was not opened for a cluster.
    #[error(
        "a cluster node's store numbers its views from the log: call Store::set_numbering(Numbering::Log) before installing views"
    )]
    Numbering,
    /// The stream no longer holds the messages this node must fold.
    #[error(
        "the stream {stream} starts at sequence {first}, but this node has folded only up to {applied}: it cannot be rebuilt (the stream must keep every message)"
    )]
    Truncated {
        /// The stream.
        stream: String,
        /// Its first sequence.
        first: u64,
        /// What the node folded.
        applied: u64,
    },
}

/// The node's handle on the stream.
struct Node {
    shared: Arc<Shared>,
    context: jetstream::Context,
    stream: jetstream::stream::Stream,
    name: String,
}

impl Engine {
    /// Starts a cluster node: joins the stream (creating it when missing), folds it into `store`
    /// up to the sequence it had when the node joined (reporting progress), and returns the
    /// engine, which takes commands through the stream and keeps folding it.
    pub async fn cluster(
        store: Store,
        commands: Commands,
        policy: ViewPolicy,
        config: ClusterConfig,
    ) -> Result<Arc<Engine>, ClusterError> {
        if store.numbering() != Numbering::Log {
            return Err(ClusterError::Numbering);
        }
        let addrs = server_addrs(&config.urls)?;
        let client = async_nats::ConnectOptions::new()
            .name(format!("lucarne {}", config.node_id))
            .connect(addrs.as_slice())
            .await
            .map_err(nats)?;
        let servers = client.server_info().connect_urls.len().max(addrs.len()).max(1);
        let replicas = config.replicas.unwrap_or(servers.min(3));
        let link = client.clone();
        let mut context = jetstream::new(client);
        // A NATS server lost mid-request (the stream's leader included) must not hold a command
        // or the follower long: answer `unavailable` and try again (dedup makes that safe).
        context.set_timeout(REQUEST_TIMEOUT);
        let mut stream = open_stream(&context, &config.stream, replicas, config.duplicate_window).await?;
        let info = stream.info().await.map_err(nats)?.clone();
        if info.config.num_replicas < servers.min(3) {
            tracing::warn!(
                "the stream {} keeps {} cop{} on a NATS cluster of {servers} servers: an acknowledged command is lost if that server's disk is",
                config.stream,
                info.config.num_replicas,
                if info.config.num_replicas == 1 { "y" } else { "ies" }
            );
        }
        store.bind_stream(&format!("{} created {}", config.stream, info.created.unix_timestamp_nanos()))?;
        let applied = store.applied()?;
        if info.state.messages > 0 && info.state.first_sequence > applied + 1 {
            return Err(ClusterError::Truncated {
                stream: config.stream,
                first: info.state.first_sequence,
                applied,
            });
        }
        let target = info.state.last_sequence;
        let (engine, queue) = Engine::assemble(store, commands, policy);
        let _ = engine.shared.link.set(link);
        let node =
            Arc::new(Node { shared: engine.shared.clone(), context, stream, name: config.stream.clone() });
        tokio::spawn(follow(node.clone()));
        tokio::spawn(publish_loop(node.clone(), queue));
        // Serve only once caught up with the stream as it was when the node joined.
        let mut folded = engine.shared.folded.subscribe();
        let mut last_report = std::time::Instant::now();
        loop {
            let now = folded.borrow_and_update().sequence;
            if now >= target {
                break;
            }
            if last_report.elapsed() >= Duration::from_secs(1) {
                tracing::info!(node = %config.node_id, "catching up with the stream: {now}/{target} messages");
                last_report = std::time::Instant::now();
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), folded.changed()).await;
        }
        tracing::info!(
            node = %config.node_id,
            stream = %config.stream,
            replicas = info.config.num_replicas,
            "joined the cluster at stream sequence {target}"
        );
        Ok(engine)
    }
}

/// A cluster node's health: whether its NATS connection is up.
pub(super) fn health(link: &async_nats::Client) -> super::Health {
    match link.connection_state() {
        async_nats::connection::State::Connected => super::Health::Ok,
        state => super::Health::Unreachable(format!("the cluster's log cannot be reached (NATS {state})")),
    }
}

fn unavailable(message: String) -> Rejection {
    Rejection { code: ErrorCode::Unavailable, message }
}

impl Node {
    /// Waits until this node folded the stream through `sequence`.
    async fn folded(&self, sequence: u64) -> Result<(), Rejection> {
        let mut folded = self.shared.folded.subscribe();
        let waited =
            tokio::time::timeout(FOLD_PATIENCE, folded.wait_for(|f: &Folded| f.sequence >= sequence))
                .await
                .is_ok_and(|r| r.is_ok());
        match waited {
            true => Ok(()),
            false => Err(unavailable(format!(
                "the cluster stored the command (sequence {sequence}) but this node has not folded it yet; send it again"
            ))),
        }
    }

    /// The answer for a command whose message is at `sequence`, once folded.
    async fn answer(&self, key: CommandRef, sequence: u64, duplicate: bool) -> Result<Appended, Rejection> {
        self.folded(sequence).await?;
        let store = self.shared.store.clone();
        let found = tokio::task::spawn_blocking(move || store.appended(&key))
            .await
            .map_err(|e| Rejection { code: ErrorCode::Internal, message: e.to_string() })?;
        match found {
            Ok(Some(appended)) => Ok(Appended { duplicate, ..appended }),
            Ok(None) => Err(Rejection {
                code: ErrorCode::Internal,
                message: format!("the stream's message {sequence} was folded without this command"),
            }),
            Err(e) => Err(Rejection { code: ErrorCode::Internal, message: e.to_string() }),
        }
    }

    /// Whether the stream holds messages this node has not folded.
    async fn behind(&self) -> bool {
        let mut stream = self.stream.clone();
        let last = tokio::time::timeout(STALL_CHECK, stream.info()).await;
        match last {
            Ok(Ok(info)) => info.state.last_sequence > self.shared.folded.borrow().sequence,
            _ => false,
        }
    }

    /// The stream sequence of the message a command already has, if any.
    async fn existing(&self, key: &CommandRef) -> Option<u64> {
        self.stream.get_last_raw_message_by_subject(&subject(&self.name, key)).await.ok().map(|m| m.sequence)
    }

    /// Publishes a command's message on its own subject, under the condition `expect`.
    async fn send(
        &self,
        key: &CommandRef,
        events: Vec<crate::log::NewEvent>,
        expect: &Expect,
    ) -> Result<jetstream::context::PublishAckFuture, Rejection> {
        let payload = serde_json::to_vec(&Stored::new(key, events))
            .map_err(|e| Rejection { code: ErrorCode::Internal, message: e.to_string() })?;
        let mut headers = first_on_subject();
        match expect {
            Expect::Nothing => {}
            Expect::LastSequence { last, id } => {
                headers.insert("Nats-Expected-Last-Sequence", last.to_string().as_str());
                headers.insert("Nats-Msg-Id", id.as_str());
            }
            Expect::LastMessage { last, id } => {
                headers.insert("Nats-Expected-Last-Msg-Id", last.as_str());
                headers.insert("Nats-Msg-Id", id.as_str());
            }
        }
        self.context
            .publish_with_headers(subject(&self.name, key), headers, payload.into())
            .await
            .map_err(|e| unavailable(format!("the cluster's log cannot be reached: {e}")))
    }

    /// Waits for a published command's ack, then for the node to fold it.
    async fn finish(
        self: Arc<Self>,
        key: CommandRef,
        ack: jetstream::context::PublishAckFuture,
        reply: Reply,
    ) {
        let answer = match ack.await {
            Ok(ack) => self.answer(key, ack.sequence, false).await,
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => match self.existing(&key).await {
                Some(sequence) => self.answer(key, sequence, true).await,
                None => Err(unavailable("the cluster's log refused the command; send it again".into())),
            },
            Err(e) => Err(unavailable(format!("the cluster's log did not acknowledge the command: {e}"))),
        };
        let _ = reply.send(answer);
    }

    /// Decides a run of guarded commands, in order, against the rows at the stream's last
    /// sequence `s` (each against the rows as the accepted ones before it leave them), and
    /// publishes the accepted ones as a chain: the first only if the stream's last message is
    /// still `s`, each next one only if the stream's last message is the one before it in the
    /// chain (random message ids). So the chain lands whole and contiguous, or breaks where
    /// another node's message came between; from the break on, every command is folded and
    /// decided again. Answers every command.
    async fn guarded(&self, run: Vec<(CommandRef, Guard, Reply)>) {
        let mut pending = run;
        for _ in 0..MAX_ATTEMPTS {
            if pending.is_empty() {
                return;
            }
            let items: Vec<(CommandRef, Guard)> =
                pending.iter().map(|(k, g, _)| (k.clone(), g.clone())).collect();
            let store = self.shared.store.clone();
            let decided = tokio::task::spawn_blocking(move || {
                let refs: Vec<(&CommandRef, &Guard)> = items.iter().map(|(k, g)| (k, g)).collect();
                store.decide_all(&refs)
            })
            .await;
            let (decisions, at) = match decided {
                Ok(Ok(decided)) => decided,
                Ok(Err(e)) => return answer_all(pending, internal(e.to_string())),
                Err(e) => return answer_all(pending, internal(e.to_string())),
            };
            // Publish the accepted ones as one chain, without waiting between them.
            let mut sent = Vec::with_capacity(decisions.len());
            let mut expect = Expect::LastSequence { last: at, id: message_id() };
            let mut broken = false;
            for ((key, _, _), decision) in pending.iter().zip(&decisions) {
                let Decision::Accepted(events) = decision else {
                    sent.push(None);
                    continue;
                };
                if broken {
                    sent.push(None);
                    continue;
                }
                match self.send(key, events.clone(), &expect).await {
                    Ok(ack) => {
                        sent.push(Some(ack));
                        expect = Expect::LastMessage { last: expect.id().to_owned(), id: message_id() };
                    }
                    Err(_) => {
                        broken = true;
                        sent.push(None);
                    }
                }
            }
            // A decision holds when every accepted command before it landed.
            let mut intact = true;
            let mut again = Vec::new();
            let mut waits = Vec::new();
            for ((key, guard, reply), (decision, ack)) in
                pending.into_iter().zip(decisions.into_iter().zip(sent))
            {
                let landed = match ack {
                    Some(ack) => ack.await.ok().map(|a| a.sequence),
                    None => None,
                };
                match (decision, landed) {
                    (Decision::Accepted(_), Some(sequence)) => waits.push((key, sequence, reply)),
                    (Decision::Accepted(_), None) => {
                        intact = false;
                        again.push((key, guard, reply));
                    }
                    (_, _) if !intact => again.push((key, guard, reply)),
                    (Decision::Rejected(rejection), _) => {
                        let _ = reply.send(Err(rejection));
                    }
                    (Decision::Appended(appended), _) => {
                        let _ = reply.send(Ok(appended));
                    }
                }
            }
            for (key, sequence, reply) in waits {
                let _ = reply.send(self.answer(key, sequence, false).await);
            }
            if !again.is_empty() {
                // Fold what came between (at least the message after `at`), then decide again.
                if let Err(rejection) = self.folded(at + 1).await {
                    return answer_all(again, rejection);
                }
            }
            pending = again;
        }
        answer_all(
            pending,
            unavailable(format!(
                "the log moved on under this command {MAX_ATTEMPTS} times while it was decided; send it again"
            )),
        );
    }
}

/// The condition a publish is made under.
enum Expect {
    /// None but the command's own subject being new.
    Nothing,
    /// The stream's last sequence is `last`; this message's id is `id`.
    LastSequence { last: u64, id: String },
    /// The stream's last message has the id `last`; this message's id is `id`.
    LastMessage { last: String, id: String },
}

impl Expect {
    /// The id of the message published under it.
    fn id(&self) -> &str {
        match self {
            Expect::Nothing => "",
            Expect::LastSequence { id, .. } | Expect::LastMessage { id, .. } => id,
        }
    }
}

/// A message id used once: the chain of a run of guarded commands refers to it.
fn message_id() -> String {
    format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}

fn internal(message: String) -> Rejection {
    Rejection { code: ErrorCode::Internal, message }
}

fn answer_all(commands: Vec<(CommandRef, Guard, Reply)>, rejection: Rejection) {
    for (_, _, reply) in commands {
        let _ = reply.send(Err(rejection.clone()));
    }
}

/// Takes the engine's queue in order: commands decided from their payload are published at
/// once, many in flight; a command decided against rows waits for those before it.
async fn publish_loop(node: Arc<Node>, mut queue: mpsc::Receiver<(Append, Reply)>) {
    let mut in_flight: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut carried: Option<(Append, Reply)> = None;
    loop {
        let next = match carried.take() {
            Some(next) => next,
            None => match queue.recv().await {
                Some(next) => next,
                None => break,
            },
        };
        in_flight.retain(|task| !task.is_finished());
        let (Append { key, events, guard }, reply) = next;
        let Some(guard) = guard else {
            match node.send(&key, events, &Expect::Nothing).await {
                Ok(ack) => in_flight.push(tokio::spawn(node.clone().finish(key, ack, reply))),
                Err(rejection) => {
                    let _ = reply.send(Err(rejection));
                }
            }
            continue;
        };
        // Every guarded command waiting, in order, as one run.
        let mut run = vec![(key, guard, reply)];
        while run.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok((Append { key, guard: Some(guard), .. }, reply)) => run.push((key, guard, reply)),
                Ok(other) => {
                    carried = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        // They must see every command this node took before them.
        for task in in_flight.drain(..) {
            let _ = task.await;
        }
        node.guarded(run).await;
    }
    tracing::debug!("publisher stopped");
}

/// Folds the stream into the store, from the last sequence folded, for as long as the node runs.
async fn follow(node: Arc<Node>) {
    loop {
        let from = node.shared.folded.borrow().sequence + 1;
        let config = consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from },
            ..Default::default()
        };
        let messages = match node.stream.create_consumer(config).await {
            Ok(consumer) => consumer.messages().await,
            Err(e) => {
                tracing::warn!("cannot read the stream from {from}: {e}; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut messages = match messages {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!("cannot read the stream from {from}: {e}; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        loop {
            let first = match tokio::time::timeout(STALL_CHECK, messages.next()).await {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(e))) => {
                    tracing::debug!("reading the stream: {e}");
                    continue;
                }
                Ok(None) => break,
                Err(_) => {
                    // Quiet: a quiet stream, or a consumer lost with the NATS server that held
                    // it (an ordered consumer has one copy). Read afresh if the stream moved on.
                    if node.behind().await {
                        tracing::info!("the stream moved on but its consumer is silent: reading it afresh");
                        break;
                    }
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match messages.next().now_or_never() {
                    Some(Some(Ok(message))) => batch.push(message),
                    _ => break,
                }
            }
            if let Err(e) = fold(&node.shared, batch).await {
                tracing::error!(
                    "folding the stream failed: {e}; reading it again from the last message folded"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
                break;
            }
        }
    }
}

/// Folds a batch of the stream's messages in one commit. A message that is not a Lucarne
/// append (anyone with access to the stream's subjects could publish one) is skipped, the same
/// way on every node.
async fn fold(shared: &Arc<Shared>, batch: Vec<jetstream::Message>) -> Result<(), StoreError> {
    let applied = shared.folded.borrow().sequence;
    let mut appends = Vec::with_capacity(batch.len());
    let mut through = applied;
    for message in batch {
        let Ok(info) = message.info() else { continue };
        let sequence = info.stream_sequence;
        if sequence <= through {
            continue; // delivered again after a consumer was recreated
        }
        through = sequence;
        match serde_json::from_slice::<Stored>(&message.payload) {
            Ok(stored) => {
                let key = stored.key();
                appends.push((Append::new(key, stored.events), stored.ts));
            }
            Err(e) => {
                tracing::warn!(sequence, "skipping a message of the stream that is not a Lucarne append: {e}")
            }
        }
    }
    if through == applied {
        return Ok(());
    }
    let store = shared.store.clone();
    let committed = tokio::task::spawn_blocking(move || store.replicate(&appends, through))
        .await
        .map_err(|e| StoreError::Db(redb::Error::Io(std::io::Error::other(e.to_string()))))??;
    publish(shared, committed);
    Ok(())
}
