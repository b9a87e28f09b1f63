use sea_orm::entity::prelude::*;

/// The embedded audit store: DynamoDB's `audit_logs` item, one row each,
/// with the same keys, so both stores answer the same queries alike.
///
/// `sort_key` is `<RFC 3339 UTC, microseconds>#<event_id>`: text order is
/// time order, and it makes the key unique on its own.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_logs")]
pub struct Model {
    /// `service_name#YYYY-MM-DD`
    #[sea_orm(primary_key, auto_increment = false)]
    pub partition_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sort_key: String,
    pub event_id: Uuid,
    pub service: String,
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    /// The event's data as a JSON string, as DynamoDB keeps it.
    #[sea_orm(column_type = "Text", nullable)]
    pub data: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
