//! `audit_dead_letters`: outbox rows the relay gave up on after
//! `PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS` failed deliveries. Same columns as
//! `audit_outbox` (no foreign keys either: an audit record outlives what it
//! mentions), with the last error and when the row was given up on; an
//! operator requeues them into the outbox.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditDeadLetters {
    Table,
    EventId,
    ServiceName,
    EventType,
    ActorId,
    UserId,
    TransactionId,
    Data,
    CreatedAt,
    Attempts,
    LastError,
    DeadLetteredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditDeadLetters::Table)
                    .col(pk_uuid(AuditDeadLetters::EventId))
                    .col(string_len(AuditDeadLetters::ServiceName, 50))
                    .col(string_len(AuditDeadLetters::EventType, 80))
                    .col(uuid_null(AuditDeadLetters::ActorId))
                    .col(uuid_null(AuditDeadLetters::UserId))
                    .col(uuid_null(AuditDeadLetters::TransactionId))
                    .col(json_binary_null(AuditDeadLetters::Data))
                    .col(timestamp_with_time_zone(AuditDeadLetters::CreatedAt))
                    .col(integer(AuditDeadLetters::Attempts))
                    .col(text(AuditDeadLetters::LastError))
                    .col(timestamp_now(manager, AuditDeadLetters::DeadLetteredAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditDeadLetters::Table).to_owned())
            .await
    }
}
