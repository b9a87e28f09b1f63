//! Decisions a support agent takes on a transaction: approve or reject one
//! held for review, refund a completed transfer.

use chrono::Utc;
use sea_orm::{ActiveEnum, DatabaseTransaction, EntityTrait, QuerySelect, sea_query::LockType};
use uuid::Uuid;

use super::{
    Ledger, LedgerError, Posted, Status, TxType,
    balance_changes::Operation,
    changes::Feed,
    commit,
    holds::parse_reason,
    idempotency::{self, IdempotencyKey},
    payment_requests,
    postings::{self, FEE_ACCOUNT_ID, Locked},
    records::{self, NewTransaction},
};
use crate::{
    auth::SupportAgent,
    db::{Writes, retry::Safe},
    four_eyes::{self, ActionKind, Approval},
    money::Amount,
};
use entity::{support_actions, transactions};

impl Ledger {
    /// Approves (COMPLETED; a withdrawal goes on to the processor) or
    /// rejects (CANCELLED, funds released) a `PENDING_REVIEW` payment.
    pub async fn review(
        &self,
        agent: SupportAgent,
        transaction_id: Uuid,
        approve: bool,
        note: &str,
    ) -> Result<transactions::Model, LedgerError> {
        let note = parse_reason("note", note)?;
        // Decided by the transaction's state, not a key: after a commit whose
        // outcome is unknown it does not run again (it would find its own
        // result and refuse).
        self.run(Safe::BeforeCommit, || {
            self.review_once(agent, transaction_id, approve, &note)
        })
        .await
    }

    async fn review_once(
        &self,
        agent: SupportAgent,
        transaction_id: Uuid,
        approve: bool,
        note: &str,
    ) -> Result<Posted, LedgerError> {
        let now = Utc::now();
        let txn = self.begin().await?;
        let row = locked_for(&txn, agent, transaction_id).await?;
        if row.status != Status::PendingReview {
            return Err(LedgerError::InvalidState {
                message: "this transaction is not under review",
                state: row.status.to_value().to_uppercase(),
            });
        }
        let currency = row.currency;
        let sender_wallet = row.sender_wallet_id.ok_or(LedgerError::NotFound)?;
        let fee_wallet = postings::ensure_wallet(&txn, FEE_ACCOUNT_ID, currency, now).await?;
        let mut ids = vec![sender_wallet, fee_wallet];
        ids.extend(row.receiver_wallet_id);
        let mut locked = postings::lock(&txn, &ids).await?;
        let id = row.transaction_id;
        let status = post_decision(&mut locked, &row, approve, fee_wallet)?;
        let data =
            serde_json::json!({"reviewer": agent.user_id(), "approved": approve, "note": note});
        let mut writes = Writes::default();
        let given_back = match approve {
            true => None,
            false => payment_requests::payment_rejected(&txn, &mut writes, id, now).await?,
        };
        let row = records::set_status(&mut writes, row, status, Some(agent.user_id()), data, now);
        locked.save(&mut writes);
        let (wallets, balances) = locked.into_changed();
        let mut feed = Feed::of(std::slice::from_ref(&row), &wallets);
        if let Some(request) = &given_back {
            feed.payment_request(request);
        }
        feed.write(&mut writes, now);
        writes.run(&txn).await?;
        commit(txn).await?;
        if let Some(request) = &given_back {
            self.notifier.payment_request_changed(request);
        }
        Ok(Posted {
            transaction: row,
            wallets,
            balances,
        })
    }

