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

/// A push service's answer, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    /// The start of the body (read only when the status is not a success).
    pub(crate) body: String,
}

impl Reply {
    /// The answer as Web Push reads it.
    pub(crate) fn outcome(&self) -> Outcome {
        Outcome::of(self.status, self.retry_after.as_deref(), &self.body)
    }
}

/// The client every push goes through.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// HTTP/1.1 or 2 (as the server offers), Mozilla's roots.
    pub(crate) fn new() -> Result<HttpClient, PushError> {
        HttpClient::with(false, None)
    }

    /// `http2_only`: HTTP/2 or nothing (APNs); `extra_ca_pem`: more roots to trust (a test's
    /// CA, a private gateway's).
    #[expect(
        deprecated,
        reason = "ring has no post-quantum key exchange, but builds without a C toolchain (aws-lc-rs does not)"
    )]
    pub(crate) fn with(http2_only: bool, extra_ca_pem: Option<&str>) -> Result<HttpClient, PushError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(pem) = extra_ca_pem {
            use rustls::pki_types::pem::PemObject as _;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| PushError::InvalidKey(format!("a CA certificate: {e}")))?;
                roots.add(cert).map_err(|e| PushError::InvalidKey(format!("a CA certificate: {e}")))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PushError::Unreachable(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
        let connector = if http2_only {
            connector.enable_http2().build()
        } else {
            connector.enable_http1().enable_http2().build()
        };
        let mut builder = Client::builder(TokioExecutor::new());
        builder.http2_only(http2_only);
        Ok(HttpClient { client: builder.build(connector) })
    }

    /// Sends a request; the push service's answer (its body read only if not a success).
    pub(crate) async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<Reply, PushError> {
        self.exchange(request, false).await
    }

    /// Sends a request; the answer with its body, whatever the status (an OAuth token's).
    pub(crate) async fn send_reading(&self, request: http::Request<Full<Bytes>>) -> Result<Reply, PushError> {
        self.exchange(request, true).await
    }

    async fn exchange(
        &self,
        request: http::Request<Full<Bytes>>,
        always_read: bool,
    ) -> Result<Reply, PushError> {
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| PushError::Unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            // Only the start of a body is read, and only when it is not a success's.
            let body = if (200..300).contains(&status) && !always_read {
                String::new()
            } else {
                match Limited::new(response.into_body(), 64 * 1024).collect().await {
                    Ok(body) => {
                        String::from_utf8_lossy(&body.to_bytes()).chars().take(REASON_BYTES).collect()
                    }
                    Err(e) => format!("(unreadable: {e})"),
                }
            };
            Ok(Reply { status, retry_after, body })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| PushError::Unreachable(format!("no answer within {TIMEOUT:?}")))?
    }
}
