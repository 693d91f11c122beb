//! The WebSocket clients: subscribers that time each change, and the publisher that sends them.

use super::*;

/// What one measurement shares between its publisher and its clients.
pub(super) struct Run {
    pub(super) kind: Kind,
    /// Distinct keys the changes cycle through: change `seq` is on key `seq % keys`.
    pub(super) keys: u64,
    pub(super) epoch: Instant,
    /// When change `seq` was sent: nanoseconds since `epoch`, plus one (0: not sent).
    pub(super) sent: Vec<AtomicU64>,
    /// Changes delivered, summed over clients.
    pub(super) delivered: AtomicU64,
    /// The publisher is woken once `delivered` reaches this.
    pub(super) wake_at: AtomicU64,
    pub(super) wake: Notify,
    pub(super) ready: AtomicUsize,
    pub(super) failed: AtomicUsize,
    pub(super) first_error: Mutex<Option<String>>,
    /// The run is over: the server is stopped, its connections end.
    pub(super) stopping: AtomicBool,
}

impl Run {
    pub(super) fn new(kind: Kind, changes: usize, keys: usize) -> Run {
        Run {
            kind,
            keys: keys.max(1) as u64,
            epoch: Instant::now(),
            sent: (0..changes + 1).map(|_| AtomicU64::new(0)).collect(),
            delivered: AtomicU64::new(0),
            wake_at: AtomicU64::new(u64::MAX),
            wake: Notify::new(),
            ready: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            first_error: Mutex::new(None),
            stopping: AtomicBool::new(false),
        }
    }

    pub(super) fn since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn mark_sent(&self, seq: usize) {
        if let Some(slot) = self.sent.get(seq) {
            slot.store(self.since_epoch(Instant::now()) + 1, Ordering::Release);
        }
    }

    /// Microseconds from the send of change `seq` to `now`.
    pub(super) fn latency_us(&self, seq: u64, now: Instant) -> Option<u32> {
        let sent = self.sent.get(usize::try_from(seq).ok()?)?.load(Ordering::Acquire).checked_sub(1)?;
        Some(u32::try_from(self.since_epoch(now).saturating_sub(sent) / 1000).unwrap_or(u32::MAX))
    }

    pub(super) fn delivered(&self, n: u64) {
        let total = self.delivered.fetch_add(n, Ordering::AcqRel) + n;
        if total >= self.wake_at.load(Ordering::Acquire) {
            self.wake.notify_one();
        }
    }

    /// Waits until `needed` changes were delivered in all, or `patience` passed without it.
    pub(super) async fn wait_delivered(&self, needed: u64, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            self.wake_at.store(needed, Ordering::Release);
            if self.delivered.load(Ordering::Acquire) >= needed {
                self.wake_at.store(u64::MAX, Ordering::Release);
                return true;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                self.wake_at.store(u64::MAX, Ordering::Release);
                return self.delivered.load(Ordering::Acquire) >= needed;
            }
        }
    }

    pub(super) fn fail(&self, e: &anyhow::Error) {
        self.failed.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(|| format!("{e:#}"));
        }
    }
}

/// The fields of a server frame the clients look at (all kinds: the baselines send
/// delta-shaped frames). Everything else is skipped by the parser.
#[derive(Deserialize)]
pub(super) struct Frame<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'a str,
    pub(super) from: Option<u64>,
    pub(super) to: Option<u64>,
    pub(super) version: Option<u64>,
    pub(super) nonce: Option<u64>,
    pub(super) seq: Option<u64>,
    /// The rows changed: each carries the change's number as its customer, `c{seq}` (a client
    /// is told only its own commands in `acked`, so the subscribers read the rows).
    #[serde(default, borrow)]
    pub(super) ops: Vec<FrameOp<'a>>,
}

#[derive(Deserialize)]
pub(super) struct FrameOp<'a> {
    #[serde(borrow)]
    pub(super) row: Option<FrameRow<'a>>,
}

#[derive(Deserialize)]
pub(super) struct FrameRow<'a> {
    pub(super) customer: Option<&'a str>,
}

