//! Reading one transaction by its ID, through the transaction cache.
//!
//! Status polling is the hottest read of a payments app; the cache answers
//! it without the database. The cached value holds the parties, which
//! decide who may see it (`support::sight`; they never change after
//! creation), so a cache hit is authorised exactly like a database read. A
//! cache fault is logged and the database answers: the cache is an
//! optimisation, never a dependency.

use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use uuid::Uuid;

use crate::cache::transactions::{TransactionCache, TransactionSnapshot};
use entity::transactions as txn;

/// Any transaction: the caller decides who may see it, from its sender and
/// receiver.
pub async fn transaction_by_id(
    db: &DatabaseConnection,
    cache: &TransactionCache,
    transaction_id: Uuid,
) -> Result<Option<txn::Model>, DbErr> {
    match cache.get(transaction_id).await {
        Ok(Some(cached)) => return Ok(Some(cached.into())),
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
    Ok(Some(row))
}
