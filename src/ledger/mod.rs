//! The money rules. This slice: reading wallets and transactions;
//! the ledger issue adds the movements.

pub mod notify;
mod reads;
mod status_reads;

pub use notify::{ChangeNotifier, NoNotifier, Notifier};
pub use reads::{TransactionFilter, transactions_of, wallet_of, wallets_of};
pub use status_reads::transaction_for_party;

/// Lower-case values stored in `transactions.transaction_type`.
pub const TRANSACTION_TYPES: [&str; 4] = ["transfer", "deposit", "withdrawal", "refund"];
/// Lower-case values stored in `transactions.status`.
pub const TRANSACTION_STATUSES: [&str; 7] = [
    "pending",
    "processing",
    "pending_review",
    "completed",
    "failed",
    "cancelled",
    "reversed",
];