    /// Moves a completed transfer's amount back from its receiver to its
    /// sender as a REFUND transaction, and marks the original REVERSED.
    /// The fee is not returned. Idempotent by the agent's key.
    pub async fn refund(
        &self,
        agent: SupportAgent,
        transaction_id: Uuid,
        reason: &str,
        key: &IdempotencyKey,
    ) -> Result<transactions::Model, LedgerError> {
        let reason = parse_reason("reason", reason)?;
        // A large refund that could run waits for a second agent; one that
        // could not gets its refusal at once, below.
        let original = self
            .settings
            .retry
            .read(|| transactions::Entity::find_by_id(transaction_id).one(&self.db))
            .await?;
        if let Some(original) = original
            && original.transaction_type == TxType::Transfer
            && original.status == Status::Completed
            && original.sender_id != Some(agent.user_id())
            && original.receiver_id != Some(agent.user_id())
            && let Some(customer) = original.sender_id
            && self.needs_second_agent(original.amount_minor.get(), original.currency)
        {
            let action = four_eyes::request(
                &self.db,
                four_eyes::Request {
                    kind: ActionKind::Refund,
                    requested_by: agent.user_id(),
                    customer_id: customer,
                    reason: &reason,
                    payload: serde_json::json!({"transaction_id": transaction_id}),
                },
            )
            .await?;
            return Err(LedgerError::ApprovalRequired {
                action_id: action.action_id,
            });
        }
        self.refund_keyed(agent, transaction_id, &reason, key, None)
            .await
    }

    /// Runs a refund a second agent approved, as that agent. Its key is
    /// the action's, so the refund runs once however often it is tried.
    pub async fn refund_approved(
        &self,
        approver: SupportAgent,
        action: &support_actions::Model,
    ) -> Result<transactions::Model, LedgerError> {
        let transaction_id =
            four_eyes::payload_id(action, "transaction_id").ok_or(LedgerError::NotFound)?;
        let key = IdempotencyKey::parse(&format!("support-action:{}", action.action_id))?;
        let approval = Approval::of(action, approver.user_id());
        self.refund_keyed(
            approver,
            transaction_id,
            &action.reason,
            &key,
            Some(approval),
        )
        .await
    }

    /// Runs a refund under the agent's key.
    async fn refund_keyed(
        &self,
        agent: SupportAgent,
        transaction_id: Uuid,
        reason: &str,
        key: &IdempotencyKey,
        approval: Option<Approval>,
    ) -> Result<transactions::Model, LedgerError> {
        let request = ["refund", &transaction_id.to_string()];
        self.run_keyed(agent.user_id(), key, &request, |txn| {
            self.refund_in(txn, agent, transaction_id, reason, key, approval)
        })
        .await
    }

    /// Moves the refund in `txn`, its key taken.
    async fn refund_in(
        &self,
        txn: DatabaseTransaction,
        agent: SupportAgent,
        transaction_id: Uuid,
        reason: &str,
        key: &IdempotencyKey,
        approval: Option<Approval>,
    ) -> Result<Posted, LedgerError> {
        let now = Utc::now();
        let id = Uuid::now_v7();
        // First, so that a second approval at once waits here and finds the
        // action decided.
        if let Some(approval) = approval {
            four_eyes::settle_in(&txn, approval, id).await?;
        }
        let refunding = refundable(&txn, agent, transaction_id).await?;
        let (payer_wallet, payee_wallet) = (refunding.payer_wallet, refunding.payee_wallet);
        let amount = refunding.amount;
        let mut locked = postings::lock(&txn, &[payer_wallet, payee_wallet]).await?;
        let available = locked.get(payer_wallet).available_balance_minor;
        if available.get() < amount.minor() {
            return Err(LedgerError::insufficient(available, amount.currency()));
        }
        let mut writes = Writes::default();
        let record = refunding.record(id, reason, agent);
        let refund = records::insert(&mut writes, record, vec![], now);
        locked.post(
            payer_wallet,
            -amount.minor(),
            0,
            Some(id),
            Operation::RefundOut,
        )?;
        locked.post(
            payee_wallet,
            amount.minor(),
            0,
            Some(id),
            Operation::RefundIn,
        )?;
        let mut data = serde_json::json!({"refund_transaction_id": id, "agent": agent.user_id(), "reason": reason});
        if let Some(approval) = approval {
            data["approval"] = approval.audit_data();
        }
        let reversed = records::set_status(
            &mut writes,
            refunding.original,
            Status::Reversed,
            Some(agent.user_id()),
            data,
            now,
        );
        idempotency::bind(&mut writes, agent.user_id(), key, id);
        locked.save(&mut writes);
        let (wallets, balances) = locked.into_changed();
        Feed::of(&[refund.clone(), reversed.clone()], &wallets).write(&mut writes, now);
        writes.run(&txn).await?;
        commit(txn).await?;
        self.notifier.transaction_changed(&reversed);
        Ok(Posted {
            transaction: refund,
            wallets,
            balances,
        })
    }
}

