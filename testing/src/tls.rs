//! An HTTP/2 server over TLS on loopback for the stand-ins of push services: its certificate
//! is issued for `127.0.0.1` and `localhost` by a test CA made for it (rcgen), which a client
//! trusts through [`TlsServer::ca_pem`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

/// A server started by [`serve`].
#[derive(Debug, Clone)]
pub(crate) struct TlsServer {
    pub(crate) addr: SocketAddr,
    pub(crate) ca_pem: String,
    connections: Arc<AtomicUsize>,
}

impl TlsServer {
    /// TLS connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

/// Serves HTTP/2 over TLS; `handle` answers each request, with the number of its connection
/// (from 1).
#[expect(deprecated, reason = "ring has no post-quantum key exchange, but builds without a C toolchain")]
pub(crate) async fn serve<F, Fut>(handle: F) -> TlsServer
where
    F: Fn(Request<Incoming>, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Lucarne test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("the CA");
    let leaf_key = rcgen::KeyPair::generate().expect("a server key");
    let leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
    let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("the server's certificate");
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("a key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key_der)
        .expect("the server's TLS");
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("its address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, handle, counted) = (acceptor.clone(), handle.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let connection = counted.fetch_add(1, Ordering::Relaxed) + 1;
                let service = hyper::service::service_fn(move |request| {
                    let handle = handle.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(request, connection).await) }
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    TlsServer { addr, ca_pem: ca.pem(), connections }
}
