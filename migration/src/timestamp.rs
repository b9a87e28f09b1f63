//! The one column helper the migrations share: a "created/updated now"
//! timestamp that means the same thing on both backends.

use sea_orm_migration::{prelude::*, schema::timestamp_with_time_zone, sea_orm::DbBackend};

/// `TIMESTAMP WITH TIME ZONE NOT NULL` defaulting to the current time.
///
/// PostgreSQL gets `CURRENT_TIMESTAMP`. SQLite stores timestamps as text, and
/// its `CURRENT_TIMESTAMP` is `2026-11-25 10:00:00`, while sqlx writes the
/// service's `DateTime<Utc>` values as RFC 3339 (`2026-11-25T10:00:00.123+00:00`).
/// Text comparison across those two formats is wrong (`' '` sorts before
/// `'T'`), which would break every `ORDER BY created_at` and every
/// `next_attempt_at <= now` poll. So on SQLite the default is written in the
/// RFC 3339 form, millisecond precision, UTC: all values then order correctly
/// as plain text.
pub fn timestamp_now<T: IntoIden>(manager: &SchemaManager, col: T) -> ColumnDef {
    let now = match manager.get_database_backend() {
        DbBackend::Sqlite => Expr::cust("strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"),
        _ => Expr::current_timestamp(),
    };
    timestamp_with_time_zone(col).default(now).take()
}
