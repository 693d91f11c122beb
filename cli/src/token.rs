//! Capability tokens on the command line: `lucarne token` issues them, and `serve`'s security
//! flags (key, open policy, origins, limits) become the gateway's settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lucarne_server::auth::{Auth, Claims, TokenKey, now_secs};
use lucarne_server::{GatewayConfig, Limits, OriginPolicy};

/// The key file in a data directory when neither `--key-file` nor `LUCARNE_KEY` is given.
pub(crate) const KEY_FILE: &str = "token.key";

/// `lucarne token`: prints a capability token signed with the server's key.
#[derive(clap::Args)]
pub(crate) struct TokenArgs {
    /// Views the token may subscribe to and list: glob patterns (`*`, `?`), comma-separated or
    /// repeated.
    #[arg(long, value_delimiter = ',', value_name = "GLOB")]
    views: Vec<String>,
    /// Commands the token may send: glob patterns, comma-separated or repeated.
    #[arg(long, value_delimiter = ',', value_name = "GLOB")]
    commands: Vec<String>,
    /// The token may define, replace and drop views (named as --views allows). A view reads
    /// whole streams, so this right sees every event: give it to trusted clients only.
    #[arg(long)]
    define: bool,
    /// A row filter, `VIEW_GLOB=CONDITION` (repeatable): of the views the glob matches, the
    /// token is sent only the rows meeting the SQL condition, e.g. `orders=region = 'eu'`.
    /// Not with --define.
    #[arg(long = "rows", value_name = "VIEW_GLOB=CONDITION", value_parser = parse_rows)]
    rows: Vec<(String, String)>,
    /// How long the token is valid: seconds, or a number with s, m, h or d.
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    ttl: Duration,
    /// Who the token is for (shown in the server's log).
    #[arg(long)]
    sub: Option<String>,
    #[command(flatten)]
    key: KeyArgs,
}

/// Where the token key is.
#[derive(clap::Args)]
pub(crate) struct KeyArgs {
    /// The key file (its text is the HS256 secret, at least 32 bytes). Default: `LUCARNE_KEY`
    /// (the secret itself) if set, else `token.key` in the data directory, created on first
    /// use.
    #[arg(long, env = "LUCARNE_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// The server's data directory, for its `token.key`.
    #[arg(long, env = "LUCARNE_DATA", default_value = "lucarne-data")]
    data: PathBuf,
}

/// `serve`'s security flags.
#[derive(clap::Args)]
pub(crate) struct Security {
    /// The token key file; default: `LUCARNE_KEY` (the secret itself) if set, else `token.key`
    /// in the data directory, created (mode 0600) on first start.
    #[arg(long, env = "LUCARNE_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Let clients without a token in with every capability (the open development policy;
    /// only on a loopback address; always on with --demo on loopback).
    #[arg(long)]
    open: bool,
    /// A browser origin (`scheme://host[:port]`, or `*`) allowed to open the WebSocket besides
    /// the server's own host; repeatable. Clients that send no Origin are always allowed.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Messages a second one connection may send on average; more are refused (`rate_limited`).
    #[arg(long, default_value_t = 2000.0)]
    max_messages_per_second: f64,
    /// Messages one connection may send at once above the average.
    #[arg(long, default_value_t = 4000.0)]
    message_burst: f64,
    /// Close a connection refused for its rate continuously for this many seconds.
    #[arg(long, default_value_t = 10.0)]
    rate_limit_close_after: f64,
    /// Subscriptions one connection may hold (more: `too_many_subscriptions`).
    #[arg(long, default_value_t = 256)]
    max_subscriptions: usize,
    /// Bytes of frames queued for one connection; deltas and snapshots wait for room (more than
    /// this in acks, errors and answers: the connection is closed, `slow_consumer`).
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    max_queued_bytes: usize,
    /// Seconds a delta waits for room before its subscription is resynced (`slow_consumer`).
    #[arg(long, default_value_t = 2.0)]
    resync_after: f64,
    /// Close a connection whose socket does not take a frame within this many seconds
    /// (`slow_consumer`).
    #[arg(long, default_value_t = 30.0)]
    slow_consumer_timeout: f64,
    /// Largest cost of a view defined at runtime: columns, keys, sources and expression nodes
    /// (more: `view_too_large`).
    #[arg(long, default_value_t = 500)]
    max_view_cost: usize,
    /// Longest SQL text of a runtime view definition, in bytes (more: `too_complex`).
    #[arg(long, default_value_t = 64 * 1024)]
    max_view_sql_bytes: usize,
    /// Longest `where` or `order_by` of a live query, in bytes (more: `too_complex`).
    #[arg(long, default_value_t = 16 * 1024)]
    max_query_bytes: usize,
    /// Most terms in one live query: expression nodes, IN-list items and order columns (more:
    /// `too_complex`).
    #[arg(long, default_value_t = 1000)]
    max_query_terms: usize,
    /// Live-query subscriptions (where / order_by / limit, or under a row filter) one connection
    /// may hold (more: `over_budget`).
    #[arg(long, default_value_t = 64)]
    max_live_queries: usize,
    /// Rows the windows of all live queries may hold together; a new live query past it is
    /// refused (`over_budget`).
    #[arg(long, default_value_t = 200_000)]
    max_live_query_rows: usize,
    /// Open connections from one IP address; more are closed at once.
    #[arg(long, default_value_t = 256)]
    max_connections_per_address: usize,
    /// Open connections in all; more are closed at once.
    #[arg(long, default_value_t = 50_000)]
    max_connections: usize,
    /// Close an HTTP connection whose request headers have not arrived within this many seconds.
    #[arg(long, default_value_t = 10.0)]
    http_header_timeout: f64,
}

