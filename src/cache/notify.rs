//! What the ledger tells the rest of the service after a commit: which
//! transaction, wallet or payment request changed. The trait lives here,
//! below the ledger, beside its implementation (`notifier::CacheNotifier`:
//! the transaction cache, the event bus of subscriptions); the ledger
//! holds a `Notifier` and knows nothing of Redis.

use std::sync::Arc;

use entity::{payment_requests, transactions, wallets};

pub trait ChangeNotifier: Send + Sync {
    /// Called after the commit that changed the row; never inside it.
    fn transaction_changed(&self, transaction: &transactions::Model);
    fn wallet_changed(&self, wallet: &wallets::Model);
    fn payment_request_changed(&self, request: &payment_requests::Model);
}

/// For commands and tests that run the ledger without subscribers.
pub struct NoNotifier;

impl ChangeNotifier for NoNotifier {
    fn transaction_changed(&self, _: &transactions::Model) {}
    fn wallet_changed(&self, _: &wallets::Model) {}
    fn payment_request_changed(&self, _: &payment_requests::Model) {}
}

pub type Notifier = Arc<dyn ChangeNotifier>;
