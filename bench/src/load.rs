//! Closed-loop load: N clients, each sending its next request as soon as
//! the last one answered, for a warm-up and then a measured interval.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use crate::{
    client::{Gql, Reply, usd},
    seed::User,
    stats::{Latencies, ProcWatch, cpu_seconds},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Each client sends from its own share of the users to random others.
    Spread,
    /// Every transfer leaves one wallet (user 0): a payroll account.
    Hot,
}

pub struct Plan {
    pub clients: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub server_pid: Option<String>,
}

/// What one client saw during the measured interval.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    ok: u64,
    errors: BTreeMap<String, u64>,
    statuses: BTreeMap<String, u64>,
    replays: u64,
    replay_mismatch: u64,
    total_sent: u64,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.latencies.merge(o.latencies);
        self.ok += o.ok;
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.replays += o.replays;
        self.replay_mismatch += o.replay_mismatch;
        self.total_sent += o.total_sent;
    }
}

const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { id status } }";

pub const NESTED_READ: &str = "query($n: Int!) { me { wallets { balance { amount } } transactions(first: $n) { edges { node { amount { amount } status createdAt sender { displayName } receiver { displayName } } } } } }";

/// The same read in PostGraphile's schema (bench/postgraphile): the user by
/// id, as PostGraphile runs with no authentication; `transactions` and
/// `displayName` are the computed columns of `computed-columns.sql`.
pub const NESTED_READ_POSTGRAPHILE: &str = "query($id: UUID!, $n: Int!) { userByUserId(userId: $id) { walletsByUserId { nodes { balanceMinor } } transactions(first: $n) { nodes { amountMinor status createdAt userBySenderId { displayName } userByReceiverId { displayName } } } } }";

/// Whose server benchmark 4 reads from.
pub enum ReadTarget {
    /// paygraph, each user with their own token.
    Paygraph { metrics_url: String },
    /// PostGraphile, each user by id (`user_ids[i]` is `users[i]`'s).
    Postgraphile { user_ids: Vec<String> },
}

/// Runs `clients` loops of `step` and summarises them as one JSON result.
async fn drive<F, Fut>(label: &str, plan: &Plan, step: F) -> (Tally, Value)
where
    F: Fn(usize, Instant) -> Fut,
    Fut: std::future::Future<Output = Tally> + Send + 'static,
{
    let gen_cpu0 = cpu_seconds("self").unwrap_or(0.0);
    let watch = ProcWatch::start(plan.server_pid.clone());
    let start = Instant::now();
    let handles: Vec<_> = (0..plan.clients)
        .map(|c| tokio::spawn(step(c, start)))
        .collect();
    let mut tally = Tally::default();
    for h in handles {
        tally.merge(h.await.expect("a client task"));
    }
    let wall = start.elapsed();
    let gen_cpu = cpu_seconds("self").unwrap_or(0.0) - gen_cpu0;
    let (server_cpu, server_rss) = watch.finish();
    tally.latencies.sort();
    let secs = plan.measure.as_secs_f64();
    let result = json!({
        "label": label,
        "clients": plan.clients,
        "seconds": secs,
        "ok": tally.ok,
        "rate": tally.ok as f64 / secs,
        "p50_ms": tally.latencies.quantile_ms(0.50),
        "p99_ms": tally.latencies.quantile_ms(0.99),
        "max_ms": tally.latencies.quantile_ms(1.0),
        "errors": tally.errors,
        "statuses": tally.statuses,
        "replays": tally.replays,
        "replay_mismatch": tally.replay_mismatch,
        "requests_all": tally.total_sent,
        "generator_cpu_s": gen_cpu,
        "wall_s": wall.as_secs_f64(),
        "server_cpu_s": server_cpu,
        "server_peak_rss_kib": server_rss,
    });
    (tally, result)
}

/// Counters from the server's metrics page, in order; 0 where missing.
async fn counters<const N: usize>(gql: &Gql, metrics_url: &str, names: [&str; N]) -> [f64; N] {
    let mut values = [0.0; N];
    for (value, name) in values.iter_mut().zip(names) {
        *value = gql.counter(metrics_url, name).await.unwrap_or(0.0);
    }
    values
}

/// The server's counters a transfer run reads before and after: its SQL
/// statements, the time spent in them, its transfer batches and the
/// requests they took.
const TRANSFER_COUNTERS: [&str; 4] = [
    "paygraph_db_statements_total",
    "paygraph_db_statement_duration_seconds_sum",
    "paygraph_transfer_batches_total",
    "paygraph_transfer_batched_requests_total",
];

