use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Currency, MinorUnit};

/// What a transaction is. Stored in `transaction_type` as its
/// `string_value`, which is also its serialised form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum TxType {
    #[sea_orm(string_value = "transfer")]
    Transfer,
    #[sea_orm(string_value = "deposit")]
    Deposit,
    #[sea_orm(string_value = "withdrawal")]
    Withdrawal,
    #[sea_orm(string_value = "refund")]
    Refund,
}

/// Where a transaction stands. Stored in `status` as its `string_value`,
/// which is also its serialised form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "processing")]
    Processing,
    #[sea_orm(string_value = "pending_review")]
    PendingReview,
    #[sea_orm(string_value = "completed")]
    Completed,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "reversed")]
    Reversed,
}

impl Status {
    /// Whether a transaction in this status can change no more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::Reversed
        )
    }
}

/// A movement of money. The database enforces `amount_minor > 0` and
/// `fees_minor >= 0`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub transaction_id: Uuid,
    pub sender_id: Option<Uuid>,
    pub receiver_id: Option<Uuid>,
    pub sender_wallet_id: Option<Uuid>,
    pub receiver_wallet_id: Option<Uuid>,
    pub amount_minor: MinorUnit,
    pub currency: Currency,
    pub transaction_type: TxType,
    pub status: Status,
    pub payment_method_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    /// For a refund, the transaction it reverses.
    pub related_transaction_id: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub fees_minor: MinorUnit,
    /// Optimistic-locking counter, bumped on every status change.
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

/// Users and wallets appear twice, so those relations are named per side and
/// have no `Related` impl: pick one explicitly, e.g.
/// `transactions::Entity::find().join(JoinType::InnerJoin, Relation::Sender.def())`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::SenderId",
        to = "super::users::Column::UserId"
    )]
    Sender,
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::ReceiverId",
        to = "super::users::Column::UserId"
    )]
    Receiver,
    #[sea_orm(
        belongs_to = "super::wallets::Entity",
        from = "Column::SenderWalletId",
        to = "super::wallets::Column::WalletId"
    )]
    SenderWallet,
    #[sea_orm(
        belongs_to = "super::wallets::Entity",
        from = "Column::ReceiverWalletId",
        to = "super::wallets::Column::WalletId"
    )]
    ReceiverWallet,
    #[sea_orm(
        belongs_to = "super::payment_methods::Entity",
        from = "Column::PaymentMethodId",
        to = "super::payment_methods::Column::MethodId"
    )]
    PaymentMethod,
    #[sea_orm(
        belongs_to = "super::accounts::Entity",
        from = "Column::AccountId",
        to = "super::accounts::Column::AccountId"
    )]
    Account,
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::RelatedTransactionId",
        to = "Column::TransactionId"
    )]
    RelatedTransaction,
    #[sea_orm(has_many = "super::transaction_events::Entity")]
    TransactionEvents,
    #[sea_orm(has_many = "super::balance_history::Entity")]
    BalanceHistory,
    #[sea_orm(has_many = "super::idempotency_keys::Entity")]
    IdempotencyKeys,
}

impl Related<super::payment_methods::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PaymentMethod.def()
    }
}

impl Related<super::accounts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::transaction_events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TransactionEvents.def()
    }
}

impl Related<super::balance_history::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BalanceHistory.def()
    }
}

impl Related<super::idempotency_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::IdempotencyKeys.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    /// The cache and the event bus carry the serialised form; it is the
    /// stored one.
    #[test]
    fn serialised_as_stored() {
        for t in TxType::iter() {
            assert_eq!(serde_json::to_value(t).unwrap(), t.to_value().as_str());
        }
        for s in Status::iter() {
            assert_eq!(serde_json::to_value(s).unwrap(), s.to_value().as_str());
        }
    }
}
