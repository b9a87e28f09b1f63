//! Reading the change feed: a user's entries after a cursor, oldest first,
//! with the objects they point at as they are now. The query and the
//! subscription both read through [`changes_after`], so a replay and the
//! live stream that follows it are one path, and a cursor says exactly
//! where either stopped.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::{Ledger, LedgerError};
use entity::{change_heads as heads, changes, payment_requests, transactions, wallets};

/// A position in a user's feed: after the entry numbered `sequence`, made
/// at `at`. The time lets an old cursor be refused without a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedCursor {
    pub sequence: i64,
    pub at: DateTime<Utc>,
}

/// Why a cursor cannot be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorProblem {
    /// Not a cursor of this feed.
    Invalid,
    /// Entries after it are past their retention and gone: the client
    /// reloads instead of missing them.
    Expired,
}

const CURSOR_VERSION: &str = "c1";

impl FeedCursor {
    pub fn encode(&self) -> String {
        B64.encode(format!(
            "{CURSOR_VERSION}:{}:{}",
            self.sequence,
            self.at.timestamp_micros()
        ))
    }

    pub fn decode(text: &str) -> Result<Self, CursorProblem> {
        let raw = B64.decode(text).map_err(|_| CursorProblem::Invalid)?;
        let raw = String::from_utf8(raw).map_err(|_| CursorProblem::Invalid)?;
        let mut parts = raw.split(':');
        let (Some(CURSOR_VERSION), Some(sequence), Some(at), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CursorProblem::Invalid);
        };
        let sequence: i64 = sequence.parse().map_err(|_| CursorProblem::Invalid)?;
        let at = at
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or(CursorProblem::Invalid)?;
        if sequence < 0 {
            return Err(CursorProblem::Invalid);
        }
        Ok(Self { sequence, at })
    }
}

/// The object an entry points at, as it is now.
#[derive(Debug, Clone)]
pub enum Changed {
    Transaction(transactions::Model),
    Wallet(wallets::Model),
    PaymentRequest(payment_requests::Model),
}

/// One entry of the feed, with its object.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub cursor: FeedCursor,
    pub changed: Changed,
}

/// Entries read after a start, and where the next read starts.
#[derive(Debug, Clone)]
pub struct FeedPage {
    pub entries: Vec<FeedEntry>,
    /// After the last entry read (also when its object is gone), or where
    /// this read started when there were none.
    pub next: Start,
    /// Whether more entries follow `next` already.
    pub more: bool,
}

/// Where reading starts: after a cursor the client holds (checked), or
/// after a number this service found itself (the head, for a live-only
/// subscription; unchecked).
#[derive(Debug, Clone, Copy)]
pub enum Start {
    Cursor(FeedCursor),
    After(i64),
}

/// The number of the user's last entry (0 before the first).
pub async fn head_of<C: ConnectionTrait>(db: &C, user: Uuid) -> Result<i64, DbErr> {
    Ok(heads::Entity::find_by_id(user)
        .one(db)
        .await?
        .map_or(0, |h| h.last_sequence))
}

/// Checks a client's cursor: `Expired` when changes after it may be gone
/// (it is older than `retention`), `Invalid` when it points past the
/// user's last entry (it is not from this feed).
pub async fn check_cursor<C: ConnectionTrait>(
    db: &C,
    user: Uuid,
    cursor: FeedCursor,
    retention: chrono::Duration,
) -> Result<(), LedgerError> {
    if cursor.at < Utc::now() - retention {
        return Err(LedgerError::Cursor(CursorProblem::Expired));
    }
    if cursor.sequence > head_of(db, user).await? {
        return Err(LedgerError::Cursor(CursorProblem::Invalid));
    }
    Ok(())
}

/// Up to `limit` of the user's entries after `start`, oldest first, and
/// whether more follow. From a client's cursor, the first entry must be
/// the one right after it: if it is not, the ones between were purged
/// (`Expired`), whatever the cursor's time says.
pub async fn changes_after<C: ConnectionTrait>(
    db: &C,
    user: Uuid,
    start: Start,
    limit: u64,
) -> Result<FeedPage, LedgerError> {
    let after = match start {
        Start::Cursor(c) => c.sequence,
        Start::After(n) => n,
    };
    let mut rows = changes::Entity::find()
        .filter(changes::Column::UserId.eq(user))
        .filter(changes::Column::Sequence.gt(after))
        .order_by_asc(changes::Column::Sequence)
        .limit(limit + 1)
        .all(db)
        .await?;
    if let (Start::Cursor(_), Some(first)) = (start, rows.first())
        && first.sequence != after + 1
    {
        return Err(LedgerError::Cursor(CursorProblem::Expired));
    }
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = rows.last().map_or(start, |r| Start::After(r.sequence));
    Ok(FeedPage {
        entries: with_objects(db, rows).await?,
        next,
        more,
    })
}

