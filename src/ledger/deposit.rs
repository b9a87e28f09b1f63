//! Deposits: recorded `PENDING` at once; the settlement worker takes them
//! through the processor to `COMPLETED` (credited) or `FAILED`.

use uuid::Uuid;

use super::{
    Ledger, LedgerError, Posted, Status, TxType,
    changes::Feed,
    checks, commit,
    fees::{FeeKind, fee_for},
    idempotency::{self, IdempotencyKey},
    records::{self, NewTransaction},
    wallets::{amount_in, owned_wallet},
};
use crate::{db::Writes, validation::InvalidInput};
use entity::{
    payment_methods::{self, MethodStatus, MethodType},
    transactions,
    wallets::WalletStatus,
};
use sea_orm::{DatabaseTransaction, EntityTrait};

pub struct DepositRequest {
    pub user_id: Uuid,
    pub wallet_id: Uuid,
    pub payment_method_id: Uuid,
    pub amount: String,
    pub idempotency_key: IdempotencyKey,
}

impl Ledger {
    pub async fn deposit(&self, req: &DepositRequest) -> Result<transactions::Model, LedgerError> {
        let request = [
            "deposit",
            &req.wallet_id.to_string(),
            &req.payment_method_id.to_string(),
            &req.amount,
        ];
        self.run_keyed(req.user_id, &req.idempotency_key, &request, |txn| {
            self.deposit_in(txn, req)
        })
        .await
    }

    /// Records the deposit in `txn`, its key taken.
    async fn deposit_in(
        &self,
        txn: DatabaseTransaction,
        req: &DepositRequest,
    ) -> Result<Posted, LedgerError> {
        let now = chrono::Utc::now();
        checks::active_user(&txn, req.user_id, "your account is suspended").await?;
        let wallet = owned_wallet(&txn, req.user_id, req.wallet_id).await?;
        if wallet.status == WalletStatus::Frozen {
            return Err(LedgerError::Restricted("this wallet is frozen"));
        }
        let method = payment_methods::Entity::find_by_id(req.payment_method_id)
            .one(&txn)
            .await?
            .filter(|m| m.user_id == req.user_id && m.status == MethodStatus::Active)
            .ok_or(LedgerError::NotFound)?;
        let (amount, _) = amount_in(&wallet, &req.amount)?;
        let kind = match method.method_type {
            MethodType::Bank => FeeKind::BankDeposit,
            MethodType::Card => FeeKind::CardDeposit,
        };
        let fee = fee_for(&self.settings.fees, kind, &amount);
        if fee >= amount.minor() {
            return Err(
                InvalidInput::new("amount", "is too small to cover the deposit fee").into(),
            );
        }
        let mut writes = Writes::default();
        let row = records::insert(
            &mut writes,
            NewTransaction {
                id: Uuid::now_v7(),
                kind: TxType::Deposit,
                status: Status::Pending,
                sender_id: None,
                receiver_id: Some(req.user_id),
                sender_wallet_id: None,
                receiver_wallet_id: Some(wallet.wallet_id),
                amount,
                fee_minor: fee,
                payment_method_id: Some(method.method_id),
                account_id: None,
                related_transaction_id: None,
                description: None,
                actor_id: req.user_id,
            },
            vec![],
            now,
        );
        idempotency::bind(
            &mut writes,
            req.user_id,
            &req.idempotency_key,
            row.transaction_id,
        );
        Feed::of(std::slice::from_ref(&row), &[]).write(&mut writes, now);
        writes.run(&txn).await?;
        commit(txn).await?;
        Ok(Posted::no_postings(row))
    }
}
