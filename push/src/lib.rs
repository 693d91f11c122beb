//! Platform push, the provider side: what a server sends to a push service so that an app that
//! is not connected wakes up. Web Push: a payload encrypted to the subscription's keys (RFC 8291,
//! `aes128gcm`), signed for with VAPID (RFC 8292), delivered with `TTL`, `Urgency` and `Topic`
//! (RFC 8030); APNs ([`apns`]): HTTP/2 with a provider token reused for 50 minutes; FCM
//! ([`fcm`]): HTTP v1 with a service account's OAuth token. The push service's answer is read
//! as an [`Outcome`].
//!
//! ```no_run
//! use std::time::Duration;
//! use lucarne_protocol::WebPushSubscription;
//! use lucarne_push::{Message, Outcome, Urgency, Vapid, WebPush};
//!
//! # async fn send(subscription: WebPushSubscription) -> Result<(), lucarne_push::PushError> {
//! let vapid = Vapid::generate("mailto:ops@example.com")?;
//! println!("applicationServerKey: {}", vapid.public_key()); // for the browser's subscribe()
//! let push = WebPush::new(vapid)?;
//! let message = Message {
//!     payload: br#"{"view":"orders","key":"o-1","version":42}"#.to_vec(),
//!     ttl: Duration::from_secs(3600),
//!     urgency: Urgency::Normal,
//!     topic: Some("orders-o-1".into()),
//! };
//! match push.send(&subscription, &message).await? {
//!     Outcome::Delivered => {}
//!     Outcome::Gone => { /* forget the subscription */ }
//!     Outcome::Retry { after } => { /* try again after `after`, or a backoff of one's own */ }
//!     Outcome::Refused { status, reason } => eprintln!("{status}: {reason}"),
//! }
//! # Ok(()) }
//! ```
//!
//! Layering: depends on the protocol crate (the targets' wire shapes) and pure-Rust crypto and
//! HTTP (RustCrypto's P-256 and AES-GCM, hyper with rustls on `ring`); no store, no server: the
//! server decides what to push and when, and keeps the outbox.

pub mod apns;
pub mod fcm;
mod http;
mod vapid;
pub mod webpush;

use std::time::Duration;

pub use http::Outcome;
pub use vapid::Vapid;
pub use webpush::WebPush;

/// The largest payload a Web Push message carries: a push service must accept a body of 4 096
/// bytes (RFC 8030 §7.2), and encryption adds 103 (an 86-byte header, a delimiter, a 16-byte tag).
pub const MAX_PAYLOAD: usize = 3993;

/// One push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What the app receives (encrypted on the way).
    pub payload: Vec<u8>,
    /// How long the push service keeps it for a device that is offline (`TTL`).
    pub ttl: Duration,
    /// How urgent it is (`Urgency`): push services may hold back low ones on battery.
    pub urgency: Urgency,
    /// A message with the same topic replaces one still waiting at the push service (`Topic`:
    /// at most 32 characters of the base64url alphabet).
    pub topic: Option<String>,
}

/// RFC 8030's `Urgency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Urgency {
    /// Only on power and Wi-Fi.
    VeryLow,
    /// On power or Wi-Fi.
    Low,
    /// Unless the battery is low.
    #[default]
    Normal,
    /// Even on a low battery.
    High,
}

impl Urgency {
    /// The header's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// Errors before or while sending a push (a push service's refusal is an [`Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A key that is not what it must be (the subscription's `p256dh` or `auth`, or the VAPID
    /// key).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A payload over [`MAX_PAYLOAD`] bytes.
    #[error("a payload of {0} bytes is over the {MAX_PAYLOAD} a push carries")]
    PayloadTooLarge(usize),
    /// A topic longer than 32 characters or outside the base64url alphabet.
    #[error("invalid topic {0:?}: at most 32 characters of A-Z a-z 0-9 - _")]
    InvalidTopic(String),
    /// An endpoint that is not an absolute http(s) URL.
    #[error("invalid endpoint {0:?}")]
    InvalidEndpoint(String),
    /// Encryption failed.
    #[error("encryption failed: {0}")]
    Encryption(String),
    /// The push service could not be reached, or the exchange failed.
    #[error("push service unreachable: {0}")]
    Unreachable(String),
}
