//! Wallets, transactions, their event trail and balance history (the seed's
//! "Wallet Service" and "Transaction Service" schemas, which share a ledger).
//!
//! Beyond the seed: `version` columns for optimistic locking, CHECK
//! constraints so no code path can leave a wallet negative or inconsistent,
//! explicit wallet and bank-account references on a transaction, and
//! `related_transaction_id` so a refund points to the transaction it reverses.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_user_tables::Users;
use crate::m20261125_000002_create_account_tables::{Accounts, PaymentMethods};
use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_wallets(manager).await?;
        create_transactions(manager).await?;
        create_transaction_events(manager).await?;
        create_balance_history(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            BalanceHistory::Table.into_iden(),
            TransactionEvents::Table.into_iden(),
            Transactions::Table.into_iden(),
            Wallets::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn create_wallets(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Wallets::Table)
                .col(pk_uuid(Wallets::WalletId))
                .col(uuid(Wallets::UserId))
                .col(string_len(Wallets::Currency, 3))
                .col(big_integer(Wallets::BalanceMinor).default(0))
                .col(big_integer(Wallets::AvailableBalanceMinor).default(0))
                .col(big_integer(Wallets::FrozenBalanceMinor).default(0))
                .col(string_len(Wallets::Status, 20).default("active"))
                .col(big_integer(Wallets::Version).default(0))
                .col(timestamp_now(manager, Wallets::CreatedAt))
                .col(timestamp_now(manager, Wallets::UpdatedAt))
                .check((
                    "ck_wallets_available_non_negative",
                    Expr::col(Wallets::AvailableBalanceMinor).gte(0),
                ))
                .check((
                    "ck_wallets_frozen_non_negative",
                    Expr::col(Wallets::FrozenBalanceMinor).gte(0),
                ))
                .check((
                    "ck_wallets_balance_is_sum",
                    Expr::col(Wallets::BalanceMinor).eq(Expr::col(Wallets::AvailableBalanceMinor)
                        .add(Expr::col(Wallets::FrozenBalanceMinor))),
                ))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_wallets_user")
                        .from(Wallets::Table, Wallets::UserId)
                        .to(Users::Table, Users::UserId),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("uq_wallets_user_currency")
                .table(Wallets::Table)
                .col(Wallets::UserId)
                .col(Wallets::Currency)
                .unique()
                .to_owned(),
        )
        .await?;
    // Same columns as the unique index above, kept because the seed lists it
    // among its performance indexes.
    manager
        .create_index(
            Index::create()
                .name("idx_wallets_user_currency")
                .table(Wallets::Table)
                .col(Wallets::UserId)
                .col(Wallets::Currency)
                .to_owned(),
        )
        .await
}

