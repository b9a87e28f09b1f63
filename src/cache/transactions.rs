//! The transaction cache: `txn:{transaction_id}`, the seed's 30 minutes.
//!
//! It serves status reads (`transaction(id)`) without a database round
//! trip. It is refreshed after every committed change, and a write never
//! replaces a newer version with an older one, so an out-of-order refresh
//! (two instances, or a read racing a change) cannot roll it back. It never
//! authorises spending: the ledger reads balances and statuses from the
//! database inside its own transactions.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Cache, CacheError, Store};
use entity::{
    Currency, MinorUnit,
    transactions::{self, Status, TxType},
};

pub const TTL: Duration = Duration::from_secs(1800);

fn key(transaction_id: Uuid) -> String {
    format!("txn:{transaction_id}")
}

/// A transaction as it is cached and as it travels on the event bus. The
/// entity model does not derive serde; this mirror keeps the wire format
/// ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionSnapshot {
    pub transaction_id: Uuid,
    pub sender_id: Option<Uuid>,
    pub receiver_id: Option<Uuid>,
    pub sender_wallet_id: Option<Uuid>,
    pub receiver_wallet_id: Option<Uuid>,
    pub amount_minor: MinorUnit,
    pub currency: Currency,
    pub transaction_type: TxType,
    pub status: Status,
    pub payment_method_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub related_transaction_id: Option<Uuid>,
    pub description: Option<String>,
    pub fees_minor: MinorUnit,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl TransactionSnapshot {
    /// Whether `user_id` is a party (sender or receiver) and so may see it.
    pub fn is_party(&self, user_id: Uuid) -> bool {
        self.sender_id == Some(user_id) || self.receiver_id == Some(user_id)
    }
}

impl From<&transactions::Model> for TransactionSnapshot {
    fn from(m: &transactions::Model) -> Self {
        Self {
            transaction_id: m.transaction_id,
            sender_id: m.sender_id,
            receiver_id: m.receiver_id,
            sender_wallet_id: m.sender_wallet_id,
            receiver_wallet_id: m.receiver_wallet_id,
            amount_minor: m.amount_minor,
            currency: m.currency,
            transaction_type: m.transaction_type,
            status: m.status,
            payment_method_id: m.payment_method_id,
            account_id: m.account_id,
            related_transaction_id: m.related_transaction_id,
            description: m.description.clone(),
            fees_minor: m.fees_minor,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            completed_at: m.completed_at,
        }
    }
}

impl From<TransactionSnapshot> for transactions::Model {
    fn from(s: TransactionSnapshot) -> Self {
        Self {
            transaction_id: s.transaction_id,
            sender_id: s.sender_id,
            receiver_id: s.receiver_id,
            sender_wallet_id: s.sender_wallet_id,
            receiver_wallet_id: s.receiver_wallet_id,
            amount_minor: s.amount_minor,
            currency: s.currency,
            transaction_type: s.transaction_type,
            status: s.status,
            payment_method_id: s.payment_method_id,
            account_id: s.account_id,
            related_transaction_id: s.related_transaction_id,
            description: s.description,
            fees_minor: s.fees_minor,
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
            completed_at: s.completed_at,
        }
    }
}

/// Keeps the entry unless it already holds this version or a newer one.
/// Atomic in Redis, so two instances refreshing at once cannot interleave.
const STORE_IF_NEWER: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and tonumber(decoded['version']) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
";

fn script() -> &'static redis::Script {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(STORE_IF_NEWER))
}

fn version_of(json: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()?
        .get("version")?
        .as_i64()
}

/// The transaction cache of this instance: the shared entries, plus which
/// transactions this instance has changed but not yet refreshed.
///
/// The refresh happens after commit, off the request path; until it has,
/// a read on this instance skips the cache, so a client that reads right
/// after its own mutation sees what the mutation returned, never the
/// older cached status. (Another instance may serve the older status for
/// the moment the refresh takes: eventual, and documented.)
#[derive(Clone)]
pub struct TransactionCache {
    cache: Cache,
    pending: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl TransactionCache {
    pub fn new(cache: Cache) -> Self {
        Self {
            cache,
            pending: Arc::default(),
        }
    }

    /// The cached snapshot, unless a refresh of it is still under way here.
    pub async fn get(&self, id: Uuid) -> Result<Option<TransactionSnapshot>, CacheError> {
        if self.pending.lock().expect("lock").contains_key(&id) {
            return Ok(None);
        }
        get(&self.cache, id).await
    }

    pub async fn store(&self, snapshot: &TransactionSnapshot) -> Result<(), CacheError> {
        store(&self.cache, snapshot).await
    }

    /// Stores several snapshots at once (one round trip).
    pub async fn store_many(&self, snapshots: &[&TransactionSnapshot]) -> Result<(), CacheError> {
        store_many(&self.cache, snapshots).await
    }

    /// A change of `id` was committed; its refresh is queued.
    pub(super) fn refresh_queued(&self, id: Uuid) {
        *self.pending.lock().expect("lock").entry(id).or_default() += 1;
    }

    /// One queued refresh of `id` is done (or given up).
    pub(super) fn refresh_done(&self, id: Uuid) {
        let mut pending = self.pending.lock().expect("lock");
        if let Some(n) = pending.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                pending.remove(&id);
            }
        }
    }
}

