//! `balance_history.sequence`: a wallet's history rows in the order their
//! changes were made.
//!
//! Each new row carries the wallet's version after its change, taken while
//! the wallet is locked, so a wallet's rows follow its commits whichever
//! instance wrote them. Neither `created_at` nor a v7 id does: two
//! instances stamp them from their own clocks, and rows of one wallet
//! written in the same millisecond by two processes may sort either way.
//!
//! Rows already there are numbered 1, 2, ... per wallet in
//! `(created_at, history_id)` order, below any version a wallet can take
//! next. `uq_balance_history_wallet_sequence` keeps the numbers unique per
//! wallet and serves the history's pages.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BalanceHistory {
    Table,
    WalletId,
    Sequence,
}

const INDEX: &str = "uq_balance_history_wallet_sequence";

/// Both engines: SQLite has window functions and `UPDATE ... FROM`.
const BACKFILL: &str = "UPDATE balance_history SET sequence = numbered.n
    FROM (SELECT history_id,
                 ROW_NUMBER() OVER (PARTITION BY wallet_id ORDER BY created_at, history_id) AS n
          FROM balance_history) AS numbered
    WHERE balance_history.history_id = numbered.history_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BalanceHistory::Table)
                    .add_column(
                        ColumnDef::new(BalanceHistory::Sequence)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL)
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(BalanceHistory::Table)
                    .col(BalanceHistory::WalletId)
                    .col(BalanceHistory::Sequence)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(BalanceHistory::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BalanceHistory::Table)
                    .drop_column(BalanceHistory::Sequence)
                    .to_owned(),
            )
            .await
    }
}
