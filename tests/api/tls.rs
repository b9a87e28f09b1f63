//! The connections as infra/ deploys them: Redis over TLS with an AUTH
//! token (`rediss://:token@host:port`), PostgreSQL with `sslmode=require`.
//! The suite's Redis is the TLS-only server `scripts/test` starts.

use std::process::Command;

use sea_orm::{ConnectionTrait, Statement};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{Backend, redis_ca_file, redis_client, redis_url, spawn_app_with};

fn tls_redis_url() -> String {
    let url = redis_url();
    assert!(
        url.starts_with("rediss://"),
        "these tests need the TLS Redis that scripts/test starts (PAYGRAPH_TEST_REDIS_URL={url})"
    );
    url
}

#[tokio::test]
async fn sessions_and_rate_limits_live_in_a_tls_redis_reached_with_its_token() {
    let url = tls_redis_url();
    let app = spawn_app_with(Backend::Postgres, |_| {}).await;
    let user = app.register().await;
    assert_eq!(
        app.me(&user.token).await["data"]["me"]["email"],
        json!(user.email)
    );

    // The instance's keys are in that server, read over TLS with the CA.
    let mut conn = redis_client()
        .get_multiplexed_async_connection()
        .await
        .expect("a TLS connection with the CA and the token");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.config.redis.key_prefix))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert!(!keys.is_empty(), "no keys of this instance in {url}");

    // The server speaks nothing but TLS, and nothing without the token.
    let port = url.rsplit(':').next().unwrap();
    let plain = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let refused = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut c = plain.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut c).await
    })
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a plain connection got an answer"
    );
    let tokenless = url.replacen(&url[9..url.find('@').unwrap() + 1], "", 1);
    let without_token =
        paygraph::cache::redis_client::client(&tokenless, redis_ca_file().as_deref()).unwrap();
    let mut c = without_token
        .get_multiplexed_async_connection()
        .await
        .expect("TLS connects");
    let denied = redis::cmd("GET")
        .arg("x")
        .query_async::<Option<String>>(&mut c)
        .await;
    assert!(denied.is_err(), "a command without the token was served");
}

#[test]
fn a_redis_certificate_that_is_not_trusted_stops_start_up_with_one_line() {
    let url = tls_redis_url();
    let dir = tempfile::tempdir().expect("a folder");
    let out = Command::new(env!("CARGO_BIN_EXE_paygraph"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/p.db?mode=rwc", dir.path().display()),
        )
        .env("PAYGRAPH_ADDR", "127.0.0.1:0")
        .env("PAYGRAPH_LOG", "off")
        // No REDIS_TLS_CA_FILE: the public roots do not know the test CA.
        .env("REDIS_URL", &url)
        .output()
        .expect("run paygraph");
    assert!(!out.status.success(), "started with an untrusted Redis");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("certificate is not trusted") && lines[0].contains("REDIS_TLS_CA_FILE"),
        "{stderr}"
    );
    assert!(
        !lines[0].contains(&url[9..url.find('@').unwrap()]),
        "the token was printed: {stderr}"
    );
}

#[tokio::test]
async fn a_database_url_with_sslmode_require_connects_over_tls() {
    let app = spawn_app_with(Backend::Postgres, |c| {
        c.database.url = format!("{}?sslmode=require", c.database.url.expose_secret()).into();
    })
    .await;
    let user = app.register().await;
    assert_eq!(
        app.me(&user.token).await["data"]["me"]["email"],
        json!(user.email)
    );
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .expect("pg_stat_ssl")
        .expect("a row");
    let ssl: bool = row.try_get("", "ssl").expect("ssl");
    assert!(ssl, "the connection is not encrypted");
}
