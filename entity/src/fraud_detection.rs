use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a fraud check decided: the money moves, or it is held for review.
/// Stored in `decision` as its `string_value`, which is also its serialised
/// form (the outbox record and the DynamoDB item carry the same text).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    #[sea_orm(string_value = "allow")]
    Allow,
    #[sea_orm(string_value = "review")]
    Review,
}

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
    pub decision: Decision,
    pub checked_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    /// The outbox record carries the serialised form; it is the stored one.
    #[test]
    fn serialised_as_stored() {
        for d in Decision::iter() {
            assert_eq!(serde_json::to_value(d).unwrap(), d.to_value().as_str());
        }
    }
}
