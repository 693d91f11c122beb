//! The HTTP side of the gateway: who may connect (per-address and total connection budgets,
//! the `Host` and `Origin` rules), how long a request's headers may take, and the headers every
//! response carries.
//!
//! ```no_run
//! # async fn run(engine: std::sync::Arc<lucarne_server::Engine>) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7300").await?;
//! let config = lucarne_server::GatewayConfig::default();
//! lucarne_server::serve(listener, engine, config, std::future::pending()).await
//! # }
//! ```
//!
//! Connections are counted from `accept` until the socket closes, WebSocket or not: one past
//! [`Limits::max_connections_per_address`] from one IP address, or past
//! [`Limits::max_connections`] in all, is closed at once, before a byte is read. Each request's
//! headers must arrive within [`Limits::http_header_timeout`] of the connection opening (or of
//! the previous response), else the connection is closed: half-open requests cannot pile up.
//!
//! **DNS rebinding.** A web page a developer visits can point its own host name at 127.0.0.1 and
//! talk to a server there from its own origin: the browser sends `Host: evil.example:PORT` and
//! `Origin: http://evil.example:PORT`, which agree with each other. So an open server (no tokens:
//! `--demo` / `--open`, loopback only) answers only requests whose `Host` is a loopback name
//! (`localhost`, `*.localhost`, `127.x.y.z`, `[::1]`) or the host of an origin given with
//! `--allowed-origin`; others get 403 `host not allowed`. A server that requires tokens has
//! nothing to give such a page.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::engine::Engine;
use crate::limits::Limits;

use super::GatewayConfig;

/// Which `Origin`s may open a WebSocket. Requests without an `Origin` header (non-browser
/// clients) and from the server's own host (the `Origin`'s host and port equal the `Host`
/// header) are always let in; others only when listed (`scheme://host[:port]`, or `*` for
/// any). A refused upgrade is answered 403.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Further allowed origins.
    pub allowed: Vec<String>,
}

impl OriginPolicy {
    /// Whether a WebSocket upgrade with these headers is let in.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        if let (Some(authority), Some(host)) = (authority, host)
            && authority == host.trim().to_ascii_lowercase()
        {
            return true;
        }
        self.allowed.iter().any(|a| a == "*" || a.trim().trim_end_matches('/').eq_ignore_ascii_case(&origin))
    }
}

impl OriginPolicy {
    /// Whether an open server answers a request with this `Host`: a loopback name or address
    /// (any port), or the host of a listed origin (not `*`).
    pub fn admits_host(&self, host: Option<&str>) -> bool {
        let Some(host) = host.map(|h| h.trim().to_ascii_lowercase()) else { return false };
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split_once(']').map_or(v6, |(addr, _)| addr),
            None => host.rsplit_once(':').map_or(host.as_str(), |(name, _)| name),
        };
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.allowed.iter().filter(|a| a.as_str() != "*").any(|a| {
            let a = a.trim().trim_end_matches('/').to_ascii_lowercase();
            a.split_once("://").is_some_and(|(_, authority)| authority == host)
        })
    }
}

