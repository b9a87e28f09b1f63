use sea_orm::entity::prelude::*;

/// A linked bank account. The account number is never stored in clear.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub user_id: Uuid,
    pub account_type: String,
    /// Encrypted by the service; opaque to the database.
    #[sea_orm(column_type = "Text")]
    pub account_number_ciphertext: String,
    /// Keyed HMAC of the normalised number, unique per user
    /// (`uq_accounts_user_fingerprint`).
    pub account_number_fingerprint: String,
    pub account_number_last_four: String,
    pub routing_number: Option<String>,
    pub bank_name: Option<String>,
    pub status: String,
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
