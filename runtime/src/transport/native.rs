//! Native transport: tokio + tokio-tungstenite.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub(crate) use std::time::Instant;

use super::{Claim, LinkError, Saved};
use crate::ClientConfig;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open WebSocket.
pub(crate) struct Link {
    socket: Socket,
}

/// Opens a WebSocket.
pub(crate) async fn connect(url: &str) -> Result<Link, LinkError> {
    // No Nagle: commands are small frames that should leave at once.
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| LinkError::Connect { url: url.to_owned(), detail: e.to_string() })?;
    Ok(Link { socket })
}

impl Link {
    /// Sends one text frame.
    pub(crate) async fn send(&mut self, text: String) -> Result<(), LinkError> {
        self.socket.send(Message::Text(text.into())).await.map_err(|e| LinkError::Send(e.to_string()))
    }

    /// The next text frame; `None` when the link is closed.
    pub(crate) async fn recv(&mut self) -> Option<Result<String, LinkError>> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(text)) => return Some(Ok(text.as_str().to_owned())),
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame
                        .map_or((None, String::new()), |f| (Some(u16::from(f.code)), f.reason.to_string()));
                    return Some(Err(LinkError::ClosedByServer { code, reason }));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(LinkError::Lost(e.to_string()))),
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

/// The servers an app talks to unless told otherwise: `LUCARNE_SERVER` (one URL, or several of
/// one cluster separated by commas) when it is set, else `None`.
pub(crate) fn default_servers() -> Option<String> {
    std::env::var("LUCARNE_SERVER").ok().filter(|s| !s.trim().is_empty())
}

/// Where `app` keeps the unanswered commands of a client of `server` across runs: one file per
/// server, `outbox-HOST_PORT.json` in `$XDG_STATE_HOME/lucarne/APP`, else in
/// `~/.local/state/lucarne/APP`; `None` without either.
pub(crate) fn app_outbox(app: &str, server: &str) -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")))?;
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect()
    };
    let host = server.split("://").nth(1).unwrap_or(server).split('/').next().unwrap_or_default();
    Some(state.join("lucarne").join(safe(app)).join(format!("outbox-{}.json", safe(host))))
}

/// A new random client id.
pub(crate) fn fresh_client_id() -> String {
    format!("c-{:016x}", fastrand::u64(..))
}

/// How many files one outbox path stands for: `FILE`, then `FILE`'s siblings `STEM.2.EXT` … for
/// other processes running at the same time (each file belongs to one running client).
const SLOTS: u32 = 16;

/// `path` with `suffix` appended to its whole name (`outbox.json` → `outbox.json.lock`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The outbox file of slot `n` (1 is the configured path itself).
fn slot(path: &Path, n: u32) -> PathBuf {
    if n == 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    match path.extension() {
        Some(ext) => path.with_file_name(format!("{stem}.{n}.{}", ext.to_string_lossy())),
        None => path.with_file_name(format!("{stem}.{n}")),
    }
}

/// Takes one of `path`'s slots that no running client holds, locking its `FILE.lock` (an
/// advisory lock, released when this client's task ends or the process dies), and reads it:
/// the first free slot that keeps unanswered commands, else the first free slot (so the
/// commands of an app that ran beside another are sent by a later run, one slot per run).
/// `None` when every slot is held.
fn claim(path: &Path) -> Option<(PathBuf, Saved)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        tracing::error!("cannot create {} for the outbox: {e}", dir.display());
    }
    let mut first_free = None;
    for n in 1..=SLOTS {
        let file = slot(path, n);
        // Past the first free slot, only files that exist can keep commands.
        if first_free.is_some() && !file.exists() {
            continue;
        }
        let lock =
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(beside(&file, ".lock"));
        let claim = match lock.map_err(std::fs::TryLockError::Error).and_then(|l| l.try_lock().map(|()| l)) {
            Ok(lock) => Claim { _lock: Some(lock) },
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => {
                // Without a lock the outbox still works, as one process's.
                tracing::warn!("cannot lock the outbox {}: {e}", file.display());
                return Some((file.clone(), read(&file)));
            }
        };
        let saved = Saved { claim, ..read(&file) };
        if !saved.commands.is_empty() {
            return Some((file, saved));
        }
        first_free.get_or_insert((file, saved));
    }
    first_free
}

