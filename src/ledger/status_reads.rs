//! Reading one transaction for its parties, through the transaction cache.
//!
//! Status polling is the hottest read of a payments app; the cache answers
//! it without the database. The parties stored in the cached value decide
//! who may see it (they never change after creation), so a cache hit is
//! authorised exactly like a database read. A cache fault is logged and
//! the database answers: the cache is an optimisation, never a dependency.

use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use uuid::Uuid;

use crate::cache::transactions::{TransactionCache, TransactionSnapshot};
use entity::transactions as txn;

/// The transaction when `user_id` is its sender or receiver; `None` when
/// it does not exist or belongs to others (callers show both as not found).
pub async fn transaction_for_party(
    db: &DatabaseConnection,
    cache: &TransactionCache,
    user_id: Uuid,
    transaction_id: Uuid,
) -> Result<Option<txn::Model>, DbErr> {
    match cache.get(transaction_id).await {
        Ok(Some(cached)) => return Ok(cached.is_party(user_id).then(|| cached.into())),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "transaction cache unreachable; reading the database"),
    }
    let Some(row) = txn::Entity::find_by_id(transaction_id).one(db).await? else {
        return Ok(None);
    };
    let snapshot = TransactionSnapshot::from(&row);
    // Filling on a miss cannot overwrite a newer refresh: the store keeps
    // the higher version.
    if let Err(e) = cache.store(&snapshot).await {
        tracing::warn!(error = %e, "cannot fill the transaction cache");
    }
    Ok(snapshot.is_party(user_id).then_some(row))
}
