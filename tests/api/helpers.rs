use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use paygraph::{config::Config, startup::Application};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

/// Runs each named test once per backend:
/// `both_backends!(register_returns_a_token, ...)` expects
/// `async fn register_returns_a_token(backend: Backend)` in scope.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The operations the helpers below send, named so that a test can list
/// them (in a trusted-documents manifest, say).
pub mod ops {
    pub const REGISTER: &str =
        "mutation($i: RegisterInput!) { register(input: $i) { token user { id email } } }";
    pub const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { token user { id } } }";
    pub const ME: &str = "{ me { id email } }";
    pub const CREATE_WALLET: &str =
        "mutation($c: CurrencyCode!) { createWallet(input: {currency: $c}) { id } }";
    pub const ADD_CARD: &str = "mutation($n: String!) { addPaymentMethod(input: {card: {number: $n, expiryMonth: 12, expiryYear: 2035}}) { id } }";
    pub const DEPOSIT: &str = "mutation($i: DepositInput!) { deposit(input: $i) { id status amount { amount currency } fees { amount } } }";
    pub const TRANSACTION_STATUS: &str =
        "query($id: ID!) { transaction(id: $id) { id status events { eventType } } }";
    pub const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { id status amount { amount currency } fees { amount } } }";
    pub const BALANCES: &str = "query($id: ID!) { wallet(id: $id) { balance { amount } availableBalance { amount } frozenBalance { amount } } }";
}

pub fn admin_database_url() -> String {
    std::env::var("PAYGRAPH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("PAYGRAPH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The CA that the test Redis's certificate is signed by, when the suite's
/// Redis speaks TLS (`scripts/test` starts one: `scripts/redis-tls`).
pub fn redis_ca_file() -> Option<std::path::PathBuf> {
    let ca = std::env::var_os("PAYGRAPH_TEST_REDIS_CA_FILE").map(std::path::PathBuf::from);
    if redis_url().starts_with("rediss://") {
        let ca = ca.expect(
            "PAYGRAPH_TEST_REDIS_URL is rediss://: set PAYGRAPH_TEST_REDIS_CA_FILE to its CA",
        );
        assert!(
            ca.is_file(),
            "PAYGRAPH_TEST_REDIS_CA_FILE {} is missing",
            ca.display()
        );
        return Some(ca);
    }
    None
}

tokio::task_local! {
    /// Set around a test body by [`on_redis_cluster`].
    static ON_REDIS_CLUSTER: ();
}

/// The seed nodes of the suite's Redis Cluster (`scripts/redis-cluster`
/// starts one; `scripts/test` exports its URLs).
pub fn redis_cluster_url() -> String {
    std::env::var("PAYGRAPH_TEST_REDIS_CLUSTER_URL").expect(
        "PAYGRAPH_TEST_REDIS_CLUSTER_URL must name the test Redis Cluster's seed nodes \
         (scripts/redis-cluster starts one and prints them)",
    )
}

/// The masters of the suite's Redis Cluster, `host:port`, as the cluster
/// itself lists them; panics unless every slot is served.
pub fn redis_cluster_masters() -> Vec<String> {
    let url = redis_cluster_url();
    let seed = url.split(',').next().expect("a seed node");
    let client = redis::Client::open(seed).expect("a seed node URL");
    let mut conn = client
        .get_connection_with_timeout(std::time::Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the test Redis Cluster is not reachable at {seed}: {e}"));
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut conn)
        .expect("CLUSTER INFO");
    assert!(
        info.contains("cluster_state:ok"),
        "the test Redis Cluster at {seed} is not healthy: {info}"
    );
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut conn)
        .expect("CLUSTER NODES");
    nodes
        .lines()
        .filter(|line| line.split(' ').nth(2).is_some_and(|f| f.contains("master")))
        .map(|line| {
            let addr = line.split(' ').nth(1).expect("an address");
            addr.split('@').next().expect("host:port").to_owned()
        })
        .collect()
}

/// Runs a test body with every app it starts on PostgreSQL using the
/// suite's Redis Cluster (`REDIS_CLUSTER=true`) instead of its single
/// Redis: the same behavioural test, on the other topology. Fails at once
/// when the cluster is not there.
pub async fn on_redis_cluster<F: std::future::Future>(body: F) -> F::Output {
    let masters = redis_cluster_masters();
    assert!(
        masters.len() >= 3,
        "a three-master test cluster: {masters:?}"
    );
    ON_REDIS_CLUSTER.scope((), body).await
}

/// A client of the suite's Redis, for tests that look at its keys.
pub fn redis_client() -> redis::Client {
    paygraph::cache::redis_client::client(&redis_url(), redis_ca_file().as_deref())
        .expect("a client of the test Redis")
}

/// A new, empty Postgres database for one test. Its name starts with
/// `paygraph_test_` so the test script can sweep leftovers.
pub async fn fresh_postgres_database() -> String {
    let admin_url = admin_database_url();
    let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required for this test and is not reachable at {admin_url}: {e}")
    });
    let name = format!("paygraph_test_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .expect("URL has a database");
    format!("{base}/{name}")
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub config: Config,
    _tmp: Option<tempfile::TempDir>,
}

