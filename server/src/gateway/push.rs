//! The push messages of a connection: `register_push` (the interest's view must be one the token
//! may read, its `where` compiled like a live query's and narrowed by the token's row filter;
//! a Web Push endpoint only on an allowed push service's origin), `unregister_push` (the
//! connection's own client's registrations only) and `test_push` (the define right).

use lucarne_protocol::{
    ErrorCode, PushRegistered, PushTarget, PushTested, PushUnregistered, RegisterPush, ServerMessage,
    TestPush, UnregisterPush,
};

use super::{Asked, Connection, Next, too_long};
use crate::push::{MAX_TEMPLATE_BYTES, RegisterError, Registration, Stored};

impl Connection {
    /// `register_push`.
    pub(super) async fn register_push(&mut self, r: RegisterPush) -> Next {
        match self.registration(r.clone()).await {
            Ok(registration) => match self.shared.engine.register_push(registration).await {
                Ok(id) => {
                    tracing::info!(client = ?self.client_id, registration = %id, view = %r.interest.view, "push registered");
                    self.out
                        .send(&ServerMessage::PushRegistered(PushRegistered { id: r.id, registration: id }))
                }
                Err(RegisterError::OverBudget(message)) => {
                    self.out.error(ErrorCode::OverBudget, message, None, Some(r.id))
                }
                Err(RegisterError::Store(e)) => {
                    self.out.error(ErrorCode::Unavailable, e.to_string(), None, Some(r.id))
                }
            },
            Err((code, message)) => self.out.error(code, message, None, Some(r.id)),
        }
    }

    /// A registration checked: this server pushes to its kind of target, the token may read its
    /// view, its texts are within bounds and its `where` compiles within the token's row filter.
    async fn registration(&self, r: RegisterPush) -> Result<Registration, (ErrorCode, String)> {
        let engine = &self.shared.engine;
        let Some(config) = engine.pushes().config().cloned() else {
            return Err((ErrorCode::Unsupported, "this server sends no pushes".into()));
        };
        match &r.target {
            PushTarget::Web(web) => {
                if config.web.is_none() {
                    let message = "this server sends no Web Push (it was started without a VAPID key)";
                    return Err((ErrorCode::Unsupported, message.into()));
                }
                if !config.allows_endpoint(&web.endpoint) {
                    let message = format!(
                        "the endpoint {:?} is not on a push service this server posts to ({})",
                        web.endpoint,
                        config.endpoints.join(", ")
                    );
                    return Err((ErrorCode::Forbidden, message));
                }
                lucarne_push::webpush::check_keys(&web.keys)
                    .map_err(|e| (ErrorCode::InvalidMessage, format!("the subscription's keys: {e}")))?;
            }
            PushTarget::Apns { token } => {
                if config.apns.is_none() {
                    let message = "this server sends no APNs pushes (it was started without an APNs key)";
                    return Err((ErrorCode::Unsupported, message.into()));
                }
                if token.is_empty() || token.len() > 200 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                    let message = "an APNs device token is hexadecimal digits (at most 200)";
                    return Err((ErrorCode::InvalidMessage, message.into()));
                }
            }
            PushTarget::Fcm { token } => {
                if config.fcm.is_none() {
                    let message = "this server sends no FCM pushes (it was started without an FCM key)";
                    return Err((ErrorCode::Unsupported, message.into()));
                }
                if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_whitespace) {
                    let message = "an FCM registration token is one word (at most 4 096 bytes)";
                    return Err((ErrorCode::InvalidMessage, message.into()));
                }
            }
        }
        let view = r.interest.view.clone();
        let grant = self.grant();
        if !grant.may_view(&view) {
            return Err((grant.refusal(), format!("this token may not read the view {view:?}")));
        }
        if let Some(t) = &r.notification {
            for (what, text) in [("the notification's title", &t.title), ("the notification's body", &t.body)]
            {
                if let Some(message) = too_long(what, text, MAX_TEMPLATE_BYTES) {
                    return Err((ErrorCode::TooComplex, message));
                }
            }
        }
        if let Some(message) =
            r.interest.filter.as_deref().and_then(|f| {
                too_long("the push interest's where", f, self.shared.config.limits.max_query_bytes)
            })
        {
            return Err((ErrorCode::TooComplex, message));
        }
        let rows = grant.row_filter(&view);
        let asked = Asked {
            what: "the push interest's where",
            filter: r.interest.filter.clone(),
            order_by: None,
            limit: None,
        };
        let query = self.compile(&view, asked, rows.clone()).await?;
        let stored = Stored {
            client_id: self.client_id.clone().unwrap_or_default(),
            target: r.target,
            interest: r.interest,
            rows,
            notification: r.notification,
        };
        Ok(Registration::new(stored, query))
    }

    /// `test_push`: the define right (an operator's).
    pub(super) async fn test_push(&mut self, t: TestPush) -> Next {
        let grant = self.grant();
        if !grant.can_define() {
            let message = "test_push needs the define right".to_owned();
            return self.out.error(grant.refusal(), message, None, Some(t.id));
        }
        if self.shared.engine.pushes().config().is_none() {
            return self.out.error(ErrorCode::Unsupported, "this server sends no pushes", None, Some(t.id));
        }
        if let Some(message) = too_long("the test push's title", &t.title, MAX_TEMPLATE_BYTES) {
            return self.out.error(ErrorCode::TooComplex, message, None, Some(t.id));
        }
        match self.shared.engine.test_push(&t.client_id, &t.title).await {
            Ok(registrations) => {
                tracing::info!(client = %t.client_id, count = registrations.len(), "test push queued");
                self.out.send(&ServerMessage::PushTested(PushTested { id: t.id, registrations }))
            }
            Err(e) => self.out.error(ErrorCode::Unavailable, e.to_string(), None, Some(t.id)),
        }
    }

    /// `unregister_push`.
    pub(super) async fn unregister_push(&mut self, u: UnregisterPush) -> Next {
        let client = self.client_id.clone().unwrap_or_default();
        match self.shared.engine.unregister_push(&client, &u.registration).await {
            Ok(true) => self.out.send(&ServerMessage::PushUnregistered(PushUnregistered {
                id: u.id,
                registration: u.registration,
            })),
            Ok(false) => {
                let message = format!("this client has no push registration {:?}", u.registration);
                self.out.error(ErrorCode::NotFound, message, None, Some(u.id))
            }
            Err(e) => self.out.error(ErrorCode::Unavailable, e.to_string(), None, Some(u.id)),
        }
    }
}
