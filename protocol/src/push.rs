//! Push targets: where a platform push for a client goes when it is not connected — a Web Push
//! subscription as a browser's `PushSubscription.toJSON()` gives it, an APNs device token or an
//! FCM registration token (docs/protocol.md §17).
//!
//! ```
//! use lucarne_protocol::PushTarget;
//!
//! // A browser's subscription, as `JSON.stringify(subscription)` writes it, with a `kind`.
//! let text = r#"{"kind":"web","endpoint":"https://push.example/send/abc","expirationTime":null,
//!     "keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
//!             "auth":"BTBZMqHH6r4Tts7J_aSIgg"}}"#;
//! let PushTarget::Web(web) = serde_json::from_str(text)? else { panic!("a web target") };
//! assert_eq!(web.endpoint, "https://push.example/send/abc");
//! assert_eq!(web.keys.auth, "BTBZMqHH6r4Tts7J_aSIgg");
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Deserialize, Serialize};

/// Where a push goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushTarget {
    /// A Web Push subscription (RFC 8030), its payload encrypted to its keys (RFC 8291).
    Web(WebPushSubscription),
    /// An Apple device token (hex), for APNs.
    Apns {
        /// The device token.
        token: String,
    },
    /// A Firebase Cloud Messaging registration token.
    Fcm {
        /// The registration token.
        token: String,
    },
}

/// A browser's push subscription: `PushSubscription.toJSON()` (its `expirationTime` is not
/// kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WebPushSubscription {
    /// The push service's URL for this subscription.
    pub endpoint: String,
    /// The subscription's keys.
    pub keys: WebPushKeys,
}

/// A Web Push subscription's keys, unpadded base64url as browsers give them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WebPushKeys {
    /// The user agent's P-256 public key, uncompressed (65 bytes).
    pub p256dh: String,
    /// The authentication secret (16 bytes).
    pub auth: String,
}