/// One client's figures.
#[derive(Debug, Default)]
pub(super) struct ClientStats {
    pub(super) connected: bool,
    pub(super) latencies_us: Vec<u32>,
    pub(super) changes: u64,
    pub(super) frames: u64,
    pub(super) bytes: u64,
    pub(super) gaps: u64,
    pub(super) errors: u64,
    pub(super) closed_early: bool,
    pub(super) last: Option<Instant>,
}

/// What a client does with each change frame.
pub(super) struct Tracker {
    pub(super) prev_to: Option<u64>,
    pub(super) stats: ClientStats,
    /// The last change seen on each key (0: none).
    pub(super) last_by_key: Vec<u64>,
}

impl Tracker {
    /// A tracker for a run's changes.
    pub(super) fn new(run: &Run) -> Tracker {
        Tracker {
            prev_to: None,
            stats: ClientStats::default(),
            last_by_key: vec![0; usize::try_from(run.keys).unwrap_or(0)],
        }
    }

    /// Change `seq` arrived: it, and on Lucarne the earlier changes on its key not seen (a
    /// commit folds several changes of one key into one row, so the row shows only the last;
    /// the baselines send every change), are delivered.
    fn arrived(&mut self, run: &Run, seq: u64, now: Instant) -> u64 {
        let Ok(key) = usize::try_from(seq % run.keys) else { return 0 };
        let Some(last) = self.last_by_key.get_mut(key) else { return 0 };
        let oldest = if run.kind.speaks_lucarne() { *last } else { seq.saturating_sub(1) };
        let mut n = 0;
        let mut at = seq;
        while at > oldest && at > 0 {
            if let Some(us) = run.latency_us(at, now) {
                self.stats.latencies_us.push(us);
            }
            n += 1;
            at = at.saturating_sub(run.keys);
        }
        *last = (*last).max(seq);
        n
    }

    /// Takes one JSON frame; returns the nonce of a Lucarne `ping` to answer.
    pub(super) fn on_frame(&mut self, run: &Run, bytes: &[u8], now: Instant) -> Option<u64> {
        let Ok(frame) = serde_json::from_slice::<Frame<'_>>(bytes) else {
            self.stats.errors += 1;
            return None;
        };
        match frame.kind {
            "delta" => {
                let stats = &mut self.stats;
                stats.frames += 1;
                stats.bytes += bytes.len() as u64;
                if let (Some(prev), Some(from)) = (self.prev_to, frame.from)
                    && prev != from
                {
                    stats.gaps += 1;
                }
                self.prev_to = frame.to;
                let seqs: Vec<u64> = frame
                    .ops
                    .iter()
                    .filter_map(|op| op.row.as_ref()?.customer?.strip_prefix('c')?.parse::<u64>().ok())
                    .collect();
                let n: u64 = seqs.into_iter().map(|seq| self.arrived(run, seq, now)).sum();
                let stats = &mut self.stats;
                stats.changes += n;
                stats.last = Some(now);
                run.delivered(n);
            }
            "snapshot_begin" => self.prev_to = frame.version,
            "resync" => self.stats.gaps += 1,
            "ping" => return frame.nonce.or(Some(0)),
            "error" => self.stats.errors += 1,
            _ => {}
        }
        None
    }
}

static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// A WebSocket to `addr` from the next loopback source address in turn.
pub(super) async fn dial(addr: SocketAddr, url: &str) -> Result<Ws> {
    let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let source = Ipv4Addr::new(127, 0, 0, 2 + u8::try_from((n / PER_SOURCE) % 250).unwrap_or(0));
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0))).with_context(|| format!("bind {source}"))?;
    let tcp = socket.connect(addr).await.with_context(|| format!("connect {addr} from {source}"))?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await?;
    Ok(ws)
}

pub(super) fn text(s: String) -> Message {
    Message::Text(s.into())
}

/// The bytes of a frame (text or binary), or `None` for control frames.
pub(super) fn payload(msg: &Message) -> Option<&[u8]> {
    match msg {
        Message::Text(t) => Some(t.as_bytes()),
        Message::Binary(b) => Some(b),
        _ => None,
    }
}

