//! The only code that changes balances: wallets are locked in a fixed
//! order, changed by signed deltas, and every change of the total balance
//! leaves a `balance_history` row chained to the one before.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
    sea_query::{CaseStatement, Expr, OnConflict},
};
use uuid::Uuid;

use super::{
    LedgerError,
    balance_changes::{BalanceChanges, Operation},
};
use crate::{db::Writes, money::Currency};
use entity::{
    MinorUnit, balance_history,
    users::{self, UserStatus},
    wallets::{self, WalletStatus},
};

/// The system account that owns the fee wallets, so that fees are money
/// like any other and the books balance.
pub const FEE_ACCOUNT_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);
const FEE_ACCOUNT_EMAIL: &str = "fees@system.paygraph.invalid";

/// Creates the fee account once; safe to call at every start.
pub async fn ensure_system_accounts<C: ConnectionTrait>(db: &C) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    users::Entity::insert(users::ActiveModel {
        user_id: Set(FEE_ACCOUNT_ID),
        email: Set(FEE_ACCOUNT_EMAIL.to_owned()),
        // Not a password hash: no password verifies against it.
        password_hash: Set("!system".to_owned()),
        first_name: Set("paygraph".to_owned()),
        last_name: Set("fees".to_owned()),
        phone: Set(None),
        status: Set(UserStatus::System),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(users::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec(db)
    .await?;
    Ok(())
}

/// The user's wallet in `currency`, created empty when missing. Looked up
/// first: a wallet is created once and read on every payment after, so the
/// common case costs one statement instead of an insert and a read.
pub async fn ensure_wallet<C: ConnectionTrait>(
    txn: &C,
    user_id: Uuid,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<Uuid, LedgerError> {
    let find = || {
        wallets::Entity::find()
            .filter(wallets::Column::UserId.eq(user_id))
            .filter(wallets::Column::Currency.eq(currency))
            .one(txn)
    };
    if let Some(w) = find().await? {
        return Ok(w.wallet_id);
    }
    wallets::Entity::insert(new_wallet(user_id, currency, now))
        .on_conflict(
            OnConflict::columns([wallets::Column::UserId, wallets::Column::Currency])
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec(txn)
        .await?;
    find()
        .await?
        .map(|w| w.wallet_id)
        .ok_or(LedgerError::NotFound)
}

pub fn new_wallet(user_id: Uuid, currency: Currency, now: DateTime<Utc>) -> wallets::ActiveModel {
    wallets::ActiveModel {
        wallet_id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        currency: Set(currency),
        balance_minor: Set(MinorUnit::ZERO),
        available_balance_minor: Set(MinorUnit::ZERO),
        frozen_balance_minor: Set(MinorUnit::ZERO),
        status: Set(WalletStatus::Active),
        version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Wallets locked for this transaction, by id, and the changes made to
/// them: postings change the rows in memory (we hold the locks, so memory
/// is the truth) and [`Locked::save`] writes them all at once, one
/// statement for the wallets and one for their history, however many
/// postings a batch of payments made.
pub struct Locked {
    wallets: BTreeMap<Uuid, wallets::Model>,
    changed: BTreeSet<Uuid>,
    history: Vec<balance_history::ActiveModel>,
    balances: BalanceChanges,
}

/// Locks wallets in ascending id order: two transactions that lock the
/// same wallets take them in the same order and cannot deadlock. One
/// statement for all of them: PostgreSQL locks the rows as they leave the
/// sort, so `ORDER BY wallet_id FOR UPDATE` takes the locks in that order.
/// (SQLite has no row locks; its write transactions begin IMMEDIATE, which
/// serialises them.)
pub async fn lock<C: ConnectionTrait>(txn: &C, ids: &[Uuid]) -> Result<Locked, LedgerError> {
    let mut sorted: Vec<Uuid> = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    let rows = lock_where(
        txn,
        Condition::all().add(wallets::Column::WalletId.is_in(sorted.iter().copied())),
    )
    .await?;
    if rows.len() != sorted.len() {
        return Err(LedgerError::NotFound);
    }
    Ok(Locked::of(rows))
}

/// Locks the wallets that `owners` hold in those currencies, found by owner
/// rather than by id so that finding and locking is one statement. Owners
/// without such a wallet are simply absent from the result.
pub async fn lock_owned<C: ConnectionTrait>(
    txn: &C,
    owners: &BTreeSet<(Uuid, Currency)>,
) -> Result<Locked, LedgerError> {
    let mut any = Condition::any();
    for (user_id, currency) in owners {
        any = any.add(
            Condition::all()
                .add(wallets::Column::UserId.eq(*user_id))
                .add(wallets::Column::Currency.eq(*currency)),
        );
    }
    Ok(Locked::of(lock_where(txn, any).await?))
}

async fn lock_where<C: ConnectionTrait>(
    txn: &C,
    condition: Condition,
) -> Result<Vec<wallets::Model>, LedgerError> {
    Ok(wallets::Entity::find()
        .filter(condition)
        .order_by_asc(wallets::Column::WalletId)
        .lock_exclusive()
        .all(txn)
        .await?)
}

/// Opens empty wallets for `owners` that have none in that currency (a
/// first payment to someone), then locks them into `locked`. Returns the
/// ids of the wallets this call opened (not those another transaction
/// opened first), for [`close_unused`].
pub async fn open_missing<C: ConnectionTrait>(
    txn: &C,
    locked: &mut Locked,
    owners: BTreeSet<(Uuid, Currency)>,
    now: DateTime<Utc>,
) -> Result<BTreeSet<Uuid>, LedgerError> {
    let missing: BTreeSet<(Uuid, Currency)> = owners
        .into_iter()
        .filter(|(user, currency)| locked.find(*user, *currency).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(BTreeSet::new());
    }
    let new: Vec<wallets::ActiveModel> = missing
        .iter()
        .map(|(u, c)| new_wallet(*u, *c, now))
        .collect();
    let ids: BTreeSet<Uuid> = new.iter().map(|w| w.wallet_id.clone().unwrap()).collect();
    wallets::Entity::insert_many(new)
        .on_conflict(
            OnConflict::columns([wallets::Column::UserId, wallets::Column::Currency])
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec_without_returning(txn)
        .await?;
    let opened = lock_owned(txn, &missing).await?;
    locked.wallets.extend(opened.wallets);
    Ok(ids
        .into_iter()
        .filter(|id| locked.wallets.contains_key(id))
        .collect())
}

/// Deletes the wallets `opened` for payments that were then refused: a
/// refused payment leaves no trace, not even an empty wallet. A wallet
/// posted to, or in `used` (named by a payment held for review), stays.
pub async fn close_unused<C: ConnectionTrait>(
    txn: &C,
    locked: &Locked,
    opened: BTreeSet<Uuid>,
    used: &HashSet<Uuid>,
) -> Result<(), LedgerError> {
    let unused: Vec<Uuid> = opened
        .into_iter()
        .filter(|id| !locked.changed.contains(id) && !used.contains(id))
        .collect();
    if !unused.is_empty() {
        wallets::Entity::delete_many()
            .filter(wallets::Column::WalletId.is_in(unused))
            .exec(txn)
            .await?;
    }
    Ok(())
}

impl Locked {
    fn of(rows: Vec<wallets::Model>) -> Self {
        Self {
            wallets: rows.into_iter().map(|w| (w.wallet_id, w)).collect(),
            changed: BTreeSet::new(),
            history: Vec::new(),
            balances: BalanceChanges::default(),
        }
    }

    pub fn get(&self, id: Uuid) -> &wallets::Model {
        &self.wallets[&id]
    }

    /// The locked wallet of `user_id` in `currency`, if it has one.
    pub fn find(&self, user_id: Uuid, currency: Currency) -> Option<&wallets::Model> {
        self.wallets
            .values()
            .find(|w| w.user_id == user_id && w.currency == currency)
    }

    /// Changes a locked wallet by signed deltas of its available and frozen
    /// parts; `balance` follows as their sum. Refuses to take either part
    /// below zero, changing nothing.
    pub fn post(
        &mut self,
        wallet_id: Uuid,
        delta_available: i64,
        delta_frozen: i64,
        transaction_id: Option<Uuid>,
        operation: Operation,
    ) -> Result<(), LedgerError> {
        let wallet = self
            .wallets
            .get_mut(&wallet_id)
            .ok_or(LedgerError::NotFound)?;
        let currency = wallet.currency;
        let (Some(available), Some(frozen)) = (
            wallet
                .available_balance_minor
                .checked_add(delta_available.into()),
            wallet.frozen_balance_minor.checked_add(delta_frozen.into()),
        ) else {
            return Err(too_large());
        };
        if available.is_negative() || frozen.is_negative() {
            return Err(LedgerError::insufficient(
                wallet.available_balance_minor,
                currency,
            ));
        }
        let before = wallet.balance_minor;
        let after = available.checked_add(frozen).ok_or_else(too_large)?;
        // A wallet's changes are stamped in the order they were made: never
        // before the wallet's last change, even by an instance whose clock
        // runs behind, so a time (a statement's month, `balanceAt`) cuts a
        // wallet's history at one point of its sequence.
        let stamp = db_time(Utc::now()).max(wallet.updated_at);
        wallet.updated_at = stamp;
        wallet.available_balance_minor = available;
        wallet.frozen_balance_minor = frozen;
        wallet.balance_minor = after;
        wallet.version += 1;
        self.changed.insert(wallet_id);
        self.balances
            .add(currency.code(), operation, delta_available, delta_frozen);
        if after != before {
            // Numbered by the wallet's version, under the lock: the lock
            // decides the order in which changes really happened, and
            // neither a clock nor a v7 id of another process follows it.
            self.history.push(balance_history::ActiveModel {
                history_id: Set(Uuid::now_v7()),
                wallet_id: Set(wallet_id),
                sequence: Set(wallet.version),
                transaction_id: Set(transaction_id),
                amount_minor: Set(after.checked_sub(before).ok_or_else(too_large)?),
                balance_before_minor: Set(before),
                balance_after_minor: Set(after),
                operation_type: Set(operation),
                created_at: Set(stamp),
            });
        }
        Ok(())
    }

    /// Adds the changes posted so far to `writes` (again, harmlessly, when
    /// called twice): the changed wallets as one `UPDATE` (a `CASE` per
    /// column, keyed by id) and their history rows as one `INSERT`.
    pub fn save(&mut self, writes: &mut Writes) {
        if self.changed.is_empty() {
            return;
        }
        let now = db_time(Utc::now());
        let changed: Vec<&wallets::Model> =
            self.changed.iter().map(|id| &self.wallets[id]).collect();
        let by_id = |column: wallets::Column, value: fn(&wallets::Model) -> sea_orm::Value| {
            let mut case = CaseStatement::new();
            for w in &changed {
                case = case.case(wallets::Column::WalletId.eq(w.wallet_id), value(w));
            }
            (column, case.finally(Expr::col(column)))
        };
        let columns = [
            by_id(wallets::Column::AvailableBalanceMinor, |w| {
                w.available_balance_minor.into()
            }),
            by_id(wallets::Column::FrozenBalanceMinor, |w| {
                w.frozen_balance_minor.into()
            }),
            by_id(wallets::Column::BalanceMinor, |w| w.balance_minor.into()),
            by_id(wallets::Column::Version, |w| w.version.into()),
        ];
        // Never backwards (see `post`): a wallet last changed by an
        // instance whose clock runs ahead keeps that time.
        let mut updated_at = CaseStatement::new();
        for w in &changed {
            updated_at = updated_at.case(
                wallets::Column::WalletId.eq(w.wallet_id),
                now.max(w.updated_at),
            );
        }
        let mut update = wallets::Entity::update_many()
            .col_expr(
                wallets::Column::UpdatedAt,
                updated_at
                    .finally(Expr::col(wallets::Column::UpdatedAt))
                    .into(),
            )
            .filter(wallets::Column::WalletId.is_in(self.changed.iter().copied()));
        for (column, case) in columns {
            update = update.col_expr(column, case.into());
        }
        writes.update(update);
        if !self.history.is_empty() {
            writes.insert(balance_history::Entity::insert_many(std::mem::take(
                &mut self.history,
            )));
        }
        for id in &self.changed {
            if let Some(w) = self.wallets.get_mut(id) {
                w.updated_at = now.max(w.updated_at);
            }
        }
    }

    /// The wallets this operation changed, as saved: what subscribers are
    /// told about (a wallet only locked did not change); and what its
    /// postings did to balances, to count once the operation commits.
    pub fn into_changed(mut self) -> (Vec<wallets::Model>, BalanceChanges) {
        let wallets = self
            .changed
            .iter()
            .filter_map(|id| self.wallets.remove(id))
            .collect();
        (wallets, self.balances)
    }
}

/// A balance past what a `BIGINT` holds: never reached by amounts the
/// service accepts, refused rather than wrapped.
fn too_large() -> LedgerError {
    crate::validation::InvalidInput::new("amount", "the balance would exceed the largest supported")
        .into()
}

/// A timestamp as the database keeps it (microseconds), so that a row
/// built in memory equals the row read back later.
pub fn db_time(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}
