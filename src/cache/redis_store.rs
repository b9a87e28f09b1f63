//! Redis behind a circuit breaker: every call is bounded by a short
//! timeout, and after a failure calls fail at once for a while (see
//! [`Breaker`]) so that callers fall back without waiting.

use std::{sync::Arc, time::Duration};

use bb8_redis::bb8::Pool;
use redis::{AsyncCommands, RedisError, RedisResult};

use super::{
    CacheError,
    breaker::Breaker,
    redis_client::RedisClient,
    redis_pool::{Conn, Manager},
};

#[derive(Clone)]
pub struct RedisStore {
    pool: Pool<Manager>,
    client: RedisClient,
    timeout: Duration,
    breaker: Arc<Breaker>,
}

/// How a Redis call is bounded.
#[derive(Debug, Clone, Copy)]
pub struct RedisLimits {
    /// Each call, connection checkout included.
    pub timeout: Duration,
    /// How long the breaker stays open after a failure.
    pub open_for: Duration,
}

/// Whether an error says Redis is unreachable (the breaker opens), rather
/// than that one command was wrong.
fn is_outage(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

impl RedisStore {
    pub async fn connect(
        client: RedisClient,
        pool_size: u32,
        limits: RedisLimits,
    ) -> Result<Self, CacheError> {
        let manager = Manager::new(client.clone());
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(limits.timeout)
            .build(manager)
            .await?;
        let store = Self {
            pool,
            client,
            timeout: limits.timeout,
            breaker: Arc::new(Breaker::new(limits.open_for, limits.timeout * 2)),
        };
        // The first connection (a TLS handshake; on a cluster, every node
        // and the slot map) is made now rather than by the first request,
        // whose call timeout it could exceed; Redis down at start-up only
        // leaves it to a later call.
        let _ = tokio::time::timeout(limits.timeout * 4, store.pool.get()).await;
        tokio::spawn(probe_forever(
            Arc::downgrade(&store.breaker),
            store.pool.clone(),
            store.timeout,
        ));
        Ok(store)
    }

    pub(super) fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// Runs `f` on a pooled connection, within the timeout and through the
    /// breaker: the one way every module of the cache reaches Redis.
    pub(super) async fn call<T>(
        &self,
        f: impl AsyncFnOnce(&mut Conn) -> RedisResult<T>,
    ) -> Result<T, CacheError> {
        if !self.breaker.allow() {
            return Err(CacheError::CircuitOpen);
        }
        match run(&self.pool, self.timeout, f).await {
            Ok(value) => {
                self.breaker.succeeded();
                Ok(value)
            }
            Err(Failure::Outage(e)) => {
                self.breaker.failed();
                Err(e)
            }
            Err(Failure::Command(e)) => {
                self.breaker.succeeded();
                Err(e)
            }
        }
    }

    pub(super) fn pool_state(&self) -> crate::db::PoolState {
        let state = self.pool.state();
        crate::db::PoolState {
            idle: state.idle_connections,
            in_use: state.connections.saturating_sub(state.idle_connections),
            max: self.pool.config().max_size,
        }
    }

    /// The client, for the event bus's own subscriber connection (a
    /// subscribed connection cannot serve other commands, so it is not
    /// taken from the pool).
    pub(super) fn client(&self) -> &RedisClient {
        &self.client
    }

    /// Runs `commands`, each given with the key (or channel) it touches,
    /// and discards their replies; `script` is loaded first. On one node
    /// they go in one pipeline: one round trip. A cluster refuses a
    /// pipeline whose keys span hash slots, so there they go in one
    /// pipeline per hash tag (or key), all sent at once. Commands on one
    /// key keep their order either way.
    pub(super) async fn exec_by_slot(
        &self,
        commands: Vec<(String, redis::Cmd)>,
        script: Option<&redis::Script>,
    ) -> Result<(), CacheError> {
        if commands.is_empty() {
            return Ok(());
        }
        let mut groups: Vec<(&str, redis::Pipeline)> = Vec::new();
        let one_node = !self.client.is_cluster();
        for (key, cmd) in &commands {
            let slot = if one_node { "" } else { hash_slot_key(key) };
            let at = match groups.iter().position(|(s, _)| *s == slot) {
                Some(at) => at,
                None => {
                    let mut pipe = redis::pipe();
                    if let Some(script) = script {
                        pipe.load_script(script).ignore();
                    }
                    groups.push((slot, pipe));
                    groups.len() - 1
                }
            };
            groups[at].1.add_command(cmd.clone()).ignore();
        }
        self.call(async |c| {
            let sends = groups.iter().map(|(_, pipe)| {
                let mut link = c.link();
                async move { pipe.query_async::<()>(&mut link).await }
            });
            let result = futures::future::try_join_all(sends).await.map(|_| ());
            c.note(&result);
            result
        })
        .await
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        self.call(async |c| c.set_ex::<_, _, ()>(key, value, ttl.as_secs().max(1)).await)
            .await
    }

    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        self.call(async |c| {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("NX")
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .query_async::<Option<String>>(c)
                .await
                .map(|_| ())
        })
        .await
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, CacheError> {
        // MGET answers a single key with a list too, so the shape is fixed.
        self.call(async |c| redis::cmd("MGET").arg(keys).query_async(c).await)
            .await
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        self.call(async |c| c.get(key).await).await
    }

    pub async fn del(&self, key: &str) -> Result<bool, CacheError> {
        let n: i64 = self.call(async |c| c.del(key).await).await?;
        Ok(n > 0)
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        self.call(async |c| {
            redis::cmd("PING")
                .query_async::<String>(c)
                .await
                .map(|_| ())
        })
        .await
    }
}

/// The part of a key Redis Cluster hashes to pick its slot: the first
/// non-empty `{...}` in it, or else the whole key.
pub(super) fn hash_slot_key(key: &str) -> &str {
    if let Some(open) = key.find('{')
        && let Some(len) = key[open + 1..].find('}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

enum Failure {
    Outage(CacheError),
    Command(CacheError),
}

async fn run<T>(
    pool: &Pool<Manager>,
    timeout: Duration,
    f: impl AsyncFnOnce(&mut Conn) -> RedisResult<T>,
) -> Result<T, Failure> {
    let call = async {
        let mut conn = pool.get().await.map_err(|e| Failure::Outage(e.into()))?;
        f(&mut conn).await.map_err(|e| {
            if is_outage(&e) {
                Failure::Outage(e.into())
            } else {
                Failure::Command(e.into())
            }
        })
    };
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| Err(Failure::Outage(CacheError::TimedOut)))
}

/// PINGs Redis every breaker interval, through the breaker: an outage is
/// noticed (and `/readyz` says so) without a request failing first, and
/// the breaker closes again without waiting for a request to probe.
async fn probe_forever(breaker: std::sync::Weak<Breaker>, pool: Pool<Manager>, timeout: Duration) {
    loop {
        let Some(b) = breaker.upgrade() else { return };
        let every = b.interval();
        if b.allow() {
            let ping = async |c: &mut Conn| redis::cmd("PING").query_async::<String>(c).await;
            match run(&pool, timeout, ping).await {
                Ok(_) | Err(Failure::Command(_)) => b.succeeded(),
                Err(Failure::Outage(e)) => {
                    tracing::debug!(error = %e, "Redis probe failed");
                    b.failed();
                }
            }
        }
        drop(b);
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::hash_slot_key;

    #[test]
    fn the_first_non_empty_hash_tag_picks_the_slot() {
        assert_eq!(hash_slot_key("p:session:{u1}:s1"), "u1");
        assert_eq!(hash_slot_key("p:standing:{u1}"), "u1");
        assert_eq!(hash_slot_key("p:txn:7"), "p:txn:7");
        assert_eq!(hash_slot_key("p:{}x{y}"), "p:{}x{y}");
        assert_eq!(hash_slot_key("p:{a}{b}"), "a");
    }
}
