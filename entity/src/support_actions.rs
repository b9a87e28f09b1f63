use sea_orm::entity::prelude::*;

/// A support action that waits for a second agent. `kind` is `refund`,
/// `hold` or `close_account`; `status` is `pending`, `approved` or
/// `rejected`, and a pending action past `expires_at` is expired (no write
/// makes it so). `payload` holds what the action needs to run;
/// `result_id` is the object it changed (the refund, the wallet, the user).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "support_actions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub action_id: Uuid,
    pub kind: String,
    pub status: String,
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