pub async fn transfers(
    gql: &Gql,
    users: Arc<Vec<User>>,
    plan: &Plan,
    mode: Mode,
    replay_percent: u32,
    label: &str,
    metrics_url: &str,
) -> Value {
    let [n0, db_t0, b0, r0] = counters(gql, metrics_url, TRANSFER_COUNTERS).await;
    let (warmup, end) = (plan.warmup, plan.warmup + plan.measure);
    let clients = plan.clients;
    let (_, result) = drive(label, plan, |c, start| {
        let gql = gql.clone();
        let users = users.clone();
        let label = label.to_owned();
        async move {
            let mut rng = StdRng::seed_from_u64(c as u64 + 1);
            let mut tally = Tally::default();
            // Requests this client sent before: (sender, variables, transaction id).
            let mut sent: Vec<(usize, Value, String)> = Vec::new();
            let mut n = 0u64;
            loop {
                let t0 = Instant::now();
                let since = t0 - start;
                if since >= end {
                    break;
                }
                let replay = replay_percent > 0
                    && !sent.is_empty()
                    && rng.gen_range(0..100) < replay_percent;
                let (sender, vars, expect) = if replay {
                    let (s, v, id) = &sent[rng.gen_range(0..sent.len())];
                    (*s, v.clone(), Some(id.clone()))
                } else {
                    let sender = match mode {
                        Mode::Hot => 0,
                        Mode::Spread => {
                            let share = (users.len() - c).div_ceil(clients);
                            c + clients * rng.gen_range(0..share)
                        }
                    };
                    let mut to = rng.gen_range(0..users.len() - 1);
                    if to >= sender {
                        to += 1;
                    }
                    n += 1;
                    let vars = json!({"i": {
                        "recipientEmail": users[to].email,
                        "amount": usd(rng.gen_range(1..=99)),
                        "currency": "USD",
                        "description": "bench",
                        "idempotencyKey": format!("{label}-c{c}-{n}"),
                    }});
                    (sender, vars, None)
                };
                let reply = gql
                    .call(Some(&users[sender].token), TRANSFER, vars.clone())
                    .await;
                let measured = since >= warmup;
                if measured {
                    tally.latencies.record(t0.elapsed());
                }
                tally.total_sent += 1;
                match reply {
                    Reply::Data(d) => {
                        let id = d["transfer"]["id"].as_str().unwrap_or_default().to_owned();
                        let status = d["transfer"]["status"].as_str().unwrap_or("?").to_owned();
                        if let Some(want) = expect {
                            if measured {
                                tally.replays += 1;
                            }
                            if want != id {
                                tally.replay_mismatch += 1;
                            }
                        } else {
                            sent.push((sender, vars, id));
                        }
                        if measured {
                            tally.ok += 1;
                            *tally.statuses.entry(status).or_default() += 1;
                        }
                    }
                    Reply::Error(code) => {
                        // Errors are counted whenever they happen: none may hide in the warm-up.
                        *tally.errors.entry(code).or_default() += 1;
                    }
                }
            }
            tally
        }
    })
    .await;
    let [n1, db_t1, b1, r1] = counters(gql, metrics_url, TRANSFER_COUNTERS).await;
    let mut result = result;
    if b1 > b0 {
        result["requests_per_batch"] = json!((r1 - r0) / (b1 - b0));
    }
    // Over every request of the run, warm-up included.
    let all = result["requests_all"].as_f64().unwrap_or(1.0).max(1.0);
    result["statements_per_request"] = json!((n1 - n0) / all);
    result["db_ms_per_request"] = json!((db_t1 - db_t0) * 1000.0 / all);
    result
}

pub async fn nested_reads(
    gql: &Gql,
    users: Arc<Vec<User>>,
    plan: &Plan,
    page: u32,
    target: &ReadTarget,
    label: &str,
) -> anyhow::Result<Value> {
    let (warmup, end) = (plan.warmup, plan.warmup + plan.measure);
    let statements = async || match target {
        ReadTarget::Paygraph { metrics_url } => gql
            .counter(metrics_url, "paygraph_db_statements_total")
            .await
            .map(Some),
        ReadTarget::Postgraphile { .. } => Ok(None),
    };
    let before = statements().await?;
    let target = Arc::new(match target {
        ReadTarget::Paygraph { .. } => None,
        ReadTarget::Postgraphile { user_ids } => Some(user_ids.clone()),
    });
    let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (_, mut result) = drive(label, plan, |c, start| {
        let gql = gql.clone();
        let users = users.clone();
        let counted = counted.clone();
        let target = target.clone();
        async move {
            let mut rng = StdRng::seed_from_u64(c as u64 + 1000);
            let mut tally = Tally::default();
            loop {
                let t0 = Instant::now();
                let since = t0 - start;
                if since >= end {
                    break;
                }
                let i = rng.gen_range(0..users.len());
                let reply = match target.as_ref() {
                    None => {
                        gql.call(Some(&users[i].token), NESTED_READ, json!({"n": page}))
                            .await
                    }
                    Some(ids) => {
                        let vars = json!({"id": ids[i], "n": page});
                        gql.call(None, NESTED_READ_POSTGRAPHILE, vars).await
                    }
                };
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if since >= warmup {
                    tally.latencies.record(t0.elapsed());
                }
                match reply {
                    Reply::Data(_) => {
                        if since >= warmup {
                            tally.ok += 1;
                        }
                    }
                    Reply::Error(code) => *tally.errors.entry(code).or_default() += 1,
                }
            }
            tally
        }
    })
    .await;
    let after = statements().await?;
    let requests = counted.load(std::sync::atomic::Ordering::Relaxed);
    result["page_size"] = json!(page);
    result["requests_all"] = json!(requests);
    if let (Some(before), Some(after)) = (before, after) {
        result["statements"] = json!(after - before);
        result["statements_per_request"] = json!((after - before) / requests.max(1) as f64);
    }
    Ok(result)
}
