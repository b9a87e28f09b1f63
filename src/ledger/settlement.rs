//! The settlement worker: takes deposits and withdrawals through the
//! payment processor. Its work list is the `transactions` table itself
//! (pending and processing rows, found through the partial status index),
//! so it survives restarts; several instances run it at once, each row
//! claimed with `FOR UPDATE SKIP LOCKED` and re-checked under the lock, so
//! nothing settles twice. No database transaction is held across the call
//! to the processor.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ActiveEnum, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};
use secrecy::SecretString;
use uuid::Uuid;

use super::{
    Ledger, LedgerError, Posted, Status, TxType, balance_changes::Operation, changes::Feed,
    postings, records,
};
use crate::{
    db::Writes,
    processor::{Direction, Outcome, SettlementRequest},
};
use entity::{accounts, payment_methods, transactions};

const BATCH: u64 = 20;

/// Deposits and withdrawals in `status`. The status is written into the
/// statement as a literal, not bound: PostgreSQL uses the partial status
/// index only where it can see that the value is one the index holds, and a
/// prepared statement's generic plan (which it switches to after five runs)
/// cannot, so every poll became a scan of the whole table.
fn settling(status: Status) -> sea_orm::Select<transactions::Entity> {
    transactions::Entity::find()
        .filter(transactions::Column::TransactionType.is_in([TxType::Deposit, TxType::Withdrawal]))
        .filter(
            Expr::col(transactions::Column::Status)
                .eq(Expr::cust(format!("'{}'", status.to_value()))),
        )
}

impl Ledger {
    /// Runs until `stop` resolves.
    pub async fn run_settlement(
        &self,
        poll: Duration,
        delay: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.settle_due(delay).await {
                tracing::warn!(error = %e, "settlement pass failed; will retry");
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// One pass: start what is pending, finish what has waited `delay`.
    pub async fn settle_due(&self, delay: Duration) -> Result<(), LedgerError> {
        self.start_pending().await?;
        let due = Utc::now() - chrono::Duration::from_std(delay).unwrap_or_default();
        let ids: Vec<Uuid> = settling(Status::Processing)
            .filter(transactions::Column::UpdatedAt.lte(due))
            .order_by_asc(transactions::Column::UpdatedAt)
            .limit(BATCH)
            .select_only()
            .column(transactions::Column::TransactionId)
            .into_tuple()
            .all(&self.db)
            .await?;
        for id in ids {
            self.finish(id).await?;
        }
        Ok(())
    }

    /// PENDING -> PROCESSING for a batch, in one short transaction.
    async fn start_pending(&self) -> Result<(), LedgerError> {
        // A plain read first: an idle worker takes no write lock (on
        // SQLite the only one there is).
        let any = settling(Status::Pending)
            .select_only()
            .column(transactions::Column::TransactionId)
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await?;
        if any.is_none() {
            return Ok(());
        }
        let now = Utc::now();
        let txn = self.begin().await?;
        let rows = settling(Status::Pending)
            .order_by_asc(transactions::Column::CreatedAt)
            .limit(BATCH)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        let mut writes = Writes::default();
        let changed: Vec<_> = rows
            .into_iter()
            .map(|row| {
                records::set_status(
                    &mut writes,
                    row,
                    Status::Processing,
                    None,
                    serde_json::Value::Null,
                    now,
                )
            })
            .collect();
        Feed::of(&changed, &[]).write(&mut writes, now);
        writes.run(&txn).await?;
        txn.commit().await?;
        for row in &changed {
            self.notifier.transaction_changed(row);
        }
        Ok(())
    }

    /// Asks the processor, then applies its answer under the row's lock.
    async fn finish(&self, id: Uuid) -> Result<(), LedgerError> {
        let Some(row) = transactions::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(());
        };
        let request = SettlementRequest {
            reference: row.transaction_id,
            amount_minor: row.amount_minor.get(),
            currency: row.currency.code().to_owned(),
            instrument: self.instrument(&row).await?,
            direction: if row.transaction_type == TxType::Deposit {
                Direction::PayIn
            } else {
                Direction::PayOut
            },
        };
        let outcome = match self.processor.settle(request).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(transaction_id = %id, error = %e, "processor unavailable; will retry");
                return Ok(());
            }
        };
        if let Some(posted) = self.apply(id, outcome).await? {
            self.announce(&posted);
        }
        Ok(())
    }

    async fn instrument(&self, row: &transactions::Model) -> Result<SecretString, LedgerError> {
        let sealed = if let Some(method) = row.payment_method_id {
            payment_methods::Entity::find_by_id(method)
                .one(&self.db)
                .await?
                .map(|m| m.encrypted_data)
        } else if let Some(account) = row.account_id {
            accounts::Entity::find_by_id(account)
                .one(&self.db)
                .await?
                .map(|a| a.account_number_ciphertext)
        } else {
            None
        };
        let sealed = sealed.ok_or(LedgerError::NotFound)?;
        self.cipher.decrypt(&sealed).map_err(LedgerError::Sealed)
    }

    async fn apply(&self, id: Uuid, outcome: Outcome) -> Result<Option<Posted>, LedgerError> {
        let now = Utc::now();
        let txn = self.begin().await?;
        let row = transactions::Entity::find_by_id(id)
            .filter(transactions::Column::Status.eq(Status::Processing))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&txn)
            .await?;
        // Another instance has it, or has finished it.
        let Some(row) = row else { return Ok(None) };
        let deposit = row.transaction_type == TxType::Deposit;
        let fee = row.fees_minor.get();
        let currency = row.currency;
        let fee_wallet =
            postings::ensure_wallet(&txn, postings::FEE_ACCOUNT_ID, currency, now).await?;
        let wallet = if deposit {
            row.receiver_wallet_id
        } else {
            row.sender_wallet_id
        }
        .ok_or(LedgerError::NotFound)?;
        let mut locked = postings::lock(&txn, &[wallet, fee_wallet]).await?;
        let status = match (deposit, outcome) {
            (true, Outcome::Approved) => {
                locked.post(
                    wallet,
                    row.amount_minor.get() - fee,
                    0,
                    Some(id),
                    Operation::Deposit,
                )?;
                if fee > 0 {
                    locked.post(fee_wallet, fee, 0, Some(id), Operation::Fee)?;
                }
                Status::Completed
            }
            (false, Outcome::Approved) => {
                let debit = row.amount_minor.get() + fee;
                locked.post(wallet, 0, -debit, Some(id), Operation::Withdrawal)?;
                if fee > 0 {
                    locked.post(fee_wallet, fee, 0, Some(id), Operation::Fee)?;
                }
                Status::Completed
            }
            (true, Outcome::Declined) => Status::Failed,
            (false, Outcome::Declined) => {
                let debit = row.amount_minor.get() + fee;
                locked.post(wallet, debit, -debit, Some(id), Operation::Release)?;
                Status::Failed
            }
        };
        let data = serde_json::json!({"processor": if outcome == Outcome::Approved { "approved" } else { "declined" }});
        let mut writes = Writes::default();
        let row = records::set_status(&mut writes, row, status, None, data, now);
        locked.save(&mut writes);
        let (wallets, balances) = locked.into_changed();
        Feed::of(std::slice::from_ref(&row), &wallets).write(&mut writes, now);
        writes.run(&txn).await?;
        txn.commit().await?;
        Ok(Some(Posted {
            transaction: row,
            wallets,
            balances,
        }))
    }
}
