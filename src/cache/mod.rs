//! Shared short-lived state: sessions, the transaction cache, rate limits
//! and the event bus of subscriptions.
//!
//! Redis when `REDIS_URL` is set, so every instance sees the same state;
//! otherwise the same behaviour in this process (the embedded default, one
//! instance). Redis is one node or, with `REDIS_CLUSTER`, a Redis Cluster:
//! the same code path, over a connection that routes each command to the
//! node owning its key. Keys used together by one command or script share
//! a hash tag (`session:{<user>}:…` and `standing:{<user>}`), so they sit
//! in one hash slot; a batch over many keys goes in one pipeline per slot
//! (`RedisStore::exec_by_slot`).

mod breaker;
pub mod events;
mod memory;
pub mod notifier;
pub mod notify;
pub mod persisted_queries;
pub mod rate_limit;
pub mod read_marks;
pub mod redis_client;
mod redis_pool;
mod redis_store;
mod repairs;
pub mod sessions;
pub mod transactions;

use std::{sync::Arc, time::Duration};

pub use breaker::unix_ms;
pub use memory::MemoryStore;
pub use redis_store::{RedisLimits, RedisStore};
use repairs::{Repair, Repairs};

/// Why the cache could not answer, with the client library's error as the
/// source where there is one.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cache unavailable: no Redis connection: {0}")]
    Pool(#[from] bb8::RunError<redis::RedisError>),
    #[error("cache unavailable: Redis call timed out")]
    TimedOut,
    #[error("cache unavailable: Redis skipped: circuit open")]
    CircuitOpen,
    #[error("cache unavailable: unexpected reply from Redis: {0}")]
    UnexpectedReply(String),
    #[error("{0}")]
    Config(String),
    #[error(
        "the Redis server's TLS certificate is not trusted (REDIS_TLS_CA_FILE names the CA to trust): {0}"
    )]
    Untrusted(#[source] redis::RedisError),
}

/// A key-value store with expiry. Keys are namespaced by the configured
/// prefix here, in one place.
#[derive(Clone)]
pub struct Cache {
    prefix: String,
    store: Store,
    /// Writes kept for when Redis answers again (Redis only).
    repairs: Option<Arc<Repairs>>,
}

#[derive(Clone)]
pub(crate) enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Cache {
    pub fn in_process(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            store: Store::Memory(MemoryStore::default()),
            repairs: None,
        }
    }

    pub async fn redis(
        client: redis_client::RedisClient,
        pool_size: u32,
        prefix: &str,
        limits: RedisLimits,
    ) -> Result<Self, CacheError> {
        let store = RedisStore::connect(client, pool_size, limits).await?;
        let repairs = Arc::new(Repairs::default());
        tokio::spawn(repairs::replay_forever(
            Arc::downgrade(&repairs),
            store.clone(),
        ));
        Ok(Self {
            prefix: prefix.to_owned(),
            store: Store::Redis(store),
            repairs: Some(repairs),
        })
    }

    /// The Redis pool's connections, idle and in use (none in process).
    pub fn pool_state(&self) -> Option<crate::db::PoolState> {
        match &self.store {
            Store::Memory(_) => None,
            Store::Redis(r) => Some(r.pool_state()),
        }
    }

    /// Whether calls currently reach the store: false while Redis is
    /// skipped after a failure (`/readyz` says the cache is degraded).
    pub fn is_reachable(&self) -> bool {
        match &self.store {
            Store::Memory(_) => true,
            Store::Redis(r) => r.breaker().is_closed(),
        }
    }

    /// Unix milliseconds since which this instance trusts what the cache
    /// holds: its last recovery from an outage (0: none yet). An entry
    /// written before may predate a change made while the cache was
    /// unreachable.
    pub fn trusted_since_ms(&self) -> u64 {
        match &self.store {
            Store::Memory(_) => 0,
            Store::Redis(r) => r.breaker().trusted_since_ms(),
        }
    }

    /// [`Cache::set_ex`], and if the store cannot take it now, written
    /// again once it answers (see `repairs`). The error is still returned.
    pub async fn set_ex_or_repair(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let result = self.set_ex(key, value, ttl).await;
        if result.is_err()
            && let Some(repairs) = &self.repairs
        {
            repairs.push(Repair::Set {
                key: self.key(key),
                value: value.to_owned(),
                until: std::time::Instant::now() + ttl,
            });
        }
        result
    }

    /// [`Cache::del`], repaired like [`Cache::set_ex_or_repair`].
    pub async fn del_or_repair(&self, key: &str) -> Result<(), CacheError> {
        let result = self.del(key).await.map(|_| ());
        if result.is_err()
            && let Some(repairs) = &self.repairs
        {
            repairs.push(Repair::Del { key: self.key(key) });
        }
        result
    }

    pub fn backend_name(&self) -> &'static str {
        match self.store {
            Store::Memory(_) => "in-process",
            Store::Redis(_) => "redis",
        }
    }

    /// Whether every instance, and the command line, sees this cache's
    /// writes (Redis), or only this process (the in-process store).
    pub fn is_shared(&self) -> bool {
        matches!(self.store, Store::Redis(_))
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let key = self.key(key);
        match &self.store {
            Store::Memory(m) => {
                m.set_ex(key, value.to_owned(), ttl);
                Ok(())
            }
            Store::Redis(r) => r.set_ex(&key, value, ttl).await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let key = self.key(key);
        match &self.store {
            Store::Memory(m) => Ok(m.get(&key)),
            Store::Redis(r) => r.get(&key).await,
        }
    }

    /// Stores the value only where the key holds none: a reader filling
    /// a gap never overwrites what a writer put there meanwhile.
    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let key = self.key(key);
        match &self.store {
            Store::Memory(m) => {
                m.set_ex_unless(key, value.to_owned(), ttl, |_| true);
                Ok(())
            }
            Store::Redis(r) => r.set_nx_ex(&key, value, ttl).await,
        }
    }

    /// Several keys in one round trip, in order. On a cluster that holds
    /// for keys of one hash slot (a shared hash tag); others are fetched
    /// from each node owning some, and answered in order still.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, CacheError> {
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        match &self.store {
            Store::Memory(m) => Ok(keys.iter().map(|k| m.get(k)).collect()),
            Store::Redis(r) => r.get_many(&keys).await,
        }
    }

    /// Deletes a key; true when it existed.
    pub async fn del(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.key(key);
        match &self.store {
            Store::Memory(m) => Ok(m.del(&key)),
            Store::Redis(r) => r.del(&key).await,
        }
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        match &self.store {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => r.ping().await,
        }
    }
}
