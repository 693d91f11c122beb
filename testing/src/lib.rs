//! Test harnesses shared by Lucarne's test suites (a dev-dependency only): real `nats-server`
//! processes with JetStream on loopback ports ([`NatsCluster`]); waiting for a condition instead
//! of sleeping a fixed time ([`wait_for`], [`poll_until`]); and, with the feature `ui`, what
//! headless iced tests share (the module `ui`: the re-run under tiny-skia, the bundled fonts, a widget's
//! reported state by id); with the feature `push`, a Web Push service stand-in that checks
//! VAPID and decrypts every body ([`PushService`]), and an APNs stand-in over HTTP/2 and TLS
//! with a test CA that checks provider tokens ([`ApnsService`]), and an FCM one with its OAuth
//! token endpoint ([`FcmService`]); with the feature `pty`, a real program in a pseudo-terminal
//! read through a terminal emulator (`Pty`); with the feature `root`, a throwaway root file
//! system to install packages into for real (`Root`); the order desk's scripted scenario that
//! its surfaces all run (`scenario`). Seeded randomness is
//! `fastrand::Rng::with_seed`.
//!
//! ```no_run
//! let mut nats = lucarne_testing::NatsCluster::start(3);
//! let urls = nats.urls(); // "nats://127.0.0.1:P1,nats://127.0.0.1:P2,nats://127.0.0.1:P3"
//! nats.kill(0); // SIGKILL
//! nats.restart(0); // on the same store and ports
//! lucarne_testing::wait_for("node 0 to listen", std::time::Duration::from_secs(10), || {
//!     std::net::TcpStream::connect(&urls[7..urls.find(',').unwrap()]).is_ok()
//! });
//! ```

#[cfg(feature = "push")]
mod apns;
#[cfg(feature = "push")]
mod fcm;
mod nats;
#[cfg(feature = "pty")]
mod pty;
#[cfg(feature = "push")]
mod push;
#[cfg(feature = "root")]
mod root;
mod sample;
pub mod scenario;
#[cfg(feature = "push")]
mod tls;
#[cfg(feature = "ui")]
pub mod ui;
mod wait;

#[cfg(feature = "push")]
pub use apns::{ApnsReceived, ApnsService};
#[cfg(feature = "push")]
pub use fcm::{FcmReceived, FcmService};
pub use nats::{NatsCluster, nats_server};
#[cfg(feature = "pty")]
pub use pty::Pty;
#[cfg(feature = "push")]
pub use push::{PushService, Received};
#[cfg(feature = "root")]
pub use root::Root;
pub use sample::rank;
pub use wait::{poll_until, wait_for};
