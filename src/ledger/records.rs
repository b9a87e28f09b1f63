//! The `transactions` rows and their `transaction_events`: every status
//! change is an event row, an audit event, and a version bump.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Set};
use serde_json::Value;
use uuid::Uuid;

use super::{LedgerError, Status, TxType};
use crate::{
    audit::{self, AuditEvent},
    money::Amount,
};
use entity::{transaction_events, transactions};

pub struct NewTransaction {
    /// Chosen before the row exists, so checks can name it.
    pub id: Uuid,
    pub kind: TxType,
    pub status: Status,
    pub sender_id: Option<Uuid>,
    pub receiver_id: Option<Uuid>,
    pub sender_wallet_id: Option<Uuid>,
    pub receiver_wallet_id: Option<Uuid>,
    pub amount: Amount,
    pub fee_minor: i64,
    pub payment_method_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub related_transaction_id: Option<Uuid>,
    pub description: Option<String>,
    /// Who asked for it (the customer, or the support agent for a refund).
    pub actor_id: Uuid,
}

pub async fn insert<C: ConnectionTrait>(
    txn: &C,
    new: NewTransaction,
    now: DateTime<Utc>,
) -> Result<transactions::Model, LedgerError> {
    let row = transactions::ActiveModel {
        transaction_id: Set(new.id),
        sender_id: Set(new.sender_id),
        receiver_id: Set(new.receiver_id),
        sender_wallet_id: Set(new.sender_wallet_id),
        receiver_wallet_id: Set(new.receiver_wallet_id),
        amount_minor: Set(new.amount.minor()),
        currency: Set(new.amount.currency().code().to_owned()),
        transaction_type: Set(new.kind.as_str().to_owned()),
        status: Set(new.status.as_str().to_owned()),
        payment_method_id: Set(new.payment_method_id),
        account_id: Set(new.account_id),
        related_transaction_id: Set(new.related_transaction_id),
        description: Set(new.description),
        fees_minor: Set(new.fee_minor),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        completed_at: Set(new.status.is_final().then_some(now)),
    }
    .insert(txn)
    .await?;
    event(txn, &row, "created", new.actor_id, Value::Null, now).await?;
    if new.status != Status::Pending {
        event(
            txn,
            &row,
            new.status.event_name(),
            new.actor_id,
            Value::Null,
            now,
        )
        .await?;
    }
    Ok(row)
}

/// Moves a transaction to `status`, with its event.
pub async fn set_status<C: ConnectionTrait>(
    txn: &C,
    row: transactions::Model,
    status: Status,
    actor_id: Option<Uuid>,
    data: Value,
    now: DateTime<Utc>,
) -> Result<transactions::Model, LedgerError> {
    let version = row.version + 1;
    let mut active = row.into_active_model();
    active.status = Set(status.as_str().to_owned());
    active.version = Set(version);
    active.updated_at = Set(now);
    if status.is_final() {
        active.completed_at = Set(Some(now));
    }
    let row = active.update(txn).await?;
    let actor = actor_id
        .or(row.sender_id)
        .or(row.receiver_id)
        .unwrap_or_default();
    event(txn, &row, status.event_name(), actor, data, now).await?;
    Ok(row)
}

async fn event<C: ConnectionTrait>(
    txn: &C,
    row: &transactions::Model,
    event_type: &'static str,
    actor_id: Uuid,
    data: Value,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    let data = (!data.is_null()).then_some(data);
    transaction_events::ActiveModel {
        event_id: Set(Uuid::now_v7()),
        transaction_id: Set(row.transaction_id),
        event_type: Set(event_type.to_owned()),
        event_data: Set(data.clone()),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    let owner = row.sender_id.or(row.receiver_id);
    audit::record(
        txn,
        AuditEvent {
            service: "ledger",
            event_type: audit_name(event_type),
            actor_id: Some(actor_id),
            user_id: owner,
            transaction_id: Some(row.transaction_id),
            data: serde_json::json!({
                "type": row.transaction_type,
                "status": row.status,
                "amount_minor": row.amount_minor,
                "currency": row.currency,
                "version": row.version,
                "detail": data,
            }),
        },
    )
    .await?;
    Ok(())
}

fn audit_name(event_type: &str) -> &'static str {
    match event_type {
        "created" => "transaction.created",
        "processing" => "transaction.processing",
        "completed" => "transaction.completed",
        "failed" => "transaction.failed",
        "held_for_review" => "transaction.held_for_review",
        "cancelled" => "transaction.cancelled",
        "reversed" => "transaction.reversed",
        _ => "transaction.updated",
    }
}
