//! Test support for the audit store: the shared local DynamoDB (moto, started
//! by `scripts/dynamodb-local`), private emulators a test may stop, apps
//! configured for either store, and bounded waits.

use std::{
    collections::HashMap,
    future::Future,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use paygraph::config::{AuditStoreKind, Config};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, spawn_app_with};

pub type Item = HashMap<String, AttributeValue>;

/// The shared emulator that `scripts/test` starts.
pub fn dynamodb_url() -> String {
    std::env::var("PAYGRAPH_TEST_DYNAMODB_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into())
}

/// Panics with what to do when the shared emulator does not answer: a
/// test that needs DynamoDB never passes without it.
pub async fn require_dynamodb() -> String {
    let url = dynamodb_url();
    let reachable = reqwest::Client::new()
        .get(format!("{url}/moto-api/"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok();
    assert!(
        reachable,
        "DynamoDB (moto) is required for this test and does not answer at {url}: \
         run `scripts/dynamodb-local` (or the whole `scripts/test`)"
    );
    url
}

/// Which audit store an app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Embedded,
    Dynamodb,
}

/// Runs each named test on every database backend and audit store:
/// `async fn name(backend: Backend, store: Store)`.
#[macro_export]
macro_rules! every_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite_embedded {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite, $crate::dynamo::Store::Embedded).await } )*
        }
        mod postgres_embedded {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres, $crate::dynamo::Store::Embedded).await } )*
        }
        mod sqlite_dynamodb {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite, $crate::dynamo::Store::Dynamodb).await } )*
        }
        mod postgres_dynamodb {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres, $crate::dynamo::Store::Dynamodb).await } )*
        }
    };
}

/// A table prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t{}_", &Uuid::new_v4().simple().to_string()[..12])
}

/// A relay quick enough for tests: polls every 100 ms, retries within 1 s.
/// Retries that quick would use up the attempts before dead-lettering
/// during an outage a test makes on purpose: tests that want dead letters
/// set their own limit.
pub fn fast_relay(config: &mut Config) {
    config.audit.relay.poll = Duration::from_millis(100);
    config.audit.relay.max_backoff = Duration::from_millis(1_000);
    config.audit.relay.max_attempts = 1_000_000;
}

pub fn use_dynamodb(config: &mut Config, endpoint: &str, prefix: &str) {
    config.audit.store = AuditStoreKind::Dynamodb;
    config.audit.aws_endpoint_url.dynamodb = Some(endpoint.to_owned());
    config.audit.dynamodb.table_prefix = prefix.to_owned();
}

/// A client for the test's own calls: its reads (scans of thousands of
/// items on a loaded machine) get a minute, not the relay's bound.
pub async fn client(endpoint: &str) -> Client {
    let mut config = Config::default();
    config.audit.aws_endpoint_url.dynamodb = Some(endpoint.to_owned());
    config.audit.store_timeout = Duration::from_secs(60);
    paygraph::audit::dynamodb::client(&config).await
}

pub async fn create_tables(endpoint: &str, prefix: &str) {
    paygraph::audit::dynamodb::create_tables(&client(endpoint).await, prefix)
        .await
        .unwrap_or_else(|e| panic!("create tables at {endpoint}: {e}"));
}

/// An app on `backend` with a fast relay into `store`; for DynamoDB, on the
/// shared emulator with tables of its own. Returns the table prefix too.
pub async fn spawn_with_store(backend: Backend, store: Store) -> (TestApp, String) {
    let prefix = unique_prefix();
    let endpoint = match store {
        Store::Dynamodb => {
            let url = require_dynamodb().await;
            create_tables(&url, &prefix).await;
            Some(url)
        }
        Store::Embedded => None,
    };
    let app = spawn_app_with(backend, |c| {
        fast_relay(c);
        fast_money(c);
        if let Some(url) = &endpoint {
            use_dynamodb(c, url, &prefix);
        }
    })
    .await;
    (app, prefix)
}

/// Polls `check` until it gives a value or the deadline passes (then
/// panics naming `what`). The deadline is generous: it bounds a wait, it
/// does not measure speed.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn outbox_len(db: &DatabaseConnection) -> usize {
    paygraph::audit::relay::pending(db)
        .await
        .expect("read the outbox")
        .len()
}

/// Waits until the relay has emptied the outbox.
pub async fn wait_for_empty_outbox(db: &DatabaseConnection, deadline: Duration) {
    wait_for("the outbox to empty", deadline, || async {
        (outbox_len(db).await == 0).then_some(())
    })
    .await
}

