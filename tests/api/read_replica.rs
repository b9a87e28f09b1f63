//! The read replica (`DATABASE_READ_URL`): a streaming replica of the test
//! PostgreSQL, made with `pg_basebackup -R` and started by `scripts/test`
//! (`scripts/pg-replica`, URL in `PAYGRAPH_TEST_POSTGRES_READ_URL`).
//! PostgreSQL only: SQLite has no replica.
//!
//! Tests of this module run at once against the one replica, so none stops
//! it: the test that needs the replica gone puts a TCP proxy of its own
//! between its server and the replica, and cuts that. The lag test pauses
//! replay for as long as it needs (a guard resumes it, and the script
//! resumes a replica left paused); the others only need the replica to
//! serve their reads at some point, and wait for that.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinSet};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, spawn_app_with, unique_email};

const HISTORY: &str = "query($id: ID!) { wallet(id: $id) { history(first: 5) { edges { node { amount { amount } transaction { id } } } } } }";
const TRANSACTIONS: &str =
    "{ me { transactions(first: 5) { edges { node { id status amount { amount } } } } } }";
const SEARCH: &str =
    "query($q: String) { users(query: $q, first: 5) { edges { node { id email } } } }";
/// How long a test waits for the replica to catch up with a new database
/// and serve its reads.
const REPLICA_WAIT: Duration = Duration::from_secs(60);

fn replica_base_url() -> String {
    std::env::var("PAYGRAPH_TEST_POSTGRES_READ_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5433/postgres".into())
}

/// `base` (a URL of the replica's server) for the database `of` names.
fn same_database(base: &str, of: &str) -> String {
    let (server, _) = base.rsplit_once('/').expect("URL has a database");
    let (_, database) = of.rsplit_once('/').expect("URL has a database");
    format!("{server}/{database}")
}

fn port_of(url: &str) -> u16 {
    let host = url
        .split('@')
        .next_back()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    host.rsplit_once(':')
        .map_or(5432, |(_, p)| p.parse().unwrap())
}

/// The replica's server, checked to be a replica: a test needs it and
/// says so when it is not there.
async fn replica_admin() -> DatabaseConnection {
    let url = replica_base_url();
    let admin = Database::connect(&url).await.unwrap_or_else(|e| {
        panic!("the read replica is required and is not reachable at {url} (scripts/pg-replica starts one): {e}")
    });
    let recovering = scalar_bool(&admin, "SELECT pg_is_in_recovery()").await;
    assert!(
        recovering,
        "{url} is not a replica in recovery (scripts/pg-replica starts one)"
    );
    admin
}

async fn scalar_bool(db: &DatabaseConnection, sql: &str) -> bool {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<bool>(0).unwrap()
}

