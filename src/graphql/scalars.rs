//! `Decimal` and `CurrencyCode`: money crosses the API only as text.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// A decimal number written as a string, e.g. `"12.50"`. Output amounts
/// carry exactly their currency's minor digits. JSON numbers are refused
/// on input: a float cannot carry money exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Self(s)),
            _ => Err(InputValueError::custom(
                "Decimal must be a string such as \"12.50\", never a JSON number",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// An ISO 4217 currency code, e.g. `USD`, `JPY`, `KWD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyCode(pub String);

#[Scalar(name = "CurrencyCode")]
impl ScalarType for CurrencyCode {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Self(s)),
            _ => Err(InputValueError::custom(
                "CurrencyCode must be a string such as \"USD\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}
