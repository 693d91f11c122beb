//! A Web Push service stand-in (RFC 8030) on loopback, for tests: it hands out subscriptions
//! whose private keys it keeps (as a browser would), and for each push it checks what a real
//! push service checks — `TTL`, `aes128gcm`, a body of at most 4 096 bytes, and the VAPID token
//! (RFC 8292: ES256 signature with the `k` key, `aud` its own origin, `exp` within 24 hours, a
//! `mailto:`/`https:` `sub`) — then **decrypts** the body (RFC 8291) and keeps it.
//!
//! ```no_run
//! # async fn run() {
//! let service = lucarne_testing::PushService::start().await;
//! let subscription = service.subscribe(); // {endpoint, keys: {p256dh, auth}}
//! // … the code under test pushes to it …
//! let got = service.received();
//! assert_eq!(got[0].payload, b"wake up");
//! service.answer_next(429, Some(7)); // the next push is refused, `Retry-After: 7`
//! service.unsubscribe(&subscription); // later pushes to it: 410 Gone
//! # }
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lucarne_protocol::WebPushSubscription;
use lucarne_push::webpush::{UserAgentKeys, decrypt};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};

/// A push the stand-in accepted, decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The subscription's endpoint.
    pub endpoint: String,
    /// The payload, decrypted.
    pub payload: Vec<u8>,
    /// `TTL`, in seconds.
    pub ttl: u64,
    /// `Urgency`, if given.
    pub urgency: Option<String>,
    /// `Topic`, if given.
    pub topic: Option<String>,
    /// The VAPID public key that signed it.
    pub vapid_key: String,
    /// When it arrived.
    pub at: Instant,
}

/// A Web Push service on loopback (see the module docs).
#[derive(Debug, Clone)]
pub struct PushService {
    addr: SocketAddr,
    state: Arc<Mutex<Stand>>,
}

#[derive(Debug, Default)]
struct Stand {
    origin: String,
    keys: HashMap<u64, UserAgentKeys>,
    gone: HashSet<u64>,
    received: Vec<Received>,
    /// Why pushes were refused, in order.
    refused: Vec<String>,
    /// Answers to give instead of accepting: status and `Retry-After`.
    scripted: VecDeque<(u16, Option<u64>)>,
    next: u64,
    /// How long each push takes to be answered.
    delay: std::time::Duration,
}

impl PushService {
    /// Starts one on a free loopback port, on the current tokio runtime.
    pub async fn start() -> PushService {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("its address");
        let state = Arc::new(Mutex::new(Stand { origin: format!("http://{addr}"), ..Stand::default() }));
        let app = Router::new().route("/push/{id}", post(push)).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        PushService { addr, state }
    }

    fn stand(&self) -> std::sync::MutexGuard<'_, Stand> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its origin, `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new subscription (its keys kept here, as a browser keeps them).
    pub fn subscribe(&self) -> WebPushSubscription {
        let mut stand = self.stand();
        stand.next += 1;
        let (id, keys) = (stand.next, UserAgentKeys::generate());
        let subscription = WebPushSubscription {
            endpoint: format!("{}/push/{id}", self.origin()),
            keys: keys.subscription_keys(),
        };
        stand.keys.insert(id, keys);
        subscription
    }

    /// The subscription ends: pushes to it are answered `410 Gone`.
    pub fn unsubscribe(&self, subscription: &WebPushSubscription) {
        if let Some(id) = subscription.endpoint.rsplit('/').next().and_then(|id| id.parse().ok()) {
            self.stand().gone.insert(id);
        }
    }

    /// Each push from now on takes this long to be answered (a busy push service).
    pub fn slow(&self, delay: std::time::Duration) {
        self.stand().delay = delay;
    }

    /// The next push is answered with `status` (and `Retry-After`) instead of being accepted.
    pub fn answer_next(&self, status: u16, retry_after: Option<u64>) {
        self.stand().scripted.push_back((status, retry_after));
    }

    /// Every push accepted so far, decrypted, in order.
    pub fn received(&self) -> Vec<Received> {
        self.stand().received.clone()
    }

