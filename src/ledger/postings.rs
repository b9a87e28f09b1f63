//! The only code that changes balances: wallets are locked in a fixed
//! order, changed by signed deltas, and every change of the total balance
//! leaves a `balance_history` row chained to the one before.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set, sea_query::OnConflict,
};
use uuid::Uuid;

use super::LedgerError;
use crate::money::Currency;
use entity::{balance_history, users, wallets};

/// The system account that owns the fee wallets, so that fees are money
/// like any other and the books balance.
pub const FEE_ACCOUNT_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);
const FEE_ACCOUNT_EMAIL: &str = "fees@system.paygraph.invalid";

pub const WALLET_ACTIVE: &str = "active";
pub const WALLET_FROZEN: &str = "frozen";

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
        status: Set("system".to_owned()),
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

/// The user's wallet in `currency`, created empty when missing.
pub async fn ensure_wallet<C: ConnectionTrait>(
    txn: &C,
    user_id: Uuid,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<Uuid, LedgerError> {
    wallets::Entity::insert(new_wallet(user_id, currency, now))
        .on_conflict(
            OnConflict::columns([wallets::Column::UserId, wallets::Column::Currency])
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec(txn)
        .await?;
    wallets::Entity::find()
        .filter(wallets::Column::UserId.eq(user_id))
        .filter(wallets::Column::Currency.eq(currency.code()))
        .one(txn)
        .await?
        .map(|w| w.wallet_id)
        .ok_or(LedgerError::NotFound)
}

pub fn new_wallet(user_id: Uuid, currency: Currency, now: DateTime<Utc>) -> wallets::ActiveModel {
    wallets::ActiveModel {
        wallet_id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        currency: Set(currency.code().to_owned()),
        balance_minor: Set(0),
        available_balance_minor: Set(0),
        frozen_balance_minor: Set(0),
        status: Set(WALLET_ACTIVE.to_owned()),
        version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Wallets locked for this transaction, by id.
pub struct Locked {
    wallets: BTreeMap<Uuid, wallets::Model>,
}

/// Locks wallets in ascending id order: two transactions that lock the
/// same wallets take them in the same order and cannot deadlock. (SQLite
/// has no row locks; its write transactions begin IMMEDIATE, which
/// serialises them.)
pub async fn lock<C: ConnectionTrait>(txn: &C, ids: &[Uuid]) -> Result<Locked, LedgerError> {
    let mut sorted: Vec<Uuid> = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut locked = BTreeMap::new();
    for id in sorted {
        let wallet = wallets::Entity::find_by_id(id)
            .lock_exclusive()
            .one(txn)
            .await?
            .ok_or(LedgerError::NotFound)?;
        locked.insert(id, wallet);
    }
    Ok(Locked { wallets: locked })
}

impl Locked {
    pub fn get(&self, id: Uuid) -> &wallets::Model {
        &self.wallets[&id]
    }

    /// Changes a locked wallet by signed deltas of its available and frozen
    /// parts; `balance` follows as their sum. Refuses to take either part
    /// below zero.
    pub async fn post<C: ConnectionTrait>(
        &mut self,
        txn: &C,
        wallet_id: Uuid,
        delta_available: i64,
        delta_frozen: i64,
        transaction_id: Option<Uuid>,
        operation: &str,
    ) -> Result<(), LedgerError> {
        // Stamped now, under the lock, not when the operation began: the
        // history of a wallet is ordered by time, and the lock decides the
        // order in which changes really happened.
        let now = Utc::now();
        let wallet = self
            .wallets
            .get(&wallet_id)
            .ok_or(LedgerError::NotFound)?
            .clone();
        let available = wallet.available_balance_minor + delta_available;
        let frozen = wallet.frozen_balance_minor + delta_frozen;
        if available < 0 || frozen < 0 {
            let currency = Currency::parse(&wallet.currency).map_err(|_| LedgerError::NotFound)?;
            return Err(LedgerError::insufficient(
                wallet.available_balance_minor,
                currency,
            ));
        }
        let before = wallet.balance_minor;
        let after = available + frozen;
        let mut active = wallet.into_active_model();
        active.available_balance_minor = Set(available);
        active.frozen_balance_minor = Set(frozen);
        active.balance_minor = Set(after);
        active.version = Set(self.wallets[&wallet_id].version + 1);
        active.updated_at = Set(now);
        let updated = active.update(txn).await?;
        if after != before {
            balance_history::ActiveModel {
                history_id: Set(Uuid::now_v7()),
                wallet_id: Set(wallet_id),
                transaction_id: Set(transaction_id),
                amount_minor: Set(after - before),
                balance_before_minor: Set(before),
                balance_after_minor: Set(after),
                operation_type: Set(operation.to_owned()),
                created_at: Set(now),
            }
            .insert(txn)
            .await?;
        }
        self.wallets.insert(wallet_id, updated);
        Ok(())
    }

    pub fn into_wallets(self) -> Vec<wallets::Model> {
        self.wallets.into_values().collect()
    }
}
