//! Firebase Cloud Messaging, HTTP v1: a service account's key signs a JWT (RS256) that its token
//! endpoint (`token_uri`) exchanges for an OAuth access token, kept until five minutes before it
//! expires; each push is `POST /v1/projects/<project>/messages:send` with that token, a
//! `data` map for the app, an optional `notification`, and Android's collapse key, TTL and
//! priority; the answer read as an [`Outcome`] (`UNREGISTERED` or `404`: gone).
//!
//! ```no_run
//! use std::time::Duration;
//! use lucarne_push::fcm::{Fcm, FcmConfig, Push};
//!
//! # async fn send() -> Result<(), lucarne_push::PushError> {
//! let fcm = Fcm::new(FcmConfig {
//!     service_account_json: std::fs::read_to_string("service-account.json").unwrap_or_default(),
//!     ..FcmConfig::default()
//! })?;
//! let push = Push {
//!     data: vec![("lucarne".into(), r#"{"view":"orders"}"#.into())],
//!     title: Some("Order o-7 paid".into()),
//!     body: None,
//!     collapse_key: Some("p1".into()),
//!     ttl: Duration::from_secs(3600),
//!     high_priority: true,
//! };
//! let outcome = fcm.send("fcm-registration-token", &push).await?;
//! # Ok(()) }
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::HttpClient;
use crate::{Outcome, PushError};

/// Google's endpoint.
pub const FCM: &str = "https://fcm.googleapis.com";
/// The OAuth scope FCM needs.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// An access token is made afresh this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// What an FCM sender needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmConfig {
    /// The service account's key file (JSON, as the Firebase console gives it).
    pub service_account_json: String,
    /// Where FCM is: [`FCM`] by default.
    pub base_url: String,
    /// More certificate authorities to trust (PEM), e.g. a test stand-in's.
    pub extra_ca_pem: Option<String>,
}

impl Default for FcmConfig {
    fn default() -> Self {
        FcmConfig { service_account_json: String::new(), base_url: FCM.into(), extra_ca_pem: None }
    }
}

/// The fields of a service account's key file that FCM needs.
#[derive(Debug, Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    token_uri: String,
}

/// One push to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// What the app receives (FCM's `data`: strings).
    pub data: Vec<(String, String)>,
    /// The notification's title (none: a data message, which wakes the app without showing
    /// anything).
    pub title: Option<String>,
    /// The notification's body.
    pub body: Option<String>,
    /// A push with the same key replaces one still waiting for the device (Android).
    pub collapse_key: Option<String>,
    /// How long FCM keeps it for a device that is offline.
    pub ttl: Duration,
    /// `HIGH` (wakes a dozing device) or `NORMAL`.
    pub high_priority: bool,
}

/// Sends to FCM as one service account.
#[derive(Debug)]
pub struct Fcm {
    account: ServiceAccount,
    key: ring::signature::RsaKeyPair,
    send_url: String,
    http: HttpClient,
    /// The access token in use and when to make a new one.
    token: Mutex<Option<(String, Instant)>>,
}

