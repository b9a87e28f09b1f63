//! `idempotency_keys.transaction_id` loses its foreign key.
//!
//! A transfer now takes its key already bound to the id its transaction
//! will have, in the database transaction that writes that transaction (or
//! gives the key back when the request is refused). The key cannot commit
//! pointing at nothing, so the constraint guarded nothing, and it made the
//! key two writes instead of one: taken empty (the transaction did not
//! exist yet), then updated, with PostgreSQL checking each updated row
//! against `transactions`. That update was the slowest statement of a
//! transfer batch. `bench/invariants.sql` counts keys that point at no
//! transaction.
//!
//! PostgreSQL drops the constraint. SQLite cannot drop one, so there the
//! table is rebuilt without it (and with it again on the way down).

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{DbBackend, TransactionTrait},
};

use crate::m20261125_000001_create_user_tables::Users;
use crate::m20261125_000003_create_ledger_tables::Transactions;
use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

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
enum Rebuilt {
    #[sea_orm(iden = "idempotency_keys_rebuilt")]
    Table,
}

const FK: &str = "fk_idempotency_keys_transaction";

/// The foreign key this migration drops, on `table` (the keys' table, or
/// SQLite's copy of it).
fn transaction_fk(table: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(FK)
        .from(table, IdempotencyKeys::TransactionId)
        .to(Transactions::Table, Transactions::TransactionId)
        .to_owned()
}

/// SQLite: the table under a temporary name, as `m20261125_000004` made
/// it, with or without the transaction's foreign key.
fn sqlite_table(manager: &SchemaManager, with_transaction_fk: bool) -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table(Rebuilt::Table)
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
                .from(Rebuilt::Table, IdempotencyKeys::UserId)
                .to(Users::Table, Users::UserId),
        );
    if with_transaction_fk {
        table.foreign_key(&mut transaction_fk(Rebuilt::Table));
    }
    table.to_owned()
}

/// Copies the table into a new one and swaps them, in one transaction on
/// one connection: statements of a migration otherwise go to any of the
/// pool's connections, and one still reading the old schema refused the
/// rename.
async fn rebuild_sqlite(
    manager: &SchemaManager<'_>,
    with_transaction_fk: bool,
) -> Result<(), DbErr> {
    let txn = manager.get_connection().begin().await?;
    let manager = &SchemaManager::new(&txn);
    manager
        .create_table(sqlite_table(manager, with_transaction_fk))
        .await?;
    let columns = || {
        [
            IdempotencyKeys::UserId,
            IdempotencyKeys::IdempotencyKey,
            IdempotencyKeys::RequestHash,
            IdempotencyKeys::TransactionId,
            IdempotencyKeys::CreatedAt,
        ]
    };
    let copy = Query::insert()
        .into_table(Rebuilt::Table)
        .columns(columns())
        .select_from(
            Query::select()
                .columns(columns())
                .from(IdempotencyKeys::Table)
                .to_owned(),
        )
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    manager.exec_stmt(copy).await?;
    manager
        .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(Rebuilt::Table, IdempotencyKeys::Table)
                .to_owned(),
        )
        .await?;
    txn.commit().await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_sqlite(manager, false).await,
            _ => {
                manager
                    .drop_foreign_key(
                        ForeignKey::drop()
                            .name(FK)
                            .table(IdempotencyKeys::Table)
                            .to_owned(),
                    )
                    .await
            }
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_sqlite(manager, true).await,
            _ => {
                manager
                    .create_foreign_key(transaction_fk(IdempotencyKeys::Table))
                    .await
            }
        }
    }
}
