//! Debian's `nats-server` as a fan-out baseline: a config enabling its WebSocket listener, and
//! the few operations of the NATS text protocol a subscriber and a publisher need (`INFO`,
//! `CONNECT`, `SUB`, `PUB`, `MSG`, `PING` / `PONG`), spoken over tokio-tungstenite.

use anyhow::{Context, Result, bail};

/// The subject every change is published on.
pub(crate) const SUBJECT: &str = "fanout";

/// The config file: the client port and the WebSocket listener, both on loopback, without TLS.
pub(crate) fn config(port: u16, ws_port: u16) -> String {
    format!(
        "host: 127.0.0.1\nport: {port}\nwebsocket {{\n  host: 127.0.0.1\n  port: {ws_port}\n  no_tls: true\n}}\n"
    )
}

/// What a client sends once the server's `INFO` arrived: no `+OK` per message, and, for a
/// subscriber, its subscription; then a `PING`, whose `PONG` says all of it was processed.
pub(crate) fn connect(subscribe: bool) -> String {
    let mut out = String::from("CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n");
    if subscribe {
        out.push_str(&format!("SUB {SUBJECT} 1\r\n"));
    }
    out.push_str("PING\r\n");
    out
}

/// A `PUB` of `payload` on [`SUBJECT`].
pub(crate) fn publish(payload: &str) -> String {
    format!("PUB {SUBJECT} {}\r\n{payload}\r\n", payload.len())
}

/// One operation from the server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    /// `INFO {…}`.
    Info,
    /// `MSG subject sid [reply] size`, with its payload.
    Msg(&'a [u8]),
    /// `PING`: answer `PONG`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '…'`.
    Err(String),
}

/// Splits the server's byte stream (WebSocket frames need not align with operations) into
/// operations.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    pending: Vec<u8>,
}

impl Parser {
    /// Takes the next bytes, calling `on` for each complete operation.
    pub(crate) fn feed(&mut self, data: &[u8], mut on: impl FnMut(Op<'_>)) -> Result<()> {
        if self.pending.is_empty() {
            let used = parse(data, &mut on)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            let used = parse(&self.pending, &mut on)?;
            self.pending.drain(..used);
        }
        Ok(())
    }
}

/// Parses the complete operations at the start of `data`; returns how many bytes they took.
fn parse(data: &[u8], on: &mut impl FnMut(Op<'_>)) -> Result<usize> {
    let mut at = 0;
    loop {
        let rest = &data[at..];
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else { return Ok(at) };
        let line = &rest[..eol];
        let verb = line.split(|b| *b == b' ' || *b == b'\t').next().unwrap_or_default();
        if verb.eq_ignore_ascii_case(b"MSG") {
            let text = std::str::from_utf8(line).context("a MSG line that is not UTF-8")?;
            let size: usize = text
                .split_ascii_whitespace()
                .last()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("a MSG line without a size: {text:?}"))?;
            let start = eol + 2;
            if rest.len() < start + size + 2 {
                return Ok(at);
            }
            on(Op::Msg(&rest[start..start + size]));
            at += start + size + 2;
            continue;
        }
        let op = if verb.eq_ignore_ascii_case(b"PING") {
            Op::Ping
        } else if verb.eq_ignore_ascii_case(b"PONG") {
            Op::Pong
        } else if verb.eq_ignore_ascii_case(b"+OK") {
            Op::Ok
        } else if verb.eq_ignore_ascii_case(b"INFO") {
            Op::Info
        } else if verb.eq_ignore_ascii_case(b"-ERR") {
            Op::Err(String::from_utf8_lossy(line).into_owned())
        } else {
            bail!("unexpected NATS operation: {:?}", String::from_utf8_lossy(line));
        };
        on(op);
        at += eol + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = Parser::default();
        let mut seen = Vec::new();
        for chunk in chunks {
            parser
                .feed(chunk, |op| {
                    seen.push(match op {
                        Op::Msg(p) => format!("msg {}", String::from_utf8_lossy(p)),
                        other => format!("{other:?}"),
                    })
                })
                .expect("parses");
        }
        seen
    }

    #[test]
    fn operations_split_and_joined_across_frames() {
        let all: &[u8] = b"INFO {\"server_id\":\"x\"}\r\nMSG fanout 1 5\r\nab\r\nc\r\nPING\r\nMSG fanout 1 r.1 2\r\nhi\r\n";
        let expected = ["Info", "msg ab\r\nc", "Ping", "msg hi"];
        assert_eq!(ops(&[all]), expected);
        for cut in 1..all.len() {
            assert_eq!(ops(&[&all[..cut], &all[cut..]]), expected, "cut at {cut}");
        }
        assert_eq!(
            ops(&[b"+OK\r\nPONG\r\n-ERR 'Slow Consumer'\r\n"]),
            ["Ok", "Pong", "Err(\"-ERR 'Slow Consumer'\")"]
        );
    }

    #[test]
    fn unknown_operations_and_bad_sizes_are_errors() {
        let mut parser = Parser::default();
        assert!(parser.feed(b"HELLO\r\n", |_| {}).is_err());
        assert!(Parser::default().feed(b"MSG fanout 1 x\r\n", |_| {}).is_err());
    }

    #[test]
    fn publish_and_connect_frames() {
        assert_eq!(publish("{\"a\":1}"), "PUB fanout 7\r\n{\"a\":1}\r\n");
        assert!(connect(true).contains("SUB fanout 1\r\n"));
        assert!(!connect(false).contains("SUB"));
        assert!(config(4222, 8080).contains("no_tls: true"));
    }
}
