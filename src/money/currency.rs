use std::fmt;

/// An ISO 4217 currency with a decimal minor unit (0 to 4 digits).
///
/// The table is `iso_currency`'s; codes without a minor unit (gold, SDRs,
/// "no currency") are not money this service can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CurrencyError {
    #[error("unknown currency code (expected an ISO 4217 code such as USD)")]
    Unknown,
    #[error("this currency has no minor unit and is not supported")]
    NoMinorUnit,
}

/// Ordered by code, so that sets of (owner, currency) have a stable order.
impl Ord for Currency {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.code().cmp(other.code())
    }
}

impl PartialOrd for Currency {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CurrencyError::Unknown);
        }
        let c = iso_currency::Currency::from_code(code).ok_or(CurrencyError::Unknown)?;
        match c.exponent() {
            Some(e) if e <= 4 => Ok(Self(c)),
            _ => Err(CurrencyError::NoMinorUnit),
        }
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point: JPY 0, USD 2, KWD 3.
    pub fn exponent(&self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(0))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_come_from_the_iso_table() {
        assert_eq!(Currency::parse("USD").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("EUR").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("GBP").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
    }

    #[test]
    fn rejects_unknown_lowercase_and_unitless_codes() {
        assert_eq!(Currency::parse("usd"), Err(CurrencyError::Unknown));
        assert_eq!(Currency::parse("ABC"), Err(CurrencyError::Unknown));
        assert_eq!(Currency::parse("XAU"), Err(CurrencyError::NoMinorUnit));
    }
}
