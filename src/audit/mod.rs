//! Audit events. Each is written into the `audit_outbox` table inside the
//! same database transaction as the change it describes, so a committed
//! change always has its event; the relay copies events to the audit store.

pub mod tables;

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

/// One thing that happened, as the audit log will show it.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub service: &'static str,
    pub event_type: &'static str,
    /// Who did it: the customer, or the support agent acting on them.
    pub actor_id: Option<Uuid>,
    /// Whose data it concerns.
    pub user_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    pub data: serde_json::Value,
}

impl AuditEvent {
    /// An event a user caused on their own account.
    pub fn by_user(service: &'static str, event_type: &'static str, user_id: Uuid) -> Self {
        Self {
            service,
            event_type,
            actor_id: Some(user_id),
            user_id: Some(user_id),
            transaction_id: None,
            data: serde_json::Value::Null,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// Queues the event in the caller's transaction.
pub async fn record<C: ConnectionTrait>(conn: &C, event: AuditEvent) -> Result<Uuid, DbErr> {
    let row = outbox_row(event);
    let event_id = row.event_id.clone().unwrap();
    row.insert(conn).await?;
    Ok(event_id)
}

/// Queues several events in one statement (one round trip for all).
pub async fn record_many<C: ConnectionTrait>(
    conn: &C,
    events: Vec<AuditEvent>,
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    entity::audit_outbox::Entity::insert_many(events.into_iter().map(outbox_row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

fn outbox_row(event: AuditEvent) -> entity::audit_outbox::ActiveModel {
    let now = chrono::Utc::now();
    entity::audit_outbox::ActiveModel {
        event_id: Set(Uuid::now_v7()),
        service_name: Set(event.service.to_owned()),
        event_type: Set(event.event_type.to_owned()),
        actor_id: Set(event.actor_id),
        user_id: Set(event.user_id),
        transaction_id: Set(event.transaction_id),
        data: Set((!event.data.is_null()).then_some(event.data)),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
    }
}
