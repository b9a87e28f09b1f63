use std::time::Duration;

use bb8_redis::bb8::{Pool, PooledConnection};
use redis::AsyncCommands;

use super::{CacheError, redis_pool::Manager};

#[derive(Clone)]
pub struct RedisStore {
    pool: Pool<Manager>,
    url: String,
}

pub(super) fn err(e: impl std::fmt::Display) -> CacheError {
    CacheError(e.to_string())
}

impl RedisStore {
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self, CacheError> {
        let manager = Manager::new(url).map_err(err)?;
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(2))
            .build(manager)
            .await
            .map_err(err)?;
        Ok(Self {
            pool,
            url: url.to_owned(),
        })
    }

    /// A pooled connection, for the scripts and commands of the modules
    /// beside this one (rate limits, the transaction cache, the event bus).
    pub(super) async fn conn(&self) -> Result<PooledConnection<'_, Manager>, CacheError> {
        self.pool.get().await.map_err(err)
    }

    /// The URL, for the event bus's own subscriber connection (a
    /// subscribed connection cannot serve other commands, so it is not
    /// taken from the pool).
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.pool.get().await.map_err(err)?;
        conn.set_ex::<_, _, ()>(key, value, ttl.as_secs().max(1))
            .await
            .map_err(err)
    }

    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.pool.get().await.map_err(err)?;
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async::<Option<String>>(&mut *conn)
            .await
            .map(|_| ())
            .map_err(err)
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, CacheError> {
        let mut conn = self.pool.get().await.map_err(err)?;
        // MGET answers a single key with a list too, so the shape is fixed.
        redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut *conn)
            .await
            .map_err(err)
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let mut conn = self.pool.get().await.map_err(err)?;
        conn.get(key).await.map_err(err)
    }

    pub async fn del(&self, key: &str) -> Result<bool, CacheError> {
        let mut conn = self.pool.get().await.map_err(err)?;
        let n: i64 = conn.del(key).await.map_err(err)?;
        Ok(n > 0)
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.pool.get().await.map_err(err)?;
        redis::cmd("PING")
            .query_async::<String>(&mut *conn)
            .await
            .map(|_| ())
            .map_err(err)
    }
}
