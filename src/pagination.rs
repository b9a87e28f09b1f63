//! Keyset pages over rows ordered newest first by a key and the row's id:
//! `(created_at, id)`, or a per-parent sequence number. Offsets would skip
//! or repeat rows as new ones arrive; a key does not.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Select,
};

use crate::validation::InvalidInput;

pub const MAX_PAGE: u64 = 100;
pub const DEFAULT_PAGE: u64 = 20;

/// What rows are ordered by before their id: written into a cursor as a
/// number.
pub trait OrderKey: Copy + Into<sea_orm::Value> {
    fn to_number(self) -> i64;
    fn from_number(n: i64) -> Self;
}

impl OrderKey for DateTime<Utc> {
    // Nanoseconds: SQLite keeps them, and a coarser cursor would not equal
    // its own row's time.
    fn to_number(self) -> i64 {
        self.timestamp_nanos_opt().unwrap_or(i64::MAX)
    }

    fn from_number(n: i64) -> Self {
        DateTime::<Utc>::from_timestamp_nanos(n)
    }
}

/// A sequence number (a wallet's history).
impl OrderKey for i64 {
    fn to_number(self) -> i64 {
        self
    }

    fn from_number(n: i64) -> Self {
        n
    }
}

/// A position between rows: the row's key and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor<K = DateTime<Utc>> {
    pub key: K,
    pub id: Uuid,
}

impl<K: OrderKey> Cursor<K> {
    pub fn encode(&self) -> String {
        B64.encode(format!("{}|{}", self.key.to_number(), self.id))
    }

    pub fn decode(field: &'static str, text: &str) -> Result<Self, InvalidInput> {
        let bad = || InvalidInput::new(field, "is not a cursor this API returned");
        let raw = B64.decode(text).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (key, id) = raw.split_once('|').ok_or_else(bad)?;
        Ok(Self {
            key: K::from_number(key.parse().map_err(|_| bad())?),
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
pub struct PageRequest<K = DateTime<Utc>> {
    pub limit: u64,
    pub cursor: Option<Cursor<K>>,
    pub direction: Direction,
}

impl<K: OrderKey> PageRequest<K> {
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

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            has_older: self.has_older,
            has_newer: self.has_newer,
        }
    }
}

/// One page of `query` in `(order, id)` order, newest first: the rows
/// beyond the cursor in the page's direction, never an OFFSET.
pub async fn keyset<E: EntityTrait, K: OrderKey>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    order: E::Column,
    id: E::Column,
    page: PageRequest<K>,
) -> Result<Page<E::Model>, DbErr> {
    keyset_as(db, query, order, id, page).await
}

/// As [`keyset`], each row read as `M`: the entity's columns and whatever
/// `query` selects beside them (the columns of a joined table, say).
pub async fn keyset_as<M: FromQueryResult, E: EntityTrait, K: OrderKey>(
    db: &impl ConnectionTrait,
    mut query: Select<E>,
    order: E::Column,
    id: E::Column,
    page: PageRequest<K>,
) -> Result<Page<M>, DbErr> {
    if let Some(Cursor { key, id: row }) = page.cursor {
        let beyond = match page.direction {
            Direction::Older => Condition::any()
                .add(order.lt(key))
                .add(Condition::all().add(order.eq(key)).add(id.lt(row))),
            Direction::Newer => Condition::any()
                .add(order.gt(key))
                .add(Condition::all().add(order.eq(key)).add(id.gt(row))),
        };
        query = query.filter(beyond);
    }
    query = match page.direction {
        Direction::Older => query.order_by_desc(order).order_by_desc(id),
        Direction::Newer => query.order_by_asc(order).order_by_asc(id),
    };
    // One extra row says whether another page follows.
    let mut rows = query
        .limit(page.limit + 1)
        .into_model::<M>()
        .all(db)
        .await?;
    let more = rows.len() as u64 > page.limit;
    rows.truncate(page.limit as usize);
    if page.direction == Direction::Newer {
        rows.reverse();
    }
    let from_cursor = page.cursor.is_some();
    Ok(match page.direction {
        Direction::Older => Page {
            rows,
            has_older: more,
            has_newer: from_cursor,
        },
        Direction::Newer => Page {
            rows,
            has_older: from_cursor,
            has_newer: more,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = Cursor {
            key: DateTime::from_timestamp_nanos(1_764_000_000_123_456_789),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode("after", &c.encode()).unwrap(), c);
        assert!(Cursor::<DateTime<Utc>>::decode("after", "nope").is_err());
        let n = Cursor {
            key: 42_i64,
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode("after", &n.encode()).unwrap(), n);
    }

    #[test]
    fn page_sizes_are_bounded() {
        let parse = PageRequest::<DateTime<Utc>>::parse;
        assert!(parse(Some(1000), None, None, None).is_err());
        assert!(parse(Some(-1), None, None, None).is_err());
        assert!(parse(Some(1), None, Some(1), None).is_err());
        assert_eq!(parse(None, None, None, None).unwrap().limit, DEFAULT_PAGE);
    }
}
