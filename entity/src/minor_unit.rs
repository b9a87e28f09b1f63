use std::{
    fmt,
    ops::{Add, Neg, Sub},
};

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};

/// A signed count of a currency's minor unit (cents of USD, yen, fils of
/// KWD): how every `*_minor` column holds money, as a `BIGINT`. The
/// currency is the row's own `currency` column.
///
/// `+`, `-` and unary `-` panic on overflow rather than wrap, in every
/// build; where a sum is not bounded by the amounts the service accepts
/// (a balance after a credit), use [`MinorUnit::checked_add`] and
/// [`MinorUnit::checked_sub`].
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    DeriveValueType,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct MinorUnit(i64);

impl MinorUnit {
    pub const ZERO: Self = Self(0);

    pub const fn new(minor: i64) -> Self {
        Self(minor)
    }

    /// The count, for arithmetic with other integers and for display.
    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl From<i64> for MinorUnit {
    fn from(minor: i64) -> Self {
        Self(minor)
    }
}

impl Add for MinorUnit {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        self.checked_add(other).expect("minor units overflow")
    }
}

impl Sub for MinorUnit {
    type Output = Self;

    fn sub(self, other: Self) -> Self {
        self.checked_sub(other).expect("minor units overflow")
    }
}

impl Neg for MinorUnit {
    type Output = Self;

    fn neg(self) -> Self {
        Self(self.0.checked_neg().expect("minor units overflow"))
    }
}

impl fmt::Display for MinorUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stored_and_serialised_as_the_bare_count() {
        let m = MinorUnit::new(-1250);
        assert_eq!(sea_orm::Value::from(m), sea_orm::Value::from(-1250_i64));
        assert_eq!(serde_json::to_string(&m).unwrap(), "-1250");
        assert_eq!(serde_json::from_str::<MinorUnit>("-1250").unwrap(), m);
    }

    #[test]
    fn checked_arithmetic_refuses_to_overflow() {
        let max = MinorUnit::new(i64::MAX);
        assert_eq!(max.checked_add(MinorUnit::new(1)), None);
        assert_eq!(
            MinorUnit::new(i64::MIN).checked_sub(MinorUnit::new(1)),
            None
        );
        assert_eq!(
            MinorUnit::new(5).checked_sub(MinorUnit::new(7)),
            Some(MinorUnit::new(-2))
        );
        assert_eq!(MinorUnit::new(5) + MinorUnit::new(7), MinorUnit::new(12));
        assert_eq!(-MinorUnit::new(5), MinorUnit::new(-5));
    }

    #[test]
    #[should_panic(expected = "minor units overflow")]
    fn plain_addition_panics_instead_of_wrapping() {
        let _ = MinorUnit::new(i64::MAX) + MinorUnit::new(1);
    }
}
