//! The fault test: two instances over one PostgreSQL database, a Redis and a
//! DynamoDB emulator of the test's own, under a mixed concurrent workload
//! with retried idempotency keys, while
//! - the database's connections are terminated again and again,
//! - one instance (a process of its own) is killed and started again,
//! - Redis is stopped and started again empty,
//! - DynamoDB is paused (SIGSTOP) and resumed (SIGCONT).
//!
//! A client sees none of it: no INTERNAL, no lost session, no request that
//! hangs; money is conserved, every history chain holds, every committed
//! audit event is in DynamoDB exactly once and the outbox drains. A request
//! whose instance died under it is sent again, with the same idempotency
//! key, to the other instance, as a client behind a load balancer would.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Database, Statement};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    dynamo::{
        PrivateMoto, create_tables, fast_relay, free_port, s, scan, use_dynamodb,
        wait_for_empty_outbox,
    },
    helpers::{Backend, CARD_OK, Registered, TestApp, spawn_app_with},
    invariants::ledger_violations,
    redis_outage::PrivateRedis,
};

const CLIENTS: usize = 16;
const USERS: usize = 8;
/// How long the workload runs; the faults are spread over it.
const RUN: Duration = Duration::from_secs(32);
/// At most this share of answers (in percent) may be UNAVAILABLE: the
/// service's retries ran out while connections kept being terminated on a
/// machine shared with the rest of the suite. The client obeys the retry
/// hint, so none of them is an error it keeps; more than this is a
/// regression of the retries themselves.
const MAX_UNAVAILABLE_PERCENT: usize = 3;
/// A request still unanswered after this long counts as hung.
const HANG: Duration = Duration::from_secs(20);

/// A server instance in a process of its own, so it can be killed.
struct Instance {
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Instance {
    fn new(app: &TestApp) -> Self {
        let c = &app.config;
        let port = free_port();
        let mut env: Vec<(String, String)> = vec![
            ("PAYGRAPH_ADDR".into(), format!("127.0.0.1:{port}")),
            (
                "DATABASE_URL".into(),
                c.database.url.expose_secret().to_owned(),
            ),
            ("DATABASE_MAX_CONNECTIONS".into(), "10".into()),
            (
                "REDIS_URL".into(),
                c.redis
                    .url
                    .as_ref()
                    .map(|u| u.expose_secret().to_owned())
                    .unwrap_or_default(),
            ),
            ("REDIS_KEY_PREFIX".into(), c.redis.key_prefix.clone()),
            ("AUDIT_STORE".into(), "dynamodb".into()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB".into(),
                c.audit
                    .aws_endpoint_url
                    .dynamodb
                    .clone()
                    .unwrap_or_default(),
            ),
            (
                "DYNAMODB_TABLE_PREFIX".into(),
                c.audit.dynamodb.table_prefix.clone(),
            ),
            (
                "JWT_SECRET".into(),
                c.auth
                    .jwt
                    .secret
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned())
                    .unwrap_or_default(),
            ),
            (
                "PAYGRAPH_ENCRYPTION_KEY".into(),
                c.auth
                    .encryption
                    .key
                    .as_ref()
                    .map(|k| k.expose_secret().to_owned())
                    .unwrap_or_default(),
            ),
            ("PAYGRAPH_LOG".into(), "error".into()),
        ];
        for (name, value) in [
            ("PAYGRAPH_RATE_LIMIT_AUTH_LIMIT", "10000"),
            ("PAYGRAPH_RATE_LIMIT_READ_LIMIT", "10000"),
            ("PAYGRAPH_RATE_LIMIT_MONEY_LIMIT", "10000"),
            ("PAYGRAPH_PROCESSOR_DELAY_MS", "0"),
            ("PAYGRAPH_SETTLEMENT_POLL_MS", "50"),
            ("PAYGRAPH_AUDIT_RELAY_POLL_MS", "100"),
            ("PAYGRAPH_AUDIT_RELAY_MAX_BACKOFF_MS", "1000"),
            ("FRAUD_VELOCITY_MAX", "1000000"),
        ] {
            env.push((name.into(), value.into()));
        }
        Self {
            port,
            env,
            child: None,
        }
    }

    fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_paygraph"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a paygraph instance");
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = http
                .get(format!("{}/healthz", self.address()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return;
            }
            assert!(Instant::now() < deadline, "the instance never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, requests in flight die with it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    requests: usize,
    /// Requests sent again to the other instance after theirs died.
    resent: usize,
    /// UNAVAILABLE answers, each followed by the same request after the
    /// hinted pause, as a client obeying `retryAfterSeconds` does.
    unavailable: usize,
    ok: usize,
    by_code: HashMap<String, usize>,
    hung: usize,
    longest: Duration,
    /// idempotency key -> the transaction its first success returned.
    by_key: HashMap<String, String>,
    replay_mismatches: usize,
}

struct Customer {
    who: Registered,
    wallet: String,
    card: String,
    account: String,
}

struct Op {
    query: &'static str,
    variables: Value,
    token: String,
    key: Option<String>,
}

const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { id status } }";
const DEPOSIT: &str = "mutation($i: DepositInput!) { deposit(input: $i) { id status } }";
const WITHDRAW: &str = "mutation($i: WithdrawInput!) { withdraw(input: $i) { id status } }";
const READ: &str = "{ me { id wallets { balance { amount } } transactions(first: 10) { edges { node { id status amount { amount } } } } } }";

fn next_op(rng: &mut StdRng, customers: &[Customer], last: &mut Option<(Op, usize)>) -> Op {
    // One in five money requests replays the previous one exactly.
    if let Some((op, _)) = last.as_ref().filter(|_| rng.gen_bool(0.2)) {
        return Op {
            query: op.query,
            variables: op.variables.clone(),
            token: op.token.clone(),
            key: op.key.clone(),
        };
    }
    let me = rng.gen_range(0..customers.len());
    let c = &customers[me];
    let key = Uuid::new_v4().to_string();
    let kind = rng.gen_range(0..10);
    // Deposits large enough to cover the card fee; payments small enough
    // that most find the funds.
    let cents = if kind == 5 {
        rng.gen_range(500..=2_000)
    } else {
        rng.gen_range(1..=300)
    };
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    let (query, input) = match kind {
        0..=4 => {
            let to = (me + rng.gen_range(1..customers.len())) % customers.len();
            (
                TRANSFER,
                json!({"recipientEmail": customers[to].who.email, "amount": amount, "currency": "USD", "idempotencyKey": key}),
            )
        }
        5 => (
            DEPOSIT,
            json!({"walletId": c.wallet, "paymentMethodId": c.card, "amount": amount, "idempotencyKey": key}),
        ),
        6 => (
            WITHDRAW,
            json!({"walletId": c.wallet, "accountId": c.account, "amount": amount, "idempotencyKey": key}),
        ),
        _ => {
            return Op {
                query: READ,
                variables: json!({}),
                token: c.who.token.clone(),
                key: None,
            };
        }
    };
    Op {
        query,
        variables: json!({ "i": input }),
        token: c.who.token.clone(),
        key: Some(key),
    }
}

