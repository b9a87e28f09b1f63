//! The outbox's move to one row per commit (migration 20261128_000001)
//! carries over every event waiting for the relay, with its delivery state,
//! and its `down` splits them back into rows of one event.

use chrono::{SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, Database, EntityTrait,
    sea_query::{Alias, Query},
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::fresh_postgres_database;

async fn waiting_events_survive_the_outbox_migration(url: &str) {
    let db = Database::connect(url).await.unwrap();
    let before_it = Migrator::migrations().len() as u32 - 1;
    Migrator::up(&db, Some(before_it)).await.unwrap();

    let now = Utc::now().trunc_subsecs(6);
    let user = Uuid::now_v7();
    let ids = [Uuid::now_v7(), Uuid::now_v7()];
    for (n, id) in ids.iter().enumerate() {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("audit_outbox"))
            .columns(
                [
                    "event_id",
                    "service_name",
                    "event_type",
                    "user_id",
                    "data",
                    "created_at",
                    "attempts",
                    "next_attempt_at",
                    "last_error",
                ]
                .map(Alias::new),
            )
            .values_panic([
                (*id).into(),
                "ledger".into(),
                "transfer.created".into(),
                Some(user).into(),
                Some(json!({"n": n})).into(),
                now.into(),
                3i32.into(),
                now.into(),
                Some("store down").into(),
            ]);
        db.execute(&insert).await.unwrap();
    }

    Migrator::up(&db, None).await.unwrap();
    let mut waiting = paygraph::audit::relay::pending(&db).await.unwrap();
    waiting.sort_by_key(|e| e.event_id);
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    for (n, (event, id)) in waiting.iter().zip(ids).enumerate() {
        assert_eq!(event.event_id, id);
        assert_eq!(event.service_name, "ledger");
        assert_eq!(event.event_type, "transfer.created");
        assert_eq!(event.user_id, Some(user));
        assert_eq!(event.actor_id, None);
        assert_eq!(event.data, Some(json!({"n": n})));
        assert_eq!(event.created_at, now);
    }
    let rows = entity::audit_outbox::Entity::find().all(&db).await.unwrap();
    assert!(
        rows.iter().all(|r| r.event_count == 1
            && r.attempts == 3
            && r.last_error.as_deref() == Some("store down")),
        "{rows:?}"
    );

    Migrator::down(&db, Some(1)).await.unwrap();
    let back = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT event_id, attempts FROM audit_outbox ORDER BY event_id",
        ))
        .await
        .unwrap();
    let back: Vec<(Uuid, i32)> = back
        .iter()
        .map(|r| {
            (
                r.try_get("", "event_id").unwrap(),
                r.try_get("", "attempts").unwrap(),
            )
        })
        .collect();
    assert_eq!(back, vec![(ids[0], 3), (ids[1], 3)]);
}

#[tokio::test]
async fn postgres_keeps_waiting_events() {
    waiting_events_survive_the_outbox_migration(&fresh_postgres_database().await).await;
}

#[tokio::test]
async fn sqlite_keeps_waiting_events() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    waiting_events_survive_the_outbox_migration(&url).await;
}
