//! The bare broadcast baseline: a tokio-tungstenite server that sends every text frame its
//! publisher (`/pub`) sends to every other connection, through one tokio broadcast channel of
//! shared bytes (the same hub capacity as Lucarne's), one task per connection, one flush per
//! frame, a 2 KiB read buffer (as Lucarne's gateway). No protocol, no encoding, no queue: the machine's limit for this
//! fan-out.

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Changes a connection may be behind before it skips some (Lucarne's hub holds as many).
const CAPACITY: usize = 4096;

/// tungstenite zero-fills its whole read buffer on the first read (128 KiB by default): a
/// server of many mostly idle connections takes a small one; it grows for larger frames.
pub(crate) const READ_BUFFER: usize = 2 * 1024;

/// Accepts connections until the listener fails.
pub(crate) async fn serve(listener: TcpListener) {
    let (hub, _) = broadcast::channel::<Utf8Bytes>(CAPACITY);
    while let Ok((tcp, _)) = listener.accept().await {
        let hub = hub.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, hub).await {
                eprintln!("bare broadcast: connection failed: {e}");
            }
        });
    }
}

#[allow(
    clippy::result_large_err,
    reason = "the handshake callback's error type is tungstenite's (an HTTP response)"
)]
async fn connection(tcp: TcpStream, hub: broadcast::Sender<Utf8Bytes>) -> Result<()> {
    tcp.set_nodelay(true)?;
    let mut publisher = false;
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        tcp,
        |request: &Request, response: Response| {
            publisher = request.uri().path() == "/pub";
            Ok(response)
        },
        Some(config),
    )
    .await?;
    let (mut sink, mut stream) = ws.split();
    if publisher {
        while let Some(frame) = stream.next().await {
            match frame? {
                Message::Text(text) => {
                    // No subscriber is not an error.
                    let _ = hub.send(text);
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        return Ok(());
    }
    let mut changes = hub.subscribe();
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(text) => sink.send(Message::Text(text)).await?,
                // The client sees the skipped changes as a gap.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    Ok(())
}
