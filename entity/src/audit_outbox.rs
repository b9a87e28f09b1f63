use sea_orm::entity::prelude::*;

/// Audit events waiting to be shipped to the audit store by the relay: the
/// events of one database commit, as a JSON array, in one row.
///
/// The events name users and transactions without foreign keys on purpose:
/// an audit record must survive the deletion of anything it mentions.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub batch_id: Uuid,
    #[sea_orm(column_type = "JsonBinary")]
    pub events: Json,
    /// How many events `events` holds (the outbox depth adds these up).
    pub event_count: i32,
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
