//! Web Push: a [`Message`] encrypted to a browser's subscription ([`encrypt`], RFC 8291) and
//! posted to its push service with VAPID ([`crate::Vapid`], RFC 8292), `TTL`, `Urgency` and
//! `Topic` (RFC 8030).
//!
//! ```no_run
//! use std::time::Duration;
//! use lucarne_protocol::WebPushSubscription;
//! use lucarne_push::{Message, Urgency, Vapid, WebPush};
//!
//! # async fn send(subscription: WebPushSubscription) -> Result<(), lucarne_push::PushError> {
//! let push = WebPush::new(Vapid::generate("mailto:ops@example.com")?)?;
//! let message = Message { payload: b"{}".to_vec(), ttl: Duration::from_secs(60), urgency: Urgency::High, topic: None };
//! let outcome = push.send(&subscription, &message).await?;
//! # Ok(()) }
//! ```

mod ece;

use http_body_util::Full;
use hyper::body::Bytes;
use lucarne_protocol::WebPushSubscription;

pub use ece::{UserAgentKeys, check_keys, decrypt, encrypt};

use crate::http::HttpClient;
use crate::{Message, Outcome, PushError, Vapid};

/// Sends Web Push messages as one VAPID identity.
#[derive(Debug)]
pub struct WebPush {
    vapid: Vapid,
    http: HttpClient,
}

impl WebPush {
    /// A sender signing as `vapid`.
    pub fn new(vapid: Vapid) -> Result<WebPush, PushError> {
        Ok(WebPush { vapid, http: HttpClient::new()? })
    }

    /// The VAPID identity (its public key is the browser's `applicationServerKey`).
    pub fn vapid(&self) -> &Vapid {
        &self.vapid
    }

    /// The request for one push, encrypted and signed (sent by [`WebPush::send`]).
    pub fn request(
        &self,
        to: &WebPushSubscription,
        message: &Message,
    ) -> Result<http::Request<Full<Bytes>>, PushError> {
        let endpoint: http::Uri =
            to.endpoint.parse().map_err(|_| PushError::InvalidEndpoint(to.endpoint.clone()))?;
        if let Some(topic) = &message.topic
            && (topic.len() > 32
                || !topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(PushError::InvalidTopic(topic.clone()));
        }
        let body = encrypt(&message.payload, &to.keys)?;
        let mut request = http::Request::post(endpoint.clone())
            .header("TTL", message.ttl.as_secs())
            .header("Urgency", message.urgency.as_str())
            .header(http::header::CONTENT_ENCODING, "aes128gcm")
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(http::header::AUTHORIZATION, self.vapid.authorization(&endpoint)?);
        if let Some(topic) = &message.topic {
            request = request.header("Topic", topic);
        }
        request.body(Full::new(Bytes::from(body))).map_err(|e| PushError::InvalidEndpoint(e.to_string()))
    }

    /// Sends one push; the push service's answer as an [`Outcome`].
    pub async fn send(&self, to: &WebPushSubscription, message: &Message) -> Result<Outcome, PushError> {
        self.send_request(self.request(to, message)?).await
    }

    /// Sends a request made by [`WebPush::request`] (and perhaps changed since).
    pub async fn send_request(&self, request: http::Request<Full<Bytes>>) -> Result<Outcome, PushError> {
        Ok(self.http.send(request).await?.outcome())
    }
}
