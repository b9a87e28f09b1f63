//! The `transactions` rows and their `transaction_events`: every status
//! change is an event row, an audit event, and a version bump.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::Value;
use uuid::Uuid;

use super::{Status, TxType, event_of, postings::db_time, tallies};
use crate::{
    audit::{self, AuditEvent},
    db::Writes,
    money::Amount,
};
use entity::{
    transaction_events::{self, EventType},
    transactions,
};

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

/// One transaction with `audit`, as [`insert_many`] writes them.
pub fn insert(
    writes: &mut Writes,
    new: NewTransaction,
    audit: Vec<AuditEvent>,
    now: DateTime<Utc>,
) -> transactions::Model {
    let mut rows = insert_many(writes, vec![new], audit, now);
    rows.pop().expect("one row per transaction")
}

/// Inserts transactions with their events (created, and the status each
/// starts in) and the audit rows of those events, plus `audit` (events the
/// caller queues with them), however many there are, as `writes`.
pub fn insert_many(
    writes: &mut Writes,
    news: Vec<NewTransaction>,
    mut audit: Vec<AuditEvent>,
    now: DateTime<Utc>,
) -> Vec<transactions::Model> {
    if news.is_empty() {
        audit::record_many(writes, audit);
        return vec![];
    }
    let now = db_time(now);
    let mut events = Vec::new();
    let rows: Vec<transactions::Model> = news
        .into_iter()
        .map(|new| {
            let row = transactions::Model {
                transaction_id: new.id,
                sender_id: new.sender_id,
                receiver_id: new.receiver_id,
                sender_wallet_id: new.sender_wallet_id,
                receiver_wallet_id: new.receiver_wallet_id,
                amount_minor: new.amount.minor().into(),
                currency: new.amount.currency(),
                transaction_type: new.kind,
                status: new.status,
                payment_method_id: new.payment_method_id,
                account_id: new.account_id,
                related_transaction_id: new.related_transaction_id,
                description: new.description,
                fees_minor: new.fee_minor.into(),
                version: 1,
                created_at: now,
                updated_at: now,
                completed_at: new.status.is_final().then_some(now),
            };
            events.push((row.transaction_id, EventType::Created, new.actor_id));
            if new.status != Status::Pending {
                events.push((row.transaction_id, event_of(new.status), new.actor_id));
            }
            row
        })
        .collect();
    writes.insert(transactions::Entity::insert_many(
        rows.iter().cloned().map(IntoActiveModel::into_active_model),
    ));
    tallies::count_new(writes, &rows);
    let by_id: HashMap<Uuid, &transactions::Model> =
        rows.iter().map(|r| (r.transaction_id, r)).collect();
    let events: Vec<(&transactions::Model, EventType, Value, Uuid)> = events
        .into_iter()
        .map(|(id, event_type, actor)| (by_id[&id], event_type, Value::Null, actor))
        .collect();
    write_events(writes, &events, &mut audit, now);
    rows
}

/// Moves a transaction to `status`, with its event: the row as it will be
/// once `writes` run.
pub fn set_status(
    writes: &mut Writes,
    before: transactions::Model,
    status: Status,
    actor_id: Option<Uuid>,
    data: Value,
    now: DateTime<Utc>,
) -> transactions::Model {
    let now = db_time(now);
    tallies::status_changed(writes, &before, status);
    let row = transactions::Model {
        status,
        version: before.version + 1,
        updated_at: now,
        completed_at: if status.is_final() {
            Some(now)
        } else {
            before.completed_at
        },
        ..before
    };
    writes.update(
        transactions::Entity::update_many()
            .set(transactions::ActiveModel {
                status: Set(row.status),
                version: Set(row.version),
                updated_at: Set(row.updated_at),
                completed_at: Set(row.completed_at),
                ..Default::default()
            })
            .filter(transactions::Column::TransactionId.eq(row.transaction_id)),
    );
    let actor = actor_id
        .or(row.sender_id)
        .or(row.receiver_id)
        .unwrap_or_default();
    write_events(
        writes,
        &[(&row, event_of(status), data, actor)],
        &mut vec![],
        now,
    );
    row
}

/// Writes `transaction_events` rows, then their audit events together with
/// `audit`: one statement for each table.
fn write_events(
    writes: &mut Writes,
    events: &[(&transactions::Model, EventType, Value, Uuid)],
    audit: &mut Vec<AuditEvent>,
    now: DateTime<Utc>,
) {
    let data = |d: &Value| (!d.is_null()).then(|| d.clone());
    writes.insert(transaction_events::Entity::insert_many(events.iter().map(
        |(row, event_type, d, _)| transaction_events::ActiveModel {
            event_id: Set(Uuid::now_v7()),
            transaction_id: Set(row.transaction_id),
            event_type: Set(*event_type),
            event_data: Set(data(d)),
            created_at: Set(now),
        },
    )));
    audit.extend(
        events
            .iter()
            .map(|(row, event_type, d, actor_id)| AuditEvent {
                service: "ledger",
                event_type: audit_name(*event_type),
                actor_id: Some(*actor_id),
                user_id: row.sender_id.or(row.receiver_id),
                transaction_id: Some(row.transaction_id),
                data: serde_json::json!({
                    "type": row.transaction_type,
                    "status": row.status,
                    "amount_minor": row.amount_minor,
                    "currency": row.currency,
                    "version": row.version,
                    "detail": data(d),
                }),
            }),
    );
    audit::record_many(writes, std::mem::take(audit));
}

fn audit_name(event_type: EventType) -> &'static str {
    match event_type {
        EventType::Created => "transaction.created",
        EventType::Processing => "transaction.processing",
        EventType::Completed => "transaction.completed",
        EventType::Failed => "transaction.failed",
        EventType::HeldForReview => "transaction.held_for_review",
        EventType::Cancelled => "transaction.cancelled",
        EventType::Reversed => "transaction.reversed",
        EventType::Pending => "transaction.updated",
    }
}
