//! `outgoing_tallies`: per user, currency and minute, the outgoing payments
//! (transfers and withdrawals, not failed, cancelled or reversed) and their
//! sum. The KYC daily limit and the fraud velocity rule are checked under
//! the sender's wallet lock on every payment; reading them from a user's
//! whole history made that check, and so the time the lock is held, grow
//! with the user's traffic. Here it is at most a day of minutes.
//!
//! Backfilled from the last 7 days of `transactions` (longer ago counts for
//! neither rule). The minute is written the way the service writes
//! timestamps: `date_trunc` on PostgreSQL, RFC 3339 text on SQLite.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::m20261125_000001_create_user_tables::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutgoingTallies {
    Table,
    UserId,
    Currency,
    Minute,
    Payments,
    AmountMinor,
}

const SPENT: &str = "transaction_type IN ('transfer', 'withdrawal') \
                     AND status NOT IN ('failed', 'cancelled', 'reversed') \
                     AND sender_id IS NOT NULL";

fn backfill(backend: DbBackend) -> String {
    let (minute, since) = match backend {
        DbBackend::Postgres => (
            "date_trunc('minute', created_at)",
            "now() - interval '7 days'",
        ),
        _ => (
            "substr(created_at, 1, 16) || ':00+00:00'",
            "strftime('%Y-%m-%dT%H:%M:%S', 'now', '-7 days')",
        ),
    };
    format!(
        "INSERT INTO outgoing_tallies (user_id, currency, minute, payments, amount_minor) \
         SELECT sender_id, currency, {minute}, COUNT(*), SUM(amount_minor) FROM transactions \
         WHERE {SPENT} AND created_at >= {since} GROUP BY sender_id, currency, {minute}"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutgoingTallies::Table)
                    .col(uuid(OutgoingTallies::UserId))
                    .col(string_len(OutgoingTallies::Currency, 3))
                    .col(timestamp_with_time_zone(OutgoingTallies::Minute))
                    .col(big_integer(OutgoingTallies::Payments))
                    .col(big_integer(OutgoingTallies::AmountMinor))
                    .primary_key(
                        Index::create()
                            .name("pk_outgoing_tallies")
                            .col(OutgoingTallies::UserId)
                            .col(OutgoingTallies::Currency)
                            .col(OutgoingTallies::Minute),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_outgoing_tallies_user")
                            .from(OutgoingTallies::Table, OutgoingTallies::UserId)
                            .to(Users::Table, Users::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        let sql = backfill(manager.get_database_backend());
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OutgoingTallies::Table).to_owned())
            .await
    }
}
