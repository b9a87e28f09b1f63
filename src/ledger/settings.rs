//! The ledger's rules, from the configuration's typed sections: fee
//! schedule, KYC limit, fraud thresholds, retention.

pub use crate::config::{FeeSchedule, FraudSettings};
use crate::{config::Config, db::retry::Retry, money::PerCurrency};

#[derive(Debug, Clone)]
pub struct LedgerSettings {
    pub fees: FeeSchedule,
    pub kyc_unverified_daily_limit: PerCurrency,
    pub fraud: FraudSettings,
    /// Transfer workers on PostgreSQL (see `transfer_queue`).
    pub transfer_workers: usize,
    /// How database work that failed for a reason of the moment runs again.
    pub retry: Retry,
    /// How long an idempotency key answers with its first result.
    pub idempotency_retention: chrono::Duration,
    /// Keys deleted per purge statement.
    pub idempotency_purge_batch: u64,
    /// How long a payment request stays payable.
    pub payment_request_ttl: chrono::Duration,
    /// Refunds and holds at or above this wait for a second agent.
    pub support_approval_amount: PerCurrency,
    /// Payments at or above this need a step-up of the session.
    pub step_up_amount: PerCurrency,
    /// How long the change feed keeps a change.
    pub change_feed_retention: chrono::Duration,
}

impl LedgerSettings {
    pub fn from_config(c: &Config) -> Self {
        // The configuration bounds these durations well inside chrono's.
        let chrono = |d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Self {
            fees: c.fees.clone(),
            kyc_unverified_daily_limit: c.ledger.kyc_unverified_daily_limit.clone(),
            fraud: c.fraud.clone(),
            transfer_workers: c.workers.transfer_workers,
            retry: Retry::from_config(c),
            idempotency_retention: chrono(c.ledger.idempotency_retention),
            idempotency_purge_batch: c.workers.idempotency_purge_batch,
            payment_request_ttl: chrono(c.ledger.payment_request_ttl),
            support_approval_amount: c.ledger.support_approval_amount.clone(),
            step_up_amount: c.auth.step_up.amount.clone(),
            change_feed_retention: chrono(c.ledger.change_feed_retention),
        }
    }
}
