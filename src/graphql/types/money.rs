use async_graphql::SimpleObject;

use crate::{
    graphql::scalars::{CurrencyCode, Decimal},
    money::{Currency, format_minor},
};
use entity::MinorUnit;

/// An exact amount of one currency.
#[derive(SimpleObject, Debug, Clone)]
pub struct Money {
    /// Written with exactly the currency's minor digits: "12.50" USD, "1200" JPY, "1.250" KWD.
    pub amount: Decimal,
    pub currency: CurrencyCode,
}

impl Money {
    /// From a minor-unit count of `currency`.
    pub fn of(minor: MinorUnit, currency: Currency) -> Self {
        Self {
            amount: Decimal(format_minor(minor.get(), currency)),
            currency: CurrencyCode(currency.code().to_owned()),
        }
    }

    /// From a stored minor-unit count and code. Stored codes were checked
    /// on the way in; an unknown one would be a bug, shown with 2 digits.
    pub fn from_minor(minor: i64, code: &str) -> Self {
        let amount = match Currency::parse(code) {
            Ok(c) => format_minor(minor, c),
            Err(_) => rust_decimal::Decimal::new(minor, 2).to_string(),
        };
        Self {
            amount: Decimal(amount),
            currency: CurrencyCode(code.to_owned()),
        }
    }
}
