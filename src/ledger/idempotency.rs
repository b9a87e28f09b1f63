//! Idempotency keys: taken through the primary key `(user_id, key)` inside
//! the operation's own transaction. A concurrent duplicate blocks on the
//! first one's uncommitted row and then sees it committed (replay) or
//! rolled back (it goes ahead itself), on every instance.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set, TryInsertResult,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Ledger, LedgerError, Posted, commit};
use crate::{
    db::{Writes, retry::Safe},
    validation::InvalidInput,
};
use entity::{idempotency_keys, transactions};

/// 1 to 255 printable characters, scoped to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let n = raw.chars().count();
        if n == 0 || n > 255 || raw.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "idempotencyKey",
                "must be 1 to 255 printable characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A fingerprint of a request's meaning: the same key with a different
/// fingerprint is a conflict.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key is ours; go ahead.
    Fresh,
    /// The same request ran before; here is its transaction.
    Replay(Box<transactions::Model>),
}

/// One request's key: who sent it, the key, and the request's fingerprint.
pub struct KeyUse<'a> {
    pub user_id: Uuid,
    pub key: &'a IdempotencyKey,
    pub request_hash: &'a str,
    /// The id the request's transaction will have, when it is chosen before
    /// the key is taken: the key is then taken bound, in one write, and the
    /// caller must write that transaction or give the key back in the same
    /// database transaction. `None`: bound later with [`bind`].
    pub transaction_id: Option<Uuid>,
}

/// Takes the key for one request. `Some(original)` when the same request
/// ran before: the caller answers with it and moves nothing.
pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    user_id: Uuid,
    key: &IdempotencyKey,
    request_hash: &str,
) -> Result<Option<transactions::Model>, LedgerError> {
    let uses = [KeyUse {
        user_id,
        key,
        request_hash,
        transaction_id: None,
    }];
    let claim = claim_many(txn, &uses)
        .await?
        .pop()
        .expect("one claim per key")?;
    Ok(match claim {
        Claim::Fresh => None,
        Claim::Replay(original) => Some(*original),
    })
}

impl Ledger {
    /// Runs an operation whose idempotency key decides its outcome, as
    /// [`Ledger::run`] does, so also again after a commit whose outcome is
    /// unknown. Each attempt opens a database transaction and takes `key`
    /// for the request `request` (its fingerprint's parts) in it: when the
    /// same request ran before, the answer is its transaction; the same key
    /// with another request is a conflict; otherwise `op` goes ahead in the
    /// transaction, and binds the key to what it writes ([`bind`]).
    pub(super) async fn run_keyed<F, Fut>(
        &self,
        user_id: Uuid,
        key: &IdempotencyKey,
        request: &[&str],
        op: F,
    ) -> Result<transactions::Model, LedgerError>
    where
        F: Fn(sea_orm::DatabaseTransaction) -> Fut,
        Fut: std::future::Future<Output = Result<Posted, LedgerError>>,
    {
        let (hash, op) = (&fingerprint(request), &op);
        self.run(Safe::Keyed, move || async move {
            let txn = self.begin().await?;
            match claim(&txn, user_id, key, hash).await? {
                None => op(txn).await,
                Some(original) => {
                    commit(txn).await?;
                    Ok(Posted::no_postings(original))
                }
            }
        })
        .await
    }
}

