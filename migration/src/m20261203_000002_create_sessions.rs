//! `sessions`: the durable record of every login. A token is honoured
//! while its row exists, has not expired and is not revoked; Redis only
//! caches what these rows say, so a Redis that restarts empty loses no
//! session, and a revocation (`revoked_at`) survives any cache.
//!
//! `device_name`, `user_agent` and `client_address` describe where the
//! session was opened, for the user's list of signed-in devices; the
//! address is kept coarse (an IPv4 /24 or an IPv6 /48, never the client's
//! own address).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_user_tables::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    SessionId,
    UserId,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
    RevokedAt,
    DeviceName,
    UserAgent,
    ClientAddress,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::SessionId))
                    .col(uuid(Sessions::UserId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .col(string_len_null(Sessions::DeviceName, 100))
                    .col(string_len_null(Sessions::UserAgent, 512))
                    .col(string_len_null(Sessions::ClientAddress, 64))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A user's sessions, newest first (the device list).
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user_created")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .col(Sessions::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}
