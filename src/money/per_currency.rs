//! Settings written per currency (`USD:1000,JPY:150000`) and percentages,
//! read from text into exact values.

use std::{collections::BTreeMap, fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Amount, Currency, format_minor};

/// An amount per currency, in minor units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerCurrency(BTreeMap<Currency, i64>);

impl PerCurrency {
    /// Reads `CODE:AMOUNT` entries separated by commas, each amount in its
    /// currency's digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("bad entry {part:?} (expected CODE:AMOUNT)");
            let (code, value) = part.split_once(':').ok_or_else(bad)?;
            let currency = Currency::parse(code.trim()).map_err(|_| bad())?;
            let minor = if value.trim() == "0" {
                0
            } else {
                Amount::parse(value.trim(), currency)
                    .map_err(|_| bad())?
                    .minor()
            };
            map.insert(currency, minor);
        }
        Ok(Self(map))
    }

    pub fn get(&self, currency: Currency) -> Option<i64> {
        self.0.get(&currency).copied()
    }

    /// The threshold of `currency` when `minor` of it is at or above it;
    /// `None` below it, and for a currency with no threshold.
    pub fn reached(&self, minor: i64, currency: Currency) -> Option<i64> {
        self.get(currency).filter(|threshold| minor >= *threshold)
    }
}

impl FromStr for PerCurrency {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

/// The written form `parse` reads, currencies in code order.
impl fmt::Display for PerCurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (currency, minor)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{currency}:{}", format_minor(*minor, *currency))?;
        }
        Ok(())
    }
}

impl Serialize for PerCurrency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PerCurrency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Reads a percentage from 0 up to (not including) 100, exactly as written.
pub fn parse_percent(text: &str) -> Result<Decimal, String> {
    text.trim()
        .parse::<Decimal>()
        .ok()
        .filter(|p| *p >= Decimal::ZERO && *p < Decimal::from(100))
        .ok_or_else(|| "not a percentage from 0 to 100".to_owned())
}

/// serde's form of a percentage: text (`"2.9"`) or a number, read by
/// `parse_percent`; written as text.
pub mod percent {
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        struct Text;
        impl de::Visitor<'_> for Text {
            type Value = String;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a percentage from 0 to 100")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
                Ok(v.to_string())
            }
        }
        let text = d.deserialize_any(Text)?;
        super::parse_percent(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &str) -> Currency {
        Currency::parse(c).unwrap()
    }

    #[test]
    fn per_currency_amounts_parse_in_each_currencys_digits() {
        let p = PerCurrency::parse("USD:0.30, JPY:30,KWD:0.100").unwrap();
        assert_eq!(p.get(code("USD")), Some(30));
        assert_eq!(p.get(code("JPY")), Some(30));
        assert_eq!(p.get(code("KWD")), Some(100));
        assert!(
            PerCurrency::parse("JPY:0.5")
                .unwrap_err()
                .contains("JPY:0.5")
        );
        assert!(PerCurrency::parse("usd").is_err());
    }

    #[test]
    fn per_currency_amounts_are_written_as_they_are_read() {
        let p = PerCurrency::parse("JPY:30,USD:0.3,KWD:0.100").unwrap();
        assert_eq!(p.to_string(), "JPY:30,KWD:0.100,USD:0.30");
        assert_eq!(PerCurrency::parse(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn a_threshold_is_reached_at_its_amount_and_above_it() {
        let p = PerCurrency::parse("USD:100").unwrap();
        let usd = code("USD");
        assert_eq!(p.reached(9_999, usd), None);
        assert_eq!(p.reached(10_000, usd), Some(10_000));
        assert_eq!(p.reached(10_001, usd), Some(10_000));
        assert_eq!(p.reached(i64::MAX, code("EUR")), None);
    }

    #[test]
    fn a_percentage_is_from_0_to_under_100() {
        assert_eq!(parse_percent(" 2.90 ").unwrap().to_string(), "2.90");
        assert_eq!(parse_percent("0").unwrap(), Decimal::ZERO);
        for bad in ["100", "-1", "two"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }
}