/// Refuses requests to an open server whose `Host` is not a loopback name (see the module).
pub(super) async fn host_guard(
    axum::extract::State(policy): axum::extract::State<Arc<OriginPolicy>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    if !policy.admits_host(host) {
        tracing::info!(host = host.unwrap_or(""), "request refused: not a loopback host on an open server");
        return (
            StatusCode::FORBIDDEN,
            "host not allowed: this server runs without tokens and answers loopback host names only \
             (see lucarne serve --allowed-origin)\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// The `Content-Security-Policy` for the served web app: everything from the same origin,
/// WebAssembly compilation (`'wasm-unsafe-eval'`), WebSocket to the same host, no framing, no
/// plugins, no inline scripts.
pub fn content_security_policy(host: Option<&str>) -> String {
    let connect = match host {
        Some(h) => format!("'self' ws://{h} wss://{h}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; font-src 'self' data:; connect-src {connect}; \
         worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Adds security headers to every response (a header a route set itself is kept):
/// `Content-Security-Policy` ([`content_security_policy`]), `X-Content-Type-Options: nosniff`,
/// `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`,
/// `Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Resource-Policy: same-origin`.
pub async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && !h.is_empty()
                && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
        })
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(host.as_deref())) {
        headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (header::HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// How long the listener waits after a failed `accept` (e.g. no file descriptor left).
const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Serves the routes on a bound listener until `shutdown` completes, holding every connection to
/// the budgets and header timeout of `config.limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = config.limits.clone();
    let service = hyper_util::service::TowerToHyperService::new(super::router(engine, config));
    let budget = Arc::new(Budget::new(&limits));
    // Connections hold a receiver: the sender is closed once all of them are gone.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or the peer left before accept: go on after a
                    // pause, rather than spinning while no descriptor is free.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(permit) = budget.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: over the connection budget");
            continue;
        };
        // Acks and deltas are small frames written back to back: Nagle's algorithm would hold
        // the second one for the peer's delayed ACK (tens of milliseconds).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let io = TokioIo::new(Counted { tcp, _permit: permit });
        let service = service.clone();
        let mut stopping = stopped.clone();
        let header_timeout = limits.http_header_timeout;
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let conn = http.serve_connection(io, service).with_upgrades();
            let mut conn = std::pin::pin!(conn);
            loop {
                tokio::select! {
                    served = conn.as_mut() => {
                        if let Err(e) = served {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
                        break;
                    }
                    _ = stopping.changed() => conn.as_mut().graceful_shutdown(),
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(stopped);
    // Requests in flight finish (WebSocket connections were handed off at their upgrade).
    stop.closed().await;
    Ok(())
}

/// Open connections, per address and in all.
struct Budget {
    per_address: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
    max_per_address: usize,
    max_total: usize,
}

impl Budget {
    fn new(limits: &Limits) -> Budget {
        Budget {
            per_address: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            max_per_address: limits.max_connections_per_address,
            max_total: limits.max_connections,
        }
    }

    /// A permit for one more connection from `ip`, if the budgets allow it.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Permit> {
        let mut per_address = self.per_address.lock().ok()?;
        let open = per_address.entry(ip).or_insert(0);
        if *open >= self.max_per_address || self.total.load(Ordering::Acquire) >= self.max_total {
            if *open == 0 {
                per_address.remove(&ip);
            }
            return None;
        }
        *open += 1;
        self.total.fetch_add(1, Ordering::AcqRel);
        Some(Permit { budget: self.clone(), ip })
    }
}

/// One counted connection; given back when dropped.
struct Permit {
    budget: Arc<Budget>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.total.fetch_sub(1, Ordering::AcqRel);
        if let Ok(mut per_address) = self.budget.per_address.lock()
            && let Some(open) = per_address.get_mut(&self.ip)
        {
            *open -= 1;
            if *open == 0 {
                per_address.remove(&self.ip);
            }
        }
    }
}

/// A socket that holds its connection's permit: an upgraded WebSocket keeps it until it closes.
struct Counted {
    tcp: TcpStream,
    _permit: Permit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_same_host_listed_or_absent() {
        fn check(policy: &OriginPolicy, origin: Option<&str>, host: Option<&str>, expected: bool) {
            assert_eq!(policy.allows(origin, host), expected, "{origin:?} on {host:?} with {policy:?}");
        }
        let default = OriginPolicy::default();
        check(&default, None, Some("127.0.0.1:7300"), true);
        check(&default, Some("http://127.0.0.1:7300"), Some("127.0.0.1:7300"), true);
        check(&default, Some("https://Desk.Example.com"), Some("desk.example.com"), true);
        check(&default, Some("http://evil.example"), Some("127.0.0.1:7300"), false);
        check(&default, Some("http://127.0.0.1:7301"), Some("127.0.0.1:7300"), false);
        check(&default, Some("null"), Some("127.0.0.1:7300"), false);
        check(&default, Some("http://127.0.0.1:7300"), None, false);
        let listed = OriginPolicy { allowed: vec!["https://app.example.com".into()] };
        check(&listed, Some("https://app.example.com"), Some("api.example.com"), true);
        check(&listed, Some("https://app.example.com/"), Some("api.example.com"), true);
        check(&listed, Some("http://app.example.com"), Some("api.example.com"), false);
        let any = OriginPolicy { allowed: vec!["*".into()] };
        check(&any, Some("http://anything"), Some("x"), true);
    }

    #[test]
    fn the_csp_allows_wasm_and_the_same_hosts_websocket() {
        let csp = content_security_policy(Some("127.0.0.1:7300"));
        for part in [
            "default-src 'self'",
            "'wasm-unsafe-eval'",
            "connect-src 'self' ws://127.0.0.1:7300 wss://127.0.0.1:7300",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(part), "{part} in {csp}");
        }
        assert!(!csp.contains("'unsafe-eval'") && !csp.contains("script-src 'self' 'unsafe-inline'"));
        assert!(content_security_policy(None).contains("connect-src 'self';"));
    }

    #[test]
    fn an_open_server_answers_loopback_hosts_and_listed_origins_only() {
        fn check(policy: &OriginPolicy, host: Option<&str>, expected: bool) {
            assert_eq!(policy.admits_host(host), expected, "{host:?} with {policy:?}");
        }
        let default = OriginPolicy::default();
        for host in [
            "127.0.0.1:7300",
            "127.9.8.7",
            "localhost:7300",
            "LOCALHOST",
            "app.localhost:1",
            "[::1]:7300",
            "[::1]",
        ] {
            check(&default, Some(host), true);
        }
        for host in [
            "evil.example:7300",
            "evil.example",
            "127.0.0.1.evil.example:7300",
            "10.0.0.1:7300",
            "[::2]:1",
            "localhost.evil:7300",
            "",
        ] {
            check(&default, Some(host), false);
        }
        check(&default, None, false);
        let listed = OriginPolicy { allowed: vec!["http://desk.lan:7300".into(), "*".into()] };
        check(&listed, Some("desk.lan:7300"), true);
        check(&listed, Some("desk.lan:7301"), false);
        check(&listed, Some("evil.example:7300"), false);
    }

    #[test]
    fn the_budget_counts_connections_per_address_and_in_all() {
        let limits = Limits { max_connections_per_address: 2, max_connections: 3, ..Limits::default() };
        let budget = Arc::new(Budget::new(&limits));
        let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
        let first = budget.admit(a).expect("1st from a");
        let second = budget.admit(a).expect("2nd from a");
        assert!(budget.admit(a).is_none(), "a 3rd from one address");
        let third = budget.admit(b).expect("1st from b");
        assert!(budget.admit(b).is_none(), "a 4th in all");
        drop(first);
        assert!(budget.admit(a).is_some(), "room again once one closed");
        drop((second, third));
        assert_eq!(budget.total.load(Ordering::Acquire), 0);
        assert!(
            budget.per_address.lock().expect("lock").is_empty(),
            "no address is kept once its connections closed"
        );
    }
}
