//! Database faults never reach a client as INTERNAL: a lost connection is
//! retried inside the request, and a database that stays unreachable is
//! UNAVAILABLE (HTTP 503, `retryAfterSeconds`).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, admin_database_url, spawn_app_with},
    invariants::{Customer, Op, Violations, customers, ledger_violations, run},
};

const USERS: usize = 10;
const CLIENTS: usize = 8;
const LOAD: Duration = Duration::from_secs(10);

const READ: &str = "{ me { wallets { balance { amount } history(first: 3) { edges { node { amount { amount } } } } }
    transactions(first: 5) { edges { node { id status sender { displayName } events { eventType } } } } } }";

async fn admin() -> DatabaseConnection {
    Database::connect(&admin_database_url())
        .await
        .expect("PostgreSQL is required for this test")
}

/// Terminates every connection to `database` but its own.
async fn terminate_backends(admin: &DatabaseConnection, database: &str) -> usize {
    admin
        .query_all_raw(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            [database.into()],
        ))
        .await
        .map(|rows| rows.len())
        .unwrap_or(0)
}

/// Until `stop`, terminates the database's connections every 200 to 600 ms
/// (a transaction of a debug build on a loaded two-CPU test machine can
/// take a few hundred milliseconds: at shorter gaps some would never fit
/// between two terminations); returns how many it terminated.
fn terminator(database: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let admin = admin().await;
        let mut rng = StdRng::seed_from_u64(7);
        let mut killed = 0;
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(200..600))).await;
            killed += terminate_backends(&admin, &database).await;
        }
        killed
    })
}

enum Work {
    Money(Op),
    Read(usize),
}

