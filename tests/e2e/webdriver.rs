//! A minimal W3C WebDriver client for the browser tests: chromedriver started on a free port in
//! a process group of its own (killed with the browser it started), one HTTP/1.1 request per
//! connection, the calls the tests use (navigate, run a script, click, type, screenshot, read
//! the console).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Kills a child process and its process group when dropped.
pub(crate) struct GroupGuard(Child);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("--").arg(format!("-{}", self.0.id())).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The page a session opens: its viewport (CSS pixels, device scale 1) and a script run in
/// every new document before the page's own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page<'a> {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) on_new_document: &'a str,
}

/// A minimal W3C WebDriver client (one HTTP/1.1 request per connection).
pub(crate) struct Driver {
    addr: SocketAddr,
    session: String,
    /// Chromium's own DevTools address (`host:port`), as chromedriver reports it.
    debugger: Option<String>,
}

fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    try_http(addr, method, path, body).unwrap_or_else(|e| panic!("{e}"))
}

/// One WebDriver call; `Err` with WebDriver's error and message.
pub(crate) fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let response = request(addr, method, path, body)
        .map_err(|e| format!("talk to chromedriver: {method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(error) = value["value"]["error"].as_str() {
        return Err(format!("WebDriver {method} {path}: {error}: {}", value["value"]["message"]));
    }
    Ok(value["value"].clone())
}

fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Vec<u8>> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver keeps the connection open: read the head, then `Content-Length` bytes.
    let mut response = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        // A socket read with a timeout is never restarted after a signal handler ran, even
        // with SA_RESTART (signal(7)); CI saw EINTR here once: read again.
        let n = match stream.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            read => read?,
        };
        if n == 0 {
            return Ok(response);
        }
        response.extend_from_slice(&buf[..n]);
        let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
        let length =
            head.lines().find_map(|l| l.strip_prefix("content-length:")?.trim().parse::<usize>().ok());
        if length.is_some_and(|length| response.len() >= end + 4 + length) {
            return Ok(response);
        }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl Driver {
    /// A browser session; a browser that fails to start (it happens under load) is tried twice
    /// more, each time with a fresh profile.
    pub(crate) fn start(addr: SocketAddr, profile: &Path, page: &Page<'_>) -> Driver {
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            match Driver::try_start(addr, &profile.join(format!("try-{attempt}")), page) {
                Ok(driver) => return driver,
                Err(e) => {
                    eprintln!("browser: no session (attempt {attempt}): {e}");
                    failures.push(e);
                }
            }
        }
        panic!("no browser session: {failures:#?}");
    }

    pub(crate) fn try_start(addr: SocketAddr, profile: &Path, page: &Page<'_>) -> Result<Driver, String> {
        let Page { width, height, on_new_document } = *page;
        let args = [
            "--headless",
            "--no-sandbox",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            // WebGL2 on SwiftShader without the deprecation warning (and beyond it).
            "--enable-unsafe-swiftshader",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            // A page navigated away from is unloaded (its WebSocket closed), not kept for Back.
            "--disable-back-forward-cache",
            "--force-device-scale-factor=1",
            &format!("--window-size={width},{height}"),
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            // Navigation returns at once: the test watches the first frame itself.
            "pageLoadStrategy": "none",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
                // Notifications allowed from the start (the service worker's test shows some).
                "prefs": { "profile.default_content_setting_values.notifications": 1 },
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let session = try_http(addr, "POST", "/session", Some(&capabilities))?;
        let debugger =
            session["capabilities"]["goog:chromeOptions"]["debuggerAddress"].as_str().map(str::to_owned);
        let session = session["sessionId"].as_str().ok_or(format!("no session id in {session}"))?.to_owned();
        let driver = Driver { addr, session, debugger };
        // A fixed viewport, whatever the window's decorations take.
        let metrics = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false });
        driver.call(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": metrics })),
        );
        // Marks for the measurement (the test's, not the page's): when the canvas is appended,
        // when WebGL first draws, and the animation frame after that draw (the frame has been
        // presented by then), in ms from navigation.
        driver.call(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": "Page.addScriptToEvaluateOnNewDocument", "params": { "source": on_new_document } })),
        );
        Ok(driver)
    }

    /// The DevTools protocol of the page the session shows, on Chromium's own socket (for
    /// what WebDriver cannot do, and for its events).
    pub(crate) fn devtools(&self) -> Devtools {
        let debugger = self.debugger.as_deref().expect("chromedriver reports Chromium's DevTools address");
        let addr: SocketAddr =
            std::net::ToSocketAddrs::to_socket_addrs(&debugger.replace("localhost", "127.0.0.1"))
                .ok()
                .and_then(|mut a| a.next())
                .expect("the DevTools address");
        let response = request(addr, "GET", "/json/list", None).expect("the DevTools targets");
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let targets: Value = serde_json::from_str(body).expect("the targets as JSON");
        let url = targets
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let (socket, _) =
            tokio_tungstenite::tungstenite::connect(url.as_str()).expect("the page's DevTools socket");
        Devtools { socket, next: 0, events: Vec::new() }
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        http(self.addr, method, &format!("/session/{}{path}", self.session), body.as_ref())
    }

    pub(crate) fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    pub(crate) fn eval(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    /// The window title iced gives the canvas (winit's web backend sets it as `alt`).
    pub(crate) fn title(&self) -> String {
        let title =
            self.eval("const c = document.querySelector('canvas'); return c ? c.getAttribute('alt') : null");
        title.as_str().unwrap_or_default().to_owned()
    }

    pub(crate) fn click(&self, (x, y): (u32, u32)) {
        let actions = json!({ "actions": [{ "type": "pointer", "id": "mouse",
            "parameters": { "pointerType": "mouse" },
            "actions": [
                { "type": "pointerMove", "x": x, "y": y, "origin": "viewport", "duration": 0 },
                { "type": "pointerDown", "button": 0 },
                { "type": "pause", "duration": 50 },
                { "type": "pointerUp", "button": 0 },
            ] }] });
        self.call("POST", "/actions", Some(actions));
        self.call("DELETE", "/actions", None);
    }

    pub(crate) fn type_keys(&self, text: &str) {
        let keys: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let c = c.to_string();
                [json!({ "type": "keyDown", "value": c }), json!({ "type": "keyUp", "value": c })]
            })
            .collect();
        let actions = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": keys }] });
        self.call("POST", "/actions", Some(actions));
        self.call("DELETE", "/actions", None);
    }

    /// Text arriving as one insertion into the focused element, as an input method, dictation
    /// or the on-screen keyboard delivers it (no key events): DevTools' `Input.insertText`.
    /// With `composing`, an input method first shows it as a composition (DevTools'
    /// `Input.imeSetComposition`) that the insertion then commits.
    pub(crate) fn insert_text(&self, text: &str, composing: Option<&str>) {
        if let Some(composition) = composing {
            let end = composition.encode_utf16().count();
            let params = json!({ "text": composition, "selectionStart": end, "selectionEnd": end });
            self.call(
                "POST",
                "/goog/cdp/execute",
                Some(json!({ "cmd": "Input.imeSetComposition", "params": params })),
            );
        }
        let params = json!({ "text": text });
        self.call("POST", "/goog/cdp/execute", Some(json!({ "cmd": "Input.insertText", "params": params })));
    }

    /// A PNG of the viewport (WebDriver's screenshot: the composited page at the viewport's
    /// size, not `chromium --screenshot`).
    pub(crate) fn screenshot(&self, path: &Path) {
        self.try_screenshot(path).unwrap_or_else(|e| panic!("{e}"));
    }

    /// A screenshot, or why there is none (a page still loading can refuse one).
    pub(crate) fn try_screenshot(&self, path: &Path) -> Result<(), String> {
        let shot = try_http(self.addr, "GET", &format!("/session/{}/screenshot", self.session), None)?;
        let png = base64(shot.as_str().ok_or("a screenshot that is not a string")?);
        std::fs::write(path, png).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// What the page logged (errors and panics show here).
    pub(crate) fn console(&self) -> String {
        let logs = http(
            self.addr,
            "POST",
            &format!("/session/{}/se/log", self.session),
            Some(&json!({"type": "browser"})),
        );
        logs.as_array()
            .map(|l| {
                l.iter().map(|e| format!("{} {}", e["level"], e["message"])).collect::<Vec<_>>().join("\n")
            })
            .unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = request(self.addr, "DELETE", &format!("/session/{}", self.session), None);
    }
}

