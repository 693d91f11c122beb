//! `cluster`: scale-out on NATS JetStream, next to one node, in the same run.
//!
//! 1. Fan-out across nodes: the `fanout` measurement with the publisher's commands sent to node
//!    A and the clients subscribed on node B of a cluster (two Lucarne nodes on a stream of a
//!    3-server NATS cluster, 3 replicas, every write synced where the server can), next to a single
//!    node with its embedded log; latency from the command's send to each client's receipt,
//!    per-node CPU.
//! 2. Ingest: commands acked per second through one node of a cluster (acked once JetStream
//!    stored them on a quorum and the node folded them), next to a single node (group commit,
//!    fsync per batch), routed with no check and checked against the order's row.

use anyhow::Result;

use crate::fanout::{self, Kind, Point};

/// Arguments of `cluster`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Fan-out points, comma separated: CLIENTS@CHANGES_PER_SECOND.
    #[arg(long, value_delimiter = ',', default_value = "1000@100")]
    pub points: Vec<Point>,
    /// Seconds of changes at each point.
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Commands sent for each ingest figure.
    #[arg(long, default_value_t = 20_000)]
    pub ingest: usize,
    /// Commands sent for the ingest figure of commands checked against a row.
    #[arg(long, default_value_t = 20_000)]
    pub checked: usize,
    /// Concurrent ingest clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Commands in flight per ingest client.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
}

pub(crate) async fn run(args: Args) -> Result<()> {
    println!(
        "# cargo xtask bench cluster  (fan-out {}; ingest {} commands, {} checked, {}×{} in flight)",
        args.points.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
        args.ingest,
        args.checked,
        args.clients,
        args.window
    );
    println!("# nats-server: {}", nats_version());
    fanout::run(fanout::Args {
        points: args.points.clone(),
        seconds: args.seconds,
        saturation_clients: 0,
        saturation_seconds: 0.0,
        window: 64,
        servers: vec![Kind::Lucarne, Kind::Cluster],
        keys: 10,
        connect_concurrency: 200,
    })
    .await?;

    println!(
        "\n| ingest (events acked per second) | one node, embedded log | cluster node (3 NATS, R3) | cluster ÷ one node |"
    );
    println!("|---|---|---|---|");
    let nats = lucarne_testing::NatsCluster::start(3);
    for (validated, count, label) in
        [(false, args.ingest, "routed, no check"), (true, args.checked, "checked against the order's row")]
    {
        let single = {
            let dir = tempfile::tempdir()?;
            let (addr, engine) = crate::start_node(dir.path(), validated, None).await?;
            crate::ingest_into(addr, &engine, count, args.clients, args.window).await?
        };
        let clustered = {
            let dir = tempfile::tempdir()?;
            let (addr, engine) = crate::start_node(dir.path(), validated, Some(&nats.urls())).await?;
            crate::ingest_into(addr, &engine, count, args.clients, args.window).await?
        };
        println!("| {label}, {count} commands | {single:.0} | {clustered:.0} | {:.2}× |", clustered / single);
    }
    println!(
        "\nA cluster node acks a command once JetStream stored it on a quorum of its 3 replicas and the \
         node folded it; one node acks after its own fsync'd group commit. Checked commands on a \
         cluster are decided in runs against the rows at the stream's last sequence and appended as \
         a chain that lands whole or breaks where another node's message came between: one stream \
         round trip per run."
    );
    Ok(())
}

fn nats_version() -> String {
    std::process::Command::new(lucarne_testing::nats_server())
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| format!("not found ({e})"))
}
