use std::fmt;

use rust_decimal::Decimal;

use super::Currency;

/// The largest amount accepted, in minor units: the seed's `DECIMAL(15,2)`
/// range, kept for every currency so that sums of many amounts stay far
/// from `i64::MAX`.
pub const MAX_MINOR: i64 = 999_999_999_999_999;

/// A positive amount of one currency, in its minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    minor: i64,
    currency: Currency,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    #[error("amount must be a decimal string such as \"12.50\"")]
    Malformed,
    #[error("amount has more decimal places than {0} allows ({1})")]
    TooPrecise(&'static str, u32),
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("amount is larger than the largest supported amount")]
    TooLarge,
}

impl Amount {
    /// Parses a decimal written as text for `currency`: at most the
    /// currency's minor digits, above zero, at most [`MAX_MINOR`].
    pub fn parse(text: &str, currency: Currency) -> Result<Self, AmountError> {
        let valid_shape = {
            let (int, frac) = text.split_once('.').unwrap_or((text, ""));
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && (!text.contains('.') || !frac.is_empty())
                && frac.bytes().all(|b| b.is_ascii_digit())
        };
        if text.starts_with('-') {
            return Err(AmountError::NotPositive);
        }
        if !valid_shape || text.len() > 40 {
            return Err(AmountError::Malformed);
        }
        let frac_digits = text.split_once('.').map_or(0, |(_, f)| f.len());
        if frac_digits > currency.exponent() as usize {
            return Err(AmountError::TooPrecise(
                currency.code(),
                currency.exponent(),
            ));
        }
        let value: Decimal = text.parse().map_err(|_| AmountError::TooLarge)?;
        Self::from_decimal(value, currency)
    }

    pub fn from_decimal(value: Decimal, currency: Currency) -> Result<Self, AmountError> {
        let exp = currency.exponent();
        if value.normalize().scale() > exp {
            return Err(AmountError::TooPrecise(currency.code(), exp));
        }
        if value <= Decimal::ZERO {
            return Err(AmountError::NotPositive);
        }
        let minor = value
            .checked_mul(Decimal::from(10_i64.pow(exp)))
            .and_then(|m| i64::try_from(m.trunc()).ok())
            .ok_or(AmountError::TooLarge)?;
        Self::from_minor(minor, currency)
    }

    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, AmountError> {
        match minor {
            ..=0 => Err(AmountError::NotPositive),
            m if m > MAX_MINOR => Err(AmountError::TooLarge),
            m => Ok(Self { minor: m, currency }),
        }
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }
}

/// Renders a signed minor-unit count with exactly the currency's digits:
/// `"12.50"` USD, `"1200"` JPY, `"1.250"` KWD.
pub fn format_minor(minor: i64, currency: Currency) -> String {
    Decimal::new(minor, currency.exponent()).to_string()
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_minor(self.minor, self.currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn parses_to_minor_units_per_currency() {
        assert_eq!(Amount::parse("12.5", cur("USD")).unwrap().minor(), 1250);
        assert_eq!(Amount::parse("12.50", cur("USD")).unwrap().minor(), 1250);
        assert_eq!(Amount::parse("1200", cur("JPY")).unwrap().minor(), 1200);
        assert_eq!(Amount::parse("1.250", cur("KWD")).unwrap().minor(), 1250);
    }

    #[test]
    fn formats_with_exactly_the_minor_digits() {
        assert_eq!(format_minor(1250, cur("USD")), "12.50");
        assert_eq!(format_minor(1200, cur("JPY")), "1200");
        assert_eq!(format_minor(1250, cur("KWD")), "1.250");
        assert_eq!(format_minor(-5, cur("USD")), "-0.05");
        assert_eq!(format_minor(0, cur("KWD")), "0.000");
    }

    #[test]
    fn rejects_every_bad_amount() {
        let usd = cur("USD");
        assert_eq!(Amount::parse("0", usd), Err(AmountError::NotPositive));
        assert_eq!(Amount::parse("0.00", usd), Err(AmountError::NotPositive));
        assert_eq!(Amount::parse("-1", usd), Err(AmountError::NotPositive));
        assert_eq!(
            Amount::parse("1.001", usd),
            Err(AmountError::TooPrecise("USD", 2))
        );
        assert_eq!(
            Amount::parse("1.5", cur("JPY")),
            Err(AmountError::TooPrecise("JPY", 0))
        );
        assert_eq!(Amount::parse("1e3", usd), Err(AmountError::Malformed));
        assert_eq!(Amount::parse(" 1", usd), Err(AmountError::Malformed));
        assert_eq!(Amount::parse("1.", usd), Err(AmountError::Malformed));
        assert_eq!(Amount::parse("", usd), Err(AmountError::Malformed));
        assert_eq!(
            Amount::parse("10000000000000.00", usd),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            Amount::parse("9999999999999.99", usd).unwrap().minor(),
            MAX_MINOR
        );
        assert_eq!(
            Amount::parse("99999999999999999999999999999999999", usd),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn written_digits_count_even_when_they_are_zeros() {
        assert_eq!(
            Amount::parse("5.0", cur("JPY")),
            Err(AmountError::TooPrecise("JPY", 0))
        );
        assert_eq!(
            Amount::parse("5.000", cur("USD")),
            Err(AmountError::TooPrecise("USD", 2))
        );
    }
}
