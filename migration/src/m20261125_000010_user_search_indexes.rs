//! Indexes for the support console's customer search (email, name, phone,
//! case-insensitive, matching anywhere in the text).
//!
//! On PostgreSQL these are trigram GIN indexes (`pg_trgm`), so a
//! `lower(col) LIKE '%text%'` search is an index scan, not a table scan.
//! SQLite, the single-user embedded default, gets plain indexes.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX idx_users_email_trgm ON users USING gin (lower(email) gin_trgm_ops)",
    "CREATE INDEX idx_users_name_trgm ON users USING gin (lower(first_name || ' ' || last_name) gin_trgm_ops)",
    "CREATE INDEX idx_users_phone_trgm ON users USING gin (phone gin_trgm_ops)",
    "CREATE INDEX idx_users_created ON users (created_at DESC, user_id DESC)",
];

const SQLITE_UP: &[&str] = &[
    "CREATE INDEX idx_users_name ON users (last_name, first_name)",
    "CREATE INDEX idx_users_created ON users (created_at DESC, user_id DESC)",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_users_email_trgm",
    "DROP INDEX IF EXISTS idx_users_name_trgm",
    "DROP INDEX IF EXISTS idx_users_phone_trgm",
    "DROP INDEX IF EXISTS idx_users_name",
    "DROP INDEX IF EXISTS idx_users_created",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in DOWN {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