/// Every item of a query on an index, following LastEvaluatedKey.
pub async fn query_index(
    client: &Client,
    table: &str,
    index: &str,
    attribute: &str,
    value: &str,
) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", attribute)
            .expression_attribute_values(":v", AttributeValue::S(value.to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| panic!("query {table}/{index}: {e:?}"));
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// Every item of a table.
pub async fn scan(client: &Client, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

pub fn s<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .unwrap_or_else(|| panic!("item has no string {name}: {item:?}"))
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A moto server of a test's own, on its own port, stopped when dropped
/// (or earlier, by `stop`). The shared one is never stopped by a test.
pub struct PrivateMoto {
    child: Option<Child>,
    pub url: String,
}

impl PrivateMoto {
    /// Starts moto from the project's venv (`scripts/dynamodb-local`
    /// installs it) on `port`, and waits until it answers.
    pub async fn start(port: u16) -> Self {
        let bin = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/tools/moto-venv/bin/moto_server"
        );
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: run `scripts/dynamodb-local` once to install moto"
        );
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a private moto");
        let url = format!("http://127.0.0.1:{port}");
        let moto = Self {
            child: Some(child),
            url: url.clone(),
        };
        let http = reqwest::Client::new();
        wait_for(
            "the private moto to answer",
            Duration::from_secs(60),
            || {
                let probe = http.get(format!("{url}/moto-api/")).send();
                async move { probe.await.ok().map(|_| ()) }
            },
        )
        .await;
        moto
    }

    /// The server's process id while it runs, for a test that pauses it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Freezes the emulator (SIGSTOP): connections are still accepted by
    /// the kernel, but nothing answers, as with a DynamoDB endpoint that
    /// hangs.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused emulator run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("moto runs").id().to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A quick payment simulator and no velocity hold, so that a test can fund
/// a wallet and make hundreds of transfers in a row.
pub fn fast_money(config: &mut Config) {
    config.workers.processor_delay = Duration::from_millis(20);
    config.workers.settlement_poll = Duration::from_millis(50);
    config.fraud.velocity_max = 100_000;
}

/// Gives the user a USD wallet holding at least `amount` (a card deposit,
/// settled by the simulator).
pub async fn fund(app: &TestApp, token: &str, amount: &str) {
    let wallet = app
        .gql(
            "mutation { createWallet(input: {currency: \"USD\"}) { id } }",
            serde_json::json!({}),
            Some(token),
        )
        .await;
    let wallet_id = wallet["data"]["createWallet"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{wallet}"))
        .to_owned();
    let card = app
        .gql(
            "mutation($i: AddPaymentMethodInput!) { addPaymentMethod(input: $i) { id } }",
            serde_json::json!({"i": {"card": {"number": "4242424242424242", "expiryMonth": 12, "expiryYear": 2031}}}),
            Some(token),
        )
        .await;
    let card_id = card["data"]["addPaymentMethod"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{card}"))
        .to_owned();
    let deposit = app
        .gql(
            "mutation($i: DepositInput!) { deposit(input: $i) { id } }",
            serde_json::json!({"i": {"walletId": wallet_id, "paymentMethodId": card_id, "amount": amount, "idempotencyKey": Uuid::new_v4().to_string()}}),
            Some(token),
        )
        .await;
    assert!(deposit["data"]["deposit"].is_object(), "{deposit}");
    wait_for("the deposit to settle", Duration::from_secs(60), || async {
        let me = app
            .gql(
                "{ me { wallets { availableBalance { amount } } } }",
                serde_json::json!({}),
                Some(token),
            )
            .await;
        let available = me["data"]["me"]["wallets"][0]["availableBalance"]["amount"]
            .as_str()
            .and_then(|a| a.parse::<rust_decimal::Decimal>().ok())?;
        (available > rust_decimal::Decimal::ZERO).then_some(())
    })
    .await;
}

/// A P2P transfer in USD; returns the transaction's global id, after
/// checking that it completed.
pub async fn transfer(app: &TestApp, token: &str, to_email: &str, amount: &str) -> String {
    let body = app
        .gql(
            "mutation($i: TransferInput!) { transfer(input: $i) { id status } }",
            serde_json::json!({"i": {"recipientEmail": to_email, "amount": amount, "currency": "USD", "idempotencyKey": Uuid::new_v4().to_string()}}),
            Some(token),
        )
        .await;
    let tx = &body["data"]["transfer"];
    assert_eq!(tx["status"], "COMPLETED", "{body}");
    tx["id"].as_str().unwrap().to_owned()
}

/// The value of a metric without labels on the app's `/metrics`, if it is
/// there.
pub async fn metric(app: &TestApp, name: &str) -> Option<f64> {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}
