//! The change feed: `changes` holds, per user, every change to their
//! transactions, wallets and payment requests, numbered by `sequence`
//! (1, 2, 3 ... per user, no gaps). `change_heads` holds each user's last
//! number; the transaction that makes a change moves it forward, so the
//! row's lock orders one user's changes the way they commit. Rows older
//! than `CHANGE_FEED_RETENTION_SECS` are purged through the `changed_at`
//! index; heads stay, so numbering never restarts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeHeads {
    Table,
    UserId,
    LastSequence,
}

#[derive(DeriveIden)]
enum Changes {
    Table,
    UserId,
    Sequence,
    TransactionId,
    WalletId,
    PaymentRequestId,
    ChangedAt,
}

const INDEX: &str = "idx_changes_changed_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeHeads::Table)
                    .col(pk_uuid(ChangeHeads::UserId))
                    .col(big_integer(ChangeHeads::LastSequence))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Changes::Table)
                    .col(uuid(Changes::UserId))
                    .col(big_integer(Changes::Sequence))
                    .col(uuid_null(Changes::TransactionId))
                    .col(uuid_null(Changes::WalletId))
                    .col(uuid_null(Changes::PaymentRequestId))
                    .col(timestamp_with_time_zone(Changes::ChangedAt))
                    .primary_key(Index::create().col(Changes::UserId).col(Changes::Sequence))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Changes::Table)
                    .col(Changes::ChangedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Changes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ChangeHeads::Table).to_owned())
            .await
    }
}
