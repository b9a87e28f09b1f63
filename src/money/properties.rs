//! Property tests of the money rules, over every currency in the ISO table.

use iso_currency::IntoEnumIterator;
use proptest::prelude::*;

use super::{Amount, AmountError, Currency, MAX_MINOR, format_minor};

/// Every ISO 4217 currency this service can hold.
fn currencies() -> Vec<Currency> {
    iso_currency::Currency::iter()
        .filter_map(|c| Currency::parse(c.code()).ok())
        .collect()
}

fn currency() -> impl Strategy<Value = Currency> {
    let all = currencies();
    (0..all.len()).prop_map(move |i| all[i])
}

proptest! {
    /// Printing then parsing gives back the same minor units, in every currency.
    #[test]
    fn format_then_parse_round_trips(c in currency(), minor in 1..=MAX_MINOR) {
        let text = format_minor(minor, c);
        prop_assert_eq!(Amount::parse(&text, c).unwrap().minor(), minor);
        let digits = text.split_once('.').map_or(0, |(_, f)| f.len());
        prop_assert_eq!(digits as u32, c.exponent());
    }

    /// A written amount with more digits than the currency has is refused,
    /// never rounded.
    #[test]
    fn more_digits_than_the_currency_has_are_refused(c in currency(), whole in 0..1_000_000i64, extra in 1..=9u32) {
        let text = format!("{whole}.{}", "1".repeat((c.exponent() + extra) as usize));
        prop_assert_eq!(Amount::parse(&text, c), Err(AmountError::TooPrecise(c.code(), c.exponent())));
    }

    /// Anything above the maximum is refused, never wrapped or truncated.
    #[test]
    fn amounts_past_the_maximum_are_refused(c in currency(), over in 1..1_000_000_000i64) {
        let text = format_minor(MAX_MINOR.saturating_add(over), c);
        prop_assert_eq!(Amount::parse(&text, c), Err(AmountError::TooLarge));
    }
}

#[test]
fn the_table_has_the_currencies_the_product_promises() {
    let codes: Vec<&str> = currencies().iter().map(|c| c.code()).collect();
    for code in ["USD", "EUR", "GBP", "JPY", "KWD"] {
        assert!(codes.contains(&code), "{code}");
    }
}
