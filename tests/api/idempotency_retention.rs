//! Idempotency keys answer with their first result for
//! `IDEMPOTENCY_RETENTION_DAYS`; older keys are purged in the background and
//! the same key then starts a new request.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, error_code, key_of, spawn_app_with};

both_backends!(keys_past_their_retention_are_purged_and_recent_ones_kept);

/// Makes the caller's key look as if it was first used `days` ago.
async fn age_key(app: &TestApp, user_id: &str, key: &str, days: i64) {
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Sqlite => {
            "UPDATE idempotency_keys SET created_at = ? WHERE user_id = ? AND idempotency_key = ?"
        }
        _ => {
            "UPDATE idempotency_keys SET created_at = $1 WHERE user_id = $2 AND idempotency_key = $3"
        }
    };
    let at = chrono::Utc::now() - chrono::Duration::days(days);
    let done = app
        .db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [at.into(), key_of(user_id).into(), key.into()],
        ))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "{key} was taken");
}

fn transfer_id(body: &Value) -> String {
    body["data"]["transfer"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

async fn keys_past_their_retention_are_purged_and_recent_ones_kept(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.ledger.idempotency_retention = Duration::from_secs(30 * 86_400);
        c.workers.idempotency_purge_poll = Duration::from_millis(50);
        c.workers.idempotency_purge_batch = 1;
    })
    .await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "100.00").await;
    let old = transfer_id(
        &app.transfer(&ada.token, &bob.email, "1.00", "USD", "old")
            .await,
    );
    let recent = transfer_id(
        &app.transfer(&ada.token, &bob.email, "2.00", "USD", "recent")
            .await,
    );
    age_key(&app, &ada.id, "recent", 29).await;
    age_key(&app, &ada.id, "old", 31).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while app
        .count("SELECT COUNT(*) AS n FROM idempotency_keys WHERE idempotency_key = 'old'")
        .await
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the 31-day-old key was never purged"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // The old key is forgotten: with another input it is a new transfer.
    let again = app
        .transfer(&ada.token, &bob.email, "3.00", "USD", "old")
        .await;
    assert_eq!(again["data"]["transfer"]["status"], "COMPLETED", "{again}");
    assert_ne!(transfer_id(&again), old);
    // The 29-day-old key still answers with its first result...
    let replay = app
        .transfer(&ada.token, &bob.email, "2.00", "USD", "recent")
        .await;
    assert_eq!(transfer_id(&replay), recent);
    // ...and refuses another input.
    let conflict = app
        .transfer(&ada.token, &bob.email, "2.50", "USD", "recent")
        .await;
    assert_eq!(error_code(&conflict), "IDEMPOTENCY_CONFLICT");
}