impl Fcm {
    /// A sender; the service account's key is read now (an error names what is wrong).
    pub fn new(config: FcmConfig) -> Result<Fcm, PushError> {
        let account: ServiceAccount = serde_json::from_str(&config.service_account_json)
            .map_err(|e| PushError::InvalidKey(format!("the FCM service account's key file: {e}")))?;
        let der = pem_body(&account.private_key, "PRIVATE KEY").ok_or_else(|| {
            PushError::InvalidKey("the service account's private_key is not a PKCS#8 PEM".into())
        })?;
        let key = ring::signature::RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| PushError::InvalidKey(format!("the service account's RSA key: {e}")))?;
        let base = config.base_url.trim_end_matches('/');
        let send_url = format!("{base}/v1/projects/{}/messages:send", account.project_id);
        send_url.parse::<http::Uri>().map_err(|_| PushError::InvalidEndpoint(send_url.clone()))?;
        let http = HttpClient::with(false, config.extra_ca_pem.as_deref())?;
        Ok(Fcm { account, key, send_url, http, token: Mutex::new(None) })
    }

    /// The project the service account belongs to.
    pub fn project(&self) -> &str {
        &self.account.project_id
    }

    /// The signed assertion the token endpoint exchanges (RS256, an hour).
    fn assertion(&self, iat: u64) -> Result<String, PushError> {
        let header = json!({ "alg": "RS256", "typ": "JWT" });
        let claims = json!({
            "iss": self.account.client_email, "scope": SCOPE, "aud": self.account.token_uri,
            "iat": iat, "exp": iat + 3600,
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| PushError::Encryption("signing the FCM assertion".into()))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The access token: the one in use until five minutes before it expires, else a new one
    /// from the token endpoint.
    async fn access_token(&self) -> Result<String, PushError> {
        if let Some((token, renew)) = &*self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
            && Instant::now() < *renew
        {
            return Ok(token.clone());
        }
        let iat = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
            self.assertion(iat)?
        );
        let request = http::Request::post(&self.account.token_uri)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| PushError::InvalidEndpoint(self.account.token_uri.clone()))?;
        let reply = self.http.send_reading(request).await?;
        if reply.status != 200 {
            return Err(PushError::Unreachable(format!(
                "the token endpoint answered {}: {}",
                reply.status, reply.body
            )));
        }
        let answer: Value = serde_json::from_str(&reply.body)
            .map_err(|e| PushError::Unreachable(format!("the token endpoint's answer: {e}")))?;
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| PushError::Unreachable("no access_token".into()))?;
        let lasts = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(3600));
        let renew = Instant::now() + lasts.saturating_sub(RENEW_BEFORE);
        *self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((token.to_owned(), renew));
        Ok(token.to_owned())
    }

    /// The body of a push to `device`.
    pub fn message(device: &str, push: &Push) -> Value {
        let data: serde_json::Map<String, Value> =
            push.data.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut message = json!({
            "token": device,
            "data": data,
            "android": {
                "ttl": format!("{}s", push.ttl.as_secs()),
                "priority": if push.high_priority { "HIGH" } else { "NORMAL" },
            },
        });
        if let Some(key) = &push.collapse_key {
            message["android"]["collapse_key"] = json!(key);
        }
        if let Some(title) = &push.title {
            message["notification"] =
                json!({ "title": title, "body": push.body.clone().unwrap_or_default() });
        }
        json!({ "message": message })
    }

    /// Sends one push; FCM's answer as an [`Outcome`].
    pub async fn send(&self, device: &str, push: &Push) -> Result<Outcome, PushError> {
        if device.is_empty() {
            return Err(PushError::InvalidKey("an empty FCM registration token".into()));
        }
        let body = Fcm::message(device, push).to_string();
        if body.len() > 4096 + 1024 {
            return Err(PushError::PayloadTooLarge(body.len()));
        }
        let request = http::Request::post(&self.send_url)
            .header(http::header::AUTHORIZATION, format!("Bearer {}", self.access_token().await?))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| PushError::InvalidEndpoint(self.send_url.clone()))?;
        let reply = self.http.send(request).await?;
        let error: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        let code = error["error"]["details"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|d| d["errorCode"].as_str())
            .unwrap_or_else(|| error["error"]["status"].as_str().unwrap_or_default());
        Ok(match (reply.status, code) {
            (200, _) => Outcome::Delivered,
            (404, _) | (_, "UNREGISTERED") => Outcome::Gone,
            (401, _) => {
                // Made afresh for the next try.
                *self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                Outcome::Retry { after: None }
            }
            _ => match reply.outcome() {
                Outcome::Refused { status, reason } => Outcome::Refused {
                    status,
                    reason: if code.is_empty() { reason } else { code.to_owned() },
                },
                other => other,
            },
        })
    }
}

/// The bytes of a PEM block with this label.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let inner = pem.split(&begin).nth(1)?.split(&end).next()?;
    let text: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(text).ok()
}
