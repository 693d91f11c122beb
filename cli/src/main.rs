//! `lucarne`: run a server, watch views, send commands.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use lucarne_demo as demo;
use lucarne_protocol::Row;
use lucarne_runtime::{
    Client, ClientConfig, ClientError, CommandError, DEFAULT_SERVER, Found, Query, SearchEvent, SearchQuery,
    SearchSort, Status, ViewEvent,
};
use lucarne_server::store::RowCacheLimits;
use lucarne_server::{Commands, GatewayConfig, Store};
use serde_json::{Value, json};

mod pdf;
mod push;
mod token;

#[derive(Parser)]
// `--version` shows the commit it was built from where the build recorded one (`cargo xtask
// bundle` sets `LUCARNE_COMMIT`).
#[command(name = "lucarne", version = lucarne_runtime::build_version!(), about = "Live SQL views pushed to every client")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args)]
struct Connect {
    /// The server's WebSocket URL; several servers of one cluster separated by commas (the
    /// client moves to the next when one is lost).
    #[arg(long, env = "LUCARNE_SERVER", default_value = DEFAULT_SERVER, global = true)]
    server: String,
    /// Capability token.
    #[arg(long, env = "LUCARNE_TOKEN", global = true)]
    token: Option<String>,
}

/// A live query on the command line: `--where`, `--order-by`, `--limit`.
#[derive(clap::Args)]
pub(crate) struct QueryArgs {
    /// Only rows for which this SQL condition over the view's columns holds.
    #[arg(long = "where", value_name = "CONDITION")]
    filter: Option<String>,
    /// Order of the rows: columns, each optionally ASC or DESC (default: by key).
    #[arg(long)]
    order_by: Option<String>,
    /// At most this many rows (the first in --order-by order).
    #[arg(long)]
    limit: Option<u64>,
}