/// Sends `op` to one instance, and to the other while the first cannot be
/// reached; after an UNAVAILABLE answer, again after its retry hint.
/// Returns the answer, or None when no instance answered in time.
async fn send(
    http: &reqwest::Client,
    addresses: &[String; 2],
    first: usize,
    op: &Op,
    tally: &Mutex<Tally>,
) -> Option<Value> {
    let started = Instant::now();
    let mut target = first;
    loop {
        let sent = http
            .post(format!("{}/graphql", addresses[target]))
            .bearer_auth(&op.token)
            .json(&json!({"query": op.query, "variables": op.variables}))
            .send()
            .await;
        let answer = match sent {
            Ok(res) => res.json::<Value>().await.ok(),
            Err(e) if e.is_timeout() => None,
            Err(_) => None,
        };
        let hint = answer.as_ref().and_then(|body| {
            (body["errors"][0]["extensions"]["code"] == "UNAVAILABLE")
                .then(|| body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64())
                .flatten()
        });
        match (answer, hint) {
            (Some(_), Some(secs)) if started.elapsed() + Duration::from_secs(secs) < HANG => {
                tally.lock().unwrap().unavailable += 1;
                tokio::time::sleep(Duration::from_secs(secs)).await;
                continue;
            }
            (Some(body), _) => {
                let mut t = tally.lock().unwrap();
                t.longest = t.longest.max(started.elapsed());
                return Some(body);
            }
            (None, _) => {}
        }
        if started.elapsed() > HANG {
            let mut t = tally.lock().unwrap();
            t.hung += 1;
            t.longest = t.longest.max(started.elapsed());
            return None;
        }
        tally.lock().unwrap().resent += 1;
        target = 1 - target;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn record(tally: &Mutex<Tally>, op: &Op, body: &Value) {
    let mut t = tally.lock().unwrap();
    t.requests += 1;
    let data = body["data"]
        .as_object()
        .and_then(|d| d.values().next())
        .filter(|v| !v.is_null());
    match (data, body["errors"][0]["extensions"]["code"].as_str()) {
        (Some(data), None) => {
            t.ok += 1;
            if let (Some(key), Some(id)) = (&op.key, data["id"].as_str()) {
                let first = t.by_key.entry(key.clone()).or_insert_with(|| id.to_owned());
                if first != id {
                    t.replay_mismatches += 1;
                }
            }
        }
        (_, code) => {
            let code = code.unwrap_or("no code").to_owned();
            if code != "INSUFFICIENT_FUNDS" {
                eprintln!("chaos: {} -> {body}", op.query);
            }
            *t.by_code.entry(code).or_default() += 1;
        }
    }
}

async fn metric(http: &reqwest::Client, address: &str, name: &str) -> Option<f64> {
    let text = http
        .get(format!("{address}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn customers(app: &TestApp) -> Vec<Customer> {
    let mut out = Vec::new();
    for _ in 0..USERS {
        let who = app.register().await;
        app.set_kyc_verified(&who.id).await;
        let wallet = app.funded_wallet(&who.token, "USD", "200.00").await;
        let card = app.add_card(&who.token, CARD_OK).await;
        let account = app
            .ok("mutation { linkBankAccount(input: {accountType: CHECKING, accountNumber: \"000123456789\", routingNumber: \"021000021\", bankName: \"B\"}) { id } }", json!({}), &who.token)
            .await["linkBankAccount"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        out.push(Customer {
            who,
            wallet,
            card,
            account,
        });
    }
    out
}

/// Ends every connection to the test's database but the caller's own.
async fn terminate_backends(admin: &sea_orm::DatabaseConnection, database: &str) {
    let sql = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    );
    let _ = admin
        .execute_raw(Statement::from_string(admin.get_database_backend(), sql))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_see_no_fault_while_connections_instances_redis_and_dynamodb_fail() {
    let mut redis = PrivateRedis::start();
    let mut moto = PrivateMoto::start(free_port()).await;
    let prefix = crate::dynamo::unique_prefix();
    create_tables(&moto.url, &prefix).await;
    let (redis_url, moto_url) = (redis.url(), moto.url.clone());
    let app = spawn_app_with(Backend::Postgres, |c| {
        c.redis.url = Some(redis_url.into());
        c.redis.tls_ca_file = None;
        fast_relay(c);
        use_dynamodb(c, &moto_url, &prefix);
        c.fraud.velocity_max = 1_000_000;
        c.workers.settlement_poll = Duration::from_millis(50);
    })
    .await;
    let database = app
        .config
        .database
        .url
        .expose_secret()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let admin = Database::connect(crate::helpers::admin_database_url())
        .await
        .expect("PostgreSQL is required for this test");
    let customers = Arc::new(customers(&app).await);
    let mut killed = Instance::new(&app);
    killed.start().await;
    let addresses = Arc::new([app.address.clone(), killed.address()]);

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let (customers, addresses, tally, stop) = (
            customers.clone(),
            addresses.clone(),
            tally.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(HANG).build().unwrap();
            let mut rng = StdRng::seed_from_u64(0xc4a0_5000 + n as u64);
            let mut last = None;
            while !stop.load(Ordering::Relaxed) {
                let op = next_op(&mut rng, &customers, &mut last);
                let first = rng.gen_range(0..2);
                if let Some(body) = send(&http, &addresses, first, &op, &tally).await {
                    record(&tally, &op, &body);
                }
                if op.key.is_some() {
                    last = Some((op, first));
                }
            }
        }));
    }
    // The longest audit lag any instance reported while the faults ran.
    let lag = Arc::new(Mutex::new(0f64));
    let sampler = {
        let (addresses, lag, stop) = (addresses.clone(), lag.clone(), stop.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                for a in addresses.iter() {
                    if let Some(v) = metric(&http, a, "paygraph_audit_relay_lag_seconds").await {
                        let mut l = lag.lock().unwrap();
                        *l = l.max(v);
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let terminator = {
        let (admin, database, stop) = (admin.clone(), database.clone(), stop.clone());
        tokio::spawn(async move {
            // Every 1 to 3 s: often enough that every kind of request meets
            // a terminated connection, with room for a transaction to
            // finish between two rounds on a loaded machine.
            let mut rng = StdRng::seed_from_u64(0x7e4a_11a7);
            let mut terminations = 0;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(1_000..=3_000))).await;
                terminate_backends(&admin, &database).await;
                terminations += 1;
            }
            terminations
        })
    };

    let at = |secs: u64| tokio::time::sleep_until((started + Duration::from_secs(secs)).into());
    at(6).await;
    killed.kill();
    at(9).await;
    killed.start().await;
    at(13).await;
    redis.stop();
    at(17).await;
    redis.start_again();
    at(21).await;
    let moto_pid = moto.pid().expect("moto runs");
    signal(moto_pid, "STOP");
    at(27).await;
    signal(moto_pid, "CONT");
    tokio::time::sleep_until((started + RUN).into()).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("a client task panicked");
    }
    let terminations = terminator.await.unwrap();
    sampler.await.unwrap();

    // Settlement finishes, the outbox drains.
    let deadline = Instant::now() + Duration::from_secs(90);
    while app
        .count("SELECT COUNT(*) AS n FROM transactions WHERE status IN ('pending', 'processing')")
        .await
        > 0
    {
        assert!(Instant::now() < deadline, "settlement never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain_started = Instant::now();
    wait_for_empty_outbox(&app.db, Duration::from_secs(120)).await;
    let drained_in = drain_started.elapsed();

    // Every transaction's events are in DynamoDB, each once.
    let dynamo = crate::dynamo::client(&moto.url).await;
    let items = scan(
        &dynamo,
        &format!("{prefix}{}", paygraph::audit::tables::AUDIT_LOGS),
    )
    .await;
    let mut per_event: HashMap<String, usize> = HashMap::new();
    let mut per_transaction: HashMap<String, i64> = HashMap::new();
    for item in &items {
        *per_event.entry(s(item, "event_id").to_owned()).or_default() += 1;
        if let Some(tx) = item.get("transaction_id").and_then(|v| v.as_s().ok()) {
            *per_transaction.entry(tx.clone()).or_default() += 1;
        }
    }
    let duplicated = per_event.values().filter(|n| **n > 1).count();
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT CAST(transaction_id AS TEXT) AS t, COUNT(*) AS n FROM transaction_events GROUP BY transaction_id",
        ))
        .await
        .unwrap();
    let missing: i64 = rows
        .iter()
        .map(|r| {
            let tx: String = r.try_get("", "t").unwrap();
            let n: i64 = r.try_get("", "n").unwrap();
            (n - per_transaction.get(&tx).copied().unwrap_or(0)).max(0)
        })
        .sum();

    let violations = ledger_violations(&app).await;
    let t = tally.lock().unwrap();
    let longest_lag = *lag.lock().unwrap();
    eprintln!(
        "chaos: {} requests in {:.0} s ({} ok, errors by code {:?}, {} sent again after an instance died, {} UNAVAILABLE answers retried after their hint, {} hung), \
         longest request {:.2} s, longest audit lag {longest_lag:.1} s, outbox drained {:.1} s after the load; \
         {terminations} rounds of terminated connections; {} audit items, {duplicated} duplicated, {missing} missing; \
         replayed keys answering another transaction {}; ledger violations {violations:?}",
        t.requests,
        RUN.as_secs_f64(),
        t.ok,
        t.by_code,
        t.resent,
        t.unavailable,
        t.hung,
        t.longest.as_secs_f64(),
        drained_in.as_secs_f64(),
        items.len(),
        t.replay_mismatches,
    );
    let faults: usize = t
        .by_code
        .iter()
        .filter(|(code, _)| code.as_str() != "INSUFFICIENT_FUNDS")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(faults, 0, "clients saw faults: {:?}", t.by_code);
    assert!(
        t.unavailable * 100 <= t.requests * MAX_UNAVAILABLE_PERCENT,
        "{} of {} answers were UNAVAILABLE",
        t.unavailable,
        t.requests
    );
    assert_eq!(t.hung, 0, "requests hung");
    assert_eq!(t.replay_mismatches, 0, "a replayed key moved money again");
    assert!(t.ok > t.requests / 2, "most requests succeed");
    assert_eq!(violations, Default::default(), "ledger invariants");
    assert_eq!((duplicated, missing), (0, 0), "audit exactly once");
    drop(t);
    moto.stop();
}
