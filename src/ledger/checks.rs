//! Checks run inside an operation's transaction, after the sender's wallet
//! is locked: concurrent payments by one sender are serialised by that
//! lock, so limits and velocity are counted exactly.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
    sea_query::{Expr, Query},
};
use uuid::Uuid;

use super::{
    LedgerError, LedgerSettings,
    tallies::{self, NOT_SPENT, OUTGOING},
};
use crate::{
    auth::UserStatus,
    fraud::{FraudCheck, rules},
    money::{Amount, Currency},
};
use entity::{
    transactions,
    user_profiles::{self, KycStatus},
    users,
};

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
    may_move_money(&user, who)?;
    Ok(user)
}

/// Refuses a suspended or closed user already read.
pub fn may_move_money(user: &users::Model, who: &'static str) -> Result<(), LedgerError> {
    match user.status {
        UserStatus::Active | UserStatus::System => Ok(()),
        UserStatus::Suspended | UserStatus::Closed => Err(LedgerError::Restricted(who)),
    }
}

fn outgoing(sender: Uuid) -> sea_orm::Select<transactions::Entity> {
    transactions::Entity::find()
        .filter(transactions::Column::SenderId.eq(sender))
        .filter(transactions::Column::TransactionType.is_in(OUTGOING))
        .filter(transactions::Column::Status.is_not_in(NOT_SPENT))
}

/// What a sender has paid out lately: the payments in the velocity window
/// and today's total per currency (for the KYC limit).
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    recent: u64,
    today: HashMap<Currency, i64>,
}

impl Outgoing {
    fn sent_today(&self, currency: Currency) -> i64 {
        self.today.get(&currency).copied().unwrap_or(0)
    }

    /// Counts a payment accepted earlier in the same database transaction,
    /// which the totals read from the database cannot see yet.
    pub fn add(&mut self, amount: &Amount) {
        self.recent += 1;
        *self.today.entry(amount.currency()).or_default() += amount.minor();
    }
}

/// Each sender's [`Outgoing`], in one statement for all of them, from the
/// [tallies](super::tallies). Read after the senders' wallets are locked:
/// concurrent payments by one sender are serialised by that lock, so the
/// totals are exact. The velocity window is counted in whole minutes: it
/// reaches back to the start of the minute `velocity_window` ago.
pub async fn outgoing_totals<C: ConnectionTrait>(
    txn: &C,
    settings: &LedgerSettings,
    senders: &BTreeSet<Uuid>,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Outgoing>, LedgerError> {
    let window = Duration::from_std(settings.fraud.velocity_window).unwrap_or(Duration::MAX);
    let window_start = now
        .checked_sub_signed(window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let mut totals: HashMap<Uuid, Outgoing> = HashMap::new();
    for (sender, currency, recent, today) in
        tallies::read(txn, senders, window_start, day_start).await?
    {
        let entry = totals.entry(sender).or_default();
        entry.recent += u64::try_from(recent).unwrap_or(0);
        entry.today.insert(currency, today);
    }
    Ok(totals)
}

/// The pairs of `(sender, recipient)` where the sender paid the recipient
/// before: the others are new recipients to the fraud rules. One statement
/// of `EXISTS` probes, one per pair, each stopping at the first payment it
/// finds (index `idx_transactions_sender_receiver`), so the cost does not
/// grow with the sender's history.
pub async fn paid_before<C: ConnectionTrait>(
    txn: &C,
    pairs: &BTreeSet<(Uuid, Uuid)>,
) -> Result<HashSet<(Uuid, Uuid)>, LedgerError> {
    if pairs.is_empty() {
        return Ok(HashSet::new());
    }
    let mut probes = Query::select();
    for (sender, recipient) in pairs {
        let mut one = outgoing(*sender)
            .filter(transactions::Column::ReceiverId.eq(*recipient))
            .select_only()
            .column(transactions::Column::TransactionId)
            .into_query();
        probes.expr(Expr::exists(one.limit(1).to_owned()));
    }
    let row = txn.query_one(&probes).await?.ok_or(LedgerError::NotFound)?;
    let mut paid = HashSet::new();
    for (i, pair) in pairs.iter().enumerate() {
        if row.try_get_by_index::<bool>(i)? {
            paid.insert(*pair);
        }
    }
    Ok(paid)
}

/// Whether the user's identity is verified (no daily limit).
pub async fn kyc_verified<C: ConnectionTrait>(txn: &C, user_id: Uuid) -> Result<bool, LedgerError> {
    Ok(user_profiles::Entity::find()
        .filter(user_profiles::Column::UserId.eq(user_id))
        .one(txn)
        .await?
        .is_some_and(|p| p.kyc_status == KycStatus::Verified))
}

/// Refuses a payment that would take an unverified user past today's limit.
pub fn kyc_limit(
    settings: &LedgerSettings,
    verified: bool,
    sent: &Outgoing,
    amount: &Amount,
) -> Result<(), LedgerError> {
    if verified {
        return Ok(());
    }
    let limit = settings
        .kyc_unverified_daily_limit
        .get(amount.currency())
        .unwrap_or(0);
    let remaining = limit - sent.sent_today(amount.currency());
    if amount.minor() > remaining {
        return Err(LedgerError::limit(remaining, amount));
    }
    Ok(())
}

/// Scores an outgoing payment. The caller queues the check's record
/// (`fraud::audit_event`) with the payment's own writes.
pub fn fraud_check(
    settings: &LedgerSettings,
    sender: &users::Model,
    sent: &Outgoing,
    new_recipient: bool,
    amount: &Amount,
    transaction_id: Uuid,
    now: DateTime<Utc>,
) -> FraudCheck {
    let f = &settings.fraud;
    let signals = rules::Signals {
        amount_minor: amount.minor(),
        review_amount_minor: f.review_amount.get(amount.currency()),
        recent_outgoing: sent.recent,
        new_recipient,
        account_age_days: (now - sender.created_at).num_days(),
    };
    let verdict = rules::assess(f, signals);
    FraudCheck {
        check_id: Uuid::now_v7(),
        user_id: sender.user_id,
        transaction_id: Some(transaction_id),
        amount_minor: amount.minor(),
        currency: amount.currency().code().to_owned(),
        score: verdict.score,
        rules_fired: verdict.rules_fired,
        decision: verdict.decision,
        checked_at: now,
    }
}
