use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a payment method pays in from. Stored in `method_type` as its
/// `string_value`, which is also its serialised form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum MethodType {
    #[sea_orm(string_value = "card")]
    Card,
    #[sea_orm(string_value = "bank")]
    Bank,
}

/// A method is `Active` until removed; a `Removed` row stays for the
/// transactions that refer to it. Stored in `status` as its `string_value`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum MethodStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "removed")]
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_methods")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub method_id: Uuid,
    pub user_id: Uuid,
    pub method_type: MethodType,
    /// Encrypted by the service; opaque to the database.
    #[sea_orm(column_type = "Text")]
    pub encrypted_data: String,
    pub last_four: Option<String>,
    pub expiry_date: Option<Date>,
    /// At most one `true` per user (`uq_payment_methods_one_default`).
    pub is_default: bool,
    pub status: MethodStatus,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::UserId"
    )]
    Users,
    #[sea_orm(has_many = "super::transactions::Entity")]
    Transactions,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl Related<super::transactions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Transactions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    /// Audit events carry the serialised form; it is the stored one.
    #[test]
    fn serialised_as_stored() {
        for v in MethodType::iter() {
            assert_eq!(serde_json::to_value(v).unwrap(), v.to_value().as_str());
        }
        for v in MethodStatus::iter() {
            assert_eq!(serde_json::to_value(v).unwrap(), v.to_value().as_str());
        }
    }
}