/// Stores the snapshot unless the cache holds the same or a newer version.
async fn store(cache: &Cache, snapshot: &TransactionSnapshot) -> Result<(), CacheError> {
    store_many(cache, &[snapshot]).await
}

/// [`store`] for several snapshots, in one round trip to Redis.
async fn store_many(cache: &Cache, snapshots: &[&TransactionSnapshot]) -> Result<(), CacheError> {
    let entry = |s: &TransactionSnapshot| {
        let key = cache.key(&key(s.transaction_id));
        (
            key,
            serde_json::to_string(s).expect("a snapshot serialises"),
        )
    };
    match cache.store() {
        Store::Memory(m) => {
            for snapshot in snapshots {
                let (key, value) = entry(snapshot);
                m.set_ex_unless(key, value, TTL, |current| {
                    version_of(current).is_some_and(|v| v >= snapshot.version)
                });
            }
            Ok(())
        }
        Store::Redis(r) => {
            // Each entry is a key of its own (one hash slot each on a
            // cluster); the script is loaded first, as a cache flushed by
            // a restart has forgotten it.
            let commands = snapshots
                .iter()
                .map(|snapshot| {
                    let (key, value) = entry(snapshot);
                    let mut cmd = redis::cmd("EVALSHA");
                    cmd.arg(script().get_hash())
                        .arg(1)
                        .arg(&key)
                        .arg(value)
                        .arg(snapshot.version)
                        .arg(TTL.as_secs());
                    (key, cmd)
                })
                .collect();
            r.exec_by_slot(commands, Some(script())).await
        }
    }
}

/// The cached snapshot, if any. An entry that does not parse (written by
/// an older release, say) counts as a miss.
async fn get(
    cache: &Cache,
    transaction_id: Uuid,
) -> Result<Option<TransactionSnapshot>, CacheError> {
    let raw = cache.get(&key(transaction_id)).await?;
    Ok(raw.and_then(|json| serde_json::from_str(&json).ok()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn snapshot(version: i64, status: Status) -> TransactionSnapshot {
        TransactionSnapshot {
            transaction_id: Uuid::from_u128(7),
            sender_id: Some(Uuid::from_u128(1)),
            receiver_id: Some(Uuid::from_u128(2)),
            sender_wallet_id: None,
            receiver_wallet_id: None,
            amount_minor: MinorUnit::new(1250),
            currency: Currency::parse("USD").unwrap(),
            transaction_type: TxType::Transfer,
            status,
            payment_method_id: None,
            account_id: None,
            related_transaction_id: None,
            description: None,
            fees_minor: MinorUnit::ZERO,
            version,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            completed_at: None,
        }
    }

    #[tokio::test]
    async fn an_older_version_never_replaces_a_newer_one() {
        let cache = Cache::in_process("t:");
        store(&cache, &snapshot(2, Status::Completed))
            .await
            .unwrap();
        store(&cache, &snapshot(1, Status::Pending)).await.unwrap();
        let got = get(&cache, Uuid::from_u128(7)).await.unwrap().unwrap();
        assert_eq!((got.version, got.status), (2, Status::Completed));
        store(&cache, &snapshot(3, Status::Reversed)).await.unwrap();
        let got = get(&cache, Uuid::from_u128(7)).await.unwrap().unwrap();
        assert_eq!(got.version, 3);
    }

    #[tokio::test]
    async fn a_queued_refresh_hides_the_entry_until_done() {
        let txns = TransactionCache::new(Cache::in_process(""));
        let id = Uuid::from_u128(7);
        txns.store(&snapshot(1, Status::Pending)).await.unwrap();
        txns.refresh_queued(id);
        txns.refresh_queued(id);
        assert_eq!(txns.get(id).await.unwrap(), None);
        txns.refresh_done(id);
        assert_eq!(txns.get(id).await.unwrap(), None);
        txns.refresh_done(id);
        assert_eq!(txns.get(id).await.unwrap().unwrap().version, 1);
    }

    #[test]
    fn parties_are_sender_and_receiver() {
        let s = snapshot(1, Status::Pending);
        assert!(s.is_party(Uuid::from_u128(1)));
        assert!(s.is_party(Uuid::from_u128(2)));
        assert!(!s.is_party(Uuid::from_u128(3)));
    }
}