/// What a previous run left in the config's outbox file, if it names one. Another process
/// running a client on the same file keeps it: this client then takes a free slot (`STEM.2.EXT`,
/// …; see [`claim`]) and sets `config.outbox_file` to it, so two clients never share a client id
/// and sequence numbers.
pub(crate) fn saved(config: &mut ClientConfig) -> Saved {
    let Some(wanted) = config.outbox_file.take() else { return Saved::default() };
    let Some((path, saved)) = claim(&wanted) else {
        tracing::warn!(
            "the outbox {} and its {} siblings are all in use by running clients: this one keeps its \
             commands in memory only",
            wanted.display(),
            SLOTS - 1
        );
        return Saved::default();
    };
    if path != wanted {
        tracing::info!("using the outbox {} (beside {})", path.display(), wanted.display());
    }
    config.outbox_file = Some(path);
    saved
}

fn read(path: &Path) -> Saved {
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
        let bad = beside(path, ".bad");
        tracing::error!("the outbox {} is not an outbox; moved to {}", path.display(), bad.display());
        let _ = std::fs::rename(path, &bad);
        Saved::default()
    })
}

/// Keeps the unanswered commands in the config's outbox file, if it names one: written next to
/// it and flushed to the disk, then renamed over it (and the directory flushed), so a crash of
/// the app or of the machine leaves the old file or the new one.
pub(crate) fn store(
    config: &ClientConfig,
    last_seq: u64,
    commands: &mut dyn Iterator<Item = (u64, &str, &Value)>,
) {
    let Some(path) = &config.outbox_file else { return };
    let text = Saved::encode(&config.client_id, last_seq, commands);
    let write = || -> std::io::Result<()> {
        let next = beside(path, ".next");
        let mut file = std::fs::File::create(&next)?;
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        std::fs::rename(&next, path)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()
    };
    if let Err(e) = write() {
        tracing::error!("cannot keep the outbox in {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_slots(path: &str, second: &str) {
        assert_eq!(slot(Path::new(path), 1), Path::new(path));
        assert_eq!(slot(Path::new(path), 2), Path::new(second));
    }

    #[test]
    fn slots_are_siblings_of_the_file() {
        check_slots("/s/outbox-127.0.0.1_7300.json", "/s/outbox-127.0.0.1_7300.2.json");
        check_slots("/s/outbox", "/s/outbox.2");
        check_slots("outbox.json", "outbox.2.json");
    }

    #[test]
    fn a_held_outbox_is_not_shared_and_kept_commands_are_taken_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wanted = dir.path().join("state").join("outbox.json");
        let config = || ClientConfig::new("ws://127.0.0.1:9/ws").outbox_file(&wanted);

        let mut first = config();
        let first_saved = saved(&mut first);
        assert_eq!(first.outbox_file.as_deref(), Some(wanted.as_path()));
        let mut second = config();
        let second_saved = saved(&mut second);
        assert_eq!(second.outbox_file, Some(dir.path().join("state").join("outbox.2.json")));

        // Each keeps its own commands under its own id.
        let payload = serde_json::json!({"order_id": "o-1"});
        store(&first, 4, &mut [(4, "pay_order", &payload)].into_iter());
        store(&second, 1, &mut [(1, "ship_order", &payload)].into_iter());
        drop((first_saved, second_saved));

        let mut again = config().client_id("ignored");
        let kept = saved(&mut again);
        assert_eq!(again.outbox_file.as_deref(), Some(wanted.as_path()), "slot 1 is free again");
        assert_eq!(kept.client_id.as_deref(), Some(first.client_id.as_str()));
        assert_eq!(kept.last_seq, 4);
        assert_eq!(kept.commands.len(), 1);
        assert_eq!(kept.commands[0].1, "pay_order");

        // Slot 1 answered (empty) and let go: the next run takes slot 2, which still keeps a
        // command, rather than the empty slot 1.
        store(&again, 4, &mut std::iter::empty());
        drop(kept);
        let mut later = config();
        let kept = saved(&mut later);
        assert_eq!(later.outbox_file, Some(dir.path().join("state").join("outbox.2.json")));
        assert_eq!(kept.client_id.as_deref(), Some(second.client_id.as_str()));
        assert_eq!(kept.commands[0].1, "ship_order");
        // Beside it, another run takes the empty slot 1.
        let mut beside_it = config();
        let _kept = saved(&mut beside_it);
        assert_eq!(beside_it.outbox_file.as_deref(), Some(wanted.as_path()));
    }

    #[test]
    fn a_file_that_is_not_an_outbox_is_set_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("outbox.json");
        std::fs::write(&path, "{ not json").expect("write");
        let mut config = ClientConfig::new("ws://127.0.0.1:9/ws").outbox_file(&path);
        let kept = saved(&mut config);
        assert!(kept.commands.is_empty());
        assert_eq!(std::fs::read_to_string(dir.path().join("outbox.json.bad")).expect("bad"), "{ not json");
    }
}
