//! The money rules: wallets, deposits, transfers, withdrawals, holds,
//! reviews, refunds and fees. No GraphQL or HTTP here; every operation is
//! one database transaction, and subscribers hear of it after the commit.

mod balance_changes;
mod changes;
mod checks;
mod deposit;
mod error;
pub mod feed;
mod fees;
mod holds;
pub mod idempotency;
pub mod payment_requests;
mod postings;
mod reads;
mod records;
mod retention;
mod review;
mod settings;
pub mod settlement;
mod statement_export;
mod statements;
mod status_reads;
mod step_up;
mod tallies;
mod transfer;
mod transfer_queue;
mod wallets;
mod withdraw;

use std::sync::Arc;

use sea_orm::{ActiveEnum, DatabaseConnection, DatabaseTransaction};

pub use crate::cache::notify::{ChangeNotifier, NoNotifier, Notifier};
use balance_changes::BalanceChanges;
pub use balance_changes::Operation;
pub use deposit::DepositRequest;
pub use error::LedgerError;
use error::commit;
pub use feed::{Changed, CursorProblem, FeedCursor, FeedEntry, FeedPage, Start};
pub use fees::{FeeKind, fee_for};
pub use holds::{HoldChange, parse_reason};
pub use idempotency::IdempotencyKey;
pub use payment_requests::{
    PaymentRequestInput, RequestDirection, RequestStatus, payment_request_by_id,
    payment_requests_of,
};
pub use postings::{FEE_ACCOUNT_ID, ensure_system_accounts};
pub use reads::{
    TransactionFilter, TransactionWithParties, events_of, history_of, transactions_by_id,
    transactions_of, transactions_with_parties_of, wallet_by_id, wallets_of,
};
pub use settings::{FraudSettings, LedgerSettings};
pub use statement_export::{
    CSV_COLUMNS, EXPORT_LINK_TTL_SECS, StatementExports, StatementLine, statement_lines, write_csv,
};
pub use statements::{Month, Statement, balance_at, fee_paid, lines_of, statement_of};
pub use status_reads::transaction_by_id;
pub use step_up::PayingSession;
pub use transfer::{TransferRequest, parse_description};
pub use transfer_queue::{Placement, Workers};
pub use withdraw::WithdrawRequest;

use crate::{crypto::FieldCipher, db::retry::Safe, processor::PaymentProcessor};
pub use entity::transactions::{Status, TxType};
use entity::{transaction_events::EventType, transactions, wallets as wallet_rows};

/// The event that records a move to `status`.
fn event_of(status: Status) -> EventType {
    match status {
        Status::Pending => EventType::Pending,
        Status::Processing => EventType::Processing,
        Status::PendingReview => EventType::HeldForReview,
        Status::Completed => EventType::Completed,
        Status::Failed => EventType::Failed,
        Status::Cancelled => EventType::Cancelled,
        Status::Reversed => EventType::Reversed,
    }
}

/// The ledger service.
#[derive(Clone)]
pub struct Ledger {
    db: DatabaseConnection,
    /// Where the change feed's query reads, and who has just written.
    reads: crate::db::Reads,
    settings: Arc<LedgerSettings>,
    notifier: Notifier,
    cipher: FieldCipher,
    processor: Arc<dyn PaymentProcessor>,
    transfers: transfer_queue::TransferQueue,
}

/// What an operation changed, told to the notifier and counted after
/// commit.
pub struct Posted {
    pub transaction: transactions::Model,
    pub wallets: Vec<wallet_rows::Model>,
    balances: BalanceChanges,
}

impl Posted {
    /// An operation that changed no balance: one its idempotency key found
    /// done before, or a record that moves no money yet.
    fn no_postings(transaction: transactions::Model) -> Self {
        Self {
            transaction,
            wallets: vec![],
            balances: BalanceChanges::default(),
        }
    }
}

impl Ledger {
    /// The ledger, with its transfer workers started (so: inside a Tokio
    /// runtime) where `placement` says, and those workers, to supervise.
    pub fn new(
        db: DatabaseConnection,
        reads: crate::db::Reads,
        settings: LedgerSettings,
        notifier: Notifier,
        cipher: FieldCipher,
        processor: Arc<dyn PaymentProcessor>,
        placement: Placement,
    ) -> (Self, Workers) {
        let (transfers, waiting) = transfer_queue::TransferQueue::new();
        // SQLite runs one writer at a time, so one worker there, on the
        // runtime (see `Placement::Shared`); PostgreSQL takes the
        // configured number, where the caller says.
        let (workers, placement) = if crate::db::is_sqlite(&db) {
            (1, Placement::Shared)
        } else {
            (settings.transfer_workers, placement)
        };
        let ledger = Self {
            db,
            reads,
            settings: Arc::new(settings),
            notifier,
            cipher,
            processor,
            transfers,
        };
        let workers = transfer_queue::start(&ledger, waiting, workers, &placement);
        (ledger, workers)
    }

    /// Whether a support refund or hold of this much waits for a second
    /// agent (`SUPPORT_APPROVAL_AMOUNT`; a currency it leaves out never does).
    fn needs_second_agent(&self, amount_minor: i64, currency: crate::money::Currency) -> bool {
        self.settings
            .support_approval_amount
            .reached(amount_minor, currency)
            .is_some()
    }

    async fn begin(&self) -> Result<DatabaseTransaction, LedgerError> {
        Ok(crate::db::begin_write(&self.db).await?)
    }

    /// Tells subscribers, after the commit, what changed, and counts it.
    fn announce(&self, posted: &Posted) {
        self.announce_batch(
            std::slice::from_ref(&posted.transaction),
            &posted.wallets,
            &posted.balances,
        );
    }

    /// Tells subscribers, after the commit, what a batch changed, and
    /// counts each transaction in the status it was committed in and each
    /// change of a balance. The one place where committed changes are
    /// counted: every write path calls it once its commit has succeeded.
    fn announce_batch(
        &self,
        transactions: &[transactions::Model],
        wallets: &[wallet_rows::Model],
        balances: &BalanceChanges,
    ) {
        balances.record();
        // Everyone whose money moved reads it back from the primary until
        // the replica has it: a transfer's receiver, a settlement's owner.
        let mut touched: Vec<uuid::Uuid> = wallets.iter().map(|w| w.user_id).collect();
        for t in transactions {
            touched.extend(t.sender_id);
            touched.extend(t.receiver_id);
        }
        touched.sort();
        touched.dedup();
        self.reads.wrote_soon(touched);
        for w in wallets {
            self.notifier.wallet_changed(w);
        }
        for t in transactions {
            metrics::counter!(
                "paygraph_transactions_total",
                "type" => t.transaction_type.to_value(),
                "status" => t.status.to_value()
            )
            .increment(1);
            self.notifier.transaction_changed(t);
        }
    }

    /// Runs `op` until it succeeds or fails for a reason other than one of
    /// the moment that `safe` covers (see [`crate::db::retry`]), then announces the
    /// result.
    async fn run<F, Fut>(&self, safe: Safe, op: F) -> Result<transactions::Model, LedgerError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Posted, LedgerError>>,
    {
        let posted = self.settings.retry.run(safe, op).await?;
        self.announce(&posted);
        Ok(posted.transaction)
    }
}
