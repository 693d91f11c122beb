//! The sender: takes the pending pushes from the outbox as they fall due and sends them, 16 at
//! a time; takes each out once the push service has it, or retries it later with an
//! exponential backoff (at least the service's `Retry-After`), or forgets the registration when
//! the service says the subscription is gone. A push for a client that has connected since is
//! dropped: the app syncs over its WebSocket.
//!
//! Woken by each commit that planned a push, and otherwise when the next push falls due.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lucarne_protocol::{PushNotice, PushTarget};
use lucarne_push::{Message, Outcome, PushError, Urgency};

use super::{PushConfig, Pushes};
use crate::store::{Pending, Store, StoreError};

/// Sends at once at most this many.
const CONCURRENT: usize = 16;
/// Tries of one push before it is given up.
const MAX_ATTEMPTS: u32 = 12;
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What became of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Sent, or given up: taken out.
    Done,
    /// Tried again at this time (ms since 1970).
    Later(u64),
    /// The subscription is gone: the registration is forgotten.
    Gone,
}

/// Runs until the engine's store is gone.
pub(crate) async fn run(store: Arc<Store>, pushes: Arc<Pushes>, config: Arc<PushConfig>) {
    loop {
        let now = now_ms();
        let pending = match blocking(&store, Store::pending_pushes).await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::error!("cannot read the push outbox: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let next = pending.iter().map(|(_, p)| p.ready_ms()).filter(|&t| t > now).min();
        let due: Vec<(String, Pending)> = pending.into_iter().filter(|(_, p)| p.ready_ms() <= now).collect();
        if !due.is_empty() {
            futures_util::stream::iter(due)
                .for_each_concurrent(CONCURRENT, |(id, pending)| {
                    let (store, pushes, config) = (store.clone(), pushes.clone(), config.clone());
                    async move { settle(&store, &pushes, &config, id, pending).await }
                })
                .await;
            continue;
        }
        let wait = next.map_or(Duration::from_secs(3600), |t| Duration::from_millis(t - now));
        tokio::select! {
            () = pushes.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sends one pending push and records its fate.
async fn settle(store: &Arc<Store>, pushes: &Pushes, config: &PushConfig, id: String, pending: Pending) {
    let fate = send(pushes, config, &id, &pending).await;
    let seq = pending.seq;
    let written = match fate {
        Fate::Done => blocking(store, move |s| s.push_sent(&id, seq)).await,
        Fate::Later(at) => blocking(store, move |s| s.push_failed(&id, seq, at)).await,
        Fate::Gone => {
            pushes.remove(&id);
            blocking(store, move |s| s.remove_push_registration(&id).map(drop)).await
        }
    };
    if let Err(e) = written {
        tracing::error!("cannot record a push's fate: {e}");
    }
}

async fn send(pushes: &Pushes, config: &PushConfig, id: &str, pending: &Pending) -> Fate {
    let Some(registration) = pushes.get(id) else { return Fate::Done };
    let client = &registration.stored.client_id;
    if pushes.is_present(client) && !pending.forced {
        tracing::debug!(registration = id, %client, "push dropped: the client is connected");
        return Fate::Done;
    }
    // The payload is the last change's; it stands for every change coalesced into it.
    let notice = match serde_json::from_str::<PushNotice>(&pending.payload) {
        Ok(notice) => PushNotice { changes: pending.changes, ..notice },
        Err(e) => {
            tracing::error!(registration = id, "push dropped: its payload does not read: {e}");
            return Fate::Done;
        }
    };
    let retry = |after: Option<Duration>, why: &str| {
        if pending.attempts + 1 >= MAX_ATTEMPTS {
            tracing::warn!(registration = id, attempts = pending.attempts + 1, "push given up: {why}");
            return Fate::Done;
        }
        let wait = backoff(pending.attempts).max(after.unwrap_or_default());
        tracing::info!(registration = id, ?wait, "push to be tried again: {why}");
        Fate::Later(now_ms() + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
    };
    let sent = match &registration.stored.target {
        PushTarget::Web(subscription) => match &config.web {
            Some(web) => {
                let payload = serde_json::to_vec(&notice).unwrap_or_default();
                let message = Message {
                    payload,
                    ttl: config.ttl,
                    urgency: Urgency::Normal,
                    topic: Some(id.to_owned()),
                };
                web.send(subscription, &message).await
            }
            None => {
                tracing::warn!(registration = id, "push dropped: this server has no VAPID key");
                return Fate::Done;
            }
        },
        PushTarget::Apns { token } => match &config.apns {
            Some(apns) => {
                let (message, kind) = apns_message(&notice, config.ttl, id);
                apns.send(token, &message, kind).await
            }
            None => {
                tracing::warn!(registration = id, "push dropped: this server has no APNs key");
                return Fate::Done;
            }
        },
        PushTarget::Fcm { token } => match &config.fcm {
            Some(fcm) => {
                let push = lucarne_push::fcm::Push {
                    data: vec![("lucarne".into(), serde_json::to_string(&notice).unwrap_or_default())],
                    title: notice.title.clone(),
                    body: notice.body.clone(),
                    collapse_key: Some(id.to_owned()),
                    ttl: config.ttl,
                    high_priority: notice.title.is_some(),
                };
                fcm.send(token, &push).await
            }
            None => {
                tracing::warn!(registration = id, "push dropped: this server has no FCM key");
                return Fate::Done;
            }
        },
    };
    match sent {
        Ok(Outcome::Delivered) => {
            tracing::debug!(registration = id, %client, changes = pending.changes, "push delivered");
            Fate::Done
        }
        Ok(Outcome::Gone) => {
            tracing::info!(registration = id, %client, "push registration removed: the push service says the subscription is gone");
            Fate::Gone
        }
        Ok(Outcome::Retry { after }) => retry(after, "the push service asks to try again later"),
        Ok(Outcome::Refused { status, reason }) => {
            tracing::warn!(registration = id, status, "push refused by the push service: {reason}");
            Fate::Done
        }
        Err(PushError::Unreachable(why)) => retry(None, &why),
        Err(e) => {
            tracing::warn!(registration = id, "push dropped: {e}");
            Fate::Done
        }
    }
}

/// An APNs push of a notice: an alert with its title and body when it has a title, else a
/// background push that wakes the app (`content-available`); the notice itself under `lucarne`,
/// without its texts when the whole would not fit APNs's 4 096 bytes; collapsed by
/// registration.
fn apns_message(notice: &PushNotice, ttl: Duration, id: &str) -> (Message, lucarne_push::apns::Kind) {
    let body = |notice: &PushNotice| {
        let aps = match &notice.title {
            Some(title) => {
                serde_json::json!({ "alert": { "title": title, "body": notice.body.clone().unwrap_or_default() } })
            }
            None => serde_json::json!({ "content-available": 1 }),
        };
        serde_json::to_vec(&serde_json::json!({ "aps": aps, "lucarne": notice })).unwrap_or_default()
    };
    let mut payload = body(notice);
    let mut kind = if notice.title.is_some() {
        lucarne_push::apns::Kind::Alert
    } else {
        lucarne_push::apns::Kind::Background
    };
    if payload.len() > lucarne_push::apns::MAX_PAYLOAD {
        payload = body(&PushNotice { title: None, body: None, ..notice.clone() });
        kind = lucarne_push::apns::Kind::Background;
    }
    let message = Message { payload, ttl, urgency: Urgency::Normal, topic: Some(id.to_owned()) };
    (message, kind)
}

/// The wait before try `attempts + 1`: 1 s doubled each time, at most ten minutes, with up to
/// a quarter more at random (so that pushes failed together are not tried again together).
fn backoff(attempts: u32) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1 << attempts.min(20)).min(MAX_BACKOFF);
    base + base.mul_f64(rand::random::<f64>() / 4.0)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .unwrap_or_else(|e| Err(StoreError::Db(redb::Error::Io(std::io::Error::other(e.to_string())))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_ten_minutes_with_some_spread() {
        for (attempts, base) in [(0, 1), (1, 2), (3, 8), (9, 512), (10, 600), (40, 600)] {
            let wait = backoff(attempts);
            let base = Duration::from_secs(base);
            assert!(wait >= base && wait <= base + base / 4, "{attempts}: {wait:?}");
        }
    }
}