pub struct Registered {
    pub token: String,
    pub id: String,
    pub email: String,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// An app with no settlement polling or audit relaying in the background,
/// for tests that count the statements a request costs.
pub async fn spawn_quiet_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.workers.settlement_poll = Duration::from_millis(3_600_000);
        c.audit.relay.poll = Duration::from_millis(3_600_000);
    })
    .await
}

/// Starts a server; `adjust` may change the configuration first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let (mut config, tmp) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            let mut config = Config::default();
            config.database.url = url.into();
            (config, Some(dir))
        }
        Backend::Postgres => {
            let on_cluster = ON_REDIS_CLUSTER.try_with(|_| ()).is_ok();
            let url = fresh_postgres_database().await;
            let conn = Database::connect(&url)
                .await
                .expect("connect test database");
            paygraph::db::migrate(&conn)
                .await
                .expect("migrate test database");
            let mut config = Config::default();
            config.database.url = url.into();
            config.database.max_connections = 10;
            config.redis.url = Some(
                if on_cluster {
                    redis_cluster_url()
                } else {
                    redis_url()
                }
                .into(),
            );
            config.redis.cluster = on_cluster;
            config.redis.tls_ca_file = if on_cluster { None } else { redis_ca_file() };
            config.redis.key_prefix = format!("test:{}:", Uuid::new_v4().simple());
            config.auth.jwt.secret = Some("test-secret-that-is-at-least-32-bytes-long".into());
            config.auth.encryption.key = Some(base64_key().into());
            (config, None)
        }
    };
    config.server.addr = "127.0.0.1:0".parse().unwrap();
    config.server.log = "warn".into();
    // Every test talks from 127.0.0.1, often registering many users:
    // limits high enough never to interfere. The rate-limit tests set their own.
    config.rate_limits.auth.limit = 10_000;
    config.rate_limits.read.limit = 10_000;
    config.rate_limits.money.limit = 10_000;
    // Settlement in tests: at once, polled often.
    config.workers.processor_delay = Duration::ZERO;
    config.workers.settlement_poll = Duration::from_millis(20);
    adjust(&mut config);
    let app = Application::build(config.clone())
        .await
        .unwrap_or_else(|e| panic!("server failed to start on {backend:?}: {e}"));
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let db = paygraph::db::connect(&config)
        .await
        .expect("test connection");
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        config,
        _tmp: tmp,
    }
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([42u8; 32])
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// An email no other test uses.
pub fn unique_email(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{tag}.{n}.{}@example.com",
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

impl TestApp {
    pub async fn post_json(&self, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request reaches the server")
    }

    /// Runs a GraphQL operation and returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let res = self
            .post_json(&json!({"query": query, "variables": variables}), token)
            .await;
        res.json().await.expect("a JSON response")
    }

    pub async fn register_as(&self, email: &str, first: &str, last: &str) -> Registered {
        let body = self
            .gql(
                ops::REGISTER,
                json!({"i": {"email": email, "password": PASSWORD, "firstName": first, "lastName": last}}),
                None,
            )
            .await;
        let payload = &body["data"]["register"];
        assert!(payload.is_object(), "register failed: {body}");
        Registered {
            token: payload["token"].as_str().unwrap().to_owned(),
            id: payload["user"]["id"].as_str().unwrap().to_owned(),
            email: payload["user"]["email"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn register(&self) -> Registered {
        self.register_as(&unique_email("user"), "Ada", "Lovelace")
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        self.gql(
            ops::LOGIN,
            json!({"i": {"email": email, "password": password}}),
            None,
        )
        .await
    }

    pub async fn me(&self, token: &str) -> Value {
        self.gql(ops::ME, json!({}), Some(token)).await
    }

    /// A server this test started some other way (as a process of its
    /// own, say), at `address`.
    pub fn attach(address: String, config: Config, db: DatabaseConnection) -> TestApp {
        TestApp {
            address,
            client: reqwest::Client::new(),
            db,
            config,
            _tmp: None,
        }
    }

    /// Another server instance on the same database, Redis and key prefix:
    /// what a second instance behind a load balancer would be.
    pub async fn spawn_sibling(&self) -> TestApp {
        let app = Application::build(self.config.clone())
            .await
            .expect("a second instance starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: reqwest::Client::new(),
            db: self.db.clone(),
            config: self.config.clone(),
            _tmp: None,
        }
    }

    /// A fresh pool for the test's own statements, after its connections
    /// were terminated under it.
    pub async fn reconnect(&mut self) {
        self.db = paygraph::db::connect(&self.config)
            .await
            .expect("test connection");
    }

    /// The name of the test's PostgreSQL database.
    pub fn database_name(&self) -> &str {
        self.config
            .database
            .url
            .expose_secret()
            .rsplit_once('/')
            .map(|(_, name)| name)
            .expect("URL has a database")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.address, path))
            .send()
            .await
            .expect("request reaches the server")
    }
}

/// The `extensions.code` of the first error, or a panic naming the body.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code, got {body}"))
}

