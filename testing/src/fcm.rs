//! An FCM stand-in on loopback, for tests: HTTP/2 over TLS with a test CA ([`crate::tls`]), its
//! OAuth token endpoint and FCM HTTP v1's `messages:send`. It hands out a service account's key
//! file (a fixed RSA test key), checks each assertion as Google's token endpoint does (RS256
//! with that key, `iss`, `aud`, `scope`, an hour at most), issues access tokens and counts the
//! requests for them, and checks each push's bearer token and message.
//!
//! ```no_run
//! # async fn run() {
//! let fcm = lucarne_testing::FcmService::start().await;
//! let key_file = fcm.service_account_json(); // for the sender's config; its token_uri is here
//! // … the code under test pushes to fcm.url() …
//! assert_eq!(fcm.received()[0].device, "dev-1");
//! fcm.unregister("dev-1"); // later pushes to it: 404 UNREGISTERED
//! # }
//! ```

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// The service account's RSA key (a test key, made for these tests only).
const KEY_PEM: &str = include_str!("fcm-test-key.pem");
const PROJECT: &str = "lucarne-test";
const CLIENT_EMAIL: &str = "push@lucarne-test.iam.gserviceaccount.com";

/// A push FCM accepted.
#[derive(Debug, Clone)]
pub struct FcmReceived {
    /// The registration token.
    pub device: String,
    /// The message (`{"token", "data", "notification"?, "android"}`).
    pub message: Value,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Debug, Default)]
struct Stand {
    url: String,
    issued: HashSet<String>,
    token_requests: usize,
    received: Vec<FcmReceived>,
    refused: Vec<String>,
    unregistered: HashSet<String>,
    scripted: VecDeque<(u16, &'static str)>,
}

/// An FCM stand-in (see the module docs).
#[derive(Debug, Clone)]
pub struct FcmService {
    server: crate::tls::TlsServer,
    state: Arc<Mutex<Stand>>,
}

impl FcmService {
    /// Starts one on a free loopback port, on the current tokio runtime.
    pub async fn start() -> FcmService {
        let state: Arc<Mutex<Stand>> = Arc::default();
        let stand = state.clone();
        let server = crate::tls::serve(move |request, _| {
            let stand = stand.clone();
            async move { answer(&stand, request).await }
        })
        .await;
        state.lock().unwrap_or_else(PoisonError::into_inner).url = format!("https://{}", server.addr);
        FcmService { server, state }
    }

    fn stand(&self) -> std::sync::MutexGuard<'_, Stand> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its base URL (FCM's and the token endpoint's), `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.server.addr)
    }

    /// The test CA's certificate (PEM), for the client to trust.
    pub fn ca_pem(&self) -> String {
        self.server.ca_pem.clone()
    }

    /// A service account's key file whose `token_uri` is this stand-in's.
    pub fn service_account_json(&self) -> String {
        json!({
            "type": "service_account", "project_id": PROJECT, "client_email": CLIENT_EMAIL,
            "private_key": KEY_PEM, "token_uri": format!("{}/token", self.url()),
        })
        .to_string()
    }

    /// Pushes to this registration token are answered `404 UNREGISTERED` from now on.
    pub fn unregister(&self, device: &str) {
        self.stand().unregistered.insert(device.to_owned());
    }

    /// The next push is answered with `status` and this `errorCode` instead of being accepted.
    pub fn answer_next(&self, status: u16, code: &'static str) {
        self.stand().scripted.push_back((status, code));
    }

    /// Every push accepted so far, in order.
    pub fn received(&self) -> Vec<FcmReceived> {
        self.stand().received.clone()
    }

    /// Why requests were refused, in order.
    pub fn refused(&self) -> Vec<String> {
        self.stand().refused.clone()
    }

    /// Access tokens asked for so far.
    pub fn token_requests(&self) -> usize {
        self.stand().token_requests
    }
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

fn fcm_error(status: u16, code: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        json!({"error": {"code": status, "status": code, "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
        ]}}),
    )
}

async fn answer(state: &Mutex<Stand>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut stand = state.lock().unwrap_or_else(PoisonError::into_inner);
    match parts.uri.path() {
        "/token" => {
            stand.token_requests += 1;
            let form = String::from_utf8_lossy(&body).into_owned();
            let assertion = form.split('&').find_map(|p| p.strip_prefix("assertion=")).filter(|_| {
                form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
            });
            let token_uri = format!("{}/token", stand.url);
            match assertion
                .ok_or_else(|| "no jwt-bearer assertion".to_owned())
                .and_then(|a| check_assertion(a, &token_uri))
            {
                Ok(()) => {
                    let token = format!("ya29.test-{}", stand.token_requests);
                    stand.issued.insert(token.clone());
                    reply(200, json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
                }
                Err(why) => {
                    stand.refused.push(format!("token: {why}"));
                    reply(400, json!({"error": "invalid_grant", "error_description": why}))
                }
            }
        }
        path if path == format!("/v1/projects/{PROJECT}/messages:send") => {
            let bearer = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::to_owned);
            if !bearer.is_some_and(|b| stand.issued.contains(&b)) {
                stand.refused.push("send: a bearer token it did not issue".into());
                return fcm_error(401, "UNAUTHENTICATED");
            }
            let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let message = message["message"].clone();
            let device = message["token"].as_str().unwrap_or_default().to_owned();
            let strings = message["data"].as_object().is_none_or(|d| d.values().all(Value::is_string));
            if device.is_empty() || !strings {
                stand.refused.push(format!("send: invalid message {message}"));
                return fcm_error(400, "INVALID_ARGUMENT");
            }
            if stand.unregistered.contains(&device) {
                return fcm_error(404, "UNREGISTERED");
            }
            if let Some((status, code)) = stand.scripted.pop_front() {
                return fcm_error(status, code);
            }
            stand.received.push(FcmReceived { device, message, at: Instant::now() });
            let name = format!("projects/{PROJECT}/messages/{}", stand.received.len());
            reply(200, json!({ "name": name }))
        }
        other => reply(404, json!({"error": format!("no {other}")})),
    }
}

/// Checks an assertion as Google's token endpoint does.
fn check_assertion(assertion: &str, token_uri: &str) -> Result<(), String> {
    let mut parts = assertion.split('.');
    let (Some(head), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not three parts".into());
    };
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string());
    let head: Value = serde_json::from_slice(&b64(head)?).map_err(|e| e.to_string())?;
    if head["alg"] != "RS256" {
        return Err(format!("alg {}", head["alg"]));
    }
    let der: String = KEY_PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(der).map_err(|e| e.to_string())?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?;
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        key.public().as_ref().to_vec(),
    );
    public
        .verify(
            format!("{}.{claims}", assertion.split('.').next().unwrap_or_default()).as_bytes(),
            &b64(signature)?,
        )
        .map_err(|_| "the signature does not verify with the service account's key".to_owned())?;
    let claims: Value = serde_json::from_slice(&b64(claims)?).map_err(|e| e.to_string())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (iat, exp) = (claims["iat"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
    let fresh = iat <= now + 300 && now <= exp && exp.saturating_sub(iat) <= 3600;
    let scoped = claims["scope"]
        .as_str()
        .is_some_and(|s| s.split(' ').any(|s| s.ends_with("/auth/firebase.messaging")));
    if claims["iss"] != CLIENT_EMAIL || claims["aud"] != token_uri || !fresh || !scoped {
        return Err(format!("claims {claims} at {now}"));
    }
    Ok(())
}
