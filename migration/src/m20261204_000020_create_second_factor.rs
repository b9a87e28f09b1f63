//! Two-factor sign-in (TOTP, RFC 6238).
//!
//! `user_totp`: one row per user who began enrolling. The shared secret is
//! stored encrypted as card numbers are (`v1:<kid>:...`); `confirmed_at`
//! set means two-factor is on. `last_step` is the last time step whose
//! code was accepted: a code is taken by raising it with a conditional
//! update, so a code is accepted once, on any instance.
//!
//! `recovery_codes`: the ten one-time codes given at enrolment, each kept
//! only as a keyed hash (HMAC-SHA-256: the codes are random and long, so a
//! slow hash adds nothing); `used_at` is set by the login that spends it.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_user_tables::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserTotp {
    Table,
    UserId,
    SecretCiphertext,
    CreatedAt,
    ConfirmedAt,
    LastStep,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    CodeHash,
    UserId,
    CreatedAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserTotp::Table)
                    .col(pk_uuid(UserTotp::UserId))
                    .col(string_len(UserTotp::SecretCiphertext, 255))
                    .col(timestamp_with_time_zone(UserTotp::CreatedAt))
                    .col(timestamp_with_time_zone_null(UserTotp::ConfirmedAt))
                    .col(big_integer_null(UserTotp::LastStep))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_totp_user")
                            .from(UserTotp::Table, UserTotp::UserId)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(string_len(RecoveryCodes::CodeHash, 64).primary_key())
                    .col(uuid(RecoveryCodes::UserId))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_codes_user")
                            .from(RecoveryCodes::Table, RecoveryCodes::UserId)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_codes_user")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RecoveryCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(UserTotp::Table).to_owned())
            .await
    }
}