async fn create_transactions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Transactions::Table)
                .col(pk_uuid(Transactions::TransactionId))
                .col(uuid_null(Transactions::SenderId))
                .col(uuid_null(Transactions::ReceiverId))
                .col(uuid_null(Transactions::SenderWalletId))
                .col(uuid_null(Transactions::ReceiverWalletId))
                .col(big_integer(Transactions::AmountMinor))
                .col(string_len(Transactions::Currency, 3).default("USD"))
                .col(string_len(Transactions::TransactionType, 20))
                .col(string_len(Transactions::Status, 20).default("pending"))
                .col(uuid_null(Transactions::PaymentMethodId))
                .col(uuid_null(Transactions::AccountId))
                .col(uuid_null(Transactions::RelatedTransactionId))
                .col(text_null(Transactions::Description))
                .col(big_integer(Transactions::FeesMinor).default(0))
                .col(big_integer(Transactions::Version).default(0))
                .col(timestamp_now(manager, Transactions::CreatedAt))
                .col(timestamp_now(manager, Transactions::UpdatedAt))
                .col(timestamp_with_time_zone_null(Transactions::CompletedAt))
                .check((
                    "ck_transactions_amount_positive",
                    Expr::col(Transactions::AmountMinor).gt(0),
                ))
                .check((
                    "ck_transactions_fees_non_negative",
                    Expr::col(Transactions::FeesMinor).gte(0),
                ))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transactions_sender")
                        .from(Transactions::Table, Transactions::SenderId)
                        .to(Users::Table, Users::UserId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transactions_receiver")
                        .from(Transactions::Table, Transactions::ReceiverId)
                        .to(Users::Table, Users::UserId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transactions_sender_wallet")
                        .from(Transactions::Table, Transactions::SenderWalletId)
                        .to(Wallets::Table, Wallets::WalletId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transactions_receiver_wallet")
                        .from(Transactions::Table, Transactions::ReceiverWalletId)
                        .to(Wallets::Table, Wallets::WalletId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transactions_payment_method")
                        .from(Transactions::Table, Transactions::PaymentMethodId)
                        .to(PaymentMethods::Table, PaymentMethods::MethodId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transactions_account")
                        .from(Transactions::Table, Transactions::AccountId)
                        .to(Accounts::Table, Accounts::AccountId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transactions_related")
                        .from(Transactions::Table, Transactions::RelatedTransactionId)
                        .to(Transactions::Table, Transactions::TransactionId),
                )
                .to_owned(),
        )
        .await?;
    // History pages: "my transactions, newest first", for each side.
    manager
        .create_index(
            Index::create()
                .name("idx_transactions_user_date")
                .table(Transactions::Table)
                .col(Transactions::SenderId)
                .col((Transactions::CreatedAt, IndexOrder::Desc))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_transactions_receiver_date")
                .table(Transactions::Table)
                .col(Transactions::ReceiverId)
                .col((Transactions::CreatedAt, IndexOrder::Desc))
                .to_owned(),
        )
        .await?;
    // Partial: only the small set of in-flight transactions that workers poll.
    manager
        .create_index(
            Index::create()
                .name("idx_transactions_status")
                .table(Transactions::Table)
                .col(Transactions::Status)
                .and_where(Expr::col(Transactions::Status).is_in(["pending", "processing"]))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_transactions_related_transaction_id")
                .table(Transactions::Table)
                .col(Transactions::RelatedTransactionId)
                .to_owned(),
        )
        .await
}

async fn create_transaction_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(TransactionEvents::Table)
                .col(pk_uuid(TransactionEvents::EventId))
                .col(uuid(TransactionEvents::TransactionId))
                .col(string_len(TransactionEvents::EventType, 50))
                .col(json_binary_null(TransactionEvents::EventData))
                .col(timestamp_now(manager, TransactionEvents::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transaction_events_transaction")
                        .from(TransactionEvents::Table, TransactionEvents::TransactionId)
                        .to(Transactions::Table, Transactions::TransactionId),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_transaction_events_transaction_date")
                .table(TransactionEvents::Table)
                .col(TransactionEvents::TransactionId)
                .col(TransactionEvents::CreatedAt)
                .to_owned(),
        )
        .await
}

async fn create_balance_history(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(BalanceHistory::Table)
                .col(pk_uuid(BalanceHistory::HistoryId))
                .col(uuid(BalanceHistory::WalletId))
                .col(uuid_null(BalanceHistory::TransactionId))
                .col(big_integer(BalanceHistory::AmountMinor))
                .col(big_integer(BalanceHistory::BalanceBeforeMinor))
                .col(big_integer(BalanceHistory::BalanceAfterMinor))
                .col(string_len(BalanceHistory::OperationType, 20))
                .col(timestamp_now(manager, BalanceHistory::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_balance_history_wallet")
                        .from(BalanceHistory::Table, BalanceHistory::WalletId)
                        .to(Wallets::Table, Wallets::WalletId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_balance_history_transaction")
                        .from(BalanceHistory::Table, BalanceHistory::TransactionId)
                        .to(Transactions::Table, Transactions::TransactionId),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_balance_history_wallet_date")
                .table(BalanceHistory::Table)
                .col(BalanceHistory::WalletId)
                .col((BalanceHistory::CreatedAt, IndexOrder::Desc))
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden)]
enum Wallets {
    Table,
    WalletId,
    UserId,
    Currency,
    BalanceMinor,
    AvailableBalanceMinor,
    FrozenBalanceMinor,
    Status,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Transactions {
    Table,
    TransactionId,
    SenderId,
    ReceiverId,
    SenderWalletId,
    ReceiverWalletId,
    AmountMinor,
    Currency,
    TransactionType,
    Status,
    PaymentMethodId,
    AccountId,
    RelatedTransactionId,
    Description,
    FeesMinor,
    Version,
    CreatedAt,
    UpdatedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum TransactionEvents {
    Table,
    EventId,
    TransactionId,
    EventType,
    EventData,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BalanceHistory {
    Table,
    HistoryId,
    WalletId,
    TransactionId,
    AmountMinor,
    BalanceBeforeMinor,
    BalanceAfterMinor,
    OperationType,
    CreatedAt,
}
