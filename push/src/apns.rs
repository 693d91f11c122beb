//! APNs, Apple's push service: one HTTP/2 connection (`POST /3/device/<token>`), authenticated by
//! a provider token — an ES256 JWT of the team's `.p8` key (`kid`: its key id, `iss`: the team,
//! `iat`) made afresh only every 50 minutes (Apple refuses one younger than 20 and older than
//! 60 minutes: `TooManyProviderTokenUpdates`, `ExpiredProviderToken`) — with `apns-topic` (the
//! app's bundle id), `apns-push-type`, `apns-priority`, `apns-expiration` and
//! `apns-collapse-id`; the answer's `reason` read as an [`Outcome`].
//!
//! ```no_run
//! use std::time::Duration;
//! use lucarne_push::apns::{Apns, ApnsConfig, Kind};
//! use lucarne_push::{Message, Urgency};
//!
//! # async fn send() -> Result<(), lucarne_push::PushError> {
//! let apns = Apns::new(ApnsConfig {
//!     key_pem: std::fs::read_to_string("AuthKey_ABC123DEFG.p8").unwrap_or_default(),
//!     key_id: "ABC123DEFG".into(),
//!     team_id: "DEF123GHIJ".into(),
//!     topic: "com.example.desk".into(),
//!     ..ApnsConfig::default()
//! })?;
//! let body = br#"{"aps":{"alert":{"title":"Order o-7 paid"}}}"#.to_vec();
//! let message = Message { payload: body, ttl: Duration::from_secs(3600), urgency: Urgency::High, topic: Some("p1".into()) };
//! let outcome = apns.send("a1b2c3…", &message, Kind::Alert).await?;
//! # Ok(()) }
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::Full;
use hyper::body::Bytes;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;

use crate::http::HttpClient;
use crate::{Message, Outcome, PushError, Urgency};

/// Apple's production endpoint.
pub const PRODUCTION: &str = "https://api.push.apple.com";
/// Apple's development endpoint.
pub const SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// How long a provider token is used before a new one is made (Apple: 20 to 60 minutes).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);
/// The largest payload of an alert (APNs refuses more: `PayloadTooLarge`).
pub const MAX_PAYLOAD: usize = 4096;

/// What an APNs sender needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsConfig {
    /// The team's signing key, the `.p8` file Apple gives (PKCS#8 PEM).
    pub key_pem: String,
    /// Its key id (10 characters).
    pub key_id: String,
    /// The team id (10 characters).
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// Where APNs is: [`PRODUCTION`] by default, [`SANDBOX`] for development builds.
    pub base_url: String,
    /// More certificate authorities to trust (PEM), e.g. a test stand-in's.
    pub extra_ca_pem: Option<String>,
}

impl Default for ApnsConfig {
    fn default() -> Self {
        ApnsConfig {
            key_pem: String::new(),
            key_id: String::new(),
            team_id: String::new(),
            topic: String::new(),
            base_url: PRODUCTION.into(),
            extra_ca_pem: None,
        }
    }
}

/// What a push is to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Shown to the user (`apns-push-type: alert`).
    Alert,
    /// Wakes the app without showing anything (`background`; sent at priority 5, as Apple
    /// requires).
    Background,
}

/// Sends to APNs as one team and app.
#[derive(Debug)]
pub struct Apns {
    config: ApnsConfig,
    key: SigningKey,
    base: http::Uri,
    http: HttpClient,
    /// The provider token in use and when it was made.
    token: Mutex<Option<(String, Instant)>>,
}

impl Apns {
    /// A sender; the key is read now (an error names what is wrong with it).
    pub fn new(config: ApnsConfig) -> Result<Apns, PushError> {
        let key = SigningKey::from_pkcs8_pem(config.key_pem.trim())
            .map_err(|e| PushError::InvalidKey(format!("APNs key (a .p8 file, PKCS#8 PEM): {e}")))?;
        let base: http::Uri =
            config.base_url.parse().map_err(|_| PushError::InvalidEndpoint(config.base_url.clone()))?;
        if base.scheme_str() != Some("https") || base.authority().is_none() {
            return Err(PushError::InvalidEndpoint(config.base_url.clone()));
        }
        let http = HttpClient::with(true, config.extra_ca_pem.as_deref())?;
        Ok(Apns { config, key, base, http, token: Mutex::new(None) })
    }

