//! Four eyes for large support actions: a refund or a hold at or above
//! `SUPPORT_APPROVAL_AMOUNT`, and every account closure, made by one agent
//! change nothing and wait here as a pending action until another agent
//! approves it (it then runs) or rejects it.
//!
//! An action runs at most once, whichever instance approves it: the action
//! is marked approved ([`settle_in`]) by a conditional update from
//! `pending`, inside the database transaction that carries it out, so two
//! approvals at once commit one action and the other finds it decided.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    audit::{self, AuditEvent},
    pagination::{Page, PageRequest, keyset},
};
use entity::support_actions::{self, Status as Stored};

/// How long an action waits for a second agent before it expires.
pub const ACTION_TTL: chrono::Duration = chrono::Duration::hours(24);

pub use entity::support_actions::ActionKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    /// An action's status at `now`: a pending one past its expiry is expired.
    pub fn of(action: &support_actions::Model, now: DateTime<Utc>) -> Self {
        match action.status {
            Stored::Approved => Self::Approved,
            Stored::Rejected => Self::Rejected,
            Stored::Pending if action.expires_at <= now => Self::Expired,
            Stored::Pending => Self::Pending,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FourEyesError {
    #[error("not found")]
    NotFound,
    #[error("the agent who asked for an action cannot decide it: another agent must")]
    OwnRequest,
    #[error("this support action is {}, not PENDING", .0.as_str().to_uppercase())]
    Decided(ActionStatus),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// An approval being carried out: the action, who asked, who approves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approval {
    pub action_id: Uuid,
    pub requested_by: Uuid,
    pub approved_by: Uuid,
}

impl Approval {
    /// `approver`'s approval of `action`.
    pub fn of(action: &support_actions::Model, approver: Uuid) -> Self {
        Self {
            action_id: action.action_id,
            requested_by: action.requested_by,
            approved_by: approver,
        }
    }

    /// What the audit event of the action that ran says of its approval.
    pub fn audit_data(&self) -> serde_json::Value {
        serde_json::json!({
            "support_action_id": self.action_id,
            "requested_by": self.requested_by,
            "approved_by": self.approved_by,
        })
    }
}

/// The id the action's payload keeps under `key` (its target).
pub fn payload_id(action: &support_actions::Model, key: &str) -> Option<Uuid> {
    action.payload[key]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
}

/// What one agent asks a second to approve.
pub struct Request<'a> {
    pub kind: ActionKind,
    pub requested_by: Uuid,
    pub customer_id: Uuid,
    pub reason: &'a str,
    /// What the action needs to run (its target, its amount).
    pub payload: serde_json::Value,
}

/// Records a pending action (and its audit event), or returns the equal
/// one the same agent is already waiting on, so that asking again does
/// not make a second.
pub async fn request(
    db: &DatabaseConnection,
    request: Request<'_>,
) -> Result<support_actions::Model, DbErr> {
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let waiting = support_actions::Entity::find()
        .filter(support_actions::Column::RequestedBy.eq(request.requested_by))
        .filter(support_actions::Column::CustomerId.eq(request.customer_id))
        .filter(support_actions::Column::Kind.eq(request.kind))
        .filter(support_actions::Column::Status.eq(Stored::Pending))
        .filter(support_actions::Column::ExpiresAt.gt(now))
        .all(&txn)
        .await?
        .into_iter()
        .find(|a| a.payload == request.payload);
    if let Some(action) = waiting {
        txn.commit().await?;
        return Ok(action);
    }
    let action = support_actions::ActiveModel {
        action_id: Set(Uuid::now_v7()),
        kind: Set(request.kind),
        status: Set(Stored::Pending),
        requested_by: Set(request.requested_by),
        decided_by: Set(None),
        customer_id: Set(request.customer_id),
        reason: Set(request.reason.to_owned()),
        decision_reason: Set(None),
        payload: Set(request.payload.clone()),
        result_id: Set(None),
        created_at: Set(now),
        expires_at: Set(now + ACTION_TTL),
        decided_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        event(
            &action,
            "support.action_requested",
            request.requested_by,
            serde_json::json!({"support_action_id": action.action_id, "kind": action.kind, "requested_by": request.requested_by, "reason": request.reason, "payload": request.payload}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(action)
}

/// The action, if `agent` may decide it now: it exists, someone else asked
/// for it, and it is still pending.
pub async fn decidable<C: ConnectionTrait>(
    db: &C,
    action_id: Uuid,
    agent: Uuid,
) -> Result<support_actions::Model, FourEyesError> {
    let action = support_actions::Entity::find_by_id(action_id)
        .one(db)
        .await?
        .ok_or(FourEyesError::NotFound)?;
    if action.requested_by == agent {
        return Err(FourEyesError::OwnRequest);
    }
    match ActionStatus::of(&action, Utc::now()) {
        ActionStatus::Pending => Ok(action),
        decided => Err(FourEyesError::Decided(decided)),
    }
}

/// Inside the transaction that runs the action: marks it approved, with
/// the object it changed. Fails, and the caller rolls back, when it is no
/// longer pending (another approval got there first, or it expired).
pub async fn settle_in<C: ConnectionTrait>(
    txn: &C,
    approval: Approval,
    result_id: Uuid,
) -> Result<(), FourEyesError> {
    let now = Utc::now();
    let done = support_actions::Entity::update_many()
        .col_expr(
            support_actions::Column::Status,
            Expr::value(Stored::Approved),
        )
        .col_expr(
            support_actions::Column::DecidedBy,
            Expr::value(approval.approved_by),
        )
        .col_expr(support_actions::Column::DecidedAt, Expr::value(now))
        .col_expr(support_actions::Column::ResultId, Expr::value(result_id))
        .filter(support_actions::Column::ActionId.eq(approval.action_id))
        .filter(support_actions::Column::Status.eq(Stored::Pending))
        .filter(support_actions::Column::ExpiresAt.gt(now))
        .filter(support_actions::Column::RequestedBy.ne(approval.approved_by))
        .exec(txn)
        .await?;
    if done.rows_affected == 1 {
        return Ok(());
    }
    decidable(txn, approval.action_id, approval.approved_by)
        .await
        .map(|_| ())?;
    // Pending a moment ago and not now: decided meanwhile.
    Err(FourEyesError::Decided(ActionStatus::Approved))
}

/// Rejects a pending action; nothing runs.
pub async fn reject(
    db: &DatabaseConnection,
    action_id: Uuid,
    agent: Uuid,
    reason: &str,
) -> Result<support_actions::Model, FourEyesError> {
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let action = decidable(&txn, action_id, agent).await?;
    let done = support_actions::Entity::update_many()
        .col_expr(
            support_actions::Column::Status,
            Expr::value(Stored::Rejected),
        )
        .col_expr(support_actions::Column::DecidedBy, Expr::value(agent))
        .col_expr(support_actions::Column::DecidedAt, Expr::value(now))
        .col_expr(support_actions::Column::DecisionReason, Expr::value(reason))
        .filter(support_actions::Column::ActionId.eq(action_id))
        .filter(support_actions::Column::Status.eq(Stored::Pending))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(FourEyesError::Decided(ActionStatus::Approved));
    }
    audit::record(
        &txn,
        event(
            &action,
            "support.action_rejected",
            agent,
            serde_json::json!({"support_action_id": action_id, "kind": action.kind, "requested_by": action.requested_by, "rejected_by": agent, "reason": reason}),
        ),
    )
    .await?;
    txn.commit().await?;
    get(db, action_id).await?.ok_or(FourEyesError::NotFound)
}

pub async fn get<C: ConnectionTrait>(
    db: &C,
    action_id: Uuid,
) -> Result<Option<support_actions::Model>, DbErr> {
    support_actions::Entity::find_by_id(action_id).one(db).await
}

/// Actions newest first, of one status when given.
pub async fn list(
    db: &DatabaseConnection,
    status: Option<ActionStatus>,
    page: PageRequest,
) -> Result<Page<support_actions::Model>, DbErr> {
    let now = Utc::now();
    let mut select = support_actions::Entity::find();
    let pending = Stored::Pending;
    select = match status {
        None => select,
        Some(ActionStatus::Pending) => select
            .filter(support_actions::Column::Status.eq(pending))
            .filter(support_actions::Column::ExpiresAt.gt(now)),
        Some(ActionStatus::Expired) => select
            .filter(support_actions::Column::Status.eq(pending))
            .filter(support_actions::Column::ExpiresAt.lte(now)),
        Some(ActionStatus::Approved) => {
            select.filter(support_actions::Column::Status.eq(Stored::Approved))
        }
        Some(ActionStatus::Rejected) => {
            select.filter(support_actions::Column::Status.eq(Stored::Rejected))
        }
    };
    keyset(
        db,
        select,
        support_actions::Column::CreatedAt,
        support_actions::Column::ActionId,
        page,
    )
    .await
}

fn event(
    action: &support_actions::Model,
    event_type: &'static str,
    actor: Uuid,
    data: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        service: "support",
        event_type,
        actor_id: Some(actor),
        user_id: Some(action.customer_id),
        transaction_id: None,
        data,
    }
}
