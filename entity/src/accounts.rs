use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The kind of a linked bank account. Stored in `account_type` as its
/// `string_value`, which is also its serialised form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    #[sea_orm(string_value = "checking")]
    Checking,
    #[sea_orm(string_value = "savings")]
    Savings,
}

/// Whether a linked account may be withdrawn to; every account is linked
/// `Active`. Stored in `status` as its `string_value`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    #[sea_orm(string_value = "active")]
    Active,
}

/// A linked bank account. The account number is never stored in clear.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub user_id: Uuid,
    pub account_type: AccountType,
    /// Encrypted by the service; opaque to the database.
    #[sea_orm(column_type = "Text")]
    pub account_number_ciphertext: String,
    /// Keyed HMAC of the normalised number, unique per user
    /// (`uq_accounts_user_fingerprint`).
    pub account_number_fingerprint: String,
    pub account_number_last_four: String,
    pub routing_number: Option<String>,
    pub bank_name: Option<String>,
    pub status: AccountStatus,
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
        for v in AccountType::iter() {
            assert_eq!(serde_json::to_value(v).unwrap(), v.to_value().as_str());
        }
        for v in AccountStatus::iter() {
            assert_eq!(serde_json::to_value(v).unwrap(), v.to_value().as_str());
        }
    }
}
