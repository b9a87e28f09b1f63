//! Keyset pages over rows ordered newest first by `(created_at, id)`.
//! Offsets would skip or repeat rows as new ones arrive; a key does not.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::validation::InvalidInput;

pub const MAX_PAGE: u64 = 100;
pub const DEFAULT_PAGE: u64 = 20;

/// A position between rows: the row's time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        // Nanoseconds: SQLite keeps them, and a coarser cursor would not
        // equal its own row's time.
        let nanos = self.created_at.timestamp_nanos_opt().unwrap_or(i64::MAX);
        B64.encode(format!("{nanos}|{}", self.id))
    }

    pub fn decode(field: &'static str, text: &str) -> Result<Self, InvalidInput> {
        let bad = || InvalidInput::new(field, "is not a cursor this API returned");
        let raw = B64.decode(text).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (nanos, id) = raw.split_once('|').ok_or_else(bad)?;
        Ok(Self {
            created_at: DateTime::<Utc>::from_timestamp_nanos(nanos.parse().map_err(|_| bad())?),
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// Which way to walk from the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards older rows (`first`/`after`).
    Older,
    /// Towards newer rows (`last`/`before`).
    Newer,
}

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u64,
    pub cursor: Option<Cursor>,
    pub direction: Direction,
}

impl PageRequest {
    /// Relay arguments, checked: `first` and `last` are 0..=100 and not
    /// both given; cursors must be ones this API issued.
    pub fn parse(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        let size = |field: &'static str, n: i32| -> Result<u64, InvalidInput> {
            u64::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_PAGE)
                .ok_or_else(|| {
                    InvalidInput::new(field, format!("must be between 0 and {MAX_PAGE}"))
                })
        };
        match (first, last) {
            (Some(_), Some(_)) => Err(InvalidInput::new("last", "cannot be combined with first")),
            (_, Some(n)) => Ok(Self {
                limit: size("last", n)?,
                cursor: before.map(|c| Cursor::decode("before", c)).transpose()?,
                direction: Direction::Newer,
            }),
            (n, None) => Ok(Self {
                limit: n
                    .map(|n| size("first", n))
                    .transpose()?
                    .unwrap_or(DEFAULT_PAGE),
                cursor: after.map(|c| Cursor::decode("after", c)).transpose()?,
                direction: Direction::Older,
            }),
        }
    }
}

/// One page, newest first, and whether more rows lie beyond each end.
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_older: bool,
    pub has_newer: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_nanos(1_764_000_000_123_456_789),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode("after", &c.encode()).unwrap(), c);
        assert!(Cursor::decode("after", "nope").is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert!(PageRequest::parse(Some(1000), None, None, None).is_err());
        assert!(PageRequest::parse(Some(-1), None, None, None).is_err());
        assert!(PageRequest::parse(Some(1), None, Some(1), None).is_err());
        assert_eq!(
            PageRequest::parse(None, None, None, None).unwrap().limit,
            DEFAULT_PAGE
        );
    }
}
