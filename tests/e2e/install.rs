//! The packages of `cargo xtask bundle`, as a user gets them: lintian and rpm read them, and the
//! .debs install, run and purge cleanly in a throwaway root (`lucarne_testing::Root`: this
//! machine's `/` under an overlay in a mount namespace, so that maintainer scripts, users and
//! every file left behind are real and seen, and the machine is never touched).
//!
//! `cargo xtask test` bundles first (the dev profile's binaries, fast compression) and sets
//! `LUCARNE_BUNDLE_DIR`; without it these tests have no packages to read and say so. Needs
//! `lintian`, `rpm`, `desktop-file-validate`, `appstreamcli` (`cargo xtask setup`), and for the
//! desktop app Xvfb and xdotool as `desktop.rs` does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use lucarne_testing::{Root, wait_for};

use crate::desktop::{Guard, need, xdotool, xvfb};

/// The directory the packages are in, or `None` (and why) when there is none to test.
fn bundle() -> Option<PathBuf> {
    match std::env::var("LUCARNE_BUNDLE_DIR") {
        Ok(dir) => Some(PathBuf::from(dir)),
        Err(_) => {
            eprintln!(
                "skipped: no packages (LUCARNE_BUNDLE_DIR is set by `cargo xtask test` after bundling)"
            );
            None
        }
    }
}

/// The one file in `dir` whose name starts with `prefix` and ends with `suffix`.
fn package(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    assert_eq!(found.len(), 1, "one {prefix}…{suffix} in {}: {found:?}", dir.display());
    found[0].clone()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// lintian's verdict on a .deb: every tag it reports at any level from pedantic up, and the
/// tags overridden (each justified in the package's override file).
fn lintian(deb: &Path) -> (Vec<String>, Vec<String>) {
    let out = Command::new("lintian")
        .args(["--pedantic", "--show-overrides", "--no-tag-display-limit"])
        .arg(deb)
        .output()
        .expect("run lintian (cargo xtask setup installs it)");
    assert!(out.status.success(), "lintian failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let tags = |levels: &[&str]| -> Vec<String> {
        text.lines().filter(|l| levels.iter().any(|level| l.starts_with(level))).map(str::to_owned).collect()
    };
    (tags(&["E:", "W:", "P:", "X:"]), tags(&["O:"]))
}

#[test]
fn lintian_reports_nothing_on_either_deb() {
    let Some(dir) = bundle() else { return };
    for name in ["lucarne", "lucarne-desktop"] {
        let deb = package(&dir, &format!("{name}_"), "_amd64.deb");
        let (reported, overridden) = lintian(&deb);
        assert_eq!(reported, Vec::<String>::new(), "lintian on {}", deb.display());
        // It read the package: the one override, and only it, applied.
        assert_eq!(
            overridden,
            [format!(
                "O: {name}: initial-upload-closes-no-bugs [usr/share/doc/{name}/changelog.Debian.gz:1]"
            )]
        );
    }
}

/// What `rpm -q -p ARGS FILE` prints of a package file (`-i`, `-l`, `-c`, `-R`).
fn rpm(path: &Path, args: &[&str]) -> String {
    let mut all = vec!["-q", "-p"];
    all.extend(args);
    all.push(path.to_str().expect("a UTF-8 path"));
    run("rpm", &all)
}

#[test]
fn the_rpms_name_their_files_requirements_and_digests() {
    let Some(dir) = bundle() else { return };
    let check = |name: &str, files: &[&str], config: &[&str], requires: &[&str]| {
        let path = package(&dir, &format!("{name}-{}-1.", env!("CARGO_PKG_VERSION")), ".x86_64.rpm");
        assert!(run("rpm", &["-K", path.to_str().expect("path")]).contains("digests OK"), "rpm -K {name}");
        let info = rpm(&path, &["-i"]);
        for field in [
            format!("Name        : {name}"),
            format!("Version     : {}", env!("CARGO_PKG_VERSION")),
            "License     : (MIT OR Apache-2.0) AND OFL-1.1".to_owned(),
        ] {
            assert!(info.contains(&field), "{name}: {field:?} in\n{info}");
        }
        let listed = rpm(&path, &["-l"]);
        for file in files {
            assert!(listed.lines().any(|l| l == *file), "{name} holds {file}:\n{listed}");
        }
        assert_eq!(rpm(&path, &["-c"]).lines().collect::<Vec<_>>(), config, "{name}'s config files");
        let required = rpm(&path, &["-R"]);
        for requirement in requires {
            assert!(
                required.lines().any(|l| l.starts_with(requirement)),
                "{name} requires {requirement}:\n{required}"
            );
        }
    };
    check(
        "lucarne",
        &[
            "/usr/bin/lucarne",
            "/usr/lib/systemd/system/lucarne.service",
            "/usr/lib/sysusers.d/lucarne.conf",
            "/usr/lib/tmpfiles.d/lucarne.conf",
            "/usr/share/man/man1/lucarne-serve.1.gz",
            "/usr/share/licenses/lucarne/copyright",
        ],
        &["/etc/lucarne/lucarne.env", "/etc/lucarne/views.sql"],
        &["libc.so.6(GLIBC_2.34)(64bit)", "/bin/sh"],
    );
    check(
        "lucarne-desktop",
        &[
            "/usr/bin/lucarne-desktop",
            "/usr/share/applications/dev.lucarne.Desk.desktop",
            "/usr/share/metainfo/dev.lucarne.Desk.metainfo.xml",
            "/usr/share/icons/hicolor/256x256/apps/dev.lucarne.Desk.png",
            "/usr/share/man/man1/lucarne-desktop.1.gz",
        ],
        &[],
        &["libc.so.6(GLIBC_2.34)(64bit)", "libX11", "libxkbcommon-x11", "vulkan-loader"],
    );
}

/// A TCP port free on loopback now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// `GET /healthz` on loopback: the status line and body, or `None` while nothing answers.
fn healthz(port: u16) -> Option<String> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(tcp, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).ok()?;
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().trim().to_owned();
    Some(format!("{status} {body}"))
}