/// A completed transfer to refund, locked, and its wallets: the payer of
/// the refund is the transfer's receiver.
struct Refundable {
    original: transactions::Model,
    payer_wallet: Uuid,
    payee_wallet: Uuid,
    amount: Amount,
}

impl Refundable {
    /// The REFUND transaction `id`: the amount back, no fee.
    fn record(&self, id: Uuid, reason: &str, agent: SupportAgent) -> NewTransaction {
        NewTransaction {
            id,
            kind: TxType::Refund,
            status: Status::Completed,
            sender_id: self.original.receiver_id,
            receiver_id: self.original.sender_id,
            sender_wallet_id: Some(self.payer_wallet),
            receiver_wallet_id: Some(self.payee_wallet),
            amount: self.amount,
            fee_minor: 0,
            payment_method_id: None,
            account_id: None,
            related_transaction_id: Some(self.original.transaction_id),
            description: Some(format!("Refund: {reason}")),
            actor_id: agent.user_id(),
        }
    }
}

/// Reads and locks the transaction to refund: never one of the agent's
/// own, and only a completed transfer.
async fn refundable(
    txn: &DatabaseTransaction,
    agent: SupportAgent,
    transaction_id: Uuid,
) -> Result<Refundable, LedgerError> {
    let original = locked_for(txn, agent, transaction_id).await?;
    if original.transaction_type != TxType::Transfer || original.status != Status::Completed {
        return Err(LedgerError::InvalidState {
            message: "only a completed transfer can be refunded",
            state: original.status.to_value().to_uppercase(),
        });
    }
    let (Some(payer_wallet), Some(payee_wallet)) =
        (original.receiver_wallet_id, original.sender_wallet_id)
    else {
        return Err(LedgerError::NotFound);
    };
    let amount = Amount::from_minor(original.amount_minor.get(), original.currency)
        .map_err(|_| LedgerError::NotFound)?;
    Ok(Refundable {
        original,
        payer_wallet,
        payee_wallet,
        amount,
    })
}

/// Reads and locks a transaction for an agent to decide on: never one of
/// the agent's own.
async fn locked_for(
    txn: &DatabaseTransaction,
    agent: SupportAgent,
    transaction_id: Uuid,
) -> Result<transactions::Model, LedgerError> {
    let row = transactions::Entity::find_by_id(transaction_id)
        .lock(LockType::Update)
        .one(txn)
        .await?
        .ok_or(LedgerError::NotFound)?;
    if row.sender_id == Some(agent.user_id()) || row.receiver_id == Some(agent.user_id()) {
        return Err(LedgerError::Forbidden(
            "support agents cannot act on their own account",
        ));
    }
    Ok(row)
}

/// Posts a review's decision on the held `row`: an approved transfer
/// moves its held amount and fee; an approved withdrawal stays reserved
/// for the processor; a rejected payment gives its hold back. Returns the
/// transaction's new status.
fn post_decision(
    locked: &mut Locked,
    row: &transactions::Model,
    approve: bool,
    fee_wallet: Uuid,
) -> Result<Status, LedgerError> {
    let id = row.transaction_id;
    let sender_wallet = row.sender_wallet_id.ok_or(LedgerError::NotFound)?;
    let (amount, fee) = (row.amount_minor.get(), row.fees_minor.get());
    let debit = amount + fee;
    let transfer = row.transaction_type == TxType::Transfer;
    Ok(match (approve, transfer) {
        (true, true) => {
            let receiver_wallet = row.receiver_wallet_id.ok_or(LedgerError::NotFound)?;
            locked.post(sender_wallet, 0, -debit, Some(id), Operation::TransferOut)?;
            locked.post(receiver_wallet, amount, 0, Some(id), Operation::TransferIn)?;
            if fee > 0 {
                locked.post(fee_wallet, fee, 0, Some(id), Operation::Fee)?;
            }
            Status::Completed
        }
        // An approved withdrawal stays reserved and goes to the processor.
        (true, false) => Status::Pending,
        (false, _) => {
            locked.post(sender_wallet, debit, -debit, Some(id), Operation::Release)?;
            Status::Cancelled
        }
    })
}
