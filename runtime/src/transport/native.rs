//! Native transport: tokio + tokio-tungstenite.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub(crate) use std::time::Instant;

use super::Saved;
use crate::ClientConfig;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open WebSocket.
pub(crate) struct Link {
    socket: Socket,
}

/// Opens a WebSocket.
pub(crate) async fn connect(url: &str) -> Result<Link, String> {
    // No Nagle: commands are small frames that should leave at once.
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(url, None, true).await.map_err(|e| e.to_string())?;
    Ok(Link { socket })
}

impl Link {
    /// Sends one text frame.
    pub(crate) async fn send(&mut self, text: String) -> Result<(), String> {
        self.socket.send(Message::Text(text.into())).await.map_err(|e| e.to_string())
    }

    /// The next text frame; `None` when the link is closed.
    pub(crate) async fn recv(&mut self) -> Option<Result<String, String>> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(text)) => return Some(Ok(text.as_str().to_owned())),
                Ok(Message::Close(frame)) => {
                    let reason =
                        frame.map(|f| format!("closed by server: {} {}", u16::from(f.code), f.reason));
                    return Some(Err(reason.unwrap_or_else(|| "closed by server".into())));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(e.to_string())),
            }
        }
    }

    /// Closes the link politely.
    pub(crate) async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Waits.
pub(crate) async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

/// Runs a task in the background: on the current tokio runtime if there is one, otherwise on a
/// small runtime of the client's own (so an iced app on any executor can use the client).
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(task);
        return;
    }
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lucarne-client")
            .enable_all()
            .build()
            .map_err(|e| tracing::error!("cannot start the client runtime: {e}"))
            .ok()
    });
    if let Some(runtime) = runtime {
        runtime.spawn(task);
    }
}

/// A new random client id.
pub(crate) fn fresh_client_id() -> String {
    format!("c-{:016x}", fastrand::u64(..))
}

/// What a previous run left in the config's outbox file, if it names one.
pub(crate) fn saved(config: &ClientConfig) -> Saved {
    let Some(path) = &config.outbox_file else { return Saved::default() };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Saved::default(),
        Err(e) => {
            tracing::error!("cannot read the outbox {}: {e}", path.display());
            return Saved::default();
        }
    };
    Saved::decode(&text).unwrap_or_else(|| {
        // Kept for a person to look at; this client starts with an empty outbox.
        let bad = path.with_extension("bad");
        tracing::error!("the outbox {} is not an outbox; moved to {}", path.display(), bad.display());
        let _ = std::fs::rename(path, &bad);
        Saved::default()
    })
}

/// Keeps the unanswered commands in the config's outbox file, if it names one: written next to
/// it, then renamed over it, so a crash leaves the old file or the new one.
pub(crate) fn store(
    config: &ClientConfig,
    last_seq: u64,
    commands: &mut dyn Iterator<Item = (u64, &str, &Value)>,
) {
    let Some(path) = &config.outbox_file else { return };
    let text = Saved::encode(&config.client_id, last_seq, commands);
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let next = path.with_extension("next");
        std::fs::write(&next, text)?;
        std::fs::rename(&next, path)
    };
    if let Err(e) = write() {
        tracing::error!("cannot keep the outbox in {}: {e}", path.display());
    }
}