impl QueryArgs {
    /// The query over `view`.
    pub(crate) fn of(self, view: impl Into<String>) -> Query {
        let mut query = Query::view(view);
        (query.filter, query.order_by, query.limit) = (self.filter, self.order_by, self.limit);
        query
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a server.
    Serve(Box<Serve>),
    /// Print a view's rows as JSON lines, then one JSON line per change.
    Watch {
        /// The view.
        view: String,
        /// Print the current rows and exit.
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        query: QueryArgs,
        /// Skip this many rows first (in --order-by order).
        #[arg(long)]
        offset: Option<u64>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Send a command and print the ack (exit 0) or the rejection (exit 1).
    Send {
        /// The command's name.
        name: String,
        /// Its payload, as JSON.
        payload: String,
        /// Give up when no answer comes in this many seconds.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
        #[command(flatten)]
        connect: Connect,
    },
    /// A live browser of the server's views in the terminal: a view as a table, sorted, filtered
    /// by a live query, a row's detail, commands sent (the keys on the last line).
    Tui {
        /// Open this view at once (else the list of views).
        view: Option<String>,
        /// A key that sends a command about the selected row: `KEY=COMMAND[:COLUMN,…]`, the
        /// payload made of those columns, and `>COLUMN=VALUE` what the row shows until the
        /// server's rows hold it (`p=pay_order:order_id>status=paid`; repeat for more).
        #[arg(long = "action", value_name = "KEY=COMMAND[:COLUMNS][>COLUMN=VALUE]")]
        actions: Vec<String>,
        /// A second view drawn as bars beside the table: `VIEW:LABEL_COLUMN:VALUE_COLUMN`.
        #[arg(long, value_name = "VIEW:LABEL:VALUE")]
        chart: Option<String>,
        /// The demo's order desk: `orders` with P pay, S ship, C cancel on the selected order
        /// (shown at once, rolled back if refused) and sales by region as bars.
        #[arg(long, conflicts_with_all = ["view", "chart"])]
        desk: bool,
        /// The language of the chrome: en, ar, he (default: from LANG).
        #[arg(long, env = "LUCARNE_LOCALE")]
        locale: Option<String>,
        /// Who puts right-to-left text in order: `visual` (Lucarne: most terminals) or
        /// `terminal` (terminals that do bidi themselves).
        #[arg(long, value_enum, default_value_t = BidiArg::Visual)]
        bidi: BidiArg,
        /// Views of more rows than this are watched a window at a time around the rows on
        /// screen (a live query with limit and offset), not held whole.
        #[arg(long, default_value_t = lucarne_tui::app::WINDOW_ABOVE)]
        window_above: u64,
        /// Write the client's log to this file (the screen is the terminal's).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Print a capability token signed with the server's key (`--views`, `--commands`, `--define`).
    Token(token::TokenArgs),
    /// Platform push: a VAPID key for `serve --vapid-key`, a test push to a client.
    Push {
        #[command(subcommand)]
        command: push::PushCmd,
    },
    /// Views on the server.
    View {
        #[command(subcommand)]
        command: ViewCmd,
    },
    /// Commands on the server, defined at runtime.
    Command {
        #[command(subcommand)]
        command: CommandCmd,
    },
    /// Search a search index: the rows of its view that match the words (typos allowed, the
    /// last word as typed), the filter and the selected facet values; with the facets' counts.
    Search {
        /// The search index.
        index: String,
        /// The words (none: every row).
        #[arg(default_value = "")]
        text: String,
        /// Count this facet's values (repeat for more).
        #[arg(long = "facet", value_name = "FACET")]
        facets: Vec<String>,
        /// Keep rows with this facet value, `FACET=VALUE` (several values of one facet are
        /// alternatives).
        #[arg(long = "select", value_name = "FACET=VALUE")]
        selected: Vec<String>,
        /// Only rows for which this SQL condition over the view's columns holds.
        #[arg(long = "where", value_name = "CONDITION")]
        filter: Option<String>,
        /// Sort by this column (`COLUMN` or `COLUMN:desc`; repeat for more); default: fewest
        /// typos first.
        #[arg(long = "sort", value_name = "COLUMN[:desc]")]
        sort: Vec<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Skip this many rows.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Print the answer as one JSON object (one line per answer with --watch).
        #[arg(long)]
        json: bool,
        /// Keep the search live: print the answer again each time a change on the server
        /// changes the page, the total or a facet's counts (until interrupted).
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// Search indexes on the server: `CREATE SEARCH INDEX name ON view (columns) [FACETS (columns)]`.
    SearchIndex {
        #[command(subcommand)]
        command: SearchIndexCmd,
    },
    /// Print a view as a paginated table in a vector PDF (the header row on every page).
    Pdf {
        #[command(flatten)]
        args: pdf::PdfArgs,
        #[command(flatten)]
        connect: Connect,
    },
    /// Write the manual pages (`lucarne.1`, one per subcommand) into a directory (packaging).
    #[command(hide = true)]
    Manual {
        /// The directory (created if missing).
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ViewCmd {
    /// Define (or with CREATE OR REPLACE, redefine) a view; shows the build's progress.
    Define {
        /// `CREATE [OR REPLACE] VIEW name AS SELECT …`
        sql: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Drop a view.
    Drop {
        /// The view.
        name: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// List the views with their SQL.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(Subcommand)]
enum SearchIndexCmd {
    /// Define (or redefine) a search index, e.g. `CREATE SEARCH INDEX orders_search ON orders
    /// (customer, order_id) FACETS (status, region)`; recorded in the server's log.
    Define {
        /// The definition.
        sql: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Drop a search index.
    Drop {
        /// The index.
        name: String,
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(Subcommand)]
enum CommandCmd {
    /// Define (or redefine) a command: `STREAM:NAME [ON VIEW(FIELD) [WHEN CONDITION | NEW]]`,
    /// e.g. `orders:pay_order ON orders(order_id) WHEN status = 'placed'`. Recorded in the
    /// server's log; in force for every command sent after the answer.
    Define {
        /// The route spec.
        spec: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Remove a command.
    Drop {
        /// The command.
        name: String,
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(clap::Args)]
struct Serve {
    /// Address to listen on (HTTP, WebSocket at /ws).
    #[arg(long, env = "LUCARNE_LISTEN", default_value = "127.0.0.1:7300")]
    listen: SocketAddr,
    /// Data directory (created if missing).
    #[arg(long, env = "LUCARNE_DATA", default_value = "lucarne-data")]
    data: PathBuf,
    /// SQL file of `CREATE VIEW` statements (the demo's views with --demo).
    #[arg(long, env = "LUCARNE_VIEWS")]
    views: Option<PathBuf>,
    /// Commands appending one event of their own name to a stream: `STREAM:NAME[,NAME…]`,
    /// optionally only when a view row allows it: `… ON VIEW(FIELD)` (the row keyed by the
    /// payload's FIELD exists, else `not_found`), `… ON VIEW(FIELD) WHEN CONDITION` (and meets
    /// the condition over the view's columns, else `rejected`), `… ON VIEW(FIELD) NEW` (no such
    /// row yet). E.g. `orders:pay_order ON orders(order_id) WHEN status = 'placed'`.
    #[arg(long = "command", value_name = "STREAM:NAMES [ON VIEW(FIELD) [WHEN CONDITION | NEW]]")]
    commands: Vec<String>,
    /// Run the demo: order commands, a seed of orders, and a live stream of changes.
    #[arg(long)]
    demo: bool,
    /// Demo commands per second.
    #[arg(long, default_value_t = 3.0)]
    demo_rate: f64,
    /// Orders the demo seeds into an empty log.
    #[arg(long, default_value_t = 300)]
    demo_seed: usize,
    /// Let anonymous clients of an open server (--demo or --open on loopback) define, replace and
    /// drop views; with tokens, their `define` right decides.
    #[arg(long, env = "LUCARNE_ALLOW_DEFINE")]
    allow_define: bool,
    /// Refuse a runtime view whose build would fold more events than this.
    #[arg(long, default_value_t = 10_000_000)]
    max_backfill_events: u64,
    /// View rows kept in memory, all views together (about 380 bytes a row of five columns).
    #[arg(long, default_value_t = RowCacheLimits::default().rows)]
    row_cache: usize,
    /// Of those, rows newer than the rows table (their changes are in the changelog only)
    /// before they are written back; at most --row-cache.
    #[arg(long, default_value_t = RowCacheLimits::default().dirty)]
    row_cache_dirty: usize,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 15.0)]
    ping_interval: f64,
    /// Serve the browser bundle (`cargo xtask web`) from this directory; default `web/dist`
    /// when it exists.
    #[arg(long, env = "LUCARNE_WEB_DIR")]
    web_dir: Option<PathBuf>,
    #[command(flatten)]
    security: token::Security,
    #[command(flatten)]
    push: push::PushArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Scale-out: the node folds a NATS JetStream stream shared by every node of the cluster.
#[derive(clap::Args)]
struct ClusterArgs {
    /// Join a cluster whose log is a JetStream stream on these NATS servers
    /// (`nats://host:port`, comma-separated); the data directory then holds this node's copy of
    /// the views, rebuilt from the stream when new.
    #[arg(long, env = "LUCARNE_NATS", value_name = "URLS")]
    nats: Option<String>,
    /// The stream (created when missing, subjects `NAME.>`).
    #[arg(long, env = "LUCARNE_STREAM", default_value = "LUCARNE", requires = "nats")]
    stream: String,
    /// This node's name in logs (default: the host name and the listen port).
    #[arg(long, env = "LUCARNE_NODE_ID", requires = "nats")]
    node_id: Option<String>,
    /// Copies of the stream when this node creates it (default: 3 on a NATS cluster of three
    /// servers or more, else one per server).
    #[arg(long, requires = "nats")]
    replicas: Option<usize>,
    /// JetStream's duplicate window in seconds for a stream this node creates (Lucarne's dedup
    /// of commands does not depend on it).
    #[arg(long, requires = "nats", hide = true)]
    duplicate_window: Option<f64>,
}

/// Who orders right-to-left text in `lucarne tui`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum BidiArg {
    /// Lucarne writes it in visual order.
    Visual,
    /// The terminal reorders it.
    Terminal,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match &cli.command {
        // The terminal is the screen: the log goes to a file, or nowhere.
        Cmd::Tui { log, .. } => {
            let file = log.as_ref().and_then(|path| std::fs::File::create(path).ok());
            match file {
                Some(file) => tracing_subscriber::fmt()
                    .with_env_filter(filter())
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .init(),
                None => tracing_subscriber::fmt().with_writer(std::io::sink).init(),
            }
        }
        _ => tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        // `lucarne watch orders | head` is a normal way to stop.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Cmd::Serve(serve) => serve_cmd(*serve).await.map(|()| 0),
        Cmd::Token(args) => token::run(args),
        Cmd::Manual { out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &out)
                .with_context(|| format!("cannot write the manual pages into {}", out.display()))?;
            Ok(0)
        }
        Cmd::Tui { view, actions, chart, desk, locale, bidi, window_above, log: _, connect } => {
            let mut options =
                if desk { lucarne_tui::app::desk() } else { lucarne_tui::app::Options::default() };
            if !desk {
                options.view = view;
                options.chart = chart.map(|c| c.parse()).transpose()?;
            }
            for action in &actions {
                options.actions.push(action.parse()?);
            }
            let locale = locale.or_else(|| std::env::var("LANG").ok()).unwrap_or_default();
            options.locale = lucarne_tui::locale::Locale::of(&locale);
            options.bidi = match bidi {
                BidiArg::Visual => lucarne_tui::bidi::Bidi::Visual,
                BidiArg::Terminal => lucarne_tui::bidi::Bidi::Terminal,
            };
            options.window_above = Some(window_above);
            lucarne_tui::run(client(&connect), options).await?;
            Ok(0)
        }
        Cmd::Push { command } => push::run(command).await,
        Cmd::Watch { view, once, query, offset, connect } => {
            let mut query = query.of(view);
            query.offset = offset;
            watch(&client(&connect), query, once).await.map(|()| 0)
        }
        Cmd::Send { name, payload, timeout, connect } => {
            send(&client(&connect), &name, &payload, timeout, &connect.server).await
        }
        Cmd::View { command: ViewCmd::List { json, connect } } => {
            list(&client(&connect), json).await.map(|()| 0)
        }
        Cmd::View { command: ViewCmd::Define { sql, connect } } => define(&client(&connect), &sql).await,
        Cmd::Pdf { args, connect } => pdf::run(args, client(&connect)).await,
        Cmd::Command { command: CommandCmd::Define { spec, connect } } => {
            let client = client(&connect);
            answered(online(|| client.define_command(&spec)).await?, |name| format!("command {name} defined"))
        }
        Cmd::SearchIndex { command: SearchIndexCmd::Define { sql, connect } } => {
            let client = client(&connect);
            answered(online(|| client.define_search(&sql)).await?, |name| {
                format!("search index {name} defined")
            })
        }
        Cmd::SearchIndex { command: SearchIndexCmd::Drop { name, connect } } => {
            let client = client(&connect);
            answered(online(|| client.drop_search(&name)).await?, |()| format!("dropped search index {name}"))
        }
        Cmd::Search { index, text, facets, selected, filter, sort, limit, offset, json, watch, connect } => {
            let mut query = SearchQuery { text, facets, filter, limit, offset, ..Default::default() };
            for pick in selected {
                let Some((facet, value)) = pick.split_once('=') else {
                    bail!("--select takes FACET=VALUE, not {pick:?}");
                };
                query.selected.entry(facet.to_owned()).or_default().insert(value.to_owned());
            }
            for by in sort {
                let (column, descending) = match by.rsplit_once(':') {
                    Some((column, "desc")) => (column, true),
                    Some((column, "asc")) => (column, false),
                    _ => (by.as_str(), false),
                };
                query.sort.push(SearchSort { column: column.to_owned(), descending });
            }
            let client = client(&connect);
            if watch {
                return watch_search(&client, &index, query, json).await;
            }
            let found = online(|| client.search(&index, query.clone())).await?;
            answered(found, |found| print_found(&found, json))
        }
        Cmd::Command { command: CommandCmd::Drop { name, connect } } => {
            let client = client(&connect);
            answered(online(|| client.drop_command(&name)).await?, |()| format!("dropped command {name}"))
        }
        Cmd::View { command: ViewCmd::Drop { name, connect } } => {
            let client = client(&connect);
            match online(|| client.drop_view(&name)).await? {
                Ok(()) => {
                    println!("dropped {name}");
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(1)
                }
            }
        }
    }
}

fn client(connect: &Connect) -> Client {
    Client::connect(ClientConfig::servers([connect.server.as_str()]).token(connect.token.clone()))
}

fn print_line(value: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()?;
    Ok(())
}

fn print_rows(rows: &[Row]) -> Result<()> {
    rows.iter().try_for_each(|r| print_line(&Value::Object(r.row.clone())))
}

async fn watch(client: &Client, query: Query, once: bool) -> Result<()> {
    let mut events = client.subscribe(query);
    let mut first = true;
    while let Some(event) = events.next().await {
        match event {
            ViewEvent::Snapshot { rows, resynced, .. } => {
                if first {
                    print_rows(&rows)?;
                } else {
                    tracing::info!(?resynced, "view resent; printing it again after a reset line");
                    print_line(&json!({ "op": "reset" }))?;
                    for r in &rows {
                        print_line(&json!({ "op": "upsert", "key": r.key, "row": r.row }))?;
                    }
                }
                first = false;
                if once {
                    return Ok(());
                }
            }
            ViewEvent::Delta(delta) => {
                for op in &delta.ops {
                    print_line(&serde_json::to_value(op)?)?;
                }
            }
            ViewEvent::Status(Status::Offline { retry_in, reason }) => {
                if once {
                    bail!("{reason}");
                }
                tracing::warn!("offline ({reason}); retrying in {retry_in:?}");
            }
            ViewEvent::Status(status) => tracing::debug!(?status, "status"),
            ViewEvent::Resumed { at } => tracing::info!(version = at.version, "resumed"),
            ViewEvent::Failed { code, message } => bail!("{code}: {message}"),
        }
    }
    Ok(())
}

/// Prints a live search's answer each time it changes (a blank line between answers in text).
async fn watch_search(client: &Client, index: &str, query: SearchQuery, json: bool) -> Result<u8> {
    let mut events = client.watch_search(index, query);
    while let Some(event) = events.next().await {
        match event {
            SearchEvent::Found(found) => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", print_found(&found, json))?;
                if !json {
                    writeln!(out)?;
                }
                out.flush()?;
            }
            SearchEvent::Status(Status::Offline { retry_in, reason }) => {
                tracing::warn!("offline ({reason}); retrying in {retry_in:?}");
            }
            SearchEvent::Status(status) => tracing::debug!(?status, "status"),
            SearchEvent::Failed { code, message } => {
                eprintln!("error ({code}): {message}");
                return Ok(1);
            }
        }
    }
    Ok(0)
}

async fn send(client: &Client, name: &str, payload: &str, timeout: f64, server: &str) -> Result<u8> {
    let payload: Value = serde_json::from_str(payload).context("the payload is not valid JSON")?;
    let answer = tokio::time::timeout(Duration::from_secs_f64(timeout), client.send(name, payload)).await;
    match answer {
        Ok(Ok(ack)) => {
            print_line(&serde_json::to_value(&ack)?)?;
            Ok(0)
        }
        Ok(Err(CommandError::Rejected { code, message })) => {
            print_line(&json!({ "rejected": true, "code": code, "message": message }))?;
            Ok(1)
        }
        Ok(Err(e)) => bail!("{e}"),
        Err(_) => bail!("no answer within {timeout}s (is the server at {server} running?)"),
    }
}

/// Runs a request that needs a live connection, retrying while the client connects (10 s).
async fn online<T, F: Future<Output = Result<T, ClientError>>>(
    mut request: impl FnMut() -> F,
) -> Result<Result<T, ClientError>> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match request().await {
                Err(ClientError::Offline(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                other => return other,
            }
        }
    })
    .await
    .context("no answer within 10s (is the server running?)")
}

/// A search's answer: one JSON object, or the total, one line per row (its key, the typos, its
/// columns as JSON) and one line per facet.
fn print_found(found: &Found, json: bool) -> String {
    if json {
        return serde_json::to_string(found).unwrap_or_default();
    }
    let mut out = vec![format!("{} found", found.total)];
    for hit in &found.hits {
        let typos = match hit.typos {
            0 => String::new(),
            1 => " (1 typo)".to_owned(),
            n => format!(" ({n} typos)"),
        };
        out.push(format!("{}{typos} {}", hit.key, serde_json::Value::Object(hit.row.clone())));
    }
    for (facet, counts) in &found.facets {
        let counts: Vec<String> = counts.iter().map(|c| format!("{} {}", c.value, c.count)).collect();
        out.push(format!("{facet}: {}", counts.join(", ")));
    }
    out.join("\n")
}

/// Prints a server's answer: exit 0 with `done`, 1 with the server's refusal.
fn answered<T>(result: Result<T, ClientError>, done: impl FnOnce(T) -> String) -> Result<u8> {
    match result {
        Ok(value) => {
            println!("{}", done(value));
            Ok(0)
        }
        Err(ClientError::Server { code, message }) => {
            eprintln!("error ({code}): {message}");
            Ok(1)
        }
        Err(e) => bail!("{e}"),
    }
}

async fn define(client: &Client, sql: &str) -> Result<u8> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("building {msg} [{bar:30}] {pos}/{len} events")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = online(|| {
        let bar = bar.clone();
        client.define_view(sql, move |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
    })
    .await?;
    bar.finish_and_clear();
    match result {
        Ok(view) => {
            println!("{} is live (epoch {}, {} rows)", view.name, view.at.epoch, view.rows);
            Ok(0)
        }
        Err(ClientError::Server { code, message }) => {
            eprintln!("error ({code}): {message}");
            Ok(1)
        }
        Err(e) => bail!("{e}"),
    }
}

async fn list(client: &Client, as_json: bool) -> Result<()> {
    let views = online(|| client.list_views()).await??;
    for v in views {
        if as_json {
            print_line(&serde_json::to_value(&v)?)?;
        } else {
            println!(
                "{}  (epoch {}, version {}, {} rows)\n  {}\n",
                v.name, v.at.epoch, v.at.version, v.rows, v.sql
            );
        }
    }
    Ok(())
}

async fn serve_cmd(args: Serve) -> Result<()> {
    let views_sql = match (&args.views, args.demo) {
        (Some(path), _) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        (None, true) => demo::VIEWS_SQL.to_owned(),
        (None, false) => bail!("give the views with --views FILE.sql (or run --demo)"),
    };
    let defs = lucarne_server::sql::parse_views(&views_sql).context("in the views")?;
    let searches = lucarne_server::search::parse_search_indexes(&views_sql).context("in the views")?;
    let mut commands = if args.demo { demo::commands() } else { Commands::new() };
    for spec in &args.commands {
        commands = lucarne_server::commands::parse_routes(spec, commands).map_err(anyhow::Error::msg)?;
    }
    if commands.names().is_empty() {
        tracing::warn!("no commands are configured (use --command STREAM:NAME or --demo)");
    }
    let mut store =
        Store::open(&args.data).with_context(|| format!("cannot open {}", args.data.display()))?;
    if args.cluster.nats.is_some() {
        store.set_numbering(lucarne_server::store::Numbering::Log);
    }
    if args.row_cache_dirty > args.row_cache {
        bail!("--row-cache-dirty ({}) cannot exceed --row-cache ({})", args.row_cache_dirty, args.row_cache);
    }
    store.set_row_cache(RowCacheLimits {
        rows: args.row_cache,
        dirty: args.row_cache_dirty,
        ..RowCacheLimits::default()
    });
    let rebuilt = store.install_views(defs, |view, done, head| {
        if done == head || done % 50_000 == 0 {
            tracing::info!("building view {view}: {done}/{head} events");
        }
    })?;
    if !rebuilt.is_empty() {
        tracing::info!("built views from the log: {}", rebuilt.join(", "));
    }
    check_preconditions(&commands, &store)?;
    // Who may define views is the gateway's decision (tokens' `define`, or --allow-define for
    // anonymous clients of an open server).
    let policy = lucarne_server::engine::ViewPolicy {
        allow_define: true,
        max_backfill_events: args.max_backfill_events,
    };
    let engine = match &args.cluster.nats {
        None => lucarne_server::Engine::with_policy(store, commands, policy),
        Some(urls) => {
            let node_id = args.cluster.node_id.clone().unwrap_or_else(|| {
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                format!("{}:{}", host.trim(), args.listen.port())
            });
            let config = lucarne_server::engine::ClusterConfig {
                urls: urls.clone(),
                stream: args.cluster.stream.clone(),
                replicas: args.cluster.replicas,
                node_id,
                duplicate_window: args.cluster.duplicate_window.map(Duration::from_secs_f64),
            };
            lucarne_server::Engine::cluster(store, commands, policy, config)
                .await
                .with_context(|| format!("cannot join the cluster at {urls}"))?
        }
    };
    if let Some(push) = args.push.config()? {
        let kept = engine.enable_push(push).await?;
        tracing::info!("pushes on: {kept} registrations kept from before");
    }
    let web_dir = lucarne_server::web::resolve_dir(args.web_dir.clone());
    let config = GatewayConfig {
        ping_interval: Duration::from_secs_f64(args.ping_interval.max(0.1)),
        web_dir: web_dir.clone(),
        ..token::gateway_config(&args.security, args.listen, &args.data, args.demo, args.allow_define)?
    };
    raise_open_files_limit();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    if args.demo {
        let empty = engine.head().await? == 0;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() ^ u64::from(d.subsec_nanos()).rotate_left(32));
        let client_id = format!("demo-{seed:x}");
        // Order ids go on after the highest one, whatever else the log holds.
        let first_order = demo::next_order(&engine).await;
        let mut generator = demo::Generator::new(engine.clone(), client_id, first_order, seed);
        if empty {
            generator.burst(args.demo_seed).await.map_err(|r| anyhow::anyhow!("seeding the demo: {r}"))?;
            tracing::info!("demo: seeded {} commands", args.demo_seed);
        }
        if args.demo_rate > 0.0 {
            tokio::spawn(generator.run(args.demo_rate));
        }
    }
    // The views file's search indexes, defined through the log where they differ from it.
    for def in searches {
        if engine.search_def(&def.name).map(|d| d.sql) != Some(def.sql.clone()) {
            engine
                .define_search(&def.sql)
                .await
                .with_context(|| format!("in the views: the search index {}", def.name))?;
            tracing::info!("defined the search index {} from the views", def.name);
        }
    }
    if let Some(web) = web_dir {
        tracing::info!("serving the browser bundle from {} at http://{addr}/", web.display());
    }
    tracing::info!(
        "lucarne serving on http://{addr} (WebSocket ws://{addr}/ws, data {})",
        args.data.display()
    );
    lucarne_server::serve(listener, engine, config, shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Every `--command … ON VIEW(FIELD) WHEN …` names a view the server has and its columns.
fn check_preconditions(commands: &Commands, store: &Store) -> Result<()> {
    let views = store.views()?;
    for (name, p) in commands.preconditions() {
        let Some(view) = views.iter().find(|v| v.name == p.view) else {
            let known: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
            bail!(
                "--command {name} ON {}({}): no view named {:?} (views: {})",
                p.view,
                p.key_field,
                p.view,
                known.join(", ")
            );
        };
        let columns: Vec<&str> = view.columns.iter().filter(|c| !c.hidden).map(|c| c.name.as_str()).collect();
        if let Some(missing) = p.columns().into_iter().find(|c| !columns.contains(&c.as_str())) {
            bail!(
                "--command {name} ON {}({}): the view has no column {missing:?} (columns: {})",
                p.view,
                p.key_field,
                columns.join(", ")
            );
        }
    }
    Ok(())
}

/// Each connection is an open file: the soft limit (often 1 024) goes up to the hard one.
fn raise_open_files_limit() {
    #[cfg(unix)]
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!("open files limit: {limit}"),
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        // clap's own checks (unique names, valid conflicts) of every subcommand.
        Cli::command().debug_assert();
    }

    use super::*;
    use clap::CommandFactory;
    use lucarne_protocol::Op;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["lucarne", "watch", "orders", "--once", "--server", "ws://x/ws"]);
        assert!(matches!(cli, Ok(Cli { command: Cmd::Watch { once: true, .. } })));
        assert!(Cli::try_parse_from(["lucarne", "serve", "--listen", "nonsense"]).is_err());
    }

    #[test]
    fn ops_print_as_tagged_json() {
        let op = Op::Remove { key: json!("o-1") };
        assert_eq!(serde_json::to_value(&op).ok(), Some(json!({"op": "remove", "key": "o-1"})));
    }
}
