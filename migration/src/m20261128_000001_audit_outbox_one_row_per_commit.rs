//! `audit_outbox` holds one row per database commit, with that commit's
//! audit events as a JSON array, instead of one row per event. A batch of
//! transfers records three events per payment; as rows, each was inserted,
//! leased and deleted on its own, with two index entries each, which made
//! the outbox a large share of the database's work per transfer.
//!
//! Rows waiting at migration time are carried over, each as a commit of
//! one event, so nothing waiting for the relay is lost (and `down` splits
//! them again). Events keep their ids, which key every store write.

use chrono::{DateTime, Utc};
use sea_orm::{QueryResult, Statement};
use sea_orm_migration::{prelude::*, schema::*};
use uuid::Uuid;

use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditOutbox {
    Table,
    BatchId,
    Events,
    EventCount,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    LastError,
}

#[derive(DeriveIden)]
enum AuditOutboxOld {
    Table,
}

#[derive(DeriveIden)]
enum OldColumns {
    EventId,
    ServiceName,
    EventType,
    ActorId,
    UserId,
    TransactionId,
    Data,
}

/// The relay polls "due now, oldest first". The index gets a new name: with
/// the old one, recreating it failed now and then on SQLite with "already
/// exists" (under parallel test runs, never alone), most likely a pooled
/// connection's cached statement of that same text from the original
/// migration; a new name avoids the question.
const OLD_INDEX: &str = "idx_audit_outbox_next_attempt_at";
const NEW_INDEX: &str = "idx_audit_outbox_due";
/// Rows carried over per statement: a long outage can leave many.
const PAGE: u64 = 500;

/// The event fields, in both shapes (old columns, new JSON keys).
const EVENT_FIELDS: [&str; 7] = [
    "event_id",
    "service_name",
    "event_type",
    "actor_id",
    "user_id",
    "transaction_id",
    "data",
];

fn index(name: &str) -> IndexCreateStatement {
    Index::create()
        .name(name)
        .table(AuditOutbox::Table)
        .col(AuditOutbox::NextAttemptAt)
        .to_owned()
}

/// Renames the current table to `audit_outbox_old` (its index dropped),
/// creates `new`, moves every row through `convert` a page at a time,
/// drops the old table and indexes the new one. Decoding and encoding go
/// through SeaORM, so UUIDs and times are stored as each backend stores
/// them (SQLite keeps UUIDs as blobs, which its JSON functions refuse).
async fn rebuild(
    manager: &SchemaManager<'_>,
    (old_index, new_index): (&str, &str),
    new: TableCreateStatement,
    order_by: &str,
    columns: Vec<DynIden>,
    convert: impl Fn(&QueryResult) -> Result<Vec<Vec<SimpleExpr>>, DbErr>,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    manager
        .drop_index(
            Index::drop()
                .name(old_index)
                .table(AuditOutbox::Table)
                .to_owned(),
        )
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(AuditOutbox::Table, AuditOutboxOld::Table)
                .to_owned(),
        )
        .await?;
    manager.create_table(new).await?;
    let mut offset = 0;
    loop {
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT * FROM audit_outbox_old ORDER BY {order_by} LIMIT {PAGE} OFFSET {offset}"),
            ))
            .await?;
        if rows.is_empty() {
            break;
        }
        offset += PAGE;
        let mut pending = Vec::new();
        for row in &rows {
            pending.extend(convert(row)?);
            // Statements of about PAGE rows, whatever a row splits into.
            if pending.len() >= PAGE as usize {
                insert_rows(db, &columns, std::mem::take(&mut pending)).await?;
            }
        }
        insert_rows(db, &columns, pending).await?;
    }
    manager
        .drop_table(Table::drop().table(AuditOutboxOld::Table).to_owned())
        .await?;
    manager.create_index(index(new_index)).await
}

async fn insert_rows(
    db: &SchemaManagerConnection<'_>,
    columns: &[DynIden],
    rows: Vec<Vec<SimpleExpr>>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert();
    insert
        .into_table(AuditOutbox::Table)
        .columns(columns.to_vec());
    for values in rows {
        insert.values_panic(values);
    }
    db.execute(&insert).await?;
    Ok(())
}

fn waiting_values(row: &QueryResult) -> Result<[SimpleExpr; 4], DbErr> {
    Ok([
        row.try_get::<DateTime<Utc>>("", "created_at")?.into(),
        row.try_get::<i32>("", "attempts")?.into(),
        row.try_get::<DateTime<Utc>>("", "next_attempt_at")?.into(),
        row.try_get::<Option<String>>("", "last_error")?.into(),
    ])
}

