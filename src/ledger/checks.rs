//! Checks run inside an operation's transaction, after the sender's wallet
//! is locked: concurrent payments by one sender are serialised by that
//! lock, so limits and velocity are counted exactly.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

use super::{LedgerError, LedgerSettings, Status, TxType};
use crate::{
    auth::UserStatus,
    fraud::{self, Decision, FraudCheck, rules},
    money::Amount,
};
use entity::{transactions, user_profiles, users};

/// The user, if they may move money: not suspended, not closed.
pub async fn active_user<C: ConnectionTrait>(
    txn: &C,
    user_id: Uuid,
    who: &'static str,
) -> Result<users::Model, LedgerError> {
    let user = users::Entity::find_by_id(user_id)
        .one(txn)
        .await?
        .ok_or(LedgerError::NotFound)?;
    match UserStatus::from_db(&user.status) {
        UserStatus::Active => Ok(user),
        UserStatus::Suspended | UserStatus::Closed => Err(LedgerError::Restricted(who)),
    }
}

/// Statuses whose money did not (or will not) leave.
const NOT_SPENT: [Status; 3] = [Status::Failed, Status::Cancelled, Status::Reversed];

fn outgoing(user_id: Uuid) -> sea_orm::Select<transactions::Entity> {
    transactions::Entity::find()
        .filter(transactions::Column::SenderId.eq(user_id))
        .filter(
            transactions::Column::TransactionType
                .is_in([TxType::Transfer.as_str(), TxType::Withdrawal.as_str()]),
        )
        .filter(transactions::Column::Status.is_not_in(NOT_SPENT.map(Status::as_str)))
}

/// Refuses a payment that would take an unverified user past today's limit.
pub async fn kyc_limit<C: ConnectionTrait>(
    txn: &C,
    settings: &LedgerSettings,
    user_id: Uuid,
    amount: &Amount,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    let verified = user_profiles::Entity::find()
        .filter(user_profiles::Column::UserId.eq(user_id))
        .one(txn)
        .await?
        .is_some_and(|p| p.kyc_status == "verified");
    if verified {
        return Ok(());
    }
    let limit = settings
        .kyc_unverified_daily_limit
        .get(amount.currency())
        .unwrap_or(0);
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let sent: Option<i64> = outgoing(user_id)
        .filter(transactions::Column::Currency.eq(amount.currency().code()))
        .filter(transactions::Column::CreatedAt.gte(day_start))
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT)"),
            "sent",
        )
        .into_tuple()
        .one(txn)
        .await?;
    let remaining = limit - sent.unwrap_or(0);
    if amount.minor() > remaining {
        return Err(LedgerError::limit(remaining, amount));
    }
    Ok(())
}

/// Scores an outgoing payment and queues its record in this transaction.
pub async fn fraud_check<C: ConnectionTrait>(
    txn: &C,
    settings: &LedgerSettings,
    sender: &users::Model,
    recipient: Option<Uuid>,
    amount: &Amount,
    transaction_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Decision, LedgerError> {
    let f = &settings.fraud;
    let window_start = now - Duration::seconds(f.velocity_window_secs);
    let recent_outgoing = outgoing(sender.user_id)
        .filter(transactions::Column::CreatedAt.gte(window_start))
        .count(txn)
        .await?;
    let new_recipient = match recipient {
        Some(r) => {
            outgoing(sender.user_id)
                .filter(transactions::Column::ReceiverId.eq(r))
                .count(txn)
                .await?
                == 0
        }
        None => false,
    };
    let signals = rules::Signals {
        amount_minor: amount.minor(),
        review_amount_minor: f.review_amount.get(amount.currency()),
        recent_outgoing,
        new_recipient,
        account_age_days: (now - sender.created_at).num_days(),
    };
    let verdict = rules::assess(f, signals);
    let check = FraudCheck {
        check_id: Uuid::now_v7(),
        user_id: sender.user_id,
        transaction_id: Some(transaction_id),
        amount_minor: amount.minor(),
        currency: amount.currency().code().to_owned(),
        score: verdict.score,
        rules_fired: verdict.rules_fired,
        decision: verdict.decision,
        checked_at: now,
    };
    fraud::record(txn, &check).await?;
    Ok(verdict.decision)
}
