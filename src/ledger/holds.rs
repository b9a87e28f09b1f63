//! Holds placed by support: money moves between available and frozen,
//! never in or out; the balance stays the same.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    Ledger, LedgerError, Status, balance_changes::Operation, changes::Feed, commit, postings,
    wallets::amount_in,
};
use crate::{
    audit::{self, AuditEvent},
    auth::SupportAgent,
    db::{Writes, retry::Safe},
    four_eyes::{self, ActionKind, Approval},
    validation::InvalidInput,
};
use entity::{transactions, wallets};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldChange {
    Hold,
    Release,
}

/// Money frozen for payments still in flight from this wallet; a release
/// may not touch it.
async fn reserved<C: ConnectionTrait>(txn: &C, wallet_id: Uuid) -> Result<i64, LedgerError> {
    let sum: Option<i64> = transactions::Entity::find()
        .filter(transactions::Column::SenderWalletId.eq(wallet_id))
        .filter(transactions::Column::Status.is_in([
            Status::Pending,
            Status::Processing,
            Status::PendingReview,
        ]))
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(amount_minor + fees_minor), 0) AS BIGINT)"),
            "reserved",
        )
        .into_tuple()
        .one(txn)
        .await?;
    Ok(sum.unwrap_or(0))
}

pub fn parse_reason(field: &'static str, raw: &str) -> Result<String, InvalidInput> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > 500 {
        return Err(InvalidInput::new(
            field,
            "is required (1 to 500 characters)",
        ));
    }
    Ok(text.to_owned())
}

impl Ledger {
    /// Holds or releases part of a wallet. Agents cannot act on their own
    /// wallets.
    pub async fn change_hold(
        &self,
        agent: SupportAgent,
        wallet_id: Uuid,
        amount: &str,
        reason: &str,
        change: HoldChange,
    ) -> Result<wallets::Model, LedgerError> {
        let reason = parse_reason("reason", reason)?;
        if change == HoldChange::Hold
            && let Some(action) = self
                .hold_for_approval(agent, wallet_id, amount, &reason)
                .await?
        {
            return Err(LedgerError::ApprovalRequired {
                action_id: action.action_id,
            });
        }
        // No key decides a hold: after a commit whose outcome is unknown it
        // does not run again (it could hold the money twice).
        self.settings
            .retry
            .run(Safe::BeforeCommit, || {
                self.change_hold_once(agent, wallet_id, amount, &reason, change, None)
            })
            .await
    }

    /// A large hold that could be placed waits for a second agent: its
    /// pending action. `None` for one that needs no second agent, or that
    /// could not be placed (it then gets its refusal as any hold).
    async fn hold_for_approval(
        &self,
        agent: SupportAgent,
        wallet_id: Uuid,
        amount: &str,
        reason: &str,
    ) -> Result<Option<entity::support_actions::Model>, LedgerError> {
        let wallet = self
            .settings
            .retry
            .read(|| wallets::Entity::find_by_id(wallet_id).one(&self.db))
            .await?;
        let Some(wallet) = wallet else {
            return Ok(None);
        };
        let Ok((amount, _)) = amount_in(&wallet, amount) else {
            return Ok(None);
        };
        let m = amount.minor();
        if wallet.user_id == agent.user_id()
            || m > wallet.available_balance_minor.get()
            || !self.needs_second_agent(m, wallet.currency)
        {
            return Ok(None);
        }
        let action = four_eyes::request(
            &self.db,
            four_eyes::Request {
                kind: ActionKind::Hold,
                requested_by: agent.user_id(),
                customer_id: wallet.user_id,
                reason,
                payload: serde_json::json!({"wallet_id": wallet_id, "amount": amount.to_string(), "currency": wallet.currency}),
            },
        )
        .await?;
        Ok(Some(action))
    }

    /// Places a hold a second agent approved, as that agent.
    pub async fn hold_approved(
        &self,
        approver: SupportAgent,
        action: &entity::support_actions::Model,
    ) -> Result<wallets::Model, LedgerError> {
        let wallet_id = four_eyes::payload_id(action, "wallet_id").ok_or(LedgerError::NotFound)?;
        let amount = action.payload["amount"]
            .as_str()
            .ok_or(LedgerError::NotFound)?;
        let approval = Approval::of(action, approver.user_id());
        self.settings
            .retry
            .run(Safe::BeforeCommit, || {
                self.change_hold_once(
                    approver,
                    wallet_id,
                    amount,
                    &action.reason,
                    HoldChange::Hold,
                    Some(approval),
                )
            })
            .await
    }

    async fn change_hold_once(
        &self,
        agent: SupportAgent,
        wallet_id: Uuid,
        amount: &str,
        reason: &str,
        change: HoldChange,
        approval: Option<Approval>,
    ) -> Result<wallets::Model, LedgerError> {
        let txn = self.begin().await?;
        // First, so that a second approval at once waits here and finds the
        // action decided.
        if let Some(approval) = approval {
            four_eyes::settle_in(&txn, approval, wallet_id).await?;
        }
        let mut locked = postings::lock(&txn, &[wallet_id]).await?;
        let wallet = locked.get(wallet_id).clone();
        if wallet.user_id == agent.user_id() {
            return Err(LedgerError::Forbidden(
                "support agents cannot act on their own account",
            ));
        }
        let (amount, _) = amount_in(&wallet, amount)?;
        let m = amount.minor();
        let (d_available, d_frozen, operation, event) = match change {
            HoldChange::Hold => {
                if m > wallet.available_balance_minor.get() {
                    return Err(
                        InvalidInput::new("amount", "is more than the available balance").into(),
                    );
                }
                (-m, m, Operation::Hold, "wallet.hold_placed")
            }
            HoldChange::Release => {
                let releasable =
                    wallet.frozen_balance_minor.get() - reserved(&txn, wallet_id).await?;
                if m > releasable {
                    return Err(InvalidInput::new("amount", "is more than the held balance").into());
                }
                (m, -m, Operation::Release, "wallet.hold_released")
            }
        };
        locked.post(wallet_id, d_available, d_frozen, None, operation)?;
        let mut data = serde_json::json!({"wallet_id": wallet_id, "amount_minor": m, "currency": wallet.currency, "reason": reason});
        if let Some(approval) = approval {
            data["approval"] = approval.audit_data();
        }
        let audit = AuditEvent {
            service: "support",
            event_type: event,
            actor_id: Some(agent.user_id()),
            user_id: Some(wallet.user_id),
            transaction_id: None,
            data,
        };
        let mut writes = Writes::default();
        audit::record_many(&mut writes, vec![audit]);
        locked.save(&mut writes);
        let wallet = locked.get(wallet_id).clone();
        let (_, balances) = locked.into_changed();
        Feed::of(&[], std::slice::from_ref(&wallet)).write(&mut writes, chrono::Utc::now());
        writes.run(&txn).await?;
        commit(txn).await?;
        self.announce_batch(&[], std::slice::from_ref(&wallet), &balances);
        Ok(wallet)
    }
}