const WAITING: [AuditOutbox; 4] = [
    AuditOutbox::CreatedAt,
    AuditOutbox::Attempts,
    AuditOutbox::NextAttemptAt,
    AuditOutbox::LastError,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let new = Table::create()
            .table(AuditOutbox::Table)
            .col(pk_uuid(AuditOutbox::BatchId))
            .col(json_binary(AuditOutbox::Events))
            .col(integer(AuditOutbox::EventCount))
            .col(timestamp_now(manager, AuditOutbox::CreatedAt))
            .col(integer(AuditOutbox::Attempts).default(0))
            .col(timestamp_now(manager, AuditOutbox::NextAttemptAt))
            .col(text_null(AuditOutbox::LastError))
            .to_owned();
        let mut columns = vec![
            AuditOutbox::BatchId.into_iden(),
            AuditOutbox::Events.into_iden(),
            AuditOutbox::EventCount.into_iden(),
        ];
        columns.extend(WAITING.map(IntoIden::into_iden));
        rebuild(
            manager,
            (OLD_INDEX, NEW_INDEX),
            new,
            "event_id",
            columns,
            |row| {
                let event_id: Uuid = row.try_get("", "event_id")?;
                let event = serde_json::json!({
                    "event_id": event_id,
                    "service_name": row.try_get::<String>("", "service_name")?,
                    "event_type": row.try_get::<String>("", "event_type")?,
                    "actor_id": row.try_get::<Option<Uuid>>("", "actor_id")?,
                    "user_id": row.try_get::<Option<Uuid>>("", "user_id")?,
                    "transaction_id": row.try_get::<Option<Uuid>>("", "transaction_id")?,
                    "data": row.try_get::<Option<serde_json::Value>>("", "data")?,
                    "created_at": row.try_get::<DateTime<Utc>>("", "created_at")?,
                });
                let mut values: Vec<SimpleExpr> = vec![
                    event_id.into(),
                    serde_json::json!([event]).into(),
                    1i32.into(),
                ];
                values.extend(waiting_values(row)?);
                Ok(vec![values])
            },
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let new = Table::create()
            .table(AuditOutbox::Table)
            .col(pk_uuid(OldColumns::EventId))
            .col(string_len(OldColumns::ServiceName, 50))
            .col(string_len(OldColumns::EventType, 80))
            .col(uuid_null(OldColumns::ActorId))
            .col(uuid_null(OldColumns::UserId))
            .col(uuid_null(OldColumns::TransactionId))
            .col(json_binary_null(OldColumns::Data))
            .col(timestamp_now(manager, AuditOutbox::CreatedAt))
            .col(integer(AuditOutbox::Attempts).default(0))
            .col(timestamp_now(manager, AuditOutbox::NextAttemptAt))
            .col(text_null(AuditOutbox::LastError))
            .to_owned();
        let mut columns: Vec<DynIden> = EVENT_FIELDS
            .iter()
            .map(|f| Alias::new(*f).into_iden())
            .collect();
        columns.extend(WAITING.map(IntoIden::into_iden));
        rebuild(
            manager,
            (NEW_INDEX, OLD_INDEX),
            new,
            "batch_id",
            columns,
            |row| {
                let events: serde_json::Value = row.try_get("", "events")?;
                let mut rows = Vec::new();
                for event in events.as_array().into_iter().flatten() {
                    let text = |key: &str| event[key].as_str().map(str::to_owned);
                    let id = |key: &str| {
                        text(key)
                            .map(|t| Uuid::parse_str(&t))
                            .transpose()
                            .map_err(|e| DbErr::Custom(format!("outbox event {key}: {e}")))
                    };
                    let created_at = text("created_at")
                        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                        .map(|t| t.with_timezone(&Utc));
                    let mut values: Vec<SimpleExpr> = vec![
                        id("event_id")?.into(),
                        text("service_name").into(),
                        text("event_type").into(),
                        id("actor_id")?.into(),
                        id("user_id")?.into(),
                        id("transaction_id")?.into(),
                        Some(event["data"].clone()).filter(|d| !d.is_null()).into(),
                    ];
                    let mut waiting = waiting_values(row)?;
                    if let Some(t) = created_at {
                        waiting[0] = t.into();
                    }
                    values.extend(waiting);
                    rows.push(values);
                }
                Ok(rows)
            },
        )
        .await
    }
}
