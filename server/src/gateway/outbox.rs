//! Each connection's outbound queue, counted in bytes ([`Outbox`]), and the writer task that
//! feeds its frames to the socket ([`write_frames`]): deltas and snapshot chunks wait for room,
//! a delta that waits too long is dropped and its subscription resyncs, other frames always go
//! in, and a connection whose frames pile up or are not taken is closed (`slow_consumer`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, close_code};
use futures_util::SinkExt;
use lucarne_protocol::{ErrorCode, ErrorMessage, ServerMessage, encode};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::CLOSE_GRACE;

/// What the connection's writer task sends.
pub(super) enum Out {
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
pub(super) struct Stamp {
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
    pub(super) fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a connection does after a message: serve the next one, or close (the client is gone,
/// or its queue overflowed, or it broke the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Go on reading.
    Serve,
    /// Close the connection.
    Close,
}

/// What became of a frame offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Push {
    Sent,
    /// No room within the patience given: not queued.
    Full,
    Closed,
}

#[derive(Clone)]
pub(super) struct Outbox(Arc<Queue>);

impl Outbox {
    pub(super) fn new(cap: usize) -> (Outbox, mpsc::UnboundedReceiver<Out>) {
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

    /// Queues a message (see [`Outbox::push`]); [`Next::Close`] when the connection is gone or
    /// the queue overflowed.
    pub(super) fn send(&self, msg: &ServerMessage) -> Next {
        if self.push(encode(msg)) { Next::Serve } else { Next::Close }
    }

    /// Queues an `error`.
    pub(super) fn error(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        sub: Option<u64>,
        id: Option<u64>,
    ) -> Next {
        self.send(&ServerMessage::Error(ErrorMessage { code, message: message.into(), sub, id }))
    }

    /// Queues a delta of the subscription whose generation is `generation` once the queue has
    /// room for it (or is empty), waiting at most `patience`: `Full` when the client did not
    /// make room in time.
    pub(super) async fn send_delta(
        &self,
        msg: &ServerMessage,
        patience: Duration,
        generation: &Arc<AtomicU64>,
    ) -> Push {
        self.send_delta_text(encode(msg), patience, generation).await
    }

    /// [`Outbox::send_delta`] of an encoded delta.
    pub(super) async fn send_delta_text(
        &self,
        text: String,
        patience: Duration,
        generation: &Arc<AtomicU64>,
    ) -> Push {
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
    pub(super) async fn send_waiting(&self, msg: &ServerMessage) -> bool {
        self.send_waiting_text(encode(msg)).await
    }

    /// [`Outbox::send_waiting`] of an encoded message.
    pub(super) async fn send_waiting_text(&self, text: String) -> bool {
        let len = text.len();
        let fits = |queued: usize| queued == 0 || queued + len <= self.0.cap / 2;
        if self.wait_until(fits).await { self.enqueue(text, None) } else { false }
    }

    /// Waits until the queue has drained to half its cap; false when the connection is gone.
    pub(super) async fn wait_room(&self) -> bool {
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
    pub(super) async fn closed(&self) {
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
    pub(super) fn close(&self, code: ErrorCode, message: String, close: u16) {
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
    pub(super) fn end(&self) {
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
pub(super) async fn write_frames<S: futures_util::Sink<Message> + Unpin>(
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!((out.send(&msg(100)), out.send(&msg(250))), (Next::Serve, Next::Serve));
        assert!(bytes(&out) > 600);
        assert!(!out.is_closed());
        assert_eq!(out.send(&msg(1)), Next::Close);
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
