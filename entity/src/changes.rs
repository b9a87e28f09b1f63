use sea_orm::entity::prelude::*;

/// One entry of a user's change feed: which of their transactions, wallets
/// or payment requests changed (exactly one of the three ids is set), and
/// when. `sequence` numbers a user's entries from 1 without gaps, in the
/// order their database transactions committed (see `change_heads`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    pub transaction_id: Option<Uuid>,
    pub wallet_id: Option<Uuid>,
    pub payment_request_id: Option<Uuid>,
    pub changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