    /// The provider token: the one in use while younger than [`TOKEN_LIFETIME`], else a new one.
    fn provider_token(&self) -> String {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.provider_token_at(Instant::now(), unix)
    }

    fn provider_token_at(&self, now: Instant, unix: u64) -> String {
        let mut token = self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((jwt, made)) = &*token
            && now.saturating_duration_since(*made) < TOKEN_LIFETIME
        {
            return jwt.clone();
        }
        let header = serde_json::json!({ "alg": "ES256", "kid": self.config.key_id });
        let claims = serde_json::json!({ "iss": self.config.team_id, "iat": unix });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self.key.sign(signed.as_bytes());
        let jwt = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        *token = Some((jwt.clone(), now));
        jwt
    }

    /// The request for one push to a device (sent by [`Apns::send`]); `message.payload` is the
    /// APNs JSON body (`{"aps": …}`), `message.topic` its collapse id (at most 64 bytes).
    pub fn request(
        &self,
        device_token: &str,
        message: &Message,
        kind: Kind,
    ) -> Result<http::Request<Full<Bytes>>, PushError> {
        if device_token.is_empty() || !device_token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PushError::InvalidKey(format!(
                "APNs device token {device_token:?}: hexadecimal digits"
            )));
        }
        if message.payload.len() > MAX_PAYLOAD {
            return Err(PushError::PayloadTooLarge(message.payload.len()));
        }
        let url = format!("{}/3/device/{device_token}", self.base.to_string().trim_end_matches('/'));
        let expiration =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + message.ttl.as_secs();
        let (push_type, priority) = match (kind, message.urgency) {
            (Kind::Background, _) => ("background", "5"),
            (Kind::Alert, Urgency::VeryLow | Urgency::Low) => ("alert", "5"),
            (Kind::Alert, Urgency::Normal | Urgency::High) => ("alert", "10"),
        };
        let mut request = http::Request::post(url)
            .header(http::header::AUTHORIZATION, format!("bearer {}", self.provider_token()))
            .header("apns-topic", &self.config.topic)
            .header("apns-push-type", push_type)
            .header("apns-priority", priority)
            .header("apns-expiration", expiration)
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(id) = &message.topic {
            if id.len() > 64 {
                return Err(PushError::InvalidTopic(id.clone()));
            }
            request = request.header("apns-collapse-id", id);
        }
        request
            .body(Full::new(Bytes::from(message.payload.clone())))
            .map_err(|e| PushError::InvalidEndpoint(e.to_string()))
    }

    /// Sends one push; APNs's answer as an [`Outcome`].
    pub async fn send(
        &self,
        device_token: &str,
        message: &Message,
        kind: Kind,
    ) -> Result<Outcome, PushError> {
        let reply = self.http.send(self.request(device_token, message, kind)?).await?;
        let reason = serde_json::from_str::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(match (reply.status, reason.as_str()) {
            (200, _) => Outcome::Delivered,
            (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Outcome::Gone,
            (403, "ExpiredProviderToken") => {
                // Made afresh for the next try.
                *self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                Outcome::Retry { after: None }
            }
            _ => match reply.outcome() {
                Outcome::Gone | Outcome::Refused { .. } => Outcome::Refused {
                    status: reply.status,
                    reason: if reason.is_empty() { reply.body } else { reason },
                },
                other => other,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_token_is_kept_fifty_minutes_then_made_afresh() {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let key_pem =
            p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, Default::default()).expect("pem").to_string();
        let config = ApnsConfig {
            key_pem,
            key_id: "K".into(),
            team_id: "T".into(),
            topic: "t".into(),
            ..ApnsConfig::default()
        };
        let apns = Apns::new(config).expect("a sender");
        let (t0, unix) = (Instant::now(), 1_800_000_000);
        let first = apns.provider_token_at(t0, unix);
        assert_eq!(apns.provider_token_at(t0 + Duration::from_secs(49 * 60), unix + 49 * 60), first);
        let later = apns.provider_token_at(t0 + Duration::from_secs(51 * 60), unix + 51 * 60);
        assert_ne!(later, first, "renewed after 50 minutes (Apple: at least every 60)");
        let claims = later.split('.').nth(1).expect("claims");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64")).expect("json");
        assert_eq!(claims, serde_json::json!({"iss": "T", "iat": unix + 51 * 60}));
    }
}
