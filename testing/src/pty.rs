//! A real program in a pseudo-terminal (portable-pty), its output read by a terminal emulator
//! (vt100) into a screen that tests read as text, with the bytes it wrote counted.
//!
//! ```no_run
//! use std::time::Duration;
//! use lucarne_testing::Pty;
//!
//! let mut pty = Pty::spawn("lucarne", &["tui", "orders"], &[], (120, 30)).expect("a pty");
//! pty.wait_for_text("live", Duration::from_secs(10));
//! pty.keys("p");
//! assert!(pty.screen().contains("pay_order"));
//! ```

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// A program running in a pseudo-terminal (see the module docs).
pub struct Pty {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    master: Box<dyn MasterPty + Send>,
    parser: Arc<Mutex<vt100::Parser>>,
    read: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pty").field("bytes_read", &self.bytes_read()).finish_non_exhaustive()
    }
}

impl Pty {
    /// Runs `program ARGS` with `env` set (and `TERM=xterm-256color`) in a terminal of `size`
    /// (columns, lines).
    pub fn spawn(
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        size: (u16, u16),
    ) -> std::io::Result<Pty> {
        let pair = native_pty_system()
            .openpty(PtySize { cols: size.0, rows: size.1, pixel_width: 0, pixel_height: 0 })
            .map_err(other)?;
        let mut command = CommandBuilder::new(program);
        command.args(args);
        command.env("TERM", "xterm-256color");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = pair.slave.spawn_command(command).map_err(other)?;
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().map_err(other)?;
        let writer = pair.master.take_writer().map_err(other)?;
        let (Some(rows), Some(cols)) = (NonZeroU16::new(size.1), NonZeroU16::new(size.0)) else {
            return Err(std::io::Error::other("a terminal has at least one line and one column"));
        };
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let read = Arc::new(AtomicUsize::new(0));
        let (sink, count) = (parser.clone(), read.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                count.fetch_add(n, Ordering::Relaxed);
                if let Ok(mut parser) = sink.lock() {
                    parser.process(&buf[..n]);
                }
            }
        });
        Ok(Pty { child, writer, master: pair.master, parser, read })
    }

    /// The screen's text, line by line (trailing blanks cut).
    pub fn screen(&self) -> String {
        self.parser.lock().map(|p| p.screen().contents()).unwrap_or_default()
    }

    /// Bytes the program wrote so far.
    pub fn bytes_read(&self) -> usize {
        self.read.load(Ordering::Relaxed)
    }

    /// Types `text` (control keys as their bytes: `"\r"` is Enter, `"\x1b"` Escape).
    pub fn keys(&mut self, text: &str) {
        let _ = self.writer.write_all(text.as_bytes());
        let _ = self.writer.flush();
    }

    /// Polls the screen until it shows `text`; fails the test with the screen after `timeout`.
    pub fn wait_for_text(&self, text: &str, timeout: Duration) {
        self.wait_until(&format!("{text:?} on screen"), timeout, |screen| screen.contains(text));
    }

    /// Polls the screen until `ok` holds for it; fails the test with the screen after `timeout`.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut ok: impl FnMut(&str) -> bool) {
        let held = crate::poll_until(timeout, || ok(&self.screen()));
        assert!(held, "timed out after {timeout:?} waiting for {what}; the screen:\n{}", self.screen());
    }

    /// Gives the terminal a new size (the program gets `SIGWINCH`).
    pub fn resize(&mut self, size: (u16, u16)) -> std::io::Result<()> {
        self.master
            .resize(PtySize { cols: size.0, rows: size.1, pixel_width: 0, pixel_height: 0 })
            .map_err(other)?;
        let (Some(rows), Some(cols)) = (NonZeroU16::new(size.1), NonZeroU16::new(size.0)) else {
            return Err(std::io::Error::other("a terminal has at least one line and one column"));
        };
        if let Ok(mut parser) = self.parser.lock() {
            parser.screen_mut().set_size(rows, cols);
        }
        Ok(())
    }

    /// True while the program runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// portable-pty's errors, as I/O errors carrying their text.
fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
