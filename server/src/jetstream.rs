//! The event log on NATS JetStream, behind the [`EventLog`] seam: the first piece of scale-out
//! (a cluster of Lucarne nodes sharing one replicated log). Not yet used by `lucarne serve`;
//! `server/tests/event_log.rs` holds it to the same contract as the embedded store.
//!
//! **Layout.** One JetStream stream; one message per command (all its events, so a command is
//! appended whole or not at all), on the subject `PREFIX.CLIENT.SEQ` (the client id in hex).
//! Log positions count events, as in the embedded store: a node reads the stream in order and
//! gives each message's events the next positions, so every node agrees on them.
//!
//! **Permanent dedup.** Each command has a subject of its own, published with
//! `Nats-Expected-Last-Subject-Sequence: 0`: the stream takes the first message on that subject
//! and refuses every later one ("wrong last sequence") for as long as the stream keeps it, not
//! only within JetStream's duplicate window. A refused append is answered from the first
//! message (`duplicate: true`, its positions). The cost: the stream indexes one subject per
//! command.
//!
//! **Durability.** A command is appended once JetStream acknowledged the publish (stored on a
//! quorum of a replicated stream); the servers must sync to disk on every write
//! (`sync_interval: always`, nats-server 2.10+) for an acknowledged write to survive a power
//! loss.
//!
//! The trait is synchronous; this backend runs its own small tokio runtime, so it must not be
//! called from inside an async task (the engine's writer is a plain thread).

use std::sync::Mutex;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use lucarne_protocol::{CommandRef, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::commands::Rejection;
use crate::log::{Append, Appended, Event, EventLog, NewEvent};

/// Why the JetStream log failed.
#[derive(Debug, thiserror::Error)]
pub enum JetStreamError {
    /// The client, the server or the stream failed.
    #[error("nats: {0}")]
    Nats(String),
    /// A message of the stream is not a Lucarne append.
    #[error("nats: message {0} of the stream is not a Lucarne append: {1}")]
    Corrupt(u64, String),
}

pub(crate) fn nats(e: impl std::fmt::Display) -> JetStreamError {
    JetStreamError::Nats(e.to_string())
}

/// One command as stored in the stream: the message's payload, JSON.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    pub(crate) client_id: String,
    pub(crate) seq: u64,
    /// Milliseconds since the Unix epoch when the node published it: every node folds this time.
    pub(crate) ts: u64,
    pub(crate) events: Vec<NewEvent>,
}

impl Stored {
    /// A command's events, stamped now.
    pub(crate) fn new(key: &CommandRef, events: Vec<NewEvent>) -> Stored {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Stored { client_id: key.client_id.clone(), seq: key.seq, ts, events }
    }

    /// The command it came from.
    pub(crate) fn key(&self) -> CommandRef {
        CommandRef { client_id: self.client_id.clone(), seq: self.seq }
    }
}

/// The subject of a command's message in the stream `prefix`: `PREFIX.CLIENT_HEX.SEQ`, one per
/// command (the client id in hex, so any id makes a valid subject token).
pub(crate) fn subject(prefix: &str, key: &CommandRef) -> String {
    let hex: String = key.client_id.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}.{hex}.{}", key.seq)
}

/// The headers that make an append permanent dedup by its subject: the stream refuses the
/// message when its subject has one already.
pub(crate) fn first_on_subject() -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
    headers
}

/// The servers of a comma-separated list of `nats://host:port` URLs.
pub(crate) fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, JetStreamError> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| u.parse::<async_nats::ServerAddr>().map_err(|e| JetStreamError::Nats(format!("{u}: {e}"))))
        .collect()
}

