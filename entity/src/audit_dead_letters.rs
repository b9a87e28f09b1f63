use sea_orm::entity::prelude::*;

/// An audit event the relay gave up on: it failed to reach the audit store
/// `PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS` times, and waits here for an
/// operator (`paygraph audit dead-letters requeue` puts it back in the
/// outbox). The columns are the outbox row's, with its last error.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_dead_letters")]
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
    /// Delivery attempts, all failed.
    pub attempts: i32,
    #[sea_orm(column_type = "Text")]
    pub last_error: String,
    pub dead_lettered_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
