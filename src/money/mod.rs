//! Money: ISO 4217 currencies and exact amounts in minor units.
//!
//! Inside the service an amount is an `i64` count of the currency's minor
//! unit; `rust_decimal` appears only where text is parsed or printed.

mod amount;
mod per_currency;
#[cfg(test)]
mod properties;

pub use amount::{Amount, AmountError, MAX_MINOR, format_minor};
/// Defined with the entities, since `currency` columns are of this type.
pub use entity::{Currency, CurrencyError};
pub use per_currency::{PerCurrency, parse_percent, percent};
