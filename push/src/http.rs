//! The HTTP exchange with a push service: one client (HTTP/1.1 and HTTP/2, TLS through rustls
//! on `ring` with Mozilla's roots; plain `http://` too, for stand-ins on loopback), and the
//! service's answer read as an [`Outcome`].
//!
//! ```
//! use std::time::Duration;
//! use lucarne_push::Outcome;
//!
//! assert_eq!(Outcome::of(201, None, ""), Outcome::Delivered);
//! assert_eq!(Outcome::of(410, None, ""), Outcome::Gone);
//! assert_eq!(Outcome::of(429, Some("7"), ""), Outcome::Retry { after: Some(Duration::from_secs(7)) });
//! assert_eq!(Outcome::of(503, None, ""), Outcome::Retry { after: None });
//! ```

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::PushError;

/// How long one exchange may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The most of a refusal's body kept for its reason.
const REASON_BYTES: usize = 512;

/// What a push service made of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (`201 Created`, or another 2xx).
    Delivered,
    /// The subscription is gone for good (`404`, `410`): forget it.
    Gone,
    /// Try again later (`429`, `5xx`), after `Retry-After` when the service gave one in seconds.
    Retry {
        /// The service's `Retry-After`.
        after: Option<Duration>,
    },
    /// Refused for a reason that trying again will not change (`400`, `401`, `403`, `413`, …):
    /// a bad VAPID key, a payload too large for this service.
    Refused {
        /// The status.
        status: u16,
        /// The start of the service's answer.
        reason: String,
    },
}

impl Outcome {
    /// Reads a push service's answer: its status, `Retry-After` and body.
    pub fn of(status: u16, retry_after: Option<&str>, body: &str) -> Outcome {
        match status {
            200..=299 => Outcome::Delivered,
            404 | 410 => Outcome::Gone,
            429 | 500..=599 => Outcome::Retry {
                after: retry_after.and_then(|s| s.trim().parse::<u64>().ok()).map(Duration::from_secs),
            },
            _ => Outcome::Refused { status, reason: body.chars().take(REASON_BYTES).collect() },
        }
    }
}

/// The client every push goes through.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    #[expect(
        deprecated,
        reason = "ring has no post-quantum key exchange, but builds without a C toolchain (aws-lc-rs does not)"
    )]
    pub(crate) fn new() -> Result<HttpClient, PushError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| PushError::Unreachable(format!("TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        Ok(HttpClient { client: Client::builder(TokioExecutor::new()).build(connector) })
    }

    /// Sends a request; the answer read as an [`Outcome`].
    pub(crate) async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<Outcome, PushError> {
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| PushError::Unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            // Only the start of a body is read, and only when it is a refusal's reason.
            let body = if matches!(status, 200..=299 | 404 | 410) {
                String::new()
            } else {
                match Limited::new(response.into_body(), 64 * 1024).collect().await {
                    Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                    Err(e) => format!("(unreadable: {e})"),
                }
            };
            Ok(Outcome::of(status, retry_after.as_deref(), &body))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| PushError::Unreachable(format!("no answer within {TIMEOUT:?}")))?
    }
}
