use sea_orm::entity::prelude::*;

/// An audit event waiting to be shipped to DynamoDB by the relay.
///
/// The id columns have no foreign keys on purpose: an audit record must
/// survive the deletion of anything it mentions.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: Uuid,
    pub service_name: String,
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub data: Option<Json>,
    pub created_at: DateTimeUtc,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When the relay may try (again); the relay polls rows due by now.
    pub next_attempt_at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