/// What the unit file says a service runs: its user, its environment (`Environment=`, then the
/// `EnvironmentFile=` read from the root) and its command line (`$VAR` split on whitespace, as
/// systemd does).
struct Unit {
    user: String,
    env: Vec<(String, String)>,
    exec: Vec<String>,
}

fn unit(root: &Root, path: &str) -> Unit {
    let text = std::fs::read_to_string(root.path(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let field = |key: &str| -> Vec<String> {
        text.lines().filter_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_owned).collect()
    };
    let pair = |line: &str| line.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()));
    let mut env: Vec<(String, String)> = field("Environment").iter().filter_map(|l| pair(l)).collect();
    for file in field("EnvironmentFile") {
        let text = std::fs::read_to_string(root.path(file.trim_start_matches('-')))
            .unwrap_or_else(|e| panic!("read the unit's {file}: {e}"));
        env.extend(text.lines().filter(|l| !l.trim_start().starts_with('#')).filter_map(pair));
    }
    let exec = field("ExecStart").first().cloned().expect("an ExecStart");
    let value =
        |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let exec = exec
        .split_whitespace()
        .flat_map(|word| match word.strip_prefix('$') {
            Some(name) => value(name).split_whitespace().map(str::to_owned).collect::<Vec<_>>(),
            None => vec![word.to_owned()],
        })
        .collect();
    let user = field("User").first().cloned().expect("a User");
    Unit { user, env, exec }
}

