//! PDF export, side by side with headless Chromium in the same run.
//!
//! - Our export of a 1 000-row order table (document mode, paginated, every row drawn) against
//!   Debian's `chromium --headless --print-to-pdf` of the same rows as a plain HTML table:
//!   median wall time, file size, peak memory (GNU `time`'s maximum resident set, of Chromium's
//!   whole process tree as the kernel accounts it for the waited child; ours is this process's).
//! - The same table with every customer and region written differently (`o-0006`'s customer is
//!   `Ada Lovelace 6`): their texts are then shaped each for itself, where the first table shapes
//!   its repeated names and regions once (`lucarne_widgets::reuse_paragraphs`); statuses and
//!   the header still repeat. Its ratio divides Chromium's time on the first table by ours on
//!   this one.
//! - The export time of the reference app's main screen (one page).
//!
//! `cargo xtask bench pdf [ROWS RUNS]` (release build). Chromium is skipped, with a line
//! saying so, when `/usr/bin/chromium` is missing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lucarne::pdf::Exported;
use lucarne::protocol::{Position, Row};
use lucarne::{Client, ClientConfig, ViewEvent};
use lucarne_app::export::{Screen, export, options};
use lucarne_app::{Desk, Message, update};
use serde_json::json;

const CUSTOMERS: [&str; 6] =
    ["Ada Lovelace", "Grace Hopper", "مريم العلي", "יוסף לוי", "Alan Turing", "عمر الخيام"];

fn order(i: usize) -> (String, String, &'static str, f64, &'static str) {
    let region = ["eu", "us", "mena", "apac"][i % 4];
    let status = ["placed", "paid", "shipped", "cancelled"][(i / 4) % 4];
    (
        format!("o-{i:04}"),
        CUSTOMERS[i % CUSTOMERS.len()].to_owned(),
        region,
        (i * 37 % 1000) as f64 + 0.5,
        status,
    )
}

/// The rows of the table: as [`order`] gives them, or with every customer and region distinct.
fn desk(rows: usize, distinct: bool) -> Desk {
    let mut desk = Desk::with_client(Client::connect(ClientConfig::new("ws://127.0.0.1:9/ws")));
    let rows = (0..rows)
        .map(|i| {
            let (id, customer, region, total, status) = order(i);
            let (customer, region) =
                if distinct { (format!("{customer} {i}"), format!("{region}-{i}")) } else { (customer, region.to_owned()) };
            let row = json!({"order_id": id, "customer": customer, "region": region, "total": total, "status": status});
            Row { key: json!(id), row: row.as_object().cloned().unwrap_or_default() }
        })
        .collect();
    let _ = update(
        &mut desk,
        Message::Orders(ViewEvent::Snapshot { at: Position { epoch: 1, version: 1 }, rows, resynced: None }),
    );
    desk
}

fn html(rows: usize) -> String {
    let mut page = String::from(
        "<!doctype html><meta charset=utf-8><title>Orders</title><style>body{font-family:'Noto Sans',sans-serif;font-size:13px}\
         table{border-collapse:collapse;width:100%}td,th{padding:2px 6px;text-align:left}td.n{text-align:right}\
         tr:nth-child(even){background:#f2f4f7}</style><table><thead><tr><th>Order<th>Customer<th>Region<th>Total<th>Status</thead><tbody>",
    );
    for i in 0..rows {
        let (id, customer, region, total, status) = order(i);
        page.push_str(&format!("<tr><td>{id}<td>{customer}<td>{region}<td class=n>{total:.2}<td>{status}"));
    }
    page.push_str("</tbody></table>");
    page
}

