use sea_orm::entity::prelude::*;

/// One row per balance change of a wallet. `sequence` orders a wallet's
/// rows: the wallet's `version` after the change, taken under its lock, so
/// it follows the order in which the changes committed, whichever instance
/// made them (`uq_balance_history_wallet_sequence`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "balance_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub history_id: Uuid,
    pub wallet_id: Uuid,
    pub sequence: i64,
    pub transaction_id: Option<Uuid>,
    /// Signed change: negative for a debit.
    pub amount_minor: i64,
    pub balance_before_minor: i64,
    pub balance_after_minor: i64,
    pub operation_type: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::wallets::Entity",
        from = "Column::WalletId",
        to = "super::wallets::Column::WalletId"
    )]
    Wallets,
    #[sea_orm(
        belongs_to = "super::transactions::Entity",
        from = "Column::TransactionId",
        to = "super::transactions::Column::TransactionId"
    )]
    Transactions,
}

impl Related<super::wallets::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Wallets.def()
    }
}

impl Related<super::transactions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Transactions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
