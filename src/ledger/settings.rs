//! The ledger's rules in configuration: fee schedule, KYC limit, fraud
//! thresholds. Per-currency amounts are written `USD:1000,JPY:150000`.

use rust_decimal::Decimal;

use crate::{
    config::Config,
    db::retry::Retry,
    money::{PerCurrency, parse_percent},
};

fn per_currency(setting: &str, text: &str) -> Result<PerCurrency, String> {
    PerCurrency::parse(text).map_err(|e| format!("configuration error: {setting} {e}"))
}

fn percent(setting: &str, text: &str) -> Result<Decimal, String> {
    parse_percent(text).map_err(|e| format!("configuration error: {setting} {e}"))
}

#[derive(Debug, Clone)]
pub struct FeeSchedule {
    pub card_deposit_percent: Decimal,
    pub card_deposit_fixed: PerCurrency,
    pub bank_deposit_percent: Decimal,
    pub transfer_percent: Decimal,
    pub withdrawal_fixed: PerCurrency,
}

#[derive(Debug, Clone)]
pub struct FraudSettings {
    pub review_amount: PerCurrency,
    pub velocity_max: u64,
    pub velocity_window_secs: i64,
    pub new_account_days: i64,
    pub review_score: u32,
    pub weight_amount: u32,
    pub weight_velocity: u32,
    pub weight_new_recipient: u32,
    pub weight_new_account: u32,
}

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
    pub fn from_config(c: &Config) -> Result<Self, String> {
        Ok(Self {
            fees: FeeSchedule {
                card_deposit_percent: percent(
                    "FEE_CARD_DEPOSIT_PERCENT",
                    &c.fee_card_deposit_percent,
                )?,
                card_deposit_fixed: per_currency(
                    "FEE_CARD_DEPOSIT_FIXED",
                    &c.fee_card_deposit_fixed,
                )?,
                bank_deposit_percent: percent(
                    "FEE_BANK_DEPOSIT_PERCENT",
                    &c.fee_bank_deposit_percent,
                )?,
                transfer_percent: percent("FEE_TRANSFER_PERCENT", &c.fee_transfer_percent)?,
                withdrawal_fixed: per_currency("FEE_WITHDRAWAL_FIXED", &c.fee_withdrawal_fixed)?,
            },
            kyc_unverified_daily_limit: per_currency(
                "KYC_UNVERIFIED_DAILY_LIMIT",
                &c.kyc_unverified_daily_limit,
            )?,
            fraud: FraudSettings {
                review_amount: per_currency("FRAUD_REVIEW_AMOUNT", &c.fraud_review_amount)?,
                velocity_max: c.fraud_velocity_max,
                velocity_window_secs: c.fraud_velocity_window_secs,
                new_account_days: c.fraud_new_account_days,
                review_score: c.fraud_review_score,
                weight_amount: c.fraud_weight_amount,
                weight_velocity: c.fraud_weight_velocity,
                weight_new_recipient: c.fraud_weight_new_recipient,
                weight_new_account: c.fraud_weight_new_account,
            },
            transfer_workers: c.transfer_workers,
            retry: Retry::from_config(c),
            idempotency_retention: chrono::Duration::days(i64::from(c.idempotency_retention_days)),
            idempotency_purge_batch: c.idempotency_purge_batch,
            step_up_amount: per_currency("STEP_UP_AMOUNT", &c.step_up_amount)?,
            payment_request_ttl: chrono::Duration::seconds(
                i64::try_from(c.payment_request_ttl_secs).unwrap_or(i64::MAX / 1_000_000_000),
            ),
            support_approval_amount: per_currency(
                "SUPPORT_APPROVAL_AMOUNT",
                &c.support_approval_amount,
            )?,
            change_feed_retention: chrono::Duration::seconds(
                i64::try_from(c.change_feed_retention_secs).unwrap_or(i64::MAX / 1_000_000_000),
            ),
        })
    }
}
