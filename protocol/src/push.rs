//! Push targets: where a platform push for a client goes when it is not connected — a Web Push
//! subscription as a browser's `PushSubscription.toJSON()` gives it, an APNs device token or an
//! FCM registration token; the messages that register and unregister them, and what a push
//! carries (docs/protocol.md §17).
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

/// `register_push`: while this client (its `client_id`) has no connection to the server, each
/// change of `interest` is pushed to `target`, coalesced (docs/protocol.md §17). Registering
/// the same target and interest again replaces the notification and keeps one registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterPush {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// Where the pushes go.
    pub target: PushTarget,
    /// Which changes wake the app.
    pub interest: PushInterest,
    /// The text a notification shows, from the changed row's columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationTemplate>,
}

/// The changes a push registration is for: the rows of a view that a live query's `where`
/// keeps (within the token's row filter), as they are upserted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PushInterest {
    /// The view.
    pub view: String,
    /// The condition on its rows, in the view SQL's `WHERE` grammar.
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// A notification's title and body: text in which `{column}` is replaced by the changed row's
/// value of that column (`{{` and `}}` are braces), written in the client's own language.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NotificationTemplate {
    /// The title.
    pub title: String,
    /// The body.
    #[serde(default)]
    pub body: String,
}

/// `push_registered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRegistered {
    /// The `register_push` request id.
    pub id: u64,
    /// The registration's id (the same for the same client, target and interest).
    pub registration: String,
}

/// `unregister_push`: no more pushes for this registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnregisterPush {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// The registration's id.
    pub registration: String,
}

/// `push_unregistered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushUnregistered {
    /// The `unregister_push` request id.
    pub id: u64,
    /// The registration's id.
    pub registration: String,
}

/// `test_push`: one push now to every registration of a client, connected or not, with the
/// given text (an operator's check that pushes reach a device; the define right).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestPush {
    /// Request id, echoed in the answer.
    pub id: u64,
    /// The client whose registrations are pushed to.
    pub client_id: String,
    /// The notification's title.
    #[serde(default = "test_title")]
    pub title: String,
}

fn test_title() -> String {
    "Test".into()
}

/// `push_tested`: the pushes are queued (they are sent as any other, see `registrations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTested {
    /// The `test_push` request id.
    pub id: u64,
    /// The registrations a push was queued for.
    pub registrations: Vec<String>,
}

/// What a push carries to the device (its payload, JSON): enough for the app to wake and sync
/// over its WebSocket, and the notification's text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushNotice {
    /// The registration it is for.
    pub registration: String,
    /// The view that changed.
    pub view: String,
    /// The last row that changed.
    pub key: crate::Key,
    /// The view's version after that change.
    pub version: u64,
    /// How many rows' changes this push stands for (a burst is coalesced into one push).
    pub changes: u32,
    /// The notification's title, from the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The notification's body, from the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}
