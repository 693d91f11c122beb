//! An APNs stand-in on loopback, for tests: HTTP/2 only, over TLS with a certificate of a test CA
//! made for it (the client trusts [`ApnsService::ca_pem`]); it holds the team's key (ES256) and
//! checks what APNs checks — the provider token's signature, `kid`, `iss` and `iat`, the
//! `apns-topic`, `apns-push-type`, a collapse id of at most 64 bytes, a JSON body with `aps`
//! of at most 4 096 bytes — and counts how often a connection's provider token changes (Apple
//! refuses changes more often than every 20 minutes).
//!
//! ```no_run
//! # async fn run() {
//! let apns = lucarne_testing::ApnsService::start().await;
//! let key = apns.key_pem(); // the team's .p8, for the sender's config
//! // … the code under test pushes to apns.url() …
//! assert_eq!(apns.received()[0].device, "a1b2");
//! apns.unregister("a1b2"); // later pushes to it: 410 Unregistered
//! # }
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

/// The key id the stand-in's team key has.
const KEY_ID: &str = "LUCARNE123";
/// The team id it expects.
const TEAM_ID: &str = "TEAM456789";
/// The bundle id it expects as `apns-topic`.
const TOPIC: &str = "org.lucarne.desk";

/// A push APNs accepted.
#[derive(Debug, Clone)]
pub struct ApnsReceived {
    /// The device token.
    pub device: String,
    /// The body.
    pub payload: Value,
    /// `apns-push-type`.
    pub push_type: String,
    /// `apns-priority`.
    pub priority: Option<String>,
    /// `apns-collapse-id`.
    pub collapse_id: Option<String>,
    /// `apns-expiration`, seconds since 1970.
    pub expiration: Option<u64>,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Debug, Default)]
struct Stand {
    received: Vec<ApnsReceived>,
    refused: Vec<String>,
    unregistered: HashSet<String>,
    scripted: VecDeque<(u16, &'static str)>,
    /// The provider token each connection used last.
    last_token: HashMap<usize, String>,
    token_changes: usize,
}

/// An APNs stand-in (see the module docs).
#[derive(Debug, Clone)]
pub struct ApnsService {
    server: crate::tls::TlsServer,
    key: SigningKey,
    state: Arc<Mutex<Stand>>,
}

impl ApnsService {
    /// Starts one on a free loopback port, on the current tokio runtime.
    pub async fn start() -> ApnsService {
        let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let state: Arc<Mutex<Stand>> = Arc::default();
        let (answering, stand) = (key.clone(), state.clone());
        let server = crate::tls::serve(move |request, connection| {
            let (key, stand) = (answering.clone(), stand.clone());
            async move { answer(&key, &stand, request, connection).await }
        })
        .await;
        ApnsService { server, key, state }
    }

    fn stand(&self) -> std::sync::MutexGuard<'_, Stand> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its base URL, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.server.addr)
    }

    /// The test CA's certificate (PEM), for the client to trust.
    pub fn ca_pem(&self) -> String {
        self.server.ca_pem.clone()
    }

    /// The team key's id (`kid`).
    pub fn key_id(&self) -> &'static str {
        KEY_ID
    }

    /// The team id (`iss`).
    pub fn team_id(&self) -> &'static str {
        TEAM_ID
    }

    /// The app's bundle id (`apns-topic`).
    pub fn topic(&self) -> &'static str {
        TOPIC
    }

    /// The team's key as Apple gives it (a `.p8`: PKCS#8 PEM).
    pub fn key_pem(&self) -> String {
        self.key.to_pkcs8_pem(Default::default()).map(|p| p.to_string()).unwrap_or_default()
    }

    /// Pushes to this device are answered `410 Unregistered` from now on.
    pub fn unregister(&self, device: &str) {
        self.stand().unregistered.insert(device.to_owned());
    }

    /// The next push is answered with `status` and `reason` instead of being accepted.
    pub fn answer_next(&self, status: u16, reason: &'static str) {
        self.stand().scripted.push_back((status, reason));
    }

    /// Every push accepted so far, in order.
    pub fn received(&self) -> Vec<ApnsReceived> {
        self.stand().received.clone()
    }

    /// Why pushes were refused, in order.
    pub fn refused(&self) -> Vec<String> {
        self.stand().refused.clone()
    }

    /// TLS connections made to it.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// How often a connection's provider token changed.
    pub fn token_changes(&self) -> usize {
        self.stand().token_changes
    }
}