/// Reads the objects of `rows`: one statement per kind present.
async fn with_objects<C: ConnectionTrait>(
    db: &C,
    rows: Vec<changes::Model>,
) -> Result<Vec<FeedEntry>, DbErr> {
    let ids = |pick: fn(&changes::Model) -> Option<Uuid>| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = rows.iter().filter_map(pick).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let (t_ids, w_ids, r_ids) = (
        ids(|r| r.transaction_id),
        ids(|r| r.wallet_id),
        ids(|r| r.payment_request_id),
    );
    let mut found: HashMap<Uuid, Changed> = HashMap::new();
    if !t_ids.is_empty() {
        for t in transactions::Entity::find()
            .filter(transactions::Column::TransactionId.is_in(t_ids))
            .all(db)
            .await?
        {
            found.insert(t.transaction_id, Changed::Transaction(t));
        }
    }
    if !w_ids.is_empty() {
        for w in wallets::Entity::find()
            .filter(wallets::Column::WalletId.is_in(w_ids))
            .all(db)
            .await?
        {
            found.insert(w.wallet_id, Changed::Wallet(w));
        }
    }
    if !r_ids.is_empty() {
        for r in payment_requests::Entity::find()
            .filter(payment_requests::Column::PaymentRequestId.is_in(r_ids))
            .all(db)
            .await?
        {
            found.insert(r.payment_request_id, Changed::PaymentRequest(r));
        }
    }
    // Ids are v7 UUIDs, unique across the three tables.
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let id = row
                .transaction_id
                .or(row.wallet_id)
                .or(row.payment_request_id)?;
            Some(FeedEntry {
                cursor: FeedCursor {
                    sequence: row.sequence,
                    at: row.changed_at,
                },
                changed: found.get(&id)?.clone(),
            })
        })
        .collect())
}

impl Ledger {
    /// Where a client's cursor starts, checked (see [`check_cursor`]).
    pub async fn feed_from(&self, user: Uuid, cursor: &str) -> Result<Start, LedgerError> {
        let cursor = FeedCursor::decode(cursor).map_err(LedgerError::Cursor)?;
        let retention = self.settings.change_feed_retention;
        self.settings
            .retry
            .read(|| check_cursor(&self.db, user, cursor, retention))
            .await?;
        Ok(Start::Cursor(cursor))
    }

    /// Right after the user's last entry so far: what a live-only reader
    /// starts from.
    pub async fn feed_head(&self, user: Uuid) -> Result<Start, LedgerError> {
        let head = self
            .settings
            .retry
            .read(|| async { Ok::<_, LedgerError>(head_of(&self.db, user).await?) })
            .await?;
        Ok(Start::After(head))
    }

    /// [`Ledger::feed_from`] for the `changes` query: on the read replica
    /// when it has the user's writes (`db::reads`). A cursor the replica
    /// does not know yet is checked again on the primary.
    pub async fn feed_from_replica(&self, user: Uuid, cursor: &str) -> Result<Start, LedgerError> {
        let cursor = FeedCursor::decode(cursor).map_err(LedgerError::Cursor)?;
        let retention = self.settings.change_feed_retention;
        self.reads
            .read(&[user], |db| async move {
                check_cursor(&db, user, cursor, retention).await
            })
            .await?;
        Ok(Start::Cursor(cursor))
    }

    /// [`Ledger::feed_page`] for the `changes` query, on the read replica
    /// when it has the user's writes. Subscriptions read the primary: a
    /// change they are told of must be there when they read it.
    pub async fn feed_page_replica(
        &self,
        user: Uuid,
        start: Start,
        limit: u64,
    ) -> Result<FeedPage, LedgerError> {
        self.reads
            .read(&[user], |db| async move {
                changes_after(&db, user, start, limit).await
            })
            .await
    }

    /// Up to `limit` entries after `start` (see [`changes_after`]).
    pub async fn feed_page(
        &self,
        user: Uuid,
        start: Start,
        limit: u64,
    ) -> Result<FeedPage, LedgerError> {
        self.settings
            .retry
            .read(|| changes_after(&self.db, user, start, limit))
            .await
    }
}

/// Deletes up to `batch` entries older than `cutoff`, oldest first.
/// Returns how many went.
pub async fn purge_before<C: ConnectionTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    batch: u64,
) -> Result<u64, DbErr> {
    let oldest = Query::select()
        .columns([changes::Column::UserId, changes::Column::Sequence])
        .from(changes::Entity)
        .and_where(Expr::col(changes::Column::ChangedAt).lt(cutoff))
        .order_by(changes::Column::ChangedAt, sea_orm::Order::Asc)
        .limit(batch)
        .to_owned();
    let deleted = changes::Entity::delete_many()
        .filter(
            Expr::tuple([
                Expr::col(changes::Column::UserId),
                Expr::col(changes::Column::Sequence),
            ])
            .in_subquery(oldest),
        )
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = FeedCursor {
            sequence: 42,
            at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
        };
        assert_eq!(FeedCursor::decode(&c.encode()), Ok(c));
        for junk in ["", "nope", &B64.encode("c1:x:1"), &B64.encode("c1:-1:1")] {
            assert_eq!(FeedCursor::decode(junk), Err(CursorProblem::Invalid));
        }
    }
}
