//! `payment_requests`: one user asks another for money. A request is paid
//! at most once: paying it is a conditional update from `pending` in the
//! same database transaction that posts the transfer. Expiry needs no
//! write: a pending request past `expires_at` is expired. The requester's
//! idempotency key is unique per requester (NULLs, for keys past their
//! retention, do not collide on either backend).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_user_tables::Users;
use crate::m20261125_000003_create_ledger_tables::Transactions;
use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PaymentRequests {
    Table,
    PaymentRequestId,
    RequesterId,
    PayerId,
    AmountMinor,
    Currency,
    Note,
    Status,
    DeclineReason,
    TransactionId,
    IdempotencyKey,
    RequestHash,
    Version,
    CreatedAt,
    ExpiresAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PaymentRequests as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(pk_uuid(P::PaymentRequestId))
                    .col(uuid(P::RequesterId))
                    .col(uuid(P::PayerId))
                    .col(big_integer(P::AmountMinor).check(Expr::col(P::AmountMinor).gt(0)))
                    .col(string_len(P::Currency, 3))
                    .col(text_null(P::Note))
                    .col(string_len(P::Status, 16).default("pending"))
                    .col(text_null(P::DeclineReason))
                    .col(uuid_null(P::TransactionId))
                    .col(string_len_null(P::IdempotencyKey, 255))
                    .col(string_len_null(P::RequestHash, 64))
                    .col(big_integer(P::Version).default(1))
                    .col(timestamp_now(manager, P::CreatedAt))
                    .col(timestamp_with_time_zone(P::ExpiresAt))
                    .col(timestamp_now(manager, P::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payment_requests_requester")
                            .from(P::Table, P::RequesterId)
                            .to(Users::Table, Users::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payment_requests_payer")
                            .from(P::Table, P::PayerId)
                            .to(Users::Table, Users::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payment_requests_transaction")
                            .from(P::Table, P::TransactionId)
                            .to(Transactions::Table, Transactions::TransactionId),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "uq_payment_requests_requester_key",
                vec![P::RequesterId, P::IdempotencyKey],
                true,
            ),
            (
                "idx_payment_requests_requester",
                vec![P::RequesterId, P::CreatedAt],
                false,
            ),
            (
                "idx_payment_requests_payer",
                vec![P::PayerId, P::CreatedAt],
                false,
            ),
            ("idx_payment_requests_created_at", vec![P::CreatedAt], false),
        ] {
            let mut index = Index::create();
            index.name(name).table(P::Table);
            for col in cols {
                index.col(col);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PaymentRequests::Table).to_owned())
            .await
    }
}
