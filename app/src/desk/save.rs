//! Export PDF (native): a screen written into the export directory, a new file each time.

use std::path::PathBuf;

use lucarne::iced::time::Instant;

use lucarne::iced::Task;

use super::{Desk, Message, Notice, Screen};

impl Desk {
    /// Writes a screen as PDF into the export directory and says where in the notice.
    pub(super) fn export(&mut self, screen: Screen) -> Task<Message> {
        let started = Instant::now();
        let stem = format!(
            "lucarne-{}-{}",
            screen.name(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        );
        let options = crate::export::options(self, screen);
        self.notice = Some(match crate::export::export(self, screen, &options, &mut |_| {}) {
            Ok(exported) => match write_new(&self.export_dir, &stem, &exported.pdf) {
                Ok(path) => Notice::Saved {
                    path: path.display().to_string(),
                    pages: exported.pages,
                    ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                },
                Err((path, error)) => {
                    Notice::SaveFailed { path: path.display().to_string(), error: error.to_string() }
                }
            },
            Err(error) => Notice::ExportFailed { screen, error: error.to_string() },
        });
        Task::none()
    }
}

/// Writes `bytes` to a new file `STEM.pdf` in `dir`, or `STEM-2.pdf`, `STEM-3.pdf`, … when
/// that exists (two exports in the same second never overwrite each other); the path written,
/// or the one that failed and why.
fn write_new(dir: &std::path::Path, stem: &str, bytes: &[u8]) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    use std::io::Write;
    let mut n = 1u32;
    loop {
        let path = dir.join(if n == 1 { format!("{stem}.pdf") } else { format!("{stem}-{n}.pdf") });
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => return file.write_all(bytes).map(|()| path.clone()).map_err(|e| (path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err((path, e)),
        }
    }
}