type DevtoolsSocket = tokio_tungstenite::tungstenite::WebSocket<
    tokio_tungstenite::tungstenite::stream::MaybeTlsStream<TcpStream>,
>;

/// One page's DevTools protocol: commands answered by id, events kept until asked for.
pub(crate) struct Devtools {
    socket: DevtoolsSocket,
    next: u64,
    events: Vec<Value>,
}

impl Devtools {
    /// Sends a command and waits for its answer (events meanwhile are kept).
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(message.into()).expect("send to DevTools");
        loop {
            let message = self.read();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    /// The first event named `method` for which `wanted` holds, waiting for it up to 30 s.
    pub(crate) fn event(&mut self, method: &str, mut wanted: impl FnMut(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            if let Some(at) = self.events.iter().position(|e| e["method"] == method && wanted(&e["params"])) {
                return self.events.remove(at)["params"].clone();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no {method} event within 30 s");
            let message = self.read();
            self.events.push(message);
        }
    }

    /// The events received and not asked for.
    pub(crate) fn pending(&mut self) -> Vec<String> {
        self.events.iter().map(|e| format!("{} {}", e["method"], e["params"])).collect()
    }

    fn read(&mut self) -> Value {
        loop {
            match self.socket.read().expect("read from DevTools") {
                tokio_tungstenite::tungstenite::Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("DevTools JSON");
                }
                _ => continue,
            }
        }
    }
}

pub(crate) fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// chromedriver on a free port (killed with the browser it started when dropped).
pub(crate) fn chromedriver(log: &Path) -> (GroupGuard, SocketAddr) {
    let port = free_port();
    let log = std::fs::File::create(log).expect("log file");
    // In a process group of its own, so that the browser it starts goes with it.
    let child = Command::new("chromedriver")
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start chromedriver");
    let guard = GroupGuard(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, addr)
}
