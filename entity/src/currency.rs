use std::fmt;

use sea_orm::DeriveValueType;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency with a decimal minor unit (0 to 4 digits).
///
/// The table is `iso_currency`'s; codes without a minor unit (gold, SDRs,
/// "no currency") are not money this service can hold.
///
/// A `currency` column holds its code (`"USD"`); a row whose code is not
/// such a currency does not load. Serialised as the code too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, DeriveValueType)]
#[sea_orm(
    value_type = "String",
    from_str = "Currency::parse",
    to_str = "Currency::code"
)]
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

/// Lets a currency be part of a composite primary key
/// (`outgoing_tallies`); no key of it is ever generated from a number.
impl sea_orm::TryFromU64 for Currency {
    fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
        Err(sea_orm::DbErr::ConvertFromU64("Currency"))
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::parse(&code).map_err(serde::de::Error::custom)
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

    #[test]
    fn is_stored_and_serialised_as_its_code() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(
            sea_orm::Value::from(usd),
            sea_orm::Value::from("USD".to_owned())
        );
        assert_eq!(serde_json::to_string(&usd).unwrap(), r#""USD""#);
        assert_eq!(serde_json::from_str::<Currency>(r#""USD""#).unwrap(), usd);
        assert!(serde_json::from_str::<Currency>(r#""usd""#).is_err());
    }
}
