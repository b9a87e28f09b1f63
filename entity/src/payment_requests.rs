use sea_orm::entity::prelude::*;

use crate::MinorUnit;

/// A request for money from one user (the requester) to another (the
/// payer). `status` is `pending`, `paid`, `declined` or `cancelled`; a
/// pending request past `expires_at` is expired (no write makes it so).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub payment_request_id: Uuid,
    pub requester_id: Uuid,
    pub payer_id: Uuid,
    pub amount_minor: MinorUnit,
    pub currency: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    pub status: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub decline_reason: Option<String>,
    /// The transfer that paid it.
    pub transaction_id: Option<Uuid>,
    /// The requester's idempotency key, kept for its retention, then cleared.
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    /// Bumped on every change; lets subscribers drop stale updates.
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::RequesterId",
        to = "super::users::Column::UserId"
    )]
    Requester,
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::PayerId",
        to = "super::users::Column::UserId"
    )]
    Payer,
    #[sea_orm(
        belongs_to = "super::transactions::Entity",
        from = "Column::TransactionId",
        to = "super::transactions::Column::TransactionId"
    )]
    Transactions,
}

impl ActiveModelBehavior for ActiveModel {}
