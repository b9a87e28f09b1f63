//! Monthly statements and balances at a point in time, read from a
//! wallet's balance history.
//!
//! A wallet's history rows are stamped in the order of its changes
//! (`postings::Locked::post`), so an instant cuts the history at one point
//! of its sequence: the balance at an instant is the `balance_after` of the
//! last row stamped at or before it, a month's opening balance is the
//! balance just before its first instant, and its closing balance is the
//! next month's opening balance. Each is one index seek on
//! `(wallet_id, created_at)`, however long the history.
//!
//! Totals are gross of fees: a fee is paid by the row of its transaction
//! that leaves the payer's wallet (a deposit's credit is the amount less
//! its fee, a transfer's or withdrawal's debit the amount plus its fee), so
//! `amount + fee` of that row is what went in or out before the fee. Holds
//! change no balance and leave no row, so they move nothing here either.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::{
    ActiveEnum, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    pagination::{Cursor, Page},
    validation::InvalidInput,
};
use entity::{
    MinorUnit,
    balance_history::{self, Operation},
    transactions,
};

/// The history rows that pay their transaction's fee (see the module's
/// docs); every other row's fee is zero.
const FEE_PAYING: [Operation; 3] = [
    Operation::Deposit,
    Operation::Withdrawal,
    Operation::TransferOut,
];

/// The fee `change` paid, in minor units, given its transaction.
pub fn fee_paid(
    change: &balance_history::Model,
    transaction: Option<&transactions::Model>,
) -> MinorUnit {
    match transaction {
        Some(t) if FEE_PAYING.contains(&change.operation_type) => t.fees_minor,
        _ => MinorUnit::ZERO,
    }
}

/// A calendar month in UTC, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first_day: NaiveDate,
}

impl Month {
    /// `YYYY-MM` exactly (`2026-03`), any year from 1 to 9999.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, InvalidInput> {
        let bad = || InvalidInput::new(field, "must be a month written YYYY-MM, e.g. 2026-03");
        let bytes = text.as_bytes();
        let digits = |r: std::ops::Range<usize>| bytes[r].iter().all(u8::is_ascii_digit);
        if bytes.len() != 7 || bytes[4] != b'-' || !digits(0..4) || !digits(5..7) {
            return Err(bad());
        }
        let year: i32 = text[0..4].parse().map_err(|_| bad())?;
        let month: u32 = text[5..7].parse().map_err(|_| bad())?;
        if year == 0 {
            return Err(bad());
        }
        NaiveDate::from_ymd_opt(year, month, 1)
            .map(|first_day| Self { first_day })
            .ok_or_else(bad)
    }

    /// The month's first instant.
    pub fn start(self) -> DateTime<Utc> {
        self.first_day
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
    }

    /// The first instant after the month (the next month's start).
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    pub fn next(self) -> Self {
        Self {
            first_day: self
                .first_day
                .checked_add_months(chrono::Months::new(1))
                .expect("a month after 9999-12 exists"),
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.first_day.year(),
            self.first_day.month()
        )
    }
}

/// One month of a wallet, in minor units of its currency:
/// `closing = opening + total_in - total_out - total_fees`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub month: Month,
    pub opening: i64,
    pub closing: i64,
    /// Money in, before any fee taken from it.
    pub total_in: i64,
    /// Money out, before any fee added to it.
    pub total_out: i64,
    /// Every fee the wallet paid.
    pub total_fees: i64,
}

/// The balance after every change stamped at or before `at` (zero before
/// the first).
pub async fn balance_at(
    db: &DatabaseConnection,
    wallet_id: Uuid,
    at: DateTime<Utc>,
) -> Result<i64, DbErr> {
    balance_where(db, wallet_id, balance_history::Column::CreatedAt.lte(at)).await
}

/// The balance after every change stamped before `at`.
async fn balance_before(
    db: &DatabaseConnection,
    wallet_id: Uuid,
    at: DateTime<Utc>,
) -> Result<i64, DbErr> {
    balance_where(db, wallet_id, balance_history::Column::CreatedAt.lt(at)).await
}