/// After a purge, nothing of the packages is left: the only changes to the root are dpkg's
/// records, the caches its triggers rebuild (man-db's, the desktop's and the icon theme's, none
/// naming the packages' files any more), and the system user (which Debian's policy keeps).
fn check_purged(root: &Root) {
    for cache in ["/usr/share/applications/mimeinfo.cache", "/usr/share/icons/hicolor/icon-theme.cache"] {
        let bytes = std::fs::read(root.path(cache)).unwrap_or_default();
        assert!(!bytes.windows(10).any(|w| w == b"dev.lucarn"), "{cache} still names the app after purging");
    }
    let kept = [
        "etc/passwd",
        "etc/group",
        "etc/shadow",
        "etc/gshadow",
        "etc/.pwd.lock",
        "var/lib/dpkg/",
        "var/log/",
        "var/cache/man/",
        "var/cache/debconf/",
        "var/lib/systemd/deb-systemd-helper-masked/",
        "usr/share/applications/mimeinfo.cache",
        "usr/share/icons/hicolor/icon-theme.cache",
    ];
    let left: Vec<String> =
        root.changes().into_iter().filter(|c| !kept.iter().any(|k| c[2..].starts_with(k))).collect();
    assert_eq!(left, Vec::<String>::new(), "files left behind after purging");
    let passwd = std::fs::read_to_string(root.path("/etc/passwd")).expect("passwd");
    assert!(passwd.lines().any(|l| l.starts_with("lucarne:")), "the system user stays");
}

#[test]
fn the_server_package_installs_runs_as_its_unit_says_and_purges_cleanly() {
    let Some(dir) = bundle() else { return };
    let deb = package(&dir, "lucarne_", "_amd64.deb");
    let root = Root::new();
    root.copy_in(&deb, "/tmp/lucarne.deb");
    root.ok(&["dpkg", "-i", "/tmp/lucarne.deb"]);

    // What was installed: the binary with its version and commit, the user, the data
    // directory, the configuration as conffiles, the unit not enabled.
    let version = root.ok(&["lucarne", "--version"]);
    assert!(version.starts_with(&format!("lucarne {} (commit ", env!("CARGO_PKG_VERSION"))), "{version}");
    let user = root.ok(&["getent", "passwd", "lucarne"]);
    let fields: Vec<&str> = user.trim().split(':').collect();
    assert!(fields[2].parse::<u32>().is_ok_and(|uid| uid < 1000), "a system user: {user}");
    assert_eq!(fields[5], "/var/lib/lucarne", "{user}");
    assert_eq!(root.ok(&["stat", "-c", "%U:%G %a", "/var/lib/lucarne"]).trim(), "lucarne:lucarne 750");
    let conffiles = root.ok(&["dpkg-query", "-W", "-f", "${Conffiles}", "lucarne"]);
    assert!(conffiles.contains("/etc/lucarne/lucarne.env") && conffiles.contains("/etc/lucarne/views.sql"));
    let unit_file = "/usr/lib/systemd/system/lucarne.service";
    assert!(root.path(unit_file).is_file());
    let wants = root.path("/etc/systemd/system/multi-user.target.wants/lucarne.service");
    assert!(std::fs::symlink_metadata(wants).is_err(), "installed disabled");
    let verify = root.run(&["systemd-analyze", "verify", unit_file]);
    assert!(verify.status.success(), "systemd-analyze verify: {}", String::from_utf8_lossy(&verify.stderr));

    // The admin sets the port in /etc/lucarne/lucarne.env; the service runs as the unit says.
    let port = free_port();
    let env_file = root.path("/etc/lucarne/lucarne.env");
    let settings = std::fs::read_to_string(&env_file).expect("lucarne.env");
    assert!(settings.contains("LUCARNE_LISTEN=127.0.0.1:7300"), "{settings}");
    std::fs::write(&env_file, settings.replace("127.0.0.1:7300", &format!("127.0.0.1:{port}")))
        .expect("edit");
    let unit = unit(&root, unit_file);
    assert_eq!(unit.exec, ["/usr/bin/lucarne", "serve"], "the unit's command line");
    let user = format!("--reuid={}", unit.user);
    let group = format!("--regid={}", unit.user);
    let mut args = vec!["setpriv", user.as_str(), group.as_str(), "--init-groups", "--"];
    args.extend(unit.exec.iter().map(String::as_str));
    let mut cmd = root.command(&args);
    cmd.envs(unit.env.iter().map(|(k, v)| (k, v))).stdout(Stdio::null()).stderr(Stdio::piped());
    let server = Guard(cmd.spawn().expect("start the service's command"));
    wait_for("the installed server's /healthz", Duration::from_secs(60), || {
        healthz(port).is_some_and(|h| h.starts_with("HTTP/1.1 200") && h.ends_with("ok"))
    });
    assert_eq!(root.ok(&["stat", "-c", "%U %a", "/var/lib/lucarne/token.key"]).trim(), "lucarne 600");
    // Tokens are required: a client without one is refused, one minted with the installed
    // command (as the service's user, from its key) is let in.
    let url = format!("ws://127.0.0.1:{port}/ws");
    let list = |token: Option<&str>| {
        let mut args = vec!["lucarne", "view", "list", "--server", url.as_str()];
        if let Some(token) = token {
            args.extend(["--token", token]);
        }
        root.run(&args)
    };
    assert!(!list(None).status.success(), "a client without a token is refused");
    let token = root.ok(&[
        "setpriv",
        &user,
        &group,
        "--init-groups",
        "--",
        "lucarne",
        "token",
        "--data",
        "/var/lib/lucarne",
        "--views",
        "*",
    ]);
    let listed = list(Some(token.trim()));
    assert!(listed.status.success(), "with the token: {}", String::from_utf8_lossy(&listed.stderr));
    drop(server);

    // Removed: the program goes, the configuration and the data stay; purged: everything goes.
    root.ok(&["dpkg", "-r", "lucarne"]);
    assert!(!root.path("/usr/bin/lucarne").exists());
    assert!(
        root.path("/etc/lucarne/lucarne.env").is_file() && root.path("/var/lib/lucarne/token.key").is_file()
    );
    root.ok(&["dpkg", "-P", "lucarne"]);
    check_purged(&root);
}