/// Takes several keys in one statement (no two of them the same). Each
/// answer is `Fresh`, a `Replay`, or a conflict when the key was used for
/// another request. The keys already taken cost one more read, which
/// brings their transactions with them.
pub async fn claim_many<C: ConnectionTrait>(
    txn: &C,
    uses: &[KeyUse<'_>],
) -> Result<Vec<Result<Claim, LedgerError>>, LedgerError> {
    let now = chrono::Utc::now();
    let inserted =
        idempotency_keys::Entity::insert_many(uses.iter().map(|u| idempotency_keys::ActiveModel {
            user_id: Set(u.user_id),
            idempotency_key: Set(u.key.0.clone()),
            request_hash: Set(u.request_hash.to_owned()),
            transaction_id: Set(u.transaction_id),
            created_at: Set(now),
        }))
        .on_conflict(
            OnConflict::columns([
                idempotency_keys::Column::UserId,
                idempotency_keys::Column::IdempotencyKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .try_insert()
        .exec_with_returning_keys(txn)
        .await?;
    let fresh: HashSet<(Uuid, String)> = match inserted {
        TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
        TryInsertResult::Empty | TryInsertResult::Conflicted => HashSet::new(),
    };
    let taken: Vec<&KeyUse> = uses
        .iter()
        .filter(|u| !fresh.contains(&(u.user_id, u.key.0.clone())))
        .collect();
    type Taken = (idempotency_keys::Model, Option<transactions::Model>);
    let mut existing: HashMap<(Uuid, String), Taken> = if taken.is_empty() {
        HashMap::new()
    } else {
        idempotency_keys::Entity::find()
            .find_also_related(transactions::Entity)
            .filter(any_of(taken.iter().map(|u| (u.user_id, u.key))))
            .all(txn)
            .await?
            .into_iter()
            .map(|(key, original)| ((key.user_id, key.idempotency_key.clone()), (key, original)))
            .collect()
    };
    Ok(uses
        .iter()
        .map(|u| {
            let id = (u.user_id, u.key.0.clone());
            if fresh.contains(&id) {
                return Ok(Claim::Fresh);
            }
            match existing.remove(&id) {
                Some((key, original)) if key.request_hash == u.request_hash => {
                    match (key.transaction_id, original) {
                        (Some(_), Some(original)) => Ok(Claim::Replay(Box::new(original))),
                        // Bound to a transaction that is not there.
                        (Some(_), None) => Err(LedgerError::NotFound),
                        (None, _) => Err(LedgerError::IdempotencyConflict),
                    }
                }
                _ => Err(LedgerError::IdempotencyConflict),
            }
        })
        .collect())
}

fn any_of<'a>(keys: impl Iterator<Item = (Uuid, &'a IdempotencyKey)>) -> Condition {
    keys.fold(Condition::any(), |any, (user_id, key)| {
        any.add(
            Condition::all()
                .add(idempotency_keys::Column::UserId.eq(user_id))
                .add(idempotency_keys::Column::IdempotencyKey.eq(key.as_str())),
        )
    })
}

/// Records which transaction the key produced, for a key taken before its
/// transaction's id was known.
pub fn bind(writes: &mut Writes, user_id: Uuid, key: &IdempotencyKey, transaction_id: Uuid) {
    writes.update(
        idempotency_keys::Entity::update_many()
            .col_expr(
                idempotency_keys::Column::TransactionId,
                Expr::value(transaction_id),
            )
            .filter(any_of(std::iter::once((user_id, key)))),
    );
}

/// Gives back keys claimed in this transaction by requests that were then
/// refused, so that the client may retry them: a refusal is not a result.
pub fn release_many(writes: &mut Writes, keys: &[(Uuid, &IdempotencyKey)]) {
    if !keys.is_empty() {
        writes.delete(idempotency_keys::Entity::delete_many().filter(any_of(keys.iter().copied())));
    }
}

/// Deletes at most `batch` keys taken before `cutoff`, oldest first, in one
/// statement; returns how many went. The `created_at` index finds them, so
/// a pass costs the rows it deletes, not the table.
pub async fn purge_before<C: ConnectionTrait>(
    db: &C,
    cutoff: chrono::DateTime<chrono::Utc>,
    batch: u64,
) -> Result<u64, sea_orm::DbErr> {
    let oldest = Query::select()
        .columns([
            idempotency_keys::Column::UserId,
            idempotency_keys::Column::IdempotencyKey,
        ])
        .from(idempotency_keys::Entity)
        .and_where(Expr::col(idempotency_keys::Column::CreatedAt).lt(cutoff))
        .order_by(idempotency_keys::Column::CreatedAt, sea_orm::Order::Asc)
        .limit(batch)
        .to_owned();
    let deleted = idempotency_keys::Entity::delete_many()
        .filter(
            Expr::tuple([
                Expr::col(idempotency_keys::Column::UserId),
                Expr::col(idempotency_keys::Column::IdempotencyKey),
            ])
            .in_subquery(oldest),
        )
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
