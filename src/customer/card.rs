use chrono::{Datelike, NaiveDate};
use secrecy::{ExposeSecret, SecretString};

use crate::validation::InvalidInput;

/// A primary account number that passed the Luhn check. The digits stay
/// inside a `SecretString`; only `last_four` and `brand` come out.
pub struct CardNumber(SecretString);

impl CardNumber {
    pub fn parse(raw: &SecretString) -> Result<Self, InvalidInput> {
        let digits: String = raw
            .expose_secret()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let bad = |why: &str| InvalidInput::new("number", why);
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("must contain only digits"));
        }
        if !(12..=19).contains(&digits.len()) {
            return Err(bad("must be 12 to 19 digits"));
        }
        if !luhn_valid(&digits) {
            return Err(bad("is not a valid card number (check digit)"));
        }
        Ok(Self(SecretString::from(digits)))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }

    pub fn last_four(&self) -> String {
        super::last_four(self.0.expose_secret())
    }

    /// The card network, from the leading digits (enough for display).
    pub fn brand(&self) -> &'static str {
        let d = self.0.expose_secret();
        let prefix2: u32 = d[..2].parse().unwrap_or(0);
        let prefix4: u32 = d[..4].parse().unwrap_or(0);
        match () {
            _ if d.starts_with('4') => "visa",
            _ if (51..=55).contains(&prefix2) || (2221..=2720).contains(&prefix4) => "mastercard",
            _ if prefix2 == 34 || prefix2 == 37 => "amex",
            _ if d.starts_with("6011") || prefix2 == 65 => "discover",
            _ => "other",
        }
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A card's expiry month; valid through its last day.
#[derive(Debug, Clone, Copy)]
pub struct CardExpiry {
    pub month: u32,
    pub year: i32,
}

impl CardExpiry {
    pub fn parse(month: i32, year: i32, today: NaiveDate) -> Result<Self, InvalidInput> {
        let month = u32::try_from(month)
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or_else(|| InvalidInput::new("expiryMonth", "must be 1 to 12"))?;
        if !(2000..=2100).contains(&year) {
            return Err(InvalidInput::new("expiryYear", "must be a four-digit year"));
        }
        let expiry = Self { month, year };
        if expiry.last_day() < today {
            return Err(InvalidInput::new("expiryYear", "the card has expired"));
        }
        if expiry.year > today.year() + 20 {
            return Err(InvalidInput::new("expiryYear", "is too far in the future"));
        }
        Ok(expiry)
    }

    pub fn last_day(&self) -> NaiveDate {
        let (y, m) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| d.pred_opt())
            .expect("a valid month")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> Result<CardNumber, InvalidInput> {
        CardNumber::parse(&SecretString::from(s.to_owned()))
    }

    #[test]
    fn luhn_and_length() {
        assert_eq!(card("4242 4242 4242 4242").unwrap().last_four(), "4242");
        assert_eq!(card("4000000000000002").unwrap().brand(), "visa");
        assert_eq!(card("5555555555554444").unwrap().brand(), "mastercard");
        assert!(card("4242424242424241").is_err());
        assert!(card("42424242").is_err());
        assert!(card("4242x42424242424").is_err());
    }

    #[test]
    fn expiry_is_through_the_end_of_the_month() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert!(CardExpiry::parse(11, 2026, today).is_ok());
        assert!(CardExpiry::parse(10, 2026, today).is_err());
        assert!(CardExpiry::parse(13, 2027, today).is_err());
        assert_eq!(
            CardExpiry::parse(2, 2028, today).unwrap().last_day(),
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()
        );
    }
}
