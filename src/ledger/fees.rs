//! Fees, computed in one place under one rounding rule: the percentage
//! part is rounded to the currency's minor unit half away from zero
//! (0.5 of a cent rounds up), then the fixed part is added.

use rust_decimal::{Decimal, RoundingStrategy};

use super::settings::FeeSchedule;
use crate::money::{Amount, PerCurrency};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeKind {
    CardDeposit,
    BankDeposit,
    Transfer,
    Withdrawal,
}

/// The fee in minor units for moving `amount`.
pub fn fee_for(schedule: &FeeSchedule, kind: FeeKind, amount: &Amount) -> i64 {
    let zero = PerCurrency::default();
    let (percent, fixed) = match kind {
        FeeKind::CardDeposit => (schedule.card_deposit_percent, &schedule.card_deposit_fixed),
        FeeKind::BankDeposit => (schedule.bank_deposit_percent, &zero),
        FeeKind::Transfer => (schedule.transfer_percent, &zero),
        FeeKind::Withdrawal => (Decimal::ZERO, &schedule.withdrawal_fixed),
    };
    percentage_minor(amount.minor(), percent) + fixed.get(amount.currency()).unwrap_or(0)
}

/// `percent`% of `minor`, rounded to a whole minor unit, half away from zero.
pub fn percentage_minor(minor: i64, percent: Decimal) -> i64 {
    let exact = Decimal::from(minor) * percent / Decimal::ONE_HUNDRED;
    let rounded = exact.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(rounded).expect("a fee is smaller than its amount")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::money::MAX_MINOR;

    #[test]
    fn half_a_minor_unit_rounds_up() {
        // 2.9% of 10.50 = 0.3045 -> 0.30; of 10.35 = 0.30015 -> 0.30; of 0.50 = 0.0145 -> 0.01
        assert_eq!(percentage_minor(1050, Decimal::new(29, 1)), 30);
        assert_eq!(percentage_minor(50, Decimal::new(29, 1)), 1);
        // 2.5% of 0.10 = 0.0025 -> 0.00; 5% of 0.10 = 0.005 -> 0.01 (midpoint, up)
        assert_eq!(percentage_minor(10, Decimal::new(25, 1)), 0);
        assert_eq!(percentage_minor(10, Decimal::from(5)), 1);
    }

    #[test]
    fn no_fee_is_larger_than_a_large_amount_can_carry() {
        let max = MAX_MINOR;
        assert_eq!(percentage_minor(max, Decimal::ZERO), 0);
        assert!(percentage_minor(max, Decimal::new(999, 1)) < max);
    }

    proptest! {
        /// A fee is within half a minor unit of the exact percentage, and never
        /// more than the amount.
        #[test]
        fn fee_rounding_is_within_half_a_unit(minor in 0..=MAX_MINOR, basis_points in 0..10_000i64) {
            let percent = Decimal::new(basis_points, 2);
            let fee = percentage_minor(minor, percent);
            let exact = Decimal::from(minor) * percent / Decimal::ONE_HUNDRED;
            prop_assert!((Decimal::from(fee) - exact).abs() <= Decimal::new(5, 1));
            prop_assert!(fee <= minor);
        }
    }
}
