use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Currency, MinorUnit};

/// Whether a wallet takes payments. Stored in `status` as its
/// `string_value`, which is also its serialised form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum WalletStatus {
    #[sea_orm(string_value = "active")]
    Active,
    /// Takes no deposit, transfer or withdrawal.
    #[sea_orm(string_value = "frozen")]
    Frozen,
}

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
    pub currency: Currency,
    pub balance_minor: MinorUnit,
    pub available_balance_minor: MinorUnit,
    pub frozen_balance_minor: MinorUnit,
    pub status: WalletStatus,
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    /// The event bus carries the serialised form; it is the stored one.
    #[test]
    fn serialised_as_stored() {
        for s in WalletStatus::iter() {
            assert_eq!(serde_json::to_value(s).unwrap(), s.to_value().as_str());
        }
    }
}
