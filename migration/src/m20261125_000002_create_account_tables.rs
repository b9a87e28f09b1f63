//! Linked bank accounts and payment methods (the seed's "Account Service Schema").
//!
//! The seed stores `accounts.account_number` in clear with a global UNIQUE.
//! Here the number is encrypted by the service (`account_number_ciphertext`),
//! and duplicates are detected through `account_number_fingerprint`, a keyed
//! HMAC of the normalised number: equal numbers give equal fingerprints, yet the
//! fingerprint reveals nothing without the key. Uniqueness is per user, since
//! two people may legitimately share a joint account.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_user_tables::Users;
use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(pk_uuid(Accounts::AccountId))
                    .col(uuid(Accounts::UserId))
                    .col(string_len(Accounts::AccountType, 20))
                    .col(text(Accounts::AccountNumberCiphertext))
                    .col(string_len(Accounts::AccountNumberFingerprint, 64))
                    .col(string_len(Accounts::AccountNumberLastFour, 4))
                    .col(string_len_null(Accounts::RoutingNumber, 20))
                    .col(string_len_null(Accounts::BankName, 100))
                    .col(string_len(Accounts::Status, 20).default("active"))
                    .col(timestamp_now(manager, Accounts::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_accounts_user")
                            .from(Accounts::Table, Accounts::UserId)
                            .to(Users::Table, Users::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_accounts_user_fingerprint")
                    .table(Accounts::Table)
                    .col(Accounts::UserId)
                    .col(Accounts::AccountNumberFingerprint)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_user_id")
                    .table(Accounts::Table)
                    .col(Accounts::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PaymentMethods::Table)
                    .col(pk_uuid(PaymentMethods::MethodId))
                    .col(uuid(PaymentMethods::UserId))
                    .col(string_len(PaymentMethods::MethodType, 20))
                    .col(text(PaymentMethods::EncryptedData))
                    .col(string_len_null(PaymentMethods::LastFour, 4))
                    .col(date_null(PaymentMethods::ExpiryDate))
                    .col(boolean(PaymentMethods::IsDefault).default(false))
                    .col(string_len(PaymentMethods::Status, 20).default("active"))
                    .col(timestamp_now(manager, PaymentMethods::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payment_methods_user")
                            .from(PaymentMethods::Table, PaymentMethods::UserId)
                            .to(Users::Table, Users::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        // At most one default method per user. A partial unique index is the
        // only way to say this declaratively; it is valid on both backends.
        manager
            .create_index(
                Index::create()
                    .name("uq_payment_methods_one_default")
                    .table(PaymentMethods::Table)
                    .col(PaymentMethods::UserId)
                    .unique()
                    .and_where(Expr::col(PaymentMethods::IsDefault))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_payment_methods_user_id")
                    .table(PaymentMethods::Table)
                    .col(PaymentMethods::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PaymentMethods::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Accounts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Accounts {
    Table,
    AccountId,
    UserId,
    AccountType,
    AccountNumberCiphertext,
    AccountNumberFingerprint,
    AccountNumberLastFour,
    RoutingNumber,
    BankName,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum PaymentMethods {
    Table,
    MethodId,
    UserId,
    MethodType,
    EncryptedData,
    LastFour,
    ExpiryDate,
    IsDefault,
    Status,
    CreatedAt,
}