fn plan(rng: &mut StdRng, done: &[Op]) -> Work {
    let key = format!("fault-{}", rng.r#gen::<u64>());
    let user = rng.gen_range(0..USERS);
    // One in ten replays an earlier transfer, deposit or withdrawal
    // exactly (a refund's target is picked afresh, so it is not replayed).
    if !done.is_empty() && rng.gen_bool(0.1) {
        return Work::Money(done[rng.gen_range(0..done.len())].clone());
    }
    Work::Money(match rng.gen_range(0..100) {
        0..=24 => return Work::Read(user),
        25..=59 => Op::Transfer {
            from: user,
            to: (user + rng.gen_range(1..USERS)) % USERS,
            minor: rng.gen_range(1..3_000),
            key,
        },
        60..=74 => Op::Deposit {
            user,
            minor: rng.gen_range(100..5_000),
            key,
        },
        75..=89 => Op::Withdraw {
            user,
            minor: rng.gen_range(100..3_000),
            key,
        },
        n => Op::Refund { pick: n, key },
    })
}

/// What the workload saw.
#[derive(Default)]
struct Seen {
    outcomes: HashMap<String, usize>,
    /// The transaction each key produced first.
    by_key: HashMap<String, String>,
    completed: Vec<String>,
    done: Vec<Op>,
    unexpected: Vec<Value>,
}

fn key_of(op: &Op) -> Option<&str> {
    match op {
        Op::Transfer { key, .. }
        | Op::Deposit { key, .. }
        | Op::Withdraw { key, .. }
        | Op::Refund { key, .. } => Some(key),
        Op::Hold { .. } => None,
    }
}

impl Seen {
    fn record(&mut self, work: &Work, reply: Value) {
        if reply.get("skipped").is_some() {
            return;
        }
        if let Some(errors) = reply["errors"].as_array() {
            let code = errors[0]["extensions"]["code"]
                .as_str()
                .unwrap_or("NO CODE")
                .to_owned();
            // Clean refusals: no money to move, an amount below the fee,
            // or a refund of what was refunded already (INVALID_STATE).
            if !matches!(
                code.as_str(),
                "INSUFFICIENT_FUNDS" | "BAD_USER_INPUT" | "INVALID_STATE"
            ) {
                self.unexpected.push(reply.clone());
            }
            *self.outcomes.entry(code).or_default() += 1;
            return;
        }
        *self.outcomes.entry("ok".into()).or_default() += 1;
        let Work::Money(op) = work else { return };
        let replayable = !matches!(op, Op::Refund { .. });
        let data = reply["data"].as_object().and_then(|d| d.values().next());
        let (Some(key), Some(id)) = (key_of(op), data.and_then(|d| d["id"].as_str())) else {
            return;
        };
        let first = self
            .by_key
            .entry(key.to_owned())
            .or_insert_with(|| id.to_owned());
        assert_eq!(first, id, "a replayed key returned another transaction");
        if replayable {
            self.done.push(op.clone());
        }
        if matches!(op, Op::Transfer { .. }) && data.is_some_and(|d| d["status"] == "COMPLETED") {
            self.completed.push(id.to_owned());
        }
    }
}

async fn perform(
    app: &TestApp,
    customers: &[Customer],
    agent: &crate::helpers::Registered,
    work: &Work,
    completed: &[String],
) -> Value {
    match work {
        Work::Money(op) => run(app, customers, agent, op, completed).await,
        Work::Read(user) => {
            app.gql(READ, json!({}), Some(&customers[*user].who.token))
                .await
        }
    }
}

#[tokio::test]
async fn terminated_database_connections_never_reach_clients() {
    let mut app = spawn_app_with(Backend::Postgres, |c| {
        // Connections die every few hundred milliseconds, and on a loaded
        // test machine a request's transaction can take about as long: more
        // room to run again than the defaults give, for a fault far more
        // frequent than a deployment sees.
        c.database.retry.attempts = 60;
        c.database.retry.budget = Duration::from_millis(30_000);
        c.fraud.velocity_max = 1_000_000;
        c.ledger.kyc_unverified_daily_limit = "USD:100000000".parse().unwrap();
        c.database.max_connections = 20;
    })
    .await;
    let agent = app.support_agent().await;
    let customers = customers(&app, USERS).await;

    let stop = Arc::new(AtomicBool::new(false));
    let killer = terminator(app.database_name().to_owned(), stop.clone());
    let seen = Arc::new(tokio::sync::Mutex::new(Seen::default()));
    let operations = Arc::new(AtomicUsize::new(0));
    let deadline = tokio::time::Instant::now() + LOAD;
    let clients = (0..CLIENTS).map(|n| {
        let (app, customers, agent, seen, operations) =
            (&app, &customers, &agent, seen.clone(), operations.clone());
        async move {
            let mut rng = StdRng::seed_from_u64(n as u64);
            while tokio::time::Instant::now() < deadline {
                let (work, completed) = {
                    let seen = seen.lock().await;
                    (plan(&mut rng, &seen.done), seen.completed.clone())
                };
                let reply = perform(app, customers, agent, &work, &completed).await;
                operations.fetch_add(1, Ordering::Relaxed);
                seen.lock().await.record(&work, reply);
            }
        }
    });
    futures::future::join_all(clients).await;
    stop.store(true, Ordering::Relaxed);
    let killed = killer.await.unwrap();

    let seen = seen.lock().await;
    println!(
        "faults: {} operations, {killed} connections terminated, outcomes {:?}",
        operations.load(Ordering::Relaxed),
        seen.outcomes
    );
    assert!(killed > 0, "the terminator terminated nothing");
    assert!(
        seen.unexpected.is_empty(),
        "{} operations failed with a fault code, first: {}",
        seen.unexpected.len(),
        seen.unexpected[0]
    );
    app.reconnect().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while app
        .count("SELECT COUNT(*) AS n FROM transactions WHERE status IN ('pending', 'processing')")
        .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "settlement never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ledger_violations(&app).await, Violations::default());
}

#[tokio::test]
async fn a_database_that_stays_unreachable_answers_unavailable_with_a_retry_hint() {
    let app = spawn_app_with(Backend::Postgres, |_| {}).await;
    let who = app.register().await;
    let friend = app.register().await;
    app.funded_wallet(&who.token, "USD", "50.00").await;
    let admin = admin().await;
    let database = app.database_name().to_owned();
    let allow = |yes: bool| format!("ALTER DATABASE {database} ALLOW_CONNECTIONS {yes}");
    admin.execute_unprepared(&allow(false)).await.unwrap();
    terminate_backends(&admin, &database).await;

    // A bound on the answer's wait, not a measurement: the request must
    // end, with a hint, while the database is still gone.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ask = |query: &str, variables: Value| {
        client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&who.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
    };
    let read = ask("{ me { wallets { balance { amount } } } }", json!({})).await;
    let transfer = ask(
        "mutation($i: TransferInput!) { transfer(input: $i) { id } }",
        json!({"i": {"recipientEmail": friend.email, "amount": "1.00", "currency": "USD", "idempotencyKey": "gone-1"}}),
    )
    .await;
    let mut answers = Vec::new();
    for reply in [read, transfer] {
        let reply = reply.expect("an answer while the database is unreachable");
        let status = reply.status().as_u16();
        let retry_after = reply.headers().get("retry-after").is_some();
        let body: Value = reply.json().await.unwrap();
        answers.push((status, retry_after, body));
    }
    admin.execute_unprepared(&allow(true)).await.unwrap();

    for (status, retry_after, body) in &answers {
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{body}");
        assert!(
            error["extensions"]["retryAfterSeconds"].as_u64().is_some(),
            "{body}"
        );
        assert_eq!(*status, 503, "{body}");
        assert!(retry_after, "a Retry-After header: {body}");
    }
    // And it comes back on its own.
    let back = app.me(&who.token).await;
    assert!(back.get("errors").is_none(), "{back}");
}
