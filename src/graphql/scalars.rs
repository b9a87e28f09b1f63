//! The API's own scalars: money crosses it only as text, and every scalar
//! checks an input value during validation (`is_valid`), so a value of the
//! wrong kind is refused there with the path of its input field
//! (`Invalid value for argument "input.amount"`), in variables and in the
//! document alike, rather than while a resolver reads its arguments.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::Utc;

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

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_))
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

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub chrono::DateTime<Utc>);

/// A point in time: an RFC 3339 string such as `2026-01-31T09:30:00Z`,
/// written in UTC on output.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        <chrono::DateTime<Utc> as ScalarType>::parse(value)
            .map(Self)
            .map_err(InputValueError::propagate)
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if s.parse::<chrono::DateTime<Utc>>().is_ok())
    }

    fn to_value(&self) -> Value {
        self.0.to_value()
    }
}

impl From<chrono::DateTime<Utc>> for Timestamp {
    fn from(t: chrono::DateTime<Utc>) -> Self {
        Self(t)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CalendarDate(pub chrono::NaiveDate);

/// A calendar date without a time zone: `YYYY-MM-DD`, e.g. `1994-11-13`.
#[Scalar(name = "NaiveDate")]
impl ScalarType for CalendarDate {
    fn parse(value: Value) -> InputValueResult<Self> {
        <chrono::NaiveDate as ScalarType>::parse(value)
            .map(Self)
            .map_err(InputValueError::propagate)
    }

    fn is_valid(value: &Value) -> bool {
        Self::parse(value.clone()).is_ok()
    }

    fn to_value(&self) -> Value {
        self.0.to_value()
    }
}

impl From<chrono::NaiveDate> for CalendarDate {
    fn from(d: chrono::NaiveDate) -> Self {
        Self(d)
    }
}