/// A subscribed client, set up.
pub(super) struct Subscriber {
    pub(super) ws: Ws,
    pub(super) tracker: Tracker,
    pub(super) parser: nats::Parser,
}

impl Subscriber {
    pub(super) async fn connect(run: &Run, server: &Target, i: usize) -> Result<Subscriber> {
        let mut ws = dial(server.addr, &server.sub_url).await?;
        let mut tracker = Tracker::new(run);
        let mut parser = nats::Parser::default();
        match run.kind {
            Kind::Lucarne | Kind::Cluster => {
                ws.send(text(format!(r#"{{"type":"hello","versions":[1],"client_id":"fan-{i}"}}"#))).await?;
                ws.send(text(r#"{"type":"subscribe","sub":1,"view":"orders"}"#.to_owned())).await?;
                loop {
                    let msg = ws.next().await.context("closed during the snapshot")??;
                    let Some(bytes) = payload(&msg) else { continue };
                    let frame: Frame<'_> = serde_json::from_slice(bytes)?;
                    match frame.kind {
                        "snapshot_begin" => tracker.prev_to = frame.version,
                        "snapshot_end" => break,
                        "error" => bail!("the server said {}", String::from_utf8_lossy(bytes)),
                        _ => {}
                    }
                }
            }
            Kind::Bare => {}
            Kind::Nats => {
                let mut state = 0; // 0: waiting for INFO, 1: for PONG, 2: subscribed
                while state < 2 {
                    let msg = ws.next().await.context("closed during the handshake")??;
                    let Some(bytes) = payload(&msg) else { continue };
                    let mut info = false;
                    let mut error = None;
                    parser.feed(bytes, |op| match op {
                        nats::Op::Info => info = true,
                        nats::Op::Pong if state == 1 => state = 2,
                        nats::Op::Err(e) => error = Some(e),
                        _ => {}
                    })?;
                    if let Some(e) = error {
                        bail!("nats-server said {e}");
                    }
                    if info && state == 0 {
                        ws.send(Message::Binary(nats::connect(true).into())).await?;
                        state = 1;
                    }
                }
            }
        }
        Ok(Subscriber { ws, tracker, parser })
    }

    /// Handles one frame; false when the connection is unusable.
    pub(super) async fn on_message(&mut self, run: &Run, msg: Message, now: Instant) -> bool {
        let Some(bytes) = payload(&msg) else { return true };
        match run.kind {
            Kind::Lucarne | Kind::Cluster | Kind::Bare => {
                if let Some(nonce) = self.tracker.on_frame(run, bytes, now) {
                    let pong = format!(r#"{{"type":"pong","nonce":{nonce}}}"#);
                    return self.ws.send(text(pong)).await.is_ok();
                }
            }
            Kind::Nats => {
                let (tracker, mut ping) = (&mut self.tracker, false);
                let parsed = self.parser.feed(bytes, |op| match op {
                    nats::Op::Msg(body) => {
                        tracker.on_frame(run, body, now);
                    }
                    nats::Op::Ping => ping = true,
                    nats::Op::Err(_) => tracker.stats.errors += 1,
                    _ => {}
                });
                if parsed.is_err() {
                    return false;
                }
                if ping {
                    return self.ws.send(Message::Binary("PONG\r\n".into())).await.is_ok();
                }
            }
        }
        true
    }
}

/// Where clients and the publisher connect.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) addr: SocketAddr,
    pub(super) sub_url: String,
    pub(super) pub_url: String,
}

/// One subscribed client, until its connection ends (the server is stopped at the end of a run).
pub(super) async fn client(
    run: Arc<Run>,
    target: Arc<Target>,
    i: usize,
    gate: Arc<Semaphore>,
) -> ClientStats {
    let permit = gate.acquire_owned().await;
    let setup = tokio::time::timeout(SETUP_TIMEOUT, Subscriber::connect(&run, &target, i)).await;
    drop(permit);
    let mut sub = match setup {
        Ok(Ok(sub)) => sub,
        Ok(Err(e)) => {
            run.fail(&e);
            return ClientStats::default();
        }
        Err(_) => {
            run.fail(&anyhow::anyhow!("no snapshot within {SETUP_TIMEOUT:?}"));
            return ClientStats::default();
        }
    };
    sub.tracker.stats.connected = true;
    run.ready.fetch_add(1, Ordering::AcqRel);
    loop {
        let frame = sub.ws.next().await;
        let now = Instant::now();
        let usable = match frame {
            Some(Ok(msg)) => sub.on_message(&run, msg, now).await,
            _ => false,
        };
        if !usable {
            sub.tracker.stats.closed_early = !run.stopping.load(Ordering::Acquire);
            break;
        }
    }
    sub.tracker.stats
}

/// The publisher's connection.
pub(super) struct Publisher {
    pub(super) kind: Kind,
    pub(super) sink: SplitSink<Ws, Message>,
    /// Answers to the server's pings, written between changes.
    pub(super) answers: mpsc::UnboundedReceiver<Message>,
    pub(super) reader: tokio::task::JoinHandle<PublisherReport>,
    pub(super) keys: usize,
}

/// What the publisher's reader saw: Lucarne's command → ack round trips, refusals.
#[derive(Debug, Default)]
pub(super) struct PublisherReport {
    pub(super) acks_us: Vec<u32>,
    pub(super) refused: u64,
    pub(super) first_refusal: Option<String>,
}

impl Publisher {
    pub(super) async fn connect(run: &Arc<Run>, target: &Target, keys: usize) -> Result<Publisher> {
        let mut ws = dial(target.addr, &target.pub_url).await?;
        match run.kind {
            Kind::Lucarne | Kind::Cluster => {
                let hello = format!(r#"{{"type":"hello","versions":[1],"client_id":"{PUBLISHER}"}}"#);
                ws.send(text(hello)).await?;
                let msg = ws.next().await.context("closed before welcome")??;
                if !payload(&msg).is_some_and(|b| b.starts_with(br#"{"type":"welcome""#)) {
                    bail!("expected welcome, got {msg:?}");
                }
            }
            Kind::Bare => {}
            Kind::Nats => {
                let mut parser = nats::Parser::default();
                let mut state = 0;
                while state < 2 {
                    let msg = ws.next().await.context("closed during the handshake")??;
                    let Some(bytes) = payload(&msg) else { continue };
                    let mut info = false;
                    parser.feed(bytes, |op| match op {
                        nats::Op::Info => info = true,
                        nats::Op::Pong if state == 1 => state = 2,
                        _ => {}
                    })?;
                    if info && state == 0 {
                        ws.send(Message::Binary(nats::connect(false).into())).await?;
                        state = 1;
                    }
                }
            }
        }
        let (sink, mut stream) = ws.split();
        let (answer, answers) = mpsc::unbounded_channel();
        let (kind, run) = (run.kind, run.clone());
        let reader = tokio::spawn(async move {
            let mut report = PublisherReport::default();
            let mut parser = nats::Parser::default();
            while let Some(Ok(msg)) = stream.next().await {
                let now = Instant::now();
                let Some(bytes) = payload(&msg) else { continue };
                match kind {
                    Kind::Lucarne | Kind::Cluster => {
                        let Ok(frame) = serde_json::from_slice::<Frame<'_>>(bytes) else { continue };
                        match frame.kind {
                            "ack" => {
                                if let Some(us) = frame.seq.and_then(|seq| run.latency_us(seq, now)) {
                                    report.acks_us.push(us);
                                }
                            }
                            "reject" | "error" => {
                                report.refused += 1;
                                report
                                    .first_refusal
                                    .get_or_insert_with(|| String::from_utf8_lossy(bytes).into_owned());
                            }
                            "ping" => {
                                let pong =
                                    format!(r#"{{"type":"pong","nonce":{}}}"#, frame.nonce.unwrap_or(0));
                                let _ = answer.send(text(pong));
                            }
                            _ => {}
                        }
                    }
                    Kind::Bare => {}
                    Kind::Nats => {
                        let mut ping = false;
                        let parsed = parser.feed(bytes, |op| match op {
                            nats::Op::Ping => ping = true,
                            nats::Op::Err(e) => {
                                report.refused += 1;
                                report.first_refusal.get_or_insert(e);
                            }
                            _ => {}
                        });
                        if parsed.is_err() {
                            break;
                        }
                        if ping {
                            let _ = answer.send(Message::Binary("PONG\r\n".into()));
                        }
                    }
                }
            }
            report
        });
        Ok(Publisher { kind, sink, answers, reader, keys })
    }

    /// Sends change `seq`, marking its send time.
    pub(super) async fn publish(&mut self, run: &Run, seq: usize) -> Result<()> {
        while let Ok(answer) = self.answers.try_recv() {
            self.sink.send(answer).await?;
        }
        let key = seq % self.keys.max(1);
        let total = (seq % 500) as f64 + 0.5;
        let msg = match self.kind {
            Kind::Lucarne | Kind::Cluster => text(format!(
                r#"{{"type":"command","id":{seq},"client_id":"{PUBLISHER}","seq":{seq},"name":"place_order","payload":{{"order_id":"o-{key}","customer":"c{seq}","total":{total},"region":"eu"}}}}"#
            )),
            Kind::Bare => text(delta_frame(seq, key, total)),
            Kind::Nats => Message::Binary(nats::publish(&delta_frame(seq, key, total)).into()),
        };
        run.mark_sent(seq);
        self.sink.send(msg).await?;
        Ok(())
    }

    pub(super) async fn finish(mut self) -> PublisherReport {
        let _ = self.sink.close().await;
        match tokio::time::timeout(Duration::from_secs(2), &mut self.reader).await {
            Ok(Ok(report)) => report,
            _ => {
                self.reader.abort();
                PublisherReport::default()
            }
        }
    }
}

/// A frame shaped and sized like the Lucarne delta of the same change (the baselines' payload).
pub(super) fn delta_frame(seq: usize, key: usize, total: f64) -> String {
    let ms = 1_767_225_600_000u64 + seq as u64;
    format!(
        r#"{{"type":"delta","sub":1,"from":{},"to":{seq},"ops":[{{"op":"upsert","key":"o-{key}","row":{{"order_id":"o-{key}","customer":"c{seq}","region":"eu","total":{total},"status":"placed","updated_ms":{ms}}}}}]}}"#,
        seq - 1
    )
}

/// The figures of one server at one point.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) kind: Kind,
    pub(super) clients: usize,
    pub(super) ready: usize,
    pub(super) failed: usize,
    pub(super) first_error: Option<String>,
    pub(super) published: usize,
    /// Sorted.
    pub(super) latencies_us: Vec<u32>,
    pub(super) changes: u64,
    pub(super) frames: u64,
    pub(super) bytes: u64,
    pub(super) gaps: u64,
    pub(super) lost: u64,
    pub(super) errors: u64,
    pub(super) closed_early: usize,
    /// From the first send to the last receipt.
    pub(super) elapsed: Duration,
    pub(super) rss_before_kib: Option<u64>,
    pub(super) rss_idle_kib: Option<u64>,
    /// CPU seconds the server spent from the first send to the end of the drain.
    pub(super) server_cpu_s: Option<f64>,
    /// CPU seconds this process (clients and publisher) spent meanwhile.
    pub(super) clients_cpu_s: Option<f64>,
    /// CPU seconds the publisher's node of a cluster spent meanwhile.
    pub(super) publisher_node_cpu_s: Option<f64>,
    pub(super) publisher: PublisherReport,
}

impl Outcome {
    pub(super) fn pct(&self, p: f64) -> Option<f64> {
        let n = self.latencies_us.len();
        (n > 0).then(|| {
            f64::from(self.latencies_us[lucarne_testing::rank(n, p)]) / 1000.0 // ms
        })
    }

    pub(super) fn per_s(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub(super) fn per_connection_kib(&self) -> Option<f64> {
        let (before, idle) = (self.rss_before_kib?, self.rss_idle_kib?);
        (self.ready > 0).then(|| (idle as f64 - before as f64) / self.ready as f64)
    }
}