/// Parses `90`, `90s`, `15m`, `1h`, `7d`.
pub(crate) fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: f64 = number.parse().map_err(|_| format!("not a duration: {text:?} (e.g. 90s, 15m, 1h, 7d)"))?;
    let seconds = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (s, m, h or d)")),
    };
    let total = n * seconds;
    if !(1.0..1e10).contains(&total) {
        return Err(format!("{text:?} is not a sensible lifetime"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// The token key: `--key-file`, else `LUCARNE_KEY`, else the data directory's `token.key`
/// (created when missing). Returns where it came from.
fn load_key(key_file: Option<&Path>, data: &Path) -> Result<(TokenKey, String)> {
    if let Some(path) = key_file {
        let key =
            TokenKey::load(path).with_context(|| format!("cannot use the key file {}", path.display()))?;
        return Ok((key, path.display().to_string()));
    }
    if let Ok(secret) = std::env::var("LUCARNE_KEY") {
        let key = TokenKey::from_secret(secret.trim().as_bytes()).context("LUCARNE_KEY")?;
        return Ok((key, "LUCARNE_KEY".into()));
    }
    let path = data.join(KEY_FILE);
    let (key, created) = TokenKey::load_or_create(&path)?;
    let mut from = path.display().to_string();
    if created {
        tracing::info!("created the token key {from} (mode 0600)");
        from.push_str(" (new)");
    }
    Ok((key, from))
}

/// `--rows VIEW_GLOB=CONDITION`: split at the first `=` (view names have none).
fn parse_rows(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((view, condition)) if !view.trim().is_empty() && !condition.trim().is_empty() => {
            Ok((view.trim().to_owned(), condition.trim().to_owned()))
        }
        _ => Err(format!("expected VIEW_GLOB=CONDITION (e.g. orders=region = 'eu'), got {text:?}")),
    }
}

/// Runs `lucarne token`.
pub(crate) fn run(args: TokenArgs) -> Result<u8> {
    let (key, _) = load_key(args.key.key_file.as_deref(), &args.key.data)?;
    if args.views.is_empty() && args.commands.is_empty() && !args.define {
        eprintln!("warning: this token allows nothing (give --views, --commands or --define)");
    }
    if args.define && !args.rows.is_empty() {
        bail!(
            "--rows and --define do not go together: a view the token defined could read the hidden rows' events"
        );
    }
    let now = now_secs();
    let claims = Claims {
        sub: args.sub,
        exp: now + args.ttl.as_secs().max(1),
        iat: Some(now),
        views: args.views,
        commands: args.commands,
        define: args.define,
        rows: args.rows.into_iter().collect(),
    };
    let token = key.issue(&claims).map_err(|e| anyhow::anyhow!("cannot sign the token: {e}"))?;
    println!("{token}");
    Ok(0)
}

/// The gateway settings of `lucarne serve`: tokens required unless the server runs the demo (or
/// `--open`) on a loopback address; `allow_define` gives anonymous clients of an open server
/// the define right (with tokens, the `define` claim decides).
pub(crate) fn gateway_config(
    security: &Security,
    listen: SocketAddr,
    data: &Path,
    demo: bool,
    allow_define: bool,
) -> Result<GatewayConfig> {
    let loopback = listen.ip().is_loopback();
    if security.open && !loopback {
        bail!(
            "--open is only allowed on a loopback address, not {listen}: issue tokens with `lucarne token`"
        );
    }
    let (key, from) = load_key(security.key_file.as_deref(), data)?;
    let auth = if (demo || security.open) && loopback {
        let define = allow_define || demo;
        tracing::warn!(
            "OPEN development policy: clients without a token may subscribe to every view and send every \
             command{} (listening on loopback {listen} only); tokens are still checked with the key from {from}",
            if define { ", and define and drop views" } else { "" }
        );
        Auth::open(Some(key), define)
    } else {
        if demo {
            tracing::warn!("--demo on {listen}, not a loopback address: clients need a capability token");
        }
        if allow_define {
            tracing::info!(
                "--allow-define affects only anonymous clients of an open server; tokens need `define`"
            );
        }
        tracing::info!(
            "capability tokens required (key from {from}); issue them with `lucarne token --data {} …`",
            data.display()
        );
        Auth::tokens(key)
    };
    let seconds = |s: f64| Duration::from_secs_f64(s.clamp(0.001, 1e9));
    let limits = Limits {
        messages_per_second: security.max_messages_per_second.max(0.0),
        message_burst: security.message_burst.max(1.0),
        rate_limit_close_after: seconds(security.rate_limit_close_after),
        max_subscriptions: security.max_subscriptions,
        max_queued_bytes: security.max_queued_bytes.max(1024),
        resync_after: seconds(security.resync_after),
        slow_consumer_timeout: seconds(security.slow_consumer_timeout),
        max_view_cost: security.max_view_cost,
        max_view_sql_bytes: security.max_view_sql_bytes,
        max_query_bytes: security.max_query_bytes,
        max_query_terms: security.max_query_terms,
        max_live_queries: security.max_live_queries,
        max_live_query_rows: security.max_live_query_rows,
        max_connections_per_address: security.max_connections_per_address.max(1),
        max_connections: security.max_connections.max(1),
        http_header_timeout: seconds(security.http_header_timeout),
    };
    let origins = OriginPolicy { allowed: security.allowed_origins.clone() };
    Ok(GatewayConfig { auth, limits, origins, ..GatewayConfig::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        security: Security,
    }

    #[test]
    fn ttls_parse() {
        fn check(text: &str, expected: Option<u64>) {
            assert_eq!(parse_ttl(text).ok().map(|d| d.as_secs()), expected, "{text}");
        }
        check("90", Some(90));
        check("90s", Some(90));
        check("15m", Some(900));
        check("1h", Some(3600));
        check("1.5h", Some(5400));
        check("7d", Some(604_800));
        check("0", None);
        check("1y", None);
        check("h", None);
        check("-5m", None);
    }

    #[test]
    fn row_filters_parse() {
        fn check(text: &str, expected: Option<(&str, &str)>) {
            let got = parse_rows(text).ok();
            assert_eq!(got.as_ref().map(|(v, c)| (v.as_str(), c.as_str())), expected, "{text}");
        }
        check("orders=region = 'eu'", Some(("orders", "region = 'eu'")));
        check("orders* = total >= 10", Some(("orders*", "total >= 10")));
        check("orders", None);
        check("=region = 'eu'", None);
        check("orders=", None);
    }

    #[test]
    fn the_flag_defaults_are_the_library_defaults() {
        let Ok(flags) = Flags::try_parse_from(["serve"]) else { panic!("parses") };
        let dir = tempfile::tempdir().expect("tempdir");
        let config =
            gateway_config(&flags.security, "127.0.0.1:0".parse().expect("addr"), dir.path(), false, false)
                .expect("config");
        assert_eq!(config.limits, Limits::default());
        assert!(!config.auth.is_open(), "tokens are required by default");
        assert!(dir.path().join(KEY_FILE).is_file(), "the key was created");

        let open =
            gateway_config(&flags.security, "127.0.0.1:0".parse().expect("addr"), dir.path(), true, false)
                .expect("config");
        assert!(open.auth.is_open(), "the demo on loopback is open");
        let public =
            gateway_config(&flags.security, "0.0.0.0:0".parse().expect("addr"), dir.path(), true, false)
                .expect("config");
        assert!(!public.auth.is_open(), "the demo elsewhere is not");
        let Ok(flags) = Flags::try_parse_from(["serve", "--open"]) else { panic!("parses") };
        assert!(
            gateway_config(&flags.security, "0.0.0.0:0".parse().expect("addr"), dir.path(), false, false)
                .is_err()
        );
    }
}
