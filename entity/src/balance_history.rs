use sea_orm::entity::prelude::*;

use crate::MinorUnit;

/// What a posting was. Stored as the row's `operation_type`, and the
/// `operation` label of the balance-change metrics, so a `string_value`
/// never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum Operation {
    /// A settled deposit, credited (net of its fee).
    #[sea_orm(string_value = "deposit")]
    Deposit,
    /// A settled withdrawal, paid out of the frozen part it was reserved in.
    #[sea_orm(string_value = "withdrawal")]
    Withdrawal,
    /// A transfer's amount and fee, taken from the sender.
    #[sea_orm(string_value = "transfer_out")]
    TransferOut,
    /// A transfer's amount, given to the recipient.
    #[sea_orm(string_value = "transfer_in")]
    TransferIn,
    /// A fee, credited to the fee account.
    #[sea_orm(string_value = "fee")]
    Fee,
    /// Available to frozen: a transfer held for review, a support hold.
    #[sea_orm(string_value = "hold")]
    Hold,
    /// Frozen back to available: a rejected review, a declined
    /// withdrawal, a support release.
    #[sea_orm(string_value = "release")]
    Release,
    /// Available to frozen for a withdrawal on its way to the processor.
    #[sea_orm(string_value = "reserve")]
    Reserve,
    /// A refund's amount, taken back from the transfer's recipient.
    #[sea_orm(string_value = "refund_out")]
    RefundOut,
    /// A refund's amount, given back to the transfer's sender.
    #[sea_orm(string_value = "refund_in")]
    RefundIn,
}

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
    pub amount_minor: MinorUnit,
    pub balance_before_minor: MinorUnit,
    pub balance_after_minor: MinorUnit,
    pub operation_type: Operation,
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
