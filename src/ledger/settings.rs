//! The ledger's rules in configuration: fee schedule, KYC limit, fraud
//! thresholds. Per-currency amounts are written `USD:1000,JPY:150000`.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::{
    config::Config,
    db::retry::Retry,
    money::{Amount, Currency},
};

/// An amount per currency, in minor units.
#[derive(Debug, Clone, Default)]
pub struct PerCurrency(HashMap<&'static str, i64>);

impl PerCurrency {
    pub fn parse(setting: &str, text: &str) -> Result<Self, String> {
        let mut map = HashMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || {
                format!(
                    "configuration error: {setting} has a bad entry {part:?} (expected CODE:AMOUNT)"
                )
            };
            let (code, value) = part.split_once(':').ok_or_else(bad)?;
            let currency = Currency::parse(code.trim()).map_err(|_| bad())?;
            let minor = if value.trim() == "0" {
                0
            } else {
                Amount::parse(value.trim(), currency)
                    .map_err(|_| bad())?
                    .minor()
            };
            map.insert(currency.code(), minor);
        }
        Ok(Self(map))
    }

    pub fn get(&self, currency: Currency) -> Option<i64> {
        self.0.get(currency.code()).copied()
    }

    /// The threshold of `currency` when `minor` of it is at or above it;
    /// `None` below it, and for a currency with no threshold.
    pub fn reached(&self, minor: i64, currency: Currency) -> Option<i64> {
        self.get(currency).filter(|threshold| minor >= *threshold)
    }
}

fn percent(setting: &str, text: &str) -> Result<Decimal, String> {
    text.trim()
        .parse::<Decimal>()
        .ok()
        .filter(|p| *p >= Decimal::ZERO && *p < Decimal::from(100))
        .ok_or_else(|| format!("configuration error: {setting} must be a percentage from 0 to 100"))
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
                card_deposit_fixed: PerCurrency::parse(
                    "FEE_CARD_DEPOSIT_FIXED",
                    &c.fee_card_deposit_fixed,
                )?,
                bank_deposit_percent: percent(
                    "FEE_BANK_DEPOSIT_PERCENT",
                    &c.fee_bank_deposit_percent,
                )?,
                transfer_percent: percent("FEE_TRANSFER_PERCENT", &c.fee_transfer_percent)?,
                withdrawal_fixed: PerCurrency::parse(
                    "FEE_WITHDRAWAL_FIXED",
                    &c.fee_withdrawal_fixed,
                )?,
            },
            kyc_unverified_daily_limit: PerCurrency::parse(
                "KYC_UNVERIFIED_DAILY_LIMIT",
                &c.kyc_unverified_daily_limit,
            )?,
            fraud: FraudSettings {
                review_amount: PerCurrency::parse("FRAUD_REVIEW_AMOUNT", &c.fraud_review_amount)?,
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
            step_up_amount: PerCurrency::parse("STEP_UP_AMOUNT", &c.step_up_amount)?,
            payment_request_ttl: chrono::Duration::seconds(
                i64::try_from(c.payment_request_ttl_secs).unwrap_or(i64::MAX / 1_000_000_000),
            ),
            support_approval_amount: PerCurrency::parse(
                "SUPPORT_APPROVAL_AMOUNT",
                &c.support_approval_amount,
            )?,
            change_feed_retention: chrono::Duration::seconds(
                i64::try_from(c.change_feed_retention_secs).unwrap_or(i64::MAX / 1_000_000_000),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_currency_amounts_parse_in_each_currencys_digits() {
        let p = PerCurrency::parse("X", "USD:0.30, JPY:30,KWD:0.100").unwrap();
        assert_eq!(p.get(Currency::parse("USD").unwrap()), Some(30));
        assert_eq!(p.get(Currency::parse("JPY").unwrap()), Some(30));
        assert_eq!(p.get(Currency::parse("KWD").unwrap()), Some(100));
        assert!(
            PerCurrency::parse("X", "JPY:0.5")
                .unwrap_err()
                .contains("X")
        );
        assert!(PerCurrency::parse("X", "usd").is_err());
    }

    #[test]
    fn a_threshold_is_reached_at_its_amount_and_above_it() {
        let p = PerCurrency::parse("X", "USD:100").unwrap();
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(p.reached(9_999, usd), None);
        assert_eq!(p.reached(10_000, usd), Some(10_000));
        assert_eq!(p.reached(10_001, usd), Some(10_000));
        assert_eq!(p.reached(i64::MAX, Currency::parse("EUR").unwrap()), None);
    }
}
