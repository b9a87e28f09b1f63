use sea_orm::entity::prelude::*;

use serde::{Deserialize, Serialize};

use crate::{Currency, MinorUnit};

/// What a request's `status` column holds, as its `string_value`, which is
/// also its serialised form. Expiry is not stored: a pending request past
/// `expires_at` is expired (no write makes it so).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "paid")]
    Paid,
    #[sea_orm(string_value = "declined")]
    Declined,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

/// A request for money from one user (the requester) to another (the
/// payer).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub payment_request_id: Uuid,
    pub requester_id: Uuid,
    pub payer_id: Uuid,
    pub amount_minor: MinorUnit,
    pub currency: Currency,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    pub status: Status,
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    /// The event bus carries the serialised form; it is the stored one.
    #[test]
    fn serialised_as_stored() {
        for s in Status::iter() {
            assert_eq!(serde_json::to_value(s).unwrap(), s.to_value().as_str());
        }
    }
}