/// Exports `screen` of `desk` `runs` times: the median time and the last file.
fn timed(desk: &Desk, screen: Screen, runs: usize) -> (Duration, Exported) {
    let options = options(desk, screen);
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let exported = export(desk, screen, &options, &mut |_| {}).expect("export");
        times.push(started.elapsed());
        last = Some(exported);
    }
    (median(times), last.expect("at least one run"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One Chromium print: wall time, file size, peak RSS in KiB (from GNU time).
fn chromium_print(input: &Path, output: &Path) -> Option<(Duration, u64, u64)> {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "/usr/bin/chromium", "--headless", "--no-sandbox", "--no-first-run"])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
        ])
        .args(["--disable-gpu", "--no-pdf-header-footer"])
        .arg(format!("--print-to-pdf={}", output.display()))
        .arg(format!("file://{}", input.display()))
        .output()
        .ok()?;
    let wall = started.elapsed();
    if !out.status.success() {
        eprintln!("chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr.lines().rev().find_map(|l| l.trim().parse::<u64>().ok()).unwrap_or(0);
    Some((wall, std::fs::metadata(output).ok()?.len(), rss))
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rows = args.first().copied().unwrap_or(1_000);
    let runs = args.get(1).copied().unwrap_or(7).max(1);
    let desk = desk(rows, false);

    let (ours_time, ours) = timed(&desk, Screen::Orders, runs);
    let ours_rss = peak_rss_kib();
    let (distinct_time, distinct) = timed(&self::desk(rows, true), Screen::Orders, runs);
    let distinct_pages = distinct.pages;

    let (main_time, _) = timed(&desk, Screen::Main, runs.max(10));

    println!("PDF export, {rows} orders, median of {runs} runs (release)");
    println!("{:<36} {:>10} {:>8} {:>11} {:>12}", "", "time", "pages", "size", "peak memory");
    println!(
        "{:<36} {:>7.1} ms {:>8} {:>8} KB {:>8} MiB",
        "lucarne-pdf: order table",
        ours_time.as_secs_f64() * 1e3,
        ours.pages,
        ours.pdf.len() / 1000,
        ours_rss / 1024
    );
    println!(
        "{:<36} {:>7.1} ms {:>8}  (every customer and region distinct)",
        "lucarne-pdf: order table, distinct",
        distinct_time.as_secs_f64() * 1e3,
        distinct_pages
    );
    let dir = std::env::temp_dir().join(format!("lucarne-pdf-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let input = dir.join("orders.html");
    let output = dir.join("chromium.pdf");
    let chromium = if Path::new("/usr/bin/chromium").exists() && std::fs::write(&input, html(rows)).is_ok() {
        let samples: Vec<(Duration, u64, u64)> =
            (0..runs.min(5)).filter_map(|_| chromium_print(&input, &output)).collect();
        (!samples.is_empty()).then(|| {
            let time = median(samples.iter().map(|s| s.0).collect());
            let size = samples[0].1;
            let rss = samples.iter().map(|s| s.2).max().unwrap_or(0);
            (time, size, rss)
        })
    } else {
        None
    };
    match chromium {
        Some((time, size, rss)) => {
            let pages = Command::new("pdfinfo")
                .arg(&output)
                .output()
                .ok()
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .find_map(|l| l.strip_prefix("Pages:").map(|p| p.trim().to_owned()))
                })
                .unwrap_or_else(|| "?".to_owned());
            println!(
                "{:<36} {:>7.1} ms {:>8} {:>8} KB {:>8} MiB",
                "chromium --print-to-pdf: HTML table",
                time.as_secs_f64() * 1e3,
                pages,
                size / 1000,
                rss / 1024
            );
            println!(
                "ratio: lucarne is {:.1}x faster, file {:.2}x the size (goals: >= 20x, <= 0.2x); the distinct table {:.1}x",
                time.as_secs_f64() / ours_time.as_secs_f64(),
                ours.pdf.len() as f64 / size as f64,
                time.as_secs_f64() / distinct_time.as_secs_f64()
            );
        }
        None => println!("chromium --print-to-pdf: skipped (/usr/bin/chromium missing or failed)"),
    }
    println!(
        "{:<36} {:>7.1} ms {:>8}  (goal <= 20 ms)",
        "lucarne-pdf: main screen",
        main_time.as_secs_f64() * 1e3,
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}
