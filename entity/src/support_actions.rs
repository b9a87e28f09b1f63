use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a support action does. Stored in `kind` as its `string_value`,
/// which is also its serialised form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    #[sea_orm(string_value = "refund")]
    Refund,
    #[sea_orm(string_value = "hold")]
    Hold,
    #[sea_orm(string_value = "close_account")]
    CloseAccount,
}

/// What an action's `status` column holds, as its `string_value`. Expiry
/// is not stored: a pending action past `expires_at` is expired (no write
/// makes it so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Status {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "approved")]
    Approved,
    #[sea_orm(string_value = "rejected")]
    Rejected,
}

/// A support action that waits for a second agent. `payload` holds what the action needs to run;
/// `result_id` is the object it changed (the refund, the wallet, the user).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "support_actions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub action_id: Uuid,
    pub kind: ActionKind,
    pub status: Status,
    pub requested_by: Uuid,
    pub decided_by: Option<Uuid>,
    pub customer_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub decision_reason: Option<String>,
    pub payload: Json,
    pub result_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    /// Audit events carry the serialised kind; it is the stored one.
    #[test]
    fn kinds_are_serialised_as_stored() {
        for k in ActionKind::iter() {
            assert_eq!(serde_json::to_value(k).unwrap(), k.to_value().as_str());
        }
    }
}
