//! Redis stopped and started under a running server. Each test runs its
//! own private redis-server on a free port: the shared one on 6379 serves
//! every other test and is never touched.
//!
//! The documented behaviour (README, "When Redis is down"): authenticated
//! requests fail closed with 503 (no session check, no service), anonymous
//! reads and /healthz stay up, /readyz says the cache is down, sockets are
//! closed and refused; after Redis returns everything recovers by itself,
//! and nothing in PostgreSQL is lost.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PASSWORD, TestApp, error_code, spawn_app_with},
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

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
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

/// Polls until `/readyz` answers `status`, within the deadline.
async fn wait_ready(app: &TestApp, status: u16) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (got, body) = ready(app).await;
        if got == status {
            return body;
        }
        assert!(Instant::now() < deadline, "readyz stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
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

#[tokio::test]
async fn redis_down_fails_closed_for_sessions_stays_up_for_the_rest_and_recovers() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let app = spawn_app_with(Backend::Postgres, |c| {
        c.redis_url = Some(url);
        c.redis_pool_size = 4;
    })
    .await;
    let user = app.register().await;
    assert_eq!(app.me(&user.token).await["data"]["me"]["email"], user.email);
    let mut socket = Ws::connect(&app, Some(&user.token)).await.acked();
    socket.subscribe("1", TRANSACTION_UPDATED, json!({})).await;
    let before = counts(&app).await;

    redis.stop();

    // Open sockets are told to come back later (their events would be lost).
    assert_eq!(socket.closed().await, 1013);
    // The process lives; readiness says which backend is down.
    assert_eq!(app.get("/healthz").await.status(), 200);
    let body = wait_ready(&app, 503).await;
    assert_eq!(body["backends"]["cache"]["state"], "down", "{body}");
    assert_eq!(body["backends"]["database"]["state"], "up", "{body}");
    // Fail closed: a token cannot be checked against its session.
    let res = app
        .post_json(&json!({"query": "{ me { id } }"}), Some(&user.token))
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(error_code(&res.json().await.unwrap()), "UNAVAILABLE");
    // Logging in needs a session (and the auth limit fails closed).
    let res = app
        .post_json(
            &json!({"query": "mutation($i: LoginInput!) { login(input: $i) { token } }",
                    "variables": {"i": {"email": user.email, "password": PASSWORD}}}),
            None,
        )
        .await;
    assert_eq!(res.status(), 503);
    // Anonymous reads need no Redis (their rate limit fails open).
    let body = app.gql("{ me { id } }", json!({}), None).await;
    assert_eq!(body["data"]["me"], Value::Null, "{body}");
    // New sockets are refused, with no data.
    let (code, _) = Ws::connect(&app, Some(&user.token)).await.closed();
    assert_eq!(code, 1013);

    redis.start_again();

    let body = wait_ready(&app, 200).await;
    assert_eq!(body["backends"]["events"]["state"], "up", "{body}");
    // The new Redis came up empty: the old session is gone, so its token
    // stays refused rather than coming back.
    let body = app.me(&user.token).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let login = app.login(&user.email, PASSWORD).await;
    let token = login["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned();
    assert_eq!(app.me(&token).await["data"]["me"]["email"], user.email);
    let mut socket = Ws::connect(&app, Some(&token)).await.acked();
    socket.subscribe("1", TRANSACTION_UPDATED, json!({})).await;
    // Nothing in PostgreSQL was lost.
    assert_eq!(counts(&app).await, before);
}