pub fn error_field(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["field"].as_str()
}

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";

impl TestApp {
    /// Runs an operation that must succeed and returns its `data`.
    pub async fn ok(&self, query: &str, variables: Value, token: &str) -> Value {
        let body = self.gql(query, variables, Some(token)).await;
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    pub async fn create_wallet(&self, token: &str, currency: &str) -> String {
        let data = self
            .ok(ops::CREATE_WALLET, json!({"c": currency}), token)
            .await;
        data["createWallet"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn add_card(&self, token: &str, number: &str) -> String {
        let data = self.ok(ops::ADD_CARD, json!({"n": number}), token).await;
        data["addPaymentMethod"]["id"].as_str().unwrap().to_owned()
    }

    /// Starts a deposit and returns the whole response body.
    pub async fn deposit(
        &self,
        token: &str,
        wallet: &str,
        method: &str,
        amount: &str,
        key: &str,
    ) -> Value {
        self.gql(
            ops::DEPOSIT,
            json!({"i": {"walletId": wallet, "paymentMethodId": method, "amount": amount, "idempotencyKey": key}}),
            Some(token),
        )
        .await
    }

    /// Waits (bounded) until the transaction leaves PENDING/PROCESSING.
    pub async fn settled(&self, token: &str, id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let data = self
                .ok(ops::TRANSACTION_STATUS, json!({"id": id}), token)
                .await;
            let status = data["transaction"]["status"].as_str().unwrap().to_owned();
            if status != "PENDING" && status != "PROCESSING" {
                return data["transaction"].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} never settled: {data}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// A USD wallet holding `amount` after a card deposit (the fee taken
    /// from the deposit), and its id.
    pub async fn funded_wallet(&self, token: &str, currency: &str, deposit: &str) -> String {
        let wallet = self.create_wallet(token, currency).await;
        let card = self.add_card(token, CARD_OK).await;
        let body = self
            .deposit(
                token,
                &wallet,
                &card,
                deposit,
                &format!("fund-{}", Uuid::new_v4()),
            )
            .await;
        let id = body["data"]["deposit"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned();
        assert_eq!(self.settled(token, &id).await["status"], "COMPLETED");
        wallet
    }

    pub async fn transfer(
        &self,
        token: &str,
        to: &str,
        amount: &str,
        currency: &str,
        key: &str,
    ) -> Value {
        self.gql(
            ops::TRANSFER,
            json!({"i": {"recipientEmail": to, "amount": amount, "currency": currency, "idempotencyKey": key}}),
            Some(token),
        )
        .await
    }

    /// `(balance, available, frozen)` of a wallet, as the API writes them.
    pub async fn balances(&self, token: &str, wallet: &str) -> (String, String, String) {
        let data = self.ok(ops::BALANCES, json!({"id": wallet}), token).await;
        let w = &data["wallet"];
        let s = |k: &str| w[k]["amount"].as_str().unwrap().to_owned();
        (s("balance"), s("availableBalance"), s("frozenBalance"))
    }

    pub async fn set_kyc_verified(&self, user_global_id: &str) {
        let key = crate::helpers::key_of(user_global_id);
        let sql = "UPDATE user_profiles SET kyc_status = 'verified' WHERE user_id = $1";
        self.exec_with_uuid(sql, key).await;
    }

    pub async fn exec_with_uuid(&self, sql: &str, id: Uuid) {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = self.db.get_database_backend();
        let sql = if backend == sea_orm::DbBackend::Sqlite {
            sql.replace("$1", "?")
        } else {
            sql.to_owned()
        };
        self.db
            .execute_raw(Statement::from_sql_and_values(backend, sql, [id.into()]))
            .await
            .unwrap();
    }

    /// How many rows `sql` (a `SELECT COUNT(*) AS n ...`) counts.
    pub async fn count(&self, sql: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

/// The raw key behind a global ID (tests seed and inspect rows by it).
pub fn key_of(global_id: &str) -> Uuid {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let raw = String::from_utf8(B64.decode(global_id).unwrap()).unwrap();
    raw.split_once(':').unwrap().1.parse().unwrap()
}

impl TestApp {
    /// The SQL statements the server has run so far, from its own counter
    /// (each test runs in a process of its own under nextest).
    pub async fn statements_so_far(&self) -> u64 {
        let metrics = self.get("/metrics").await.text().await.unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("paygraph_db_statements_total "))
            .map(|n| n.trim().parse::<f64>().unwrap() as u64)
            .unwrap_or(0)
    }

    /// Registers a user and grants them SUPPORT from the command line.
    pub async fn support_agent(&self) -> Registered {
        let agent = self
            .register_as(&unique_email("agent"), "Sam", "Support")
            .await;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paygraph"))
            .args(["users", "grant-role", &agent.email, "support"])
            .env("DATABASE_URL", self.config.database.url.expose_secret())
            .output()
            .expect("run paygraph");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        agent
    }
}
