//! paygraph's load generator. `bench/run` drives it beside the baselines
//! (pgbench) in one run; each subcommand prints human lines on stderr and
//! one JSON result on stdout.

mod client;
mod load;
mod seed;
mod stats;
mod subs;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::{
    client::Gql,
    load::{Mode, Plan, ReadTarget},
    seed::User,
};

#[derive(Parser)]
#[command(about = "Load benchmarks for paygraph (run them with bench/run)")]
struct Cli {
    /// The server's GraphQL endpoint.
    #[arg(long, default_value = "http://127.0.0.1:18931/graphql", global = true)]
    url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Load {
    /// The seeded users (from `seed`).
    #[arg(long)]
    users: PathBuf,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// The server's pid: its CPU time and peak RSS are reported.
    #[arg(long)]
    server_pid: Option<String>,
    #[arg(long, default_value = "run")]
    label: String,
    /// The server's Prometheus page (statements per request).
    #[arg(long, default_value = "http://127.0.0.1:18931/metrics")]
    metrics_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Registers users, each with a USD wallet funded by a settled card deposit.
    Seed {
        #[arg(long, default_value_t = 200)]
        users: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Decimal string, USD.
        #[arg(long, default_value = "100000.00")]
        deposit: String,
        /// Distinguishes this run's emails.
        #[arg(long, default_value = "r")]
        run: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Transfer throughput (benchmarks 1, 2 and 3).
    Transfers {
        #[command(flatten)]
        load: Load,
        #[arg(long, value_enum, default_value_t = Mode::Spread)]
        mode: Mode,
        /// Percent of requests that replay an earlier idempotency key.
        #[arg(long, default_value_t = 0)]
        replay_percent: u32,
    },
    /// The nested `me { wallets transactions(first: N) ... }` read (benchmark 4).
    Reads {
        #[command(flatten)]
        load: Load,
        #[arg(long, default_value_t = 50)]
        page: u32,
        /// Read from PostGraphile (bench/postgraphile) instead of paygraph:
        /// a JSON array of the users' ids, in the order of `--users`.
        #[arg(long)]
        postgraphile_ids: Option<PathBuf>,
    },
    /// K graphql-transport-ws sockets and a stream of transfers (benchmark 5).
    Subscriptions {
        #[arg(long)]
        users: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        #[arg(long, default_value_t = 200)]
        transfers: usize,
        /// Transfers started per second.
        #[arg(long, default_value_t = 20)]
        per_second: u64,
        #[arg(long)]
        server_pid: Option<String>,
    },
}

fn read_users(path: &PathBuf) -> anyhow::Result<Arc<Vec<User>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    Ok(Arc::new(serde_json::from_str(&text)?))
}

fn plan(l: &Load) -> Plan {
    Plan {
        clients: l.clients,
        warmup: Duration::from_secs(l.warmup),
        measure: Duration::from_secs(l.secs),
        server_pid: l.server_pid.clone(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Seed {
            users,
            concurrency,
            deposit,
            run,
            out,
        } => {
            let gql = Gql::new(&cli.url, concurrency);
            let seeded = seed::seed(&gql, &run, users, concurrency, &deposit).await?;
            std::fs::write(&out, serde_json::to_vec(&seeded)?)?;
            eprintln!("seeded {} users into {out:?}", seeded.len());
        }
        Command::Transfers {
            load,
            mode,
            replay_percent,
        } => {
            let users = read_users(&load.users)?;
            anyhow::ensure!(users.len() > load.clients, "need more users than clients");
            let gql = Gql::new(&cli.url, load.clients);
            let result = load::transfers(
                &gql,
                users,
                &plan(&load),
                mode,
                replay_percent,
                &load.label,
                &load.metrics_url,
            )
            .await;
            println!("{result}");
        }
        Command::Reads {
            load,
            page,
            postgraphile_ids,
        } => {
            let users = read_users(&load.users)?;
            let target = match postgraphile_ids {
                None => ReadTarget::Paygraph {
                    metrics_url: load.metrics_url.clone(),
                },
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {path:?}"))?;
                    let user_ids: Vec<String> = serde_json::from_str(&text)?;
                    anyhow::ensure!(user_ids.len() == users.len(), "one id per user");
                    ReadTarget::Postgraphile { user_ids }
                }
            };
            let gql = Gql::new(&cli.url, load.clients);
            let result =
                load::nested_reads(&gql, users, &plan(&load), page, &target, &load.label).await?;
            println!("{result}");
        }
        Command::Subscriptions {
            users,
            sockets,
            transfers,
            per_second,
            server_pid,
        } => {
            let users = read_users(&users)?;
            let gql = Gql::new(&cli.url, 32);
            let ws_url = cli.url.replacen("http", "ws", 1);
            let plan = subs::SubsPlan {
                sockets,
                transfers,
                per_second,
                server_pid,
            };
            let result = subs::run(&gql, &ws_url, users, &plan).await;
            println!("{result}");
        }
    }
    Ok(())
}
