//! Idempotency keys: taken through the primary key `(user_id, key)` inside
//! the operation's own transaction. A concurrent duplicate blocks on the
//! first one's uncommitted row and then sees it committed (replay) or
//! rolled back (it goes ahead itself), on every instance.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TryInsertResult, sea_query::OnConflict,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::LedgerError;
use crate::validation::InvalidInput;
use entity::idempotency_keys;

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

pub enum Claim {
    /// The key is ours; go ahead.
    Fresh,
    /// The same request ran before; here is its transaction.
    Replay(Uuid),
}

pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    user_id: Uuid,
    key: &IdempotencyKey,
    request_hash: &str,
) -> Result<Claim, LedgerError> {
    let inserted = idempotency_keys::Entity::insert(idempotency_keys::ActiveModel {
        user_id: Set(user_id),
        idempotency_key: Set(key.0.clone()),
        request_hash: Set(request_hash.to_owned()),
        transaction_id: Set(None),
        created_at: Set(chrono::Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            idempotency_keys::Column::UserId,
            idempotency_keys::Column::IdempotencyKey,
        ])
        .do_nothing()
        .to_owned(),
    )
    .try_insert()
    .exec_without_returning(txn)
    .await?;
    if !matches!(inserted, TryInsertResult::Conflicted) && inserted_rows(&inserted) {
        return Ok(Claim::Fresh);
    }
    let existing = idempotency_keys::Entity::find_by_id((user_id, key.0.clone()))
        .one(txn)
        .await?
        .ok_or(LedgerError::IdempotencyConflict)?;
    match existing.transaction_id {
        Some(id) if existing.request_hash == request_hash => Ok(Claim::Replay(id)),
        _ => Err(LedgerError::IdempotencyConflict),
    }
}

fn inserted_rows(result: &TryInsertResult<u64>) -> bool {
    matches!(result, TryInsertResult::Inserted(n) if *n > 0)
}

/// Records which transaction the key produced.
pub async fn bind<C: ConnectionTrait>(
    txn: &C,
    user_id: Uuid,
    key: &IdempotencyKey,
    transaction_id: Uuid,
) -> Result<(), LedgerError> {
    idempotency_keys::ActiveModel {
        user_id: Set(user_id),
        idempotency_key: Set(key.0.clone()),
        transaction_id: Set(Some(transaction_id)),
        ..Default::default()
    }
    .update(txn)
    .await?;
    Ok(())
}
