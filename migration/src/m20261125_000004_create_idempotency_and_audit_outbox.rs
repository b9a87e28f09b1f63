//! Idempotency keys for money-moving mutations, and the audit outbox.
//!
//! `idempotency_keys` is keyed per user: the same client-chosen key from two
//! users is two requests. `request_hash` lets the service reject a reused key
//! whose request body differs, and `transaction_id` points at the result to
//! replay.
//!
//! `audit_outbox` replaces a direct write to DynamoDB inside the request: the
//! event is inserted in the same database transaction as the change it
//! describes, and a relay ships it to DynamoDB after commit, retrying with
//! `attempts`/`next_attempt_at`. Its id columns deliberately have no foreign
//! keys: an audit record must outlive whatever it mentions.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_user_tables::Users;
use crate::m20261125_000003_create_ledger_tables::Transactions;
use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::UserId))
                    .col(string_len(IdempotencyKeys::IdempotencyKey, 255))
                    .col(string_len(IdempotencyKeys::RequestHash, 64))
                    .col(uuid_null(IdempotencyKeys::TransactionId))
                    .col(timestamp_now(manager, IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_idempotency_keys")
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::IdempotencyKey),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_user")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::UserId)
                            .to(Users::Table, Users::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_transaction")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::TransactionId)
                            .to(Transactions::Table, Transactions::TransactionId),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditOutbox::Table)
                    .col(pk_uuid(AuditOutbox::EventId))
                    .col(string_len(AuditOutbox::ServiceName, 50))
                    .col(string_len(AuditOutbox::EventType, 80))
                    .col(uuid_null(AuditOutbox::ActorId))
                    .col(uuid_null(AuditOutbox::UserId))
                    .col(uuid_null(AuditOutbox::TransactionId))
                    .col(json_binary_null(AuditOutbox::Data))
                    .col(timestamp_now(manager, AuditOutbox::CreatedAt))
                    .col(integer(AuditOutbox::Attempts).default(0))
                    .col(timestamp_now(manager, AuditOutbox::NextAttemptAt))
                    .col(text_null(AuditOutbox::LastError))
                    .to_owned(),
            )
            .await?;
        // The relay polls "due now, oldest first".
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_outbox_next_attempt_at")
                    .table(AuditOutbox::Table)
                    .col(AuditOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditOutbox::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    IdempotencyKey,
    RequestHash,
    TransactionId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditOutbox {
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
    NextAttemptAt,
    LastError,
}