async fn balance_where(
    db: &DatabaseConnection,
    wallet_id: Uuid,
    stamped: sea_orm::sea_query::SimpleExpr,
) -> Result<i64, DbErr> {
    use balance_history::Column as C;
    let last = balance_history::Entity::find()
        .filter(C::WalletId.eq(wallet_id))
        .filter(stamped)
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Sequence)
        .one(db)
        .await?;
    Ok(last.map_or(0, |row| row.balance_after_minor.get()))
}

/// `month` of the wallet: its two balances, and its totals in one
/// aggregate over the month's rows.
pub async fn statement_of(
    db: &DatabaseConnection,
    wallet_id: Uuid,
    month: Month,
) -> Result<Statement, DbErr> {
    use balance_history::Column as C;
    let opening = balance_before(db, wallet_id, month.start()).await?;
    let closing = balance_before(db, wallet_id, month.end()).await?;
    let paying = FEE_PAYING
        .iter()
        .map(|op| format!("'{}'", op.to_value()))
        .collect::<Vec<_>>()
        .join(", ");
    let fee = format!(
        r#"(CASE WHEN "balance_history"."operation_type" IN ({paying}) THEN COALESCE("transactions"."fees_minor", 0) ELSE 0 END)"#
    );
    let gross = format!(r#"("balance_history"."amount_minor" + {fee})"#);
    // PostgreSQL sums BIGINT to NUMERIC; the cast brings it back.
    let sum = |e: String| Expr::cust(format!("CAST(COALESCE(SUM({e}), 0) AS BIGINT)"));
    let totals: Option<(i64, i64, i64)> = balance_history::Entity::find()
        .select_only()
        .column_as(
            sum(format!("CASE WHEN {gross} > 0 THEN {gross} ELSE 0 END")),
            "total_in",
        )
        .column_as(
            sum(format!("CASE WHEN {gross} < 0 THEN -{gross} ELSE 0 END")),
            "total_out",
        )
        .column_as(sum(fee), "total_fees")
        .join(
            JoinType::LeftJoin,
            balance_history::Relation::Transactions.def(),
        )
        .filter(C::WalletId.eq(wallet_id))
        .filter(C::CreatedAt.gte(month.start()))
        .filter(C::CreatedAt.lt(month.end()))
        .into_tuple()
        .one(db)
        .await?;
    let (total_in, total_out, total_fees) = totals.unwrap_or_default();
    Ok(Statement {
        month,
        opening,
        closing,
        total_in,
        total_out,
        total_fees,
    })
}

/// The month's history rows, oldest first, `limit` after the cursor
/// `after`. `has_newer`: more rows follow this page; `has_older`: rows
/// precede it (a cursor was given).
pub async fn lines_of(
    db: &DatabaseConnection,
    wallet_id: Uuid,
    month: Month,
    limit: u64,
    after: Option<Cursor<i64>>,
) -> Result<Page<balance_history::Model>, DbErr> {
    use balance_history::Column as C;
    let mut query = balance_history::Entity::find()
        .filter(C::WalletId.eq(wallet_id))
        .filter(C::CreatedAt.gte(month.start()))
        .filter(C::CreatedAt.lt(month.end()));
    if let Some(cursor) = after {
        // A wallet's sequence numbers are unique: the key alone places it.
        query = query.filter(C::Sequence.gt(cursor.key));
    }
    let mut rows = query
        .order_by_asc(C::Sequence)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok(Page {
        rows,
        has_older: after.is_some(),
        has_newer: more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly_and_span_utc_calendar_months() {
        let m = Month::parse("month", "2026-02").unwrap();
        assert_eq!(m.to_string(), "2026-02");
        assert_eq!(m.start().to_rfc3339(), "2026-02-01T00:00:00+00:00");
        assert_eq!(m.end().to_rfc3339(), "2026-03-01T00:00:00+00:00");
        let december = Month::parse("month", "2026-12").unwrap();
        assert_eq!(december.next().to_string(), "2027-01");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-01",
            "2026/01",
            "2026-01-01",
            " 2026-01",
            "0000-01",
            "２０２６-01",
            "",
        ] {
            let e = Month::parse("month", bad).unwrap_err();
            assert_eq!(e.field, "month", "{bad}");
        }
    }
}
