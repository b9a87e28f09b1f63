//! Redis stopped and started under a running server. Each test runs its
//! own private redis-server on a free port: the shared one on 6379 serves
//! every other test and is never touched.
//!
//! The documented behaviour (docs/operations.md, "When Redis is down"):
//! sessions, logins and money keep working from the database, rate limits
//! count per instance, /readyz stays 200 and says the cache is degraded,
//! sockets are closed and refused, an instance starts without Redis; after
//! Redis returns everything recovers by itself, and nothing is lost.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, PASSWORD, TestApp, error_code, spawn_app, spawn_app_with, unique_email},
    subscriptions::TRANSACTION_UPDATED,
    ws::{DEADLINE, Ws},
};

pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.start_again();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port, with nothing persisted:
    /// like a replacement node that comes up empty.
    pub fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let deadline = Instant::now() + DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Freezes the server (SIGSTOP): unreachable, but holding every key
    /// when it is resumed, as after a network partition.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running redis-server");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Runs one command on the server with redis-cli.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn stop(&mut self) {
        self.resume_if_paused();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl PrivateRedis {
    fn resume_if_paused(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn ready(app: &TestApp) -> (u16, Value) {
    let res = app.get("/readyz").await;
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Polls until `/readyz` says the cache is in `state`, within the
/// deadline; the instance stays ready (200) throughout.
async fn wait_cache(app: &TestApp, state: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (status, body) = ready(app).await;
        assert_eq!(
            status, 200,
            "a cache outage leaves the instance ready: {body}"
        );
        if body["backends"]["cache"]["state"] == state {
            return body;
        }
        assert!(Instant::now() < deadline, "cache never {state}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn counts(app: &TestApp) -> (u64, u64) {
    (
        entity::users::Entity::find().count(&app.db).await.unwrap(),
        entity::user_profiles::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
    )
}

async fn app_on(
    redis: &PrivateRedis,
    adjust: impl FnOnce(&mut paygraph::config::Config),
) -> TestApp {
    let url = redis.url();
    spawn_app_with(Backend::Postgres, |c| {
        c.redis.url = Some(url.into());
        c.redis.tls_ca_file = None;
        c.redis.pool_size = 4;
        adjust(c);
    })
    .await
}

fn token_of(body: &Value) -> String {
    body["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

async fn assert_signed_in(app: &TestApp, token: &str, email: &str) {
    let body = app.me(token).await;
    assert_eq!(body["data"]["me"]["email"], email, "{body}");
}

async fn assert_refused(app: &TestApp, token: &str) {
    let body = app.me(token).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn with_redis_down_sessions_money_and_logins_work_from_the_database() {
    let mut redis = PrivateRedis::start();
    let app = app_on(&redis, |_| {}).await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "100.00").await;
    app.create_wallet(&bob.token, "USD").await;
    assert_signed_in(&app, &ada.token, &ada.email).await;
    let mut socket = Ws::connect(&app, Some(&ada.token)).await.acked();
    socket.subscribe("1", TRANSACTION_UPDATED, json!({})).await;
    let before = counts(&app).await;

    redis.stop();

    // Open sockets are told to come back later (their events would be lost).
    assert_eq!(socket.closed().await, 1013);
    assert_eq!(app.get("/healthz").await.status(), 200);
    // Ready, with the cache (and the bus) named degraded.
    let body = wait_cache(&app, "degraded").await;
    assert_eq!(body["backends"]["database"]["state"], "up", "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    // A session opened before the outage is checked in the database.
    assert_signed_in(&app, &ada.token, &ada.email).await;
    let body = app
        .transfer(&ada.token, &bob.email, "5.00", "USD", "outage-1")
        .await;
    assert_eq!(body["data"]["transfer"]["status"], "COMPLETED", "{body}");
    // Logging in and registering need no Redis either.
    let login = app.login(&bob.email, PASSWORD).await;
    let bob_token = token_of(&login);
    assert_signed_in(&app, &bob_token, &bob.email).await;
    let carol = app.register().await;
    assert_signed_in(&app, &carol.token, &carol.email).await;
    // Anonymous reads are served.
    let body = app.gql("{ me { id } }", json!({}), None).await;
    assert_eq!(body["data"]["me"], Value::Null, "{body}");
    // New sockets are refused, with no data.
    let (code, _) = Ws::connect(&app, Some(&ada.token)).await.closed();
    assert_eq!(code, 1013);

    redis.start_again();

    wait_cache(&app, "up").await;
    // The new Redis came up empty, and no session was lost with it.
    for (token, email) in [(&ada.token, &ada.email), (&bob_token, &bob.email)] {
        assert_signed_in(&app, token, email).await;
    }
    let body = app
        .transfer(&ada.token, &bob.email, "1.00", "USD", "outage-2")
        .await;
    assert_eq!(body["data"]["transfer"]["status"], "COMPLETED", "{body}");
    // Sockets are served again once the bus has reconnected.
    let deadline = Instant::now() + DEADLINE;
    while ready(&app).await.1["backends"]["events"]["state"] != "up" {
        assert!(Instant::now() < deadline, "the bus never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready(&app).await.1["status"], "ready");
    let mut socket = Ws::connect(&app, Some(&ada.token)).await.acked();
    socket.subscribe("1", TRANSACTION_UPDATED, json!({})).await;
    // Nothing in PostgreSQL was lost; carol was added.
    assert_eq!(counts(&app).await, (before.0 + 1, before.1 + 1));
}

#[tokio::test]
async fn a_session_survives_a_flush_and_a_restart_of_redis() {
    let mut redis = PrivateRedis::start();
    let app = app_on(&redis, |_| {}).await;
    let user = app.register().await;
    assert_signed_in(&app, &user.token, &user.email).await;
    assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
    assert_signed_in(&app, &user.token, &user.email).await;
    redis.stop();
    redis.start_again();
    // Every request is served; once this instance has noticed the new
    // Redis, the session is cached again from the database.
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert_signed_in(&app, &user.token, &user.email).await;
        if !redis.cli(&["KEYS", "*session:*"]).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no session was cached again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rate_limits_count_per_instance_while_redis_is_down() {
    let mut redis = PrivateRedis::start();
    let app = app_on(&redis, |c| c.rate_limits.read.limit = 3).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("paygraph_rate_limit_fallback_total 0"),
        "the fallback counter is exported from start: {metrics}"
    );
    let user = app.register().await;
    redis.stop();
    for _ in 0..3 {
        let res = app
            .post_json(&json!({"query": "{ me { id } }"}), Some(&user.token))
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .post_json(&json!({"query": "{ me { id } }"}), Some(&user.token))
        .await;
    assert_eq!(res.status(), 429, "the limit still holds, per instance");
    assert_eq!(error_code(&res.json().await.unwrap()), "RATE_LIMITED");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let counted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("paygraph_rate_limit_fallback_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no fallback counter: {metrics}"));
    assert!(counted >= 4.0, "fallback decisions counted: {counted}");
}

/// A logout while Redis is unreachable holds, also once Redis is back
/// holding the session's entry from before the logout, on the instance
/// that logged out and on another one.
#[tokio::test]
async fn a_logout_while_redis_is_unreachable_is_not_undone_by_its_return() {
    let redis = PrivateRedis::start();
    let a = app_on(&redis, |_| {}).await;
    let b = a.spawn_sibling().await;
    let user = a.register().await;
    let login = a.login(&user.email, PASSWORD).await;
    let other = token_of(&login);
    for app in [&a, &b] {
        assert_signed_in(app, &user.token, &user.email).await;
    }
    let cached = redis.cli(&["KEYS", "*session:*"]);
    assert!(
        !cached.is_empty(),
        "the session is cached before the outage"
    );

    redis.pause();
    let body = a
        .gql("mutation { logout }", json!({}), Some(&user.token))
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    for app in [&a, &b] {
        assert_refused(app, &user.token).await;
        assert_signed_in(app, &other, &user.email).await;
    }
    redis.resume();

    for app in [&a, &b] {
        wait_cache(app, "up").await;
    }
    for app in [&a, &b] {
        assert_refused(app, &user.token).await;
        assert_signed_in(app, &other, &user.email).await;
    }
}

/// A logout on one instance holds on another at once: sessions are in
/// the database both share (and, with Redis, in the cache both share).
async fn a_logout_on_one_instance_holds_on_another_at_once(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.spawn_sibling().await;
    let email = unique_email("two");
    let user = a.register_as(&email, "Ada", "Lovelace").await;
    assert_signed_in(&b, &user.token, &email).await;
    let token = token_of(&b.login(&email, PASSWORD).await);
    assert_signed_in(&a, &token, &email).await;
    let body = a
        .gql("mutation { logout }", json!({}), Some(&user.token))
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert_refused(&b, &user.token).await;
    let body = b.gql("mutation { logout }", json!({}), Some(&token)).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert_refused(&a, &token).await;
}

both_backends!(a_logout_on_one_instance_holds_on_another_at_once);

#[tokio::test]
async fn an_instance_starts_while_redis_is_down_and_uses_it_once_it_answers() {
    let mut redis = PrivateRedis::start();
    redis.stop();

    let app = app_on(&redis, |_| {}).await;

    // Serving, ready, with the cache and the bus named degraded.
    let body = wait_cache(&app, "degraded").await;
    assert_eq!(body["backends"]["events"]["state"], "degraded", "{body}");
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "20.00").await;
    app.create_wallet(&bob.token, "USD").await;
    assert_signed_in(&app, &ada.token, &ada.email).await;
    let body = app
        .transfer(
            &ada.token,
            &bob.email,
            "5.00",
            "USD",
            "started-without-redis",
        )
        .await;
    assert_eq!(body["data"]["transfer"]["status"], "COMPLETED", "{body}");

    redis.start_again();

    wait_cache(&app, "up").await;
    let deadline = Instant::now() + DEADLINE;
    while ready(&app).await.1["backends"]["events"]["state"] != "up" {
        assert!(Instant::now() < deadline, "the bus never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The sessions opened without Redis hold, and sockets are served.
    assert_signed_in(&app, &ada.token, &ada.email).await;
    let mut socket = Ws::connect(&app, Some(&bob.token)).await.acked();
    socket.subscribe("1", TRANSACTION_UPDATED, json!({})).await;
    let sent = app
        .transfer(&ada.token, &bob.email, "1.00", "USD", "after-redis")
        .await;
    // The transfer made while Redis was down may come first: its notice
    // waited for Redis to answer.
    let id = &sent["data"]["transfer"]["id"];
    for _ in 0..3 {
        let event = socket.next_payload().await;
        if event["data"]["transactionUpdated"]["id"] == *id {
            return;
        }
    }
    panic!("the transfer made after Redis came up was never announced");
}