async fn answer(
    key: &SigningKey,
    state: &Mutex<Stand>,
    request: Request<Incoming>,
    connection: usize,
) -> Response<Full<Bytes>> {
    let reply = |status: u16, reason: &str| {
        let body = json!({ "reason": reason }).to_string();
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(device) = parts.uri.path().strip_prefix("/3/device/").map(str::to_owned) else {
        return reply(404, "BadPath");
    };
    let token = header("authorization").and_then(|a| a.strip_prefix("bearer ").map(str::to_owned));
    let checked = token
        .as_deref()
        .ok_or_else(|| "MissingProviderToken".to_owned())
        .and_then(|t| check_token(key, t).map_err(|why| format!("InvalidProviderToken: {why}")))
        .and_then(|()| match header("apns-topic") {
            Some(t) if t == TOPIC => Ok(()),
            other => Err(format!("BadTopic: {other:?}")),
        })
        .and_then(|()| match header("apns-push-type").as_deref() {
            Some("alert" | "background") => Ok(()),
            other => Err(format!("InvalidPushType: {other:?}")),
        })
        .and_then(|()| match header("apns-collapse-id") {
            Some(id) if id.len() > 64 => Err("BadCollapseId".to_owned()),
            _ => Ok(()),
        })
        .and_then(|()| if body.len() > 4096 { Err("PayloadTooLarge".to_owned()) } else { Ok(()) });
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut stand = state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Err(why) = checked {
        stand.refused.push(why.clone());
        let status = if why.starts_with("PayloadTooLarge") {
            413
        } else if why.contains("ProviderToken") {
            403
        } else {
            400
        };
        return reply(status, why.split(':').next().unwrap_or_default());
    }
    if !payload["aps"].is_object() {
        stand.refused.push("PayloadEmpty".into());
        return reply(400, "PayloadEmpty");
    }
    // A token change on this connection.
    let token = token.unwrap_or_default();
    if stand.last_token.get(&connection).is_some_and(|last| *last != token) {
        stand.token_changes += 1;
    }
    stand.last_token.insert(connection, token);
    if stand.unregistered.contains(&device) {
        return reply(410, "Unregistered");
    }
    if let Some((status, reason)) = stand.scripted.pop_front() {
        return reply(status, reason);
    }
    stand.received.push(ApnsReceived {
        device,
        payload,
        push_type: header("apns-push-type").unwrap_or_default(),
        priority: header("apns-priority"),
        collapse_id: header("apns-collapse-id"),
        expiration: header("apns-expiration").and_then(|e| e.parse().ok()),
        at: Instant::now(),
    });
    Response::new(Full::new(Bytes::new()))
}

/// Checks a provider token: ES256 by the team's key, its `kid`, `iss`, and an `iat` within the
/// last hour.
fn check_token(key: &SigningKey, token: &str) -> Result<(), String> {
    let mut parts = token.split('.');
    let (Some(head), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not three parts".into());
    };
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string());
    let head: Value = serde_json::from_slice(&b64(head)?).map_err(|e| e.to_string())?;
    if head["alg"] != "ES256" || head["kid"] != KEY_ID {
        return Err(format!("header {head}"));
    }
    let signature = Signature::from_slice(&b64(signature)?).map_err(|e| e.to_string())?;
    VerifyingKey::from(key)
        .verify(format!("{}.{claims}", token.split('.').next().unwrap_or_default()).as_bytes(), &signature)
        .map_err(|_| "the signature does not verify with the team's key".to_owned())?;
    let claims: Value = serde_json::from_slice(&b64(claims)?).map_err(|e| e.to_string())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let iat = claims["iat"].as_u64().ok_or("no iat")?;
    if claims["iss"] != TEAM_ID || iat + 3600 < now || iat > now + 60 {
        return Err(format!("claims {claims} at {now}"));
    }
    Ok(())
}
