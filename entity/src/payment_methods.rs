use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_methods")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub method_id: Uuid,
    pub user_id: Uuid,
    /// `"card"`, `"bank"` or `"wallet"`.
    pub method_type: String,
    /// Encrypted by the service; opaque to the database.
    #[sea_orm(column_type = "Text")]
    pub encrypted_data: String,
    pub last_four: Option<String>,
    pub expiry_date: Option<Date>,
    /// At most one `true` per user (`uq_payment_methods_one_default`).
    pub is_default: bool,
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