/// The test's database on the replica, once the replica has it.
async fn replica_database(app: &TestApp) -> DatabaseConnection {
    let url = same_database(&replica_base_url(), app.config.database.url.expose_secret());
    let deadline = Instant::now() + REPLICA_WAIT;
    loop {
        if let Ok(db) = Database::connect(&url).await {
            return db;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never got the test's database"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scans of `table` the replica has run in the test's database (its own
/// statistics: reads the primary ran do not count here).
async fn replica_scans(replica: &DatabaseConnection, table: &str) -> i64 {
    let sql = format!(
        "SELECT COALESCE(SUM(COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0)), 0)::bigint FROM pg_stat_user_tables WHERE relname = '{table}'"
    );
    match replica
        .query_one_raw(Statement::from_string(replica.get_database_backend(), sql))
        .await
    {
        Ok(Some(row)) => row.try_get_by_index::<i64>(0).unwrap_or(0),
        _ => 0,
    }
}

/// Runs `read` (which checks its own answer) until the replica has served
/// scans of `table`: the reads arrive at the replica.
async fn until_the_replica_serves<F, Fut>(replica: &DatabaseConnection, table: &str, read: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = replica_scans(replica, table).await;
    let deadline = Instant::now() + REPLICA_WAIT;
    loop {
        read().await;
        if replica_scans(replica, table).await > before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "reads of {table} never arrived at the replica"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn app_with_replica(replica_url: impl FnOnce(&str) -> String) -> TestApp {
    replica_admin().await;
    spawn_app_with(Backend::Postgres, |c| {
        c.database.read_url = Some(replica_url(c.database.url.expose_secret()).into());
    })
    .await
}

async fn app_reading_the_replica() -> TestApp {
    app_with_replica(|primary| same_database(&replica_base_url(), primary)).await
}

fn edges(data: &Value, path: &[&str]) -> Vec<Value> {
    let mut v = data;
    for p in path {
        v = &v[*p];
    }
    v["edges"].as_array().cloned().unwrap_or_default()
}

async fn history(app: &TestApp, token: &str, wallet: &str) -> Vec<Value> {
    let data = app.ok(HISTORY, json!({"id": wallet}), token).await;
    edges(&data, &["wallet", "history"])
}

async fn transactions(app: &TestApp, token: &str) -> Vec<Value> {
    let data = app.ok(TRANSACTIONS, json!({}), token).await;
    edges(&data, &["me", "transactions"])
}

/// A transfer that completed; its id.
async fn paid(app: &TestApp, token: &str, to: &str, amount: &str) -> String {
    let body = app
        .transfer(token, to, amount, "USD", &Uuid::new_v4().to_string())
        .await;
    let t = &body["data"]["transfer"];
    assert!(t["id"].is_string(), "{body}");
    let id = t["id"].as_str().unwrap().to_owned();
    if t["status"] != "COMPLETED" {
        assert_eq!(app.settled(token, &id).await["status"], "COMPLETED");
    }
    id
}

#[tokio::test]
async fn reporting_reads_arrive_at_the_replica() {
    let app = app_reading_the_replica().await;
    let alice = app.register().await;
    let wallet = app.funded_wallet(&alice.token, "USD", "100.00").await;
    let agent = app.support_agent().await;
    let replica = replica_database(&app).await;

    until_the_replica_serves(&replica, "balance_history", || async {
        let rows = history(&app, &alice.token, &wallet).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
    })
    .await;
    until_the_replica_serves(&replica, "transactions", || async {
        let rows = transactions(&app, &alice.token).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["node"]["status"], "COMPLETED");
    })
    .await;
    until_the_replica_serves(&replica, "users", || async {
        let data = app
            .ok(SEARCH, json!({"q": alice.email}), &agent.token)
            .await;
        let found = edges(&data, &["users"]);
        assert_eq!(found.len(), 1, "{data}");
        assert_eq!(found[0]["node"]["email"], alice.email.as_str());
    })
    .await;
}

#[tokio::test]
async fn a_transfer_shows_at_once_in_both_parties_reads() {
    let app = app_reading_the_replica().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&alice.token, "USD", "500.00").await;
    app.create_wallet(&bob.token, "USD").await;
    let replica = replica_database(&app).await;
    // The replica serves Alice's reads before the first transfer.
    until_the_replica_serves(&replica, "balance_history", || async {
        assert_eq!(history(&app, &alice.token, &wallet).await.len(), 1);
    })
    .await;

    for round in 1..=20 {
        let id = paid(&app, &alice.token, &bob.email, "1.00").await;
        let mine = transactions(&app, &alice.token).await;
        assert_eq!(
            mine[0]["node"]["id"],
            id.as_str(),
            "round {round}: {mine:?}"
        );
        let changes = history(&app, &alice.token, &wallet).await;
        assert_eq!(
            changes[0]["node"]["transaction"]["id"],
            id.as_str(),
            "round {round}: {changes:?}"
        );
        let theirs = transactions(&app, &bob.token).await;
        assert_eq!(
            theirs[0]["node"]["id"],
            id.as_str(),
            "round {round}: {theirs:?}"
        );
    }
}

/// Resumes the replica's replay when dropped, also when the test fails.
struct ReplayPaused;

impl ReplayPaused {
    async fn start() -> Self {
        replica_admin()
            .await
            .execute_unprepared("SELECT pg_wal_replay_pause()")
            .await
            .expect("pause replay");
        Self
    }
}

impl Drop for ReplayPaused {
    fn drop(&mut self) {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let admin = Database::connect(&replica_base_url()).await.unwrap();
                admin
                    .execute_unprepared("SELECT pg_wal_replay_resume()")
                    .await
                    .unwrap();
            });
        })
        .join()
        .expect("resume replay");
    }
}

