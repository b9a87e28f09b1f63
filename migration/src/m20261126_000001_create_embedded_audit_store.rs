//! The embedded audit store (`AUDIT_STORE=embedded`, the default): the
//! DynamoDB tables `audit_logs` and `fraud_detection` as relational tables
//! with the same keys, and indexes standing in for the two GSIs
//! (`user_id-index`, `transaction_id-index`, both ranged by `sort_key`).
//!
//! Like the outbox, the id columns carry no foreign keys: an audit record
//! must outlive whatever it mentions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLogs::Table)
                    .col(string_len(AuditLogs::PartitionKey, 80))
                    .col(string_len(AuditLogs::SortKey, 80))
                    .col(uuid(AuditLogs::EventId))
                    .col(string_len(AuditLogs::Service, 50))
                    .col(string_len(AuditLogs::EventType, 80))
                    .col(uuid_null(AuditLogs::ActorId))
                    .col(uuid_null(AuditLogs::UserId))
                    .col(uuid_null(AuditLogs::TransactionId))
                    .col(text_null(AuditLogs::Data))
                    .col(timestamp_with_time_zone(AuditLogs::CreatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_audit_logs")
                            .col(AuditLogs::PartitionKey)
                            .col(AuditLogs::SortKey),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_audit_logs_user_id", AuditLogs::UserId),
            ("idx_audit_logs_transaction_id", AuditLogs::TransactionId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditLogs::Table)
                        .col(col)
                        .col(AuditLogs::SortKey)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(FraudDetection::Table)
                    .col(uuid(FraudDetection::UserId))
                    .col(string_len(FraudDetection::Timestamp, 80))
                    .col(uuid(FraudDetection::CheckId))
                    .col(uuid_null(FraudDetection::TransactionId))
                    .col(big_integer(FraudDetection::AmountMinor))
                    .col(string_len(FraudDetection::Currency, 3))
                    .col(integer(FraudDetection::Score))
                    .col(text(FraudDetection::RulesFired))
                    .col(string_len(FraudDetection::Decision, 20))
                    .col(timestamp_with_time_zone(FraudDetection::CheckedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_fraud_detection")
                            .col(FraudDetection::UserId)
                            .col(FraudDetection::Timestamp),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FraudDetection::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AuditLogs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditLogs {
    Table,
    PartitionKey,
    SortKey,
    EventId,
    Service,
    EventType,
    ActorId,
    UserId,
    TransactionId,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum FraudDetection {
    Table,
    UserId,
    Timestamp,
    CheckId,
    TransactionId,
    AmountMinor,
    Currency,
    Score,
    RulesFired,
    Decision,
    CheckedAt,
}
