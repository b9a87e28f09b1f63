//! Withdrawals: the money (and the fee) is reserved at once, available to
//! frozen; the settlement worker pays it out or, on failure, releases it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseTransaction, EntityTrait};
use uuid::Uuid;

use super::{
    Ledger, LedgerError, Posted, Status, TxType,
    balance_changes::Operation,
    changes::Feed,
    checks, commit,
    fees::{FeeKind, fee_for},
    idempotency::{self, IdempotencyKey},
    postings::{self, Locked},
    records::{self, NewTransaction},
    step_up::{self, PayingSession},
    wallets::{amount_in, owned_wallet},
};
use crate::{
    db::Writes,
    fraud::{self, Decision, FraudCheck},
    money::{Amount, Currency},
};
use entity::{
    accounts::{self, AccountStatus},
    transactions, users,
    wallets::WalletStatus,
};

pub struct WithdrawRequest {
    pub user_id: Uuid,
    pub wallet_id: Uuid,
    pub account_id: Uuid,
    pub amount: String,
    pub idempotency_key: IdempotencyKey,
    /// Large withdrawals need this session stepped up.
    pub session: PayingSession,
}

impl Ledger {
    pub async fn withdraw(
        &self,
        req: &WithdrawRequest,
    ) -> Result<transactions::Model, LedgerError> {
        let request = [
            "withdraw",
            &req.wallet_id.to_string(),
            &req.account_id.to_string(),
            &req.amount,
        ];
        self.run_keyed(req.user_id, &req.idempotency_key, &request, |txn| {
            self.withdraw_in(txn, req)
        })
        .await
    }

    /// Reserves the withdrawal in `txn`, its key taken.
    async fn withdraw_in(
        &self,
        txn: DatabaseTransaction,
        req: &WithdrawRequest,
    ) -> Result<Posted, LedgerError> {
        let now = Utc::now();
        let user = checks::active_user(&txn, req.user_id, "your account is suspended").await?;
        let wallet = owned_wallet(&txn, req.user_id, req.wallet_id).await?;
        let account = accounts::Entity::find_by_id(req.account_id)
            .one(&txn)
            .await?
            .filter(|a| a.user_id == req.user_id && a.status == AccountStatus::Active)
            .ok_or(LedgerError::NotFound)?;
        let (amount, currency) = amount_in(&wallet, &req.amount)?;
        step_up::require(&txn, &self.settings, req.session, &amount).await?;
        let fee = fee_for(&self.settings.fees, FeeKind::Withdrawal, &amount);
        let debit = amount.minor() + fee;
        let mut locked = lock_to_debit(&txn, wallet.wallet_id, debit, currency).await?;
        let id = Uuid::now_v7();
        let check = self.check_sender(&txn, &user, &amount, id, now).await?;
        let status = match check.decision {
            Decision::Allow => Status::Pending,
            Decision::Review => Status::PendingReview,
        };
        let mut writes = Writes::default();
        let row = records::insert(
            &mut writes,
            NewTransaction {
                id,
                kind: TxType::Withdrawal,
                status,
                sender_id: Some(user.user_id),
                receiver_id: None,
                sender_wallet_id: Some(wallet.wallet_id),
                receiver_wallet_id: None,
                amount,
                fee_minor: fee,
                payment_method_id: None,
                account_id: Some(account.account_id),
                related_transaction_id: None,
                description: None,
                actor_id: user.user_id,
            },
            vec![fraud::audit_event(&check)],
            now,
        );
        locked.post(
            wallet.wallet_id,
            -debit,
            debit,
            Some(id),
            Operation::Reserve,
        )?;
        idempotency::bind(&mut writes, user.user_id, &req.idempotency_key, id);
        locked.save(&mut writes);
        let (wallets, balances) = locked.into_changed();
        Feed::of(std::slice::from_ref(&row), &wallets).write(&mut writes, now);
        writes.run(&txn).await?;
        commit(txn).await?;
        Ok(Posted {
            transaction: row,
            wallets,
            balances,
        })
    }

    /// The sender's limit for unverified accounts, then the fraud rules:
    /// the check to record with the withdrawal `id`.
    async fn check_sender(
        &self,
        txn: &DatabaseTransaction,
        user: &users::Model,
        amount: &Amount,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<FraudCheck, LedgerError> {
        let verified = checks::kyc_verified(txn, user.user_id).await?;
        let sent =
            checks::outgoing_totals(txn, &self.settings, &BTreeSet::from([user.user_id]), now)
                .await?
                .remove(&user.user_id)
                .unwrap_or_default();
        checks::kyc_limit(&self.settings, verified, &sent, amount)?;
        Ok(checks::fraud_check(
            &self.settings,
            user,
            &sent,
            false,
            amount,
            id,
            now,
        ))
    }
}

/// Locks the wallet to take `debit` (amount and fee) from: refused when it
/// is frozen or its available balance is short.
async fn lock_to_debit(
    txn: &DatabaseTransaction,
    wallet_id: Uuid,
    debit: i64,
    currency: Currency,
) -> Result<Locked, LedgerError> {
    let locked = postings::lock(txn, &[wallet_id]).await?;
    let wallet = locked.get(wallet_id);
    if wallet.status == WalletStatus::Frozen {
        return Err(LedgerError::Restricted("this wallet is frozen"));
    }
    if wallet.available_balance_minor.get() < debit {
        return Err(LedgerError::insufficient(
            wallet.available_balance_minor,
            currency,
        ));
    }
    Ok(locked)
}
