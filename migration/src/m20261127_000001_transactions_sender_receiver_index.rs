//! "Has this sender paid this recipient before?" is asked for every
//! transfer (the fraud rules' new-recipient signal). With this index it is
//! one probe, instead of a walk through the sender's whole history.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Transactions {
    Table,
    SenderId,
    ReceiverId,
}

const NAME: &str = "idx_transactions_sender_receiver";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Transactions::Table)
                    .col(Transactions::SenderId)
                    .col(Transactions::ReceiverId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Transactions::Table)
                    .to_owned(),
            )
            .await
    }
}