#[tokio::test]
async fn a_replica_that_falls_behind_is_read_around() {
    let app = app_reading_the_replica().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&alice.token, "USD", "100.00").await;
    app.create_wallet(&bob.token, "USD").await;
    let agent = app.support_agent().await;
    let replica = replica_database(&app).await;
    until_the_replica_serves(&replica, "users", || async {
        app.ok(SEARCH, json!({"q": alice.email}), &agent.token)
            .await;
    })
    .await;

    let paused = ReplayPaused::start().await;
    // The writers read their own writes, replayed or not.
    let id = paid(&app, &alice.token, &bob.email, "2.00").await;
    assert_eq!(
        transactions(&app, &alice.token).await[0]["node"]["id"],
        id.as_str()
    );
    assert_eq!(
        history(&app, &alice.token, &wallet).await[0]["node"]["transaction"]["id"],
        id.as_str()
    );
    assert_eq!(
        transactions(&app, &bob.token).await[0]["node"]["id"],
        id.as_str()
    );
    // A customer who registers now is in no replica the agent could read:
    // once the replica is further behind than DATABASE_READ_MAX_LAG_MS,
    // the agent's search goes to the primary and finds them.
    let carol = app
        .register_as(&unique_email("carol"), "Carol", "Late")
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let data = app
            .ok(SEARCH, json!({"q": carol.email}), &agent.token)
            .await;
        if edges(&data, &["users"]).len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the search never read around the paused replica"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        scalar_bool(&replica_admin().await, "SELECT pg_is_wal_replay_paused()").await,
        "replay stayed paused while the search found her"
    );
    drop(paused);
}

/// A TCP proxy to a port, that the test can cut: every connection through
/// it is dropped, and new ones are refused.
struct Proxy {
    port: u16,
    tasks: Arc<Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn to(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks = Arc::new(Mutex::new(JoinSet::new()));
        let accept = tokio::spawn({
            let tasks = tasks.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    tasks.lock().unwrap().spawn(async move {
                        if let Ok(mut server) =
                            tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                        {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            }
        });
        Self {
            port,
            tasks,
            accept,
        }
    }

    fn cut(&self) {
        self.accept.abort();
        self.tasks.lock().unwrap().abort_all();
    }
}

#[tokio::test]
async fn a_replica_cut_off_mid_test_costs_the_client_nothing() {
    let replica_port = port_of(&replica_base_url());
    let proxy = Proxy::to(replica_port).await;
    let proxied = proxy.port;
    let app = app_with_replica(|primary| {
        let through =
            replica_base_url().replace(&format!(":{replica_port}/"), &format!(":{proxied}/"));
        same_database(&through, primary)
    })
    .await;
    let alice = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&alice.token, "USD", "100.00").await;
    app.create_wallet(&bob.token, "USD").await;
    let replica = replica_database(&app).await;
    until_the_replica_serves(&replica, "balance_history", || async {
        assert_eq!(history(&app, &alice.token, &wallet).await.len(), 1);
    })
    .await;

    // Readers keep reading while the replica goes away under them: it is
    // cut once every reader has had an answer.
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (address, token, wallet, answered) = (
                app.address.clone(),
                alice.token.clone(),
                wallet.clone(),
                answered.clone(),
            );
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut answers = Vec::new();
                for round in 0..40 {
                    let body: Value = client
                        .post(format!("{address}/graphql"))
                        .bearer_auth(&token)
                        .json(&json!({"query": HISTORY, "variables": {"id": wallet}}))
                        .send()
                        .await
                        .expect("an answer")
                        .json()
                        .await
                        .expect("JSON");
                    answers.push(body);
                    if round == 0 {
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                answers
            })
        })
        .collect();
    while answered.load(std::sync::atomic::Ordering::SeqCst) < readers.len() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.cut();
    for reader in readers {
        for body in reader.await.unwrap() {
            assert!(body.get("errors").is_none(), "{body}");
            assert_eq!(
                edges(&body["data"], &["wallet", "history"]).len(),
                1,
                "{body}"
            );
        }
    }
    // With the replica gone, reads are the primary's, writes included.
    let id = paid(&app, &alice.token, &bob.email, "3.00").await;
    for _ in 0..10 {
        assert_eq!(
            transactions(&app, &alice.token).await[0]["node"]["id"],
            id.as_str()
        );
        assert_eq!(
            transactions(&app, &bob.token).await[0]["node"]["id"],
            id.as_str()
        );
    }
}