/// Creates the stream `name` (subjects `name.>`, file storage, `replicas` copies) or opens it
/// when it exists. A cluster that has just started may not have elected its JetStream leader
/// yet: tries again for up to 30 s.
pub(crate) async fn open_stream(
    context: &jetstream::Context,
    name: &str,
    replicas: usize,
    duplicate_window: Option<std::time::Duration>,
) -> Result<jetstream::stream::Stream, JetStreamError> {
    let config = jetstream::stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("{name}.>")],
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas.max(1),
        duplicate_window: duplicate_window.unwrap_or_default(),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    loop {
        match context.get_or_create_stream(config.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(e) if started.elapsed() < std::time::Duration::from_secs(30) => {
                tracing::debug!("the stream {name} cannot be opened yet: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => return Err(nats(e)),
        }
    }
}

/// Where each message's events stand in the log, for the messages read so far.
#[derive(Default)]
struct Index {
    /// `(stream sequence, first position, events)` per message, in order.
    messages: Vec<(u64, u64, u32)>,
    /// Events in those messages.
    events: u64,
}

impl Index {
    fn last_sequence(&self) -> u64 {
        self.messages.last().map_or(0, |m| m.0)
    }

    /// The answer for the message at `sequence` (read already).
    fn appended(&self, sequence: u64, duplicate: bool) -> Option<Appended> {
        let i = self.messages.binary_search_by_key(&sequence, |m| m.0).ok()?;
        let (_, first, events) = self.messages[i];
        let position = if events == 0 { 0 } else { first + u64::from(events) - 1 };
        Some(Appended { position, events, duplicate })
    }
}

/// An event log in a JetStream stream.
pub struct JetStreamLog {
    runtime: tokio::runtime::Runtime,
    context: jetstream::Context,
    stream: jetstream::stream::Stream,
    prefix: String,
    index: Mutex<Index>,
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl JetStreamLog {
    /// Connects to `url` (`nats://host:port`, or several separated by commas) and opens the
    /// stream `name` (subjects `name.>`), creating it on file storage with `replicas` copies
    /// when it does not exist.
    pub fn open(url: &str, name: &str, replicas: usize) -> Result<JetStreamLog, JetStreamError> {
        Self::open_with_window(url, name, replicas, None)
    }

    /// [`JetStreamLog::open`], creating the stream with this duplicate window (JetStream's
    /// default, 2 minutes, when `None`). Lucarne's dedup does not depend on it.
    pub fn open_with_window(
        url: &str,
        name: &str,
        replicas: usize,
        duplicate_window: Option<std::time::Duration>,
    ) -> Result<JetStreamLog, JetStreamError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(nats)?;
        let prefix = name.to_owned();
        let (context, stream) = runtime.block_on(async {
            let client = async_nats::connect(server_addrs(url)?.as_slice()).await.map_err(nats)?;
            let context = jetstream::new(client);
            let stream = open_stream(&context, name, replicas, duplicate_window).await?;
            Ok::<_, JetStreamError>((context, stream))
        })?;
        let log = JetStreamLog { runtime, context, stream, prefix, index: Mutex::new(Index::default()) };
        log.catch_up(None)?;
        Ok(log)
    }

    /// Reads the messages after the index's last, up to `to` (the stream's last when `None`).
    fn catch_up(&self, to: Option<u64>) -> Result<(), JetStreamError> {
        let mut index = self.index.lock().map_err(|e| nats(e.to_string()))?;
        let to = match to {
            Some(to) => to,
            None => self.runtime.block_on(async {
                let mut stream = self.stream.clone();
                stream.info().await.map(|i| i.state.last_sequence).map_err(nats)
            })?,
        };
        while index.last_sequence() < to {
            let sequence = index.last_sequence() + 1;
            let stored = self.read(sequence)?;
            // A command appends far fewer events than this (`limits`); saturated, never wrapped.
            let events = u32::try_from(stored.events.len()).unwrap_or(u32::MAX);
            let first = index.events + 1;
            index.messages.push((sequence, first, events));
            index.events += u64::from(events);
        }
        Ok(())
    }

    fn read(&self, sequence: u64) -> Result<Stored, JetStreamError> {
        let message = self.runtime.block_on(self.stream.get_raw_message(sequence)).map_err(nats)?;
        serde_json::from_slice(&message.payload).map_err(|e| JetStreamError::Corrupt(sequence, e.to_string()))
    }

    fn append_one(&self, append: &Append) -> Result<Result<Appended, Rejection>, JetStreamError> {
        if append.guard.is_some() {
            return Ok(Err(Rejection {
                code: ErrorCode::Unsupported,
                message: "commands decided against view rows are not appended to JetStream yet".into(),
            }));
        }
        let subject = subject(&self.prefix, &append.key);
        let stored = Stored::new(&append.key, append.events.clone());
        let payload = serde_json::to_vec(&stored).map_err(nats)?;
        let headers = first_on_subject();
        let published = self.runtime.block_on(async {
            let ack = self.context.publish_with_headers(subject.clone(), headers, payload.into()).await?;
            ack.await
        });
        let (sequence, duplicate) = match published {
            Ok(ack) => (ack.sequence, false),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                let first = self
                    .runtime
                    .block_on(self.stream.get_last_raw_message_by_subject(&subject))
                    .map_err(nats)?;
                (first.sequence, true)
            }
            Err(e) => return Err(nats(e)),
        };
        self.catch_up(Some(sequence))?;
        let index = self.index.lock().map_err(|e| nats(e.to_string()))?;
        index
            .appended(sequence, duplicate)
            .map(Ok)
            .ok_or_else(|| JetStreamError::Nats(format!("message {sequence} was not read")))
    }
}

impl EventLog for JetStreamLog {
    type Error = JetStreamError;

    fn append(&self, batch: &[Append]) -> Result<Vec<Result<Appended, Rejection>>, JetStreamError> {
        batch.iter().map(|append| self.append_one(append)).collect()
    }

    fn read_after(&self, position: u64, limit: usize) -> Result<Vec<Event>, JetStreamError> {
        self.catch_up(None)?;
        let messages: Vec<(u64, u64, u32)> = {
            let index = self.index.lock().map_err(|e| nats(e.to_string()))?;
            // The first message with an event after `position`.
            let from = index.messages.partition_point(|(_, first, n)| first + u64::from(*n) <= position + 1);
            index.messages[from.min(index.messages.len())..].to_vec()
        };
        let mut out = Vec::new();
        for (sequence, first, events) in messages {
            if out.len() >= limit {
                break;
            }
            if events == 0 {
                continue;
            }
            let stored = self.read(sequence)?;
            let origin = stored.key();
            for (i, e) in stored.events.into_iter().enumerate() {
                let at = first + i as u64;
                if at <= position || out.len() >= limit {
                    continue;
                }
                out.push(Event {
                    position: at,
                    stream: e.stream,
                    kind: e.kind,
                    payload: e.payload,
                    ts: stored.ts,
                    origin: Some(origin.clone()),
                });
            }
        }
        Ok(out)
    }

    fn head(&self) -> Result<u64, JetStreamError> {
        self.catch_up(None)?;
        Ok(self.index.lock().map_err(|e| nats(e.to_string()))?.events)
    }
}
