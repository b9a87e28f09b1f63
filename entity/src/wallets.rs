use sea_orm::entity::prelude::*;

/// One wallet per user and currency (`uq_wallets_user_currency`).
///
/// The database enforces `available_balance_minor >= 0`,
/// `frozen_balance_minor >= 0` and
/// `balance_minor = available_balance_minor + frozen_balance_minor`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wallets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub wallet_id: Uuid,
    pub user_id: Uuid,
    /// ISO 4217 code, e.g. `"USD"`.
    pub currency: String,
    pub balance_minor: i64,
    pub available_balance_minor: i64,
    pub frozen_balance_minor: i64,
    pub status: String,
    /// Optimistic-locking counter, bumped on every balance change.
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Transactions reference wallets twice (sender and receiver side), so they
/// are not listed here; join through `transactions::Relation::SenderWallet` /
/// `ReceiverWallet`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::UserId"
    )]
    Users,
    #[sea_orm(has_many = "super::balance_history::Entity")]
    BalanceHistory,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl Related<super::balance_history::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BalanceHistory.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
