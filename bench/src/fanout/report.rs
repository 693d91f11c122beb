//! The tables BENCHMARKS.md takes: latency, throughput, CPU and memory side by side.

use super::*;

/// CPU time per change delivered: the server's, and this process's (clients and publisher).
pub(super) fn cpu_per_msg(o: &Outcome) -> String {
    let per = |s: Option<f64>| {
        s.map_or_else(|| "–".into(), |s| format!("{:.1}", s * 1e6 / o.changes.max(1) as f64))
    };
    format!("{}, {}", per(o.server_cpu_s), per(o.clients_cpu_s))
}

pub(super) fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.2} ms"))
}

pub(super) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

pub(super) fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}×"))
}

pub(super) fn print_tables(points: &[(String, Vec<Outcome>)]) {
    println!(
        "\n| point | server | p50 | p99 | max | msgs/s | frames/s | bytes/frame | lost | gaps | CPU µs/msg server, clients | p99 ÷ bare | p99 ÷ nats | msgs/s ÷ bare |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut goals: Vec<String> = Vec::new();
    for (label, outcomes) in points {
        let find = |kind: Kind| outcomes.iter().find(|o| o.kind == kind);
        let bare = find(Kind::Bare);
        let nats = find(Kind::Nats);
        let saturation = label.starts_with("saturation");
        for o in outcomes {
            let p99 = o.pct(0.99);
            let vs_bare = ratio(p99, bare.and_then(|b| b.pct(0.99)));
            let vs_nats = ratio(p99, nats.and_then(|n| n.pct(0.99)));
            let rate_vs_bare = ratio(Some(o.per_s(o.changes)), bare.map(|b| b.per_s(b.changes)));
            println!(
                "| {label} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} |",
                o.kind.label(),
                fmt_ms(o.pct(0.5)),
                fmt_ms(p99),
                fmt_ms(o.pct(1.0)),
                o.per_s(o.changes),
                o.per_s(o.frames),
                o.bytes as f64 / o.frames.max(1) as f64,
                o.lost,
                o.gaps,
                cpu_per_msg(o),
                fmt_ratio(vs_bare),
                fmt_ratio(vs_nats),
                fmt_ratio(rate_vs_bare),
            );
            if o.kind == Kind::Cluster {
                goals.push(goal(&format!("{label}: cluster p99 ≤ 50 ms (ms here)"), p99, |ms| ms <= 50.0));
            } else if o.kind.speaks_lucarne() {
                if saturation {
                    goals.push(goal(&format!("{label}: msgs/s ≥ 0.7× bare"), rate_vs_bare, |r| r >= 0.7));
                } else {
                    if bare.is_some() {
                        goals.push(goal(&format!("{label}: p99 ≤ 1.2× bare"), vs_bare, |r| r <= 1.2));
                    }
                    if nats.is_some() {
                        goals.push(goal(&format!("{label}: p99 ≤ 0.6× nats-server"), vs_nats, |r| {
                            r <= 0.6
                        }));
                    }
                }
            }
            if o.kind.speaks_lucarne() {
                goals.push(format!(
                    "{label}: {} lost {} and gaps {} (goal: none) — {}",
                    o.kind.label(),
                    o.lost,
                    o.gaps,
                    if o.lost == 0 && o.gaps == 0 { "met" } else { "MISSED" }
                ));
            }
        }
    }
    println!(
        "\nmsgs/s: changes delivered per second, summed over clients (a Lucarne delta may carry several \
         commands' changes when they share a commit: frames/s counts frames); latency from the \
         publisher's send (Lucarne: of the command, so the fsync'd commit is included) to the client's receipt; \
         CPU: user + system time of the server process, and of this one (clients, publisher), while changes \
         flowed, per change delivered."
    );
    for (label, outcomes) in points {
        for o in outcomes {
            let mut notes = Vec::new();
            if o.failed > 0 {
                notes.push(format!(
                    "{} of {} clients failed to subscribe ({})",
                    o.failed,
                    o.clients,
                    o.first_error.as_deref().unwrap_or("?")
                ));
            }
            if o.closed_early > 0 {
                notes.push(format!("{} connections closed by the server", o.closed_early));
            }
            if o.errors > 0 {
                notes.push(format!("{} error frames", o.errors));
            }
            if o.publisher.refused > 0 {
                notes.push(format!(
                    "{} refusals to the publisher, first: {}",
                    o.publisher.refused,
                    o.publisher.first_refusal.as_deref().unwrap_or("?")
                ));
            }
            if o.kind.speaks_lucarne() && !o.publisher.acks_us.is_empty() {
                let mut acks = o.publisher.acks_us.clone();
                acks.sort_unstable();
                let at = |p: f64| f64::from(acks[lucarne_testing::rank(acks.len(), p)]) / 1000.0;
                notes.push(format!(
                    "publisher's command → ack p50 {:.2} ms, p99 {:.2} ms",
                    at(0.5),
                    at(0.99)
                ));
            }
            if let Some(cpu) = o.publisher_node_cpu_s {
                notes.push(format!(
                    "node A (takes the commands, folds the stream, no subscribers): {:.1} µs CPU per command; \
                     node B: {:.1} µs per change delivered",
                    cpu * 1e6 / o.published.max(1) as f64,
                    o.server_cpu_s.unwrap_or(0.0) * 1e6 / o.changes.max(1) as f64
                ));
            }
            if !notes.is_empty() {
                println!(
                    "- {label}, {}: {} changes published; {}",
                    o.kind.label(),
                    o.published,
                    notes.join("; ")
                );
            }
        }
    }

    if let Some((label, outcomes)) = points.iter().max_by_key(|(_, o)| o.first().map_or(0, |o| o.ready)) {
        println!(
            "\n| memory per idle subscribed connection ({label}) | RSS before | RSS with the clients idle | per connection |"
        );
        println!("|---|---|---|---|");
        for o in outcomes {
            let kib =
                |v: Option<u64>| v.map_or_else(|| "–".into(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
            println!(
                "| {} ({} connections) | {} | {} | {} |",
                o.kind.label(),
                o.ready,
                kib(o.rss_before_kib),
                kib(o.rss_idle_kib),
                o.per_connection_kib().map_or_else(|| "–".into(), |k| format!("{k:.1} KiB"))
            );
            if o.kind == Kind::Lucarne {
                goals.push(goal(
                    &format!("{label}: memory per idle connection ≤ 12 KB (KiB here)"),
                    o.per_connection_kib(),
                    |k| k <= 12.0,
                ));
            }
        }
    }
    println!("\nGoals (lucarne):");
    for g in goals {
        println!("- {g}");
    }
}

pub(super) fn goal(what: &str, value: Option<f64>, met: impl Fn(f64) -> bool) -> String {
    match value {
        Some(v) => format!("{what}: {v:.2} — {}", if met(v) { "met" } else { "MISSED" }),
        None => format!("{what}: not measured"),
    }
}