    /// Why pushes were refused, in order.
    pub fn refused(&self) -> Vec<String> {
        self.stand().refused.clone()
    }
}

async fn push(
    State(state): State<Arc<Mutex<Stand>>>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = state.lock().unwrap_or_else(PoisonError::into_inner).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut stand = state.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(keys) = stand.keys.get(&id).cloned() else { return StatusCode::NOT_FOUND.into_response() };
    if stand.gone.contains(&id) {
        return StatusCode::GONE.into_response();
    }
    if let Some((status, retry_after)) = stand.scripted.pop_front() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert("Retry-After", seconds.into());
        }
        return response;
    }
    let origin = stand.origin.clone();
    match accept(&headers, &body, &keys, &origin) {
        Ok(mut received) => {
            received.endpoint = format!("{origin}/push/{id}");
            stand.received.push(received);
            (StatusCode::CREATED, [("Location", format!("/message/{}", stand.received.len()))])
                .into_response()
        }
        Err((status, why)) => {
            stand.refused.push(why.clone());
            (status, why).into_response()
        }
    }
}

/// What a push service checks, then the body decrypted.
fn accept(
    headers: &HeaderMap,
    body: &[u8],
    keys: &UserAgentKeys,
    origin: &str,
) -> Result<Received, (StatusCode, String)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bad = |why: &str| (StatusCode::BAD_REQUEST, why.to_owned());
    let ttl = header("ttl").and_then(|t| t.parse().ok()).ok_or_else(|| bad("TTL missing"))?;
    if header("content-encoding").as_deref() != Some("aes128gcm") {
        return Err(bad("Content-Encoding is not aes128gcm"));
    }
    if body.len() > 4096 {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("{} bytes", body.len())));
    }
    let authorization =
        header("authorization").ok_or((StatusCode::UNAUTHORIZED, "no Authorization".into()))?;
    let vapid_key = check_vapid(&authorization, origin).map_err(|why| (StatusCode::FORBIDDEN, why))?;
    let payload = decrypt(body, keys).map_err(|e| bad(&format!("cannot decrypt: {e}")))?;
    Ok(Received {
        endpoint: String::new(),
        payload,
        ttl,
        urgency: header("urgency"),
        topic: header("topic"),
        vapid_key,
        at: Instant::now(),
    })
}

/// Checks `vapid t=<jwt>, k=<key>`; returns the key.
fn check_vapid(authorization: &str, origin: &str) -> Result<String, String> {
    let rest = authorization.strip_prefix("vapid ").ok_or("not the vapid scheme")?;
    let (mut token, mut key) = (None, None);
    for part in rest.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("t", t)) => token = Some(t),
            Some(("k", k)) => key = Some(k),
            _ => return Err(format!("unknown parameter {part:?}")),
        }
    }
    let (token, key) = (token.ok_or("no t=")?, key.ok_or("no k=")?);
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|e| format!("base64url: {e}"));
    let public = VerifyingKey::from_sec1_bytes(&b64(key)?).map_err(|_| "k is not a P-256 key")?;
    let mut parts = token.split('.');
    let (Some(head), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not three parts".into());
    };
    let head: serde_json::Value = serde_json::from_slice(&b64(head)?).map_err(|e| e.to_string())?;
    if head["alg"] != "ES256" {
        return Err(format!("alg {}", head["alg"]));
    }
    let signature = Signature::from_slice(&b64(signature)?).map_err(|_| "the signature is not r‖s")?;
    public
        .verify(format!("{}.{claims}", token.split('.').next().unwrap_or_default()).as_bytes(), &signature)
        .map_err(|_| "the signature does not verify with k")?;
    let claims: serde_json::Value = serde_json::from_slice(&b64(claims)?).map_err(|e| e.to_string())?;
    if claims["aud"] != origin {
        return Err(format!("aud {} is not {origin}", claims["aud"]));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let exp = claims["exp"].as_u64().ok_or("no exp")?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(format!("exp {exp} is not within 24 hours of {now}"));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
        return Err(format!("sub {sub:?}"));
    }
    Ok(key.to_owned())
}
