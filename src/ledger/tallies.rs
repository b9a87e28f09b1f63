//! Outgoing tallies (`outgoing_tallies`): per sender, currency and minute,
//! the payments that count against the KYC daily limit and the fraud
//! velocity rule. They are written in the same database transaction as the
//! rows they count, so they are as exact as those rows; reading them costs
//! at most a day of minutes per sender, however busy the sender is.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::{Alias, Expr, ExprTrait, Func, OnConflict},
};
use uuid::Uuid;

use super::{Status, TxType};
use crate::db::Writes;
use entity::{Currency, outgoing_tallies as tally, transactions};

/// Statuses whose money did not (or will not) leave.
pub const NOT_SPENT: [Status; 3] = [Status::Failed, Status::Cancelled, Status::Reversed];

/// The payment types that count: money a user sends out.
pub const OUTGOING: [TxType; 2] = [TxType::Transfer, TxType::Withdrawal];

/// The start of `t`'s minute.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// Whether `row`, in `status`, is money its sender has spent.
fn counts(row: &transactions::Model, status: Status) -> bool {
    row.sender_id.is_some()
        && OUTGOING.contains(&row.transaction_type)
        && !NOT_SPENT.contains(&status)
}

/// Counts new rows that are outgoing and spent.
pub fn count_new(writes: &mut Writes, rows: &[transactions::Model]) {
    let deltas = rows.iter().filter(|r| counts(r, r.status)).map(|r| (r, 1));
    add(writes, deltas);
}

/// Takes back `row` when it moves to a status that is no longer spent
/// (a failed withdrawal, a cancelled review, a reversed transfer).
pub fn status_changed(writes: &mut Writes, before: &transactions::Model, after: Status) {
    match (counts(before, before.status), counts(before, after)) {
        (true, false) => add(writes, [(before, -1)]),
        (false, true) => add(writes, [(before, 1)]),
        _ => {}
    }
}

/// Adds `sign` × (one payment, its amount) to each row's tally: summed per
/// tally first, since one statement may not change a row twice.
fn add<'a>(writes: &mut Writes, deltas: impl IntoIterator<Item = (&'a transactions::Model, i64)>) {
    let mut sums: BTreeMap<(Uuid, Currency, DateTime<Utc>), (i64, i64)> = BTreeMap::new();
    for (row, sign) in deltas {
        let Some(sender) = row.sender_id else {
            continue;
        };
        let key = (sender, row.currency, minute_of(row.created_at));
        let sum = sums.entry(key).or_default();
        sum.0 += sign;
        sum.1 += sign * row.amount_minor.get();
    }
    if sums.is_empty() {
        return;
    }
    let plus = |column: tally::Column| {
        Expr::col((tally::Entity, column)).add(Expr::col((Alias::new("excluded"), column)))
    };
    writes.insert(
        tally::Entity::insert_many(sums.into_iter().map(
            |((user_id, currency, minute), (payments, amount))| tally::ActiveModel {
                user_id: Set(user_id),
                currency: Set(currency),
                minute: Set(minute),
                payments: Set(payments),
                amount_minor: Set(amount.into()),
            },
        ))
        .on_conflict(
            OnConflict::columns([
                tally::Column::UserId,
                tally::Column::Currency,
                tally::Column::Minute,
            ])
            .value(tally::Column::Payments, plus(tally::Column::Payments))
            .value(tally::Column::AmountMinor, plus(tally::Column::AmountMinor))
            .to_owned(),
        ),
    );
}

/// Per sender and currency: the payments since `window_start` (rounded
/// down to its minute) and the amount sent since `day_start`.
pub async fn read<C: ConnectionTrait>(
    txn: &C,
    senders: &BTreeSet<Uuid>,
    window_start: DateTime<Utc>,
    day_start: DateTime<Utc>,
) -> Result<Vec<(Uuid, Currency, i64, i64)>, DbErr> {
    let window_start = minute_of(window_start);
    let since = |start: DateTime<Utc>, column: tally::Column| -> Expr {
        let sum =
            Func::sum(Expr::case(tally::Column::Minute.gte(start), Expr::col(column)).finally(0));
        Func::cast_as(Func::coalesce([Expr::from(sum), Expr::val(0)]), "BIGINT").into()
    };
    tally::Entity::find()
        .filter(tally::Column::UserId.is_in(senders.iter().copied()))
        .filter(tally::Column::Minute.gte(std::cmp::min(window_start, day_start)))
        .select_only()
        .column(tally::Column::UserId)
        .column(tally::Column::Currency)
        .column_as(since(window_start, tally::Column::Payments), "recent")
        .column_as(since(day_start, tally::Column::AmountMinor), "today")
        .group_by(tally::Column::UserId)
        .group_by(tally::Column::Currency)
        .into_tuple()
        .all(txn)
        .await
}