/// The width and height a PNG file says it has.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is a PNG", path.display());
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}

/// The packages an installed package depends on, transitively (`Depends`, `Pre-Depends`; its
/// own `Recommends` too), every alternative of an `a | b` that is installed.
fn closure(root: &Root, package: &str) -> std::collections::BTreeSet<String> {
    let installed =
        |name: &str| root.run(&["dpkg-query", "-W", "-f", "${Status}", name]).stdout.ends_with(b"installed");
    let mut seen = std::collections::BTreeSet::from([package.to_owned()]);
    let mut todo = vec![(package.to_owned(), true)];
    while let Some((name, top)) = todo.pop() {
        let fields =
            if top { "${Depends}, ${Pre-Depends}, ${Recommends}" } else { "${Depends}, ${Pre-Depends}" };
        let out = root.run(&["dpkg-query", "-W", "-f", fields, &name]);
        for alternative in String::from_utf8_lossy(&out.stdout).split([',', '|']) {
            let dep = alternative.split_whitespace().next().unwrap_or_default();
            let dep = dep.split(':').next().unwrap_or_default().to_owned();
            if !dep.is_empty() && !seen.contains(&dep) && installed(&dep) {
                seen.insert(dep.clone());
                todo.push((dep, false));
            }
        }
    }
    seen
}

