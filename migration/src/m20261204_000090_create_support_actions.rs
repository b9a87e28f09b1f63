//! `support_actions`: large support actions waiting for a second agent
//! (four eyes). An action is decided at most once: approving it is a
//! conditional update from `pending`, in the same database transaction as
//! the action it runs. Expiry needs no write: a pending action past
//! `expires_at` is expired.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_user_tables::Users;
use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SupportActions {
    Table,
    ActionId,
    Kind,
    Status,
    RequestedBy,
    DecidedBy,
    CustomerId,
    Reason,
    DecisionReason,
    Payload,
    ResultId,
    CreatedAt,
    ExpiresAt,
    DecidedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SupportActions as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(pk_uuid(S::ActionId))
                    .col(string_len(S::Kind, 16))
                    .col(string_len(S::Status, 16).default("pending"))
                    .col(uuid(S::RequestedBy))
                    .col(uuid_null(S::DecidedBy))
                    .col(uuid(S::CustomerId))
                    .col(text(S::Reason))
                    .col(text_null(S::DecisionReason))
                    .col(json(S::Payload))
                    .col(uuid_null(S::ResultId))
                    .col(timestamp_now(manager, S::CreatedAt))
                    .col(timestamp_with_time_zone(S::ExpiresAt))
                    .col(timestamp_with_time_zone_null(S::DecidedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_support_actions_requested_by")
                            .from(S::Table, S::RequestedBy)
                            .to(Users::Table, Users::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_support_actions_decided_by")
                            .from(S::Table, S::DecidedBy)
                            .to(Users::Table, Users::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_support_actions_customer")
                            .from(S::Table, S::CustomerId)
                            .to(Users::Table, Users::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_support_actions_status_created")
                    .table(S::Table)
                    .col(S::Status)
                    .col(S::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_support_actions_created")
                    .table(S::Table)
                    .col(S::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SupportActions::Table).to_owned())
            .await
    }
}
