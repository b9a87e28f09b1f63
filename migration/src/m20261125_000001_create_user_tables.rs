//! Users, their roles and their KYC profile (the seed's "User Service Schema").
//!
//! Deliberate deviations from the seed schema (`database-design.md`), shared by
//! every migration in this crate:
//!
//! - **Money is `BIGINT` minor units** in columns suffixed `_minor`, always next
//!   to an ISO 4217 `currency` code, instead of `DECIMAL(15,2)`. SQLite has no
//!   exact decimal type (it would store floats), and two fixed decimal places
//!   are wrong for currencies such as JPY (0 digits) or KWD (3 digits). The
//!   service converts at its edges using the currency's exponent.
//! - **UUID primary keys have no database default.** The service generates
//!   UUIDv7 values (time-ordered, so B-tree inserts stay local) before it
//!   inserts; `gen_random_uuid()` does not exist on SQLite.
//! - **Status and type values are lowercase strings** (`'active'`,
//!   `'pending'`, ...) in `VARCHAR(20)`, exactly as the seed stores them, not
//!   database enums: adding a value must not need a migration, and SQLite has
//!   no enum type. The service owns the set of valid values.
//! - **Timestamps are `TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT
//!   CURRENT_TIMESTAMP`.** The seed's naive, nullable `TIMESTAMP` loses the
//!   offset and lets rows exist without a creation time. (On SQLite the
//!   default is an RFC 3339 string rather than `CURRENT_TIMESTAMP`; see
//!   [`crate::timestamp`] for why.)
//! - **JSON documents use `json_binary`**: `JSONB` on PostgreSQL as in the
//!   seed; on SQLite sea-query declares the type `jsonb_text`, which has TEXT
//!   affinity and holds the JSON text.
//! - **Invariants the seed left to application code are enforced here**:
//!   `NOT NULL` on owner foreign keys (a wallet or bank account without a user
//!   means nothing), named unique indexes (so the service can tell which one a
//!   violation hit), and `CHECK` constraints on balances and amounts, so a bug
//!   in the service cannot write an impossible ledger state.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamp::timestamp_now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::UserId))
                    .col(string_len(Users::Email, 255))
                    .col(string_len(Users::PasswordHash, 255))
                    .col(string_len(Users::FirstName, 100))
                    .col(string_len(Users::LastName, 100))
                    .col(string_len_null(Users::Phone, 20))
                    .col(string_len(Users::Status, 20).default("active"))
                    .col(timestamp_now(manager, Users::CreatedAt))
                    .col(timestamp_now(manager, Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // A named unique index rather than an inline UNIQUE, so the constraint
        // name is stable on PostgreSQL. The service stores emails lowercased.
        manager
            .create_index(
                Index::create()
                    .name("uq_users_email")
                    .table(Users::Table)
                    .col(Users::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_phone")
                    .table(Users::Table)
                    .col(Users::Phone)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .col(uuid(UserRoles::UserId))
                    .col(string_len(UserRoles::Role, 20))
                    .col(timestamp_now(manager, UserRoles::CreatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_user_roles")
                            .col(UserRoles::UserId)
                            .col(UserRoles::Role),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_roles_user")
                            .from(UserRoles::Table, UserRoles::UserId)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserProfiles::Table)
                    .col(pk_uuid(UserProfiles::ProfileId))
                    .col(uuid(UserProfiles::UserId))
                    .col(date_null(UserProfiles::DateOfBirth))
                    .col(json_binary_null(UserProfiles::Address))
                    .col(string_len(UserProfiles::KycStatus, 20).default("pending"))
                    .col(json_binary_null(UserProfiles::KycDocuments))
                    .col(timestamp_now(manager, UserProfiles::CreatedAt))
                    .col(timestamp_now(manager, UserProfiles::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_profiles_user")
                            .from(UserProfiles::Table, UserProfiles::UserId)
                            .to(Users::Table, Users::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        // One profile per user.
        manager
            .create_index(
                Index::create()
                    .name("uq_user_profiles_user_id")
                    .table(UserProfiles::Table)
                    .col(UserProfiles::UserId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserProfiles::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(UserRoles::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Users {
    Table,
    UserId,
    Email,
    PasswordHash,
    FirstName,
    LastName,
    Phone,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserProfiles {
    Table,
    ProfileId,
    UserId,
    DateOfBirth,
    Address,
    KycStatus,
    KycDocuments,
    CreatedAt,
    UpdatedAt,
}
