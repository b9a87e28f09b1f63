use sea_orm::entity::prelude::*;

/// The embedded fraud store: DynamoDB's `fraud_detection` item, one row
/// per check, keyed the same way (`user_id`, `timestamp`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fraud_detection")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// `<RFC 3339 UTC, microseconds>#<check_id>`
    #[sea_orm(primary_key, auto_increment = false)]
    pub timestamp: String,
    pub check_id: Uuid,
    pub transaction_id: Option<Uuid>,
    pub amount_minor: i64,
    pub currency: String,
    pub score: i32,
    /// The names of the rules that fired, as a JSON array.
    #[sea_orm(column_type = "Text")]
    pub rules_fired: String,
    pub decision: String,
    pub checked_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