#[test]
fn the_desktop_package_installs_opens_the_live_desk_and_purges_cleanly() {
    let Some(dir) = bundle() else { return };
    for tool in ["Xvfb", "xdotool", "desktop-file-validate", "appstreamcli"] {
        need(tool);
    }
    let root = Root::new();
    root.copy_in(&package(&dir, "lucarne_", "_amd64.deb"), "/tmp/lucarne.deb");
    root.copy_in(&package(&dir, "lucarne-desktop_", "_amd64.deb"), "/tmp/lucarne-desktop.deb");
    root.ok(&["dpkg", "-i", "/tmp/lucarne.deb", "/tmp/lucarne-desktop.deb"]);

    // The desktop entry, the AppStream metadata and the icons, as desktops read them.
    root.ok(&["desktop-file-validate", "/usr/share/applications/dev.lucarne.Desk.desktop"]);
    root.ok(&["appstreamcli", "validate", "--no-net", "/usr/share/metainfo/dev.lucarne.Desk.metainfo.xml"]);
    for size in [16, 32, 48, 64, 128, 256] {
        let icon = root.path(&format!("/usr/share/icons/hicolor/{size}x{size}/apps/dev.lucarne.Desk.png"));
        assert_eq!(png_size(&icon), (size, size), "{}", icon.display());
    }
    let version = root.ok(&["lucarne-desktop", "--version"]);
    assert!(
        version.starts_with(&format!("lucarne-desktop {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );

    // The installed server with the demo's orders, the installed app in a window on it.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut serve = root.command(&[
        "lucarne",
        "serve",
        "--demo",
        "--demo-seed",
        "25",
        "--demo-rate",
        "0.01",
        "--listen",
        &listen,
        "--data",
        "/tmp/demo",
    ]);
    let _server = Guard(serve.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start the server"));
    wait_for("the installed server", Duration::from_secs(60), || {
        healthz(port).is_some_and(|h| h.contains("200"))
    });
    let (_xvfb, display) = xvfb();
    let url = format!("ws://{listen}/ws");
    let mut desk = root.command(&["lucarne-desktop"]);
    desk.envs([
        ("DISPLAY", display.as_str()),
        ("LUCARNE_SERVER", url.as_str()),
        ("LUCARNE_OUTBOX", "/tmp/outbox.json"),
        ("LUCARNE_LOCALE", "en"),
        ("WGPU_BACKEND", "vulkan"),
        // The user's own files (Mesa's shader cache) in the user's place, not the system's.
        ("HOME", "/tmp"),
        ("XDG_CACHE_HOME", "/tmp/.cache"),
    ]);
    let app = desk.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start lucarne-desktop");
    let pid = app.id();
    let _app = Guard(app);
    let orders = || {
        let out = root.ok(&["lucarne", "watch", "orders", "--once", "--server", &url]);
        out.lines().filter(|l| l.starts_with('{')).count()
    };
    // The window shows every order of the server (its title counts them): the live desk.
    let mut title = String::new();
    wait_for("the live desk in a window", Duration::from_secs(180), || {
        let window = xdotool(&display, &["search", "--name", "Lucarne order desk"]);
        let Some(window) = window.lines().next() else { return false };
        title = xdotool(&display, &["getwindowname", window]);
        let count = orders();
        count > 0 && title == format!("Lucarne order desk · {count} orders")
    });
    eprintln!("installed desk: {title}");

    // Every library the running app has mapped comes from a package its own depend on (or
    // recommend): none is loaded that the package does not declare.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("the app's maps");
    let mut libraries: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains(".so"))
        .map(|p| root.inside(p))
        .collect();
    libraries.sort_unstable();
    libraries.dedup();
    assert!(libraries.iter().any(|l| l.contains("libX11")), "the app opened X11: {libraries:?}");
    let allowed = closure(&root, "lucarne-desktop");
    for library in libraries {
        // dpkg may know a file by its path before /usr was merged (`/lib/…`).
        let owner = [library, library.trim_start_matches("/usr")].into_iter().find_map(|path| {
            let out = root.run(&["dpkg-query", "-S", path]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let packages = text.lines().next()?.split_once(": ")?.0.to_owned();
            out.status.success().then_some(packages)
        });
        let owner = owner.unwrap_or_else(|| panic!("{library} is loaded by the app but no package holds it"));
        for owner in owner.split(", ").map(|p| p.split(':').next().unwrap_or(p)) {
            assert!(
                allowed.contains(owner),
                "{library} (of {owner}) is loaded but not declared: {allowed:?}"
            );
        }
    }
    drop(_app);
    drop(_server);

    root.ok(&["dpkg", "-P", "lucarne-desktop", "lucarne"]);
    check_purged(&root);
}
