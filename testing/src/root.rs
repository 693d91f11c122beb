//! A throwaway root file system: this machine's `/` under an overlay whose changes go to a tmpfs,
//! in a mount namespace of its own, so that packages can be installed, run and purged for real
//! (`dpkg -i`, maintainer scripts, users) and every file they leave behind is seen, while the
//! machine itself is never touched. Needs root (or `unshare`'s rights to mount), `nsenter` and
//! `chroot` (util-linux, coreutils).
//!
//! ```no_run
//! let root = lucarne_testing::Root::new();
//! root.copy_in(std::path::Path::new("target/bundle/lucarne_0.1.0-1_amd64.deb"), "/tmp/lucarne.deb");
//! let out = root.run(&["dpkg", "-i", "/tmp/lucarne.deb"]);
//! assert!(out.status.success());
//! let left = root.changes(); // every file added, changed or removed, relative to `/`
//! ```
//!
//! Inside, `/proc`, `/dev` and `/sys` are the machine's, `/run` and `/tmp` are empty tmpfs (no
//! systemd is seen running, as in a container), and `/tmp/.X11-unix` is the machine's, so that
//! a program inside can open windows on an X server started outside.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// What the namespace's first process runs: the mounts, then it waits (see [`Root`]).
const SETUP: &str = r#"set -e
base="$1"
mount -t tmpfs -o mode=0755 lucarne-root "$base"
mkdir "$base/upper" "$base/work" "$base/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
mount --rbind /dev "$base/root/dev"
mount -t proc proc "$base/root/proc"
mount --rbind /sys "$base/root/sys"
mount -t tmpfs -o mode=1777 tmpfs "$base/root/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$base/root/run"
if [ -d /tmp/.X11-unix ]; then
    mkdir -p "$base/root/tmp/.X11-unix"
    mount --bind /tmp/.X11-unix "$base/root/tmp/.X11-unix"
fi
echo ready
exec sleep 2147483647
"#;

/// A throwaway root (see the module docs). Dropped: every process in it is killed, its files go.
#[derive(Debug)]
pub struct Root {
    holder: Child,
    /// The directory the overlay is mounted under (in the namespace only).
    base: PathBuf,
    /// Keeps the (empty, outside) mount point until the end.
    _dir: tempfile::TempDir,
}

impl Root {
    /// Mounts a fresh root. Panics with the reason when it cannot (not root, no overlayfs).
    pub fn new() -> Root {
        let dir = tempfile::tempdir().expect("a directory for the root");
        let base = dir.path().to_path_buf();
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c", SETUP, "sh"])
            .arg(&base)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run unshare (util-linux)");
        let mut ready = String::new();
        {
            use std::io::BufRead;
            let stdout = holder.stdout.take().expect("the holder's stdout");
            let _ = std::io::BufReader::new(stdout).read_line(&mut ready);
        }
        if ready.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().expect("the holder's output");
            panic!("cannot mount a throwaway root: {}", String::from_utf8_lossy(&out.stderr));
        }
        Root { holder, base, _dir: dir }
    }

    /// `path` (absolute, as seen inside) from outside: through the namespace's own view.
    pub fn path(&self, path: &str) -> PathBuf {
        self.seen("root").join(path.trim_start_matches('/'))
    }

    /// A directory under the mount point (`root`, `upper`), as the namespace sees it.
    fn seen(&self, dir: &str) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.holder.id()))
            .join(self.base.strip_prefix("/").unwrap_or(&self.base))
            .join(dir)
    }

    /// A path as processes outside the namespace are shown it (`/proc/PID/maps` of a program
    /// running inside) made a path inside again; others unchanged.
    pub fn inside<'a>(&self, shown: &'a str) -> &'a str {
        let top = self.base.join("root");
        match shown.strip_prefix(top.to_str().unwrap_or_default()) {
            Some(rest) if rest.starts_with('/') => rest,
            _ => shown,
        }
    }

    /// Copies a file from outside to `path` inside.
    pub fn copy_in(&self, from: &Path, path: &str) {
        std::fs::copy(from, self.path(path)).unwrap_or_else(|e| panic!("copy {} in: {e}", from.display()));
    }

    /// A command run inside the root (in its namespace, `chroot`ed), with the environment given
    /// and a plain `PATH`; not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--target={}", self.holder.id()))
            .args(["--mount", "--", "chroot"])
            .arg(self.base.join("root"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }

    /// Runs a command inside to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap_or_else(|e| panic!("run {args:?} in the root: {e}"))
    }

    /// Runs a command inside and panics, with its output, unless it succeeds; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed in the root ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every file changed since the root was made, relative to `/` and sorted: added or changed
    /// files and links (`+ path`), removed ones (`- path`); directories only when removed.
    /// `/tmp` and `/run` are tmpfs of their own and never listed.
    pub fn changes(&self) -> Vec<String> {
        let upper = self.seen("upper");
        let mut changes = Vec::new();
        let mut dirs = vec![upper.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let shown = path.strip_prefix(&upper).unwrap_or(&path).display().to_string();
                let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_char_device() {
                    // overlayfs marks a removed file with a 0/0 character device.
                    changes.push(format!("- {shown}"));
                } else if meta.is_dir() {
                    dirs.push(path);
                } else {
                    changes.push(format!("+ {shown}"));
                }
            }
        }
        changes.sort();
        changes
    }
}

impl Default for Root {
    fn default() -> Self {
        Root::new()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // Every process still in the namespace (a server started inside), then the holder: the
        // namespace and its mounts go with the last of them.
        let ns = std::fs::read_link(format!("/proc/{}/ns/mnt", self.holder.id())).ok();
        if let Some(ns) = ns
            && let Ok(procs) = std::fs::read_dir("/proc")
        {
            for entry in procs.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
                    continue;
                };
                if pid != self.holder.id()
                    && std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok().as_ref() == Some(&ns)
                {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
